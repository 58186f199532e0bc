//! The k8s target: `networking.k8s.io/v1` NetworkPolicies, one multi-document
//! YAML file per namespace (`k8s/<namespace>.yaml`; `k8s/<cluster>/<namespace>.yaml`
//! when the policy declares clusters).
//!
//! Every namespace gets a default deny (ingress and egress). Every in-scope
//! flow then becomes an ingress rule on the destination's pods and an egress
//! rule on the source's pods. Pods are selected by namespace name and labels
//! ([`select`]); address-only peers become `ipBlock`s. One policy per
//! (namespace, atom, selector) carries the atom's rules and names the allows
//! (file:line) it enforces in its annotations.

mod check;
pub mod clusters;
pub mod model;
pub mod names;
mod rules;
pub mod select;

pub use check::warnings;
pub use rules::{ip_blocks, policy_ports, protocol_name};

use super::{scope, Artefact, EmitOptions, Sink, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Flow, Ir, ZoneId};
use model::{EgressRule, IngressRule, LabelSelector, NetworkPolicy, NetworkPolicySpec, ObjectMeta};
use rules::{End, PeerTable, Rule, Shape};
use select::PodGroup;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

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
pub fn emit(ir: &Ir, opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let mut out = vec![];
    emit_into(ir, opts, &mut out)?;
    Ok(out)
}

/// [`emit`], handing each namespace's file to `sink` as soon as it is
/// serialised. Every E012/E013/E017 is found before the first file.
pub fn emit_into(ir: &Ir, opts: &EmitOptions, sink: &mut dyn Sink) -> Result<(), Vec<Diagnostic>> {
    if ir.layout.clusters.is_empty() {
        return emit_cluster(ir, opts, "k8s", sink);
    }
    // One directory per cluster (`k8s/<cluster>/<namespace>.yaml`): each
    // cluster is compiled from a view where the other clusters' atoms are
    // reached by their addresses only, which is all a NetworkPolicy of this
    // cluster can name of them.
    let errs = clusters::cross_cluster_errors(ir);
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut staged = vec![];
    let mut errs = vec![];
    for (c, cluster) in ir.layout.clusters.iter().enumerate() {
        let view = clusters::view(ir, c);
        if let Err(e) = emit_cluster(&view, opts, &format!("k8s/{}", cluster.name), &mut staged) {
            errs.extend(e);
        }
    }
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        return Err(errs);
    }
    for a in staged {
        sink.put(a);
    }
    Ok(())
}

/// [`emit_into`] for the namespaces of one cluster (or of the only, unnamed
/// one), their files under `dir`.
fn emit_cluster(ir: &Ir, opts: &EmitOptions, dir: &str, sink: &mut dyn Sink) -> Result<(), Vec<Diagnostic>> {
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
    let table = PeerTable::new(ir, &groups);
    let owned = owner_rules(ir, &flows, &groups, &table);
    let bodies: BTreeMap<Owner, Body> = owned
        .iter()
        .map(|(o, rules)| (*o, Body::new(ir, rules)))
        .collect();
    let mut drafts = drafts(ir, &groups, &bodies);
    let work: Vec<_> = namespaces(ir)
        .into_iter()
        .map(|ns| {
            let d = drafts.remove(ns.as_str()).unwrap_or_default();
            (ns, d)
        })
        .collect();
    // Serialising is two thirds of this target (serde-saphyr): the namespaces'
    // files are independent, so they are written on `opts.threads` threads
    // and handed to the sink here, in whatever order they finish.
    let threads = opts.threads.min(work.len()).max(1);
    let queue = std::sync::Mutex::new(work.into_iter());
    let (tx, rx) = std::sync::mpsc::channel();
    let mut failed = vec![];
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (tx, queue, bodies) = (tx.clone(), &queue, &bodies);
            s.spawn(move || loop {
                let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                let Some((ns, ns_drafts)) = next else { break };
                let mut docs = vec![default_deny(ir, &ns)];
                docs.extend(finish(ir, &ns, ns_drafts, bodies));
                let file = serialise(&ns, &docs).map(|contents| Artefact {
                    path: format!("{dir}/{ns}.yaml"),
                    contents,
                });
                if tx.send(file).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for file in rx {
            match file {
                Ok(a) => sink.put(a),
                Err(d) => failed.extend(d),
            }
        }
    });
    if failed.is_empty() {
        Ok(())
    } else {
        crate::diag::sort(&mut failed);
        Err(failed)
    }
}

