#!/usr/bin/env python3
"""CPU inference side by side: stylecast, onnxruntime and PyTorch eager on the same weights.

Each engine times batch-1 frames of the same network at each size, the three engines taking
turns round after round in one run (so a machine that slows down or gets busy mid-run weighs
on all three alike), and the script prints the medians over the rounds and the ratios
onnxruntime/stylecast and PyTorch/stylecast (above 1.0: stylecast is faster).

    scripts/bench-cpu-peers.py [--model models/starry_night.safetensors] [--onnx FILE]
        [--sizes 256x256,320x240,640x480,1280x720] [--rounds 5] [--reps 3] [--threads 2]
        [--json out.jsonl]

The ONNX file is `--onnx` when given, else our own exporter's (`host-train export --onnx`,
built if TRAIN_BIN is not set), or with `--torch-onnx` torch.onnx's export of the PyTorch
network (dynamic height and width). stylecast runs as
`edge-runtime bench --border-pad 0` (the network at exactly each size, as the peers run it);
set BIN to a built edge-runtime, else target/release/edge-runtime is built.

Needs: a Python with torch, onnxruntime, numpy, safetensors, onnx (e.g.
`python3 -m venv /tmp/bench && /tmp/bench/bin/pip install torch onnxruntime onnx numpy
safetensors`, then run this script with /tmp/bench/bin/python).
"""
import argparse
import warnings
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


from torch_net import load_net  # noqa: E402  (scripts/ is on sys.path: this file lives there)


def timeit(fn, reps):
    fn()  # warm-up: first-call allocations and kernel choice
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)


def ours(bin_path, model, size, reps, threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run(
        [bin_path, "bench", "--model", model, "--sizes", size, "--reps", str(reps),
         "--warmup", "1", "--border-pad", "0"],
        capture_output=True, text=True, env=env, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"\|\s*(\d+x\d+)\s*\|\s*\w+\s*\|\s*\w+\s*\|\s*([\d.]+)\s*\|", line)
        if m and m.group(1) == size:
            return float(m.group(2))
    raise RuntimeError(f"no timing for {size} in edge-runtime bench's output:\n{out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models/starry_night.safetensors"))
    ap.add_argument("--onnx", help="an ONNX file of the same model (default: host-train export --onnx)")
    ap.add_argument("--torch-onnx", action="store_true", help="export the ONNX file with torch.onnx instead")
    ap.add_argument("--sizes", default="256x256,320x240,640x480,1280x720")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3, help="timed frames per engine, size and round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write one JSON object per engine, size and round here")
    a = ap.parse_args()

    import onnxruntime as ort

    warnings.filterwarnings("ignore")  # torch.onnx's tracer notes

    torch.set_num_threads(a.threads)
    net, cfg = load_net(a.model)
    tmp = tempfile.mkdtemp()
    onnx_path = a.onnx
    onnx_from = "given: " + a.onnx if a.onnx else ("torch.onnx" if a.torch_onnx else "host-train export --onnx")
    if not onnx_path and not a.torch_onnx:
        onnx_path = os.path.join(tmp, "net.onnx")
        train_bin = os.environ.get("TRAIN_BIN")
        if not train_bin:
            subprocess.run(["cargo", "build", "--release", "-q", "-p", "host-train"], cwd=ROOT, check=True)
            train_bin = os.path.join(ROOT, "target/release/host-train")
        subprocess.run([train_bin, "export", "--onnx", a.model, onnx_path], check=True,
                       stdout=subprocess.DEVNULL)
    if not onnx_path:
        onnx_path = os.path.join(tmp, "net.onnx")
        torch.onnx.export(net, torch.rand(1, 3, 256, 256) * 255, onnx_path, opset_version=17,
                          input_names=["input"], output_names=["output"], dynamo=False,
                          dynamic_axes={"input": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}})
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name

    bin_path = os.environ.get("BIN")
    if not bin_path:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "edge-runtime"], cwd=ROOT, check=True)
        bin_path = os.path.join(ROOT, "target/release/edge-runtime")

    sizes = [s for s in a.sizes.split(",") if s]
    times = {(e, s): [] for e in ("stylecast", "onnxruntime", "pytorch") for s in sizes}
    log = open(a.json, "w") if a.json else None
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {a.threads} threads, "
          f"torch {torch.__version__}, onnxruntime {ort.__version__}, model {a.model} {cfg}, "
          f"onnx {onnx_from}, {a.rounds} rounds x {a.reps} reps",
          flush=True)
    for r in range(a.rounds):
        for s in sizes:
            w, h = map(int, s.split("x"))
            x = np.random.rand(1, 3, h, w).astype(np.float32) * 255
            xt = torch.from_numpy(x)
            got = {
                "stylecast": ours(bin_path, a.model, s, a.reps, a.threads),
                "onnxruntime": timeit(lambda: sess.run(None, {iname: x}), a.reps),
            }
            with torch.no_grad():
                got["pytorch"] = timeit(lambda: net(xt), a.reps)
            for e, ms in got.items():
                times[(e, s)].append(ms)
                if log:
                    log.write(json.dumps({"round": r, "engine": e, "size": s, "ms": round(ms, 2)}) + "\n")
            print(f"round {r + 1}/{a.rounds} {s}: " + ", ".join(f"{e} {ms:.1f} ms" for e, ms in got.items()),
                  file=sys.stderr, flush=True)

    print("| size | stylecast ms | onnxruntime ms | PyTorch ms | onnxruntime / stylecast | PyTorch / stylecast |")
    print("|---|---|---|---|---|---|")
    for s in sizes:
        m = {e: statistics.median(times[(e, s)]) for e in ("stylecast", "onnxruntime", "pytorch")}
        print(f"| {s} | {m['stylecast']:.1f} | {m['onnxruntime']:.1f} | {m['pytorch']:.1f} | "
              f"{m['onnxruntime'] / m['stylecast']:.2f} | {m['pytorch'] / m['stylecast']:.2f} |")


if __name__ == "__main__":
    main()
