//! The istio target: `security.istio.io/v1` AuthorizationPolicies, one
//! multi-document YAML file per managed namespace (`istio/<namespace>.yaml`).
//!
//! Every namespace gets an allow-nothing default (`spec: {}`), except the mesh
//! root namespace (`istio-system`), where a selector-less policy would apply
//! to the whole mesh: there each service gets its own policy instead. Every
//! service with pods then gets an ALLOW policy (selector = its pods) whose
//! rules name the sources of its in-scope flows: a whole zone by its
//! namespaces, a service by its service account (`principals`), a zone's
//! remainder by its namespaces less its services' accounts (`notPrincipals`),
//! an address-only atom by `ipBlocks` (the connection's source address; not
//! `remoteIpBlocks`, which trusts `X-Forwarded-For`). Istio governs TCP only:
//! the UDP and SCTP parts of a flow are left to the k8s target, and named in
//! each policy's `moat.io/not-enforced` annotation. An allow's `paths` and
//! `methods` become the rule's `to.operation`.

pub mod model;

use super::k8s::clusters;
use super::k8s::model::ObjectMeta;
use super::k8s::{names, select, ALLOWS_ANNOTATION, ATOM_ANNOTATION, MANAGED_BY, RULES_ANNOTATION};
use super::{scope, Artefact, EmitOptions, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Flow, Ir, ZoneId};
use crate::ports::{PortRange, PortSet, Proto};
use model::{
    AuthorizationPolicy, Operation, PolicyRule, PolicySpec, Source, SourceEntry, To, WorkloadSelector,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// The mesh root namespace: a policy there without a selector applies mesh-wide.
pub const ROOT_NAMESPACE: &str = "istio-system";
/// The SPIFFE trust domain of the principals.
pub const TRUST_DOMAIN: &str = "cluster.local";
/// The name of the per-namespace allow-nothing default.
pub const ALLOW_NOTHING: &str = "moat-allow-nothing";
/// Annotation: the parts of the flows this policy does not govern, and why.
pub const NOT_ENFORCED_ANNOTATION: &str = "moat.io/not-enforced";
/// The most single ports (or excluded ports) one rule lists; beyond: E043.
pub const MAX_PORTS: u32 = 256;

/// What one rule allows: TCP ports (`None`: every TCP port) and the allow
/// whose `paths`/`methods` restrict it (`None`: no HTTP restriction).
type Grant = (Option<Vec<PortRange>>, Option<AllowId>);

/// The grants of one source, with the allows behind each.
type Grants = BTreeMap<Grant, BTreeSet<AllowId>>;

/// Compiles the policy to AuthorizationPolicies, or returns every
/// E012/E043/E048. With clusters, each gets `istio/<cluster>/` from the view
/// the k8s target uses ([`clusters::view`]): the other clusters' atoms are
/// sources by address (`ipBlocks`), and a flow whose foreign end has none is E012.
pub fn emit(ir: &Ir, _opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    clusters::per_cluster(ir, "istio", emit_cluster)
}

/// [`emit`] for the namespaces of one cluster (or of the only, unnamed one), its files under `dir`.
fn emit_cluster(ir: &Ir, dir: &str) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let flows = scope::flows(Target::Istio, ir)?;
    let mut errs = vec![];
    let mut by_dst: BTreeMap<AtomId, Vec<(AtomId, &Flow)>> = BTreeMap::new();
    for &(from, to, flow) in &flows {
        if select::selects_pods(ir, to) {
            by_dst.entry(to).or_default().push((from, flow));
        }
    }
    let mut docs: BTreeMap<String, Vec<AuthorizationPolicy>> = BTreeMap::new();
    let managed = super::k8s::namespaces(ir);
    for ns in &managed {
        let list = docs.entry(ns.clone()).or_default();
        if ns != ROOT_NAMESPACE {
            list.push(allow_nothing(ir, ns));
        }
    }
    for dst in (0..ir.atoms.len()).filter(|&a| select::selects_pods(ir, a)) {
        let ends = by_dst.get(&dst).map(Vec::as_slice).unwrap_or_default();
        let (rules, lines, notes) = rules(ir, dst, ends, &mut errs);
        let a = &ir.atoms[dst];
        for ns in &a.namespaces {
            let selector = if a.is_remainder() {
                if rules.is_empty() || taken_whole(ir, a.zone, ns) {
                    continue;
                }
                let shared = ir.zones[a.zone]
                    .services
                    .iter()
                    .any(|&s| select::selects_pods(ir, s) && ir.atoms[s].namespaces.contains(ns));
                if ns == ROOT_NAMESPACE {
                    continue; // W018 (see `warnings`)
                }
                // In a shared namespace the zone's members there are its
                // selector (`key=value` only): the policy selects them, not the namespace.
                let claim = ir.layout.zone(a.zone).claims.get(ns);
                let covers = !shared || covered(ir, dst, ns, ends);
                // A `!=` share whose complement is other zones' services: one
                // policy for the whole namespace, when they all have its grants.
                let whole_ns = || {
                    others_by_account(ir, a.zone, ns)
                        .is_some_and(|(_, others)| granted_to_all(ir, &others, ends))
                };
                match claim {
                    Some(c) if !c.not_in.is_empty() && covers && whole_ns() => None,
                    Some(c) if !c.not_in.is_empty() || !covers => {
                        errs.push(scope::e048_shared_remainder(ir, dst, ns));
                        continue;
                    }
                    None if !covers => {
                        errs.push(e043_remainder(ir, dst, ns, ends));
                        continue;
                    }
                    _ => claim.map(|c| WorkloadSelector {
                        match_labels: c.equal.clone(),
                    }),
                }
            } else {
                if rules.is_empty() && notes.is_empty() && ns != ROOT_NAMESPACE {
                    continue;
                }
                match workload_labels(ir, dst, ns) {
                    Ok(labels) => Some(WorkloadSelector { match_labels: labels }),
                    Err(d) => {
                        errs.push(d);
                        continue;
                    }
                }
            };
            let what = if a.is_remainder() {
                format!("{} (zone members in none of its services)", a.name)
            } else {
                a.name.clone()
            };
            let mut annotations = BTreeMap::from([
                (ATOM_ANNOTATION, Cow::Owned(what)),
                (
                    ALLOWS_ANNOTATION,
                    Cow::Owned(allow_locs(ir, &rules_allows(&lines))),
                ),
                (RULES_ANNOTATION, Cow::Owned(render_lines(ir, &lines))),
            ]);
            if !notes.is_empty() {
                annotations.insert(NOT_ENFORCED_ANNOTATION, Cow::Owned(notes.join("\n")));
            }
            if rules.is_empty() {
                let why = if notes.is_empty() {
                    "allow nothing: no flow reaches these pods (the mesh root namespace takes no selector-less default)"
                } else {
                    "allow nothing over TCP: only the flows of moat.io/not-enforced reach these pods"
                };
                annotations.insert("moat.io/description", Cow::Borrowed(why));
            }
            if a.is_remainder() && selector.is_some() {
                annotations.insert(
                    "moat.io/description",
                    Cow::Borrowed("the zone's members in this shared namespace; its services there have every grant of this policy too"),
                );
            }
            if selector.is_none() && a.is_remainder() {
                annotations.insert(
                    "moat.io/description",
                    Cow::Borrowed("no selector: every pod of the namespace; its services have every grant of this policy too"),
                );
            }
            let base = if a.is_remainder() {
                names::dns_label(&format!("moat-{}-others", a.name))
            } else {
                names::dns_label(&format!("moat-{}", a.name))
            };
            docs.entry(ns.clone()).or_default().push(AuthorizationPolicy {
                api_version: "security.istio.io/v1",
                kind: "AuthorizationPolicy",
                metadata: meta(base, ns, annotations),
                spec: PolicySpec {
                    selector,
                    action: Some("ALLOW"),
                    rules: rules.clone(),
                },
            });
        }
    }
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        errs.dedup();
        return Err(errs);
    }
    let mut out = vec![];
    for (ns, mut list) in docs {
        unique_names(&mut list);
        list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let contents = serde_saphyr::to_string_multiple(&list).map_err(|e| {
            vec![Diagnostic::error_nospan(
                "E043",
                format!("cannot serialise the AuthorizationPolicies of namespace `{ns}`: {e}"),
            )]
        })?;
        out.push(Artefact {
            path: format!("{dir}/{ns}.yaml"),
            contents,
        });
    }
    Ok(out)
}

