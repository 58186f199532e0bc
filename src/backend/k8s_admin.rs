//! The k8s-admin target: `policy.networking.k8s.io/v1alpha2`
//! ClusterNetworkPolicies (network-policy-api v0.2.0), the guarantees that
//! namespace owners cannot override: `k8s-admin/admin.yaml` (Admin tier) and
//! `k8s-admin/baseline.yaml` (Baseline tier).
//!
//! Admin tier, one object per subject (the pods of one atom, one selector
//! each), its rules in this order, in each direction:
//! 1. `Deny` every `forbid` between the subject and a peer;
//! 2. `Pass` (with `--admin-allows`: `Accept`) every flow the policy allows,
//!    when a later rule could match it (a `networks` peer also matches pod
//!    addresses): it goes on to the NetworkPolicy tier;
//! 3. `Deny` every external <-> militarised crossing.
//!
//! More than 25 rules, peers or protocols are split over rules and objects
//! whose priorities keep the order ([`ADMIN_PRIORITY`] + chunk); beyond
//! priority 1000, E013. Baseline tier: one object denies all traffic of the
//! managed namespaces, so only what namespaced NetworkPolicies (the k8s
//! target) allow gets through. v1alpha2 ingress peers are pods and
//! namespaces only: ingress from addresses is left to the k8s target (W019).

pub mod model;

use super::k8s::clusters;
use super::k8s::model::LabelSelector;
use super::k8s::select::{self, namespace_selector, PodGroup};
use super::k8s::{names, protocol_name, MANAGED_BY};
use super::{scope, Artefact, EmitOptions, Target};
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir, ZoneKind};
use crate::ports::{PortSet, Proto};
use crate::span::Span;
use model::{
    ClusterMeta, ClusterNetworkPolicy, EgressRule, IngressRule, NamespacedPod, Peer, Port, PortMatch,
    Protocol, Range, Spec, Subject,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// The priority of a subject's first Admin-tier object; its n-th split adds n.
pub const ADMIN_PRIORITY: u32 = 100;
/// The priority of the Baseline-tier default deny.
pub const BASELINE_PRIORITY: u32 = 100;
/// The API's limit on rules per direction, peers per rule, protocols per rule and CIDRs per peer.
pub const LIMIT: usize = 25;
/// The API's highest priority value.
pub const MAX_PRIORITY: u32 = 1000;

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Deny,
    Pass,
    Accept,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Deny => "Deny",
            Action::Pass => "Pass",
            Action::Accept => "Accept",
        }
    }
}

/// One rule before splitting: action, peers, protocols and why it is there.
#[derive(Debug, Clone)]
struct Draft {
    action: Action,
    peers: Vec<Peer>,
    protocols: Vec<Protocol>,
    /// `forbid`, `allow`, `crossing`: for the rule's name.
    kind: &'static str,
    /// One annotation line: what the rule stands for and the statements behind it.
    line: String,
}

/// Compiles the guardrails, or returns every E012/E013/E044 found. With
/// clusters, each gets its own `k8s-admin/<cluster>/` from the view the k8s
/// target uses ([`clusters::view`]): the other clusters' atoms are peers by
/// address only (egress `networks`), and a flow whose foreign end has none is E012.
pub fn emit(ir: &Ir, opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    clusters::per_cluster(ir, "k8s-admin", |ir, dir| emit_cluster(ir, opts, dir))
}

