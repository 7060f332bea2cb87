#!/usr/bin/env python3
"""Runs exported ONNX files in real consumers and compares them with stylecast.

Called by tests/tests/onnx.rs with a manifest (JSON) that lists cases:
  {"name", "onnx", "input": .npy (float32 NCHW, [0, 255]),
   "want": .npy, the library's float output (or "want_from"'s), compared as
           max|d| / max|want| <= "rel_tol",
   "psnr_min": instead of rel_tol (f16 files), the PSNR in dB against "want",
   "png": edge-runtime's output for the same input, "png_levels": the largest difference
          of onnxruntime's rounded output from it,
   "opencv_levels": if present, cv2.dnn runs the file too and must be this close to "png"}
Prints one line per check and exits 1 if any failed.
"""
import json
import sys

import cv2
import numpy as np
import onnxruntime as ort


def rel(got, want):
    scale = np.abs(want).max()
    d = np.abs(got.astype(np.float64) - want.astype(np.float64)).max()
    return d / scale if scale > 0 else d


def psnr(got, want):
    mse = np.mean((got.astype(np.float64) - want.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def png_nchw(path):
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise RuntimeError(f"{path}: cannot read")
    return bgr[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float64)


def levels(got, png):
    return np.abs(np.clip(np.round(got.astype(np.float64)), 0, 255) - png).max()


def main():
    cases = json.load(open(sys.argv[1]))["cases"]
    print(f"onnxruntime {ort.__version__}, OpenCV {cv2.__version__}, numpy {np.__version__}")
    failed = 0
    passed = 0

    def report(ok, line):
        nonlocal failed, passed
        print(("ok   " if ok else "FAIL ") + line, flush=True)
        if ok:
            passed += 1
        else:
            failed += 1

    for c in cases:
        name = c["name"]
        x = np.load(c["input"])
        sess = ort.InferenceSession(c["onnx"], providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        (got,) = sess.run(None, {inp.name: x.astype(dtype)})
        got = got.astype(np.float32)
        want = np.load(c["want"])
        if got.shape != want.shape:
            report(False, f"{name}: onnxruntime shape {got.shape}, want {want.shape}")
            continue
        if "psnr_min" in c:
            p = psnr(got, want)
            report(p >= c["psnr_min"], f"{name}: onnxruntime {inp.type} PSNR {p:.1f} dB (>= {c['psnr_min']})")
        else:
            r = rel(got, want)
            by = c.get("want_from", "stylecast")
            report(r <= c["rel_tol"], f"{name}: onnxruntime vs {by} relative {r:.2e} (<= {c['rel_tol']:.0e})")
        if "png" in c:
            png = png_nchw(c["png"])
            d = levels(got, png)
            report(d <= c["png_levels"], f"{name}: onnxruntime vs edge-runtime PNG {d:.0f} levels (<= {c['png_levels']})")
            if "opencv_levels" in c:
                try:
                    net = cv2.dnn.readNetFromONNX(c["onnx"])
                    net.setInput(x.astype(np.float32))
                    out = net.forward()
                except cv2.error as e:
                    report(False, f"{name}: OpenCV {cv2.__version__} refused the file: {e}")
                    continue
                d = levels(out, png)
                report(d <= c["opencv_levels"], f"{name}: OpenCV dnn vs edge-runtime PNG {d:.0f} levels (<= {c['opencv_levels']})")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
