//! The rule model both netfilter readers produce (iptables-save, nft), and its
//! exact evaluation over the policy's atoms.
//!
//! Exact: the address space is cut at every edge that a rule or an atom
//! mentions, so each piece of an atom either lies inside a rule's address
//! match or outside it; per (source piece, destination piece) the chains are
//! walked in order with the set of (protocol, port) packets still undecided,
//! first match wins, jumps, gotos, RETURN and the base chains' policies as the
//! kernel applies them. New connections are evaluated (conntrack state NEW).
//!
//! Conservative: a rule holding a match moat does not model is assumed to
//! match when it accepts, jumps or returns, and not to match when it drops or
//! rejects, so the live state is read as allowing at least what it may allow
//! (drift errs towards reporting an opening, never towards hiding one).

use super::{Evaluated, LiveFlow, LiveRule, Partial};
use crate::backend::netfilter::Family;
use crate::backend::{scope, Target};
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir, ZoneId};
use crate::ports::{PortSet, Proto};
use crate::span::Span;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};

/// Sorted, disjoint, inclusive address intervals of one family (IPv4 as u32 values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges(pub Vec<(u128, u128)>);

impl Ranges {
    /// The intervals, sorted and merged.
    pub fn new(mut v: Vec<(u128, u128)>) -> Ranges {
        v.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        Ranges(out)
    }

    /// Every address of the family.
    pub fn all(fam: Family) -> Ranges {
        Ranges(vec![(0, max(fam))])
    }

    /// The addresses of the family not in `self`.
    pub fn complement(&self, fam: Family) -> Ranges {
        let mut out = vec![];
        let mut next = 0u128;
        let mut done = false;
        for &(lo, hi) in &self.0 {
            if lo > next {
                out.push((next, lo - 1));
            }
            if hi >= max(fam) {
                done = true;
                break;
            }
            next = hi + 1;
        }
        if !done {
            out.push((next, max(fam)));
        }
        Ranges(out)
    }

    /// True when the piece `lo..=hi` lies inside one interval.
    fn holds(&self, lo: u128, hi: u128) -> bool {
        let i = self.0.partition_point(|r| r.0 <= lo);
        i > 0 && self.0[i - 1].1 >= hi
    }
}

/// The largest address of a family.
fn max(fam: Family) -> u128 {
    match fam {
        Family::V4 => u128::from(u32::MAX),
        Family::V6 => u128::MAX,
    }
}

/// The interval of a prefix.
pub fn net_range(n: &IpNet) -> (Family, u128, u128) {
    match n {
        IpNet::V4(n) => (
            Family::V4,
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        IpNet::V6(n) => (Family::V6, u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// Renders an interval as a prefix when it is one, else `first-last`.
pub fn show_range(fam: Family, lo: u128, hi: u128) -> String {
    let ip = |x: u128| -> std::net::IpAddr {
        match fam {
            Family::V4 => std::net::IpAddr::V4(std::net::Ipv4Addr::from(x as u32)),
            Family::V6 => std::net::IpAddr::V6(std::net::Ipv6Addr::from(x)),
        }
    };
    let span = hi - lo;
    if span == u128::MAX || (span.wrapping_add(1).is_power_of_two() && lo & span == 0) {
        let bits = if span == u128::MAX {
            128
        } else {
            span.wrapping_add(1).trailing_zeros()
        };
        let len = match fam {
            Family::V4 => 32 - bits,
            Family::V6 => 128 - bits,
        };
        return format!("{}/{len}", ip(lo));
    }
    format!("{}-{}", ip(lo), ip(hi))
}

/// One alternative of a clause: the packet matches when its addresses lie in
/// `src` and `dst` (absent: any), and then for the ports in `ports` (absent: all).
#[derive(Debug, Clone, Default)]
pub struct Tuple {
    pub src: Option<Ranges>,
    pub dst: Option<Ranges>,
    pub ports: Option<PortSet>,
}

/// Where a packet meets the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hook {
    Input,
    Forward,
    Output,
}

/// What a rule does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Return,
    Jump(usize),
    Goto(usize),
    /// No verdict (counters, log, comment): the next rule sees the packet.
    Continue,
}

/// One rule: it matches when every clause has a matching alternative.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Index into [`Table::rules`].
    pub live: usize,
    /// Only packets of this family (an `ip saddr`, an iptables file's family).
    pub family: Option<Family>,
    pub clauses: Vec<Vec<Tuple>>,
    /// Never matches a new connection between two hosts (loopback, ESTABLISHED only, ...).
    pub never: bool,
    /// Holds a match moat does not model (then treated conservatively).
    pub unknown: bool,
    pub verdict: Verdict,
}

/// A chain: its rules in order.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A base chain: where packets enter, and what happens to those that fall off its end.
#[derive(Debug, Clone)]
pub struct Base {
    pub hook: Hook,
    pub family: Option<Family>,
    pub chain: usize,
    pub accept: bool,
    /// Index into [`Table::rules`] of the policy (its declaration).
    pub policy: usize,
}

/// The filter rules of one live input.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub chains: Vec<Chain>,
    pub bases: Vec<Base>,
    /// Every rule and policy, for provenance.
    pub rules: Vec<LiveRule>,
    /// The families the input speaks for.
    pub families: Vec<Family>,
    /// `host-<zone>` stem of the file name, when it has one.
    pub stem: String,
}

