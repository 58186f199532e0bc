//! The k8s target: `networking.k8s.io/v1` NetworkPolicies, one multi-document
//! YAML file per namespace (`k8s/<namespace>.yaml`).
//!
//! Every namespace gets a default deny (ingress and egress). Every in-scope
//! flow then becomes an ingress rule on the destination's pods and an egress
//! rule on the source's pods. Pods are selected by namespace name and labels
//! ([`select`]); address-only peers become `ipBlock`s. One policy per
//! (namespace, atom, selector) carries the atom's rules and names the allows
//! (file:line) it enforces in its annotations.

mod check;
pub mod model;
pub mod names;
mod rules;
pub mod select;

pub use check::warnings;
pub use rules::{ip_blocks, policy_ports, protocol_name};

use super::{scope, Artefact, EmitOptions, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Flow, Ir};
use model::{EgressRule, IngressRule, LabelSelector, NetworkPolicy, NetworkPolicySpec, ObjectMeta};
use select::PodGroup;
use std::collections::{BTreeMap, BTreeSet};

/// The label every emitted object carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "moat");
/// Annotation: the allows (file:line) a policy enforces.
pub const ALLOWS_ANNOTATION: &str = "moat.io/allows";
/// Annotation: the atom a policy selects.
pub const ATOM_ANNOTATION: &str = "moat.io/atom";
/// Annotation: one line per rule, with the allows behind it.
pub const RULES_ANNOTATION: &str = "moat.io/rules";
/// The name of the per-namespace default deny.
pub const DEFAULT_DENY: &str = "moat-default-deny";

/// Compiles the policy to NetworkPolicies, or returns every E012/E013/E017 found.
pub fn emit(ir: &Ir, _opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let mut errs = check::errors(ir);
    let flows = match scope::flows(Target::K8s, ir) {
        Ok(f) => f,
        Err(e) => {
            errs.extend(e);
            vec![]
        }
    };
    let groups = check::pod_groups(ir, &flows, &mut errs);
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        return Err(errs);
    }
    let policies = build(ir, &flows, &groups);
    let mut out = vec![];
    for (ns, docs) in policies {
        let contents = serde_saphyr::to_string_multiple(&docs).map_err(|e| {
            vec![Diagnostic::error_nospan("E013", format!("cannot serialise the policies of namespace `{ns}`: {e}"))]
        })?;
        out.push(Artefact { path: format!("k8s/{ns}.yaml"), contents });
    }
    Ok(out)
}

/// Every namespace of every zone and atom, sorted.
pub fn namespaces(ir: &Ir) -> BTreeSet<String> {
    let zones = ir.zones.iter().flat_map(|z| z.namespaces.iter());
    let atoms = ir.atoms.iter().flat_map(|a| a.namespaces.iter());
    zones.chain(atoms).cloned().collect()
}

/// A policy under construction: one subject (namespace, atom, selector).
struct Draft {
    atom: AtomId,
    selector: LabelSelector,
    ingress: Vec<IngressRule>,
    egress: Vec<EgressRule>,
    /// One line per rule, for the rules annotation.
    lines: Vec<String>,
    allows: BTreeSet<AllowId>,
}

/// A draft with its atom and selector index, in one namespace.
type Subject = ((AtomId, usize), Draft);

/// Builds every namespace's documents: the default deny first, then one
/// policy per subject, sorted by name.
fn build(ir: &Ir, flows: &[(AtomId, AtomId, &Flow)], groups: &BTreeMap<AtomId, Vec<PodGroup>>) -> BTreeMap<String, Vec<NetworkPolicy>> {
    let mut drafts: BTreeMap<(String, AtomId, usize), Draft> = BTreeMap::new();
    // (subject, egress?) -> the atoms at the other end, with their flows.
    let mut sides: BTreeMap<(AtomId, bool), Vec<(AtomId, &Flow)>> = BTreeMap::new();
    for &(from, to, flow) in flows {
        if groups.contains_key(&to) {
            sides.entry((to, false)).or_default().push((from, flow));
        }
        if groups.contains_key(&from) {
            sides.entry((from, true)).or_default().push((to, flow));
        }
    }
    for ((subject, egress), ends) in sides {
        for rule in rules::rules(ir, &ends, groups) {
            for d in subjects(subject, &groups[&subject], &mut drafts) {
                d.allows.extend(&rule.allows);
                if egress {
                    d.lines.push(format!("egress to {}", rule.line));
                    d.egress.push(EgressRule { to: rule.peers.clone(), ports: rule.ports.clone() });
                } else {
                    d.lines.push(format!("ingress from {}", rule.line));
                    d.ingress.push(IngressRule { from: rule.peers.clone(), ports: rule.ports.clone() });
                }
            }
        }
    }
    let mut out: BTreeMap<String, Vec<NetworkPolicy>> =
        namespaces(ir).into_iter().map(|ns| (ns.clone(), vec![default_deny(ir, &ns)])).collect();
    let mut by_ns: BTreeMap<String, Vec<Subject>> = BTreeMap::new();
    for ((ns, atom, i), d) in drafts {
        by_ns.entry(ns).or_default().push(((atom, i), d));
    }
    for (ns, ds) in by_ns {
        let mut policies = finish(ir, &ns, ds);
        policies.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        out.entry(ns).or_default().extend(policies);
    }
    out
}

