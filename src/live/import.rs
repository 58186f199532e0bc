//! `moat import`: allow statements (moat source) that reproduce a live state's
//! reachability over the zones and services a policy declares.
//!
//! Only what every address of a pair gets is imported (the full part of each
//! live flow). The allows are found from the widest endpoints down, each
//! exactly what its endpoints share, so that their union is the live matrix:
//! zone to zone (the ports every pair of members gets), zone to service and
//! service to zone, then service to service. What is left cannot be named (a
//! zone's members outside its services, alone; a protocol other than tcp,
//! udp, sctp, icmp, icmpv6 without `any`) and is reported as W014, never
//! dropped silently. An endpoint pair's ports are split by the live rules
//! behind them, one allow per rule where one rule gives every member pair
//! its part ([`per_rule`]); each allow carries a comment citing its rules.

use super::compare::cite_rule;
use super::{LiveMatrix, LiveRule};
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir, ZoneId};
use crate::ports::{PortSet, Proto};
use crate::span::SourceMap;
use std::collections::{BTreeMap, BTreeSet};

/// One imported allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub from: String,
    pub to: String,
    pub ports: PortSet,
    /// `file:line` of the live rules behind it.
    pub cites: Vec<String>,
}

/// The allows, and W014 for what they cannot express.
pub struct Import {
    pub allows: Vec<Imported>,
    pub warnings: Vec<Diagnostic>,
}

/// An endpoint: a whole zone or one atom (a service).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Zone(ZoneId),
    Atom(AtomId),
}

/// What the live state lets through for every address of a pair, and the
/// rules behind it with what each of them gives the pair.
type Full<'l> = BTreeMap<(AtomId, AtomId), (PortSet, Vec<(&'l LiveRule, PortSet)>)>;

fn full<'l>(ir: &Ir, live: &'l LiveMatrix) -> Full<'l> {
    let mut out = BTreeMap::new();
    for (&(f, t), lf) in live {
        let part = lf.partial.as_ref().map(|p| p.ports.clone()).unwrap_or_default();
        let mut ports = lf.ports.subtract(&part);
        let (a, b) = (&ir.atoms[f].addrs, &ir.atoms[t].addrs);
        // icmp of a family one end lacks is vacuous for the pair: left out,
        // unless with it the pair gets every port and protocol (`any` says it)
        let mut vacuous = PortSet::empty();
        if !a.is_empty() && !b.is_empty() {
            if !(a.has_v4() && b.has_v4()) {
                vacuous.union_with(&PortSet::proto(Proto::Icmp));
            }
            if !(a.has_v6() && b.has_v6()) {
                vacuous.union_with(&PortSet::proto(Proto::Icmpv6));
            }
        }
        ports = if ports.union(&vacuous).is_any() {
            PortSet::any()
        } else {
            ports.subtract(&vacuous)
        };
        if ports.is_empty() {
            continue;
        }
        let rules = lf
            .by
            .iter()
            .filter(|(_, p)| p.intersects(&ports))
            .map(|(r, p)| (r, p.intersect(&ports)))
            .collect();
        out.insert((f, t), (ports, rules));
    }
    out
}

