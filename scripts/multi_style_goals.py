#!/usr/bin/env python3
"""Issue 21's goals from the files scripts/multi-style-goals.sh leaves in OUT:
(a) each style of the joint network against its single-style network (eval on the demo
photos: content and style loss within 15%); (b) add-style's style loss against the same
painting's as a member of the joint network (within 25%), and its time-to-loss curve
(OUT/add-style.png, from the add-style log). Standard library only."""
import argparse, json, os, struct, sys, zlib


def load(path):
    with open(path) as f:
        v = json.load(f)
    return v["photos"] if isinstance(v, dict) else v


def png(path, w, h, pixels):
    raw = b"".join(b"\0" + bytes(pixels[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def curve(out, points, level, budget):
    """Style loss (log scale) over seconds; the budget as a pink line, `level` (if any) grey."""
    import math
    w, h, m = 640, 360, 30
    px = [255] * (w * h * 3)
    xs = [t for t, _ in points]
    ys = [math.log10(v) for _, v in points if v > 0] + ([math.log10(level)] if level else [])
    x1, y0, y1 = max(max(xs), budget), min(ys), max(ys)
    def put(x, y, c):
        if 0 <= x < w and 0 <= y < h:
            px[(y * w + x) * 3:(y * w + x) * 3 + 3] = c
    tx = lambda t: m + int((w - 2 * m) * t / x1)
    ty = lambda v: h - m - int((h - 2 * m) * (math.log10(v) - y0) / max(y1 - y0, 1e-9))
    for x in range(m, w - m):
        put(x, h - m, (0, 0, 0))
        if level:
            put(x, ty(level), (150, 150, 150))
    for y in range(m, h - m):
        put(m, y, (0, 0, 0)); put(tx(budget), y, (220, 180, 180))
    prev = None
    for t, v in points:
        p = (tx(t), ty(v))
        if prev:
            n = max(abs(p[0] - prev[0]), abs(p[1] - prev[1]), 1)
            for k in range(n + 1):
                put(prev[0] + (p[0] - prev[0]) * k // n, prev[1] + (p[1] - prev[1]) * k // n, (200, 40, 40))
        prev = p
    png(out, w, h, px)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--add-style", default="the_scream")
    ap.add_argument("--minutes", type=float, default=10)
    a = ap.parse_args()
    parts = os.path.join(a.out, "eval/parts")
    single = {r["style"]: r for f in sorted(os.listdir(parts)) for r in load(os.path.join(parts, f))}
    joint = {r["style"]: r for r in load(os.path.join(a.out, "eval/multi.json"))}
    ok = True
    print("(a) joint network vs single-style networks, same steps (eval on the demo photos)")
    print(f"{'painting':<28} {'content single':>14} {'joint':>10} {'ratio':>6} {'style single':>13} {'joint':>10} {'ratio':>6}")
    for name, s in sorted(single.items()):
        j = joint.get(name)
        if j is None:
            print(f"{name:<28} not in the joint network"); ok = False; continue
        rc, rs = j["content"] / s["content"], j["style_loss"] / s["style_loss"]
        good = rc <= 1.15 and rs <= 1.15
        ok &= good
        print(f"{name:<28} {s['content']:>14.4e} {j['content']:>10.4e} {rc:>6.2f} {s['style_loss']:>13.4e} "
              f"{j['style_loss']:>10.4e} {rs:>6.2f}  {'ok' if good else 'over 15%'}")
    added = os.path.join(a.out, "eval/added.json")
    if os.path.exists(added):
        rows = {r["style"]: r for r in load(added)}
        new, member = rows.get(a.add_style + "_added"), joint.get(a.add_style)
        if new and member:
            r = new["style_loss"] / member["style_loss"]
            rc = new["content"] / member["content"]
            ok &= r <= 1.25
            print(f"(b) add-style {a.add_style}: style {new['style_loss']:.4e} against {member['style_loss']:.4e} "
                  f"as a member (ratio {r:.2f}, goal 1.25: {'ok' if r <= 1.25 else 'over'}); content "
                  f"{new['content']:.4e} against {member['content']:.4e} (ratio {rc:.2f})")
        log = os.path.join(a.out, "add-style.jsonl")
        if os.path.exists(log) and member:
            pts = [(r["seconds"], r["style"]) for r in map(json.loads, open(log)) if "seconds" in r]
            if pts:
                # Training losses are on random crops: a running mean of 20 steps.
                sm = [(t, sum(v for _, v in pts[max(0, i - 19):i + 1]) / len(pts[max(0, i - 19):i + 1]))
                      for i, (t, _) in enumerate(pts)]
                curve(os.path.join(a.out, "add-style.png"), sm, None, a.minutes * 60)
                for frac in (0.1, 0.25, 0.5, 1.0):
                    t, v = sm[min(len(sm) - 1, int(frac * (len(sm) - 1)))]
                    print(f"    after {t:6.0f} s: training style loss (20-step mean) {v:.4e}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