/// One rule before it is written: its sources' names, the sources, the allows behind it.
type GrantRule = (Vec<String>, Vec<Source>, BTreeSet<AllowId>);

/// One rule's annotation line: the sources' names, what it allows, the allows behind it.
type Line = (String, String, BTreeSet<AllowId>);

/// The rules of destination `dst` from the sources in `ends`, their
/// annotation lines, and notes on what Istio leaves to the k8s target.
fn rules(
    ir: &Ir,
    dst: AtomId,
    ends: &[(AtomId, &Flow)],
    errs: &mut Vec<Diagnostic>,
) -> (Vec<PolicyRule>, Vec<Line>, Vec<String>) {
    let mut notes = vec![];
    let mut per_source: BTreeMap<AtomId, Grants> = BTreeMap::new();
    for &(src, flow) in ends {
        let (grants, other) = grants(ir, flow);
        if !other.is_empty() {
            notes.push(format!(
                "{other} from {}: left to the k8s target (Istio governs TCP only)",
                ir.atoms[src].name
            ));
        }
        if !grants.is_empty() {
            per_source.insert(src, grants);
        }
    }
    // Sources whose whole zone has the same grants are named by the zone.
    let mut groups: BTreeMap<&Grants, Vec<(String, Vec<Source>)>> = BTreeMap::new();
    let mut done: BTreeSet<AtomId> = BTreeSet::new();
    for (zi, z) in ir.zones.iter().enumerate() {
        let atoms: Vec<AtomId> = z.services.iter().copied().chain([z.remainder]).collect();
        let Some(first) = per_source.get(&z.remainder) else {
            continue;
        };
        // A zone sharing a namespace is not all of it: its members are named one by one.
        let shares = !ir.layout.zone(zi).claims.is_empty();
        if shares || z.namespaces.is_empty() || atoms.iter().any(|a| per_source.get(a) != Some(first)) {
            continue;
        }
        groups
            .entry(first)
            .or_default()
            .push((format!("zone {} (every member)", z.name), zone_sources(ir, zi)));
        done.extend(atoms);
    }
    for (src, g) in &per_source {
        if done.contains(src) {
            continue;
        }
        match atom_sources(ir, *src) {
            Ok(sources) => groups
                .entry(g)
                .or_default()
                .push((ir.atoms[*src].name.clone(), sources)),
            Err(d) => errs.push(*d),
        }
    }
    // One rule per grant: every source that has it.
    let mut by_grant: BTreeMap<&Grant, GrantRule> = BTreeMap::new();
    for (grants, sources) in &groups {
        for (grant, allows) in grants.iter() {
            let e = by_grant.entry(grant).or_default();
            for (name, s) in sources {
                e.0.push(name.clone());
                e.1.extend(s.iter().cloned());
            }
            e.2.extend(allows);
        }
    }
    let mut out = vec![];
    let mut lines = vec![];
    for ((ports, l7), (names, sources, allows)) in by_grant {
        let at = allows
            .iter()
            .next()
            .map_or_else(Default::default, |&a| ir.allows[a].span);
        let operation = match operation(ir, ports.as_deref(), *l7, at) {
            Ok(op) => op,
            Err(d) => {
                errs.push(d.with_note(format!("in the rules of `{}`", ir.atoms[dst].name)));
                continue;
            }
        };
        let what = describe(ir, ports.as_deref(), *l7);
        lines.push((format!("from {}", names.join(", ")), what, allows));
        out.push(PolicyRule {
            from: sources.into_iter().map(|source| SourceEntry { source }).collect(),
            to: operation
                .map(|operation| vec![To { operation }])
                .unwrap_or_default(),
        });
    }
    (out, lines, notes)
}

