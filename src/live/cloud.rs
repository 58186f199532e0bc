//! The evaluator the three cloud readers share: rules that apply to some
//! atoms' instances, in one direction, towards peers named by group
//! membership or by address, with priorities and allow or deny. AWS is the
//! special case of one priority and allows only (union semantics).
//!
//! An instance of atom A stands for A: it carries what the live input says
//! A's instances carry (groups, tags, ASGs). A peer named by address matches
//! the parts of an atom's addresses inside the range: the atom's addresses
//! are split at every edge a rule mentions and each piece decided on its own,
//! so a rule covering part of an atom gives a `partial` row. An atom without
//! addresses is matched by address only by a range holding every address of
//! a family (`/0`). ICMP is decided over IPv4 pieces, ICMPv6 over IPv6 ones.

use super::cover::{self, Iv};
use super::{LiveFlow, LiveMatrix, LiveRule, Partial};
use crate::ir::{AtomId, Ir, SiteKind};
use crate::ports::{PortSet, Proto};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};

/// Which way a rule filters, seen from the instance it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dir {
    In,
    Out,
}

/// Whom a rule names at the other end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sel {
    /// The instances of these atoms (a referenced group, a source tag, an ASG).
    Atoms(BTreeSet<AtomId>),
    /// Every address in the range.
    Net(IpNet),
    /// Everyone.
    Any,
}

/// One live rule as the cloud evaluates it.
#[derive(Debug, Clone)]
pub struct CRule {
    pub live: LiveRule,
    /// The atoms whose instances it applies to.
    pub applies: BTreeSet<AtomId>,
    pub dir: Dir,
    pub peers: Vec<Sel>,
    pub ports: PortSet,
    pub allow: bool,
    /// Lower is evaluated first; at equal priority a deny wins.
    pub priority: i64,
}

/// A piece of a peer's address space: a part of its addresses, or, for an
/// atom without addresses, "some address of this family".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seg {
    Addr(Iv),
    Unknown { v6: bool },
}

impl Seg {
    fn v6(self) -> bool {
        match self {
            Seg::Addr(iv) => iv.v6,
            Seg::Unknown { v6 } => v6,
        }
    }
}

/// What one side (an owner's rules in one direction) lets through towards one peer.
struct Side {
    /// Ports let through for at least one piece of the peer.
    some: PortSet,
    /// Ports let through for every piece of the peer (that the protocol can reach).
    full: PortSet,
    /// The pieces of the peer that get something, when not all do.
    covered: Vec<Iv>,
    /// Each deciding allow rule (index) and the ports it decided.
    by: BTreeMap<usize, PortSet>,
}

/// The live firewalls of one cloud: the rules, and what happens when none matches.
pub struct Firewall<'a> {
    pub kind: SiteKind,
    pub rules: Vec<CRule>,
    /// `(owner, peer, dir) -> allowed` when no rule matches.
    pub default: &'a dyn Fn(AtomId, AtomId, Dir) -> bool,
}

