#!/bin/sh
# Tools for the robustness tests (tests/robust_*.rs): GNU time (peak memory
# of the 50 MB input), iptables and nftables (loading hostile rulesets in
# check mode), unshare (a throw-away network namespace for those checks).
# Idempotent; apt-get update is done by .ci/run. Fuzzing (cargo-afl) is not
# part of CI: see docs/robustness.md.
set -eu
need=""
command -v /usr/bin/time >/dev/null 2>&1 || need="$need time"
command -v iptables-restore >/dev/null 2>&1 || [ -x /usr/sbin/iptables-restore ] || need="$need iptables"
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need="$need nftables"
command -v unshare >/dev/null 2>&1 || need="$need util-linux"
if [ -n "$need" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
fi
