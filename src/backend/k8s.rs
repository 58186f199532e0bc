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
use crate::ir::{AllowId, AtomId, Flow, Ir, ZoneId};
use model::{EgressRule, IngressRule, LabelSelector, NetworkPolicy, NetworkPolicySpec, ObjectMeta};
use rules::Rule;
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
        let contents = serde_saphyr::to_string_multiple(&docs)
            .map_err(|e| vec![Diagnostic::error_nospan("E013", format!("cannot serialise the policies of namespace `{ns}`: {e}"))])?;
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

/// Whom a policy applies to: every pod of a zone, or the pods of one atom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Zone(ZoneId),
    Atom(AtomId),
}

/// A policy under construction: one owner, in one namespace, with one selector.
struct Draft {
    owner: Owner,
    selector: LabelSelector,
    ingress: Vec<IngressRule>,
    egress: Vec<EgressRule>,
    /// One line per rule, for the rules annotation.
    lines: Vec<String>,
    allows: BTreeSet<AllowId>,
}

impl Draft {
    fn new(owner: Owner, selector: LabelSelector) -> Draft {
        Draft { owner, selector, ingress: vec![], egress: vec![], lines: vec![], allows: BTreeSet::new() }
    }

    fn add(&mut self, ir: &Ir, egress: bool, rule: &Rule) {
        self.allows.extend(&rule.allows);
        let line = format!("{}: {}", rule.what, locs(ir, &rule.allows));
        if egress {
            self.lines.push(format!("egress to {line}"));
            self.egress.push(EgressRule { to: rule.peers.clone(), ports: rule.ports.clone() });
        } else {
            self.lines.push(format!("ingress from {line}"));
            self.ingress.push(IngressRule { from: rule.peers.clone(), ports: rule.ports.clone() });
        }
    }
}

/// A draft's key: namespace, owner, selector index.
type DraftKey = (String, Owner, usize);

/// The rules of each pod atom, ingress (`false`) and egress (`true`).
type AtomRules = BTreeMap<AtomId, Vec<(bool, Rule)>>;

/// Builds every namespace's documents: the default deny first, then one
/// policy per owner and selector, sorted by name.
fn build(ir: &Ir, flows: &[(AtomId, AtomId, &Flow)], groups: &BTreeMap<AtomId, Vec<PodGroup>>) -> BTreeMap<String, Vec<NetworkPolicy>> {
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
    let mut per_atom: AtomRules = BTreeMap::new();
    for ((subject, egress), ends) in sides {
        per_atom.entry(subject).or_default().extend(rules::rules(ir, &ends, groups).into_iter().map(|r| (egress, r)));
    }
    let shared = hoist(ir, &mut per_atom);
    let mut drafts: BTreeMap<DraftKey, Draft> = BTreeMap::new();
    for (zone, rules) in shared {
        for ns in &ir.zones[zone].namespaces {
            let d =
                drafts.entry((ns.clone(), Owner::Zone(zone), 0)).or_insert_with(|| Draft::new(Owner::Zone(zone), LabelSelector::default()));
            rules.iter().for_each(|(egress, r)| d.add(ir, *egress, r));
        }
    }
    for (atom, rules) in per_atom.into_iter().filter(|(_, r)| !r.is_empty()) {
        for g in &groups[&atom] {
            for ns in &g.namespaces {
                for (i, term) in g.terms.iter().enumerate() {
                    let d =
                        drafts.entry((ns.clone(), Owner::Atom(atom), i)).or_insert_with(|| Draft::new(Owner::Atom(atom), term.selector()));
                    rules.iter().for_each(|(egress, r)| d.add(ir, *egress, r));
                }
            }
        }
    }
    let mut out: BTreeMap<String, Vec<NetworkPolicy>> =
        namespaces(ir).into_iter().map(|ns| (ns.clone(), vec![default_deny(ir, &ns)])).collect();
    let mut by_ns: BTreeMap<String, Vec<(DraftKey, Draft)>> = BTreeMap::new();
    for (key, d) in drafts {
        by_ns.entry(key.0.clone()).or_default().push((key, d));
    }
    for (ns, ds) in by_ns {
        let mut policies = finish(ir, &ns, ds);
        policies.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        out.entry(ns).or_default().extend(policies);
    }
    out
}

/// Moves the rules that every pod atom of a zone has (same direction, peers
/// and ports) to the zone: one policy with `podSelector: {}` in each of its
/// namespaces holds them once. Every pod there is in one of those atoms, and
/// no other zone shares the namespace (E012), so this allows the same flows.
fn hoist(ir: &Ir, per_atom: &mut AtomRules) -> BTreeMap<ZoneId, Vec<(bool, Rule)>> {
    let mut out = BTreeMap::new();
    for (zi, z) in ir.zones.iter().enumerate() {
        let atoms: Vec<AtomId> = z.services.iter().copied().chain([z.remainder]).filter(|&a| select::selects_pods(ir, a)).collect();
        let Some((&first, rest)) = atoms.split_first() else { continue };
        if atoms.iter().any(|a| !per_atom.contains_key(a)) {
            continue;
        }
        let mut common: Vec<(bool, Rule)> = vec![];
        for (egress, rule) in &per_atom[&first] {
            if rest.iter().all(|a| per_atom[a].iter().any(|(e, r)| e == egress && r.same_as(rule))) {
                let mut merged = rule.clone();
                for a in rest {
                    if let Some((_, r)) = per_atom[a].iter().find(|(e, r)| e == egress && r.same_as(rule)) {
                        merged.allows.extend(&r.allows);
                    }
                }
                merged.allows.sort_unstable();
                merged.allows.dedup();
                common.push((*egress, merged));
            }
        }
        if common.is_empty() {
            continue;
        }
        for a in &atoms {
            if let Some(list) = per_atom.get_mut(a) {
                list.retain(|(e, r)| !common.iter().any(|(ce, cr)| ce == e && cr.same_as(r)));
            }
        }
        out.insert(zi, common);
    }
    out
}

/// Turns one namespace's drafts into policies with unique DNS-1123 names.
fn finish(ir: &Ir, ns: &str, drafts: Vec<(DraftKey, Draft)>) -> Vec<NetworkPolicy> {
    let mut terms: BTreeMap<Owner, usize> = BTreeMap::new();
    for ((_, owner, _), _) in &drafts {
        *terms.entry(*owner).or_default() += 1;
    }
    let mut named: Vec<(String, String, Draft)> = drafts
        .into_iter()
        .map(|((_, owner, i), d)| {
            let base = match owner {
                Owner::Zone(z) => format!("moat-{}", ir.zones[z].name),
                Owner::Atom(a) if ir.atoms[a].is_remainder() => format!("moat-{}-others", ir.atoms[a].name),
                Owner::Atom(a) => format!("moat-{}", ir.atoms[a].name),
            };
            let key = if terms[&owner] > 1 { format!("{base}-{}", i + 1) } else { base };
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
    let what = match d.owner {
        Owner::Zone(z) => format!("{} (every member: its services and the rest)", ir.zones[z].name),
        Owner::Atom(a) if ir.atoms[a].is_remainder() => format!("{} (zone members in none of its services)", ir.atoms[a].name),
        Owner::Atom(a) => ir.atoms[a].name.clone(),
    };
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
    let note = format!("default deny for policy {}: only the flows of the other moat policies in this namespace are allowed", ir.name);
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
