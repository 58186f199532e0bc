//! What the k8s target cannot express (E012, E013, E017) and what it warns
//! about (W005), all found before anything is emitted.

use super::select::{self, PodGroup};
use crate::backend::{scope, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Flow, Ir};
use crate::ports::Proto;
use crate::span::Span;
use std::collections::{BTreeMap, BTreeSet};

/// The protocols of one allow that NetworkPolicy cannot express, and the atom pairs where.
type Inexpressible = (BTreeSet<Proto>, BTreeSet<(AtomId, AtomId)>);

/// E017 for protocols NetworkPolicy cannot express, E012 for services with
/// `pods` in a zone without namespace, and E012 for namespaces that are no
/// valid Kubernetes name; each at the allow (or zone) concerned.
pub fn errors(ir: &Ir) -> Vec<Diagnostic> {
    let mut errs = vec![];
    let mut protos: BTreeMap<AllowId, Inexpressible> = BTreeMap::new();
    for (&(from, to), flow) in &ir.flows {
        if !scope::owns(Target::K8s, ir, from) && !scope::owns(Target::K8s, ir, to) {
            continue;
        }
        let pod_end = select::selects_pods(ir, from) || select::selects_pods(ir, to);
        if pod_end && !flow.ports.is_any() {
            for (id, ports) in &flow.by {
                let bad: Vec<Proto> = ports
                    .iter()
                    .map(|(p, _)| p)
                    .filter(|p| super::protocol_name(*p).is_none())
                    .collect();
                if !bad.is_empty() {
                    let e = protos.entry(*id).or_default();
                    e.0.extend(bad);
                    e.1.insert((from, to));
                }
            }
        }
        for end in [from, to] {
            let a = &ir.atoms[end];
            // Without addresses either, scope::flows already reports E012.
            if !a.pods.is_empty() && !ir.in_k8s(end) && a.has_addrs() {
                errs.extend(
                    flow.allow_ids()
                        .into_iter()
                        .map(|id| pods_without_namespace(ir, id, end)),
                );
            }
        }
    }
    errs.extend(
        protos
            .into_iter()
            .map(|(id, (ps, pairs))| e017(ir, id, &ps, &pairs)),
    );
    errs.extend(bad_namespaces(ir));
    errs
}

fn e017(ir: &Ir, id: AllowId, protos: &BTreeSet<Proto>, pairs: &BTreeSet<(AtomId, AtomId)>) -> Diagnostic {
    let names: Vec<&str> = protos
        .iter()
        .map(|p| {
            if *p == Proto::Other {
                "other IP protocols"
            } else {
                p.as_str()
            }
        })
        .collect();
    let (f, t) = pairs.iter().next().map_or(("?", "?"), |(f, t)| {
        (ir.atoms[*f].name.as_str(), ir.atoms[*t].name.as_str())
    });
    let mut d = Diagnostic::error(
        "E017",
        ir.allows[id].span,
        format!("target k8s cannot express {}: a NetworkPolicy allows only TCP, UDP and SCTP", names.join(" and ")),
    )
    .with_help("allow `any` (every protocol), or leave this protocol to a host or gateway target (iptables, nftables)");
    d = d.with_note(format!("the flow from `{f}` to `{t}` has pods at an end"));
    if pairs.len() > 1 {
        d = d.with_note(format!("and {} more such flow(s) of this allow", pairs.len() - 1));
    }
    d
}

fn pods_without_namespace(ir: &Ir, id: AllowId, atom: AtomId) -> Diagnostic {
    let a = &ir.atoms[atom];
    let zone = &ir.zones[a.zone];
    Diagnostic::error(
        "E012",
        ir.allows[id].span,
        format!(
            "target k8s cannot select the pods of `{}`: its zone `{}` has no `namespace`",
            a.name, zone.name
        ),
    )
    .with_label(a.span, format!("`{}` selects pods here", a.name))
    .with_help(format!(
        "add `namespace NAME` to zone `{}`, or to the service",
        zone.name
    ))
}

/// Namespaces that are not DNS-1123 labels cannot exist in Kubernetes; a
/// namespace of two zones leaves its pods in no defined zone.
fn bad_namespaces(ir: &Ir) -> Vec<Diagnostic> {
    let mut out = vec![];
    // The same name in two clusters is two namespaces; two zones that share
    // one through pod selectors were proved disjoint by the checker (E021).
    let mut owner: BTreeMap<(Option<usize>, &str), usize> = BTreeMap::new();
    let claimed = |z: usize, ns: &str| ir.layout.zone(z).claims.contains_key(ns);
    for (zi, z) in ir.zones.iter().enumerate() {
        for ns in &z.namespaces {
            let key = (ir.layout.zone(zi).cluster, ns.as_str());
            let first = *owner.entry(key).or_insert(zi);
            if first != zi && !(claimed(first, ns) && claimed(zi, ns)) {
                let other = &ir.zones[first];
                out.push(
                    Diagnostic::error(
                        "E012",
                        z.span,
                        format!("target k8s: namespace `{ns}` belongs to zones `{}` and `{}`", other.name, z.name),
                    )
                    .with_label(other.span, format!("`{}` also claims `{ns}`", other.name))
                    .with_help("give each zone its own namespaces: a pod that no service selects would be in both zones' remainders"),
                );
            }
        }
    }
    for z in &ir.zones {
        for ns in &z.namespaces {
            if super::names::dns_label(ns) != *ns {
                out.push(
                    Diagnostic::error("E012", z.span, format!("target k8s: `{ns}` is not a valid Kubernetes namespace name"))
                        .with_help("use at most 63 lower-case letters, digits and `-`, starting and ending with a letter or digit"),
                );
            }
        }
    }
    out
}

