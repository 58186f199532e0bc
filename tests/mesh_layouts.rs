//! The mesh targets (k8s-admin, istio) on the deployment layouts: several
//! clusters get a directory each, built from the k8s target's view of the
//! cluster; k8s-admin selects shared namespaces and label-chosen namespaces
//! exactly (namespaceSelector + podSelector); istio refuses, with E048 at the
//! declaration, only what a workload selector or a source cannot say.

mod common;
mod k8s_support;
mod mesh_support;

use common::{moat, root, TempDir};
use moat::backend::Target;
use moat::ir::Ir;

fn compile(policy: &str, target: &str) -> (Option<i32>, String, TempDir) {
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
    let text = String::from_utf8_lossy(&r.stdout).into_owned() + &String::from_utf8_lossy(&r.stderr);
    (r.status.code(), text, out)
}

fn checked(path: &str) -> Ir {
    let c = moat::check_paths(&moat::load::Disk, &[std::path::PathBuf::from(path)]);
    c.ir.unwrap_or_else(|| panic!("{path}: {:#?}", c.diags))
}

#[test]
fn k8s_admin_compiles_every_layout() {
    for f in ["clusters", "namespace-labels", "shared-namespace", "unmanaged"] {
        let policy = format!("fixtures/good/layout-{f}.moat");
        let (code, text, _out) = compile(&policy, "k8s-admin");
        assert_eq!(code, Some(0), "{policy}: {text}");
        assert!(!text.contains("E048"), "{policy}: {text}");
    }
}

/// Each cluster's files are the target's output for that cluster's view,
/// under `<target>/<cluster>/`, for k8s-admin and istio alike.
#[test]
fn each_cluster_gets_its_own_directory() {
    let ir = mesh_support::meshed(checked("fixtures/good/layout-clusters.moat"));
    for (target, dir) in [(Target::K8sAdmin, "k8s-admin"), (Target::Istio, "istio")] {
        let all = mesh_support::emit(target, &ir, false).unwrap_or_else(|e| panic!("{dir}: {e:#?}"));
        for (c, cluster) in ir.layout.clusters.iter().enumerate() {
            let want = mesh_support::emit(target, &mesh_support::cluster_view(&ir, c), false)
                .expect("view compiles");
            let prefix = format!("{dir}/{}/", cluster.name);
            let got: Vec<(String, &str)> = all
                .iter()
                .filter_map(|a| Some((a.path.strip_prefix(&prefix)?.to_string(), a.contents.as_str())))
                .collect();
            let want: Vec<(String, &str)> = want
                .iter()
                .map(|a| {
                    (
                        a.path.trim_start_matches(&format!("{dir}/")).to_string(),
                        a.contents.as_str(),
                    )
                })
                .collect();
            assert!(!got.is_empty(), "{prefix}: no files");
            assert_eq!(got, want, "{prefix}");
        }
        assert!(
            all.iter().all(|a| ir
                .layout
                .clusters
                .iter()
                .any(|c| a.path.starts_with(&format!("{dir}/{}/", c.name)))),
            "{dir}: a file outside the clusters' directories"
        );
    }
    // The MZ cluster's namespaces are named by addresses from the DMZ cluster.
    let admin = mesh_support::emit(Target::Istio, &ir, false).expect("istio");
    let dmz = admin
        .iter()
        .find(|a| a.path == "istio/dmz-k8s/regproc.yaml")
        .expect("istio/dmz-k8s/regproc.yaml");
    assert!(dmz.contents.contains("10.20.20.96/27"), "{}", dmz.contents);
}

