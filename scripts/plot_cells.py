#!/usr/bin/env python3
"""Draws the growth curves of scripts/bench-cells.sh as an SVG (stdlib only).

    python3 scripts/plot_cells.py target/bench-cells/cells.csv docs/perf/cells-growth.svg

The CSV has the columns target,N,bytes,seconds,peak_kib[,cpu_seconds] (lines
starting with `#` are ignored). Three panels, bytes, time (CPU seconds when the
CSV has them, else wall seconds) and peak RSS against N, all on
log-log axes, one line per target, and a dashed line of slope 1 (linear
growth) through the first point of the first target for reference.
"""

import csv
import math
import sys
from xml.sax.saxutils import escape

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
PANELS = [("bytes", "output bytes", 1.0), ("seconds", "wall time (s)", 1.0), ("peak_kib", "peak RSS (MiB)", 1 / 1024)]
CPU = ("cpu_seconds", "CPU time, user + sys (s)", 1.0)
W, H = 330, 300
LEFT, RIGHT, TOP, BOTTOM = 62, 12, 30, 44


def read(path, panels):
    rows = {}
    with open(path, newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    for r in csv.DictReader(lines):
        try:
            point = (int(r["N"]), {k: float(r[k]) for k, _, _ in panels})
        except (KeyError, ValueError):
            continue
        rows.setdefault(r["target"], []).append(point)
    for points in rows.values():
        points.sort()
    return rows


def decades(lo, hi):
    """Tick values: powers of ten (and 2, 5 between them) inside [lo, hi]."""
    ticks = []
    e = math.floor(math.log10(lo))
    while 10**e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10**e
            if lo * 0.9999 <= v <= hi * 1.0001:
                ticks.append(v)
        e += 1
    return ticks


def label(v):
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def panel(x0, key, title, scale, rows):
    ns = sorted({n for pts in rows.values() for n, _ in pts})
    vals = [m[key] * scale for pts in rows.values() for _, m in pts if m[key] > 0]
    if not ns or not vals:
        return []
    xlo, xhi = ns[0], ns[-1] if ns[-1] > ns[0] else ns[0] * 2
    ylo, yhi = min(vals) / 1.5, max(vals) * 1.5
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(n):
        return x0 + LEFT + pw * (math.log(n) - math.log(xlo)) / (math.log(xhi) - math.log(xlo))

    def py(v):
        return TOP + ph * (1 - (math.log(v) - math.log(ylo)) / (math.log(yhi) - math.log(ylo)))

    out = [
        f'<rect x="{x0 + LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>',
        f'<text x="{x0 + LEFT + pw / 2}" y="{TOP - 10}" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
        f'<text x="{x0 + LEFT + pw / 2}" y="{H - 8}" text-anchor="middle">cells (N)</text>',
    ]
    for n in ns:
        out.append(f'<line x1="{px(n):.1f}" y1="{TOP + ph}" x2="{px(n):.1f}" y2="{TOP + ph + 4}" stroke="#444"/>')
        out.append(f'<text x="{px(n):.1f}" y="{TOP + ph + 16}" text-anchor="middle">{n}</text>')
    for v in decades(ylo, yhi):
        y = py(v)
        out.append(f'<line x1="{x0 + LEFT}" y1="{y:.1f}" x2="{x0 + LEFT + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 + LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{label(v)}</text>')
    # slope 1 through the smallest first point: what linear growth looks like
    first = min(m[key] * scale for pts in rows.values() for n, m in pts if n == xlo and m[key] > 0)
    out.append(
        f'<line x1="{px(xlo):.1f}" y1="{py(first):.1f}" x2="{px(xhi):.1f}" y2="{py(min(first * xhi / xlo, yhi)):.1f}" '
        f'stroke="#888" stroke-dasharray="4 3"/>'
    )
    for i, (target, pts) in enumerate(sorted(rows.items())):
        colour = COLOURS[i % len(COLOURS)]
        xy = [(px(n), py(m[key] * scale)) for n, m in pts if m[key] > 0]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
        out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in xy)
    return out


def main(argv):
    if len(argv) != 3:
        print("usage: plot_cells.py CELLS.csv OUT.svg", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        header = next((line for line in f if not line.startswith("#")), "")
    panels = [CPU if p[0] == "seconds" and "cpu_seconds" in header else p for p in PANELS]
    rows = read(argv[1], panels)
    if not rows:
        print(f"plot_cells.py: no rows in {argv[1]}", file=sys.stderr)
        return 1
    width, height = W * len(panels), H + 24
    body = []
    for i, (key, title, scale) in enumerate(panels):
        body.extend(panel(i * W, key, title, scale, rows))
    x = LEFT
    for i, target in enumerate(sorted(rows)):
        colour = COLOURS[i % len(COLOURS)]
        body.append(f'<rect x="{x}" y="{H + 8}" width="12" height="4" fill="{colour}"/>')
        body.append(f'<text x="{x + 16}" y="{H + 14}">{escape(target)}</text>')
        x += 90
    body.append(f'<line x1="{x}" y1="{H + 10}" x2="{x + 20}" y2="{H + 10}" stroke="#888" stroke-dasharray="4 3"/>')
    body.append(f'<text x="{x + 24}" y="{H + 14}">linear (slope 1)</text>')
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">\n'
        f'<rect width="{width}" height="{height}" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n"
    )
    with open(argv[2], "w") as f:
        f.write(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
