//! The rules of one subject (the pods a policy applies to): its peers on the
//! other end of each flow, as pod selectors and address blocks, and the ports.
//!
//! When every atom of a zone reaches the subject on the same ports, the zone
//! becomes one rule: `podSelector: {}` in the zone's namespaces (every pod of
//! the zone, which is exactly its services plus its remainder) and the
//! address blocks of its atoms without pods.

use super::model::{IpBlock, LabelSelector, Peer, PolicyPort};
use super::select::{self, PodGroup, PodTerm};
use crate::addr::AddrSet;
use crate::ir::{AllowId, AtomId, Flow, Ir, ZoneId};
use crate::ports::{PortRange, PortSet, Proto};
use std::collections::BTreeMap;

/// What a rule's peers stand for: one atom, or every member of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Atom(AtomId),
    Zone(ZoneId),
}

/// One ingress or egress rule before it is attached to its subject.
#[derive(Debug, Clone)]
pub struct Rule<'a> {
    /// Whom the peers stand for, for the rules annotation.
    pub end: End,
    pub peers: &'a [Peer],
    /// Equal for equal peer lists ([`PeerTable`]).
    pub peer_id: usize,
    pub ports: Vec<PolicyPort>,
    /// The ports as the policy wrote them, for the rules annotation.
    pub port_set: &'a PortSet,
    /// The allows behind the rule, sorted.
    pub allows: Vec<AllowId>,
}

/// Two rules with the same shape allow the same peers on the same ports.
pub type Shape = (usize, Vec<PolicyPort>);

impl Rule<'_> {
    /// The peers and ports, cheap to compare.
    pub fn shape(&self) -> Shape {
        (self.peer_id, self.ports.clone())
    }
}

/// The peers of every atom and of every zone taken whole, built once and
/// borrowed by every rule that names them. Equal lists share an id.
pub struct PeerTable {
    atoms: Vec<(Vec<Peer>, usize)>,
    zones: Vec<(Vec<Peer>, usize)>,
}

impl PeerTable {
    /// The peers of each atom and zone of the policy.
    pub fn new(ir: &Ir, groups: &BTreeMap<AtomId, Vec<PodGroup>>) -> PeerTable {
        let atoms: Vec<Vec<Peer>> = (0..ir.atoms.len()).map(|a| peers(ir, a, groups)).collect();
        let zones: Vec<Vec<Peer>> = (0..ir.zones.len()).map(|z| zone_peers(ir, z)).collect();
        let mut ids: BTreeMap<&[Peer], usize> = BTreeMap::new();
        let atom_ids: Vec<usize> = atoms.iter().map(|l| intern(&mut ids, l)).collect();
        let zone_ids: Vec<usize> = zones.iter().map(|l| intern(&mut ids, l)).collect();
        PeerTable {
            atoms: atoms.into_iter().zip(atom_ids).collect(),
            zones: zones.into_iter().zip(zone_ids).collect(),
        }
    }

    fn of(&self, end: End) -> (&[Peer], usize) {
        let (list, id) = match end {
            End::Atom(a) => &self.atoms[a],
            End::Zone(z) => &self.zones[z],
        };
        (list, *id)
    }
}

/// The id of `list`: the next free one unless an equal list has one.
fn intern<'p>(ids: &mut BTreeMap<&'p [Peer], usize>, list: &'p [Peer]) -> usize {
    let next = ids.len();
    *ids.entry(list).or_insert(next)
}

/// The rules for the flows between a subject and `ends` (the atoms at the
/// other end, each with its flow, by atom), zone by zone.
pub fn rules<'a>(ir: &Ir, ends: &[(AtomId, &'a Flow)], table: &'a PeerTable) -> Vec<Rule<'a>> {
    let mut by_zone: BTreeMap<ZoneId, Vec<(AtomId, &Flow)>> = BTreeMap::new();
    for &(atom, flow) in ends {
        by_zone.entry(ir.atoms[atom].zone).or_default().push((atom, flow));
    }
    let rule = |end: End, flow: &'a Flow, allows: Vec<AllowId>| {
        let (peers, peer_id) = table.of(end);
        Rule {
            end,
            peers,
            peer_id,
            ports: policy_ports(&flow.ports),
            port_set: &flow.ports,
            allows,
        }
    };
    let mut out = vec![];
    for (zone, ends) in by_zone {
        let z = &ir.zones[zone];
        let whole = ends.len() == z.services.len() + 1
            && ends.len() > 1
            && ends.iter().all(|(_, f)| f.ports == ends[0].1.ports);
        if whole {
            let mut allows: Vec<AllowId> = ends.iter().flat_map(|(_, f)| f.allow_ids()).collect();
            allows.sort_unstable();
            allows.dedup();
            out.push(rule(End::Zone(zone), ends[0].1, allows));
        } else {
            out.extend(
                ends.into_iter()
                    .map(|(atom, flow)| rule(End::Atom(atom), flow, flow.allow_ids())),
            );
        }
    }
    // An end with no peers has no members (a shared-namespace zone's remainder
    // that its services cover, an atom without pods or addresses): its rule
    // allows nothing, and written out it would be `to: []`, which Kubernetes
    // reads as every peer.
    out.retain(|r| !r.peers.is_empty());
    out
}