impl Table {
    /// True when the hook filters anything (rules, or a policy that drops).
    fn filters(&self, hook: Hook) -> bool {
        self.bases
            .iter()
            .any(|b| b.hook == hook && (!b.accept || !self.chains[b.chain].rules.is_empty()))
    }
}

/// The packets of one (source piece, destination piece) of one family.
#[derive(Clone, Copy)]
struct Pkt {
    fam: Family,
    src: (u128, u128),
    dst: (u128, u128),
}

/// What a walk through chains decided.
#[derive(Default)]
struct Outcome {
    accepted: PortSet,
    dropped: PortSet,
    by: Vec<(usize, PortSet)>,
}

const MAX_DEPTH: usize = 64;

impl Table {
    /// The ports of `set` a rule matches for `p`, or `None` when it does not match.
    fn matches(&self, r: &Rule, p: &Pkt, set: &PortSet) -> Option<PortSet> {
        if r.never || r.family.is_some_and(|f| f != p.fam) {
            return None;
        }
        let conservative_no = r.unknown && matches!(r.verdict, Verdict::Drop);
        if conservative_no {
            return None;
        }
        let mut got = set.clone();
        for clause in &r.clauses {
            let mut alt = PortSet::empty();
            for t in clause {
                if t.src.as_ref().is_some_and(|s| !s.holds(p.src.0, p.src.1))
                    || t.dst.as_ref().is_some_and(|d| !d.holds(p.dst.0, p.dst.1))
                {
                    continue;
                }
                match &t.ports {
                    None => {
                        alt = got.clone();
                        break;
                    }
                    Some(ports) => alt.union_with(&got.intersect(ports)),
                }
            }
            got = alt;
            if got.is_empty() {
                return None;
            }
        }
        Some(got)
    }

    /// Walks chain `c` with the undecided packets `set`; returns those that
    /// come back to the caller (RETURN, the end of the chain, or a goto's return).
    fn walk(&self, c: usize, p: &Pkt, mut set: PortSet, out: &mut Outcome, depth: usize) -> PortSet {
        if depth > MAX_DEPTH {
            return set;
        }
        let mut back_total = PortSet::empty();
        for r in &self.chains[c].rules {
            if set.is_empty() {
                break;
            }
            let Some(m) = self.matches(r, p, &set) else {
                continue;
            };
            match r.verdict {
                Verdict::Continue => {}
                Verdict::Accept => {
                    out.accepted.union_with(&m);
                    set = set.subtract(&m);
                    out.by.push((r.live, m));
                }
                Verdict::Drop => {
                    out.dropped.union_with(&m);
                    set = set.subtract(&m);
                }
                Verdict::Return => {
                    back_total.union_with(&m);
                    set = set.subtract(&m);
                }
                Verdict::Jump(t) => {
                    let back = self.walk(t, p, m.clone(), out, depth + 1);
                    set = set.subtract(&m.subtract(&back));
                }
                Verdict::Goto(t) => {
                    // what the goto target returns leaves this chain too
                    let back = self.walk(t, p, m.clone(), out, depth + 1);
                    back_total.union_with(&back);
                    set = set.subtract(&m);
                }
            }
        }
        set.union(&back_total)
    }

