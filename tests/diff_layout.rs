//! `moat diff` reports layout-only changes: a zone that moves to another
//! cluster, stops being managed, claims other pods of a shared namespace or
//! whose services run as another service account allows the same flows, yet
//! the rules land elsewhere or match other workloads. Each such edit is a
//! difference (exit 1) listed under `relaid`, in every format.

mod common;

use common::{moat, root, TempDir};
use std::path::PathBuf;

/// Writes `text` with `from` replaced by `to` (which must occur) next to the original.
fn edited(dir: &TempDir, fixture: &str, from: &str, to: &str) -> (PathBuf, PathBuf) {
    let old = root().join("fixtures/good").join(fixture);
    let text = std::fs::read_to_string(&old).expect("fixture");
    assert!(text.contains(from), "{fixture} has no `{from}`");
    let new = dir.path().join(fixture);
    std::fs::write(&new, text.replacen(from, to, 1)).expect("write the edited policy");
    (old, new)
}

/// `moat diff OLD NEW --format json`: exit code and the parsed report.
fn diff_json(old: &PathBuf, new: &PathBuf) -> (i32, serde_json::Value) {
    let out = moat()
        .args(["diff", "--format", "json"])
        .arg(old)
        .arg(new)
        .output()
        .expect("moat runs");
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn relaid(v: &serde_json::Value) -> Vec<(String, String, String)> {
    v["relaid"]
        .as_array()
        .expect("a relaid array")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().expect("a string").to_string();
            (s("zone"), s("old"), s("new"))
        })
        .collect()
}

#[test]
fn an_unmanaged_zone_that_becomes_managed_is_a_change_with_the_same_flows() {
    let dir = TempDir::new("diff-layout-unmanaged");
    let from = "  cidr 10.10.50.0/24\n  unmanaged\n";
    let (old, new) = edited(&dir, "layout-unmanaged.moat", from, "  cidr 10.10.50.0/24\n");
    let (code, v) = diff_json(&old, &new);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["added"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(v["removed"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(
        relaid(&v),
        vec![(
            "observation".to_string(),
            "unmanaged".to_string(),
            "no layout statement".to_string()
        )]
    );
}

#[test]
fn the_same_policy_has_no_layout_change() {
    let p = root().join("fixtures/good/layout-clusters.moat");
    let (code, v) = diff_json(&p, &p);
    assert_eq!(code, 0, "{v}");
    assert!(relaid(&v).is_empty());
}

#[test]
fn a_service_account_change_is_listed_in_text_and_markdown() {
    let dir = TempDir::new("diff-layout-sa");
    let (old, new) = edited(
        &dir,
        "layout-unmanaged.moat",
        "service keymgr { pods app.kubernetes.io/name=keymanager",
        "service keymgr { serviceaccount keymanager pods app.kubernetes.io/name=keymanager",
    );
    let (code, v) = diff_json(&old, &new);
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        relaid(&v),
        vec![(
            "mz".to_string(),
            "no layout statement".to_string(),
            "mz.keymgr serviceaccount keymanager".to_string()
        )]
    );
    for (format, want) in [
        (
            "text",
            "  ~ mz: no layout statement -> mz.keymgr serviceaccount keymanager",
        ),
        (
            "markdown",
            "| `mz` | no layout statement | mz.keymgr serviceaccount keymanager |",
        ),
    ] {
        let out = moat()
            .args(["diff", "--format", format])
            .arg(&old)
            .arg(&new)
            .output()
            .expect("moat runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(want), "{format}:\n{text}");
        assert!(text.contains("1 zone laid out anew"), "{format}:\n{text}");
    }
}

#[test]
fn a_zone_moved_to_another_cluster_is_a_change_with_the_same_flows() {
    let dir = TempDir::new("diff-layout-cluster");
    let policy = |cluster: &str| {
        format!(
            "site dc : onprem\ncluster a @ dc\ncluster b @ dc\n\
             zone web : demilitarised @ dc {{ cluster a  cidr 10.1.0.0/24  namespace web }}\n\
             zone app : militarised @ dc {{ cluster {cluster}  cidr 10.2.0.0/24  namespace app }}\n\
             allow web -> app : tcp/8080 \"the web tier calls the app\"\n"
        )
    };
    let (old, new) = (dir.path().join("old.moat"), dir.path().join("new.moat"));
    std::fs::write(&old, policy("a")).expect("write");
    std::fs::write(&new, policy("b")).expect("write");
    let (code, v) = diff_json(&old, &new);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["added"].as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(
        relaid(&v),
        vec![(
            "app".to_string(),
            "cluster a @ dc".to_string(),
            "cluster b @ dc".to_string()
        )]
    );
}