/// The drafts for every (namespace, selector) of `atom`, created on first use.
fn subjects<'a>(
    atom: AtomId,
    groups: &[PodGroup],
    drafts: &'a mut BTreeMap<(String, AtomId, usize), Draft>,
) -> Vec<&'a mut Draft> {
    let mut keys = vec![];
    for g in groups {
        for ns in &g.namespaces {
            for (i, term) in g.terms.iter().enumerate() {
                let key = (ns.clone(), atom, i);
                drafts.entry(key.clone()).or_insert_with(|| Draft {
                    atom,
                    selector: term.selector(),
                    ingress: vec![],
                    egress: vec![],
                    lines: vec![],
                    allows: BTreeSet::new(),
                });
                keys.push(key);
            }
        }
    }
    drafts.iter_mut().filter(|(k, _)| keys.contains(k)).map(|(_, d)| d).collect()
}

/// Turns one namespace's drafts into policies with unique DNS-1123 names.
fn finish(ir: &Ir, ns: &str, drafts: Vec<Subject>) -> Vec<NetworkPolicy> {
    let terms: BTreeMap<AtomId, usize> = drafts.iter().fold(BTreeMap::new(), |mut m, ((a, _), _)| {
        *m.entry(*a).or_default() += 1;
        m
    });
    let mut named: Vec<(String, String, Draft)> = drafts
        .into_iter()
        .map(|((atom, i), d)| {
            let a = &ir.atoms[atom];
            let base = if a.is_remainder() { format!("moat-{}-others", a.name) } else { format!("moat-{}", a.name) };
            let key = if terms[&atom] > 1 { format!("{base}-{}", i + 1) } else { base };
            (names::dns_label(&key), key, d)
        })
        .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (n, _, _) in &named {
        *seen.entry(n.clone()).or_default() += 1;
    }
    for (n, key, _) in &mut named {
        if seen[n.as_str()] > 1 || n == DEFAULT_DENY {
            *n = names::with_hash(n, key);
        }
    }
    named.into_iter().map(|(name, _, d)| policy(ir, ns, name, d)).collect()
}

fn policy(ir: &Ir, ns: &str, name: String, d: Draft) -> NetworkPolicy {
    let atom = &ir.atoms[d.atom];
    let what = if atom.is_remainder() { format!("{} (zone members in none of its services)", atom.name) } else { atom.name.clone() };
    let mut types = vec![];
    if !d.ingress.is_empty() {
        types.push("Ingress");
    }
    if !d.egress.is_empty() {
        types.push("Egress");
    }
    let annotations = BTreeMap::from([
        (ATOM_ANNOTATION.to_string(), what),
        (ALLOWS_ANNOTATION.to_string(), locs(ir, &d.allows.iter().copied().collect::<Vec<_>>())),
        (RULES_ANNOTATION.to_string(), d.lines.join("\n")),
    ]);
    NetworkPolicy {
        api_version: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(name, ns, annotations),
        spec: NetworkPolicySpec { pod_selector: d.selector, ingress: d.ingress, egress: d.egress, policy_types: types },
    }
}

fn default_deny(ir: &Ir, ns: &str) -> NetworkPolicy {
    let note = format!(
        "default deny for policy {}: only the flows of the other moat policies in this namespace are allowed",
        ir.name
    );
    NetworkPolicy {
        api_version: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(DEFAULT_DENY.to_string(), ns, BTreeMap::from([("moat.io/description".to_string(), note)])),
        spec: NetworkPolicySpec {
            pod_selector: LabelSelector::default(),
            ingress: vec![],
            egress: vec![],
            policy_types: vec!["Ingress", "Egress"],
        },
    }
}

fn meta(name: String, ns: &str, annotations: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name,
        namespace: ns.to_string(),
        labels: BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]),
        annotations,
    }
}

/// `file:line` of each allow, comma-separated, in allow order.
pub(crate) fn locs(ir: &Ir, allows: &[AllowId]) -> String {
    let mut seen = BTreeSet::new();
    let v: Vec<&str> = allows.iter().map(|&a| ir.allows[a].loc.as_str()).filter(|l| seen.insert(*l)).collect();
    v.join(", ")
}

