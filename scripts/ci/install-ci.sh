#!/usr/bin/env bash
# Tools for the pipeline part of the suite, pinned, in the shared virtualenv `.venv`:
# - jsonschema: validates every SARIF log against the OASIS SARIF 2.1.0 schema
#   (fixtures/sarif/);
# - pre-commit: runs the hooks of .pre-commit-hooks.yaml as a user's repository would.
set -euo pipefail
cd "$(dirname "$0")/../.."
JSONSCHEMA_VERSION=4.26.0
PRE_COMMIT_VERSION=4.3.0
[ -x .venv/bin/python ] || python3 -m venv .venv
have() { .venv/bin/python -m pip show "$1" 2>/dev/null | grep -qx "Version: $2"; }
if ! have jsonschema "$JSONSCHEMA_VERSION" || ! have pre-commit "$PRE_COMMIT_VERSION"; then
  .venv/bin/python -m pip install -q --disable-pip-version-check \
    "jsonschema==$JSONSCHEMA_VERSION" "pre-commit==$PRE_COMMIT_VERSION"
fi
.venv/bin/pre-commit --version