/// True when every service with pods of the remainder's zone in `ns` has
/// every grant the remainder has, from the same sources: then one policy
/// without selector (every pod of the namespace) gives the remainder its
/// grants and the services nothing they do not have already.
fn covered(ir: &Ir, remainder: AtomId, ns: &str, ends: &[(AtomId, &Flow)]) -> bool {
    let z = &ir.zones[ir.atoms[remainder].zone];
    let services: Vec<AtomId> = z
        .services
        .iter()
        .copied()
        .filter(|&s| select::selects_pods(ir, s) && ir.atoms[s].namespaces.iter().any(|n| n == ns))
        .collect();
    granted_to_all(ir, &services, ends)
}

/// True when each of `atoms` has every grant of `ends`, from the same sources.
fn granted_to_all(ir: &Ir, services: &[AtomId], ends: &[(AtomId, &Flow)]) -> bool {
    ends.iter().all(|&(src, flow)| {
        let (want, _) = grants(ir, flow);
        services.iter().all(|&svc| {
            let Some(f) = ir.flows.get(&(src, svc)) else {
                return want.is_empty();
            };
            let (have, _) = grants(ir, f);
            want.keys()
                .all(|g| have.contains_key(g) || have.keys().any(|h| h.1.is_none() && covers(&h.0, &g.0)))
        })
    })
}

