//! `k8s`: NetworkPolicies (`networking.k8s.io/v1`), as YAML or JSON files,
//! one or several documents each, or a `kind: List` (`kubectl get netpol -A
//! -o yaml`). Other kinds in the input are used when they help: `Namespace`
//! objects give namespaces their labels (else a namespace has only
//! `kubernetes.io/metadata.name`), and `Pod` objects (`kubectl get pods -A -o
//! yaml`) are the pods evaluated on; without any, one representative pod per
//! atom and namespace is built from the policy's selectors (a service's
//! labels; for a zone's remainder, labels that no service of the zone
//! selects), carrying the atom's declared named ports.
//!
//! Semantics (Kubernetes' own): a pod is isolated for ingress (egress) when a
//! policy of that type selects it, and then gets exactly the union of those
//! policies' rules; a pod no policy selects is open. A packet between two
//! pods passes when the source's egress and the destination's ingress both
//! let it. `ipBlock` peers match the addresses of address-only atoms (atoms
//! with no pods), never pods; an atom's addresses are split at every edge a
//! block (or its `except`) mentions, so a block covering part of an atom
//! gives a `partial` row. Ports: `TCP` when the protocol is omitted, `port`
//! a number or a container port's name (resolved on the destination pod),
//! `endPort`; no ports means every port and protocol. Not modelled (W015,
//! taken as letting more through, never less): a named port towards an
//! address (taken as every port of its protocol).

use super::cover::{self, Iv};
use super::parse::{self, Spanned};
use super::{Evaluated, LiveFlow, LiveInput, LiveMatrix, LiveRule, Partial};
use crate::backend::k8s::clusters;
use crate::backend::k8s::select::{self, NAMESPACE_NAME_LABEL};
use crate::diag::Diagnostic;
use crate::inventory::Inventory;
use crate::ir::{AtomId, ClusterId, Ir};
use crate::ports::{PortRange, PortSet, Proto};
use crate::span::SourceMap;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const WHAT: &str = "`kubectl get networkpolicies -A -o yaml` (or the NetworkPolicy manifests)";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    kind: Option<String>,
    #[serde(default)]
    metadata: Meta,
    spec: Option<Spanned<serde_json::Value>>,
    items: Option<Vec<Spanned<Doc>>>,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: String,
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    pod_selector: Selector,
    policy_types: Option<Vec<String>>,
    ingress: Option<Vec<IngressRule>>,
    egress: Option<Vec<EgressRule>>,
}

#[derive(Deserialize)]
struct IngressRule {
    from: Option<Vec<PeerDoc>>,
    ports: Option<Vec<PortDoc>>,
}

#[derive(Deserialize)]
struct EgressRule {
    to: Option<Vec<PeerDoc>>,
    ports: Option<Vec<PortDoc>>,
}

/// A rule's peers and ports, ingress or egress alike.
type RuleDoc = (Option<Vec<PeerDoc>>, Option<Vec<PortDoc>>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PeerDoc {
    pod_selector: Option<Selector>,
    namespace_selector: Option<Selector>,
    ip_block: Option<IpBlockDoc>,
}

#[derive(Deserialize)]
struct IpBlockDoc {
    cidr: String,
    #[serde(default)]
    except: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortDoc {
    protocol: Option<String>,
    port: Option<serde_json::Value>,
    end_port: Option<u32>,
}

#[derive(Deserialize, Default, Clone, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Selector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<Expr>,
}

#[derive(Deserialize, Clone, Debug)]
struct Expr {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    #[serde(default)]
    containers: Vec<Container>,
}

#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    ports: Vec<ContainerPort>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerPort {
    name: Option<String>,
    container_port: u16,
    protocol: Option<String>,
}

/// A pod the policies are evaluated on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub atom: AtomId,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Container ports by name.
    pub named: BTreeMap<String, PortSet>,
    /// In an `unmanaged` zone: moat writes no policy for it, so a pair that
    /// only its (unselected, so open) side decides is not the input's to say.
    pub unmanaged: bool,
}

impl Selector {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let v = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => v.is_some_and(|v| e.values.contains(v)),
                    "NotIn" => v.is_none_or(|v| !e.values.contains(v)),
                    "Exists" => v.is_some(),
                    _ => v.is_none(), // DoesNotExist (others are rejected when read)
                }
            })
    }
}

/// One peer of a rule.
#[derive(Debug, Clone)]
enum Peer {
    Pods {
        namespaces: Option<Selector>,
        pods: Option<Selector>,
    },
    Block(Vec<Iv>),
}

