#!/usr/bin/env bash
# Tools for the k8s target's tests: a strict schema validator and IBM's
# network-config-analyzer (`nca`), pinned, in the shared virtualenv `.venv`.
set -euo pipefail
cd "$(dirname "$0")/../.."
KV_VERSION=1.37.0
NCA_VERSION=2.1.0
if [ ! -x .venv/bin/python ]; then
  # Debian's python3 needs python3-venv for `-m venv` (ensurepip).
  python3 -m venv .venv 2>/dev/null || {
    rm -rf .venv
    apt-get install -y -qq python3-venv python3-pip >/dev/null
    python3 -m venv .venv
  }
fi
have() { .venv/bin/python -m pip show "$1" 2>/dev/null | grep -qx "Version: $2"; }
if ! have kubernetes-validate "$KV_VERSION" || ! have network-config-analyzer "$NCA_VERSION"; then
  .venv/bin/python -m pip install -q --disable-pip-version-check \
    "kubernetes-validate==$KV_VERSION" "network-config-analyzer==$NCA_VERSION"
fi
.venv/bin/kubernetes-validate --version >/dev/null
.venv/bin/nca --help >/dev/null
