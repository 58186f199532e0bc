//! The k8s, aws, gcp and azure live readers (issue 14): moat's own output read
//! back as live state gives exactly the policy's matrix over the target's
//! scope; seeded hand edits give exactly the rows the independent evaluators
//! (tests/cloud_support, nca for NetworkPolicies) say; hand-written input is
//! evaluated as written; bad input is a coded error with its line.

mod cloud_support;
mod common;
mod k8s_support;
mod live_support;

use live_support::{differences, ports_of};
use moat::backend::{self, Artefact, EmitOptions, Target};
use moat::ir::{AtomId, Ir, SiteKind};
use moat::live::{self, LiveKind, LiveMatrix, Reader};
use moat::ports::PortSet;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn ir_of(path: &std::path::Path) -> Ir {
    let c = moat::check_paths(&moat::load::Disk, &[path.to_path_buf()]);
    assert!(!c.has_errors(), "{}: {:?}", path.display(), c.diags);
    c.ir.expect("checked policy has an IR")
}

fn ir_str(text: &str) -> Ir {
    let c = moat::check_str("test.moat", text);
    assert!(!c.has_errors(), "{:?}", c.diags);
    c.ir.expect("checked policy has an IR")
}

/// Every example policy and cloud fixture.
fn examples() -> Vec<std::path::PathBuf> {
    let root = common::root();
    let mut v = vec![];
    for dir in ["policies", "fixtures/cloud"] {
        let mut here: Vec<std::path::PathBuf> = std::fs::read_dir(root.join(dir))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        here.retain(|p| p.extension().is_some_and(|e| e == "moat"));
        here.sort();
        v.extend(here);
    }
    v
}

fn emit(ir: &Ir, t: Target) -> Option<Vec<Artefact>> {
    backend::emit(t, ir, &EmitOptions::default()).ok()
}

fn kind_of(t: Target) -> (LiveKind, Reader, SiteKind) {
    match t {
        Target::Aws => (LiveKind::Aws, live::aws::read as Reader, SiteKind::Aws),
        Target::Gcp => (LiveKind::Gcp, live::gcp::read as Reader, SiteKind::Gcp),
        _ => (LiveKind::Azure, live::azure::read as Reader, SiteKind::Azure),
    }
}

/// A cloud target's Terraform JSON as its describe/list API shape.
fn describe(t: Target, tf: &Value) -> Value {
    match t {
        Target::Aws => live_support::aws_describe(tf),
        Target::Gcp => live_support::gcp_list(tf),
        _ => live_support::azure_list(tf),
    }
}

fn tf_path(t: Target) -> &'static str {
    match t {
        Target::Aws => "aws/main.tf.json",
        Target::Gcp => "gcp/main.tf.json",
        _ => "azure/main.tf.json",
    }
}

/// Reads `tf` (as the cloud prints it) with the target's reader.
fn read_cloud(ir: &Ir, t: Target, tf: &Value) -> LiveMatrix {
    let (kind, reader, _) = kind_of(t);
    let text = serde_json::to_string_pretty(&describe(t, tf)).expect("json");
    match live_support::read(ir, kind, reader, &[("live.json", text)]) {
        Ok((m, _)) => m,
        Err(e) => panic!("{}: reader failed: {e:#?}", t.as_str()),
    }
}

/// The oracle's matrix (tests/cloud_support reading the Terraform JSON):
/// every pair with an end covered, ingress at the destination and egress at the source.
fn oracle(ir: &Ir, t: Target, tf: &Value) -> (BTreeMap<(AtomId, AtomId), PortSet>, Vec<String>) {
    let (_, _, kind) = kind_of(t);
    let model = match t {
        Target::Aws => cloud_support::aws_terraform(ir, tf),
        Target::Gcp => cloud_support::gcp(ir, tf),
        _ => cloud_support::azure(ir, tf),
    };
    let cov = cloud_support::covered(ir, kind);
    let mut problems = vec![];
    let mut out = BTreeMap::new();
    for s in 0..ir.atoms.len() {
        for d in 0..ir.atoms.len() {
            if !cov.contains(&s) && !cov.contains(&d) {
                continue;
            }
            let mut got = PortSet::any();
            if cov.contains(&d) {
                got = got.intersect(&model.allowed(ir, d, s, cloud_support::Dir::In, &mut problems));
            }
            if cov.contains(&s) {
                got = got.intersect(&model.allowed(ir, s, d, cloud_support::Dir::Out, &mut problems));
            }
            if !got.is_empty() {
                out.insert((s, d), got);
            }
        }
    }
    (out, problems)
}

