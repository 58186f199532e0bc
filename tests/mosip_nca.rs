//! The MOSIP example policies on real MOSIP 1.2.0.1 clusters, proved with
//! IBM's network-config-analyzer: each policy checks clean against its
//! inventory (the pods MOSIP's charts render, placed as the policy's layout
//! says), is compiled to k8s, and nca, given the inventory's pods and the
//! generated NetworkPolicies, finds
//! - every flow of the policy's required-flows table (derived from MOSIP's
//!   configuration, with citations) allowed,
//! - every forbid holding: no connection between two inventory pods whose
//!   atoms a forbid covers, on a forbidden port, and
//! - for the cells (`policies/mosip-cells.moat`), no connection at all
//!   between a pod of one cell and a pod of another.

mod common;
mod k8s_support;

use moat::inventory::{self, Inventory, Workload};
use moat::ir::Ir;
use moat::ports::{PortSet, Proto};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// A policy, its inventory and its table of required flows.
struct Case {
    policy: &'static str,
    inventory: &'static str,
    required: &'static str,
}

const MOSIP: Case = Case {
    policy: "mosip.moat",
    inventory: "fixtures/inventory/mosip-1.2.0.1.yaml",
    required: "fixtures/inventory/mosip-required-flows.tsv",
};

const CELLS: Case = Case {
    policy: "mosip-cells.moat",
    inventory: "fixtures/inventory/mosip-cells-1.2.0.1.yaml",
    required: "fixtures/inventory/mosip-cells-required-flows.tsv",
};

/// One row of the required-flows table.
struct Required {
    line: usize,
    from: (String, String),
    to: (String, String),
    proto: Proto,
    port: u16,
    key: String,
}

fn required(table: &str) -> Vec<Required> {
    let text = std::fs::read_to_string(common::root().join(table)).expect("read the table");
    let split = |s: &str| -> (String, String) {
        let (ns, name) = s
            .split_once('/')
            .unwrap_or_else(|| panic!("not namespace/workload: {s}"));
        (ns.to_string(), name.to_string())
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.starts_with("from\t") && !l.trim().is_empty())
        .map(|(i, l)| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 5, "{table}:{}: five columns", i + 1);
            let (proto, port) = cols[2].split_once('/').expect("proto/port");
            Required {
                line: i + 1,
                from: split(cols[0]),
                to: split(cols[1]),
                proto: Proto::parse(proto).expect("a protocol"),
                port: port.parse().expect("a port number"),
                key: cols[3].to_string(),
            }
        })
        .collect()
}

/// The second pod of a workload that talks to its own replicas (Kafka
/// brokers, the ZooKeeper ensemble): nca reports no pod's flow to itself.
fn replica(name: &str) -> String {
    format!("{name}-replica")
}

/// The inventory's namespaces and one Pod per workload (two for those in
/// `replicated`), as nca reads them.
fn topology(inv: &Inventory, replicated: &BTreeSet<(String, String)>) -> String {
    let mut docs = vec![];
    for ns in inv.namespace_names() {
        let mut labels: BTreeMap<String, String> = inv
            .namespaces
            .iter()
            .find(|n| n.name == ns)
            .map(|n| n.labels.clone())
            .unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".into(), ns.to_string());
        docs.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": labels}}));
    }
    for w in &inv.workloads {
        let ports: Vec<_> = w
            .ports
            .iter()
            .map(|p| {
                let mut v =
                    json!({"containerPort": p.number, "protocol": p.protocol.as_str().to_uppercase()});
                if let Some(n) = &p.name {
                    v["name"] = json!(n);
                }
                v
            })
            .collect();
        let mut names = vec![w.name.clone()];
        if replicated.contains(&key(w)) {
            names.push(replica(&w.name));
        }
        for name in names {
            docs.push(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": w.namespace, "labels": w.pod_labels},
                "spec": {"containers": [{"name": "main", "image": "example/app", "ports": ports}]}}));
        }
    }
    serde_saphyr::to_string_multiple(&docs).expect("topology yaml")
}

/// nca's pod-to-pod connectivity: (from pod, to pod) -> ports.
type PodPairs = BTreeMap<((String, String), (String, String)), PortSet>;

fn pod_pairs(lines: &[(k8s_support::NcaEnd, k8s_support::NcaEnd, PortSet)]) -> PodPairs {
    use k8s_support::NcaEnd::Pod;
    let mut out = PodPairs::new();
    for (a, b, ports) in lines {
        if let (Pod(an, ap), Pod(bn, bp)) = (a, b) {
            out.entry(((an.clone(), ap.clone()), (bn.clone(), bp.clone())))
                .or_default()
                .union_with(ports);
        }
    }
    out
}

fn key(w: &Workload) -> (String, String) {
    (w.namespace.clone(), w.name.clone())
}

/// The checked policy, its inventory, and nca's connectivity on them.
fn prove(case: &Case, replicated: &BTreeSet<(String, String)>) -> (Ir, Inventory, PodPairs) {
    let mut c = moat::check_paths(&moat::load::Disk, &[common::policy(case.policy)]);
    let inv =
        moat::check_inventory(&mut c, &[common::root().join(case.inventory)]).expect("the inventory reads");
    let findings: Vec<String> = c
        .diags
        .iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    assert!(
        findings.is_empty(),
        "{} is not clean against {}:\n{}",
        case.policy,
        case.inventory,
        findings.join("\n")
    );
    let ir = c.ir.expect("an IR");
    let tmp = common::TempDir::new("mosip-nca");
    let input = tmp.path().join("in");
    let artefacts = k8s_support::emit(&ir);
    k8s_support::write(&input, &artefacts);
    let files: Vec<PathBuf> = artefacts.iter().map(|a| input.join(&a.path)).collect();
    if let Err(e) = k8s_support::validate(&files) {
        panic!("kubernetes-validate: {e}");
    }
    std::fs::write(input.join("topology.yaml"), topology(&inv, replicated)).expect("write the topology");
    let pairs = pod_pairs(&k8s_support::run_nca(tmp.path()));
    assert!(!pairs.is_empty(), "nca reports no pod-to-pod connectivity at all");
    (ir, inv, pairs)
}

