//! The example policies (`policies/*.moat`) on the k8s target: a snapshot of
//! the YAML, the strict schema check, and nca's connectivity against moat's
//! matrix.

mod common;
mod k8s_support;

use moat::backend::{self, Target};
use std::path::PathBuf;

/// The example policies: every `.moat` file directly in `policies/`, as a
/// path relative to the repository root (the tests' working directory), so
/// the `file:line` annotations in the snapshots do not depend on the checkout.
fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::root().join("policies"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| PathBuf::from("policies").join(e.file_name()))
                .filter(|p| p.extension().is_some_and(|x| x == "moat"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn checked(path: &PathBuf) -> moat::ir::Ir {
    let c = moat::check_paths(&moat::load::Disk, std::slice::from_ref(path));
    c.ir.unwrap_or_else(|| panic!("{} does not check: {:#?}", path.display(), c.diags))
}

/// Every example with a Kubernetes part, by file stem.
fn k8s_examples() -> Vec<(String, moat::ir::Ir)> {
    examples()
        .iter()
        .map(|p| {
            (
                p.file_stem().expect("stem").to_string_lossy().into_owned(),
                checked(p),
            )
        })
        .filter(|(_, ir)| backend::in_scope(Target::K8s, ir))
        .collect()
}

#[test]
fn example_yaml_snapshots() {
    let cases = k8s_examples();
    if cases.is_empty() {
        return common::skip("no example policy with a Kubernetes part in policies/ yet");
    }
    for (stem, ir) in cases {
        let text: String = k8s_support::emit(&ir)
            .iter()
            .map(|a| format!("==> {} <==\n{}\n", a.path, a.contents))
            .collect();
        insta::assert_snapshot!(format!("k8s_{stem}"), text);
    }
}

#[test]
fn examples_match_nca_and_pass_the_schema() {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let cases = k8s_examples();
    if cases.is_empty() {
        return common::skip("no example policy with a Kubernetes part in policies/ yet");
    }
    // A policy with clusters is proved cluster by cluster, each on the view
    // its own files are compiled from (the other clusters' zones are peers
    // by address there), as tests/layouts.rs does.
    let views = cases
        .into_iter()
        .flat_map(|(stem, ir)| {
            if ir.layout.clusters.is_empty() {
                return vec![(stem, ir)];
            }
            (0..ir.layout.clusters.len())
                .map(|c| {
                    let name = format!("{stem}-{}", ir.layout.clusters[c].name);
                    (name, moat::backend::k8s::clusters::view(&ir, c))
                })
                .collect()
        })
        .collect();
    let failures = k8s_support::prove_all(views);
    assert!(
        failures.is_empty(),
        "nca disagrees with moat:\n{}",
        failures.join("\n")
    );
}

/// `moat compile EXAMPLE --target k8s --out DIR` writes exactly the artefacts
/// the tests prove, one file per namespace, and exits 0.
#[test]
fn compile_writes_the_proved_files() {
    let paths: Vec<PathBuf> = examples()
        .into_iter()
        .filter(|p| backend::in_scope(Target::K8s, &checked(p)))
        .collect();
    if paths.is_empty() {
        return common::skip("no example policy with a Kubernetes part in policies/ yet");
    }
    for p in paths {
        let dir = common::TempDir::new("k8s-example-cli");
        let res = common::moat()
            .arg("compile")
            .arg(&p)
            .args(["--target", "k8s", "--out"])
            .arg(dir.path())
            .output()
            .expect("run moat");
        assert!(
            res.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&res.stderr)
        );
        for a in k8s_support::emit(&checked(&p)) {
            let written = std::fs::read_to_string(dir.path().join(&a.path))
                .unwrap_or_else(|e| panic!("{}: {e}", a.path));
            assert_eq!(written, a.contents, "{}", a.path);
        }
        let ir = checked(&p);
        let files = |d: PathBuf| std::fs::read_dir(d).expect("k8s dir").count();
        if ir.layout.clusters.is_empty() {
            // One file per namespace, and the sources table.
            assert_eq!(
                files(dir.path().join("k8s")),
                moat::backend::k8s::namespaces(&ir).len() + 1
            );
        } else {
            // A directory per cluster, one file per namespace of its view, and the sources table.
            assert_eq!(files(dir.path().join("k8s")), ir.layout.clusters.len() + 1);
            for (c, cluster) in ir.layout.clusters.iter().enumerate() {
                let view = moat::backend::k8s::clusters::view(&ir, c);
                assert_eq!(
                    files(dir.path().join("k8s").join(&cluster.name)),
                    moat::backend::k8s::namespaces(&view).len(),
                    "{}: cluster {}",
                    p.display(),
                    cluster.name
                );
            }
        }
        assert!(dir.path().join("k8s/sources.tsv").is_file());
    }
}
