//! Deployment layouts (issue 12): clusters (E022), namespaces that several
//! zones share through pod selectors (E021, E025, W009), unmanaged zones
//! (E023, E024) and namespaces chosen by their labels (E024, W010).
//!
//! Two zones may share a namespace only when the checker can prove their
//! members there disjoint: some label key on which one requires a value the
//! other requires differently or excludes (`k=a` and `k=b`, `k=a` and `k!=a`).
//! Anything else is an overlap it cannot rule out (E021).

use super::model::{interp, Model, ZoneDef};
use super::names;
use crate::diag::Diagnostic;
use crate::ir::{Atom, Cluster, ClusterId, Ir, Layout, PodSelector, Zone, ZoneKind, ZoneLayout};
use crate::span::Span;
use crate::syntax::ast;
use crate::syntax::parse::closest;
use std::collections::{BTreeMap, BTreeSet};

/// Records a `cluster` declaration: E003 for a second one of the same name,
/// E002 for an unknown site.
pub fn cluster<'a>(m: &mut Model<'a>, c: &'a ast::ClusterDecl, diags: &mut Vec<Diagnostic>) {
    if let Some(first) = m.clusters.iter().find(|d| d.name.node == c.name.node) {
        diags.push(super::model::dup(
            "cluster",
            &c.name.node,
            c.name.span,
            first.name.span,
        ));
        return;
    }
    if !m.sites.iter().any(|s| s.name == c.site.node) {
        let names: Vec<&str> = m.sites.iter().map(|d| d.name.as_str()).collect();
        diags.push(
            Diagnostic::error("E002", c.site.span, format!("unknown site `{}`", c.site.node)).with_help(
                match closest(&c.site.node, &names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("declare it first: `site {} : onprem`", c.site.node),
                },
            ),
        );
    }
    m.clusters.push(c);
}

/// One zone's hold on a namespace: the whole of it, or the pods a selector matches.
struct Hold {
    zone: usize,
    pods: Option<PodSelector>,
    span: Span,
}

/// The layout of every zone (E002, E018, E021, E022, E024, E025, W009, W010
/// along the way); the default when the policy uses no layout statement.
pub fn build(
    m: &Model,
    zdefs: &[&ZoneDef],
    zones: &[Zone],
    atoms: &[Atom],
    diags: &mut Vec<Diagnostic>,
) -> Layout {
    if m.clusters.is_empty() && zdefs.iter().all(|z| z.decl.layout.is_empty()) {
        return Layout::default();
    }
    let site_of = |name: &str| m.sites.iter().position(|s| s.name == name).unwrap_or(0);
    let mut clusters: Vec<Cluster> = m
        .clusters
        .iter()
        .map(|c| Cluster {
            name: c.name.node.clone(),
            site: site_of(&c.site.node),
            span: c.span,
        })
        .collect();
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Layout {
        clusters,
        zones: vec![],
    };
    let mut holds: BTreeMap<(Option<ClusterId>, String), Vec<Hold>> = BTreeMap::new();
    for (zi, (z, zone)) in zdefs.iter().zip(zones).enumerate() {
        let zl = zone_layout(&out.clusters, z, zone, diags);
        let cell = z.cell.as_ref();
        for n in &z.decl.namespaces {
            holds
                .entry((zl.cluster, interp(cell, &n.node)))
                .or_default()
                .push(Hold {
                    zone: zi,
                    pods: None,
                    span: n.span,
                });
        }
        for c in &z.decl.layout.claims {
            for n in &c.namespaces {
                let ns = interp(cell, &n.node);
                if let Some(sel) = zl.claims.get(&ns) {
                    holds.entry((zl.cluster, ns)).or_default().push(Hold {
                        zone: zi,
                        pods: Some(sel.clone()),
                        span: c.span,
                    });
                }
            }
        }
        services_within_claims(z, zone, &zl, atoms, diags);
        out.zones.push(zl);
    }
    for ((_, ns), list) in &holds {
        shared_namespace(ns, list, zones, &out.zones, diags);
    }
    out
}

