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
    read_cloud_in(&mut moat::span::SourceMap::new(), ir, t, tf)
}

/// [`read_cloud`], the input added to `sources`.
fn read_cloud_in(sources: &mut moat::span::SourceMap, ir: &Ir, t: Target, tf: &Value) -> LiveMatrix {
    let (kind, reader, _) = kind_of(t);
    let text = serde_json::to_string_pretty(&describe(t, tf)).expect("json");
    match live_support::read_in(sources, ir, kind, reader, &[("live.json", text)]) {
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
    let mut imported = vec![];
    for p in examples() {
        let ir = ir_of(&p);
        for t in [Target::Aws, Target::Gcp, Target::Azure] {
            if !backend::in_scope(t, &ir) {
                continue;
            }
            let Some(out) = emit(&ir, t) else { continue };
            let tf = cloud_support::json(&out, tf_path(t));
            let (_, _, kind) = kind_of(t);
            let mut sources = moat::span::SourceMap::new();
            let got = read_cloud_in(&mut sources, &ir, t, &tf);
            let name = format!("{} / {}", p.display(), t.as_str());
            // import reproduces the matrix the live state speaks for
            let text = std::fs::read_to_string(&p).expect("read policy");
            match live_support::import_reproduces(&ir, &text, &got, &sources, false) {
                Ok(n) => imported.push(format!("{name}: {n} allows")),
                Err(e) => failures.push(format!("{name}: import: {e}")),
            }
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
                if flow.partial.is_some() || (flow.by.is_empty() && !flow.ports.is_empty()) {
                    failures.push(format!(
                        "{name}: {} -> {} partial {:?}, {} rules",
                        ir.atoms[*f].name,
                        ir.atoms[*to].name,
                        flow.partial,
                        flow.by.len()
                    ));
                }
            }
            if t == Target::Aws {
                // `terraform show -json` of the same objects reads the same.
                let text = serde_json::to_string_pretty(&live_support::aws_state(&tf)).expect("json");
                match live_support::read(&ir, LiveKind::Aws, live::aws::read, &[("state.json", text)]) {
                    Ok((m, _)) if ports_of(&m) == ports_of(&got) => {}
                    Ok((m, _)) => failures.push(format!(
                        "{name}: the Terraform state reads otherwise:\n  {}",
                        differences(&ir, &ports_of(&m), &ports_of(&got)).join("\n  ")
                    )),
                    Err(e) => failures.push(format!("{name}: state: {e:?}")),
                }
            }
            checked.push(name);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked.len() >= 5, "only {checked:?}");
    println!("cloud import round trip: {}", imported.join("; "));
}

#[test]
fn k8s_round_trip_every_example() {
    let mut checked = 0;
    let mut failures = vec![];
    let mut imported = vec![];
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
        let mut sources = moat::span::SourceMap::new();
        let (got, warns) =
            match live_support::read_in(&mut sources, &ir, LiveKind::K8s, live::k8s::read, &files) {
                Ok(x) => x,
                Err(e) => panic!("{}: {e:#?}", p.display()),
            };
        // import reproduces the matrix the live state speaks for
        let text = std::fs::read_to_string(&p).expect("read policy");
        match live_support::import_reproduces(&ir, &text, &got, &sources, true) {
            Ok(n) => imported.push(format!("{}: {n} allows", p.display())),
            Err(e) => failures.push(format!("{}: import: {e}", p.display())),
        }
        assert!(
            warns.iter().all(|w| w.code != "W015"),
            "{}: moat's own output has constructs the reader does not model: {warns:#?}",
            p.display()
        );
        let d = differences(&ir, &ports_of(&got), &live_support::k8s_scope(&ir));
        if !d.is_empty() {
            failures.push(format!("{}:\n  {}", p.display(), d.join("\n  ")));
        }
        // `kubectl get netpol -A -o json`: every document in one JSON `List`
        // (one per cluster, named after it, when the policy has clusters), read the same.
        let mut lists: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (n, t) in files.iter().filter(|(n, _)| n.ends_with(".yaml")) {
            // `compile` writes k8s/<cluster>/<namespace>.yaml
            let parent = std::path::Path::new(n).parent().and_then(|d| d.file_name());
            let cluster = match parent {
                Some(c) if !ir.layout.clusters.is_empty() => c.to_string_lossy().into_owned(),
                _ => "netpol".to_string(),
            };
            let docs = serde_saphyr::from_multiple::<Value>(t).expect("yaml");
            lists.entry(cluster).or_default().extend(docs);
        }
        let lists: Vec<(String, String)> = lists
            .into_iter()
            .map(|(c, items)| {
                let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
                (
                    format!("{c}.json"),
                    serde_json::to_string_pretty(&list).expect("json"),
                )
            })
            .collect();
        let lists: Vec<(&str, String)> = lists.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        match live_support::read(&ir, LiveKind::K8s, live::k8s::read, &lists) {
            Ok((m, _)) if ports_of(&m) == ports_of(&got) => {}
            other => failures.push(format!(
                "{}: the JSON List reads otherwise: {:?}",
                p.display(),
                other.err()
            )),
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
    println!("k8s import round trip: {}", imported.join("; "));
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
    want_plain.retain(|k, _| after.get(k).is_none_or(|f| f.partial.is_none()));
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

/// `k8s/mz.yaml` of spec-example without the policy of `mz.kernel`.
fn without_kernel_policy(out: &[Artefact]) -> Vec<(String, String)> {
    out.iter()
        .map(|a| {
            if a.path != "k8s/mz.yaml" {
                return (a.path.clone(), a.contents.clone());
            }
            let docs: Vec<Value> = serde_saphyr::from_multiple(&a.contents).expect("yaml");
            let before = docs.len();
            let kept: Vec<Value> = docs
                .into_iter()
                .filter(|d| d["metadata"]["annotations"]["moat.io/atom"] != "mz.kernel")
                .collect();
            assert_eq!(kept.len() + 1, before, "one policy for mz.kernel");
            (
                a.path.clone(),
                serde_saphyr::to_string_multiple(&kept).expect("yaml"),
            )
        })
        .collect()
}

#[test]
fn k8s_deleted_policy_gives_exactly_its_rows_as_nca_says() {
    let ir = ir_of(&common::root().join("fixtures/good/spec-example.moat"));
    let out = emit(&ir, Target::K8s).expect("emits");
    let edited = without_kernel_policy(&out);
    let pods = k8s_support::topology(&ir);
    let topo = k8s_support::topology_yaml(&ir, &pods);
    let read = |files: &[(String, String)]| {
        let mut f: Vec<(&str, String)> = files.iter().map(|(p, c)| (p.as_str(), c.clone())).collect();
        f.push(("topology.yaml", topo.clone()));
        match live_support::read(&ir, LiveKind::K8s, live::k8s::read, &f) {
            Ok((m, _)) => m,
            Err(e) => panic!("{e:#?}"),
        }
    };
    let orig: Vec<(String, String)> = out.iter().map(|a| (a.path.clone(), a.contents.clone())).collect();
    let (before, after) = (read(&orig), read(&edited));
    // Without nca: the kernel's pods stay isolated by the namespace's default deny,
    // so exactly its two flows are gone.
    let id = |n: &str| ir.atom_id(n).expect("atom");
    let none = PortSet::empty();
    let mut changed = vec![];
    for k in before.keys().chain(after.keys()) {
        let b = before.get(k).map_or(&none, |f| &f.ports);
        let a = after.get(k).map_or(&none, |f| &f.ports);
        if a != b && !changed.contains(k) {
            assert!(a.is_empty(), "{k:?} gained {a}");
            changed.push(*k);
        }
    }
    changed.sort();
    let mut want = vec![
        (id("dmz.ingress"), id("mz.kernel")),
        (id("mz.kernel"), id("mz.postgres")),
    ];
    want.sort();
    assert_eq!(changed, want);
    // nca, on the same pods and the edited policies, agrees on every pod-to-pod row.
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let atom_of: BTreeMap<(String, String), AtomId> = pods
        .iter()
        .map(|p| ((p.namespace.clone(), p.name.clone()), p.atom))
        .collect();
    let nca_rows = |files: &[(String, String)]| {
        let tmp = common::TempDir::new("live-k8s-nca");
        let dir = tmp.path().join("in");
        for (p, c) in files {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
            std::fs::write(f, c).expect("write");
        }
        std::fs::write(dir.join("topology.yaml"), &topo).expect("write");
        let mut nca: BTreeMap<(AtomId, AtomId), PortSet> = BTreeMap::new();
        for (s, d, conns) in k8s_support::run_nca(tmp.path()) {
            if let (k8s_support::NcaEnd::Pod(a, b), k8s_support::NcaEnd::Pod(c, e)) = (s, d) {
                let (Some(x), Some(y)) = (atom_of.get(&(a, b)), atom_of.get(&(c, e))) else {
                    panic!("nca names a pod outside the topology");
                };
                if x != y {
                    nca.entry((*x, *y)).or_default().union_with(&conns);
                }
            }
        }
        nca
    };
    let pod_atoms: Vec<AtomId> = (0..ir.atoms.len())
        .filter(|a| live_support::pod_atom(&ir, *a))
        .collect();
    let pod_rows = |m: &LiveMatrix| {
        let mut rows = ports_of(m);
        rows.retain(|(f, t), _| f != t && pod_atoms.contains(f) && pod_atoms.contains(t));
        rows
    };
    let (nca_before, nca_after) = (nca_rows(&orig), nca_rows(&edited));
    assert!(!nca_before.is_empty(), "nca reports no connectivity at all");
    for (live, nca) in [(&before, &nca_before), (&after, &nca_after)] {
        let d = differences(&ir, &pod_rows(live), nca);
        assert!(d.is_empty(), "live reader and nca differ:\n{}", d.join("\n"));
    }
}

/// (code, file, line) of each rendered diagnostic.
fn coded(rendered: &str) -> Vec<(String, String, u64)> {
    let v: Value = serde_json::from_str(rendered).expect("diagnostics JSON");
    v.as_array()
        .expect("array")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or("").to_string(),
                d["file"].as_str().unwrap_or("").to_string(),
                d["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

const HAND_K8S_POLICY: &str = r#"
policy hand
zone ext   : external { cidr 0.0.0.0/0 }
zone front : dmz { namespace web  service site { pods app=site  port http tcp/8080 } }
zone back  : mz  { namespace api  service svc  { pods app=api   port http tcp/9000 } }
allow front.site -> back.svc : http
"#;

/// Written by hand, as an operator would: a default deny for `api`, its API
/// open to the `web` namespace on the named port, and to part of 10/8.
const HAND_NETPOLS: &str = r#"apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    name: default-deny
    namespace: api
  spec:
    podSelector: {}
    policyTypes: [Ingress]
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    name: allow-from-web
    namespace: api
  spec:
    podSelector:
      matchLabels: {app: api}
    ingress:
    - from:
      - namespaceSelector:
          matchLabels: {kubernetes.io/metadata.name: web}
      ports:
      - port: http
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    name: allow-office
    namespace: api
  spec:
    podSelector:
      matchExpressions:
      - {key: app, operator: In, values: [api, other]}
    ingress:
    - from:
      - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
      ports:
      - {protocol: TCP, port: 9000, endPort: 9001}
"#;

#[test]
fn k8s_hand_written_policies_are_evaluated_as_written() {
    let ir = ir_str(HAND_K8S_POLICY);
    let (m, warns) = live_support::read(
        &ir,
        LiveKind::K8s,
        live::k8s::read,
        &[("netpol.yaml", HAND_NETPOLS.to_string())],
    )
    .expect("reads");
    assert!(warns.iter().all(|w| w.code != "W015"), "{warns:#?}");
    let id = |n: &str| ir.atom_id(n).expect("atom");
    let p = |s: &str| -> PortSet {
        let c = moat::check_str(
            "p.moat",
            &format!("zone a : mz {{ cidr 10.9.0.0/24 }}\nallow a -> a : {s}\n"),
        );
        c.ir.expect("ports")
            .flows
            .values()
            .next()
            .expect("flow")
            .ports
            .clone()
    };
    let row = |f: &str, t: &str| {
        m.get(&(id(f), id(t)))
            .map(|x| x.ports.clone())
            .unwrap_or_default()
    };
    // The named port resolves on the destination pod: tcp/9000.
    assert_eq!(row("front.site", "back.svc"), p("tcp/9000"));
    assert_eq!(row("front", "back.svc"), p("tcp/9000"));
    let by = &m[&(id("front.site"), id("back.svc"))].by;
    assert_eq!(by.len(), 1);
    assert_eq!(by[0].0.object.as_deref(), Some("api/allow-from-web"));
    // The default deny: nothing into the rest of `api`, nothing inside `api`.
    assert!(row("front.site", "back").is_empty());
    assert!(row("back", "back.svc").is_empty() && row("back.svc", "back.svc").is_empty());
    // No policy selects `web`'s pods nor anyone's egress: open.
    assert!(row("back.svc", "front.site").is_any());
    assert!(row("ext", "front").is_any() && row("back", "ext").is_any());
    // The ipBlock covers part of `ext`: a partial row naming that part.
    let office = &m[&(id("ext"), id("back.svc"))];
    assert_eq!(office.ports, p("tcp/9000-9001"));
    let part = office.partial.as_ref().expect("partial");
    assert_eq!(part.from, ["10.0.0.0/16", "10.2.0.0-10.255.255.255"]);
    assert!(
        m[&(id("ext"), id("back"))].ports.is_empty(),
        "in scope and blocked: an empty row"
    );
    // Import: the partial row is reported (W014), not dropped; everything
    // else the hand-written policies allow is reproduced by the allows.
    let mut sources = moat::span::SourceMap::new();
    let files = [("netpol.yaml", HAND_NETPOLS.to_string())];
    let (m, _) =
        live_support::read_in(&mut sources, &ir, LiveKind::K8s, live::k8s::read, &files).expect("reads");
    let imp = moat::live::import::import(&ir, &m, &sources, true);
    let lossy: Vec<&str> = imp.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(lossy.len(), 1, "{lossy:#?}");
    assert!(
        lossy[0].starts_with("live flow ext -> back.svc tcp/9000-9001 cannot be imported"),
        "{lossy:#?}"
    );
    let mut whole = m.clone();
    whole.remove(&(id("ext"), id("back.svc")));
    // No egress policy: `back` (militarised) reaches `ext` directly, which
    // only a waiver allows (E006): import writes it, and the check says so.
    let (_, waived) = live_support::import_waived(&ir, HAND_K8S_POLICY, &whole, &sources, true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(waived > 0, "the open egress of `back` needs a waiver");
}

const HAND_SG_POLICY: &str = r#"
policy handsg
site aws1 : aws { region "eu-west-1" vpc "vpc-0a1b2c3d" }
zone internet : external { cidr 0.0.0.0/0 }
zone web : dmz @ aws1 {
  cidr 10.0.0.0/16
  service lb  { hosts 10.0.1.10    port https tcp/443 }
  service app { hosts 10.0.2.0/24  port api tcp/8080 }
}
allow internet -> web.lb : https
allow web.lb -> web.app : api
"#;

const HAND_SGS: &str = r#"{
  "SecurityGroups": [
    {
      "GroupId": "sg-0lb", "GroupName": "lb", "VpcId": "vpc-1",
      "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
      ],
      "IpPermissionsEgress": [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
      ]
    },
    {
      "GroupId": "sg-0app", "GroupName": "app", "VpcId": "vpc-1",
      "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": "sg-0lb"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
      ],
      "IpPermissionsEgress": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": "pl-s3"}]}
      ]
    }
  ]
}
"#;

const HAND_ENIS: &str = r#"{"NetworkInterfaces": [
  {"NetworkInterfaceId": "eni-1", "PrivateIpAddress": "10.0.1.10", "Groups": [{"GroupId": "sg-0lb"}]},
  {"NetworkInterfaceId": "eni-2", "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.2.5"}], "Groups": [{"GroupId": "sg-0app"}]}
]}"#;

