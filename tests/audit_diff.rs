//! `moat diff` end to end: the hand-checked edit pairs of `fixtures/diff/`,
//! exit codes, inputs read from git revisions, several inputs per side, and
//! the properties of spec'd diffs on generated policies.

#[path = "common/mod.rs"]
mod common;

use common::{moat, root, TempDir};
use moat::analysis::{diff, matrix};
use moat::gen::{random_policy, GenOptions};
use proptest::prelude::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn run_json(args: &[&str], dir: &Path) -> (i32, Value) {
    let out = moat()
        .args(["diff", "--format", "json"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run moat");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn hand_checked_edit_pairs() {
    let base = root().join("fixtures/diff");
    let mut cases: Vec<_> = std::fs::read_dir(&base)
        .expect("fixtures/diff")
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    cases.sort_by_key(|e| e.file_name());
    assert!(cases.len() >= 5, "the five edit kinds of the issue");
    for case in cases {
        let dir = case.path();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"))
                .expect("json");
        let (code, got) = run_json(&["old.moat", "new.moat"], &dir);
        let name = case.file_name();
        for key in ["added", "removed", "renamed"] {
            assert_eq!(got[key], expected[key], "{name:?}: {key}");
        }
        let readdressed: Vec<Value> = got["readdressed"]
            .as_array()
            .expect("array")
            .iter()
            .map(|r| r["atom"].clone())
            .collect();
        assert_eq!(
            Value::Array(readdressed),
            expected["readdressed"],
            "{name:?}: readdressed"
        );
        let same = expected["added"].as_array().is_some_and(Vec::is_empty)
            && expected["removed"].as_array().is_some_and(Vec::is_empty)
            && expected["readdressed"].as_array().is_some_and(Vec::is_empty);
        assert_eq!(code, if same { 0 } else { 1 }, "{name:?}: exit code");
    }
}

#[test]
fn exit_two_on_trouble() {
    let dir = root().join("fixtures/diff/add-port");
    let out = moat()
        .args(["diff", "old.moat", "missing.moat"])
        .current_dir(&dir)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let t = TempDir::new("diff-bad");
    std::fs::write(t.path().join("bad.moat"), "zone a : nowhere { }\n").expect("write");
    let out = moat()
        .args(["diff", "bad.moat"])
        .arg(dir.join("old.moat"))
        .current_dir(t.path())
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "a policy with errors cannot be compared"
    );
    let out = moat().args(["diff", "only-one.moat"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository with `policies/{main,rules}.moat` committed, then edited in the working tree.
fn repo_with_edit() -> TempDir {
    let t = TempDir::new("diff-git");
    let p = t.path();
    let fx = root().join("fixtures/diff/add-port");
    let old = std::fs::read_to_string(fx.join("old.moat")).expect("old");
    let new = std::fs::read_to_string(fx.join("new.moat")).expect("new");
    let split = |s: &str| {
        let at = s.find("\nallow").expect("rules");
        (
            format!("{}\ninclude \"rules.moat\"\n", &s[..at]),
            s[at + 1..].to_string(),
        )
    };
    std::fs::create_dir_all(p.join("policies")).expect("mkdir");
    let (decls, rules) = split(&old);
    std::fs::write(p.join("policies/main.moat"), decls).expect("write");
    std::fs::write(p.join("policies/rules.moat"), rules).expect("write");
    git(p, &["init", "-q"]);
    git(p, &["add", "."]);
    git(p, &["commit", "-qm", "one"]);
    let (decls, rules) = split(&new);
    std::fs::write(p.join("policies/main.moat"), decls).expect("write");
    std::fs::write(p.join("policies/rules.moat"), rules).expect("write");
    t
}

#[test]
fn sides_from_git_revisions_directories_and_files() {
    if let Some(why) = common::missing_tool("git") {
        return common::skip(&why);
    }
    let t = repo_with_edit();
    let want =
        serde_json::json!([{"from": "dmz.ingress", "to": "mz.kernel", "protocol": "tcp", "ports": "8443"}]);
    // REV:DIR against the working tree's directory (includes followed inside the revision).
    let (code, v) = run_json(&["HEAD:policies", "policies"], t.path());
    assert_eq!((code, &v["added"]), (1, &want), "{v}");
    // REV:FILE against a file; from a sub-directory, paths are relative to it.
    let (code, v) = run_json(&["HEAD:./main.moat", "main.moat"], &t.path().join("policies"));
    assert_eq!((code, &v["added"]), (1, &want), "{v}");
    // several inputs per side
    let (code, v) = run_json(
        &[
            "--old",
            "HEAD:policies/main.moat",
            "--old",
            "HEAD:policies/rules.moat",
            "--new",
            "policies/main.moat",
            "--new",
            "policies/rules.moat",
        ],
        t.path(),
    );
    assert_eq!((code, &v["added"]), (1, &want));
    // same revision on both sides: no change
    let (code, v) = run_json(&["HEAD:policies", "HEAD:policies"], t.path());
    assert_eq!((code, v["added"].as_array().map(Vec::len)), (0, Some(0)));
    // a revision that does not exist is trouble
    let out = moat()
        .args(["diff", "nosuchrev:policies", "policies"])
        .current_dir(t.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    // the diagnostics of a revision name the blob as REV:PATH
    std::fs::write(
        t.path().join("policies/rules.moat"),
        "allow nowhere -> mz : tcp/1\n",
    )
    .expect("write");
    git(t.path(), &["commit", "-qam", "broken"]);
    let out = moat()
        .args(["diff", "HEAD:policies", "HEAD~1:policies"])
        .current_dir(t.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HEAD:policies/rules.moat"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ir_of(text: &str) -> moat::ir::Ir {
    let c = moat::check_str("gen.moat", text);
    c.ir.unwrap_or_else(|| panic!("generated policy does not check: {:?}\n{text}", c.diags))
}

fn opts(seed: u64) -> GenOptions {
    GenOptions {
        zones: 3 + (seed % 3) as usize,
        allows: 6 + (seed % 5) as usize,
        ..GenOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// diff(a, a) is empty; diff(b, a) is diff(a, b) with sides swapped;
    /// applying diff(a, b) to a's matrix gives b's.
    #[test]
    fn diff_properties(s1 in 0u64..5000, s2 in 0u64..5000, more in 0usize..4, related in any::<bool>()) {
        let a = ir_of(&random_policy(s1, &opts(s1)));
        // related: the same policy with more allows (a small edit); else another policy.
        let b_text = if related {
            random_policy(s1, &GenOptions { allows: opts(s1).allows + more, ..opts(s1) })
        } else {
            random_policy(s2, &opts(s2))
        };
        let b = ir_of(&b_text);
        prop_assert!(diff::diff(&a, &a).is_empty());
        let d = diff::diff(&a, &b);
        let back = diff::diff(&b, &a);
        let rows = |v: &[diff::DiffRow]| v.iter().map(|r| r.row.clone()).collect::<Vec<_>>();
        prop_assert_eq!(rows(&back.added), rows(&d.removed));
        prop_assert_eq!(rows(&back.removed), rows(&d.added));
        let swapped: Vec<(String, String)> = d.renamed.iter().map(|(o, n)| (n.clone(), o.clone())).collect();
        let mut back_ren = back.renamed.clone();
        back_ren.sort_by(|x, y| x.1.cmp(&y.1));
        let mut swapped_sorted = swapped;
        swapped_sorted.sort_by(|x, y| x.1.cmp(&y.1));
        prop_assert_eq!(back_ren, swapped_sorted);
        let applied = diff::apply(&diff::named_matrix(&matrix::rows(&a)), &d);
        prop_assert_eq!(applied, diff::named_matrix(&matrix::rows(&b)));
        if related {
            prop_assert!(d.removed.is_empty(), "adding allows removes nothing");
        }
    }
}