/// One namespace's documents as multi-document YAML.
fn serialise(ns: &str, docs: &[NetworkPolicy]) -> Result<String, Vec<Diagnostic>> {
    serde_saphyr::to_string_multiple(docs).map_err(|e| {
        vec![Diagnostic::error_nospan(
            "E013",
            format!("cannot serialise the policies of namespace `{ns}`: {e}"),
        )]
    })
}

/// Every namespace of every managed zone and atom, sorted: each gets a
/// default deny. (An unmanaged zone's namespaces get nothing.)
pub fn namespaces(ir: &Ir) -> BTreeSet<String> {
    let zones = (ir.zones.iter().enumerate())
        .filter(|(z, _)| !ir.layout.zone(*z).unmanaged)
        .flat_map(|(_, z)| z.namespaces.iter());
    let atoms = (ir.atoms.iter().enumerate())
        .filter(|(a, _)| !ir.is_unmanaged(*a))
        .flat_map(|(_, a)| a.namespaces.iter());
    zones.chain(atoms).cloned().collect()
}

/// Whom a policy applies to: every pod of a zone, or the pods of one atom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Zone(ZoneId),
    Atom(AtomId),
}

/// The rules of each owner, ingress (`false`) and egress (`true`), in order.
type OwnerRules<'a> = BTreeMap<Owner, Vec<(bool, Rule<'a>)>>;

/// What every policy of one owner holds, whatever its namespace and
/// selector: built once, borrowed by each of them.
struct Body<'a> {
    ingress: Vec<IngressRule<'a>>,
    egress: Vec<EgressRule<'a>>,
    /// The rules annotation: one line per rule, with the allows behind it.
    lines: String,
    /// The allows annotation.
    allows: String,
}

impl<'a> Body<'a> {
    fn new(ir: &Ir, rules: &'a [(bool, Rule<'a>)]) -> Body<'a> {
        let mut body = Body {
            ingress: vec![],
            egress: vec![],
            lines: String::new(),
            allows: String::new(),
        };
        let mut allows: Vec<AllowId> = vec![];
        for (egress, rule) in rules {
            allows.extend(&rule.allows);
            if !body.lines.is_empty() {
                body.lines.push('\n');
            }
            if *egress {
                body.lines.push_str("egress to ");
                body.egress.push(EgressRule {
                    to: rule.peers,
                    ports: &rule.ports,
                });
            } else {
                body.lines.push_str("ingress from ");
                body.ingress.push(IngressRule {
                    from: rule.peers,
                    ports: &rule.ports,
                });
            }
            match rule.end {
                End::Zone(z) => body
                    .lines
                    .extend(["zone ", ir.zones[z].name.as_str(), " (every member)"]),
                End::Atom(a) => body.lines.push_str(&ir.atoms[a].name),
            }
            let _ = write!(body.lines, " {}: ", rule.port_set);
            push_locs(&mut body.lines, ir, &rule.allows);
        }
        allows.sort_unstable();
        allows.dedup();
        push_locs(&mut body.allows, ir, &allows);
        // Bodies live until every namespace is written: no slack.
        body.lines.shrink_to_fit();
        body.allows.shrink_to_fit();
        body
    }
}

/// The rules of every owner: each pod atom's rules with its peers, less those
/// hoisted to its zone ([`hoist`]); atoms left with none have no policy.
fn owner_rules<'a>(
    ir: &Ir,
    flows: &[(AtomId, AtomId, &'a Flow)],
    groups: &BTreeMap<AtomId, Vec<PodGroup>>,
    table: &'a PeerTable,
) -> OwnerRules<'a> {
    // (subject, egress?) -> the atoms at the other end, with their flows.
    let mut sides: BTreeMap<(AtomId, bool), Vec<(AtomId, &Flow)>> = BTreeMap::new();
    let subject = |a: AtomId| groups.contains_key(&a) && is_subject(ir, a);
    for &(from, to, flow) in flows {
        if subject(to) {
            sides.entry((to, false)).or_default().push((from, flow));
        }
        if subject(from) {
            sides.entry((from, true)).or_default().push((to, flow));
        }
    }
    let mut per_atom: BTreeMap<AtomId, Vec<(bool, Rule)>> = BTreeMap::new();
    for ((subject, egress), ends) in sides {
        per_atom
            .entry(subject)
            .or_default()
            .extend(rules::rules(ir, &ends, table).into_iter().map(|r| (egress, r)));
    }
    let shared = hoist(ir, &mut per_atom);
    let zones = shared.into_iter().map(|(z, r)| (Owner::Zone(z), r));
    zones
        .chain(
            per_atom
                .into_iter()
                .filter(|(_, r)| !r.is_empty())
                .map(|(a, r)| (Owner::Atom(a), r)),
        )
        .collect()
}