/// One port entry of a rule.
#[derive(Debug, Clone)]
enum Port {
    Numbers(Proto, PortRange),
    Named(Proto, String),
}

/// One rule of a policy, in one direction.
#[derive(Debug, Clone)]
struct Rule {
    live: LiveRule,
    /// `None`: every peer (an empty or absent `from`/`to`).
    peers: Option<Vec<Peer>>,
    /// Empty: every port and protocol.
    ports: Vec<Port>,
}

/// A NetworkPolicy as evaluated.
#[derive(Debug, Clone)]
struct Policy {
    namespace: String,
    selector: Selector,
    /// `Some` when the policy is of that type.
    ingress: Option<Vec<Rule>>,
    egress: Option<Vec<Rule>>,
}

/// Everything read from the k8s inputs.
struct Live {
    policies: Vec<Policy>,
    namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
    pods: Vec<(Meta, Option<PodSpec>)>,
}

/// The [`super::Reader`] of `k8s`: on the input's `Pod` objects when it has
/// some, else on representative pods built from the policy.
pub fn read(ir: &Ir, sources: &SourceMap, inputs: &[&LiveInput]) -> Evaluated {
    by_cluster(ir, inputs, |ir, inputs, _| read_one(ir, sources, inputs))
}

/// [`read`] on the pods of an inventory (`--inventory`): one pod per workload,
/// with its pod-template labels and named container ports, placed in the atom
/// that `check --inventory` gives it; the inventory's Namespace objects give
/// namespaces their labels (the live input's own Pod objects are not used).
/// Workloads no zone claims are left out, with a W016 naming them.
pub fn read_inventory(ir: &Ir, sources: &SourceMap, inputs: &[&LiveInput], inv: &Inventory) -> Evaluated {
    by_cluster(ir, inputs, |ir, inputs, cluster| {
        read_inventory_one(ir, sources, inputs, inv, cluster)
    })
}