/// True when the TCP ports `have` include `want` (`None`: every TCP port).
fn covers(have: &Option<Vec<PortRange>>, want: &Option<Vec<PortRange>>) -> bool {
    let set = |r: &Option<Vec<PortRange>>| match r {
        None => PortSet::proto(Proto::Tcp),
        Some(rs) => {
            let mut s = PortSet::empty();
            for x in rs {
                s.union_with(&PortSet::range(Proto::Tcp, *x));
            }
            s
        }
    };
    set(want).is_subset(&set(have))
}

/// The TCP grants of a flow (the contributions without `paths`/`methods`
/// merged, each one with them on its own), and the rest of its ports.
fn grants(ir: &Ir, flow: &Flow) -> (Grants, PortSet) {
    let tcp_all = PortSet::proto(Proto::Tcp);
    let mut plain = PortSet::empty();
    let mut plain_allows = BTreeSet::new();
    let mut out = Grants::new();
    for (allow, ports) in &flow.by {
        let tcp = ports.intersect(&tcp_all);
        if tcp.is_empty() {
            continue;
        }
        if ir.allows[*allow].l7.is_some() {
            out.entry((tcp_ranges(&tcp), Some(*allow)))
                .or_default()
                .insert(*allow);
        } else {
            plain.union_with(&tcp);
            plain_allows.insert(*allow);
        }
    }
    if !plain.is_empty() {
        out.insert((tcp_ranges(&plain), None), plain_allows);
    }
    (out, flow.ports.subtract(&tcp_all))
}

/// The TCP port ranges of a set, `None` for every TCP port.
fn tcp_ranges(tcp: &PortSet) -> Option<Vec<PortRange>> {
    let ranges = tcp.get(Proto::Tcp).unwrap_or_default();
    (ranges != [PortRange::FULL]).then(|| ranges.to_vec())
}

/// The sources that stand for every member of a zone: its namespaces, and
/// the addresses of its members without pods.
fn zone_sources(ir: &Ir, zone: ZoneId) -> Vec<Source> {
    let z = &ir.zones[zone];
    let mut ns = z.namespaces.clone();
    ns.sort();
    ns.dedup();
    let mut out = vec![Source {
        namespaces: ns,
        ..Source::default()
    }];
    for &a in z.services.iter().chain([&z.remainder]) {
        if !select::selects_pods(ir, a) && ir.atoms[a].has_addrs() {
            out.push(address_source(ir, a));
        }
    }
    out
}

/// The sources that stand for one atom, or why Istio cannot tell its pods
/// apart. A service without `serviceaccount` is named by its namespaces
/// (every pod there: W025 says so), and a remainder by its namespaces less
/// the accounts of its zone's services that have one.
fn atom_sources(ir: &Ir, atom: AtomId) -> Result<Vec<Source>, Box<Diagnostic>> {
    let a = &ir.atoms[atom];
    if !select::selects_pods(ir, atom) {
        return Ok(vec![address_source(ir, atom)]);
    }
    let layout = ir.layout.zone(a.zone);
    if !layout.ns_labels.is_empty() {
        return Err(Box::new(scope::e048_labelled_source(ir, atom)));
    }
    let mut namespaces = a.namespaces.clone();
    namespaces.sort();
    namespaces.dedup();
    if !a.is_remainder() {
        let Some(sa) = &a.service_account else {
            return Ok(vec![Source {
                namespaces,
                ..Source::default()
            }]);
        };
        return Ok(vec![Source {
            principals: namespaces.iter().map(|ns| principal(ns, sa)).collect(),
            ..Source::default()
        }]);
    }
    // where one of the zone's services takes its whole share, the remainder has no pods
    namespaces.retain(|ns| !taken_whole(ir, a.zone, ns));
    if namespaces.is_empty() {
        return Ok(vec![]);
    }
    // In a `!=` share whose complement is other zones' services (each
    // with an account), the remainder is the namespace less those accounts.
    let mut not = vec![];
    for ns in namespaces.iter().filter(|ns| layout.claims.contains_key(*ns)) {
        match others_by_account(ir, a.zone, ns) {
            Some((principals, _)) => not.extend(principals),
            None => return Err(Box::new(scope::e048_shared_remainder(ir, atom, ns))),
        }
    }
    for &s in &ir.zones[a.zone].services {
        let svc = &ir.atoms[s];
        if !select::selects_pods(ir, s) {
            continue;
        }
        // A service without account is admitted with the rest (W025).
        let Some(sa) = &svc.service_account else {
            continue;
        };
        not.extend(
            svc.namespaces
                .iter()
                .filter(|ns| namespaces.contains(ns))
                .map(|ns| principal(ns, sa)),
        );
    }
    not.sort();
    not.dedup();
    Ok(vec![Source {
        namespaces,
        not_principals: not,
        ..Source::default()
    }])
}