#[test]
fn aws_hand_written_groups_are_evaluated_as_written() {
    let ir = ir_str(HAND_SG_POLICY);
    let (m, warns) = live_support::read(
        &ir,
        LiveKind::Aws,
        live::aws::read,
        &[
            ("sgs.json", HAND_SGS.to_string()),
            ("enis.json", HAND_ENIS.to_string()),
        ],
    )
    .expect("reads");
    let id = |n: &str| ir.atom_id(n).expect("atom");
    let tcp = |lo: u16, hi: u16| PortSet::range(moat::ports::Proto::Tcp, (lo, hi).into());
    let row = |f: &str, t: &str| {
        m.get(&(id(f), id(t)))
            .map(|x| x.ports.clone())
            .unwrap_or_default()
    };
    assert_eq!(row("internet", "web.lb"), tcp(443, 443));
    // Group reference and the hand-added SSH rule, which covers the load balancer's address.
    assert_eq!(row("web.lb", "web.app"), tcp(22, 22).union(&tcp(8080, 8080)));
    // The app's own egress is tcp/443 only: its SSH rule does not let it reach itself.
    assert!(row("web.app", "web.app").is_empty());
    // The prefix list is not modelled: taken as every address (W015), so the app reaches the lb on 443.
    assert_eq!(row("web.app", "web.lb"), tcp(443, 443));
    assert!(
        warns
            .iter()
            .any(|w| w.code == "W015" && w.message.contains("pl-s3")),
        "{warns:#?}"
    );
    // `web`'s remainder has no interface: no group, nothing in or out (W016 names it).
    assert!(row("web", "web.lb").is_empty() && row("internet", "web").is_empty());
    assert!(
        warns
            .iter()
            .any(|w| w.code == "W016" && w.message.contains("web")),
        "{warns:#?}"
    );
    // Every row names the rules behind it, at their line.
    let by = &m[&(id("web.lb"), id("web.app"))].by;
    let objects: Vec<&str> = by.iter().filter_map(|(r, _)| r.object.as_deref()).collect();
    assert!(
        objects.contains(&"sg-0app ingress[0]") && objects.contains(&"sg-0lb egress[0]"),
        "{objects:?}"
    );
}

