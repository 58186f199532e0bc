#!/usr/bin/env bash
# Whole-run benchmarks of moat against Aerleon (docs/performance.md).
#
#   scripts/bench.sh                      # N = 2000 20000 200000, 3 runs each
#   MOAT_BENCH_NS="2000 20000" MOAT_BENCH_RUNS=5 scripts/bench.sh
#
# For every N it generates the issue-7 policy (200 zones x 4 CIDRs, 200
# services, 50 port groups, N allows; `cargo run --example benchgen`) and the
# equivalent Aerleon policy, then times with `/usr/bin/time -v`, RUNS times
# each, and reports medians of wall time, user+sys CPU time and peak RSS:
#   moat check (and check --all-warnings) | matrix | query | query --cache
#        (warm: the cache built by an untimed run) | diff (1% of allows changed)
#        | compile --target T for k8s iptables nftables all (onprem policy)
#        | compile --target aws gcp azure (the same policy spread over 4 sites)
#   aerleon aclgen iptables | aclgen k8s | aclcheck (one query)
# Aerleon runs for N <= MOAT_BENCH_AERLEON_MAX (default 20000: at 200,000
# terms one run takes many minutes). Aerleon is installed, pinned, into the
# virtualenv .venv-bench. Results: target/bench/results.md (plus raw/), and
# the growth curves target/bench/growth-{time,memory}.svg (scripts/plot_perf.py).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
NS=${MOAT_BENCH_NS:-"2000 20000 200000"}
RUNS=${MOAT_BENCH_RUNS:-3}
AERLEON_MAX=${MOAT_BENCH_AERLEON_MAX:-20000}
OUT=${MOAT_BENCH_OUT:-$ROOT/target/bench}
VENV=$ROOT/.venv-bench
TIME=/usr/bin/time

# --- tools -----------------------------------------------------------------
if [ "${MOAT_BENCH_SKIP_AERLEON:-0}" != 1 ]; then
  "$ROOT/scripts/ci/install-perf.sh" >/dev/null   # aerleon==1.18.0 into .venv-bench
fi
if [ ! -x "$TIME" ]; then
  echo "bench.sh: $TIME is missing (apt-get install -y time)" >&2
  exit 2
fi

cargo build --release --quiet --bin moat --example benchgen
MOAT=$ROOT/target/release/moat
GEN=$ROOT/target/release/examples/benchgen

rm -rf "$OUT/raw"
mkdir -p "$OUT/raw" "$OUT/work"
RESULTS=$OUT/raw/runs.tsv
printf 'n\ttool\tcase\trun\twall_s\tcpu_s\trss_kib\texit\n' > "$RESULTS"
echo "start $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) cores: $(nproc)" > "$OUT/raw/machine.txt"

# time_run N TOOL CASE OUTFILE CMD...: RUNS timed runs, one TSV row each.
# The exit status is recorded, not fatal: moat query exits 1 for deny, diff 1
# for "differ", and a cloud target may hit a quota (E013) on big policies.
time_run() {
  local n=$1 tool=$2 case=$3 outfile=$4
  shift 4
  local r
  for r in $(seq 1 "$RUNS"); do
    local tv="$OUT/raw/$tool-$case-$n-$r.time"
    # flush the previous runs' written files first: their writeback would
    # otherwise land in this run's system time (hundreds of MB at 200,000)
    sync
    set +e
    local t0 t1
    t0=$(date +%s%N)
    "$TIME" -v -o "$tv" "$@" > "$outfile" 2> "$OUT/raw/$tool-$case-$n-$r.stderr"
    local rc=$?
    t1=$(date +%s%N)
    set -e
    python3 - "$tv" "$n" "$tool" "$case" "$r" "$rc" "$((t1 - t0))" >> "$RESULTS" <<'PY'
import re, sys
tv, n, tool, case, run, rc, wall_ns = sys.argv[1:]
t = open(tv).read()
def field(name):
    m = re.search(re.escape(name) + r": (.*)", t)
    return m.group(1).strip() if m else "0"
# wall time from the shell's clock in nanoseconds (GNU time's has 10 ms steps)
secs = int(wall_ns) / 1e9
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
print(f"{n}\t{tool}\t{case}\t{run}\t{secs:.3f}\t{cpu:.3f}\t{field('Maximum resident set size (kbytes)')}\t{rc}")
PY
  done
}

