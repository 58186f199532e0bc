#!/bin/sh
# Tools for the editor tests: Neovim (tests/lsp_editor.rs drives `moat lsp`
# from its built-in LSP client) and the tree-sitter CLI (tests/treesitter.rs
# parses every good policy with grammar/tree-sitter-moat; it compiles the
# generated parser with the C compiler). Idempotent; apt-get update is done by .ci/run.
set -eu
cd "$(dirname "$0")/../.."
need=""
command -v nvim >/dev/null 2>&1 || need="$need neovim"
command -v cc >/dev/null 2>&1 || need="$need gcc"
command -v npm >/dev/null 2>&1 || need="$need npm"
if [ -n "$need" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
fi
# pinned, into grammar/tree-sitter-moat/node_modules (not committed)
if [ ! -x grammar/tree-sitter-moat/node_modules/.bin/tree-sitter ]; then
    (cd grammar/tree-sitter-moat && npm install --no-audit --no-fund --silent)
fi
