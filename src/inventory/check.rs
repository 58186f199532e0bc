//! The policy checked against the inventory (`--inventory`):
//!
//! - E020: a service's `pods` selector selects no workload in its namespaces;
//!   the help names the closest labels that exist there.
//! - W007: a port a service exposes is no container port of the pods it
//!   selects (pods that declare no container ports at all are not judged).
//! - W008: an inventory namespace with workloads that no zone claims, and a
//!   workload that falls into a zone's remainder.
//!
//! Membership is the k8s target's (`backend::k8s`): a service with `pods`
//! and namespaces holds the workloads of those namespaces whose pod labels
//! include its selector; a zone's remainder holds the workloads of the zone's
//! namespaces that no such service of the zone holds.
//!
//! Clusters: workloads read with `--inventory CLUSTER=PATH` are in that
//! cluster, and only zones of that cluster claim them (the same namespace
//! name in two clusters is two namespaces); workloads read from a bare PATH
//! are in whichever cluster the zone is. E062: a cluster the policy does not
//! declare.

use super::{ContainerPort, Inventory, Workload};
use crate::diag::Diagnostic;
use crate::ir::{Atom, AtomId, Ir, PodSelector, ZoneId};
use crate::ports::{PortSet, Proto};
use std::collections::{BTreeMap, BTreeSet};

/// True when the atom stands for pods selected by labels.
fn selects_pods(ir: &Ir, a: &Atom) -> bool {
    !a.is_remainder()
        && !a.pods.is_empty()
        && (a.has_namespaces() || !ir.layout.zone(a.zone).ns_labels.is_empty())
}

/// True when `labels` satisfy `sel` (every `equal` label; no `not_in` value).
fn matches(sel: &PodSelector, labels: &BTreeMap<String, String>) -> bool {
    sel.equal.iter().all(|(k, v)| labels.get(k) == Some(v))
        && sel
            .not_in
            .iter()
            .all(|(k, vs)| labels.get(k).is_none_or(|v| !vs.contains(v)))
}

/// True when zone `z` claims workload `w`: its namespace is one of the zone's
/// (by name, or by the namespace's labels for `namespaces k=v`) and, in a
/// namespace the zone shares (`namespace NS pods SEL`), its pods match.
fn claims(ir: &Ir, inv: &Inventory, z: ZoneId, w: &Workload) -> bool {
    let layout = ir.layout.zone(z);
    if !in_cluster_of(ir, z, w) {
        return false;
    }
    if !layout.ns_labels.is_empty() {
        let labels = inv
            .namespaces
            .iter()
            .find(|n| n.name == w.namespace && n.cluster == w.cluster)
            .map(|n| &n.labels);
        return labels.is_some_and(|l| layout.ns_labels.iter().all(|(k, v)| l.get(k) == Some(v)));
    }
    ir.zones[z].namespaces.contains(&w.namespace)
        && layout
            .claims
            .get(&w.namespace)
            .is_none_or(|sel| matches(sel, &w.pod_labels))
}

/// The name of zone `z`'s cluster, if it has one.
fn cluster_name(ir: &Ir, z: ZoneId) -> Option<&str> {
    ir.layout
        .zone(z)
        .cluster
        .map(|c| ir.layout.clusters[c].name.as_str())
}

/// True when workload `w` can be in zone `z`'s cluster: it was read for that
/// cluster, or for none.
fn in_cluster_of(ir: &Ir, z: ZoneId, w: &Workload) -> bool {
    w.cluster
        .as_deref()
        .is_none_or(|c| cluster_name(ir, z) == Some(c))
}

/// ` of cluster `C`` when the inventory was read for cluster `C`, else "".
fn of_cluster(cluster: Option<&str>) -> String {
    cluster.map_or(String::new(), |c| format!(" of cluster `{c}`"))
}

/// True when service atom `a` holds workload `w`.
fn holds(ir: &Ir, inv: &Inventory, a: &Atom, w: &Workload) -> bool {
    selects_pods(ir, a)
        && (a.namespaces.is_empty() || a.namespaces.contains(&w.namespace))
        && a.pods.iter().all(|(k, v)| w.pod_labels.get(k) == Some(v))
        && claims(ir, inv, a.zone, w)
}