/// [`emit`] for the namespaces of one cluster (or of the only, unnamed one), its files under `dir`.
fn emit_cluster(ir: &Ir, opts: &EmitOptions, dir: &str) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let flows = scope::flows(Target::K8sAdmin, ir)?;
    let mut errs = vec![];
    let mut groups: BTreeMap<AtomId, Vec<PodGroup>> = BTreeMap::new();
    for a in (0..ir.atoms.len()).filter(|&a| select::selects_pods(ir, a)) {
        match select::pod_groups(ir, a) {
            Ok(g) => {
                groups.insert(a, g);
            }
            Err(e) => errs.push(Diagnostic::error(
                "E013",
                ir.atoms[a].span,
                format!("target k8s-admin: selecting the pods of `{}` in namespace `{}` needs {} selectors (at most {})", ir.atoms[a].name, e.namespace, e.terms, select::MAX_TERMS),
            ).with_help("give the zone's services fewer labels each, or put some of them in their own namespace")),
        }
    }
    let allowed: Vec<(AtomId, AtomId, &PortSet, Vec<usize>)> = flows
        .iter()
        .map(|(f, t, fl)| (*f, *t, &fl.ports, fl.allow_ids()))
        .collect();
    let mut objects = vec![];
    for (&subject, subject_groups) in &groups {
        let ingress = drafts(
            ir,
            &groups,
            subject,
            false,
            &allowed,
            opts.admin_allows,
            &mut errs,
        );
        let egress = drafts(ir, &groups, subject, true, &allowed, opts.admin_allows, &mut errs);
        if ingress.is_empty() && egress.is_empty() {
            continue;
        }
        let terms: Vec<NamespacedPod> = subject_groups.iter().flat_map(pods_of).collect();
        for (i, pods) in terms.iter().enumerate() {
            let base = if terms.len() > 1 {
                format!("moat-admin-{}-{}", ir.atoms[subject].name, i + 1)
            } else {
                format!("moat-admin-{}", ir.atoms[subject].name)
            };
            match split(ir, subject, &base, pods, &ingress, &egress) {
                Ok(list) => objects.extend(list),
                Err(d) => errs.push(d),
            }
        }
    }
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        errs.dedup();
        return Err(errs);
    }
    unique_names(&mut objects);
    objects.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut out = vec![];
    if !objects.is_empty() {
        out.push(file(&format!("{dir}/admin.yaml"), &objects)?);
    }
    if let Some(b) = baseline(ir) {
        out.push(file(&format!("{dir}/baseline.yaml"), &[b])?);
    }
    Ok(out)
}

fn file(path: &str, docs: &[ClusterNetworkPolicy]) -> Result<Artefact, Vec<Diagnostic>> {
    let contents = serde_saphyr::to_string_multiple(docs).map_err(|e| {
        vec![Diagnostic::error_nospan(
            "E013",
            format!("cannot serialise {path}: {e}"),
        )]
    })?;
    Ok(Artefact {
        path: path.to_string(),
        contents,
    })
}

/// The subject's rules in one direction (egress when `egress`), in order.
fn drafts(
    ir: &Ir,
    groups: &BTreeMap<AtomId, Vec<PodGroup>>,
    subject: AtomId,
    egress: bool,
    allowed: &[(AtomId, AtomId, &PortSet, Vec<usize>)],
    admin_allows: bool,
    errs: &mut Vec<Diagnostic>,
) -> Vec<Draft> {
    let mut out = vec![];
    // 1. forbids
    for f in &ir.forbids {
        for (from, to, ports) in &f.pairs {
            let (me, peer) = if egress { (*from, *to) } else { (*to, *from) };
            if me != subject {
                continue;
            }
            let Some(peers) = peers(ir, groups, peer, egress) else {
                continue;
            };
            // ICMP and other protocols cannot be matched: the rest is
            // denied here, and W019 says what is left to the k8s target.
            let matchable = if ports.is_any() {
                ports.clone()
            } else {
                ports.intersect(&matchable())
            };
            let Some(protocols) = protocols(&matchable).filter(|_| !matchable.is_empty()) else {
                continue;
            };
            out.push(Draft {
                action: Action::Deny,
                peers,
                protocols,
                kind: "forbid",
                line: format!("{} {}: {}", direction(egress, ir, peer), matchable, f.cite),
            });
        }
    }
    // 3. crossings (built first: the passes are needed only before them)
    let mut crossings = vec![];
    if let Some(other) = crossing_kind(ir.zones[ir.atoms[subject].zone].kind) {
        for peer in (0..ir.atoms.len()).filter(|&p| ir.zones[ir.atoms[p].zone].kind == other) {
            if let Some(peers) = peers(ir, groups, peer, egress) {
                crossings.push(Draft {
                    action: Action::Deny,
                    peers,
                    protocols: vec![],
                    kind: "crossing",
                    line: format!(
                        "{} any: {} <-> {} crossing (built-in rule)",
                        direction(egress, ir, peer),
                        ZoneKind::External.as_str(),
                        ZoneKind::Militarised.as_str()
                    ),
                });
            }
        }
    }
    // 2. the allowed flows, passed (or accepted) before the crossings
    if admin_allows || !crossings.is_empty() {
        let action = if admin_allows {
            Action::Accept
        } else {
            Action::Pass
        };
        for (from, to, ports, allows) in allowed {
            let (me, peer) = if egress { (*from, *to) } else { (*to, *from) };
            if me != subject {
                continue;
            }
            let Some(peers) = peers(ir, groups, peer, egress) else {
                continue;
            };
            let protocols = match (protocols(ports), action) {
                (Some(p), _) => p,
                // Passing more than allowed only defers to the next tier.
                (None, Action::Pass) => vec![],
                (None, _) => {
                    for &a in allows {
                        errs.push(e044(ir.allows[a].span, "allow", ports));
                    }
                    continue;
                }
            };
            let locs: Vec<&str> = allows.iter().map(|&a| ir.allows[a].cite.as_str()).collect();
            out.push(Draft {
                action,
                peers,
                protocols,
                kind: "allow",
                line: format!(
                    "{} {}: {}",
                    direction(egress, ir, peer),
                    ports,
                    dedup(locs).join(", ")
                ),
            });
        }
    }
    out.extend(crossings);
    out
}