/// The layout of one zone: its cluster (E002, E022), its claims (E018,
/// E021, E025), its namespace labels (E018, E024, W010).
fn zone_layout(clusters: &[Cluster], z: &ZoneDef, zone: &Zone, diags: &mut Vec<Diagnostic>) -> ZoneLayout {
    let l = &z.decl.layout;
    let cell = z.cell.as_ref();
    let mut out = ZoneLayout {
        unmanaged: l.unmanaged.is_some(),
        ..ZoneLayout::default()
    };
    for lab in &l.ns_labels {
        let value = interp(cell, &lab.node.value);
        names::check_label(&lab.node.key, &value, lab.span, diags);
        out.ns_labels.insert(lab.node.key.clone(), value);
    }
    for c in &l.claims {
        let mut sel = PodSelector::default();
        let mut empty = false;
        for p in &c.pods {
            let value = interp(cell, &p.node.value);
            names::check_label(&p.node.key, &value, p.span, diags);
            let one = if p.node.negated {
                PodSelector {
                    not_in: BTreeMap::from([(p.node.key.clone(), BTreeSet::from([value]))]),
                    ..PodSelector::default()
                }
            } else {
                PodSelector {
                    equal: BTreeMap::from([(p.node.key.clone(), value)]),
                    ..PodSelector::default()
                }
            };
            match sel.and(&one) {
                Some(s) => sel = s,
                None => empty = true,
            }
        }
        if empty {
            diags.push(
                Diagnostic::error("E025", c.span, format!("zone `{}`: this pod selector matches no pod", z.name))
                    .with_help("a key cannot have two values, nor a value it excludes: drop one of the conflicting labels"),
            );
        }
        for n in &c.namespaces {
            let ns = interp(cell, &n.node);
            let whole = z.decl.namespaces.iter().find(|w| interp(cell, &w.node) == ns);
            if let Some(w) = whole {
                diags.push(
                    Diagnostic::error("E021", n.span, format!("zone `{}` claims part of namespace `{ns}` and also the whole of it", z.name))
                        .with_label(w.span, "the whole namespace is claimed here")
                        .with_help(format!("keep `namespace {ns}` (every pod) or `namespace {ns} pods ...` (some pods), not both")),
                );
            } else if let std::collections::btree_map::Entry::Vacant(e) = out.claims.entry(ns.clone()) {
                e.insert(sel.clone());
            } else {
                diags.push(
                    Diagnostic::error("E021", n.span, format!("zone `{}` claims pods of namespace `{ns}` twice", z.name))
                        .with_help("a zone's members in a namespace are one selector: merge the two `pods` lists into one line"),
                );
            }
        }
    }
    if !l.ns_labels.is_empty() {
        if let Some(first) = z
            .decl
            .namespaces
            .first()
            .map(|n| n.span)
            .or(l.claims.first().map(|c| c.span))
        {
            diags.push(
                Diagnostic::error(
                    "E024",
                    l.ns_labels[0].span,
                    format!(
                        "zone `{}` chooses its namespaces by label and also by name",
                        z.name
                    ),
                )
                .with_label(first, "a namespace by name")
                .with_help("split the zone in two: one with `namespaces k=v`, one with `namespace NAME`"),
            );
        } else if !out.unmanaged {
            diags.push(
                Diagnostic::warning("W010", l.ns_labels[0].span, format!("zone `{}` chooses its namespaces by label: moat writes no NetworkPolicy into them, so its flows are enforced only at its peers", z.name))
                    .with_help("a NetworkPolicy lives in a namespace moat must name: add `unmanaged` to say so, or list the namespaces with `namespace NAME`"),
            );
        }
    }
    let in_k8s = !zone.namespaces.is_empty() || !l.ns_labels.is_empty();
    out.cluster = zone_cluster(clusters, z, zone, in_k8s, diags);
    out
}

/// The cluster of a zone: the one it names, else the only one at its site,
/// else the only one of the policy (E002, E022).
fn zone_cluster(
    clusters: &[Cluster],
    z: &ZoneDef,
    zone: &Zone,
    in_k8s: bool,
    diags: &mut Vec<Diagnostic>,
) -> Option<ClusterId> {
    if let Some(named) = &z.decl.layout.cluster {
        let Some(id) = clusters.iter().position(|c| c.name == named.node) else {
            let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
            diags.push(
                Diagnostic::error("E002", named.span, format!("unknown cluster `{}`", named.node)).with_help(
                    match closest(&named.node, &names) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => format!("declare it at top level: `cluster {} @ SITE`", named.node),
                    },
                ),
            );
            return None;
        };
        if z.decl.site.is_some() && clusters[id].site != zone.site {
            diags.push(
                Diagnostic::error(
                    "E022",
                    named.span,
                    format!(
                        "zone `{}` is at another site than its cluster `{}`",
                        z.name, named.node
                    ),
                )
                .with_label(clusters[id].span, "the cluster's site is named here")
                .with_help(
                    "name a cluster at the zone's site, or move the zone (`@ SITE`) to the cluster's site",
                ),
            );
        }
        return Some(id);
    }
    if !in_k8s || clusters.is_empty() {
        return None;
    }
    let here: Vec<ClusterId> = (0..clusters.len())
        .filter(|c| clusters[*c].site == zone.site)
        .collect();
    match (here.as_slice(), clusters.len()) {
        ([one], _) => Some(*one),
        ([], 1) => Some(0),
        _ => {
            let cands: Vec<&str> = if here.is_empty() {
                clusters.iter().map(|c| c.name.as_str()).collect()
            } else {
                here.iter().map(|c| clusters[*c].name.as_str()).collect()
            };
            diags.push(
                Diagnostic::error(
                    "E022",
                    z.decl.name.span,
                    format!(
                        "zone `{}` has namespaces but names no cluster, and its site does not say which",
                        z.name
                    ),
                )
                .with_help(format!(
                    "add `cluster NAME` to the zone; the candidates are {}",
                    cands.join(", ")
                )),
            );
            None
        }
    }
}

