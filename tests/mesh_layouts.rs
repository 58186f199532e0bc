//! The mesh targets (k8s-admin, istio) refuse the deployment layouts they do
//! not write yet, with E048 at the declaration, rather than emit a partial
//! guardrail: several clusters, namespaces chosen by label, and (istio) a
//! namespace shared by pod selector. The k8s target compiles them all.

mod common;

use common::{moat, root, TempDir};

fn compile(policy: &str, target: &str) -> (Option<i32>, String) {
    let out = TempDir::new("mesh-layouts");
    let r = moat()
        .args(["compile", policy, "--target", target, "--format", "json", "--out"])
        .arg(out.path().join("out"))
        .current_dir(root())
        .output()
        .expect("moat runs");
    assert!(
        !out.path().join("out").exists() || r.status.success(),
        "written despite errors"
    );
    (
        r.status.code(),
        String::from_utf8_lossy(&r.stdout).into_owned() + &String::from_utf8_lossy(&r.stderr),
    )
}

#[test]
fn mesh_targets_refuse_the_layouts_they_cannot_write() {
    let cases = [
        ("fixtures/good/layout-clusters.moat", "k8s-admin", "several"),
        ("fixtures/good/layout-clusters.moat", "istio", "several"),
        (
            "fixtures/good/layout-namespace-labels.moat",
            "k8s-admin",
            "by label",
        ),
        (
            "fixtures/good/layout-shared-namespace.moat",
            "k8s-admin",
            "shares namespace",
        ),
        (
            "fixtures/good/layout-shared-namespace.moat",
            "istio",
            "shares namespace",
        ),
    ];
    for (policy, target, what) in cases {
        let (code, text) = compile(policy, target);
        assert_eq!(code, Some(1), "{policy} --target {target}: {text}");
        assert!(
            text.contains("E048") && text.contains(what),
            "{policy} --target {target}: {text}"
        );
        assert!(
            text.contains("\"line\""),
            "{policy}: E048 points at the declaration: {text}"
        );
        let (k8s, text) = compile(policy, "k8s");
        assert_eq!(k8s, Some(0), "{policy} --target k8s: {text}");
    }
}