for n in $NS; do
  W=$OUT/work/n$n
  rm -rf "$W"
  "$GEN" "$W/v1" --allows "$n" --aerleon
  "$GEN" "$W/v2" --allows "$n" --mutate 1
  "$GEN" "$W/hybrid" --allows "$n" --hybrid
  read -r QFROM QTO QPORT QFROM_ADDR QTO_ADDR < "$W/v1/query.txt"
  P=$W/v1/policy.moat

  time_run "$n" moat check "$W/check.out" "$MOAT" check "$P"
  time_run "$n" moat check-all-warnings "$W/check-all.out" "$MOAT" check --all-warnings "$P"
  time_run "$n" moat matrix "$W/matrix.json" "$MOAT" matrix --format json "$P"
  time_run "$n" moat query "$W/query.out" "$MOAT" query "$P" --from "$QFROM" --to "$QTO" --port "$QPORT"
  # the same question with --cache: one cold run builds the cache, then the timed runs read it
  rm -f "$W/query.cache"
  "$MOAT" query "$P" --from "$QFROM" --to "$QTO" --port "$QPORT" --cache "$W/query.cache" > /dev/null || true
  time_run "$n" moat query-cached "$W/query-cached.out" "$MOAT" query "$P" --from "$QFROM" --to "$QTO" --port "$QPORT" --cache "$W/query.cache"
  time_run "$n" moat diff "$W/diff.json" "$MOAT" diff "$P" "$W/v2/policy.moat" --format json
  for t in k8s iptables nftables all; do
    rm -rf "$W/out-$t"
    time_run "$n" moat "compile-$t" "$W/compile-$t.out" "$MOAT" compile "$P" --target "$t" --out "$W/out-$t"
  done
  for t in aws gcp azure; do
    rm -rf "$W/out-$t"
    time_run "$n" moat "compile-$t" "$W/compile-$t.out" "$MOAT" compile "$W/hybrid/policy.moat" --target "$t" --out "$W/out-$t"
  done
  python3 "$ROOT/scripts/bench_count.py" moat "$n" "$W" >> "$OUT/raw/rules.tsv"

  if [ "${MOAT_BENCH_SKIP_AERLEON:-0}" != 1 ] && [ "$n" -le "$AERLEON_MAX" ]; then
    A=$W/v1/aerleon
    for t in iptables k8s; do
      rm -rf "$A/out-$t"
      mkdir -p "$A/out-$t"
      time_run "$n" aerleon "aclgen-$t" "$W/aerleon-$t.out" \
        "$VENV/bin/aclgen" --base_directory "$A/pol" --definitions_directory "$A/def" \
        --policy_file "$A/pol/$t.pol" --output_directory "$A/out-$t" --max_renderers 1
    done
    # aclcheck: one query, as `moat query` above (same source, destination, port)
    time_run "$n" aerleon aclcheck "$W/aclcheck.out" \
      "$VENV/bin/aclcheck" --definitions_directory "$A/def" --policy_file "$A/pol/iptables.pol" \
      -s "$QFROM_ADDR" -d "$QTO_ADDR" --dport "${QPORT#*/}" --proto "${QPORT%%/*}"
    python3 "$ROOT/scripts/bench_count.py" aerleon "$n" "$A" >> "$OUT/raw/rules.tsv"
  fi
done
echo "end $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/raw/machine.txt"
python3 "$ROOT/scripts/bench_report.py" "$OUT" > "$OUT/results.md"
# the growth curves (docs/perf/growth-*.svg are these, copied from a full run)
python3 "$ROOT/scripts/plot_perf.py" "$RESULTS" "$OUT"
cat "$OUT/results.md"