/// Several clusters (`cluster NAME @ SITE`): a NetworkPolicy acts in its own
/// cluster only, so each cluster's inputs (the files under a directory named
/// after it, as `compile` writes `k8s/<cluster>/`, or a file named
/// `<cluster>.yaml`) are evaluated on the policy as that cluster sees it
/// ([`clusters::view`]: the other clusters' zones are peers by address). A
/// pair between two clusters then passes what both ends let through. An
/// input of no cluster is E063.
fn by_cluster(
    ir: &Ir,
    inputs: &[&LiveInput],
    one: impl Fn(&Ir, &[&LiveInput], Option<&str>) -> Evaluated,
) -> Evaluated {
    if ir.layout.clusters.is_empty() {
        return one(ir, inputs, None);
    }
    let (inputs, mut warns) = manifests(inputs);
    let mut groups: Vec<Vec<&LiveInput>> = vec![vec![]; ir.layout.clusters.len()];
    let mut errs = vec![];
    for i in inputs {
        match cluster_of_input(ir, &i.path) {
            Some(c) => groups[c].push(i),
            None => errs.push(
                Diagnostic::error(
                    "E063",
                    parse::whole(i),
                    format!(
                        "live k8s input `{}` is of no cluster of the policy ({}): a NetworkPolicy acts in its own cluster only",
                        i.path.display(),
                        cluster_names(ir)
                    ),
                )
                .with_help("put each cluster's NetworkPolicies under a directory named after the cluster (`moat compile` writes DIR/k8s/<cluster>/), or name the file <cluster>.yaml"),
            ),
        }
    }
    let mut merged: Option<LiveMatrix> = None;
    for (c, mine) in groups.iter().enumerate().filter(|(_, g)| !g.is_empty()) {
        match one(&clusters::view(ir, c), mine, Some(&ir.layout.clusters[c].name)) {
            Ok((m, w)) => {
                warns.extend(w);
                merged = Some(match merged {
                    None => m,
                    Some(prev) => super::merge(prev, m),
                });
            }
            Err(e) => errs.extend(e),
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok((merged.unwrap_or_default(), warns))
}

/// The cluster an input belongs to: the nearest of its file stem and its
/// directories that is named after a cluster of the policy.
fn cluster_of_input(ir: &Ir, path: &std::path::Path) -> Option<ClusterId> {
    let named = |s: &std::ffi::OsStr| ir.layout.clusters.iter().position(|c| *c.name == *s);
    path.file_stem().and_then(named).or_else(|| {
        path.ancestors()
            .skip(1)
            .filter_map(|d| d.file_name())
            .find_map(named)
    })
}

/// The policy's clusters, for a message: "`a`, `b`".
fn cluster_names(ir: &Ir) -> String {
    let names: Vec<String> = ir
        .layout
        .clusters
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect();
    names.join(", ")
}

/// [`read`] for one cluster (or a policy without clusters).
fn read_one(ir: &Ir, sources: &SourceMap, inputs: &[&LiveInput]) -> Evaluated {
    let (inputs, mut warns) = manifests(inputs);
    let inputs = &inputs[..];
    let mut live = load(sources, inputs)?;
    let pods = if live.pods.is_empty() {
        for (ns, labels) in representative_namespaces(ir) {
            live.namespace_labels.entry(ns).or_insert(labels);
        }
        representative_pods(ir)
    } else {
        let (pods, w) = place_pods(ir, inputs, &live.pods);
        warns.extend(w);
        pods
    };
    Ok(evaluate(ir, sources, inputs, &live, &pods, warns))
}

/// [`read_inventory`] for one cluster (`None`: a policy without clusters):
/// the inventory's namespaces and workloads of that cluster, and those read
/// for every cluster (a bare `--inventory PATH`).
fn read_inventory_one(
    ir: &Ir,
    sources: &SourceMap,
    inputs: &[&LiveInput],
    inv: &Inventory,
    cluster: Option<&str>,
) -> Evaluated {
    let here = |c: &Option<String>| cluster.is_none() || c.is_none() || c.as_deref() == cluster;
    let (inputs, mut warns) = manifests(inputs);
    let mut live = load(sources, &inputs)?;
    for ns in inv.namespaces.iter().filter(|n| here(&n.cluster)) {
        let mut labels = ns.labels.clone();
        labels.insert(NAMESPACE_NAME_LABEL.to_string(), ns.name.clone());
        live.namespace_labels.insert(ns.name.clone(), labels);
    }
    let mut pods = vec![];
    let mut lost = vec![];
    for w in inv.workloads.iter().filter(|w| here(&w.cluster)) {
        let Some(atom) = crate::inventory::check::atom_of(ir, inv, w) else {
            lost.push(format!("{}/{}", w.namespace, w.name));
            continue;
        };
        let mut named: BTreeMap<String, PortSet> = BTreeMap::new();
        for p in w.ports.iter().filter(|p| p.number > 0) {
            if let Some(n) = &p.name {
                named
                    .entry(n.clone())
                    .or_default()
                    .union_with(&PortSet::range(p.protocol, PortRange::new(p.number, p.number)));
            }
        }
        pods.push(Pod {
            atom,
            namespace: w.namespace.clone(),
            name: w.name.clone(),
            labels: w.pod_labels.clone(),
            named,
            unmanaged: ir.layout.zone(ir.atoms[atom].zone).unmanaged,
        });
    }
    warns.extend(lost_pods(&inputs, &lost, "workload(s) of the inventory"));
    Ok(evaluate(ir, sources, &inputs, &live, &pods, warns))
}

/// W016 for pods (or workloads) that belong to no one atom of the policy.
fn lost_pods(inputs: &[&LiveInput], lost: &[String], what: &str) -> Option<Diagnostic> {
    let first = inputs.first().filter(|_| !lost.is_empty())?;
    Some(
        Diagnostic::warning(
            parse::W_UNPLACED,
            parse::whole(first),
            format!(
                "{} {what} belong to no one atom of the policy (no zone has their namespace, or two services select them): {}; they are left out",
                lost.len(),
                lost.join(", ")
            ),
        )
        .with_help("give the zones these namespaces, or make the services' labels tell the pods apart"),
    )
}

/// The inputs that can hold manifests: a file named `.yaml`, `.yml` or
/// `.json`, or without an extension. Others (a directory of moat's output
/// holds `sources.tsv`) are skipped, with a W015 unless moat wrote them.
fn manifests<'a>(inputs: &[&'a LiveInput]) -> (Vec<&'a LiveInput>, Vec<Diagnostic>) {
    let mut warns = vec![];
    let mut out = vec![];
    for i in inputs {
        let ext = i
            .path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            None | Some("yaml" | "yml" | "json") => out.push(*i),
            _ if i
                .path
                .file_name()
                .is_some_and(|n| n == crate::backend::sources::FILE) => {}
            _ => warns.push(
                Diagnostic::warning(
                    parse::W_UNMODELLED,
                    parse::whole(i),
                    format!(
                        "`{}` is not named .yaml, .yml or .json; it is skipped",
                        i.path.display()
                    ),
                )
                .with_help("rename the file, or leave it out of the directory given to --live k8s:"),
            ),
        }
    }
    (out, warns)
}

