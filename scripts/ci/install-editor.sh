#!/bin/sh
# Tools for the editor tests: Neovim (tests/lsp_editor.rs drives `moat lsp`
# from its built-in LSP client) and the tree-sitter CLI (tests/treesitter.rs
# generates grammar/tree-sitter-moat and parses every good policy with it;
# the CLI compiles the generated parser with the C compiler).
# The CLI's npm package (`npm install` in grammar/tree-sitter-moat) fetches
# its binary from GitHub at install time, which CI cannot reach; the same
# CLI, same version, builds from crates.io into cargo's bin directory
# (~/.cargo/bin, on PATH), once per machine: about 6-12 minutes on 2 cores.
# Idempotent; apt-get update is done by .ci/run.
set -eu
cd "$(dirname "$0")/../.."
need=""
command -v nvim >/dev/null 2>&1 || need="$need neovim"
command -v cc >/dev/null 2>&1 || need="$need gcc"
command -v node >/dev/null 2>&1 || need="$need nodejs"
if [ -n "$need" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
fi
if ! command -v tree-sitter >/dev/null 2>&1 && [ ! -x target/tree-sitter-cli/bin/tree-sitter ]; then
    cargo install --quiet --locked tree-sitter-cli@0.25.10
fi
