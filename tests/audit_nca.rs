//! `moat diff` agrees with an independent tool: for the Kubernetes output of
//! the spec example and of edited versions of it, nca's
//! `--semantic_diff -r NEW/ -rb OLD/` reports the same added and removed
//! pod-to-pod connections as `moat diff` on the two policies.
//!
//! Both sides are compiled with `moat compile --target k8s` and evaluated over
//! one shared topology: a pod per (namespace, pod selector) of every service
//! on either side, and an unlabelled pod per zone namespace (a remainder).
//! Each pod is placed in its atom on each side, and moat's added / removed
//! rows (JSON) are mapped onto the pod pairs they cover.

#[path = "common/mod.rs"]
mod common;

use common::{moat, root, venv_tool, TempDir};
use moat::ir::Ir;
use moat::ports::PortSet;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

type Labels = BTreeMap<String, String>;
/// (namespace, labels) of a topology pod.
type Pod = (String, Labels);
type PodPairs = BTreeMap<(String, String), PortSet>;

fn missing_nca() -> Option<String> {
    let p = venv_tool("nca");
    (!p.is_file() && common::missing_tool("nca").is_some())
        .then(|| "`nca` is not installed (scripts/ci/install-k8s.sh)".to_string())
}

fn checked(path: &Path) -> Ir {
    let c = moat::check_paths(&moat::load::Disk, &[path.to_path_buf()]);
    c.ir.unwrap_or_else(|| panic!("{}: {:?}", path.display(), c.diags))
}

/// The shared topology of both sides, each pod with a stable name.
fn topology(irs: &[&Ir]) -> BTreeMap<Pod, String> {
    let mut pods = BTreeSet::new();
    for ir in irs {
        for a in &ir.atoms {
            for ns in &a.namespaces {
                pods.insert((
                    ns.clone(),
                    if a.is_remainder() {
                        Labels::new()
                    } else {
                        a.pods.clone()
                    },
                ));
            }
        }
    }
    pods.into_iter()
        .enumerate()
        .map(|(i, p)| (p, format!("pod{i}")))
        .collect()
}

/// The atom (name) a pod belongs to in one policy, if any.
fn atom_of(ir: &Ir, (ns, labels): &Pod) -> Option<String> {
    let service = ir.atoms.iter().find(|a| {
        !a.is_remainder()
            && !a.pods.is_empty()
            && a.namespaces.contains(ns)
            && a.pods.iter().all(|(k, v)| labels.get(k) == Some(v))
    });
    let remainder = || {
        ir.atoms
            .iter()
            .find(|a| a.is_remainder() && a.namespaces.contains(ns))
    };
    service.or_else(remainder).map(|a| a.name.clone())
}

fn topology_yaml(pods: &BTreeMap<Pod, String>) -> String {
    let namespaces: BTreeSet<&String> = pods.keys().map(|(ns, _)| ns).collect();
    let mut docs: Vec<Value> = namespaces
        .iter()
        .map(|ns| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}))
        .collect();
    for ((ns, labels), name) in pods {
        docs.push(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "main", "image": "example/app"}]}}));
    }
    serde_saphyr::to_string_multiple(&docs).expect("topology yaml")
}