    /// What the table's base chains of `hook` let through for `p`: the packets
    /// every one of them accepts, and the rules that accepted them. `None` when
    /// the table has no base chain there.
    fn hook(&self, hook: Hook, p: &Pkt) -> Option<(PortSet, Vec<(usize, PortSet)>)> {
        let mut result: Option<PortSet> = None;
        let mut by = vec![];
        for b in self.bases.iter().filter(|b| b.hook == hook) {
            if b.family.is_some_and(|f| f != p.fam) {
                continue;
            }
            let mut out = Outcome::default();
            let rest = self.walk(b.chain, p, PortSet::any(), &mut out, 0);
            if b.accept && !rest.is_empty() {
                out.accepted.union_with(&rest);
                out.by.push((b.policy, rest));
            }
            by.extend(out.by);
            result = Some(match result {
                None => out.accepted,
                Some(r) => r.intersect(&out.accepted),
            });
        }
        result.map(|r| (r, by))
    }
}

/// The ports no packet of a family carries (IPv4 has no icmpv6, IPv6 no icmp).
fn foreign(fam: Family) -> PortSet {
    match fam {
        Family::V4 => PortSet::proto(Proto::Icmpv6),
        Family::V6 => PortSet::proto(Proto::Icmp),
    }
}

/// How the tables of one live state divide the work (indices into the tables).
struct Roles {
    gateways: Vec<usize>,
    /// Per zone, the host rulesets installed on its hosts.
    hosts: BTreeMap<ZoneId, Vec<usize>>,
}