fn dedup(mut v: Vec<&str>) -> Vec<&str> {
    let mut seen = BTreeSet::new();
    v.retain(|l| seen.insert(*l));
    v
}

fn direction(egress: bool, ir: &Ir, peer: AtomId) -> String {
    format!(
        "{} {}",
        if egress { "egress to" } else { "ingress from" },
        ir.atoms[peer].name
    )
}

/// The zone kind a zone of `kind` may not exchange flows with directly.
fn crossing_kind(kind: ZoneKind) -> Option<ZoneKind> {
    match kind {
        ZoneKind::Militarised => Some(ZoneKind::External),
        ZoneKind::External => Some(ZoneKind::Militarised),
        ZoneKind::Demilitarised => None,
    }
}

/// The peers that stand for `atom`: its pods when it has any, else (egress
/// only) its addresses as `networks`, at most [`LIMIT`] CIDRs each. `None`
/// when this direction cannot name it.
fn peers(ir: &Ir, groups: &BTreeMap<AtomId, Vec<PodGroup>>, atom: AtomId, egress: bool) -> Option<Vec<Peer>> {
    if let Some(g) = groups.get(&atom) {
        let list: Vec<Peer> = g
            .iter()
            .flat_map(pods_of)
            .map(|pods| Peer {
                pods: Some(pods),
                ..Peer::default()
            })
            .collect();
        return (!list.is_empty()).then_some(list);
    }
    let a = &ir.atoms[atom];
    if !egress || !a.has_addrs() {
        return None;
    }
    let cidrs: Vec<String> = a.addrs.prefixes().iter().map(ToString::to_string).collect();
    Some(
        cidrs
            .chunks(LIMIT)
            .map(|c| Peer {
                networks: c.to_vec(),
                ..Peer::default()
            })
            .collect(),
    )
}

fn pods_of(g: &PodGroup) -> Vec<NamespacedPod> {
    g.terms
        .iter()
        .map(|t| NamespacedPod {
            namespace_selector: g.namespace_selector(),
            pod_selector: t.selector(),
        })
        .collect()
}

