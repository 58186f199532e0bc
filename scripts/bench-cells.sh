#!/usr/bin/env bash
# How moat's output and time grow with the number of cells (issue 17, goal 1;
# docs/performance.md, "Cells").
#
#   scripts/bench-cells.sh                    # N = 64 256 1024 4096, every target
#   MOAT_CELLS_NS="64 256" MOAT_CELLS_TARGETS="k8s nftables" scripts/bench-cells.sh
#
# The policy is the one of fuzz/regressions/check-4096-cells-8192-holes.moat
# with N cells instead of 4096 (cells c[1..N] in 10.0.0.0/8, each /20, two
# zones and four services per cell, an internet allow to every cell's
# gateway). For aws, gcp and azure the cells' zones sit at a site of that kind.
# Each run is one `moat compile --target T` under /usr/bin/time -v, release
# build. Output: CSV on stdout and in target/bench-cells/cells.csv:
#   target,N,bytes,seconds,peak_kib,cpu_seconds
# bytes is the size of every file the target wrote (0 when compile failed,
# e.g. a cloud quota, E013); seconds is wall time, cpu_seconds user + system
# time (steadier than wall time on a loaded machine).
# scripts/plot_cells.py draws the CSV as docs/perf/cells-growth.svg.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
NS=${MOAT_CELLS_NS:-"64 256 1024 4096"}
TARGETS=${MOAT_CELLS_TARGETS:-"k8s iptables nftables aws gcp azure"}
OUT=${MOAT_CELLS_OUT:-$ROOT/target/bench-cells}
TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
  echo "bench-cells.sh: $TIME is missing (apt-get install -y time)" >&2
  exit 2
fi

# MOAT_BIN=path measures another build (e.g. a copy of an older one) instead.
if [ -z "${MOAT_BIN:-}" ]; then
  cargo build --release --quiet --bin moat
fi
MOAT=${MOAT_BIN:-$ROOT/target/release/moat}

# policy N SITE_DECL SITE: the cells policy with N cells, its zones at SITE.
policy() {
  local n=$1 decl=$2 at=$3
  cat <<EOF
$decl
zone internet : external { cidr 0.0.0.0/0 }
cells c[1..$n] in 10.0.0.0/8 each /20 {
  zone edge : demilitarised $at { cidr +0.0.0.0/22 namespace "{cell}-edge"
    service gw { pods app=gw hosts +0.0.0.10 port http tcp/8080 } service gx { pods app=gx hosts +0.0.0.20 port http tcp/8080 } }
  zone app : militarised $at { cidr +0.0.8.0/22 namespace "{cell}-app"
    service worker { pods app=w hosts +0.0.8.10 port http tcp/8080 } service db { pods app=db hosts +0.0.8.20 port pg tcp/5432 } }
  allow edge.gw, edge.gx -> app.worker : http
  allow app.worker -> app.db : pg
}
allow internet -> c*.edge.gw : http
EOF
}

site_of() {
  case $1 in
    aws) echo 'site cloud : aws { region "ap-south-1" vpc "vpc-0abc1234" }' ;;
    gcp) echo 'site cloud : gcp { project "cells-prod" region "asia-south1" network "cells-vpc" }' ;;
    azure) echo 'site cloud : azure { region "centralindia" resource_group "cells-rg" }' ;;
    *) echo '' ;;
  esac
}

mkdir -p "$OUT"
CSV=$OUT/cells.csv
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) cores: $(nproc)" > "$OUT/machine.txt"
echo "target,N,bytes,seconds,peak_kib,cpu_seconds" | tee "$CSV"
for n in $NS; do
  for t in $TARGETS; do
    decl=$(site_of "$t")
    at=""
    [ -n "$decl" ] && at="@ cloud"
    dir=$OUT/$t-$n
    rm -rf "$dir"
    mkdir -p "$dir"
    policy "$n" "$decl" "$at" > "$dir/policy.moat"
    sync
    status=0
    "$TIME" -v -o "$dir/time.txt" "$MOAT" compile "$dir/policy.moat" --target "$t" --out "$dir/out" \
      > "$dir/stdout.txt" 2> "$dir/stderr.txt" || status=$?
    if [ "$status" != 0 ]; then
      echo "bench-cells.sh: compile --target $t with N=$n exited $status (see $dir/stderr.txt)" >&2
    fi
    bytes=0
    if [ -d "$dir/out" ]; then
      bytes=$(find "$dir/out" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    fi
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/time.txt" |
      awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$dir/time.txt")
    echo "$t,$n,$bytes,$wall,$rss,$cpu" | tee -a "$CSV"
  done
done
echo "# end $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/machine.txt"