/// The pods of every atom that selects pods at an end of an in-scope flow;
/// E013 when a remainder needs too many selectors, E012 when a pod end's peer
/// has neither pods nor addresses.
pub fn pod_groups(
    ir: &Ir,
    flows: &[(AtomId, AtomId, &Flow)],
    errs: &mut Vec<Diagnostic>,
) -> BTreeMap<AtomId, Vec<PodGroup>> {
    let mut groups = BTreeMap::new();
    let ends: BTreeSet<AtomId> = flows.iter().flat_map(|(f, t, _)| [*f, *t]).collect();
    for atom in ends {
        match select::pod_groups(ir, atom) {
            Ok(g) if !g.is_empty() => {
                groups.insert(atom, g);
            }
            Ok(_) => {}
            Err(e) => errs.push(
                Diagnostic::error(
                    "E013",
                    ir.atoms[atom].span,
                    format!(
                        "target k8s: selecting the pods of `{}` in namespace `{}` needs {} selectors (at most {})",
                        ir.atoms[atom].name,
                        e.namespace,
                        e.terms,
                        select::MAX_TERMS
                    ),
                )
                .with_help("give the zone's services fewer labels each, or put some of them in their own namespace"),
            ),
        }
    }
    for &(from, to, flow) in flows {
        for (end, peer) in [(from, to), (to, from)] {
            let unreachable = !groups.contains_key(&peer) && !ir.atoms[peer].has_addrs();
            if groups.contains_key(&end) && unreachable {
                errs.extend(flow.allow_ids().into_iter().map(|id| no_pods(ir, id, end, peer)));
            }
        }
    }
    groups
}

fn no_pods(ir: &Ir, id: AllowId, end: AtomId, peer: AtomId) -> Diagnostic {
    let (e, p) = (&ir.atoms[end], &ir.atoms[peer]);
    Diagnostic::error(
        "E012",
        ir.allows[id].span,
        format!(
            "target k8s cannot express the flow between `{}` and `{}`: `{}` has neither pods nor addresses",
            e.name, p.name, p.name
        ),
    )
    .with_label(p.span, format!("`{}` is declared here", p.name))
    .with_help(format!("give `{}` a `pods` selector or `hosts`", p.name))
}

/// W005 for every namespace whose pods reach no TCP or UDP port 53 (the
/// default deny restricts every namespace's egress, DNS included). The
/// namespaces that serve port 53 to others are the resolver's own, and not warned about.
/// With clusters, each cluster's namespaces are judged on their own: a
/// `kube-system` that resolves in one cluster says nothing of another's.
pub fn warnings(ir: &Ir) -> Vec<Diagnostic> {
    if ir.layout.clusters.is_empty() {
        return dns_warnings(ir, None);
    }
    let mut out: Vec<Diagnostic> = (ir.layout.clusters.iter().enumerate())
        .flat_map(|(c, cluster)| dns_warnings(&super::clusters::view(ir, c), Some(&cluster.name)))
        .collect();
    crate::diag::sort(&mut out);
    out
}

/// [`warnings`] for the namespaces of one cluster's view (`cluster` names it in the message).
fn dns_warnings(ir: &Ir, cluster: Option<&str>) -> Vec<Diagnostic> {
    let Ok(flows) = scope::flows(Target::K8s, ir) else {
        return vec![];
    };
    let mut resolving: BTreeSet<&str> = BTreeSet::new();
    for (from, to, flow) in &flows {
        let dns = flow.ports.contains(Proto::Udp, 53) || flow.ports.contains(Proto::Tcp, 53);
        for end in [*from, *to] {
            if dns && select::selects_pods(ir, end) {
                resolving.extend(ir.atoms[end].namespaces.iter().map(String::as_str));
            }
        }
    }
    // Where each namespace is declared: its first zone, else its first atom.
    let mut declared: BTreeMap<&str, Span> = BTreeMap::new();
    let atoms = ir.atoms.iter().map(|a| (&a.namespaces, a.span));
    for (namespaces, span) in ir.zones.iter().map(|z| (&z.namespaces, z.span)).chain(atoms) {
        for ns in namespaces {
            declared.entry(ns.as_str()).or_insert(span);
        }
    }
    let mut out = vec![];
    for ns in super::namespaces(ir) {
        if resolving.contains(ns.as_str()) {
            continue;
        }
        let Some(&span) = declared.get(ns.as_str()) else {
            continue;
        };
        let place = cluster.map_or(String::new(), |c| format!("cluster `{c}`, "));
        out.push(
            Diagnostic::warning("W005", span, format!("{place}namespace `{ns}`: egress is denied by default and no flow reaches UDP or TCP port 53, so its pods cannot resolve names"))
                .with_help(format!("allow the zone of `{ns}` to the cluster DNS (e.g. `allow ZONE -> kube-system.dns : dns`), if its pods use names")),
        );
    }
    out
}