/// One pod per atom that selects pods and per namespace of it, labelled to
/// match the atom's first selector term there.
pub fn representative_pods(ir: &Ir) -> Vec<Pod> {
    let mut out = vec![];
    for a in 0..ir.atoms.len() {
        let Ok(groups) = select::pod_groups(ir, a) else {
            continue;
        };
        let zone = ir.atoms[a].zone;
        for g in groups {
            let Some(term) = g.terms.first() else { continue };
            // Namespaces chosen by label: one stands for them all.
            let names = if g.ns_labels.is_empty() {
                g.namespaces.clone()
            } else {
                vec![labelled_namespace(ir, zone)]
            };
            for ns in names {
                out.push(Pod {
                    atom: a,
                    namespace: ns,
                    name: format!("{}-representative", ir.atoms[a].name.replace(['.', '_'], "-")),
                    labels: term.equal.clone(),
                    named: ir.atoms[a].ports.clone(),
                    unmanaged: ir.layout.zone(zone).unmanaged,
                });
            }
        }
    }
    out
}

/// The representative namespace of a zone whose namespaces are chosen by label.
fn labelled_namespace(ir: &Ir, zone: usize) -> String {
    format!(
        "moat-representative-{}",
        ir.zones[zone].name.replace(['.', '_'], "-")
    )
}

/// The labels of the representative namespaces of zones whose namespaces are chosen by label.
fn representative_namespaces(ir: &Ir) -> BTreeMap<String, BTreeMap<String, String>> {
    (0..ir.zones.len())
        .filter(|z| !ir.layout.zone(*z).ns_labels.is_empty())
        .map(|z| {
            let ns = labelled_namespace(ir, z);
            let mut labels = ir.layout.zone(z).ns_labels.clone();
            labels.insert(NAMESPACE_NAME_LABEL.to_string(), ns.clone());
            (ns, labels)
        })
        .collect()
}

