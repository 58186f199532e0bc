#!/usr/bin/env bash
# Benchmark of `moat drift` on a 20k-rule dump (docs/performance.md, docs/drift.md).
# Builds the benchmark policy with 4,300 allows (200 zones x 4 CIDRs, 200
# services), compiles its iptables and nftables gateway rulesets (about 21,000
# iptables rules), and times `moat drift` reading each back, then `moat import`
# of each over the policy's zones, RUNS times.
# Usage: scripts/bench-drift.sh [RUNS]   (release build; results on stdout)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
cargo build --release --quiet --bin moat --example benchgen --manifest-path "$ROOT/Cargo.toml"
MOAT=$ROOT/target/release/moat
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$ROOT/target/release/examples/benchgen" "$W" --allows 4300 > /dev/null
"$MOAT" compile "$W/policy.moat" --target iptables,nftables --out "$W/out" > /dev/null
RULES=$(grep -c '^-A' "$W/out/iptables/gateway.v4.rules")
echo "dump: $RULES iptables rules ($(du -h "$W/out/iptables/gateway.v4.rules" | cut -f1)), nft $(du -h "$W/out/nftables/gateway.nft" | cut -f1)"
LIVE_iptables="iptables:$W/out/iptables/gateway.v4.rules"
LIVE_nftables="nftables:$W/out/nftables/gateway.nft"
for kind in iptables nftables; do
  live_var="LIVE_$kind"; live=${!live_var}
  for i in $(seq "$RUNS"); do
    sync
    /usr/bin/time -f "$kind run $i: %e s wall, %U s user, %M KB max RSS" "$MOAT" drift "$W/policy.moat" --live "$live" > "$W/drift.out"
    head -c 120 "$W/drift.out"; echo
  done
done
# moat import of the same dumps over the policy's zones (its allows left out)
grep -v '^allow ' "$W/policy.moat" > "$W/zones.moat"
for kind in iptables nftables; do
  live_var="LIVE_$kind"; live=${!live_var}
  for i in $(seq "$RUNS"); do
    sync
    /usr/bin/time -f "import $kind run $i: %e s wall, %U s user, %M KB max RSS" "$MOAT" import "$live" --zones "$W/zones.moat" > "$W/import.out" || true
    echo "  $(grep -c '^allow ' "$W/import.out") allows imported"
  done
done
