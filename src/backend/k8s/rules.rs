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

/// One ingress or egress rule before it is attached to its subject.
#[derive(Debug, Clone)]
pub struct Rule {
    pub peers: Vec<Peer>,
    pub ports: Vec<PolicyPort>,
    /// The peer and ports in words (`dmz.ingress tcp/443`), for the rules annotation.
    pub what: String,
    /// The allows behind the rule, sorted.
    pub allows: Vec<AllowId>,
}

impl Rule {
    /// True when both rules allow the same peers on the same ports.
    pub fn same_as(&self, other: &Rule) -> bool {
        self.peers == other.peers && self.ports == other.ports
    }
}

/// The rules for the flows between a subject and `ends` (the atoms at the
/// other end, each with its flow), zone by zone.
pub fn rules(ir: &Ir, ends: &[(AtomId, &Flow)], groups: &BTreeMap<AtomId, Vec<PodGroup>>) -> Vec<Rule> {
    let mut by_zone: BTreeMap<ZoneId, Vec<(AtomId, &Flow)>> = BTreeMap::new();
    for &(atom, flow) in ends {
        by_zone.entry(ir.atoms[atom].zone).or_default().push((atom, flow));
    }
    let mut out = vec![];
    for (zone, ends) in by_zone {
        let z = &ir.zones[zone];
        let whole = ends.len() == z.services.len() + 1 && ends.len() > 1 && ends.iter().all(|(_, f)| f.ports == ends[0].1.ports);
        if whole {
            let mut allows: Vec<AllowId> = ends.iter().flat_map(|(_, f)| f.allow_ids()).collect();
            allows.sort_unstable();
            allows.dedup();
            let mut peers = vec![];
            if !z.namespaces.is_empty() {
                let mut ns = z.namespaces.clone();
                ns.sort();
                ns.dedup();
                peers.push(Peer {
                    namespace_selector: Some(select::namespace_selector(&ns)),
                    pod_selector: Some(LabelSelector::default()),
                    ip_block: None,
                });
            }
            for (atom, _) in &ends {
                if !select::selects_pods(ir, *atom) {
                    peers.extend(address_peers(&ir.atoms[*atom].addrs));
                }
            }
            let ports = &ends[0].1.ports;
            let what = format!("zone {} (every member) {}", z.name, ports);
            out.push(Rule { peers, ports: policy_ports(ports), what, allows });
            continue;
        }
        for (atom, flow) in ends {
            let what = format!("{} {}", ir.atoms[atom].name, flow.ports);
            out.push(Rule { peers: peers(ir, atom, groups), ports: policy_ports(&flow.ports), what, allows: flow.allow_ids() });
        }
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
            out.push(pod_peer(&g.namespaces, term));
        }
    }
    out
}

fn pod_peer(namespaces: &[String], term: &PodTerm) -> Peer {
    Peer { namespace_selector: Some(select::namespace_selector(namespaces)), pod_selector: Some(term.selector()), ip_block: None }
}

fn address_peers(addrs: &AddrSet) -> Vec<Peer> {
    ip_blocks(addrs).into_iter().map(|b| Peer { namespace_selector: None, pod_selector: None, ip_block: Some(b) }).collect()
}

/// One `ipBlock` per range of the set, with the holes inside it as `except`.
pub fn ip_blocks(addrs: &AddrSet) -> Vec<IpBlock> {
    addrs
        .include
        .iter()
        .map(|r| IpBlock { cidr: r.to_string(), except: addrs.except.iter().filter(|h| r.contains(*h)).map(ToString::to_string).collect() })
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
        let Some(protocol) = protocol_name(p) else { continue };
        for r in ranges {
            out.push(if *r == PortRange::FULL {
                PolicyPort { protocol, port: None, end_port: None }
            } else {
                PolicyPort { protocol, port: Some(r.lo), end_port: (r.hi > r.lo).then_some(r.hi) }
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
