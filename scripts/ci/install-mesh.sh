#!/usr/bin/env bash
# Tools for the istio and k8s-admin targets' tests: nca (install-k8s.sh, which
# evaluates Istio AuthorizationPolicies too) and a JSON-schema validator with
# PyYAML for tests/mesh_support/validate_crd.py, pinned, in the shared `.venv`.
set -euo pipefail
cd "$(dirname "$0")/../.."
JSONSCHEMA_VERSION=4.26.0
PYYAML_VERSION=6.0.2
scripts/ci/install-k8s.sh
have() { .venv/bin/python -m pip show "$1" 2>/dev/null | grep -qx "Version: $2"; }
if ! have jsonschema "$JSONSCHEMA_VERSION" || ! have PyYAML "$PYYAML_VERSION"; then
  .venv/bin/python -m pip install -q --disable-pip-version-check \
    "jsonschema==$JSONSCHEMA_VERSION" "PyYAML==$PYYAML_VERSION"
fi
.venv/bin/python -c "import jsonschema, yaml"