/// True when policies are written for the atom's pods: it has namespaces by
/// name and its zone is managed (an unmanaged zone, and one whose namespaces
/// its labels choose, are selected only as peers).
fn is_subject(ir: &Ir, atom: AtomId) -> bool {
    ir.atoms[atom].has_namespaces() && !ir.is_unmanaged(atom)
}

/// The policies each namespace needs, by namespace: one per owner and
/// selector there (`(owner, selector index, selector)`).
fn drafts<'n>(
    ir: &'n Ir,
    groups: &'n BTreeMap<AtomId, Vec<PodGroup>>,
    bodies: &BTreeMap<Owner, Body>,
) -> BTreeMap<&'n str, Vec<Draft>> {
    let mut out: BTreeMap<&str, Vec<Draft>> = BTreeMap::new();
    for owner in bodies.keys() {
        match *owner {
            Owner::Zone(z) => {
                let namespaces: BTreeSet<&str> = ir.zones[z].namespaces.iter().map(String::as_str).collect();
                let claims = &ir.layout.zone(z).claims;
                for ns in namespaces {
                    // every member there: the whole namespace, or the zone's share of it
                    let selector = claims.get(ns).map_or_else(LabelSelector::default, |c| {
                        select::PodTerm {
                            equal: c.equal.clone(),
                            not_in: c.not_in.clone(),
                        }
                        .selector()
                    });
                    out.entry(ns).or_default().push((*owner, 0, selector));
                }
            }
            Owner::Atom(a) => {
                for g in &groups[&a] {
                    for ns in &g.namespaces {
                        let list = out.entry(ns.as_str()).or_default();
                        list.extend(
                            g.terms
                                .iter()
                                .enumerate()
                                .map(|(i, term)| (*owner, i, term.selector())),
                        );
                    }
                }
            }
        }
    }
    out
}

/// A policy to be: its owner, selector index and pod selector.
type Draft = (Owner, usize, LabelSelector);

/// Moves the rules that every pod atom of a zone has (same direction, peers
/// and ports) to the zone: one policy with `podSelector: {}` in each of its
/// namespaces (its selector where it shares one) holds them once. Every pod
/// there is in one of those atoms, and no other zone shares those pods (E012,
/// E021), so this allows the same flows.
fn hoist<'a>(
    ir: &Ir,
    per_atom: &mut BTreeMap<AtomId, Vec<(bool, Rule<'a>)>>,
) -> BTreeMap<ZoneId, Vec<(bool, Rule<'a>)>> {
    let mut out = BTreeMap::new();
    for (zi, z) in ir.zones.iter().enumerate() {
        let atoms: Vec<AtomId> = z
            .services
            .iter()
            .copied()
            .chain([z.remainder])
            .filter(|&a| select::selects_pods(ir, a))
            .collect();
        if atoms.is_empty() || atoms.iter().any(|a| !per_atom.contains_key(a)) {
            continue;
        }
        let common = common_rules(&atoms, per_atom);
        if common.is_empty() {
            continue;
        }
        let shapes: BTreeSet<(bool, Shape)> = common.iter().map(|(e, r)| (*e, r.shape())).collect();
        for a in &atoms {
            if let Some(list) = per_atom.get_mut(a) {
                list.retain(|(e, r)| !shapes.contains(&(*e, r.shape())));
            }
        }
        out.insert(zi, common);
    }
    out
}

/// The rules of the first atom that every other atom has too, each with the
/// allows of the first such rule of every atom.
fn common_rules<'a>(
    atoms: &[AtomId],
    per_atom: &BTreeMap<AtomId, Vec<(bool, Rule<'a>)>>,
) -> Vec<(bool, Rule<'a>)> {
    /// Where each direction and shape first appears in an atom's rules.
    type FirstOf = BTreeMap<(bool, Shape), usize>;
    let index = |a: &AtomId| {
        let mut first = FirstOf::new();
        for (i, (e, r)) in per_atom[a].iter().enumerate() {
            first.entry((*e, r.shape())).or_insert(i);
        }
        first
    };
    let rest: Vec<(AtomId, FirstOf)> = atoms[1..].iter().map(|a| (*a, index(a))).collect();
    let mut common = vec![];
    for (egress, rule) in &per_atom[&atoms[0]] {
        let key = (*egress, rule.shape());
        let Some(found) = rest
            .iter()
            .map(|(a, idx)| idx.get(&key).map(|i| &per_atom[a][*i].1))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let mut merged = rule.clone();
        merged
            .allows
            .extend(found.iter().flat_map(|r| r.allows.iter().copied()));
        merged.allows.sort_unstable();
        merged.allows.dedup();
        common.push((*egress, merged));
    }
    common
}