/// Evaluates the tables of one live state (several inputs: a gateway and
/// hosts, IPv4 and IPv6) over the policy's atoms; `spans` is where each
/// table's input starts (for errors about the input as a whole).
pub fn evaluate(ir: &Ir, tables: &[Table], spans: &[Span]) -> Evaluated {
    let mut roles = Roles {
        gateways: vec![],
        hosts: BTreeMap::new(),
    };
    let mut errs = vec![];
    for (i, (t, span)) in tables.iter().zip(spans).enumerate() {
        if t.filters(Hook::Forward) {
            roles.gateways.push(i);
        }
        if t.filters(Hook::Input) || t.filters(Hook::Output) {
            match host_zone(ir, t) {
                Some(z) => roles.hosts.entry(z).or_default().push(i),
                None => errs.push(
                    Diagnostic::error(
                        "E035",
                        *span,
                        format!(
                            "host ruleset `{}` (it filters INPUT/OUTPUT): cannot tell which zone's hosts it is installed on",
                            t.stem
                        ),
                    )
                    .with_help("name the file host-ZONE after a zone of the policy (host-mz.v4.rules, host-mz.json, ...)"),
                ),
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let edges = edges(tables);
    let pieces: Vec<[Vec<(u128, u128)>; 2]> = ir
        .atoms
        .iter()
        .map(|a| Family::ALL.map(|f| cut(&a.addrs.family(f.is_v6()).prefixes(), &edges[f as usize])))
        .collect();
    let mut matrix = BTreeMap::new();
    let ev = Eval {
        ir,
        tables,
        roles: &roles,
        pieces: &pieces,
    };
    for from in 0..ir.atoms.len() {
        for to in 0..ir.atoms.len() {
            if let Some(flow) = ev.pair(from, to) {
                matrix.insert((from, to), flow);
            }
        }
    }
    Ok((matrix, vec![]))
}

/// The zone a host ruleset is for: its file is named `host-<zone>`.
fn host_zone(ir: &Ir, t: &Table) -> Option<ZoneId> {
    let name = t.stem.strip_prefix("host-")?;
    ir.zones.iter().position(|z| z.name == name)
}

/// Every interval edge the rules mention, per family (sorted starts of pieces).
fn edges(tables: &[Table]) -> [Vec<u128>; 2] {
    let mut out: [BTreeSet<u128>; 2] = [BTreeSet::new(), BTreeSet::new()];
    for t in tables {
        for r in t.chains.iter().flat_map(|c| &c.rules) {
            let fams: Vec<Family> = r.family.map_or(Family::ALL.to_vec(), |f| vec![f]);
            for rs in r
                .clauses
                .iter()
                .flatten()
                .flat_map(|tu| [&tu.src, &tu.dst])
                .flatten()
            {
                for f in &fams {
                    for &(lo, hi) in &rs.0 {
                        out[*f as usize].insert(lo);
                        if hi < max(*f) {
                            out[*f as usize].insert(hi + 1);
                        }
                    }
                }
            }
        }
    }
    out.map(|s| s.into_iter().collect())
}

/// An atom's addresses of one family as intervals cut at every edge.
fn cut(prefixes: &[IpNet], edges: &[u128]) -> Vec<(u128, u128)> {
    let ranges = Ranges::new(
        prefixes
            .iter()
            .map(|n| (net_range(n).1, net_range(n).2))
            .collect(),
    );
    let mut out = vec![];
    for (lo, hi) in ranges.0 {
        let mut start = lo;
        let first = edges.partition_point(|e| *e <= lo);
        for &e in &edges[first..] {
            if e > hi {
                break;
            }
            out.push((start, e - 1));
            start = e;
        }
        out.push((start, hi));
    }
    out
}

/// Everything the evaluation of one pair needs.
struct Eval<'a> {
    ir: &'a Ir,
    tables: &'a [Table],
    roles: &'a Roles,
    pieces: &'a [[Vec<(u128, u128)>; 2]],
}

/// One piece pair's outcome: what passes, and which (table, rule) let it through.
type PieceResult = (PortSet, Vec<((usize, usize), PortSet)>);

impl Eval<'_> {
    /// What the live state lets through from atom `from` to atom `to`, or
    /// `None` when no input of it speaks for the pair.
    fn pair(&self, from: AtomId, to: AtomId) -> Option<LiveFlow> {
        let ir = self.ir;
        let gw = !self.roles.gateways.is_empty()
            && (scope::owns(Target::Iptables, ir, from) || scope::owns(Target::Iptables, ir, to));
        let outs = self.roles.hosts.get(&ir.atoms[from].zone);
        let ins = self.roles.hosts.get(&ir.atoms[to].zone);
        if !gw && outs.is_none() && ins.is_none() {
            return None;
        }
        let mut union = PortSet::empty();
        let mut full: Option<PortSet> = None;
        let mut by: BTreeMap<(usize, usize), PortSet> = BTreeMap::new();
        let mut per_piece: Vec<(Family, (u128, u128), (u128, u128), PortSet)> = vec![];
        for fam in Family::ALL {
            for &src in &self.pieces[from][fam as usize] {
                for &dst in &self.pieces[to][fam as usize] {
                    let p = Pkt { fam, src, dst };
                    let Some((got, rules)) = self.piece(&p, gw, outs, ins) else {
                        continue;
                    };
                    let own = got.subtract(&foreign(fam));
                    for (k, ps) in rules {
                        let ps = ps.intersect(&own);
                        if !ps.is_empty() {
                            by.entry(k).or_default().union_with(&ps);
                        }
                    }
                    union.union_with(&own);
                    let with = got.union(&foreign(fam));
                    full = Some(full.map_or(with.clone(), |f| f.intersect(&with)));
                    per_piece.push((fam, src, dst, own));
                }
            }
        }
        let full = full?;
        let only_part = union.subtract(&full);
        let partial = (!only_part.is_empty()).then(|| {
            let mut p = Partial {
                ports: only_part.clone(),
                ..Partial::default()
            };
            for (fam, s, d, own) in &per_piece {
                if own.intersects(&only_part) {
                    p.from.push(show_range(*fam, s.0, s.1));
                    p.to.push(show_range(*fam, d.0, d.1));
                }
            }
            for v in [&mut p.from, &mut p.to] {
                v.sort();
                v.dedup();
            }
            p
        });
        Some(LiveFlow {
            ports: union,
            by: by
                .into_iter()
                .map(|((t, r), ps)| (self.tables[t].rules[r].clone(), ps))
                .collect(),
            partial,
        })
    }

    /// The packets of one piece pair every applicable ruleset lets through.
    fn piece(
        &self,
        p: &Pkt,
        gw: bool,
        outs: Option<&Vec<usize>>,
        ins: Option<&Vec<usize>>,
    ) -> Option<PieceResult> {
        let mut got: Option<PortSet> = None;
        let mut rules = vec![];
        let empty = vec![];
        let steps = [
            (if gw { &self.roles.gateways } else { &empty }, Hook::Forward),
            (outs.unwrap_or(&empty), Hook::Output),
            (ins.unwrap_or(&empty), Hook::Input),
        ];
        for (list, hook) in steps {
            for &ti in list {
                let t = &self.tables[ti];
                if !t.families.contains(&p.fam) {
                    continue;
                }
                if let Some((ports, b)) = t.hook(hook, p) {
                    got = Some(got.map_or(ports.clone(), |g| g.intersect(&ports)));
                    rules.extend(b.into_iter().map(|(r, ps)| ((ti, r), ps)));
                }
            }
        }
        got.map(|g| (g, rules))
    }
}