/// Proves `case` (see the module comment) and returns the problems found,
/// with nca's connectivity and the inventory for further checks.
fn findings_of(case: &Case, min_rows: usize, min_forbid_pairs: usize) -> (Vec<String>, Inventory, PodPairs) {
    let rows = required(case.required);
    let replicated: BTreeSet<(String, String)> = rows
        .iter()
        .filter(|r| r.from == r.to)
        .map(|r| r.from.clone())
        .collect();
    let (ir, inv, pairs) = prove(case, &replicated);
    let known: BTreeMap<(String, String), &Workload> = inv.workloads.iter().map(|w| (key(w), w)).collect();
    let mut problems = vec![];
    assert!(
        rows.len() >= min_rows,
        "{} has {} rows",
        case.required,
        rows.len()
    );
    for r in &rows {
        for end in [&r.from, &r.to] {
            if !known.contains_key(end) {
                problems.push(format!(
                    "{}:{}: {}/{} is not in the inventory",
                    case.required, r.line, end.0, end.1
                ));
            }
        }
        // a workload's flow to itself is one replica's to another
        let to = if r.from == r.to {
            (r.to.0.clone(), replica(&r.to.1))
        } else {
            r.to.clone()
        };
        let ok = pairs
            .get(&(r.from.clone(), to))
            .is_some_and(|p| p.contains(r.proto, r.port));
        if !ok {
            problems.push(format!(
                "{}:{}: {}/{} -> {}/{} {}/{} ({}) is blocked",
                case.required, r.line, r.from.0, r.from.1, r.to.0, r.to.1, r.proto, r.port, r.key
            ));
        }
    }
    // every forbid, on every pair of inventory pods it covers (nca reporting
    // no connection at all for a pair is the forbid holding there)
    let mut pods_of: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
    for w in &inv.workloads {
        if let Some(a) = inventory::check::atom_of(&ir, &inv, w) {
            pods_of.entry(a).or_default().push(key(w));
            if replicated.contains(&key(w)) {
                pods_of
                    .entry(a)
                    .or_default()
                    .push((w.namespace.clone(), replica(&w.name)));
            }
        }
    }
    let none = PortSet::empty();
    let mut checked = 0usize;
    for f in &ir.forbids {
        for (a, b, forbidden) in &f.pairs {
            let (Some(from), Some(to)) = (pods_of.get(a), pods_of.get(b)) else {
                continue;
            };
            for src in from {
                for dst in to.iter().filter(|d| *d != src) {
                    checked += 1;
                    let ports = pairs.get(&(src.clone(), dst.clone())).unwrap_or(&none);
                    let overlap = ports.intersect(forbidden);
                    if !overlap.is_empty() {
                        problems.push(format!(
                            "forbid at {} broken: {}/{} -> {}/{} on {overlap}",
                            f.loc, src.0, src.1, dst.0, dst.1
                        ));
                    }
                }
            }
        }
    }
    if checked < min_forbid_pairs {
        problems.push(format!(
            "only {checked} inventory pod pairs are covered by forbids"
        ));
    }
    (problems, inv, pairs)
}

#[test]
fn mosip_allows_every_required_flow_and_keeps_every_forbid_on_the_inventory() {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let (problems, _, _) = findings_of(&MOSIP, 40, 100);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The cell a namespace of the cells inventory belongs to (`cell2-kernel` is
/// in cell2), or None for a shared namespace.
fn cell_of(namespace: &str) -> Option<&str> {
    let (cell, _) = namespace.split_once('-')?;
    (cell.starts_with("cell") && cell[4..].parse::<u32>().is_ok()).then_some(cell)
}

#[test]
fn mosip_cells_allow_every_required_flow_keep_every_forbid_and_keep_the_cells_apart() {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let (mut problems, inv, pairs) = findings_of(&CELLS, 30, 200);
    // cell isolation: no connection at all from a pod of one cell to a pod of another
    let cells: BTreeSet<&str> = inv
        .workloads
        .iter()
        .filter_map(|w| cell_of(&w.namespace))
        .collect();
    assert!(cells.len() >= 2, "the inventory has {} cells", cells.len());
    let across = inv
        .workloads
        .iter()
        .flat_map(|a| inv.workloads.iter().map(move |b| (a, b)))
        .filter(
            |(a, b)| matches!((cell_of(&a.namespace), cell_of(&b.namespace)), (Some(x), Some(y)) if x != y),
        )
        .count();
    assert!(across >= 1000, "only {across} pod pairs across cells");
    for ((from, to), ports) in &pairs {
        if let (Some(a), Some(b)) = (cell_of(&from.0), cell_of(&to.0)) {
            if a != b && !ports.is_empty() {
                problems.push(format!(
                    "cells not isolated: {}/{} -> {}/{} on {ports}",
                    from.0, from.1, to.0, to.1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