#[test]
fn bad_input_is_a_coded_error_with_its_line() {
    let k8s = ir_str(HAND_K8S_POLICY);
    let aws = ir_str(HAND_SG_POLICY);
    let cases: Vec<(&Ir, LiveKind, Reader, &str, String, &str, u64)> = vec![
        (&aws, LiveKind::Aws, live::aws::read, "cut.json", HAND_SGS[..300].to_string(), "E037", 0),
        (
            &aws,
            LiveKind::Aws,
            live::aws::read,
            "shape.json",
            "{\n  \"SecurityGroups\": [\n    {\"GroupId\": \"sg-1\", \"IpPermissions\": \"all\"}\n  ]\n}\n".into(),
            "E038",
            3,
        ),
        (&aws, LiveKind::Aws, live::aws::read, "other.json", "{\"Reservations\": []}".into(), "E038", 1),
        (
            &aws,
            LiveKind::Aws,
            live::aws::read,
            "cidr.json",
            HAND_SGS.replace("10.0.0.0/16", "10.0.0.0/33"),
            "E039",
            16,
        ),
        (&aws, LiveKind::Gcp, live::gcp::read, "obj.json", "{\"name\": \"x\"}".into(), "E038", 1),
        (
            &aws,
            LiveKind::Gcp,
            live::gcp::read,
            "dir.json",
            "[\n {\"name\": \"a\", \"network\": \"n\", \"direction\": \"SIDEWAYS\", \"allowed\": []}\n]".into(),
            "E039",
            2,
        ),
        (
            &aws,
            LiveKind::Azure,
            live::azure::read,
            "prio.json",
            "[{\"name\": \"moat-handsg-web\",\n \"securityRules\": [\n  {\"name\": \"r\", \"direction\": \"Inbound\", \"access\": \"Allow\"}]}]".into(),
            "E039",
            3,
        ),
        (&k8s, LiveKind::K8s, live::k8s::read, "cut.yaml", HAND_NETPOLS[..400].to_string() + "\n  - [", "E037", 0),
        (
            &k8s,
            LiveKind::K8s,
            live::k8s::read,
            "block.yaml",
            HAND_NETPOLS.replace("cidr: 10.0.0.0/8", "cidr: banana"),
            "E039",
            0,
        ),
        (&k8s, LiveKind::K8s, live::k8s::read, "nokind.yaml", "metadata: {name: x}\n".into(), "E038", 1),
    ];
    for (ir, kind, reader, name, text, code, line) in cases {
        let (m, rendered) = live_support::read_rendered(ir, kind, reader, &[(name, text)]);
        assert!(m.is_none(), "{name}: read without errors");
        let diags = coded(&rendered);
        assert!(
            diags
                .iter()
                .any(|(c, f, l)| c == code && f == name && *l >= 1 && (line == 0 || *l == line)),
            "{name}: want {code} at line {line}, got {rendered}"
        );
    }
}

