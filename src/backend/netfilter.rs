//! The rule model the two netfilter targets share (iptables, nftables),
//! derived from the IR once: which flows each ruleset enforces, each split
//! into protocol/port matches that remember the allows behind them, and the
//! exact address prefixes of every atom per address family.
//!
//! Both targets render the same [`Ruleset`]s; they differ only in syntax and
//! in how they dispatch a packet to its rules.

use super::{scope, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Flow, Ir, ZoneId, ZoneKind};
use crate::ports::{PortRange, PortSet, Proto};
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

/// A run of consecutive addresses: one CIDR prefix, or a range that is no single prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Interval {
    Prefix(IpNet),
    /// First and last address, inclusive.
    Range(IpAddr, IpAddr),
}

impl fmt::Display for Interval {
    /// `10.0.0.0/8`, or `10.0.0.0-10.0.0.9` (the syntax of nft and of iptables' iprange).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interval::Prefix(n) => write!(f, "{n}"),
            Interval::Range(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

/// Sorted disjoint prefixes as intervals: runs of adjacent prefixes joined into
/// one range, a run of one prefix kept as the prefix.
pub fn intervals(prefixes: &[IpNet]) -> Vec<Interval> {
    let mut runs: Vec<(IpNet, IpNet)> = vec![];
    for n in prefixes {
        match runs.last_mut() {
            Some((_, last)) if follows(last, n) => *last = *n,
            _ => runs.push((*n, *n)),
        }
    }
    runs.into_iter()
        .map(|(a, b)| {
            if a == b {
                Interval::Prefix(a)
            } else {
                Interval::Range(a.network(), b.broadcast())
            }
        })
        .collect()
}

/// True when `next` starts right after `prev` ends.
fn follows(prev: &IpNet, next: &IpNet) -> bool {
    match (prev, next) {
        (IpNet::V4(p), IpNet::V4(n)) => {
            u32::from(p.broadcast()).checked_add(1) == Some(u32::from(n.network()))
        }
        (IpNet::V6(p), IpNet::V6(n)) => {
            u128::from(p.broadcast()).checked_add(1) == Some(u128::from(n.network()))
        }
        _ => false,
    }
}

/// An IP address family: each gets its own iptables file and its own nft sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// `v4` or `v6`, as in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }

    /// True for IPv6.
    pub fn is_v6(self) -> bool {
        self == Family::V6
    }

    /// Whether a port-less protocol exists in this family (icmp is IPv4's, icmpv6 IPv6's).
    pub fn carries(self, p: Proto) -> bool {
        match p {
            Proto::Icmp => self == Family::V4,
            Proto::Icmpv6 => self == Family::V6,
            _ => true,
        }
    }
}

/// What a rule matches beyond the addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Every protocol and port (`any`).
    Any,
    /// Every packet of a port-less protocol (icmp, icmpv6).
    Proto(Proto),
    /// Destination ports of tcp, udp or sctp, each range with the allows that cover it.
    Ports(Proto, Vec<PortSpan>),
}

/// One merged port range and the allows (by id, sorted) that allow part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpan {
    pub range: PortRange,
    pub allows: Vec<AllowId>,
}

/// One match of a grant, with the allows behind it (sorted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub what: Match,
    pub allows: Vec<AllowId>,
}

/// An allowed flow from one atom to another, as netfilter enforces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub from: AtomId,
    pub to: AtomId,
    pub entries: Vec<Entry>,
}

/// Where a ruleset is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// On the firewall that routes between zones: the FORWARD path.
    Gateway,
    /// On every host of one zone: INPUT and OUTPUT.
    Host(ZoneId),
}

/// One ruleset to emit: a mode and the grants it enforces.
#[derive(Debug, Clone)]
pub struct Ruleset<'m> {
    pub mode: Mode,
    /// File stem: `gateway` or `host-<zone>` (the zone's full dotted name).
    pub stem: String,
    pub grants: Vec<&'m Grant>,
    /// The families it has addresses in (IPv6 only where the policy has IPv6 addresses).
    pub families: Vec<Family>,
}

/// The netfilter view of a policy.
#[derive(Debug)]
pub struct Model<'ir> {
    pub ir: &'ir Ir,
    /// In matrix order (from, to).
    pub grants: Vec<Grant>,
    /// Per atom, its exact addresses (carve-outs subtracted) as prefixes, IPv4 then IPv6.
    prefixes: Vec<[Vec<IpNet>; 2]>,
    /// The same addresses as intervals (adjacent prefixes joined).
    intervals: Vec<[Vec<Interval>; 2]>,
    /// Per atom: it is an end that puts flows in scope (addresses, onprem site).
    owned: Vec<bool>,
}