impl Firewall<'_> {
    /// The live matrix over every pair with at least one end at a site of the
    /// cloud's kind: each has an entry, empty when the live state blocks it.
    pub fn evaluate(&self, ir: &Ir) -> LiveMatrix {
        let n = ir.atoms.len();
        let owned: Vec<bool> = (0..n).map(|a| ir.site_of(a).kind == self.kind).collect();
        // (owner, dir) -> its rules, in evaluation order.
        let mut by_owner: BTreeMap<(AtomId, Dir), Vec<usize>> = BTreeMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            for a in &r.applies {
                by_owner.entry((*a, r.dir)).or_default().push(i);
            }
        }
        for list in by_owner.values_mut() {
            list.sort_by_key(|&i| (self.rules[i].priority, self.rules[i].allow, i));
        }
        let none = vec![];
        let mut out = LiveMatrix::new();
        for s in 0..n {
            for d in 0..n {
                if !owned[s] && !owned[d] {
                    continue;
                }
                let inbound = owned[d]
                    .then(|| self.side(ir, d, s, Dir::In, by_owner.get(&(d, Dir::In)).unwrap_or(&none)));
                let outbound = owned[s]
                    .then(|| self.side(ir, s, d, Dir::Out, by_owner.get(&(s, Dir::Out)).unwrap_or(&none)));
                let sides: Vec<&Side> = inbound.iter().chain(outbound.iter()).collect();
                let mut ports = PortSet::any();
                let mut full = PortSet::any();
                for side in &sides {
                    ports = ports.intersect(&side.some);
                    full = full.intersect(&side.full);
                }
                // An empty row stays: the live state blocks the pair (the scope convention).
                let mut by: BTreeMap<usize, PortSet> = BTreeMap::new();
                for side in &sides {
                    for (i, p) in &side.by {
                        let p = p.intersect(&ports);
                        if !p.is_empty() {
                            by.entry(*i).or_default().union_with(&p);
                        }
                    }
                }
                let partial = (!ports.is_empty() && !ports.is_subset(&full)).then(|| Partial {
                    from: texts(inbound.as_ref()),
                    to: texts(outbound.as_ref()),
                    ports: ports.subtract(&full),
                });
                out.insert(
                    (s, d),
                    LiveFlow {
                        ports,
                        by: by
                            .into_iter()
                            .map(|(i, p)| (self.rules[i].live.clone(), p))
                            .collect(),
                        partial,
                    },
                );
            }
        }
        out
    }

    /// What `owner`'s rules in `dir` let through towards `peer`: per piece of
    /// the peer's addresses, the rules in evaluation order, each deciding the
    /// ports no earlier rule decided; the default decides the rest.
    fn side(&self, ir: &Ir, owner: AtomId, peer: AtomId, dir: Dir, rules: &[usize]) -> Side {
        let addrs = cover::intervals(&ir.atoms[peer].addrs);
        // Only the rules that can match this peer at all.
        let touches = |s: &Sel| match s {
            Sel::Any => true,
            Sel::Atoms(set) => set.contains(&peer),
            Sel::Net(n) => {
                let n = Iv::of(n);
                if addrs.is_empty() {
                    n.lo == 0 && n.hi == if n.v6 { u128::MAX } else { u128::from(u32::MAX) }
                } else {
                    addrs.iter().any(|a| a.v6 == n.v6 && a.lo <= n.hi && n.lo <= a.hi)
                }
            }
        };
        let rules: Vec<usize> = rules
            .iter()
            .copied()
            .filter(|&i| self.rules[i].peers.iter().any(touches))
            .collect();
        let cuts: Vec<Iv> = rules
            .iter()
            .flat_map(|&i| self.rules[i].peers.iter())
            .filter_map(|s| {
                if let Sel::Net(n) = s {
                    Some(Iv::of(n))
                } else {
                    None
                }
            })
            .collect();
        let segs: Vec<Seg> = if addrs.is_empty() {
            vec![Seg::Unknown { v6: false }, Seg::Unknown { v6: true }]
        } else {
            cover::split(&addrs, &cuts).into_iter().map(Seg::Addr).collect()
        };
        let icmp = PortSet::proto(Proto::Icmp);
        let icmp6 = PortSet::proto(Proto::Icmpv6);
        let mut side = Side {
            some: PortSet::empty(),
            full: PortSet::any(),
            covered: vec![],
            by: BTreeMap::new(),
        };
        let mut reachable = PortSet::empty();
        let mut got: Vec<bool> = Vec::with_capacity(segs.len());
        for seg in &segs {
            let feasible = PortSet::any().subtract(if seg.v6() { &icmp } else { &icmp6 });
            let mut decided = PortSet::empty();
            let mut allowed = PortSet::empty();
            for &i in &rules {
                let r = &self.rules[i];
                if !r.peers.iter().any(|s| matches(s, peer, *seg)) {
                    continue;
                }
                let fresh = r.ports.subtract(&decided).intersect(&feasible);
                if fresh.is_empty() {
                    continue;
                }
                if r.allow {
                    allowed.union_with(&fresh);
                    side.by.entry(i).or_default().union_with(&fresh);
                }
                decided.union_with(&fresh);
                if decided == feasible {
                    break;
                }
            }
            if (self.default)(owner, peer, dir) {
                allowed.union_with(&feasible.subtract(&decided));
            }
            got.push(!allowed.is_empty());
            side.some.union_with(&allowed);
            side.full = side
                .full
                .intersect(&allowed.union(&PortSet::any().subtract(&feasible)));
            reachable.union_with(&feasible);
        }
        side.full = side.full.intersect(&reachable);
        if !side.some.is_subset(&side.full) {
            side.covered = segs
                .iter()
                .zip(&got)
                .filter_map(|(s, g)| match s {
                    Seg::Addr(iv) if *g => Some(*iv),
                    _ => None,
                })
                .collect();
        }
        side
    }
}

fn matches(sel: &Sel, peer: AtomId, seg: Seg) -> bool {
    match sel {
        Sel::Any => true,
        Sel::Atoms(set) => set.contains(&peer),
        Sel::Net(n) => match seg {
            Seg::Addr(iv) => iv.inside(&Iv::of(n)),
            Seg::Unknown { v6 } => n.prefix_len() == 0 && matches!(n, IpNet::V6(_)) == v6,
        },
    }
}

fn texts(side: Option<&Side>) -> Vec<String> {
    side.map(|s| cover::merged(s.covered.clone()).iter().map(Iv::text).collect())
        .unwrap_or_default()
}

/// The atoms at sites of `kind`.
pub fn covered(ir: &Ir, kind: SiteKind) -> BTreeSet<AtomId> {
    (0..ir.atoms.len())
        .filter(|a| ir.site_of(*a).kind == kind)
        .collect()
}

/// The atoms of the zone named `zone`.
pub fn zone_atoms(ir: &Ir, zone: &str) -> BTreeSet<AtomId> {
    (0..ir.atoms.len())
        .filter(|a| ir.zone_of(*a).name == zone)
        .collect()
}

/// Parses a CIDR or a bare address (a host).
pub fn net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .map(|n| n.trunc())
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(crate::addr::host))
}