/// When zone `z` holds `ns` by `k!=v, ...` only, and every pod it leaves
/// there is taken, value by value, by another zone holding `ns` by `k=v`
/// whose services there all have accounts and one of them takes that share
/// whole: the principals of those services and the services themselves.
/// "`ns` less those principals" is then exactly `z`'s share.
fn others_by_account(ir: &Ir, z: usize, ns: &str) -> Option<(Vec<String>, Vec<AtomId>)> {
    let claim = ir.layout.zone(z).claims.get(ns)?;
    if !claim.equal.is_empty() || claim.not_in.is_empty() {
        return None;
    }
    let others: Vec<usize> = (0..ir.zones.len())
        .filter(|&o| o != z && ir.zones[o].namespaces.iter().any(|n| n == ns))
        .collect();
    let share_of = |o: usize| {
        let c = ir.layout.zone(o).claims.get(ns)?;
        let [(k, v)] = c.equal.iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        c.not_in.is_empty().then_some((k.clone(), v.clone()))
    };
    // every excluded value is another zone's share, and every other zone's share is an excluded value
    let shares: Vec<(String, String)> = others.iter().map(|&o| share_of(o)).collect::<Option<_>>()?;
    let excluded: BTreeSet<(String, String)> = claim
        .not_in
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
        .collect();
    if shares.iter().cloned().collect::<BTreeSet<_>>() != excluded {
        return None;
    }
    let mut principals = vec![];
    let mut services = vec![];
    for &o in &others {
        if !taken_whole(ir, o, ns) {
            return None;
        }
        for &s in &ir.zones[o].services {
            let svc = &ir.atoms[s];
            if !select::selects_pods(ir, s) || !svc.namespaces.iter().any(|n| n == ns) {
                continue;
            }
            principals.push(principal(ns, svc.service_account.as_deref()?));
            services.push(s);
        }
    }
    Some((principals, services))
}

/// True when zone `z` shares `ns` and one of its services takes every pod of
/// that share (the service selects only labels the share requires): the
/// zone's remainder has no pods there.
fn taken_whole(ir: &Ir, z: usize, ns: &str) -> bool {
    let Some(claim) = ir.layout.zone(z).claims.get(ns) else {
        return false;
    };
    ir.zones[z].services.iter().any(|&s| {
        let svc = &ir.atoms[s];
        select::selects_pods(ir, s)
            && svc.namespaces.iter().any(|n| n == ns)
            && svc.pods.iter().all(|(k, v)| claim.equal.get(k) == Some(v))
    })
}