#[test]
fn no_truncation_of_any_input_panics() {
    let k8s = ir_str(HAND_K8S_POLICY);
    let aws = ir_str(HAND_SG_POLICY);
    let hybrid = hybrid();
    let mut inputs: Vec<(&Ir, LiveKind, Reader, String)> = vec![
        (&k8s, LiveKind::K8s, live::k8s::read, HAND_NETPOLS.to_string()),
        (&aws, LiveKind::Aws, live::aws::read, HAND_SGS.to_string()),
    ];
    for t in [Target::Gcp, Target::Azure] {
        let out = emit(&hybrid, t).expect("emits");
        let text =
            serde_json::to_string_pretty(&describe(t, &cloud_support::json(&out, tf_path(t)))).expect("json");
        let (kind, reader, _) = kind_of(t);
        inputs.push((&hybrid, kind, reader, text));
    }
    for (ir, kind, reader, text) in inputs {
        let step = (text.len() / 60).max(1);
        for cut in (1..text.len()).step_by(step) {
            let Some(part) = text.get(..cut) else { continue };
            let (m, rendered) = live_support::read_rendered(ir, kind, reader, &[("cut", part.to_string())]);
            if m.is_none() {
                let diags = coded(&rendered);
                assert!(
                    diags.iter().all(|(c, _, l)| c.starts_with("E03") && *l >= 1),
                    "{} cut at {cut}: {rendered}",
                    kind.as_str()
                );
            }
        }
    }
}