/// The allows reproducing the live matrix over the policy's zones and
/// services. `k8s`: the live state includes NetworkPolicies, evaluated on
/// every pod there is, so an atom standing for pods that no row names has no
/// pods at all (a zone's remainder whose services take every pod of its
/// namespaces): naming its zone gives it nothing.
pub fn import(ir: &Ir, live: &LiveMatrix, sources: &SourceMap, k8s: bool) -> Import {
    let m = full(ir, live);
    // a zone is named whole only when the live state speaks for all its
    // members (naming it would otherwise allow flows the live state never saw)
    let seen: BTreeSet<AtomId> = live.keys().flat_map(|&(f, t)| [f, t]).collect();
    let members = |e: End| -> Vec<AtomId> {
        match e {
            End::Atom(a) => vec![a],
            End::Zone(z) => {
                let zone = &ir.zones[z];
                let mut v: Vec<AtomId> = zone.services.iter().copied().chain([zone.remainder]).collect();
                // a member with no addresses has no hosts a firewall could
                // filter: naming the zone gives it only flows nobody sends
                let vacuous = |a: &AtomId| {
                    !seen.contains(a)
                        && ((!ir.atoms[*a].has_addrs() && !ir.atoms[*a].has_namespaces())
                            || (k8s && crate::backend::k8s::select::selects_pods(ir, *a)))
                };
                if !v.iter().all(|a| seen.contains(a) || vacuous(a)) {
                    return vec![];
                }
                v.retain(|a| seen.contains(a));
                v.sort_unstable();
                v.dedup();
                v
            }
        }
    };
    let zones: Vec<End> = (0..ir.zones.len()).map(End::Zone).collect();
    let services: Vec<End> = (0..ir.atoms.len())
        .filter(|a| !ir.atoms[*a].is_remainder())
        .map(End::Atom)
        .collect();
    let mut covered: BTreeMap<(AtomId, AtomId), PortSet> = BTreeMap::new();
    let mut allows = vec![];
    let stages: [(&[End], &[End]); 4] = [
        (&zones, &zones),
        (&zones, &services),
        (&services, &zones),
        (&services, &services),
    ];
    for (froms, tos) in stages {
        for &fe in froms {
            for &te in tos {
                let (fa, ta) = (members(fe), members(te));
                let mut shared: Option<PortSet> = None;
                for &a in &fa {
                    for &b in &ta {
                        let p = m.get(&(a, b)).map(|x| x.0.clone()).unwrap_or_default();
                        shared = Some(shared.map_or(p.clone(), |s| s.intersect(&p)));
                    }
                }
                // a service named as destination takes only the ports it declares (E008)
                // (`any` is the exception E008 makes)
                let shared = match te {
                    End::Atom(b)
                        if !ir.atoms[b].ports.is_empty() && !shared.as_ref().is_some_and(PortSet::is_any) =>
                    {
                        let declared: Vec<&PortSet> = ir.atoms[b].ports.values().collect();
                        shared.map(|s| s.intersect(&PortSet::union_all(&declared)))
                    }
                    _ => shared,
                };
                let Some(shared) = shared.filter(|s| !s.is_empty() && !fa.is_empty() && !ta.is_empty())
                else {
                    continue;
                };
                let news = fa.iter().any(|a| {
                    ta.iter()
                        .any(|b| !shared.is_subset(covered.get(&(*a, *b)).unwrap_or(&PortSet::empty())))
                });
                if !news {
                    continue;
                }
                let pairs: Vec<(AtomId, AtomId)> =
                    fa.iter().flat_map(|&a| ta.iter().map(move |&b| (a, b))).collect();
                for &k in &pairs {
                    covered.entry(k).or_default().union_with(&shared);
                }
                let name = |e: End| match e {
                    End::Zone(z) => ir.zones[z].name.clone(),
                    End::Atom(a) => ir.atoms[a].name.clone(),
                };
                for (ports, rules) in per_rule(&m, &pairs, &shared) {
                    allows.push(Imported {
                        from: name(fe),
                        to: name(te),
                        ports,
                        cites: rules.iter().map(|r| cite_rule(r, sources)).collect(),
                    });
                }
            }
        }
    }
    let mut warnings = vec![];
    for (&(a, b), lf) in live {
        let Some(p) = lf.partial.as_ref() else { continue };
        let span = lf.by.first().map(|r| r.0.span).unwrap_or(ir.atoms[b].span);
        warnings.push(
            Diagnostic::warning(
                "W014",
                span,
                format!(
                    "live flow {} -> {} {} cannot be imported: the live state lets it through for only part of the pair (from {} to {})",
                    ir.atoms[a].name,
                    ir.atoms[b].name,
                    p.ports,
                    p.from.join(", "),
                    p.to.join(", ")
                ),
            )
            .with_help("declare a service for those addresses (hosts ...), then import again"),
        );
    }
    for (&(a, b), (ports, rules)) in &m {
        let left = ports.subtract(covered.get(&(a, b)).unwrap_or(&PortSet::empty()));
        if left.is_empty() {
            continue;
        }
        let span = rules.first().map(|r| r.0.span).unwrap_or(ir.atoms[b].span);
        let why = if !ir.atoms[b].is_remainder() && !ir.atoms[b].ports.is_empty() {
            "the ports are not all declared by the destination service, and not every member of its zone gets them"
        } else if ir.atoms[a].is_remainder() || ir.atoms[b].is_remainder() {
            "an allow names whole zones or services, and the live state treats the members of the zone outside its services differently from the rest of the zone"
        } else {
            "no allow can name it"
        };
        warnings.push(
            Diagnostic::warning(
                "W014",
                span,
                format!(
                    "live flow {} -> {} {left} cannot be imported: {why}",
                    ir.atoms[a].name, ir.atoms[b].name
                ),
            )
            .with_help("declare a service for those members (hosts ...), then import again"),
        );
    }
    Import { allows, warnings }
}

