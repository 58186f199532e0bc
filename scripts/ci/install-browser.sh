#!/usr/bin/env bash
# The browser of the HTML report's tests (tests/audit_html.rs): Debian's
# Chromium, driven by playwright-core (pinned in tests/browser/package-lock.json;
# it uses the system Chromium, so no browser is downloaded).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")/../.."
command -v chromium >/dev/null 2>&1 || apt-get install -y -qq chromium >/dev/null
command -v node >/dev/null 2>&1 || apt-get install -y -qq nodejs npm >/dev/null
npm ci --prefix tests/browser --no-audit --no-fund --silent
chromium --version