#[test]
fn aws_terraform_state_inline_and_legacy_rules() {
    let ir = ir_str(HAND_SG_POLICY);
    let state = json!({"format_version": "1.0", "values": {"root_module": {"resources": [
        {"address": "aws_security_group.lb", "type": "aws_security_group", "name": "lb",
         "values": {"id": "sg-lb", "name": "lb", "tags": {"moat:atom": "web.lb"},
           "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"],
                        "ipv6_cidr_blocks": [], "security_groups": [], "self": false, "prefix_list_ids": []}],
           "egress": [{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}]}},
        {"address": "aws_security_group.app", "type": "aws_security_group", "name": "app",
         "values": {"id": "sg-app", "name": "app", "tags": {"moat:atom": "web.app"},
           "ingress": [{"protocol": "tcp", "from_port": 9000, "to_port": 9000, "self": true}], "egress": []}},
        {"address": "aws_security_group_rule.app_from_lb", "type": "aws_security_group_rule", "name": "app_from_lb",
         "values": {"type": "ingress", "security_group_id": "sg-app", "source_security_group_id": "sg-lb",
                    "protocol": "tcp", "from_port": 8080, "to_port": 8080}}
    ]}}});
    let text = serde_json::to_string_pretty(&state).expect("json");
    let (m, _) =
        live_support::read(&ir, LiveKind::Aws, live::aws::read, &[("state.json", text)]).expect("reads");
    let id = |n: &str| ir.atom_id(n).expect("atom");
    let tcp = |p: u16| PortSet::range(moat::ports::Proto::Tcp, (p, p).into());
    let row = |f: &str, t: &str| {
        m.get(&(id(f), id(t)))
            .map(|x| x.ports.clone())
            .unwrap_or_default()
    };
    assert_eq!(row("internet", "web.lb"), tcp(443));
    assert_eq!(row("web.lb", "web.app"), tcp(8080));
    // `self`: the app's instances reach each other on 9000, but the app has no egress.
    assert!(row("web.app", "web.app").is_empty());
    let by = &m[&(id("web.lb"), id("web.app"))].by;
    assert!(
        by.iter()
            .any(|(r, _)| r.object.as_deref() == Some("sg-app ingress[1]")),
        "{by:?}"
    );
    // A rule on a group the state lacks: E039 at the rule.
    let bad = serde_json::to_string_pretty(&json!({"values": {"root_module": {"resources": [
        {"address": "aws_security_group_rule.x", "type": "aws_security_group_rule",
         "values": {"type": "ingress", "security_group_id": "sg-gone", "protocol": "-1"}}]}}}))
    .expect("json");
    let (m, rendered) =
        live_support::read_rendered(&ir, LiveKind::Aws, live::aws::read, &[("bad.json", bad)]);
    assert!(m.is_none());
    assert!(
        coded(&rendered).iter().any(|(c, _, l)| c == "E039" && *l == 5),
        "{rendered}"
    );
}

