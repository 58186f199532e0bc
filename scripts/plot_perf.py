#!/usr/bin/env python3
"""Draws the growth curves of docs/performance.md from scripts/bench.sh's runs.

usage: plot_perf.py RUNS_TSV OUT_DIR
       (RUNS_TSV: target/bench/raw/runs.tsv; writes OUT_DIR/growth-time.svg
        and OUT_DIR/growth-memory.svg)

Each picture plots, on log-log axes, the median over the runs of one measure
(CPU seconds, user + sys; peak resident MiB) against the number of allows,
one line per (tool, case): moat's compile targets, check and query, and
Aerleon's aclgen. Python's standard library only; the SVG text is
deterministic (same input, same bytes).
"""
import csv
import math
import os
import statistics
import sys

SERIES = [
    # (tool, case, label, colour, dashed)
    ("moat", "check", "moat check", "#555555", False),
    ("moat", "query", "moat query", "#999999", False),
    ("moat", "compile-iptables", "moat iptables", "#1f77b4", False),
    ("moat", "compile-nftables", "moat nftables", "#2ca02c", False),
    ("moat", "compile-k8s", "moat k8s", "#9467bd", False),
    ("moat", "compile-all", "moat all targets", "#000000", False),
    ("aerleon", "aclgen-iptables", "Aerleon iptables", "#1f77b4", True),
    ("aerleon", "aclgen-k8s", "Aerleon k8s", "#9467bd", True),
]

W, H = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 190, 40, 50


def medians(path):
    """{(tool, case): {n: (cpu_s, rss_mib)}} from runs.tsv, medians over runs."""
    rows = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            key = (r["tool"], r["case"])
            rows.setdefault(key, {}).setdefault(int(r["n"]), []).append(
                (float(r["cpu_s"]), int(r["rss_kib"]) / 1024)
            )
    return {
        key: {
            n: (statistics.median(c for c, _ in v), statistics.median(m for _, m in v))
            for n, v in by_n.items()
        }
        for key, by_n in rows.items()
    }


def decades(lo, hi):
    """Powers of ten spanning [lo, hi]."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    if a == b:
        b += 1
    return [10.0**e for e in range(a, b + 1)]


def fmt(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def svg(data, measure, title, unit):
    pts = {
        key: sorted((n, vals[measure]) for n, vals in data.get(key[:2], {}).items() if vals[measure] > 0)
        for key in [(s[0], s[1]) for s in SERIES]
    }
    xs = [n for p in pts.values() for n, _ in p]
    ys = [v for p in pts.values() for _, v in p]
    if not xs:
        raise SystemExit("plot_perf.py: no runs to plot")
    xt, yt = decades(min(xs), max(xs)), decades(min(ys), max(ys))
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(n):
        return LEFT + pw * (math.log10(n) - math.log10(xt[0])) / (math.log10(xt[-1]) - math.log10(xt[0]))

    def y(v):
        return TOP + ph * (1 - (math.log10(v) - math.log10(yt[0])) / (math.log10(yt[-1]) - math.log10(yt[0])))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{title}</text>',
    ]
    for v in yt:
        out.append(f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{LEFT + pw}" y2="{y(v):.1f}" stroke="#dddddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
    for n in xt:
        out.append(f'<line x1="{x(n):.1f}" y1="{TOP}" x2="{x(n):.1f}" y2="{TOP + ph}" stroke="#dddddd"/>')
        out.append(f'<text x="{x(n):.1f}" y="{TOP + ph + 18}" text-anchor="middle">{fmt(n)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333333"/>')
    out.append(f'<text x="{LEFT + pw / 2:.1f}" y="{H - 10}" text-anchor="middle">allows (Aerleon: terms), log scale</text>')
    out.append(
        f'<text x="16" y="{TOP + ph / 2:.1f}" text-anchor="middle" transform="rotate(-90 16 {TOP + ph / 2:.1f})">{unit}, log scale</text>'
    )
    legend = 0
    for tool, case, label, colour, dashed in SERIES:
        p = pts[(tool, case)]
        if not p:
            continue
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        path = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in p)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for n, v in p:
            out.append(f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"><title>{label}, {n:,}: {fmt(round(v, 3))} {unit}</title></circle>')
        ly = TOP + 10 + 18 * legend
        lx = LEFT + pw + 14
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{label}</text>')
        legend += 1
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    data = medians(sys.argv[1])
    os.makedirs(sys.argv[2], exist_ok=True)
    for name, measure, title, unit in [
        ("growth-time.svg", 0, "CPU time (user + sys) against policy size", "seconds"),
        ("growth-memory.svg", 1, "Peak memory against policy size", "MiB"),
    ]:
        with open(os.path.join(sys.argv[2], name), "w") as f:
            f.write(svg(data, measure, title, unit))


if __name__ == "__main__":
    main()
