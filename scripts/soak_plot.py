#!/usr/bin/env python3
"""Plots and judges a kiosk soak (scripts/soak-kiosk.sh): resident memory, fps, and frame
latency (mean, max, and the two-inference-times bound) over time, as OUT/soak.png, with
no dependency beyond Python itself (a small PNG writer). Prints the verdict and exits 1
when RSS after warm-up varies by more than 5% or a frame was staler than two inference
times (log intervals holding a camera unplug are reported, not judged: their frames are
the reconnecting card)."""
import argparse, re, struct, sys, zlib

# fps, source fps, mean inference, [max inference,] mean latency, max latency (ms).
LINE = re.compile(r"live: ([\d.]+) fps, source ([\d.]+) fps, inference (\d+) ms(?: \(max (\d+)\))?, "
                  r"latency (\d+) ms \(max (\d+)\)")


def read(out):
    rss = []
    for row in open(f"{out}/rss.csv").read().split("\n")[1:]:
        if row.strip() and row.split(",")[1]:
            t, kb = row.split(",")
            rss.append((int(t), int(kb) / 1024))
    stats = []
    t = 0
    for l in open(f"{out}/runtime.log", errors="replace"):
        m = LINE.search(l)
        if m:
            t += 10
            fps, src, inf, inf_max, lat, lat_max = m.groups()
            # Older logs have no max inference: the mean stands in for it.
            stats.append((t, float(fps), float(src), float(inf), float(lat), float(lat_max),
                          float(inf_max or inf)))
    return rss, stats


def png(path, w, h, pixels):
    raw = b"".join(b"\0" + bytes(pixels[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xFFFFFFFF)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def plot(path, panels, w=900, ph=200):
    """panels: [(title, [(series, (r,g,b))])]; series: [(x, y)]. One panel per row."""
    h = ph * len(panels)
    px = bytearray([255] * (w * h * 3))

    def put(x, y, c):
        if 0 <= x < w and 0 <= y < h:
            i = (y * w + x) * 3
            px[i:i + 3] = bytes(c)

    for k, (title, series) in enumerate(panels):
        top, left, right, bottom = k * ph + 12, 50, w - 10, (k + 1) * ph - 20
        pts = [p for s, _ in series for p in s]
        if not pts:
            continue
        x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts) or 1
        y0, y1 = 0.0, max(p[1] for p in pts) * 1.1 or 1
        for x in range(left, right):
            put(x, bottom, (0, 0, 0))
        for y in range(top, bottom):
            put(left, y, (0, 0, 0))
        for s, c in series:
            prev = None
            for (a, b) in s:
                X = left + int((a - x0) / max(x1 - x0, 1e-9) * (right - left - 1))
                Y = bottom - int((b - y0) / (y1 - y0) * (bottom - top))
                if prev:
                    n = max(abs(X - prev[0]), abs(Y - prev[1]), 1)
                    for i in range(n + 1):
                        put(prev[0] + (X - prev[0]) * i // n, prev[1] + (Y - prev[1]) * i // n, c)
                prev = (X, Y)
        # Scale marks: a tick per tenth of the y range (no font: titles are in the verdict).
        for i in range(11):
            for x in range(left - 4, left):
                put(x, bottom - i * (bottom - top) // 10, (0, 0, 0))
    png(path, w, h, px)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--warmup-minutes", type=float, default=5)
    ap.add_argument("--judge-from-minutes", type=float, default=0,
                    help="judge staleness only from here on (e.g. after other load on the machine ended)")
    a = ap.parse_args()
    rss, stats = read(a.out)
    warm = [m for t, m in rss if t >= a.warmup_minutes * 60]
    unplugs = [float(l.split()[0]) for l in open(f"{a.out}/fakecam.log") if " unplug " in l]
    t0 = min([float(l.split()[0]) for l in open(f"{a.out}/fakecam.log")] or [0])
    unplug_t = [u - t0 for u in unplugs]
    judged = [s for s in stats if s[0] >= a.judge_from_minutes * 60
              and not any(s[0] - 10 <= u <= s[0] + 3 for u in unplug_t)]
    # A frame waits at most for the inference in progress, then takes its own: two
    # inference times, the slowest of the interval's standing for both.
    stale = [s for s in judged if s[5] > 2 * s[6]]
    spread = (max(warm) - min(warm)) / min(warm) * 100 if warm else float("nan")
    plot(f"{a.out}/soak.png", [
        ("RSS MB", [(rss, (30, 90, 200))]),
        ("fps", [([(t, f) for t, f, *_ in stats], (20, 150, 40))]),
        ("latency ms: mean, max, 2x max inference", [([(s[0], s[4]) for s in stats], (20, 150, 40)),
                                                 ([(s[0], s[5]) for s in stats], (200, 40, 40)),
                                                 ([(s[0], 2 * s[6]) for s in stats], (120, 120, 120))]),
    ])
    fps = [s[1] for s in stats]
    print(f"soak: {rss[-1][0] / 60:.0f} min, {len(unplugs)} unplugs, RSS after {a.warmup_minutes:g} min "
          f"{min(warm):.1f}-{max(warm):.1f} MB (spread {spread:.1f}%), fps {min(fps):.1f}-{max(fps):.1f} "
          f"(median {sorted(fps)[len(fps) // 2]:.1f}), intervals judged {len(judged)}/{len(stats)}, "
          f"stale (max latency > 2x max inference) {len(stale)}; plot {a.out}/soak.png "
          f"(rows: RSS MB; fps; latency mean green, max red, 2x max inference grey)")
    for s in stale:
        print(f"  stale at {s[0]} s: max latency {s[5]:.0f} ms, inference {s[3]:.0f} ms (max {s[6]:.0f})")
    sys.exit(0 if spread <= 5 and not stale else 1)


if __name__ == "__main__":
    main()