impl<'ir> Model<'ir> {
    /// Derives the model from the IR, or E012 (scope) / E017 (an inexpressible port set).
    pub fn new(ir: &'ir Ir, target: Target) -> Result<Model<'ir>, Vec<Diagnostic>> {
        let flows = scope::flows(target, ir)?;
        let mut errs = vec![];
        let mut grants = vec![];
        for (from, to, flow) in flows {
            match entries(flow) {
                Ok(entries) => grants.push(Grant { from, to, entries }),
                Err(()) => errs.extend(flow.allow_ids().into_iter().map(|id| e017(ir, id, target))),
            }
        }
        if !errs.is_empty() {
            crate::diag::sort(&mut errs);
            return Err(errs);
        }
        let prefixes: Vec<[Vec<IpNet>; 2]> = ir
            .atoms
            .iter()
            .map(|a| [false, true].map(|v6| a.addrs.family(v6).prefixes()))
            .collect();
        let intervals = prefixes
            .iter()
            .map(|p| [&p[0], &p[1]].map(|p| intervals(&IpNet::aggregate(p))))
            .collect();
        let owned = (0..ir.atoms.len()).map(|a| scope::owns(target, ir, a)).collect();
        Ok(Model {
            ir,
            grants,
            prefixes,
            intervals,
            owned,
        })
    }

    /// The exact addresses of an atom in one family (empty when it has none there).
    pub fn intervals(&self, atom: AtomId, fam: Family) -> &[Interval] {
        &self.intervals[atom][fam as usize]
    }

    /// The addresses of several atoms, joined into the fewest intervals.
    pub fn union(&self, atoms: &[AtomId], fam: Family) -> Vec<Interval> {
        let all: Vec<IpNet> = atoms
            .iter()
            .flat_map(|a| self.prefixes[*a][fam as usize].iter().copied())
            .collect();
        intervals(&IpNet::aggregate(&all))
    }

    /// The atoms of a zone (services, then its remainder), sorted by id.
    pub fn zone_atoms(&self, zone: ZoneId) -> Vec<AtomId> {
        let z = &self.ir.zones[zone];
        let mut v: Vec<AtomId> = z.services.iter().copied().chain([z.remainder]).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The rulesets to emit: the gateway (when any flow is in scope) and one per
    /// zone that owns an atom (has addresses and sits at an onprem site), except
    /// external zones (their hosts, the internet, are not ours to configure)
    /// and unmanaged ones (moat is told not to configure them).
    pub fn rulesets(&self) -> Vec<Ruleset<'_>> {
        let mut out = vec![];
        if !self.grants.is_empty() {
            let atoms: Vec<AtomId> = (0..self.ir.atoms.len()).filter(|a| self.owned[*a]).collect();
            out.push(Ruleset {
                mode: Mode::Gateway,
                stem: "gateway".to_string(),
                grants: self.grants.iter().collect(),
                families: self.families(&atoms),
            });
        }
        // Each zone's grants (those with an end inside it), in one pass, in grant order.
        let mut by_zone: Vec<Vec<&Grant>> = vec![vec![]; self.ir.zones.len()];
        for g in &self.grants {
            let (zf, zt) = (self.ir.atoms[g.from].zone, self.ir.atoms[g.to].zone);
            by_zone[zf].push(g);
            if zt != zf {
                by_zone[zt].push(g);
            }
        }
        for ((zid, zone), grants) in self.ir.zones.iter().enumerate().zip(by_zone) {
            let atoms: Vec<AtomId> = self
                .zone_atoms(zid)
                .into_iter()
                .filter(|a| self.owned[*a])
                .collect();
            // An unmanaged zone's hosts are not ours to configure either.
            if atoms.is_empty() || zone.kind == ZoneKind::External || self.ir.layout.zone(zid).unmanaged {
                continue;
            }
            out.push(Ruleset {
                mode: Mode::Host(zid),
                stem: format!("host-{}", zone.name),
                grants,
                families: self.families(&atoms),
            });
        }
        out
    }

    /// IPv4 always; IPv6 when one of `atoms` has IPv6 addresses.
    fn families(&self, atoms: &[AtomId]) -> Vec<Family> {
        let v6 = atoms.iter().any(|a| !self.intervals(*a, Family::V6).is_empty());
        if v6 {
            Family::ALL.to_vec()
        } else {
            vec![Family::V4]
        }
    }

    /// Appends the `file:line` of each allow, comma-separated, cut to `max`
    /// bytes (with `,...`), without building the whole list when it is cut.
    pub fn push_locs(&self, out: &mut String, allows: &[AllowId], max: usize) {
        let start = out.len();
        for (i, a) in allows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&self.ir.allows[*a].cite);
            if out.len() - start > max {
                break;
            }
        }
        if out.len() - start > max {
            let mut cut = start + max.saturating_sub(4);
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str(",...");
        }
    }

    /// The header comment lines every file starts with (without the comment marker).
    pub fn header(&self, rs: &Ruleset<'_>, what: &str) -> Vec<String> {
        let ir = self.ir;
        let title = ir
            .title
            .as_deref()
            .map(|t| format!(" ({})", quoted_comment(t, 200)))
            .unwrap_or_default();
        let scope = match rs.mode {
            Mode::Gateway => "gateway mode: filters traffic routed between zones (FORWARD); default drop".to_string(),
            Mode::Host(z) => format!(
                "host mode for the hosts of zone `{}`: filters INPUT and OUTPUT; default drop, loopback allowed",
                ir.zones[z].name
            ),
        };
        vec![
            format!(
                "{what} for policy `{}`{title}, generated by moat; do not edit.",
                ir.name
            ),
            scope.to_string(),
            format!(
                "{} allowed flow(s) between atoms; established and related packets pass, invalid ones drop.",
                rs.grants.len()
            ),
        ]
    }
}

