//! The tree-sitter grammar (grammar/tree-sitter-moat) parses every good
//! policy without an ERROR or MISSING node: fixtures/good, policies/, the
//! editor test's policy and the grammar's own examples of the issue-12 and
//! issue-15 syntax; and its highlight queries compile against it. Needs the
//! `tree-sitter` CLI and a C compiler (scripts/ci/install-editor.sh); skips
//! without them (fails under MOAT_FULL_TESTS=1).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The CLI: on PATH, or where install-editor.sh (cargo) or `npm install` put it.
fn cli() -> Option<PathBuf> {
    let root = common::root();
    [
        root.join("target/tree-sitter-cli/bin/tree-sitter"),
        root.join("grammar/tree-sitter-moat/node_modules/.bin/tree-sitter"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .or_else(|| {
        common::missing_tool("tree-sitter")
            .is_none()
            .then(|| PathBuf::from("tree-sitter"))
    })
}

fn good_files() -> Vec<PathBuf> {
    let root = common::root();
    let mut v = vec![];
    // fixtures/layouts: the good policies of issue 12's address and DNS items, where that work has landed
    for dir in [
        "fixtures/good",
        "fixtures/layouts",
        "policies",
        "tests/editor/policy",
        "grammar/tree-sitter-moat/examples",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            assert_ne!(dir, "fixtures/good", "fixtures/good is missing");
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "moat"))
            .collect();
        files.sort();
        v.extend(files);
    }
    v
}

fn copy_grammar(to: &Path) {
    let from = common::root().join("grammar/tree-sitter-moat");
    std::fs::create_dir_all(to.join("queries")).expect("mkdir");
    for f in [
        "grammar.js",
        "tree-sitter.json",
        "package.json",
        "queries/highlights.scm",
    ] {
        std::fs::copy(from.join(f), to.join(f)).expect("copy grammar");
    }
}

#[test]
fn every_good_policy_parses_without_error_nodes() {
    let Some(ts) = cli() else {
        return common::skip("`tree-sitter` CLI is not installed (scripts/ci/install-editor.sh)");
    };
    if let Some(why) = common::missing_tool("cc") {
        return common::skip(&why);
    }
    let tmp = common::TempDir::new("treesitter");
    let grammar = tmp.path().join("tree-sitter-moat");
    copy_grammar(&grammar);
    let run = |args: &[&std::ffi::OsStr]| {
        Command::new(&ts)
            .args(args)
            .current_dir(&grammar)
            .env("TREE_SITTER_LIBDIR", tmp.path().join("lib"))
            .env("HOME", tmp.path())
            .output()
            .expect("run tree-sitter")
    };
    let generated = run(&["generate".as_ref()]);
    assert!(
        generated.status.success(),
        "tree-sitter generate failed:\n{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let files = good_files();
    assert!(files.len() >= 10, "{files:?}");
    let mut bad = vec![];
    for f in &files {
        let out = run(&["parse".as_ref(), f.as_os_str()]);
        let tree = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || tree.contains("ERROR") || tree.contains("MISSING") || tree.is_empty() {
            let lines: Vec<&str> = tree
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("MISSING"))
                .take(5)
                .collect();
            bad.push(format!(
                "{}: {}\n{}",
                f.display(),
                lines.join("\n"),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "files with ERROR/MISSING nodes:\n{}",
        bad.join("\n")
    );
    // the highlight queries name only nodes and fields the grammar has
    let mosip = common::policy("mosip.moat");
    let q = run(&[
        "query".as_ref(),
        "queries/highlights.scm".as_ref(),
        mosip.as_os_str(),
    ]);
    let captures = String::from_utf8_lossy(&q.stdout);
    assert!(
        q.status.success(),
        "highlights.scm: {}",
        String::from_utf8_lossy(&q.stderr)
    );
    for capture in [
        "keyword",
        "keyword.control",
        "comment",
        "string",
        "number",
        "type",
        "type.builtin",
        "function",
        "constant",
        "variable",
        "property",
    ] {
        assert!(
            captures.contains(&format!(" - {capture}, ")),
            "no `{capture}` capture in mosip.moat"
        );
    }
}