/// The protocol matches of a port set (empty: every protocol), or `None`
/// when it holds a protocol a ClusterNetworkPolicy cannot match (ICMP, ...).
fn protocols(ports: &PortSet) -> Option<Vec<Protocol>> {
    if ports.is_any() {
        return Some(vec![]);
    }
    let mut out = vec![];
    for (p, ranges) in ports.iter() {
        protocol_name(p)?;
        for r in ranges {
            let port = if r.lo == r.hi {
                Port {
                    number: Some(r.lo),
                    range: None,
                }
            } else {
                Port {
                    number: None,
                    range: Some(Range {
                        start: r.lo.max(1),
                        end: r.hi,
                    }),
                }
            };
            let m = Some(PortMatch {
                destination_port: port,
            });
            out.push(match p {
                Proto::Tcp => Protocol {
                    tcp: m,
                    ..Protocol::default()
                },
                Proto::Udp => Protocol {
                    udp: m,
                    ..Protocol::default()
                },
                _ => Protocol {
                    sctp: m,
                    ..Protocol::default()
                },
            });
        }
    }
    Some(out)
}

/// Every TCP, UDP and SCTP port: what a ClusterNetworkPolicy can match.
fn matchable() -> PortSet {
    let mut all = PortSet::proto(Proto::Tcp);
    all.union_with(&PortSet::proto(Proto::Udp));
    all.union_with(&PortSet::proto(Proto::Sctp));
    all
}

fn e044(span: Span, what: &str, ports: &PortSet) -> Diagnostic {
    Diagnostic::error(
        "E044",
        span,
        format!("target k8s-admin cannot express this {what}'s ports ({ports}): a ClusterNetworkPolicy matches TCP, UDP and SCTP only"),
    )
    .with_help("name TCP, UDP or SCTP ports, or `any`; leave other protocols to a host or gateway target (iptables, nftables)")
}

/// A rule of the API: at most [`LIMIT`] peers and protocols. A draft with
/// more becomes several rules, the product of the chunks (same action).
fn expand(d: &Draft) -> Vec<(Vec<Peer>, Vec<Protocol>)> {
    let peer_chunks: Vec<&[Peer]> = d.peers.chunks(LIMIT).collect();
    let proto_chunks: Vec<&[Protocol]> = if d.protocols.is_empty() {
        vec![&[]]
    } else {
        d.protocols.chunks(LIMIT).collect()
    };
    let mut out = vec![];
    for p in &peer_chunks {
        for q in &proto_chunks {
            out.push((p.to_vec(), q.to_vec()));
        }
    }
    out
}

/// The subject's objects: the rules of each direction in order, at most
/// [`LIMIT`] per direction per object, priorities increasing with the chunk.
fn split(
    ir: &Ir,
    subject: AtomId,
    base: &str,
    pods: &NamespacedPod,
    ingress: &[Draft],
    egress: &[Draft],
) -> Result<Vec<ClusterNetworkPolicy>, Diagnostic> {
    let ing: Vec<(&Draft, Vec<Peer>, Vec<Protocol>)> = ingress
        .iter()
        .flat_map(|d| expand(d).into_iter().map(move |(p, q)| (d, p, q)))
        .collect();
    let eg: Vec<(&Draft, Vec<Peer>, Vec<Protocol>)> = egress
        .iter()
        .flat_map(|d| expand(d).into_iter().map(move |(p, q)| (d, p, q)))
        .collect();
    let chunks = ing.len().div_ceil(LIMIT).max(eg.len().div_ceil(LIMIT));
    let last = ADMIN_PRIORITY as usize + chunks.saturating_sub(1);
    if last > MAX_PRIORITY as usize {
        return Err(Diagnostic::error(
            "E013",
            ir.atoms[subject].span,
            format!("target k8s-admin: `{}` needs {chunks} ClusterNetworkPolicies of {LIMIT} rules in a row; priorities end at {MAX_PRIORITY}", ir.atoms[subject].name),
        )
        .with_help("merge forbids or allows so the subject has fewer peers, or leave some of them to the k8s target"));
    }
    let mut out = vec![];
    for k in 0..chunks {
        let pick =
            |list: &[(&Draft, Vec<Peer>, Vec<Protocol>)]| -> Vec<(usize, Draft, Vec<Peer>, Vec<Protocol>)> {
                list.iter()
                    .enumerate()
                    .skip(k * LIMIT)
                    .take(LIMIT)
                    .map(|(i, (d, p, q))| (i, (*d).clone(), p.clone(), q.clone()))
                    .collect()
            };
        let mut lines = vec![];
        let ingress: Vec<IngressRule> = pick(&ing)
            .into_iter()
            .map(|(i, d, from, protocols)| {
                lines.push(format!(
                    "ingress[{}] {}: {}",
                    i % LIMIT,
                    d.action.as_str(),
                    d.line
                ));
                IngressRule {
                    name: format!("{}-{}", d.kind, i + 1),
                    action: d.action.as_str(),
                    from,
                    protocols,
                }
            })
            .collect();
        let egress: Vec<EgressRule> = pick(&eg)
            .into_iter()
            .map(|(i, d, to, protocols)| {
                lines.push(format!("egress[{}] {}: {}", i % LIMIT, d.action.as_str(), d.line));
                EgressRule {
                    name: format!("{}-{}", d.kind, i + 1),
                    action: d.action.as_str(),
                    to,
                    protocols,
                }
            })
            .collect();
        let name = if chunks > 1 {
            format!("{base}-part{}", k + 1)
        } else {
            base.to_string()
        };
        out.push(ClusterNetworkPolicy {
            api_version: "policy.networking.k8s.io/v1alpha2",
            kind: "ClusterNetworkPolicy",
            metadata: meta(
                names::dns_label(&name),
                [
                    ("moat.io/atom", ir.atoms[subject].name.clone()),
                    ("moat.io/rules", lines.join("\n")),
                ],
            ),
            spec: Spec {
                tier: "Admin",
                priority: ADMIN_PRIORITY + k as u32,
                subject: Subject {
                    namespaces: None,
                    pods: Some(pods.clone()),
                },
                ingress,
                egress,
            },
        });
    }
    Ok(out)
}