/// The atom workload `w` belongs to: a service that selects it, else the
/// remainder of the zone that claims it; `None` when no zone claims it.
pub fn atom_of(ir: &Ir, inv: &Inventory, w: &Workload) -> Option<AtomId> {
    if let Some(s) = ir.atoms.iter().position(|a| holds(ir, inv, a, w)) {
        return Some(s);
    }
    (0..ir.zones.len())
        .find(|&z| claims(ir, inv, z, w))
        .map(|z| ir.zones[z].remainder)
}

/// Every inventory finding about `ir`, unsorted.
pub fn check(ir: &Ir, inv: &Inventory) -> Vec<Diagnostic> {
    let unknown = unknown_clusters(ir, inv);
    if !unknown.is_empty() {
        return unknown;
    }
    let mut out = vec![];
    for a in ir.atoms.iter().filter(|a| selects_pods(ir, a)) {
        let held: Vec<&Workload> = inv.workloads.iter().filter(|w| holds(ir, inv, a, w)).collect();
        if held.is_empty() {
            out.push(selects_nothing(ir, a, inv));
        } else {
            out.extend(missing_ports(a, &held));
        }
    }
    out.extend(unclaimed_namespaces(ir, inv));
    out.extend(remainder_workloads(ir, inv));
    out
}

/// E062 for each cluster of `--inventory CLUSTER=PATH` the policy does not declare.
fn unknown_clusters(ir: &Ir, inv: &Inventory) -> Vec<Diagnostic> {
    let named: BTreeSet<&str> = inv
        .namespaces
        .iter()
        .filter_map(|n| n.cluster.as_deref())
        .chain(inv.workloads.iter().filter_map(|w| w.cluster.as_deref()))
        .collect();
    let declared: Vec<&str> = ir.layout.clusters.iter().map(|c| c.name.as_str()).collect();
    named
        .into_iter()
        .filter(|c| !declared.contains(c))
        .map(|c| {
            let help = match crate::syntax::parse::closest(c, &declared) {
                Some(d) => format!("did you mean `--inventory {d}=PATH`?"),
                None if declared.is_empty() => {
                    "the policy declares no cluster: pass the inventory as a bare PATH, or declare `cluster NAME @ SITE`".to_string()
                }
                None => format!("the policy's clusters are: {}", declared.join(", ")),
            };
            Diagnostic::error_nospan(
                "E062",
                format!("`--inventory {c}=...` names cluster `{c}`, which the policy does not declare"),
            )
            .with_help(help)
        })
        .collect()
}

/// E020 for a service whose selector matches no workload of its namespaces.
fn selects_nothing(ir: &Ir, a: &Atom, inv: &Inventory) -> Diagnostic {
    let selector = labels_text(&a.pods);
    let there: Vec<&Workload> = inv
        .workloads
        .iter()
        .filter(|w| {
            (a.namespaces.is_empty() || a.namespaces.contains(&w.namespace)) && claims(ir, inv, a.zone, w)
        })
        .collect();
    let ns = if a.namespaces.is_empty() {
        let sel = &ir.layout.zone(a.zone).ns_labels;
        format!("with labels {}", labels_text(sel))
    } else {
        a.namespaces.join(", ")
    };
    let tagged = inv.workloads.iter().any(|w| w.cluster.is_some());
    let ns = format!("{ns}{}", of_cluster(cluster_name(ir, a.zone).filter(|_| tagged)));
    let d = Diagnostic::error(
        "E020",
        a.span,
        format!(
            "service `{}` selects no workload of the inventory: no pod in namespace {ns} has {selector}",
            a.name
        ),
    );
    if there.is_empty() {
        let cluster = cluster_name(ir, a.zone);
        let in_cluster = |c: &Option<String>| c.is_none() || c.as_deref() == cluster;
        let known: BTreeSet<&str> = inv
            .namespaces
            .iter()
            .filter(|n| in_cluster(&n.cluster))
            .map(|n| n.name.as_str())
            .chain(
                inv.workloads
                    .iter()
                    .filter(|w| in_cluster(&w.cluster))
                    .map(|w| w.namespace.as_str()),
            )
            .collect();
        let known: Vec<&str> = known.into_iter().collect();
        let first = a.namespaces.first().map_or("", String::as_str);
        let help = match crate::syntax::parse::closest(first, &known) {
            Some(c) => format!("the inventory has no workload in namespace {ns}; did you mean namespace `{c}`?"),
            None => format!("the inventory has no workload in namespace {ns}: deploy it, or correct the service's namespace"),
        };
        return d.with_help(help);
    }
    let pairs: BTreeSet<String> = there
        .iter()
        .flat_map(|w| w.pod_labels.iter().map(|(k, v)| format!("{k}={v}")))
        .collect();
    let candidates: Vec<&str> = pairs.iter().map(String::as_str).collect();
    let wrong: Vec<String> = a
        .pods
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .filter(|p| !pairs.contains(p))
        .collect();
    let suggestions: Vec<String> = wrong
        .iter()
        .filter_map(|p| suggest(p, &candidates).map(|c| format!("`{c}`")))
        .collect();
    let help = if suggestions.is_empty() {
        let shown: Vec<String> = there.iter().take(5).map(|w| describe(w)).collect();
        format!(
            "no label is close; the pods there carry: {}{}",
            shown.join("; "),
            if there.len() > 5 { "; ..." } else { "" }
        )
    } else {
        format!("did you mean {}?", suggestions.join(" and "))
    };
    d.with_help(help)
}