/// The atom a pod belongs to: the one service whose namespace it is in and
/// whose labels it all has, else the remainder of the one zone that has its
/// namespace; `None` when that is not one atom.
fn owner(ir: &Ir, ns: &str, labels: &BTreeMap<String, String>) -> Option<AtomId> {
    let services: Vec<AtomId> = (0..ir.atoms.len())
        .filter(|&a| {
            let at = &ir.atoms[a];
            !at.is_remainder()
                && !at.pods.is_empty()
                && at.namespaces.iter().any(|n| n == ns)
                && at.pods.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .collect();
    match services.as_slice() {
        [one] => return Some(*one),
        [] => {}
        _ => return None,
    }
    let zones: Vec<AtomId> = ir
        .zones
        .iter()
        .filter(|z| z.namespaces.iter().any(|n| n == ns))
        .map(|z| z.remainder)
        .collect();
    match zones.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn place_pods(
    ir: &Ir,
    inputs: &[&LiveInput],
    docs: &[(Meta, Option<PodSpec>)],
) -> (Vec<Pod>, Vec<Diagnostic>) {
    let mut out = vec![];
    let mut lost = vec![];
    for (meta, spec) in docs {
        let ns = meta.namespace.clone().unwrap_or_else(|| "default".into());
        let Some(atom) = owner(ir, &ns, &meta.labels) else {
            lost.push(format!("{ns}/{}", meta.name));
            continue;
        };
        let mut named: BTreeMap<String, PortSet> = BTreeMap::new();
        for c in spec.iter().flat_map(|s| s.containers.iter()) {
            for p in &c.ports {
                let proto = protocol(p.protocol.as_deref()).unwrap_or(Proto::Tcp);
                if let (Some(n), true) = (&p.name, p.container_port > 0) {
                    named.entry(n.clone()).or_default().union_with(&PortSet::range(
                        proto,
                        PortRange::new(p.container_port, p.container_port),
                    ));
                }
            }
        }
        out.push(Pod {
            atom,
            namespace: ns,
            name: meta.name.clone(),
            labels: meta.labels.clone(),
            named,
            unmanaged: ir.layout.zone(ir.atoms[atom].zone).unmanaged,
        });
    }
    let warns = lost_pods(inputs, &lost, "pod(s)").into_iter().collect();
    (out, warns)
}

fn protocol(p: Option<&str>) -> Option<Proto> {
    match p.unwrap_or("TCP") {
        "TCP" => Some(Proto::Tcp),
        "UDP" => Some(Proto::Udp),
        "SCTP" => Some(Proto::Sctp),
        _ => None,
    }
}

fn load(sources: &SourceMap, inputs: &[&LiveInput]) -> Result<Live, Vec<Diagnostic>> {
    let mut errs = vec![];
    let mut live = Live {
        policies: vec![],
        namespace_labels: BTreeMap::new(),
        pods: vec![],
    };
    for input in inputs {
        let docs = match parse::documents::<Option<Spanned<Doc>>>(sources, input, WHAT) {
            Ok(d) => d,
            Err(d) => {
                errs.push(d);
                continue;
            }
        };
        let mut stack: Vec<Spanned<Doc>> = docs.into_iter().flatten().collect();
        stack.reverse();
        while let Some(doc) = stack.pop() {
            let loc = doc.referenced;
            let Doc {
                kind,
                metadata,
                spec,
                items,
            } = doc.value;
            match kind.as_deref() {
                Some("List") | Some("NetworkPolicyList") | Some("PodList") | Some("NamespaceList") => {
                    let mut items = items.unwrap_or_default();
                    items.reverse();
                    stack.extend(items);
                }
                Some("NetworkPolicy") => match policy(sources, input, &loc, metadata, spec) {
                    Ok(p) => live.policies.push(p),
                    Err(d) => errs.extend(d),
                },
                Some("Namespace") => {
                    let mut labels = metadata.labels;
                    labels.insert(NAMESPACE_NAME_LABEL.to_string(), metadata.name.clone());
                    live.namespace_labels.insert(metadata.name, labels);
                }
                Some("Pod") => {
                    let spec = spec.and_then(|s| serde_json::from_value::<PodSpec>(s.value).ok());
                    live.pods.push((metadata, spec));
                }
                Some(_) => {}
                None => errs.push(
                    Diagnostic::error(
                        parse::E_SHAPE,
                        parse::span_at(sources, input, &loc),
                        format!("a document of k8s input `{}` has no `kind`", input.path.display()),
                    )
                    .with_help(format!("give Kubernetes objects, such as the output of {WHAT}")),
                ),
            }
        }
    }
    if errs.is_empty() {
        Ok(live)
    } else {
        crate::diag::sort(&mut errs);
        Err(errs)
    }
}

/// One NetworkPolicy document as evaluated, or E038/E039 at it.
fn policy(
    sources: &SourceMap,
    input: &LiveInput,
    loc: &serde_saphyr::Location,
    meta: Meta,
    spec: Option<Spanned<serde_json::Value>>,
) -> Result<Policy, Vec<Diagnostic>> {
    let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
    let object = format!("{namespace}/{}", meta.name);
    let Some(spec) = spec else {
        return Err(vec![Diagnostic::error(
            parse::E_SHAPE,
            parse::span_at(sources, input, loc),
            format!("NetworkPolicy `{object}` has no `spec`"),
        )
        .with_help("every NetworkPolicy has a spec with at least a podSelector")]);
    };
    let sloc = spec.referenced;
    let at = parse::span_at(sources, input, &sloc);
    let spec: Spec = serde_json::from_value(spec.value).map_err(|e| {
        vec![
            Diagnostic::error(parse::E_SHAPE, at, format!("NetworkPolicy `{object}`: {e}")).with_help(
                "the spec holds podSelector, policyTypes, ingress and egress as in networking.k8s.io/v1",
            ),
        ]
    })?;
    let mut errs = vec![];
    let bad = |m: String| {
        Diagnostic::error(parse::E_VALUE, at, format!("NetworkPolicy `{object}`: {m}"))
            .with_help("see the networking.k8s.io/v1 NetworkPolicy reference for the allowed values")
    };
    let check_selector = |s: &Selector, errs: &mut Vec<Diagnostic>| {
        for e in &s.match_expressions {
            if !matches!(e.operator.as_str(), "In" | "NotIn" | "Exists" | "DoesNotExist") {
                errs.push(bad(format!("selector operator `{}`", e.operator)));
            }
        }
    };
    check_selector(&spec.pod_selector, &mut errs);
    let types: Vec<String> = spec.policy_types.clone().unwrap_or_else(|| {
        let mut t = vec!["Ingress".to_string()];
        if spec.egress.is_some() {
            t.push("Egress".into());
        }
        t
    });
    for t in &types {
        if t != "Ingress" && t != "Egress" {
            errs.push(bad(format!("policy type `{t}`")));
        }
    }
    let rules = |kind: &str, list: Vec<RuleDoc>, errs: &mut Vec<Diagnostic>| {
        let mut out = vec![];
        for (i, (peers, ports)) in list.into_iter().enumerate() {
            let peers = peers.filter(|p| !p.is_empty()).map(|ps| {
                ps.into_iter()
                    .filter_map(|p| match (p.ip_block, p.namespace_selector, p.pod_selector) {
                        (Some(b), None, None) => {
                            let cidr = b.cidr.parse::<IpNet>();
                            let except: Result<Vec<IpNet>, _> =
                                b.except.iter().map(|e| e.parse::<IpNet>()).collect();
                            match (cidr, except) {
                                (Ok(c), Ok(x)) => Some(Peer::Block(cover::block(&c.trunc(), &x))),
                                _ => {
                                    errs.push(bad(format!(
                                        "ipBlock `{}` (except {:?}) is not CIDRs",
                                        b.cidr, b.except
                                    )));
                                    None
                                }
                            }
                        }
                        (None, ns, pods) if ns.is_some() || pods.is_some() => {
                            for s in ns.iter().chain(pods.iter()) {
                                check_selector(s, errs);
                            }
                            Some(Peer::Pods { namespaces: ns, pods })
                        }
                        _ => {
                            errs.push(bad(format!(
                                "a peer of {kind}[{i}] holds an ipBlock with a selector, or nothing"
                            )));
                            None
                        }
                    })
                    .collect()
            });
            let mut out_ports = vec![];
            for p in ports.unwrap_or_default() {
                let Some(proto) = protocol(p.protocol.as_deref()) else {
                    errs.push(bad(format!("protocol `{}`", p.protocol.unwrap_or_default())));
                    continue;
                };
                match (&p.port, p.end_port) {
                    (None, None) => out_ports.push(Port::Numbers(proto, PortRange::FULL)),
                    (Some(serde_json::Value::String(n)), None) => {
                        out_ports.push(Port::Named(proto, n.clone()))
                    }
                    (Some(v), end) => match (v.as_u64(), end) {
                        (Some(lo), None) if (1..=65535).contains(&lo) => {
                            out_ports.push(Port::Numbers(proto, PortRange::new(lo as u16, lo as u16)))
                        }
                        (Some(lo), Some(hi))
                            if (1..=65535).contains(&lo) && (lo..=65535).contains(&u64::from(hi)) =>
                        {
                            out_ports.push(Port::Numbers(proto, PortRange::new(lo as u16, hi as u16)))
                        }
                        _ => errs.push(bad(format!("port {v} (endPort {end:?})"))),
                    },
                    (None, Some(_)) => errs.push(bad("endPort without port".into())),
                }
            }
            out.push(Rule {
                live: LiveRule {
                    span: at,
                    object: Some(object.clone()),
                    text: format!("NetworkPolicy {object} {kind}[{i}]"),
                },
                peers,
                ports: out_ports,
            });
        }
        out
    };
    let ingress = types.iter().any(|t| t == "Ingress").then(|| {
        let list = spec
            .ingress
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.from, r.ports))
            .collect();
        rules("ingress", list, &mut errs)
    });
    let egress = types.iter().any(|t| t == "Egress").then(|| {
        let list = spec
            .egress
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.to, r.ports))
            .collect();
        rules("egress", list, &mut errs)
    });
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Policy {
        namespace,
        selector: spec.pod_selector,
        ingress,
        egress,
    })
}