/// `shared` (what every pair of `pairs` gets) split by the live rules
/// behind it, in input order: one part per rule that gives every pair that
/// part, citing it and any other rule that gives every pair all of it (a
/// gateway's rule and a host's, NetworkPolicies of both ends); what no one
/// rule gives every pair is one last part citing all their rules.
fn per_rule<'l>(
    m: &Full<'l>,
    pairs: &[(AtomId, AtomId)],
    shared: &PortSet,
) -> Vec<(PortSet, BTreeSet<&'l LiveRule>)> {
    let given: Vec<BTreeMap<&LiveRule, &PortSet>> = pairs
        .iter()
        .map(|k| {
            m.get(k)
                .map(|(_, rules)| rules.iter().map(|(r, p)| (*r, p)).collect())
                .unwrap_or_default()
        })
        .collect();
    let gives = |r: &LiveRule, i: usize| given[i].get(r).copied();
    // a rule that gives every pair a part is one of the first pair's
    let candidates: Vec<&LiveRule> = given
        .first()
        .map(|g| {
            g.keys()
                .copied()
                .filter(|r| (0..pairs.len()).all(|i| gives(r, i).is_some()))
                .collect()
        })
        .unwrap_or_default();
    let all = || given.iter().flat_map(|g| g.keys().copied()).collect();
    let mut rest = shared.clone();
    let mut out = vec![];
    for &r in &candidates {
        let part = (0..pairs.len()).fold(rest.clone(), |acc, i| {
            acc.intersect(gives(r, i).unwrap_or(&PortSet::empty()))
        });
        if part.is_empty() {
            continue;
        }
        if port_spec(&part).is_none() {
            // only `any` says it (every protocol, less what is vacuous): one allow
            return vec![(shared.clone(), all())];
        }
        let also = candidates
            .iter()
            .filter(|q| (0..pairs.len()).all(|i| gives(q, i).is_some_and(|p| part.is_subset(p))))
            .copied()
            .collect();
        rest = rest.subtract(&part);
        out.push((part, also));
    }
    if !rest.is_empty() {
        out.push((rest, all()));
    }
    out
}

/// The ports in the language: `tcp/80-90, tcp/443, icmp`, `any`; `None` for
/// "every other protocol" without `any` (not expressible).
pub fn port_spec(p: &PortSet) -> Option<String> {
    if p.is_any() {
        return Some("any".to_string());
    }
    let mut parts = vec![];
    for (proto, ranges) in p.iter() {
        if proto == Proto::Other {
            return None;
        }
        if !proto.has_ports() {
            parts.push(proto.as_str().to_string());
            continue;
        }
        for r in ranges {
            parts.push(format!("{proto}/{r}"));
        }
    }
    Some(parts.join(", "))
}

/// The allows as moat source, one statement a line, each with its comment.
pub fn to_source(imp: &Import, header: &str, warnings: &mut Vec<Diagnostic>, ir: &Ir) -> String {
    let mut out = format!("# {header}\n");
    for a in &imp.allows {
        let Some(spec) = port_spec(&a.ports) else {
            let span = ir.atoms.first().map(|x| x.span);
            if let Some(span) = span {
                warnings.push(Diagnostic::warning(
                    "W014",
                    span,
                    format!("live flow {} -> {} {} cannot be imported: protocols other than tcp, udp, sctp, icmp and icmpv6 are only expressible as `any`", a.from, a.to, a.ports),
                ).with_help("allow `any` by hand if that is meant"));
            }
            continue;
        };
        let mut cites = a.cites.clone();
        let n = cites.len();
        if n > 6 {
            cites.truncate(6);
            cites.push(format!("and {} more", n - 6));
        }
        out.push_str(&format!(
            "allow {} -> {} : {spec}  # live: {}\n",
            a.from,
            a.to,
            cites.join(", ")
        ));
    }
    out
}
