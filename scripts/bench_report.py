#!/usr/bin/env python3
"""Turns scripts/bench.sh's raw/runs.tsv and raw/rules.tsv into markdown tables.

usage: bench_report.py OUTDIR   (prints markdown on stdout)
"""
import csv
import math
import os
import statistics
import sys
from collections import defaultdict

out = sys.argv[1]
runs = defaultdict(list)
with open(os.path.join(out, "raw", "runs.tsv")) as f:
    for r in csv.DictReader(f, delimiter="\t"):
        runs[(int(r["n"]), r["tool"], r["case"])].append(r)


def med(key, field):
    return statistics.median(float(r[field]) for r in runs[key])


def fmt_s(x):
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


print("# Benchmark results\n")
mach = os.path.join(out, "raw", "machine.txt")
if os.path.exists(mach):
    print("Machine: " + "; ".join(l.strip() for l in open(mach)) + "\n")
ns = sorted({k[0] for k in runs})
print("Medians of the runs; CPU = user + sys; peak = maximum resident set size.\n")
print("| N | tool | case | runs | wall s | CPU s | peak MiB | exit |")
print("|---:|---|---|---:|---:|---:|---:|---|")
for key in sorted(runs, key=lambda k: (k[0], k[1] != "moat", k[2])):
    n, tool, case = key
    exits = ",".join(sorted({r["exit"] for r in runs[key]}))
    print(f"| {n:,} | {tool} | {case} | {len(runs[key])} | {fmt_s(med(key, 'wall_s'))} | {fmt_s(med(key, 'cpu_s'))} | {med(key, 'rss_kib') / 1024:.0f} | {exits} |")

pairs = [("compile-iptables", "aclgen-iptables"), ("compile-k8s", "aclgen-k8s"), ("query", "aclcheck"), ("query-cached", "aclcheck")]
rows = []
for n in ns:
    for m, a in pairs:
        km, ka = (n, "moat", m), (n, "aerleon", a)
        if km in runs and ka in runs:
            w = med(ka, "wall_s") / max(med(km, "wall_s"), 0.001)
            c = med(ka, "cpu_s") / max(med(km, "cpu_s"), 0.005)
            mem = med(ka, "rss_kib") / max(med(km, "rss_kib"), 1)
            rows.append(f"| {n:,} | {m} vs {a} | {w:.0f}x | {c:.0f}x | {mem:.1f}x |")
if rows:
    print("\n## Aerleon / moat, same run\n")
    print("(CPU ratios use max(moat CPU, 0.005 s): /usr/bin/time counts in 10 ms steps.)\n")
    print("| N | cases | wall ratio | CPU ratio | peak memory ratio |")
    print("|---:|---|---:|---:|---:|")
    print("\n".join(rows))

if len(ns) >= 2:
    lo, hi = ns[0], ns[-1]
    print(f"\n## Growth exponent k in cost ~ N^k, from N = {lo:,} to N = {hi:,} (and {ns[-2]:,} to {hi:,})\n")
    print("| case | k (wall) | k (CPU) | k (peak) | k (CPU, last step) |")
    print("|---|---:|---:|---:|---:|")
    for case in sorted({k[2] for k in runs if k[1] == "moat"}):
        a, b, c = (lo, "moat", case), (hi, "moat", case), (ns[-2], "moat", case)
        if a in runs and b in runs:
            ex = lambda f, x, y, n0: math.log(max(med(y, f), 0.005) / max(med(x, f), 0.005)) / math.log(hi / n0)
            last = ex("cpu_s", c, b, ns[-2]) if c in runs else float("nan")
            print(f"| {case} | {ex('wall_s', a, b, lo):.2f} | {ex('cpu_s', a, b, lo):.2f} | {ex('rss_kib', a, b, lo):.2f} | {last:.2f} |")

rules = os.path.join(out, "raw", "rules.tsv")
if os.path.exists(rules):
    print("\n## Emitted rules per target\n")
    print("| N | tool | target | files | bytes | rules | counted as |")
    print("|---:|---|---|---:|---:|---:|---|")
    for line in open(rules):
        n, tool, t, files, size, r, what = line.rstrip("\n").split("\t")
        print(f"| {int(n):,} | {tool} | {t} | {files} | {int(size):,} | {r or '-'} | {what} |")