fn compile_k8s(policy: &Path, out: &Path) {
    let o = moat()
        .arg("compile")
        .arg(policy)
        .args(["--target", "k8s", "--out"])
        .arg(out)
        .output()
        .expect("run moat compile");
    assert!(
        o.status.success(),
        "moat compile {}: {}",
        policy.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `moat diff --format json` mapped onto pod pairs: (added, removed).
fn moat_pairs(
    old: &Path,
    new: &Path,
    pods: &BTreeMap<Pod, String>,
    ir_old: &Ir,
    ir_new: &Ir,
) -> (PodPairs, PodPairs) {
    let o = moat()
        .args(["diff", "--format", "json"])
        .arg(old)
        .arg(new)
        .output()
        .expect("run moat diff");
    let v: Value = serde_json::from_slice(&o.stdout).expect("diff json");
    let renamed: BTreeMap<String, String> = v["renamed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["old"].as_str().unwrap_or("").into(),
                r["new"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let side = |key: &str, ir: &Ir, rename: bool| -> PodPairs {
        let name_of = |p: &Pod| {
            atom_of(ir, p).map(|n| {
                if rename {
                    renamed.get(&n).cloned().unwrap_or(n)
                } else {
                    n
                }
            })
        };
        let mut out = PodPairs::new();
        for row in v[key].as_array().into_iter().flatten() {
            let text = |k: &str| row[k].as_str().map(str::to_string);
            let row = moat::analysis::matrix::Row {
                from: text("from").expect("from"),
                to: text("to").expect("to"),
                protocol: text("protocol").expect("protocol"),
                ports: text("ports"),
            };
            let ports = moat::analysis::diff::row_ports(&row).expect("row ports");
            for (p, pn) in pods {
                for (q, qn) in pods {
                    if pn != qn
                        && name_of(p).as_deref() == Some(row.from.as_str())
                        && name_of(q).as_deref() == Some(row.to.as_str())
                    {
                        out.entry((pn.clone(), qn.clone()))
                            .or_default()
                            .union_with(&ports);
                    }
                }
            }
        }
        out
    };
    (side("added", ir_new, false), side("removed", ir_old, true))
}

/// Runs nca's semantic diff and returns its pod-to-pod (added, removed) connections.
fn nca_pairs(dir: &Path) -> (PodPairs, PodPairs) {
    let o = Command::new(venv_tool("nca"))
        .arg("--semantic_diff")
        .arg("-r")
        .arg(format!("{}/", dir.join("NEW").display()))
        .arg("-rb")
        .arg(format!("{}/", dir.join("OLD").display()))
        .args(["-o", "txt_no_fw_rules"])
        .output()
        .expect("run nca");
    let text = String::from_utf8_lossy(&o.stdout);
    let (mut added, mut removed) = (PodPairs::new(), PodPairs::new());
    let mut section: Option<bool> = None; // Some(true): added, Some(false): removed
    for line in text.lines() {
        let l = line.trim();
        if l.contains("connections") && l.ends_with(':') && !l.contains("=>") {
            section = if l.starts_with("Added") || l.starts_with("New") {
                Some(true)
            } else if l.starts_with("Removed") || l.starts_with("Lost") {
                Some(false)
            } else {
                panic!("unknown nca section: {l}")
            };
            continue;
        }
        let Some((ends, conns)) = l.split_once(" : ") else {
            continue;
        };
        let Some((src, dst)) = ends.split_once(" => ") else {
            continue;
        };
        let (Some(src), Some(dst)) = (src.strip_suffix("[Pod]"), dst.strip_suffix("[Pod]")) else {
            continue;
        };
        let pod = |s: &str| s.split_once('/').map(|(_, n)| n.to_string()).expect("ns/pod");
        let ports =
            common::nca_conns(conns).unwrap_or_else(|| panic!("cannot parse nca connections: {conns}"));
        let map = match section {
            Some(true) => &mut added,
            Some(false) => &mut removed,
            None => panic!("nca line outside a section: {l}\n{text}"),
        };
        map.entry((pod(src), pod(dst))).or_default().union_with(&ports);
    }
    (added, removed)
}

#[test]
fn nca_semantic_diff_agrees_with_moat_diff() {
    if let Some(why) = missing_nca() {
        return common::skip(&why);
    }
    let base = root().join("fixtures/diff");
    let mut cases: Vec<_> = std::fs::read_dir(&base)
        .expect("fixtures/diff")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    // Generated pairs too: a policy, and the same one with more allows.
    let generated = TempDir::new("audit-nca-gen");
    for seed in [3u64, 17, 29, 41] {
        let o = moat::gen::GenOptions {
            zones: 3,
            allows: 5,
            ..moat::gen::GenOptions::default()
        };
        let dir = generated.path().join(format!("gen-{seed}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("old.moat"), moat::gen::random_policy(seed, &o)).expect("write");
        std::fs::write(
            dir.join("new.moat"),
            moat::gen::random_policy(seed, &moat::gen::GenOptions { allows: 9, ..o }),
        )
        .expect("write");
        cases.push(dir);
    }
    let mut failures = vec![];
    let mut nonempty = 0;
    for case in &cases {
        let (old, new) = (case.join("old.moat"), case.join("new.moat"));
        let (ir_old, ir_new) = (checked(&old), checked(&new));
        let t = TempDir::new("audit-nca");
        compile_k8s(&old, &t.path().join("OLD"));
        compile_k8s(&new, &t.path().join("NEW"));
        let pods = topology(&[&ir_old, &ir_new]);
        for side in ["OLD", "NEW"] {
            std::fs::write(t.path().join(side).join("topology.yaml"), topology_yaml(&pods))
                .expect("write topology");
        }
        let want = moat_pairs(&old, &new, &pods, &ir_old, &ir_new);
        let got = nca_pairs(t.path());
        if got != want {
            failures.push(format!("{}:\n  nca  {got:?}\n  moat {want:?}", case.display()));
        }
        nonempty += usize::from(!want.0.is_empty() || !want.1.is_empty());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        nonempty >= 3,
        "the cases must change pod-to-pod connections, not only addresses"
    );
}
