#!/usr/bin/env bash
# Tools of the netfilter lab tests (tests/netfilter_*.rs): iproute2 for network
# namespaces and veth pairs, iptables (iptables-restore, ip6tables-restore),
# nftables (nft), util-linux (nsenter) and python3 for the probe agent
# (standard library only).
# Idempotent and non-interactive; `apt-get update` is done by .ci/run.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v iptables-restore >/dev/null || need+=(iptables)
command -v ip6tables-restore >/dev/null || need+=(iptables)
command -v nft >/dev/null || need+=(nftables)
command -v python3 >/dev/null || need+=(python3)
command -v nsenter >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
ip -V
iptables --version
nft --version
python3 --version