/// k8s-admin names a shared namespace's share and label-chosen namespaces
/// exactly: the namespace by name or labels, the pods by the zone's selector.
#[test]
fn k8s_admin_selects_shares_and_labelled_namespaces() {
    let shared = mesh_support::emit(
        Target::K8sAdmin,
        &checked("fixtures/good/layout-shared-namespace.moat"),
        true,
    )
    .expect("shared namespace");
    let admin = &shared
        .iter()
        .find(|a| a.path == "k8s-admin/admin.yaml")
        .expect("admin.yaml")
        .contents;
    assert!(admin.contains("mosip.io/zone: dmz"), "{admin}");
    assert!(
        admin.contains("operator: NotIn") && admin.contains("- dmz"),
        "{admin}"
    );
    let labelled = mesh_support::emit(
        Target::K8sAdmin,
        &checked("fixtures/good/layout-namespace-labels.moat"),
        true,
    )
    .expect("namespaces by label");
    let admin = &labelled
        .iter()
        .find(|a| a.path == "k8s-admin/admin.yaml")
        .expect("admin.yaml")
        .contents;
    assert!(admin.contains("team: mosip"), "{admin}");
    assert!(!admin.contains("values: []"), "no empty namespace list: {admin}");
}

/// istio compiles a share selected with `key=value` and refuses, at the
/// zone, a share selected with `!=`, a zone's remainder in a shared
/// namespace and a source whose namespaces are chosen by label.
#[test]
fn istio_refuses_only_what_it_cannot_select() {
    let cases = [
        ("fixtures/good/layout-namespace-labels.moat", "by label"),
        ("fixtures/good/layout-shared-namespace.moat", "`!=`"),
        (
            "fixtures/good/layout-shared-namespace.moat",
            "shares with other zones",
        ),
    ];
    for (policy, what) in cases {
        let (code, text, _out) = compile(policy, "istio");
        assert_eq!(code, Some(1), "{policy}: {text}");
        assert!(text.contains("E048") && text.contains(what), "{policy}: {text}");
        assert!(
            text.contains("\"line\""),
            "{policy}: E048 points at the declaration: {text}"
        );
        let (k8s, text, _out) = compile(policy, "k8s");
        assert_eq!(k8s, Some(0), "{policy} --target k8s: {text}");
    }
    let (code, text, out) = compile("fixtures/mesh/shared.moat", "istio");
    assert_eq!(code, Some(0), "{text}");
    let regproc = std::fs::read_to_string(out.path().join("out/istio/regproc.yaml")).expect("regproc.yaml");
    assert!(regproc.contains("mosip.io/zone: dmz"), "{regproc}");
    assert!(regproc.contains("mosip.io/zone: mz"), "{regproc}");
}

/// k8s-admin cites a forbid by its stable identity, and `sources.tsv` maps it back.
#[test]
fn forbids_are_cited_by_stable_identity() {
    let (code, text, out) = compile("fixtures/mesh/guards.moat", "k8s-admin");
    assert_eq!(code, Some(0), "{text}");
    let admin = std::fs::read_to_string(out.path().join("out/k8s-admin/admin.yaml")).expect("admin.yaml");
    let tsv = std::fs::read_to_string(out.path().join("out/k8s-admin/sources.tsv")).expect("sources.tsv");
    let cite = admin
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '#')
        .find(|w| w.starts_with("forbid#"))
        .unwrap_or_else(|| panic!("no forbid citation: {admin}"));
    assert_eq!(cite.len(), "forbid#".len() + 10, "{cite}");
    let row = tsv
        .lines()
        .find(|l| l.split('\t').nth(1) == Some(cite))
        .unwrap_or_else(|| panic!("{cite} not in sources.tsv:\n{tsv}"));
    assert!(row.contains("guards.moat:") && row.contains("forbid "), "{row}");
    // The same forbid moved down a line keeps its citation.
    let ir = checked("fixtures/mesh/guards.moat");
    let moved = moat::check_str(
        "moved.moat",
        &format!(
            "\n{}",
            std::fs::read_to_string(root().join("fixtures/mesh/guards.moat")).expect("guards")
        ),
    );
    let moved = moved.ir.expect("moved checks");
    let cites = |ir: &Ir| ir.forbids.iter().map(|f| f.cite.clone()).collect::<Vec<_>>();
    assert_eq!(cites(&ir), cites(&moved));
    assert_ne!(ir.forbids[0].loc, moved.forbids[0].loc);
}