/// A service's workload selector in `ns`: its `pods`, and its zone's
/// selector there when the zone shares the namespace (E048 when that
/// selector excludes values: a workload selector has `matchLabels` only).
fn workload_labels(ir: &Ir, service: AtomId, ns: &str) -> Result<BTreeMap<String, String>, Diagnostic> {
    let a = &ir.atoms[service];
    let Some(claim) = ir.layout.zone(a.zone).claims.get(ns) else {
        return Ok(a.pods.clone());
    };
    // `k!=v` is implied when the service's own labels give `k` another value
    let implied = claim
        .not_in
        .iter()
        .all(|(k, vs)| a.pods.get(k).is_some_and(|v| !vs.contains(v)));
    if !implied {
        return Err(scope::e048_not_in(ir, service, ns));
    }
    let mut labels = a.pods.clone();
    labels.extend(claim.equal.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(labels)
}

fn address_source(ir: &Ir, atom: AtomId) -> Source {
    let addrs = &ir.atoms[atom].addrs;
    Source {
        ip_blocks: addrs.include.iter().map(ToString::to_string).collect(),
        not_ip_blocks: addrs.except.iter().map(ToString::to_string).collect(),
        ..Source::default()
    }
}

/// `cluster.local/ns/<ns>/sa/<sa>`.
pub fn principal(ns: &str, sa: &str) -> String {
    format!("{TRUST_DOMAIN}/ns/{ns}/sa/{sa}")
}

/// The rule's `to.operation`: its ports (or excluded ports) and the allow's
/// paths and methods; `None` when it allows every TCP request.
fn operation(
    ir: &Ir,
    ports: Option<&[PortRange]>,
    l7: Option<AllowId>,
    at: crate::span::Span,
) -> Result<Option<Operation>, Diagnostic> {
    let mut op = Operation::default();
    if let Some(ranges) = ports {
        let count: u32 = ranges.iter().map(|r| r.len()).sum();
        if count <= MAX_PORTS {
            op.ports = singles(ranges);
        } else {
            let rest = complement(ranges);
            if rest.iter().map(|r| r.len()).sum::<u32>() > MAX_PORTS {
                return Err(Diagnostic::error(
                    "E043",
                    at,
                    format!("target istio cannot express {count} TCP ports in one rule: an AuthorizationPolicy lists single ports (at most {MAX_PORTS} here, or all but {MAX_PORTS})"),
                )
                .with_help("narrow the port range, or leave this flow to the k8s target"));
            }
            op.not_ports = singles(&rest);
        }
    }
    if let Some(a) = l7.and_then(|a| ir.allows[a].l7.as_ref()) {
        op.paths = a.paths.clone();
        op.methods = a.methods.clone();
    }
    Ok((op != Operation::default()).then_some(op))
}

fn singles(ranges: &[PortRange]) -> Vec<String> {
    ranges
        .iter()
        .flat_map(|r| r.lo..=r.hi)
        .map(|p| p.to_string())
        .collect()
}

/// The TCP ports 1-65535 not in `ranges` (sorted, disjoint).
fn complement(ranges: &[PortRange]) -> Vec<PortRange> {
    let mut out = vec![];
    let mut next: u32 = 1;
    for r in ranges {
        if u32::from(r.lo) > next {
            out.push(PortRange::new(next as u16, r.lo - 1));
        }
        next = u32::from(r.hi) + 1;
    }
    if next <= 65535 {
        out.push(PortRange::new(next as u16, 65535));
    }
    out
}

fn describe(ir: &Ir, ports: Option<&[PortRange]>, l7: Option<AllowId>) -> String {
    let mut s = match ports {
        None => "tcp".to_string(),
        Some(r) => format!("tcp/{}", crate::ports::ranges_to_string(r)),
    };
    if let Some(l) = l7.and_then(|a| ir.allows[a].l7.as_ref()) {
        if !l.paths.is_empty() {
            s.push_str(&format!(" paths {}", l.paths.join(", ")));
        }
        if !l.methods.is_empty() {
            s.push_str(&format!(" methods {}", l.methods.join(", ")));
        }
    }
    s
}

/// The rules annotation: one line per rule, with the allows behind it (their citations).
fn render_lines(ir: &Ir, lines: &[Line]) -> String {
    lines
        .iter()
        .map(|(from, what, allows)| {
            let ids: Vec<AllowId> = allows.iter().copied().collect();
            format!("{from} {what}: {}", allow_locs(ir, &ids))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn rules_allows(lines: &[Line]) -> Vec<AllowId> {
    let all: BTreeSet<AllowId> = lines.iter().flat_map(|(_, _, a)| a.iter().copied()).collect();
    all.into_iter().collect()
}

/// The citation (`allow#...`) of each allow, comma-separated, each once,
/// as the k8s target writes them.
fn allow_locs(ir: &Ir, allows: &[AllowId]) -> String {
    let mut out = String::new();
    super::k8s::push_locs(&mut out, ir, allows);
    out
}

fn allow_nothing<'a>(ir: &Ir, ns: &'a str) -> AuthorizationPolicy<'a> {
    let note = format!(
        "allow nothing for policy {}: only the requests of the other moat policies in this namespace are allowed",
        ir.name
    );
    AuthorizationPolicy {
        api_version: "security.istio.io/v1",
        kind: "AuthorizationPolicy",
        metadata: meta(
            ALLOW_NOTHING.to_string(),
            ns,
            BTreeMap::from([("moat.io/description", Cow::Owned(note))]),
        ),
        spec: PolicySpec::default(),
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

/// Gives policies whose DNS names collide (or take the default's) a hashed name.
fn unique_names(list: &mut [AuthorizationPolicy]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for p in list.iter() {
        *seen.entry(p.metadata.name.clone()).or_default() += 1;
    }
    for p in list.iter_mut() {
        let n = &p.metadata.name;
        let atom = p.metadata.annotations.get(ATOM_ANNOTATION).map(|c| c.to_string());
        if let Some(key) = atom {
            if seen[n.as_str()] > 1 || n == ALLOW_NOTHING {
                p.metadata.name = names::with_hash(n, &key);
            }
        }
    }
}

fn e043_remainder(ir: &Ir, dst: AtomId, ns: &str, ends: &[(AtomId, &Flow)]) -> Diagnostic {
    let allow = ends
        .iter()
        .flat_map(|(_, f)| f.allow_ids())
        .min()
        .unwrap_or_default();
    let a = &ir.atoms[dst];
    Diagnostic::error(
        "E043",
        ir.allows[allow].span,
        format!(
            "target istio cannot select the pods of `{}` in namespace `{ns}`: a workload selector has no `NotIn`, so the zone's members in none of its services cannot be told from its services' pods",
            a.name
        ),
    )
    .with_label(a.span, format!("zone `{}` is declared here", a.name))
    .with_help("allow the flow to the zone's services by name, or to the whole zone")
}

/// W018 for the mesh root namespace: the pods there that no service selects
/// are not governed by the istio target (a policy for them would need no selector).
pub fn warnings(ir: &Ir) -> Vec<Diagnostic> {
    let mut out = unnamed_sources(ir);
    for z in &ir.zones {
        if z.namespaces.iter().any(|n| n == ROOT_NAMESPACE) {
            out.push(
                Diagnostic::warning("W018", z.span, format!("target istio: the pods of `{ROOT_NAMESPACE}` that no service of `{}` selects are not governed by an AuthorizationPolicy (a policy without selector in the mesh root namespace would apply to the whole mesh)", z.name))
                    .with_help("declare a service for each workload of the root namespace; the k8s target still enforces the zone's flows"),
            );
        }
    }
    out
}

/// W025 at each service with pods and no `serviceaccount` that is the source
/// of a TCP flow to pods this target governs: Istio admits it by its
/// namespaces, so every pod there (and, for a remainder of its zone, the
/// service's pods too) gets the service's grants in the mesh.
fn unnamed_sources(ir: &Ir) -> Vec<Diagnostic> {
    let tcp = PortSet::proto(Proto::Tcp);
    let mut seen = BTreeSet::new();
    for (&(from, to), flow) in &ir.flows {
        let a = &ir.atoms[from];
        let governed = select::selects_pods(ir, to) && scope::owns(Target::Istio, ir, to);
        if governed
            && !a.is_remainder()
            && a.service_account.is_none()
            && select::selects_pods(ir, from)
            && !flow.ports.intersect(&tcp).is_empty()
        {
            seen.insert(from);
        }
    }
    seen.into_iter()
        .map(|s| {
            let a = &ir.atoms[s];
            let mut ns = a.namespaces.clone();
            ns.sort();
            ns.dedup();
            Diagnostic::warning(
                "W025",
                a.span,
                format!(
                    "target istio names `{}` by its namespace(s) ({}): it has no `serviceaccount`, so every pod there is admitted where it is",
                    a.name,
                    ns.join(", ")
                ),
            )
            .with_help(format!(
                "give `{}` its pods' service account (`serviceaccount NAME`) so Istio admits its pods only; the k8s target still selects them exactly",
                a.name
            ))
        })
        .collect()
}