/// E025 for a service whose `pods` no pod of a namespace's claim can match.
fn services_within_claims(
    z: &ZoneDef,
    zone: &Zone,
    zl: &ZoneLayout,
    atoms: &[Atom],
    diags: &mut Vec<Diagnostic>,
) {
    for &s in &zone.services {
        let a = &atoms[s];
        if a.pods.is_empty() {
            continue;
        }
        let sel = PodSelector {
            equal: a.pods.clone(),
            ..PodSelector::default()
        };
        for ns in &a.namespaces {
            let Some(claim) = zl.claims.get(ns) else { continue };
            if sel.and(claim).is_none() {
                let at = z.decl.layout.claims.iter().find(|c| {
                    c.namespaces
                        .iter()
                        .any(|n| &interp(z.cell.as_ref(), &n.node) == ns)
                });
                let mut d = Diagnostic::error("E025", a.span, format!("service `{}` selects pods that are not zone `{}`'s members in namespace `{ns}`", a.name, z.name))
                    .with_help(format!("make the service's `pods` agree with the zone's selector for `{ns}`, or name the service's other namespaces with `namespace`"));
                if let Some(c) = at {
                    d = d.with_label(c.span, "the zone's members there");
                }
                diags.push(d);
            }
        }
    }
}

/// E021 for holds on one namespace by two zones that may overlap, E024 when
/// managed and unmanaged zones share it, W009 when some of its pods may
/// belong to no zone.
fn shared_namespace(
    ns: &str,
    list: &[Hold],
    zones: &[Zone],
    layouts: &[ZoneLayout],
    diags: &mut Vec<Diagnostic>,
) {
    for (j, b) in list.iter().enumerate() {
        for a in &list[..j] {
            if a.zone == b.zone || (a.pods.is_none() && b.pods.is_none()) {
                continue; // whole-namespace sharing stays the k8s target's E012
            }
            let disjoint = matches!((&a.pods, &b.pods), (Some(x), Some(y)) if x.disjoint(y));
            if !disjoint {
                let (za, zb) = (&zones[a.zone].name, &zones[b.zone].name);
                diags.push(
                    Diagnostic::error("E021", b.span, format!("zones `{za}` and `{zb}` may both claim the same pods of namespace `{ns}`"))
                        .with_label(a.span, format!("`{za}` claims pods of `{ns}` here"))
                        .with_help("give the two selectors a label key with different values (`stage=dmz` and `stage=mz`), or exclude one from the other (`stage!=dmz`)"),
                );
            }
        }
    }
    let managed: Vec<&Hold> = list.iter().filter(|h| !layouts[h.zone].unmanaged).collect();
    if let (Some(m), Some(u)) = (managed.first(), list.iter().find(|h| layouts[h.zone].unmanaged)) {
        diags.push(
            Diagnostic::error("E024", u.span, format!("namespace `{ns}` is shared by unmanaged zone `{}` and managed zone `{}`", zones[u.zone].name, zones[m.zone].name))
                .with_label(m.span, format!("`{}` claims `{ns}` here", zones[m.zone].name))
                .with_help("the managed zone's default deny would lock the unmanaged zone's pods down: give them separate namespaces, or manage both"),
        );
    }
    let sels: Vec<&PodSelector> = list.iter().filter_map(|h| h.pods.as_ref()).collect();
    if !managed.is_empty() && sels.len() == list.len() && !covers(&sels) {
        let zs: BTreeSet<&str> = list.iter().map(|h| zones[h.zone].name.as_str()).collect();
        diags.push(
            Diagnostic::warning("W009", list[0].span, format!("namespace `{ns}`: pods that match none of the selectors of {} belong to no zone; the namespace's default deny isolates them", zs.into_iter().map(|z| format!("`{z}`")).collect::<Vec<_>>().join(", ")))
                .with_help(format!("if such pods exist, claim them: e.g. a zone with `namespace {ns} pods KEY!=VALUE` for the rest")),
        );
    }
}