/// Splits a flow's merged ports into matches, each with its allows; `Err` when
/// the set holds "every other protocol" without being `any` (not expressible).
fn entries(flow: &Flow) -> Result<Vec<Entry>, ()> {
    if flow.ports.is_any() {
        return Ok(vec![Entry {
            what: Match::Any,
            allows: flow.allow_ids(),
        }]);
    }
    let mut out = vec![];
    for (proto, ranges) in flow.ports.iter() {
        let covering = |part: PortRange| -> Vec<AllowId> {
            let mut v: Vec<AllowId> = flow
                .by
                .iter()
                .filter(|(_, p)| overlaps(p, proto, part))
                .map(|(a, _)| *a)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let what = match proto {
            Proto::Other => return Err(()),
            p if !p.has_ports() => Match::Proto(p),
            p => Match::Ports(
                p,
                ranges
                    .iter()
                    .map(|r| PortSpan {
                        range: *r,
                        allows: covering(*r),
                    })
                    .collect(),
            ),
        };
        let allows = covering(PortRange::FULL);
        out.push(Entry { what, allows });
    }
    Ok(out)
}

/// True when `set` holds some port of `range` in `proto` (any of it, for a port-less
/// protocol): `!set.intersect(&PortSet::range(proto, range)).is_empty()` without allocating.
fn overlaps(set: &PortSet, proto: Proto, range: PortRange) -> bool {
    set.get(proto)
        .is_some_and(|rs| !proto.has_ports() || rs.iter().any(|r| r.lo <= range.hi && range.lo <= r.hi))
}

/// E017: a port set a netfilter target cannot express.
fn e017(ir: &Ir, allow: AllowId, target: Target) -> Diagnostic {
    Diagnostic::error(
        "E017",
        ir.allows[allow].span,
        format!(
            "target {} cannot express \"every other protocol\" except as part of `any`",
            target.as_str()
        ),
    )
    .with_help("allow `any`, or list the protocols (tcp, udp, sctp, icmp, icmpv6)")
}

/// Text for a double-quoted ruleset comment: quotes, backslashes and control
/// characters become `'`, and the result is cut to `max` bytes (with `...`).
pub fn quoted_comment(s: &str, max: usize) -> String {
    let mut out = String::new();
    push_quoted(&mut out, s, max);
    out
}

/// Appends [`quoted_comment`] of `s` to `out`; copies `s` as it is when nothing needs changing.
pub fn push_quoted(out: &mut String, s: &str, max: usize) {
    // Plain printable ASCII (the common case) is copied, or cut, as it is:
    // one pass over the bytes without an early exit, so that it vectorises.
    let odd = |b: &u8| !(0x20..0x7f).contains(b) || *b == b'"' || *b == b'\\';
    if !s.as_bytes().iter().fold(false, |seen, b| seen | odd(b)) {
        if s.len() <= max {
            out.push_str(s);
        } else {
            out.push_str(&s[..max.saturating_sub(3)]);
            out.push_str("...");
        }
        return;
    }
    out.push_str(&requote(s, max));
}

/// The slow path of [`push_quoted`]: replace, then cut.
fn requote(s: &str, max: usize) -> String {
    let mut s: String = s.chars().map(|c| if special(c) { '\'' } else { c }).collect();
    if s.len() > max {
        let mut n = max.saturating_sub(3);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s.truncate(n);
        s.push_str("...");
    }
    s
}

/// Appends `80`, or `8000:8100` with `sep` between the ends.
pub fn push_port(s: &mut String, r: PortRange, sep: char) {
    push_number(s, r.lo);
    if r.lo != r.hi {
        s.push(sep);
        push_number(s, r.hi);
    }
}

/// Appends a port number in decimal (what `write!` does, without its machinery).
fn push_number(s: &mut String, n: u16) {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.extend(digits[i..].iter().map(|d| char::from(*d)));
}

/// A character a double-quoted ruleset comment cannot hold as it is.
fn special(c: char) -> bool {
    c == '"' || c == '\\' || c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortSet;

    fn tcp(lo: u16, hi: u16) -> PortSet {
        PortSet::range(Proto::Tcp, PortRange::new(lo, hi))
    }

    #[test]
    fn entries_keep_provenance_per_range() {
        let flow = Flow {
            ports: tcp(80, 80)
                .union(&tcp(443, 443))
                .union(&PortSet::proto(Proto::Icmp)),
            by: vec![
                (0, tcp(80, 80)),
                (1, tcp(443, 443).union(&PortSet::proto(Proto::Icmp))),
            ],
        };
        let e = entries(&flow).expect("expressible");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].allows, vec![0, 1]);
        let Match::Ports(Proto::Tcp, spans) = &e[0].what else {
            panic!("tcp first")
        };
        assert_eq!(spans[0].allows, vec![0]);
        assert_eq!(spans[1].allows, vec![1]);
        assert_eq!(
            e[1],
            Entry {
                what: Match::Proto(Proto::Icmp),
                allows: vec![1]
            }
        );
    }

    #[test]
    fn adjacent_prefixes_become_one_range() {
        let n = |s: &str| -> IpNet { s.parse().expect("cidr") };
        let v = [
            n("10.0.0.0/29"),
            n("10.0.0.8/31"),
            n("10.0.0.11/32"),
            n("10.0.0.12/30"),
            n("10.0.1.0/24"),
        ];
        let shown: Vec<String> = intervals(&v).iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0-10.0.0.9", "10.0.0.11-10.0.0.15", "10.0.1.0/24"]);
        let all = crate::addr::AddrSet::new(vec![n("::/0")], vec![n("fd00::/8")]);
        let shown: Vec<String> = intervals(&all.prefixes())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["::-fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe00::/7"]);
    }

    #[test]
    fn rulesets_are_the_gateway_and_one_per_internal_onprem_zone() {
        let c = crate::check_str(
            "r.moat",
            "site c : aws\nzone internet : external { cidr 0.0.0.0/0, ::/0 }\n\
             zone dmz : dmz @ c { cidr 10.1.0.0/24 }\nzone mz : mz { cidr 10.2.0.0/24, fd00:2::/64 }\n\
             zone ops : mz { cidr 10.3.0.0/24 }\n\
             allow internet -> dmz : tcp/443\nallow dmz -> mz : tcp/8080\nallow ops -> ops : tcp/22\n",
        );
        let ir = c.ir.expect("checks");
        let m = Model::new(&ir, Target::Nftables).expect("in scope");
        let rs = m.rulesets();
        let stems: Vec<&str> = rs.iter().map(|r| r.stem.as_str()).collect();
        assert_eq!(stems, ["gateway", "host-mz", "host-ops"]);
        assert_eq!(rs[0].grants.len(), 3);
        assert_eq!(rs[0].families, Family::ALL);
        let name = |a: AtomId| ir.atoms[a].name.as_str();
        assert_eq!(
            rs[1]
                .grants
                .iter()
                .map(|g| (name(g.from), name(g.to)))
                .collect::<Vec<_>>(),
            [("dmz", "mz")]
        );
        assert_eq!(rs[1].families, Family::ALL);
        assert_eq!(rs[2].families, [Family::V4]);
    }

    #[test]
    fn quoting_copies_plain_text_as_the_slow_path_would() {
        let long = format!("a -> b tcp/80: {}", "policies/x.moat:12,".repeat(20));
        for text in [
            "plain",
            "say \"hi\"",
            "back\\slash",
            "tab\there",
            "caf\u{e9} \u{85}",
            long.as_str(),
            &format!("\u{e9}{long}"),
        ] {
            for max in [0, 3, 10, 120, 240] {
                let mut fast = String::new();
                push_quoted(&mut fast, text, max);
                assert_eq!(fast, requote(text, max), "{text:?} cut to {max}");
            }
        }
    }

    #[test]
    fn any_is_one_entry() {
        let flow = Flow {
            ports: PortSet::any(),
            by: vec![(3, PortSet::any()), (1, tcp(1, 2))],
        };
        assert_eq!(
            entries(&flow),
            Ok(vec![Entry {
                what: Match::Any,
                allows: vec![1, 3]
            }])
        );
    }
}