/// The label closest to `pair` (`key=value`): by edit distance, else one
/// with the same value under another key (`app=x` for `app.kubernetes.io/name=x`).
fn suggest<'c>(pair: &str, candidates: &[&'c str]) -> Option<&'c str> {
    crate::syntax::parse::closest(pair, candidates).or_else(|| {
        let value = pair.split_once('=').map_or("", |(_, v)| v);
        candidates
            .iter()
            .copied()
            .find(|c| c.split_once('=').is_some_and(|(_, v)| v == value))
    })
}

/// `ns/name (k=v, ...)` of a workload.
fn describe(w: &Workload) -> String {
    format!("{} ({})", place(w), labels_text(&w.pod_labels))
}

/// `ns/name` of a workload, `cluster:ns/name` when read for a cluster.
fn place(w: &Workload) -> String {
    match &w.cluster {
        Some(c) => format!("{c}:{}/{}", w.namespace, w.name),
        None => format!("{}/{}", w.namespace, w.name),
    }
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if parts.is_empty() {
        "no labels".to_string()
    } else {
        parts.join(", ")
    }
}

/// Ranges larger than this are checked for any declared port, not port by port.
const PORTS_ONE_BY_ONE: u32 = 64;

/// W007 for each declared port of `a` that none of `held` declares.
fn missing_ports(a: &Atom, held: &[&Workload]) -> Vec<Diagnostic> {
    let declared: BTreeSet<&ContainerPort> = held.iter().flat_map(|w| &w.ports).collect();
    // Kubernetes does not require containers to declare the ports they listen
    // on (MOSIP's regproc groups declare `ports: []`): nothing to compare with
    if declared.is_empty() {
        return vec![];
    }
    let has = |proto: Proto, lo: u16, hi: u16| {
        declared
            .iter()
            .any(|p| p.protocol == proto && (lo..=hi).contains(&p.number))
    };
    let mut out = vec![];
    for (name, set) in &a.ports {
        let missing = missing_in(set, &has);
        if missing.is_empty() {
            continue;
        }
        let list: Vec<String> = declared.iter().map(|p| port_text(p)).collect();
        let pods: Vec<String> = held.iter().map(|w| place(w)).collect();
        let help = if list.is_empty() {
            "its pods declare no container ports; declare them in the chart, or check the service's port"
                .to_string()
        } else {
            format!("its pods declare: {}", list.join(", "))
        };
        out.push(
            Diagnostic::warning(
                "W007",
                a.span,
                format!(
                    "port `{name}` ({}) of service `{}` is no container port of the pods it selects",
                    missing.join(", "),
                    a.name
                ),
            )
            .with_help(help)
            .with_note(format!("selected: {}", pods.join(", "))),
        );
    }
    out
}