/// The peers that stand for every member of a zone: `podSelector: {}` in its
/// namespaces, and the address blocks of its atoms without pods (by atom).
fn zone_peers(ir: &Ir, zone: ZoneId) -> Vec<Peer> {
    let z = &ir.zones[zone];
    let mut out = member_selectors(ir, zone)
        .into_iter()
        .map(|(namespaces, pods)| Peer {
            namespace_selector: Some(namespaces),
            pod_selector: Some(pods),
            ip_block: None,
        })
        .collect::<Vec<_>>();
    let mut atoms: Vec<AtomId> = z.services.iter().copied().chain([z.remainder]).collect();
    atoms.sort_unstable();
    for atom in atoms {
        if !select::selects_pods(ir, atom) {
            out.extend(address_peers(&ir.atoms[atom].addrs));
        }
    }
    out
}

/// Every member pod of a zone as (namespace selector, pod selector) pairs:
/// `podSelector: {}` in the namespaces it holds whole, its selector in each
/// namespace it shares, `podSelector: {}` in the namespaces its labels choose.
pub fn member_selectors(ir: &Ir, zone: ZoneId) -> Vec<(LabelSelector, LabelSelector)> {
    let z = &ir.zones[zone];
    let layout = ir.layout.zone(zone);
    if !layout.ns_labels.is_empty() {
        let ns = LabelSelector {
            match_labels: layout.ns_labels.clone(),
            match_expressions: vec![],
        };
        return vec![(ns, LabelSelector::default())];
    }
    let mut ns = z.namespaces.clone();
    ns.sort();
    ns.dedup();
    let (shared, whole): (Vec<String>, Vec<String>) =
        ns.into_iter().partition(|n| layout.claims.contains_key(n));
    let mut out = vec![];
    if !whole.is_empty() {
        out.push((select::namespace_selector(&whole), LabelSelector::default()));
    }
    for n in shared {
        let c = &layout.claims[&n];
        let term = PodTerm {
            equal: c.equal.clone(),
            not_in: c.not_in.clone(),
        };
        out.push((
            select::namespace_selector(std::slice::from_ref(&n)),
            term.selector(),
        ));
    }
    out
}

/// The peers that stand for `atom`: its pods when it has any, else its
/// addresses. (An atom with pods is reached through its pods only: its
/// addresses serve the host and cloud targets, and `ipBlock` does not
/// reliably match pods.)
fn peers(ir: &Ir, atom: AtomId, groups: &BTreeMap<AtomId, Vec<PodGroup>>) -> Vec<Peer> {
    let mut out = vec![];
    if !select::selects_pods(ir, atom) {
        return address_peers(&ir.atoms[atom].addrs);
    }
    for g in groups.get(&atom).map(Vec::as_slice).unwrap_or_default() {
        for term in &g.terms {
            out.push(pod_peer(g, term));
        }
    }
    out
}

fn pod_peer(group: &PodGroup, term: &PodTerm) -> Peer {
    Peer {
        namespace_selector: Some(group.namespace_selector()),
        pod_selector: Some(term.selector()),
        ip_block: None,
    }
}

fn address_peers(addrs: &AddrSet) -> Vec<Peer> {
    ip_blocks(addrs)
        .into_iter()
        .map(|b| Peer {
            namespace_selector: None,
            pod_selector: None,
            ip_block: Some(b),
        })
        .collect()
}

/// One `ipBlock` per range of the set, with the holes inside it as `except`.
pub fn ip_blocks(addrs: &AddrSet) -> Vec<IpBlock> {
    addrs
        .include
        .iter()
        .map(|r| IpBlock {
            cidr: r.to_string(),
            except: addrs
                .except
                .iter()
                .filter(|h| r.contains(*h))
                .map(ToString::to_string)
                .collect(),
        })
        .collect()
}

/// The ports of a rule; empty for `any`. Only TCP, UDP and SCTP appear: the
/// other protocols were rejected before (E017).
pub fn policy_ports(ports: &PortSet) -> Vec<PolicyPort> {
    if ports.is_any() {
        return vec![];
    }
    let mut out = vec![];
    for (p, ranges) in ports.iter() {
        let Some(protocol) = protocol_name(p) else {
            continue;
        };
        for r in ranges {
            out.push(if *r == PortRange::FULL {
                PolicyPort {
                    protocol,
                    port: None,
                    end_port: None,
                }
            } else {
                PolicyPort {
                    protocol,
                    port: Some(r.lo),
                    end_port: (r.hi > r.lo).then_some(r.hi),
                }
            });
        }
    }
    out
}

/// The NetworkPolicy name of a protocol, `None` for those it cannot express.
pub fn protocol_name(p: Proto) -> Option<&'static str> {
    match p {
        Proto::Tcp => Some("TCP"),
        Proto::Udp => Some("UDP"),
        Proto::Sctp => Some("SCTP"),
        Proto::Icmp | Proto::Icmpv6 | Proto::Other => None,
    }
}