/// The other end of a packet, seen from the pod whose policies decide.
#[derive(Clone, Copy)]
enum End<'p> {
    Pod(&'p Pod),
    Addr(Iv),
}

struct Eval<'a> {
    live: &'a Live,
    /// Per pod: the policies selecting it for ingress, for egress (`None`: open).
    isolation: Vec<[Option<Vec<usize>>; 2]>,
    /// Named ports used towards addresses (W015), by rule text.
    unresolved: std::cell::RefCell<BTreeSet<(String, crate::span::Span)>>,
}

impl Eval<'_> {
    fn ns_labels(&self, ns: &str) -> BTreeMap<String, String> {
        self.live
            .namespace_labels
            .get(ns)
            .cloned()
            .unwrap_or_else(|| BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), ns.to_string())]))
    }

    fn peer_matches(&self, policy: &Policy, peer: &Peer, end: End) -> bool {
        match (peer, end) {
            (Peer::Block(ivs), End::Addr(a)) => ivs.iter().any(|b| a.inside(b)),
            (Peer::Pods { namespaces, pods }, End::Pod(p)) => {
                let ns_ok = match namespaces {
                    None => p.namespace == policy.namespace,
                    Some(sel) => sel.matches(&self.ns_labels(&p.namespace)),
                };
                ns_ok && pods.as_ref().is_none_or(|s| s.matches(&p.labels))
            }
            _ => false,
        }
    }

    /// The ports a rule lets through, resolved on the destination.
    fn rule_ports(&self, rule: &Rule, dest: End) -> PortSet {
        if rule.ports.is_empty() {
            return PortSet::any();
        }
        let mut out = PortSet::empty();
        for p in &rule.ports {
            match p {
                Port::Numbers(proto, r) => out.union_with(&PortSet::range(*proto, *r)),
                Port::Named(proto, name) => match dest {
                    End::Pod(d) => {
                        if let Some(set) = d.named.get(name) {
                            out.union_with(&set.intersect(&PortSet::proto(*proto)));
                        }
                    }
                    End::Addr(_) => {
                        self.unresolved.borrow_mut().insert((
                            format!("named port `{name}` in {}", rule.live.text),
                            rule.live.span,
                        ));
                        out.union_with(&PortSet::proto(*proto));
                    }
                },
            }
        }
        out
    }

    /// What `pod`'s policies of one direction let through with `other`
    /// (`dest` is where named ports resolve), and which rules did.
    /// True when the pod is in an `unmanaged` zone and no live policy
    /// selects it in that direction: the input does not speak for what it lets through.
    fn unmanaged_open(&self, pods: &[Pod], pod: usize, egress: bool) -> bool {
        pods[pod].unmanaged && self.isolation[pod][usize::from(egress)].is_none()
    }

    fn side(&self, pod: usize, egress: bool, other: End, dest: End) -> (PortSet, Vec<(LiveRule, PortSet)>) {
        let Some(policies) = &self.isolation[pod][usize::from(egress)] else {
            return (PortSet::any(), vec![]);
        };
        let mut ports = PortSet::empty();
        let mut by = vec![];
        for &i in policies {
            let p = &self.live.policies[i];
            let rules = if egress { &p.egress } else { &p.ingress };
            for r in rules.iter().flatten() {
                let hit = r
                    .peers
                    .as_ref()
                    .is_none_or(|ps| ps.iter().any(|peer| self.peer_matches(p, peer, other)));
                if !hit {
                    continue;
                }
                let got = self.rule_ports(r, dest);
                if !got.is_empty() {
                    ports.union_with(&got);
                    by.push((r.live.clone(), got));
                }
            }
        }
        (ports, by)
    }
}