/// A policy of `n` services at an AWS site, and a describe-security-groups
/// dump of `rules` rules spread over their groups (addresses and ports from
/// a fixed pseudo-random sequence).
fn large_aws(n: usize, rules: usize) -> (Ir, String) {
    let mut p = String::from("policy big\nsite a : aws { region \"r\" vpc \"v\" }\nzone internet : external { cidr 0.0.0.0/0 }\nzone z : dmz @ a {\n  cidr 10.0.0.0/16\n");
    for i in 0..n {
        p.push_str(&format!(
            "  service s{i} {{ hosts 10.0.{}.{}/28 port p tcp/{} }}\n",
            i / 16,
            (i % 16) * 16,
            1000 + i
        ));
    }
    p.push_str("}\nallow internet -> z.s0 : p\n");
    let ir = ir_str(&p);
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut groups = vec![];
    for i in 0..n {
        let mut perms = vec![];
        for _ in 0..rules / n {
            let r = next();
            let len = 24 + (r % 9) as u8;
            let addr = std::net::Ipv4Addr::new(10, 0, ((r >> 8) % 4) as u8, ((r >> 16) % 256) as u8);
            let net = ipnet::Ipv4Net::new(addr, len).expect("net").trunc();
            let lo = 1 + ((r >> 24) % 60000) as i64;
            perms.push(
                json!({"IpProtocol": "tcp", "FromPort": lo, "ToPort": lo + ((r >> 40) % 100) as i64,
                              "IpRanges": [{"CidrIp": net.to_string()}]}),
            );
        }
        groups.push(json!({"GroupId": format!("sg-{i}"), "Tags": [{"Key": "moat:atom", "Value": format!("z.s{i}")}],
                           "IpPermissions": perms, "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}));
    }
    (
        ir,
        serde_json::to_string_pretty(&json!({"SecurityGroups": groups})).expect("json"),
    )
}

/// Speed on a 20 000-rule dump (run by hand: `cargo test --test live_readers -- --ignored --nocapture`).
#[test]
#[ignore]
fn large_aws_dump_speed() {
    for (n, rules) in [(50, 2_000), (50, 20_000), (200, 20_000)] {
        let (ir, text) = large_aws(n, rules);
        let t = std::time::Instant::now();
        let (m, _) = live_support::read(&ir, LiveKind::Aws, live::aws::read, &[("big.json", text.clone())])
            .expect("reads");
        eprintln!(
            "aws: {rules} rules, {n} groups, {} atoms, {} bytes: {:.2?} ({} rows)",
            ir.atoms.len(),
            text.len(),
            t.elapsed(),
            m.len()
        );
    }
}

const HAND_GCP_POLICY: &str = r#"
policy handgcp
site g : gcp { project "shop-prod" region "r" network "prod" }
zone internet : external { cidr 0.0.0.0/0 }
zone web : dmz @ g {
  cidr 10.1.0.0/16
  service fe { hosts 10.1.0.0/24  port https tcp/443 }
  service be { hosts 10.1.1.0/24  port api tcp/8080 }
}
allow internet -> web.fe : https
allow web.fe -> web.be : api
"#;

/// Hand-written rules on network `prod` (and one on another network), with the
/// instance list that says who carries which tag.
const HAND_GCP_RULES: &str = r#"[
  {"name": "fe-https", "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
   "direction": "INGRESS", "priority": 1000, "sourceRanges": ["0.0.0.0/0"], "targetTags": ["frontend"],
   "allowed": [{"IPProtocol": "tcp", "ports": ["443", "8000-8100"]}]},
  {"name": "be-from-fe", "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
   "direction": "INGRESS", "priority": 1000, "sourceTags": ["frontend"], "targetTags": ["backend"],
   "allowed": [{"IPProtocol": "tcp", "ports": ["8080"]}]},
  {"name": "no-8000s", "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
   "direction": "INGRESS", "priority": 900, "sourceRanges": ["0.0.0.0/0"], "targetTags": ["frontend"],
   "denied": [{"IPProtocol": "tcp", "ports": ["8000-8049"]}]},
  {"name": "be-admin", "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
   "direction": "INGRESS", "priority": 1000, "sourceRanges": ["10.1.0.0/16"],
   "targetServiceAccounts": ["admin@p.iam.gserviceaccount.com"], "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]},
  {"name": "other-net", "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/test",
   "direction": "INGRESS", "priority": 1000, "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "all"}]},
  {"name": "off", "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod",
   "direction": "INGRESS", "priority": 1000, "sourceRanges": ["0.0.0.0/0"], "disabled": true,
   "allowed": [{"IPProtocol": "all"}]}
]"#;

const HAND_GCP_INSTANCES: &str = r#"[
  {"name": "fe-1", "tags": {"items": ["frontend"]},
   "networkInterfaces": [{"networkIP": "10.1.0.5", "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod"}]},
  {"name": "be-1", "tags": {"items": ["backend"]}, "serviceAccounts": [{"email": "svc@p.iam.gserviceaccount.com"}],
   "networkInterfaces": [{"networkIP": "10.1.1.5", "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/prod"}]}
]"#;

#[test]
fn gcp_hand_written_rules_with_priorities_denies_and_instances() {
    let ir = ir_str(HAND_GCP_POLICY);
    let (m, warns) = live_support::read(
        &ir,
        LiveKind::Gcp,
        live::gcp::read,
        &[
            ("rules.json", HAND_GCP_RULES.to_string()),
            ("instances.json", HAND_GCP_INSTANCES.to_string()),
        ],
    )
    .expect("reads");
    let id = |n: &str| ir.atom_id(n).expect("atom");
    let tcp = |lo: u16, hi: u16| PortSet::range(moat::ports::Proto::Tcp, (lo, hi).into());
    let row = |f: &str, t: &str| {
        m.get(&(id(f), id(t)))
            .map(|x| x.ports.clone())
            .unwrap_or_default()
    };
    // The deny at 900 takes 8000-8049 out of the allow at 1000; the other network and the disabled rule do nothing.
    assert_eq!(row("internet", "web.fe"), tcp(443, 443).union(&tcp(8050, 8100)));
    // Source tags: the frontend's instances (placed by the instance list) reach the backend on 8080.
    // The service account no listed instance carries: the allow is taken to reach every instance (W015).
    assert_eq!(row("web.fe", "web.be"), tcp(22, 22).union(&tcp(8080, 8080)));
    assert!(
        warns
            .iter()
            .any(|w| w.code == "W015" && w.message.contains("admin@p")),
        "{warns:#?}"
    );
    assert!(row("internet", "web.be").is_empty());
    // Egress: GCP's implied allow.
    assert!(row("web.be", "internet").is_any() || !row("web.be", "internet").is_empty());
    let by = &m[&(id("internet"), id("web.fe"))].by;
    assert!(
        by.iter().all(|(r, _)| r.object.as_deref() == Some("fe-https")),
        "{by:?}"
    );
}

const HAND_AZ_POLICY: &str = r#"
policy handaz
site z : azure { region "r" resource_group "rg" }
zone internet : external { cidr 0.0.0.0/0 }
zone app : dmz @ z {
  cidr 10.2.0.0/16
  service web { hosts 10.2.0.4  port https tcp/443 }
  service db  { hosts 10.2.1.4  port pg tcp/5432 }
}
allow internet -> app.web : https
allow app.web -> app.db : pg
"#;

const HAND_NSGS: &str = r#"[
  {"name": "app-nsg", "tags": {"moat-zone": "app"}, "securityRules": [
    {"name": "https", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
     "sourceAddressPrefix": "Internet", "sourcePortRange": "*",
     "destinationAddressPrefix": "10.2.0.4", "destinationPortRange": "443"},
    {"name": "lb", "priority": 110, "direction": "Inbound", "access": "Allow", "protocol": "*",
     "sourceAddressPrefix": "AzureLoadBalancer", "sourcePortRange": "*",
     "destinationAddressPrefix": "*", "destinationPortRange": "*"},
    {"name": "deny-db", "priority": 105, "direction": "Inbound", "access": "Deny", "protocol": "*",
     "sourceAddressPrefix": "*", "sourcePortRange": "*",
     "destinationApplicationSecurityGroups": [{"id": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/moat-handaz-app.db"}],
     "destinationPortRanges": ["1-5431", "5433-65535"]}
  ]}
]"#;

#[test]
fn azure_hand_written_nsg_with_service_tags_and_defaults() {
    let ir = ir_str(HAND_AZ_POLICY);
    let (m, warns) = live_support::read(
        &ir,
        LiveKind::Azure,
        live::azure::read,
        &[("nsgs.json", HAND_NSGS.to_string())],
    )
    .expect("reads");
    let id = |n: &str| ir.atom_id(n).expect("atom");
    let tcp = |p: u16| PortSet::range(moat::ports::Proto::Tcp, (p, p).into());
    let row = |f: &str, t: &str| {
        m.get(&(id(f), id(t)))
            .map(|x| x.ports.clone())
            .unwrap_or_default()
    };
    // `AzureLoadBalancer` is the health probes' one address (168.63.129.16,
    // part of `internet`): modelled, no W015, and the row is partial.
    assert!(
        !warns.iter().any(|w| w.message.contains("AzureLoadBalancer")),
        "{warns:#?}"
    );
    let probe = m.get(&(id("internet"), id("app.web"))).expect("the probe's row");
    assert!(
        probe.partial.is_some(),
        "only the probe address gets the load balancer's allow: {probe:?}"
    );
    // (everything an IPv4 peer can send: no ICMPv6)
    let v4_any = PortSet::any().subtract(&PortSet::proto(moat::ports::Proto::Icmpv6));
    assert_eq!(row("internet", "app.web"), v4_any);
    // The deny at 105 (before the load balancer's allow) leaves the database only tcp/5432 of
    // TCP (`*` on some ports is TCP and UDP), and what has no ports (ICMP, other).
    let db = row("app.web", "app.db");
    assert!(
        db.contains(moat::ports::Proto::Tcp, 5432) && !db.contains(moat::ports::Proto::Tcp, 22),
        "{db}"
    );
    assert!(
        db.intersect(&PortSet::proto(moat::ports::Proto::Tcp)) == tcp(5432),
        "{db}"
    );
    assert!(
        db.contains(moat::ports::Proto::Sctp, 22) && db.contains(moat::ports::Proto::Icmp, 0),
        "{db}"
    );
}
