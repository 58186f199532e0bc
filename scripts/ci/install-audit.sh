#!/usr/bin/env bash
# Tools for the audit part of the suite (moat diff / graph / fmt / audit):
# - graphviz: `dot -Tsvg` proves every `moat graph` DOT output is valid;
# - git: `moat diff REV:PATH` reads policies from a revision.
# nca (the semantic-diff cross-check) lives in the shared .venv, installed by
# scripts/ci/install-k8s.sh.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v git >/dev/null 2>&1 || need+=(git)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
dot -V
