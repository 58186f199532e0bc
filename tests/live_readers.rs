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

/// The atom a resource of a cloud's Terraform JSON is about.
fn hybrid() -> Ir {
    ir_of(&common::root().join("fixtures/cloud/hybrid.moat"))
}

/// Reads the edited Terraform as live state and checks it against the oracle
/// on the same edited objects: equal on every row the oracle decides (a row
/// the live rules cover only in part is `partial` here and a problem there).
/// Returns the rows that differ from the unedited output.
fn seeded(ir: &Ir, t: Target, edit: impl Fn(&mut Value)) -> Vec<(AtomId, AtomId, PortSet, PortSet)> {
    let out = emit(ir, t).expect("emits");
    let base = cloud_support::json(&out, tf_path(t));
    let mut tf = base.clone();
    edit(&mut tf);
    assert_ne!(tf, base, "the edit changed nothing");
    let before = read_cloud(ir, t, &base);
    let after = read_cloud(ir, t, &tf);
    let (want, problems) = oracle(ir, t, &tf);
    let mut plain = ports_of(&after);
    plain.retain(|k, _| after[k].partial.is_none());
    let mut want_plain = want.clone();
    want_plain.retain(|k, _| !after.get(k).is_some_and(|f| f.partial.is_some()));
    let d = differences(ir, &plain, &want_plain);
    assert!(
        d.is_empty(),
        "{}: live and oracle differ:\n{}",
        t.as_str(),
        d.join("\n")
    );
    for ((f, to), flow) in &after {
        if flow.partial.is_some() {
            let name = &ir.atoms[*f].name;
            let name2 = &ir.atoms[*to].name;
            assert!(
                problems.iter().any(|p| p.contains(&format!("`{name}`")) || p.contains(&format!("`{name2}`"))),
                "{name} -> {name2} is partial here, but the oracle saw no rule covering part of it: {problems:?}"
            );
        }
    }
    let none = PortSet::empty();
    let mut keys: Vec<(AtomId, AtomId)> = before.keys().chain(after.keys()).copied().collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let b = before.get(&k).map_or(&none, |f| &f.ports);
            let a = after.get(&k).map_or(&none, |f| &f.ports);
            (a != b).then(|| (k.0, k.1, b.clone(), a.clone()))
        })
        .collect()
}

fn names(ir: &Ir, rows: &[(AtomId, AtomId, PortSet, PortSet)]) -> Vec<String> {
    rows.iter()
        .map(|(f, t, b, a)| format!("{} -> {}: {b} => {a}", ir.atoms[*f].name, ir.atoms[*t].name))
        .collect()
}

#[test]
fn aws_rule_for_everyone_gives_exactly_its_rows() {
    let ir = hybrid();
    let bastion = ir.atom_id("edge.bastion").expect("atom");
    let key = bastion_group(&ir);
    let rows = seeded(&ir, Target::Aws, |tf| {
        tf["resource"]["aws_vpc_security_group_ingress_rule"]["hand_ssh"] = json!({
            "security_group_id": format!("${{aws_security_group.{key}.id}}"),
            "cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp", "from_port": 22, "to_port": 22,
        });
    });
    // Every atom reached over IPv4 (or without addresses) now gets tcp/22 into the bastion, and nothing else changed.
    assert!(!rows.is_empty());
    for (f, t, b, a) in &rows {
        assert_eq!(*t, bastion, "{:?}", names(&ir, &rows));
        assert_eq!(
            a.subtract(b),
            PortSet::range(moat::ports::Proto::Tcp, (22, 22).into()),
            "{:?}",
            names(&ir, &rows)
        );
        let _ = f;
    }
    let internet = ir.atom_id("internet").expect("atom");
    assert!(rows.iter().any(|r| r.0 == internet), "{:?}", names(&ir, &rows));
}

/// The Terraform key of the group moat tags with `edge.bastion`.
fn bastion_group(ir: &Ir) -> String {
    let out = emit(ir, Target::Aws).expect("emits");
    let tf = cloud_support::json(&out, "aws/main.tf.json");
    tf["resource"]["aws_security_group"]
        .as_object()
        .and_then(|m| m.iter().find(|(_, g)| g["tags"]["moat:atom"] == "edge.bastion"))
        .map(|(k, _)| k.clone())
        .expect("a group for edge.bastion")
}

/// Widens the rule that lets `ops.monitor` (10.30.0.5/32) ping the edge.
fn widen(tf: &mut Value, to: &str) {
    let rules = tf["resource"]["aws_vpc_security_group_ingress_rule"]
        .as_object_mut()
        .expect("rules");
    let r = rules
        .values_mut()
        .find(|r| r["cidr_ipv4"] == "10.30.0.5/32")
        .expect("a rule for 10.30.0.5/32");
    r["cidr_ipv4"] = json!(to);
}

