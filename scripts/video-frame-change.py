#!/usr/bin/env python3
"""Mean absolute change between successive frames of each video (0-255), the plain
frame-difference figure BENCHMARKS.md quotes for `--smooth` (not flow-warped: real motion
counts too). Needs ffmpeg/ffprobe and numpy.

    python3 scripts/video-frame-change.py input.mp4 out_0.mp4 out_0.6.mp4
"""
import json
import subprocess
import sys

import numpy as np


def frames(path):
    info = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
         "-of", "json", path], capture_output=True, check=True).stdout)["streams"][0]
    w, h = info["width"], info["height"]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3).astype(np.float32)


for p in sys.argv[1:]:
    f = frames(p)
    print(f"{p}: {len(f)} frames, mean |O_t - O_t-1| = {np.abs(np.diff(f, axis=0)).mean():.2f}")