fn meta(name: String, annotations: [(&'static str, String); 2]) -> ClusterMeta {
    ClusterMeta {
        name,
        labels: BTreeMap::from([MANAGED_BY]),
        annotations: annotations.into_iter().map(|(k, v)| (k, Cow::Owned(v))).collect(),
    }
}

/// The Baseline-tier default deny of every managed namespace.
/// `None` when the cluster has no managed namespace by name (those chosen by
/// label get no default deny, as in the k8s target: W010).
fn baseline(ir: &Ir) -> Option<ClusterNetworkPolicy> {
    let ns: Vec<String> = super::k8s::namespaces(ir).into_iter().collect();
    if ns.is_empty() {
        return None;
    }
    let all_pods = Peer {
        namespaces: Some(LabelSelector::default()),
        ..Peer::default()
    };
    let everywhere = Peer {
        networks: vec!["0.0.0.0/0".into(), "::/0".into()],
        ..Peer::default()
    };
    Some(ClusterNetworkPolicy {
        api_version: "policy.networking.k8s.io/v1alpha2",
        kind: "ClusterNetworkPolicy",
        metadata: meta(
            names::dns_label(&format!("moat-baseline-{}", ir.name)),
            [
                ("moat.io/description", format!("default deny for policy {}: what no NetworkPolicy allows in a managed namespace is denied (ingress from addresses excepted: see W019)", ir.name)),
                ("moat.io/rules", "ingress[0] Deny: ingress from every pod (default deny)\negress[0] Deny: egress to every pod and address (default deny)".into()),
            ],
        ),
        spec: Spec {
            tier: "Baseline",
            priority: BASELINE_PRIORITY,
            subject: Subject {
                namespaces: Some(namespace_selector(&ns)),
                pods: None,
            },
            ingress: vec![IngressRule {
                name: "default-deny".into(),
                action: "Deny",
                from: vec![all_pods.clone()],
                protocols: vec![],
            }],
            egress: vec![EgressRule {
                name: "default-deny".into(),
                action: "Deny",
                to: vec![all_pods, everywhere],
                protocols: vec![],
            }],
        },
    })
}

/// Gives objects whose DNS names collide a hashed name.
fn unique_names(list: &mut [ClusterNetworkPolicy]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for p in list.iter() {
        *seen.entry(p.metadata.name.clone()).or_default() += 1;
    }
    for (i, p) in list.iter_mut().enumerate() {
        if seen[p.metadata.name.as_str()] > 1 {
            let key = format!(
                "{}#{i}",
                p.metadata
                    .annotations
                    .get("moat.io/atom")
                    .map_or("", |c| c.as_ref())
            );
            p.metadata.name = names::with_hash(&p.metadata.name, &key);
        }
    }
}

/// W019 for what the Admin tier leaves to the k8s target: ingress from an
/// external zone's addresses to militarised pods (v1alpha2 ingress peers are
/// pods and namespaces only), and the ICMP (or other) part of a forbid.
pub fn warnings(ir: &Ir) -> Vec<Diagnostic> {
    let mut out = forbid_warnings(ir);
    let mz_pods = (0..ir.atoms.len())
        .any(|a| select::selects_pods(ir, a) && ir.zones[ir.atoms[a].zone].kind == ZoneKind::Militarised);
    if !mz_pods {
        return out;
    }
    let crossings = ir.zones
        .iter()
        .filter(|z| z.kind == ZoneKind::External && !z.cidrs.is_empty())
        .map(|z| {
            Diagnostic::warning(
                "W019",
                z.span,
                format!("target k8s-admin: ingress from `{}` to militarised pods is denied by the k8s target only: a ClusterNetworkPolicy (v1alpha2) cannot match ingress from addresses", z.name),
            )
            .with_help("compile the k8s target beside k8s-admin (its default deny covers this direction)")
        })
        .collect::<Vec<_>>();
    out.extend(crossings);
    out
}

fn forbid_warnings(ir: &Ir) -> Vec<Diagnostic> {
    let mut out = vec![];
    for f in &ir.forbids {
        let pod_pair = f.pairs.iter().find(|(a, b, ports)| {
            (select::selects_pods(ir, *a) || select::selects_pods(ir, *b))
                && !ports.is_any()
                && !ports.subtract(&matchable()).is_empty()
        });
        let from_addresses = f.pairs.iter().find(|(a, b, _)| {
            !select::selects_pods(ir, *a) && ir.atoms[*a].has_addrs() && select::selects_pods(ir, *b)
        });
        if let Some((a, b, _)) = from_addresses {
            out.push(
                Diagnostic::warning(
                    "W019",
                    f.span,
                    format!("target k8s-admin: `{}` -> `{}` is denied by the k8s target only: a ClusterNetworkPolicy (v1alpha2) cannot match ingress from addresses", ir.atoms[*a].name, ir.atoms[*b].name),
                )
                .with_help("compile the k8s target beside k8s-admin (its default deny covers this direction)"),
            );
        }
        let cluster = |a: AtomId| ir.layout.zone(ir.atoms[a].zone).cluster;
        let unnamed = f.pairs.iter().find(|(a, b, _)| {
            ir.in_k8s(*a)
                && ir.in_k8s(*b)
                && cluster(*a) != cluster(*b)
                && !(ir.atoms[*a].has_addrs() && ir.atoms[*b].has_addrs())
        });
        if let Some((a, b, _)) = unnamed {
            out.push(
                Diagnostic::warning(
                    "W019",
                    f.span,
                    format!("target k8s-admin: `{}` -> `{}` crosses clusters and an end has no addresses: a ClusterNetworkPolicy names the other cluster's pods by `networks` only, so this forbid is denied by the k8s target's default deny only", ir.atoms[*a].name, ir.atoms[*b].name),
                )
                .with_help("give both ends addresses (`hosts`, or `cidr` on the zone) for the Admin tier to deny it, and compile the k8s target beside k8s-admin"),
            );
        }
        if let Some((_, _, ports)) = pod_pair {
            out.push(
                Diagnostic::warning(
                    "W019",
                    f.span,
                    format!("target k8s-admin: the Admin tier denies only the TCP, UDP and SCTP part of this forbid; {} is denied by the k8s target only", ports.subtract(&matchable())),
                )
                .with_help("compile the k8s target beside k8s-admin (a NetworkPolicy cannot allow ICMP without allowing every protocol, which E007 rules out here)"),
            );
        }
    }
    out
}