#[test]
fn clouds_round_trip_every_example() {
    let mut checked = vec![];
    let mut failures = vec![];
    for p in examples() {
        let ir = ir_of(&p);
        for t in [Target::Aws, Target::Gcp, Target::Azure] {
            if !backend::in_scope(t, &ir) {
                continue;
            }
            let Some(out) = emit(&ir, t) else { continue };
            let tf = cloud_support::json(&out, tf_path(t));
            let (_, _, kind) = kind_of(t);
            let got = read_cloud(&ir, t, &tf);
            let name = format!("{} / {}", p.display(), t.as_str());
            // The independent read-back evaluator of the same objects agrees on every example.
            let (want, _) = oracle(&ir, t, &tf);
            let d = differences(&ir, &ports_of(&got), &want);
            if !d.is_empty() {
                failures.push(format!(
                    "{name} (against tests/cloud_support):\n  {}",
                    d.join("\n  ")
                ));
            }
            // And the live state is the policy's matrix over the cloud's scope, except in
            // `ssh-from-internet.moat`, whose zones have no addresses: their instances,
            // wherever they are, lie in `internet` (0.0.0.0/0) too, and the live rules
            // for `internet` reach them (tests/cloud_semantics.rs leaves it out for that).
            let d = differences(&ir, &ports_of(&got), &live_support::cloud_scope(&ir, kind));
            let addressless = p.ends_with("ssh-from-internet.moat");
            if !d.is_empty() && !addressless {
                failures.push(format!("{name}:\n  {}", d.join("\n  ")));
            }
            if addressless && d.is_empty() {
                failures.push(format!("{name}: expected the rows reached through 0.0.0.0/0"));
            }
            for ((f, to), flow) in &got {
                if flow.partial.is_some() || flow.by.is_empty() {
                    failures.push(format!(
                        "{name}: {} -> {} partial {:?}, {} rules",
                        ir.atoms[*f].name,
                        ir.atoms[*to].name,
                        flow.partial,
                        flow.by.len()
                    ));
                }
            }
            checked.push(name);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked.len() >= 5, "only {checked:?}");
}

#[test]
fn k8s_round_trip_every_example() {
    let mut checked = 0;
    let mut failures = vec![];
    for p in examples() {
        let ir = ir_of(&p);
        if !backend::in_scope(Target::K8s, &ir) {
            continue;
        }
        let Some(out) = emit(&ir, Target::K8s) else {
            continue;
        };
        let files: Vec<(&str, String)> = out
            .iter()
            .map(|a| (a.path.as_str(), a.contents.clone()))
            .collect();
        let (got, warns) = match live_support::read(&ir, LiveKind::K8s, live::k8s::read, &files) {
            Ok(x) => x,
            Err(e) => panic!("{}: {e:#?}", p.display()),
        };
        assert!(
            warns.iter().all(|w| w.code != "W015"),
            "{}: moat's own output has constructs the reader does not model: {warns:#?}",
            p.display()
        );
        let d = differences(&ir, &ports_of(&got), &live_support::k8s_scope(&ir));
        if !d.is_empty() {
            failures.push(format!("{}:\n  {}", p.display(), d.join("\n  ")));
        }
        for ((f, t), flow) in &got {
            if flow.partial.is_some() {
                failures.push(format!(
                    "{}: {} -> {} partial",
                    p.display(),
                    ir.atoms[*f].name,
                    ir.atoms[*t].name
                ));
            }
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 2, "only {checked} policies have k8s output");
}