/// Turns one namespace's drafts into policies with unique DNS-1123 names, sorted by name.
fn finish<'a>(
    ir: &Ir,
    ns: &'a str,
    drafts: Vec<Draft>,
    bodies: &'a BTreeMap<Owner, Body<'a>>,
) -> Vec<NetworkPolicy<'a>> {
    let mut terms: BTreeMap<Owner, usize> = BTreeMap::new();
    for (owner, _, _) in &drafts {
        *terms.entry(*owner).or_default() += 1;
    }
    let mut named: Vec<(String, String, Draft)> = drafts
        .into_iter()
        .map(|d| {
            let base = match d.0 {
                Owner::Zone(z) => format!("moat-{}", ir.zones[z].name),
                Owner::Atom(a) if ir.atoms[a].is_remainder() => format!("moat-{}-others", ir.atoms[a].name),
                Owner::Atom(a) => format!("moat-{}", ir.atoms[a].name),
            };
            let key = if terms[&d.0] > 1 {
                format!("{base}-{}", d.1 + 1)
            } else {
                base
            };
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
    let mut policies: Vec<NetworkPolicy> = named
        .into_iter()
        .map(|(name, _, (owner, _, selector))| policy(ir, ns, name, owner, selector, &bodies[&owner]))
        .collect();
    policies.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    policies
}

fn policy<'a>(
    ir: &Ir,
    ns: &'a str,
    name: String,
    owner: Owner,
    selector: LabelSelector,
    body: &'a Body<'a>,
) -> NetworkPolicy<'a> {
    let what = match owner {
        Owner::Zone(z) => format!("{} (every member: its services and the rest)", ir.zones[z].name),
        Owner::Atom(a) if ir.atoms[a].is_remainder() => {
            format!("{} (zone members in none of its services)", ir.atoms[a].name)
        }
        Owner::Atom(a) => ir.atoms[a].name.clone(),
    };
    let mut types = vec![];
    if !body.ingress.is_empty() {
        types.push("Ingress");
    }
    if !body.egress.is_empty() {
        types.push("Egress");
    }
    let annotations = BTreeMap::from([
        (ATOM_ANNOTATION, Cow::Owned(what)),
        (ALLOWS_ANNOTATION, Cow::Borrowed(body.allows.as_str())),
        (RULES_ANNOTATION, Cow::Borrowed(body.lines.as_str())),
    ]);
    NetworkPolicy {
        api_version: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(name, ns, annotations),
        spec: NetworkPolicySpec {
            pod_selector: selector,
            ingress: &body.ingress,
            egress: &body.egress,
            policy_types: types,
        },
    }
}

fn default_deny<'a>(ir: &Ir, ns: &'a str) -> NetworkPolicy<'a> {
    let note = format!(
        "default deny for policy {}: only the flows of the other moat policies in this namespace are allowed",
        ir.name
    );
    NetworkPolicy {
        api_version: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: meta(
            DEFAULT_DENY.to_string(),
            ns,
            BTreeMap::from([("moat.io/description", Cow::Owned(note))]),
        ),
        spec: NetworkPolicySpec {
            pod_selector: LabelSelector::default(),
            ingress: &[],
            egress: &[],
            policy_types: vec!["Ingress", "Egress"],
        },
    }
}

fn meta<'a>(name: String, ns: &'a str, annotations: BTreeMap<&'static str, Cow<'a, str>>) -> ObjectMeta<'a> {
    ObjectMeta {
        name,
        namespace: ns,
        labels: BTreeMap::from([MANAGED_BY]),
        annotations,
    }
}

/// Appends `file:line` of each allow to `out`, comma-separated, in allow
/// order, each location once.
pub(super) fn push_locs(out: &mut String, ir: &Ir, allows: &[AllowId]) {
    // Most rules name a few allows: a scan of those seen beats a set.
    const FEW: usize = 16;
    let mut seen: Vec<&str> = Vec::with_capacity(allows.len().min(FEW));
    let mut many: BTreeSet<&str> = BTreeSet::new();
    for loc in allows.iter().map(|&a| ir.allows[a].cite.as_str()) {
        let first = if allows.len() > FEW {
            many.insert(loc)
        } else if seen.contains(&loc) {
            false
        } else {
            seen.push(loc);
            true
        };
        if first {
            if seen.len() + many.len() > 1 {
                out.push_str(", ");
            }
            out.push_str(loc);
        }
    }
}
