#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Latency histograms as an SVG plot, written by hand (standard library only).

    plot.py OUT.svg TITLE NAME=FILE [NAME=FILE ...]

Each FILE holds cyclictest --histogram output ("# Histogram", then "%06d %06d" rows of
1 us bucket and count; more columns are summed) - what guest-tests/x86/latency-*.c print and
what cyclictest -h prints. Both axes are logarithmic: x is the latency in us (bucket + 1, so
the 0 us bucket is drawn at 1), y is the number of samples in a 1 us bucket (the highest one
where several buckets share a pixel column); one step line per series.
"""
import math
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]
W, H = 900, 520
ML, MR, MT, MB = 70, 20, 40, 120


def parse_hist(text):
    """Returns {bucket_us: count} from cyclictest --histogram text."""
    hist, inside = {}, False
    for line in text.splitlines():
        if line.startswith("# Histogram"):
            inside = True
            continue
        if not inside:
            continue
        if line.startswith("#"):
            if line.startswith("# Total") or line.startswith("# Min"):
                break
            continue
        f = line.split()
        if len(f) >= 2 and f[0].isdigit():
            hist[int(f[0])] = hist.get(int(f[0]), 0) + sum(int(x) for x in f[1:] if x.isdigit())
    return hist


def _log_ticks(lo, hi):
    t = 10 ** math.floor(math.log10(lo))
    out = []
    while t <= hi * 1.0001:
        if t >= lo / 1.0001:
            out.append(t)
        t *= 10
    return out


def svg(series, title):
    """series: list of (name, {bucket: count}). Returns the SVG text."""
    series = [(n, h) for n, h in series if any(h.values())]
    xmax = max([b + 1 for _, h in series for b, c in h.items() if c] + [10])
    ymax = max([c for _, h in series for c in h.values()] + [10])
    x_hi = 10 ** math.ceil(math.log10(xmax))
    y_hi = 10 ** math.ceil(math.log10(ymax))
    pw, ph = W - ML - MR, H - MT - MB

    def px(us):
        return ML + pw * math.log10(max(us, 1)) / math.log10(x_hi)

    def py(c):
        return MT + ph - ph * math.log10(max(c, 1)) / math.log10(y_hi) if c >= 1 else MT + ph

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">{_esc(title)}</text>']
    for t in _log_ticks(1, x_hi):
        x = px(t)
        o.append(f'<line x1="{x:.1f}" y1="{MT}" x2="{x:.1f}" y2="{MT + ph}" stroke="#ddd"/>')
        o.append(f'<text x="{x:.1f}" y="{MT + ph + 16}" text-anchor="middle">{t:g}</text>')
    for t in _log_ticks(1, y_hi):
        y = py(t)
        o.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{ML + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
    o.append(f'<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="black"/>')
    o.append(f'<text x="{ML + pw / 2}" y="{MT + ph + 36}" text-anchor="middle">'
             'latency (µs, 1 µs buckets, log scale)</text>')
    o.append(f'<text transform="translate(16,{MT + ph / 2}) rotate(-90)" '
             'text-anchor="middle">samples (log scale)</text>')
    for i, (name, h) in enumerate(series):
        col = COLORS[i % len(COLORS)]
        # One point pair per pixel column (the highest bucket count in it): with a log x
        # axis thousands of tail buckets share a column, and the SVG stays small.
        cols = {}
        for b, c in h.items():
            if c:
                x = int(px(b + 1))
                cols[x] = max(cols.get(x, 0), c)
        pts, prev = [], None
        for x in sorted(cols):
            y = py(cols[x])
            if prev is not None and x > prev + 1:
                pts.append(f"{prev + 1},{py(0):.1f} {x},{py(0):.1f}")
            elif prev is None:
                pts.append(f"{x},{py(0):.1f}")
            pts.append(f"{x},{y:.1f} {x + 1},{y:.1f}")
            prev = x
        if prev is not None:
            pts.append(f"{prev + 1},{py(0):.1f}")
        o.append(f'<polyline fill="none" stroke="{col}" stroke-width="1.2" '
                 f'stroke-opacity="0.85" points="{" ".join(pts)}"/>')
        ly = MT + ph + 56 + 16 * (i // 2)
        lx = ML + (i % 2) * pw / 2
        o.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 24}" y2="{ly - 4}" stroke="{col}" '
                 'stroke-width="3"/>')
        o.append(f'<text x="{lx + 30}" y="{ly}">{_esc(name)} ({sum(h.values())} samples)</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


def _esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    series = []
    for arg in argv[3:]:
        name, _, path = arg.partition("=")
        with open(path) as f:
            series.append((name, parse_hist(f.read())))
    with open(argv[1], "w") as f:
        f.write(svg(series, argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
