//! Snapshots of every output format of `moat diff`, `moat graph` and `moat audit`.

#[path = "common/mod.rs"]
mod common;

use common::{moat, root};

/// Runs moat from the repository root (so paths in the output are relative) and returns stdout.
fn out(args: &[&str], code: i32) -> String {
    let o = moat().args(args).current_dir(root()).output().expect("run moat");
    assert_eq!(
        o.status.code(),
        Some(code),
        "moat {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

const OLD: &str = "fixtures/diff/add-zone/old.moat";
const NEW: &str = "fixtures/diff/add-zone/new.moat";
const SPEC: &str = "fixtures/good/spec-example.moat";

#[test]
fn diff_text() {
    insta::assert_snapshot!(out(&["diff", OLD, NEW], 1));
}

#[test]
fn diff_json() {
    insta::assert_snapshot!(out(&["diff", "--format", "json", OLD, NEW], 1));
}

#[test]
fn diff_markdown() {
    insta::assert_snapshot!(out(&["diff", "--format", "markdown", OLD, NEW], 1));
}

#[test]
fn diff_markdown_removal() {
    insta::assert_snapshot!(out(
        &[
            "diff",
            "--format",
            "markdown",
            "fixtures/diff/remove-service/old.moat",
            "fixtures/diff/remove-service/new.moat"
        ],
        1
    ));
}

#[test]
fn graph_dot() {
    insta::assert_snapshot!(out(&["graph", SPEC], 0));
}

#[test]
fn graph_mermaid() {
    insta::assert_snapshot!(out(&["graph", "--format", "mermaid", SPEC], 0));
}

#[test]
fn audit_text() {
    insta::assert_snapshot!(out(&["audit", SPEC], 0));
}

#[test]
fn audit_json() {
    insta::assert_snapshot!(out(&["audit", "--format", "json", SPEC], 0));
}

#[test]
fn audit_markdown() {
    insta::assert_snapshot!(out(&["audit", "--format", "markdown", SPEC], 0));
}