#[test]
fn aws_widened_cidr_gives_exactly_its_rows() {
    let ir = hybrid();
    let rows = seeded(&ir, Target::Aws, |tf| widen(tf, "10.30.0.0/16"));
    // The rest of the ops zone (its remainder) now pings every edge atom; nothing else changes.
    let ops = ir.atom_id("ops").expect("atom");
    let edge: Vec<AtomId> = (0..ir.atoms.len())
        .filter(|a| ir.zone_of(*a).name == "edge")
        .collect();
    let icmp = PortSet::proto(moat::ports::Proto::Icmp);
    let got: Vec<(AtomId, AtomId)> = rows.iter().map(|r| (r.0, r.1)).collect();
    let want: Vec<(AtomId, AtomId)> = edge.iter().map(|e| (ops, *e)).collect();
    assert_eq!(got, want, "{:?}", names(&ir, &rows));
    assert!(
        rows.iter().all(|r| r.2.is_empty() && r.3 == icmp),
        "{:?}",
        names(&ir, &rows)
    );
    // Widened to part of the remainder only: the rows are partial, and name the part.
    let out = emit(&ir, Target::Aws).expect("emits");
    let mut tf = cloud_support::json(&out, "aws/main.tf.json");
    widen(&mut tf, "10.30.128.0/17");
    let live = read_cloud(&ir, Target::Aws, &tf);
    for e in &edge {
        let flow = live.get(&(ops, *e)).expect("a partial row");
        assert_eq!(flow.ports, icmp);
        let part = flow.partial.as_ref().expect("partial");
        assert_eq!(part.from, vec!["10.30.128.0/17".to_string()]);
        assert!(part.to.is_empty());
    }
    let (_, problems) = oracle(&ir, Target::Aws, &tf);
    assert!(
        problems.iter().any(|p| p.contains("cover only part of `ops`")),
        "{problems:?}"
    );
}

#[test]
fn gcp_deny_above_the_allows_gives_exactly_its_rows() {
    let ir = hybrid();
    let api = ir.atom_id("app.api").expect("atom");
    let out = emit(&ir, Target::Gcp).expect("emits");
    let tf = cloud_support::json(&out, "gcp/main.tf.json");
    let tag = tf["locals"]["moat_tags"]["app.api"]
        .as_str()
        .expect("tag")
        .to_string();
    let network = tf["resource"]["google_compute_firewall"]
        .as_object()
        .and_then(|m| m.values().next())
        .map(|r| r["network"].clone())
        .expect("a rule");
    let rows = seeded(&ir, Target::Gcp, |tf| {
        tf["resource"]["google_compute_firewall"]["hand_deny"] = json!({
            "name": "hand-deny", "network": network, "direction": "INGRESS", "priority": 900,
            "target_tags": [tag], "source_ranges": ["10.10.0.0/16"], "deny": [{"protocol": "tcp"}],
        });
    });
    // The edge's IPv4 hosts lose their TCP into the API; nothing else changes.
    assert!(!rows.is_empty());
    for (f, t, b, a) in &rows {
        assert_eq!(*t, api, "{:?}", names(&ir, &rows));
        assert!(ir.zone_of(*f).name == "edge", "{:?}", names(&ir, &rows));
        assert!(a.is_subset(b) && !b.subtract(a).is_empty());
    }
}

#[test]
fn azure_deny_above_the_allows_gives_exactly_its_rows() {
    let ir = hybrid();
    let monitor = ir.atom_id("ops.monitor").expect("atom");
    let rows = seeded(&ir, Target::Azure, |tf| {
        let res = &mut tf["resource"];
        let nsg = res["azurerm_network_security_group"]
            .as_object()
            .and_then(|m| m.iter().find(|(_, g)| g["tags"]["moat-zone"] == "ops"))
            .map(|(k, _)| k.clone())
            .expect("ops NSG");
        let asg = res["azurerm_application_security_group"]
            .as_object()
            .and_then(|m| m.iter().find(|(_, g)| g["tags"]["moat-atom"] == "ops.monitor"))
            .map(|(k, _)| k.clone())
            .expect("monitor ASG");
        res["azurerm_network_security_rule"]["hand_deny"] = json!({
            "name": "hand-deny", "priority": 100, "direction": "Inbound", "access": "Deny",
            "protocol": "*", "source_port_range": "*", "destination_port_range": "*",
            "source_address_prefix": "*",
            "destination_application_security_group_ids": [format!("${{azurerm_application_security_group.{asg}.id}}")],
            "network_security_group_name": format!("${{azurerm_network_security_group.{nsg}.name}}"),
        });
    });
    // Everything into the monitor is gone; nothing else changes.
    assert!(!rows.is_empty());
    for (_, t, _, a) in &rows {
        assert_eq!(*t, monitor, "{:?}", names(&ir, &rows));
        assert!(a.is_empty(), "{:?}", names(&ir, &rows));
    }
}