/// True when the selectors provably match every pod: one selects all, or on
/// one key a `NotIn` set's every value is required by another selector.
fn covers(sels: &[&PodSelector]) -> bool {
    if sels.iter().any(|s| s.is_all()) {
        return true;
    }
    let single_eq: BTreeSet<(&str, &str)> = sels
        .iter()
        .filter(|s| s.not_in.is_empty() && s.equal.len() == 1)
        .flat_map(|s| s.equal.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    sels.iter()
        .filter(|s| s.equal.is_empty() && s.not_in.len() == 1)
        .flat_map(|s| s.not_in.iter())
        .any(|(k, vs)| vs.iter().all(|v| single_eq.contains(&(k.as_str(), v.as_str()))))
}

/// E023 for a forbid between an unmanaged zone and a peer that enforces
/// nothing either (another unmanaged zone, or an external one): nothing
/// stands between them to honour it.
pub fn forbids(ir: &Ir, diags: &mut Vec<Diagnostic>) {
    let unenforced = |a: usize| ir.is_unmanaged(a) || ir.zone_of(a).kind == ZoneKind::External;
    for f in &ir.forbids {
        let Some(&(from, to, _)) = f.pairs.iter().find(|(a, b, _)| {
            (ir.is_unmanaged(*a) || ir.is_unmanaged(*b)) && unenforced(*a) && unenforced(*b)
        }) else {
            continue;
        };
        let u = if ir.is_unmanaged(to) { to } else { from };
        let zone = ir.zone_of(u);
        diags.push(
            Diagnostic::error("E023", f.span, format!("this forbid cannot be honoured: `{}` is unmanaged and `{}` enforces nothing either", ir.atoms[u].name, ir.atoms[if u == to { from } else { to }].name))
                .with_label(zone.span, format!("`{}` is declared unmanaged here", zone.name))
                .with_help(format!("flows of an unmanaged zone are enforced only at managed peers: remove `unmanaged` from `{}`, or drop the forbid", zone.name)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(eq: &[(&str, &str)], not_in: &[(&str, &[&str])]) -> PodSelector {
        PodSelector {
            equal: eq.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            not_in: not_in
                .iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn disjointness_is_proved_only_where_it_holds() {
        let dmz = sel(&[("stage", "dmz")], &[]);
        assert!(dmz.disjoint(&sel(&[("stage", "mz")], &[])));
        assert!(dmz.disjoint(&sel(&[], &[("stage", &["dmz"])])));
        assert!(sel(&[], &[("stage", &["dmz"])]).disjoint(&dmz));
        // a pod may carry both labels, or lack the key for both NotIns
        assert!(!dmz.disjoint(&sel(&[("app", "x")], &[])));
        assert!(!sel(&[], &[("k", &["a"])]).disjoint(&sel(&[], &[("k", &["b"])])));
        assert!(!dmz.disjoint(&sel(&[], &[("stage", &["mz"])])));
        assert!(!dmz.disjoint(&PodSelector::default()));
        // and: NotIn on a key with a required value says nothing more
        let both = dmz
            .and(&sel(&[("app", "x")], &[("stage", &["mz"])]))
            .expect("compatible");
        assert_eq!(both, sel(&[("app", "x"), ("stage", "dmz")], &[]));
        assert!(dmz.and(&sel(&[], &[("stage", &["dmz"])])).is_none());
    }

    #[test]
    fn coverage_of_a_namespace() {
        let eq = |v| sel(&[("stage", v)], &[]);
        let rest = sel(&[], &[("stage", &["dmz", "mz"])]);
        assert!(covers(&[&eq("dmz"), &eq("mz"), &rest]));
        assert!(!covers(&[&eq("dmz"), &rest]), "stage=mz is claimed by no one");
        assert!(!covers(&[&eq("dmz"), &eq("mz")]), "pods without the key");
        assert!(covers(&[&eq("dmz"), &PodSelector::default()]));
        assert!(!covers(&[
            &sel(&[("stage", "dmz"), ("app", "a")], &[]),
            &sel(&[], &[("stage", &["dmz"])])
        ]));
    }
}