/// One end of a cell: a pod, or a piece of an atom's addresses.
enum Place<'p> {
    Pod(&'p Pod),
    Addr(Iv),
}

/// What one (from, to) of a row gets, and the rules that let it.
struct Cell<'p> {
    from: Place<'p>,
    to: Place<'p>,
    ports: PortSet,
    by: Vec<(LiveRule, PortSet)>,
}

/// The places of a partial row: the pods by name, the addresses merged into ranges.
fn places<'a, 'p: 'a>(it: impl Iterator<Item = &'a Place<'p>>) -> Vec<String> {
    let mut pods = BTreeSet::new();
    let mut ivs = vec![];
    for p in it {
        match p {
            Place::Pod(p) => {
                pods.insert(format!("pod {}/{}", p.namespace, p.name));
            }
            Place::Addr(iv) => ivs.push(*iv),
        }
    }
    let mut out: Vec<String> = cover::merged(ivs).iter().map(Iv::text).collect();
    out.extend(pods);
    out
}

fn evaluate(
    ir: &Ir,
    sources: &SourceMap,
    inputs: &[&LiveInput],
    live: &Live,
    pods: &[Pod],
    mut warns: Vec<Diagnostic>,
) -> (LiveMatrix, Vec<Diagnostic>) {
    let _ = sources;
    let isolation = pods
        .iter()
        .map(|pod| {
            let pick = |egress: bool| {
                let sel: Vec<usize> = live
                    .policies
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| {
                        p.namespace == pod.namespace
                            && p.selector.matches(&pod.labels)
                            && if egress {
                                p.egress.is_some()
                            } else {
                                p.ingress.is_some()
                            }
                    })
                    .map(|(i, _)| i)
                    .collect();
                (!sel.is_empty()).then_some(sel)
            };
            [pick(false), pick(true)]
        })
        .collect();
    let ev = Eval {
        live,
        isolation,
        unresolved: Default::default(),
    };
    let pod_atoms: BTreeSet<AtomId> = pods.iter().map(|p| p.atom).collect();
    let cuts: Vec<Iv> = live
        .policies
        .iter()
        .flat_map(|p| p.ingress.iter().chain(p.egress.iter()).flatten())
        .flat_map(|r| r.peers.iter().flatten())
        .flat_map(|peer| match peer {
            Peer::Block(ivs) => ivs.clone(),
            Peer::Pods { .. } => vec![],
        })
        .collect();
    // Atoms reached by address (addresses, and no pod selector: a remainder
    // whose zone's services take every pod has no members at all), as pieces
    // no block cuts through.
    let addr_atoms: Vec<(AtomId, Vec<Iv>)> = (0..ir.atoms.len())
        .filter(|a| !pod_atoms.contains(a) && !select::selects_pods(ir, *a) && ir.atoms[*a].has_addrs())
        .map(|a| (a, cover::split(&cover::intervals(&ir.atoms[a].addrs), &cuts)))
        .collect();
    let by_atom: BTreeMap<AtomId, Vec<usize>> =
        pods.iter().enumerate().fold(BTreeMap::new(), |mut m, (i, p)| {
            m.entry(p.atom).or_insert_with(Vec::new).push(i);
            m
        });
    let mut out = LiveMatrix::new();
    // One cell: what each (from piece, to piece) gets; the row is their union.
    let mut put = |key: (AtomId, AtomId), cells: Vec<Cell>| {
        let mut ports = PortSet::empty();
        for c in &cells {
            ports.union_with(&c.ports);
        }
        // An empty row stays: the live state blocks the pair (the scope convention).
        if cells.is_empty() {
            return;
        }
        let whole = cells.iter().all(|c| c.ports == ports);
        // The ports every cell gets; the rest pass for only part of the pair.
        let every = cells.iter().fold(ports.clone(), |acc, c| acc.intersect(&c.ports));
        let mut by: Vec<(LiveRule, PortSet)> = vec![];
        for c in &cells {
            for (r, p) in &c.by {
                match by.iter_mut().find(|(x, _)| x == r) {
                    Some((_, q)) => q.union_with(p),
                    None => by.push((r.clone(), p.clone())),
                }
            }
        }
        by.sort_by(|a, b| a.0.cmp(&b.0));
        let partial = (!whole && !ports.is_empty()).then(|| {
            let hit: Vec<&Cell> = cells.iter().filter(|c| !c.ports.is_empty()).collect();
            Partial {
                from: places(hit.iter().map(|c| &c.from)),
                to: places(hit.iter().map(|c| &c.to)),
                ports: ports.subtract(&every),
            }
        });
        out.insert(key, LiveFlow { ports, by, partial });
    };
    for (&a, ps) in &by_atom {
        for (&b, qs) in &by_atom {
            let mut cells = vec![];
            for &p in ps {
                for &q in qs {
                    let (pp, qq) = (&pods[p], &pods[q]);
                    if ev.unmanaged_open(pods, p, true) && ev.unmanaged_open(pods, q, false) {
                        continue;
                    }
                    let (e, mut eby) = ev.side(p, true, End::Pod(qq), End::Pod(qq));
                    let (i, iby) = ev.side(q, false, End::Pod(pp), End::Pod(qq));
                    let got = e.intersect(&i);
                    eby.extend(iby);
                    let by = eby
                        .into_iter()
                        .map(|(r, x)| (r, x.intersect(&got)))
                        .filter(|(_, x)| !x.is_empty())
                        .collect();
                    cells.push(Cell {
                        from: Place::Pod(pp),
                        to: Place::Pod(qq),
                        ports: got,
                        by,
                    });
                }
            }
            put((a, b), cells);
        }
        for (x, pieces) in &addr_atoms {
            for egress in [true, false] {
                let mut cells = vec![];
                for &p in ps {
                    if ev.unmanaged_open(pods, p, egress) {
                        continue;
                    }
                    for piece in pieces {
                        let pp = &pods[p];
                        let (got, by) = if egress {
                            ev.side(p, true, End::Addr(*piece), End::Addr(*piece))
                        } else {
                            ev.side(p, false, End::Addr(*piece), End::Pod(pp))
                        };
                        let (from, to) = if egress {
                            (Place::Pod(pp), Place::Addr(*piece))
                        } else {
                            (Place::Addr(*piece), Place::Pod(pp))
                        };
                        cells.push(Cell {
                            from,
                            to,
                            ports: got,
                            by,
                        });
                    }
                }
                put(if egress { (a, *x) } else { (*x, a) }, cells);
            }
        }
    }
    for (what, span) in ev.unresolved.into_inner() {
        warns.push(
            Diagnostic::warning(
                parse::W_UNMODELLED,
                span,
                format!("moat does not evaluate {what} towards addresses; it is taken as every port of its protocol"),
            )
            .with_help("a named port resolves on a pod; name the port by number for ipBlock peers"),
        );
    }
    let placed: BTreeSet<AtomId> = pod_atoms;
    warns.extend(parse::unplaced(
        ir,
        inputs,
        (0..ir.atoms.len()).filter(|a| select::selects_pods(ir, *a) && !placed.contains(a)),
        "no pod",
        "they are left out of the matrix",
    ));
    (out, warns)
}
