#!/usr/bin/env bash
# Tools of the performance benchmarks (scripts/bench.sh, tests/perf_smoke.rs):
# GNU time (/usr/bin/time -v) and Aerleon, pinned, in its own virtualenv
# `.venv-bench` (kept apart from the shared `.venv`: Aerleon pins PyYAML and
# absl-py versions of its own). Idempotent and non-interactive.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/../.."
AERLEON_VERSION=1.18.0
[ -x /usr/bin/time ] || apt-get install -y -qq --no-install-recommends time
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench 2>/dev/null || {
    rm -rf .venv-bench
    apt-get install -y -qq python3-venv python3-pip >/dev/null
    python3 -m venv .venv-bench
  }
fi
if ! .venv-bench/bin/python -m pip show aerleon 2>/dev/null | grep -qx "Version: $AERLEON_VERSION"; then
  .venv-bench/bin/python -m pip install -q --disable-pip-version-check "aerleon==$AERLEON_VERSION"
fi
.venv-bench/bin/python -c "import aerleon.api" || { echo "install-perf.sh: aerleon does not import" >&2; exit 1; }
[ -x .venv-bench/bin/aclgen ] && [ -x .venv-bench/bin/aclcheck ]
echo "aerleon $AERLEON_VERSION in .venv-bench"