/// The parts of `set` that no declared port covers (`tcp/8080`), in order.
fn missing_in(set: &PortSet, has: &dyn Fn(Proto, u16, u16) -> bool) -> Vec<String> {
    let mut missing = vec![];
    for (proto, ranges) in set.iter() {
        if !proto.has_ports() {
            continue;
        }
        for r in ranges {
            if r.len() > PORTS_ONE_BY_ONE {
                if !has(proto, r.lo, r.hi) {
                    missing.push(format!("{proto}/{}-{}", r.lo, r.hi));
                }
                continue;
            }
            for port in r.lo..=r.hi {
                if !has(proto, port, port) {
                    missing.push(format!("{proto}/{port}"));
                }
            }
        }
    }
    missing
}

fn port_text(p: &ContainerPort) -> String {
    match &p.name {
        Some(n) => format!("{}/{} ({n})", p.protocol, p.number),
        None => format!("{}/{}", p.protocol, p.number),
    }
}

/// W008 for each namespace of the inventory whose workloads no zone claims.
fn unclaimed_namespaces(ir: &Ir, inv: &Inventory) -> Vec<Diagnostic> {
    let mut out = vec![];
    let places: BTreeSet<(Option<&str>, &str)> = inv
        .namespaces
        .iter()
        .map(|n| (n.cluster.as_deref(), n.name.as_str()))
        .chain(
            inv.workloads
                .iter()
                .map(|w| (w.cluster.as_deref(), w.namespace.as_str())),
        )
        .collect();
    for (cluster, ns) in places {
        let here = |w: &&Workload| w.namespace == ns && w.cluster.as_deref() == cluster;
        // a namespace without workloads (secrets, config maps) has no pods to deny
        let outside: Vec<&Workload> = inv
            .workloads
            .iter()
            .filter(here)
            .filter(|w| atom_of(ir, inv, w).is_none())
            .collect();
        let Some(first) = outside.first() else { continue };
        let obj = inv
            .namespaces
            .iter()
            .find(|n| n.name == ns && n.cluster.as_deref() == cluster);
        let shared = inv
            .workloads
            .iter()
            .filter(here)
            .any(|w| atom_of(ir, inv, w).is_some());
        let span = obj.map_or(first.span, |n| n.span);
        let names: Vec<&str> = outside.iter().map(|w| w.name.as_str()).collect();
        let of = of_cluster(cluster);
        let message = if shared {
            format!("pods of namespace `{ns}`{of} are in no zone: no zone's selector there matches them, so their namespace's default deny isolates them")
        } else {
            format!("namespace `{ns}`{of} of the inventory is in no zone: every flow to or from its pods is denied where moat manages the peer")
        };
        out.push(
            Diagnostic::warning("W008", span, message)
                .with_help(format!(
                    "add `namespace {ns}` to the zone it belongs to, or explain in the policy why it stays outside"
                ))
                .with_note(format!("its workloads in no zone: {}", names.join(", "))),
        );
    }
    out
}

/// W008 for each workload that falls into a zone's remainder.
fn remainder_workloads(ir: &Ir, inv: &Inventory) -> Vec<Diagnostic> {
    let mut out = vec![];
    for w in &inv.workloads {
        let Some(atom) = atom_of(ir, inv, w) else { continue };
        let a = &ir.atoms[atom];
        if !a.is_remainder() {
            continue;
        }
        let zone = &ir.zones[a.zone];
        out.push(
            Diagnostic::warning(
                "W008",
                w.span,
                format!(
                    "{} `{}/{}`{} is in no service of zone `{}`: only the zone's own flows reach it",
                    w.kind,
                    w.namespace,
                    w.name,
                    of_cluster(w.cluster.as_deref()),
                    zone.name
                ),
            )
            .with_help(format!(
                "give it a service (`service NAME {{ namespace {} pods {} }}`), or explain in the policy why it needs none",
                w.namespace,
                first_label(w)
            )),
        );
    }
    out
}

fn first_label(w: &Workload) -> String {
    ["app.kubernetes.io/name", "app", "k8s-app"]
        .iter()
        .find_map(|k| w.pod_labels.get(*k).map(|v| format!("{k}={v}")))
        .or_else(|| w.pod_labels.iter().next().map(|(k, v)| format!("{k}={v}")))
        .unwrap_or_else(|| "KEY=VALUE".to_string())
}
