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

/// Destination pieces still under evaluation (indices into the family's
/// pieces, ascending), each with the packets not yet decided.
type Active = Vec<(usize, PortSet)>;

/// One source piece walking a table, for many destination pieces at once.
struct Walk<'a> {
    t: &'a Table,
    fam: Family,
    src: (u128, u128),
    dests: &'a [Piece],
}

/// What the base chains accepted: per destination (index into the candidates' list), and who accepted it.
#[derive(Default)]
struct Out {
    accepted: BTreeMap<usize, PortSet>,
    by: Vec<(usize, usize, PortSet)>,
}

const MAX_DEPTH: usize = 64;

/// Unions entries of the same destination; the result is sorted by destination.
fn merge(mut v: Active) -> Active {
    v.sort_by_key(|e| e.0);
    let mut out: Active = Vec::with_capacity(v.len());
    for (d, p) in v {
        match out.last_mut() {
            Some(last) if last.0 == d => last.1.union_with(&p),
            _ => out.push((d, p)),
        }
    }
    out
}

impl Walk<'_> {
    /// False when the rule cannot match this source piece, whatever the destination.
    fn may_match(&self, r: &Rule) -> bool {
        if r.never || r.family.is_some_and(|f| f != self.fam) || (r.unknown && r.verdict == Verdict::Drop) {
            return false;
        }
        r.clauses.iter().all(|c| {
            c.iter()
                .any(|t| t.src.as_ref().is_none_or(|s| s.holds(self.src.0, self.src.1)))
        })
    }

    /// The ports of `set` a rule matches for destination `d`, or `None`.
    fn matches(&self, r: &Rule, d: usize, set: &PortSet) -> Option<PortSet> {
        let (lo, hi) = (self.dests[d].lo, self.dests[d].hi);
        let mut got: Option<PortSet> = None;
        for clause in &r.clauses {
            let cur = got.as_ref().unwrap_or(set);
            let mut alt = PortSet::empty();
            let mut all = false;
            for t in clause {
                if t.src.as_ref().is_some_and(|s| !s.holds(self.src.0, self.src.1))
                    || t.dst.as_ref().is_some_and(|x| !x.holds(lo, hi))
                {
                    continue;
                }
                match &t.ports {
                    None => {
                        all = true;
                        break;
                    }
                    Some(ports) => alt.union_with(&cur.intersect(ports)),
                }
            }
            if all {
                continue;
            }
            if alt.is_empty() {
                return None;
            }
            got = Some(alt);
        }
        Some(got.unwrap_or_else(|| set.clone()))
    }

    /// Splits the active destinations into (not matched, matched) by rule `r`.
    /// A rule that names no destination matches every destination alike: the
    /// common case of a dispatch rule is then a move, not a copy per destination.
    fn split(&self, r: &Rule, active: Active) -> (Active, Active) {
        let dst_free = r.clauses.iter().flatten().all(|t| t.dst.is_none());
        if dst_free {
            let mut ports: Option<PortSet> = None;
            for clause in &r.clauses {
                let mut alt = PortSet::empty();
                let mut all = false;
                for t in clause
                    .iter()
                    .filter(|t| t.src.as_ref().is_none_or(|x| x.holds(self.src.0, self.src.1)))
                {
                    match &t.ports {
                        None => all = true,
                        Some(p) => alt.union_with(p),
                    }
                }
                if !all {
                    ports = Some(ports.map_or(alt.clone(), |p| p.intersect(&alt)));
                }
            }
            let Some(ports) = ports else {
                return (vec![], active);
            };
            let mut next = Vec::with_capacity(active.len());
            let mut matched = vec![];
            for (d, set) in active {
                let m = set.intersect(&ports);
                if m.is_empty() {
                    next.push((d, set));
                    continue;
                }
                let rest = set.subtract(&m);
                if !rest.is_empty() {
                    next.push((d, rest));
                }
                matched.push((d, m));
            }
            return (next, matched);
        }
        let mut next: Active = Vec::with_capacity(active.len());
        let mut matched: Active = vec![];
        for (d, set) in active {
            match self.matches(r, d, &set) {
                None => next.push((d, set)),
                Some(m) => {
                    let rest = set.subtract(&m);
                    if !rest.is_empty() {
                        next.push((d, rest));
                    }
                    matched.push((d, m));
                }
            }
        }
        (next, matched)
    }

    /// Walks chain `c` with the undecided packets of each destination; returns
    /// those that come back to the caller (RETURN, the chain's end, a goto's return).
    fn walk(&self, c: usize, mut active: Active, out: &mut Out, depth: usize) -> Active {
        if depth > MAX_DEPTH {
            return active;
        }
        let rules = &self.t.chains[c].rules;
        if !rules
            .iter()
            .any(|r| r.verdict != Verdict::Continue && self.may_match(r))
        {
            return active;
        }
        let mut back: Active = vec![];
        for r in rules {
            if active.is_empty() {
                break;
            }
            if r.verdict == Verdict::Continue || !self.may_match(r) {
                continue;
            }
            let (mut next, matched) = self.split(r, active);
            match r.verdict {
                Verdict::Continue | Verdict::Drop => {}
                Verdict::Accept => {
                    for (d, m) in matched {
                        out.accepted.entry(d).or_default().union_with(&m);
                        out.by.push((d, r.live, m));
                    }
                }
                Verdict::Return => back.extend(matched),
                Verdict::Jump(t) => {
                    let ret = self.walk(t, matched, out, depth + 1);
                    next = if next.is_empty() {
                        ret
                    } else {
                        next.extend(ret);
                        merge(next)
                    };
                }
                Verdict::Goto(t) => back.extend(self.walk(t, matched, out, depth + 1)),
            }
            active = next;
        }
        active.extend(back);
        merge(active)
    }
}

/// What a table's base chains of a hook let through for one source piece and
/// candidate destinations: per destination the packets every base chain
/// accepts, and (destination, rule, ports) of the accepting rules; `None`
/// when the table has no base chain there for the family.
type HookResult = (BTreeMap<usize, PortSet>, Vec<(usize, usize, PortSet)>);

impl Table {
    fn hook(&self, hook: Hook, w: &Walk<'_>, cands: &[usize]) -> Option<HookResult> {
        let mut result: Option<BTreeMap<usize, PortSet>> = None;
        let mut by = vec![];
        for b in self.bases.iter().filter(|b| b.hook == hook) {
            if b.family.is_some_and(|f| f != w.fam) {
                continue;
            }
            let mut out = Out::default();
            let start: Active = cands.iter().map(|d| (*d, PortSet::any())).collect();
            let rest = w.walk(b.chain, start, &mut out, 0);
            if b.accept {
                for (d, p) in rest {
                    out.accepted.entry(d).or_default().union_with(&p);
                    out.by.push((d, b.policy, p));
                }
            }
            by.extend(out.by);
            result = Some(match result {
                None => out.accepted,
                Some(mut r) => {
                    r.retain(|d, p| match out.accepted.get(d) {
                        Some(q) => {
                            *p = p.intersect(q);
                            !p.is_empty()
                        }
                        None => false,
                    });
                    r
                }
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

/// A piece of an atom's addresses in one family: no rule edge lies inside it.
#[derive(Debug, Clone, Copy)]
struct Piece {
    lo: u128,
    hi: u128,
    atom: AtomId,
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
    // A ruleset named host-ZONE is installed on that zone's hosts (its FORWARD
    // chain is about traffic routed through a host, not between atoms); any
    // other that filters FORWARD is the gateway (its INPUT and OUTPUT guard
    // the gateway itself); one that filters only INPUT/OUTPUT is a host
    // ruleset that must say which zone's hosts it is on.
    for (i, (t, span)) in tables.iter().zip(spans).enumerate() {
        if let Some(z) = host_zone(ir, t) {
            roles.hosts.entry(z).or_default().push(i);
        } else if t.filters(Hook::Forward) {
            roles.gateways.push(i);
        } else if t.filters(Hook::Input) || t.filters(Hook::Output) {
            errs.push(
                Diagnostic::error(
                    "E035",
                    *span,
                    format!(
                        "host ruleset `{}` (it filters INPUT/OUTPUT, not FORWARD): cannot tell which zone's hosts it is installed on",
                        t.stem
                    ),
                )
                .with_help("name the file host-ZONE after a zone of the policy (host-mz.v4.rules, host-mz.json, ...)"),
            );
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let edges = edges(tables);
    let mut agg: BTreeMap<(AtomId, AtomId), Agg> = BTreeMap::new();
    for fam in Family::ALL {
        let mut pieces: Vec<Piece> = vec![];
        for (atom, a) in ir.atoms.iter().enumerate() {
            for (lo, hi) in cut(&a.addrs.family(fam.is_v6()).prefixes(), &edges[fam as usize]) {
                pieces.push(Piece { lo, hi, atom });
            }
        }
        pieces.sort_by_key(|p| p.lo);
        let ev = Eval {
            ir,
            tables,
            roles: &roles,
            fam,
            pieces: &pieces,
        };
        ev.run(&mut agg);
    }
    let matrix = agg.into_iter().map(|(k, a)| (k, a.finish(tables))).collect();
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

/// How many piece pairs a pair's partial listing keeps per distinct outcome.
const LISTED: usize = 32;

/// One atom pair's evaluation, gathered over its piece pairs.
#[derive(Default)]
struct Agg {
    union: PortSet,
    full: Option<PortSet>,
    by: BTreeMap<(usize, usize), PortSet>,
    /// Distinct outcomes and (some of) the piece pairs that have each.
    variants: Vec<(PortSet, Vec<String>, Vec<String>)>,
}

impl Agg {
    fn add(&mut self, fam: Family, s: &Piece, d: &Piece, got: &PortSet) {
        let own = got.subtract(&foreign(fam));
        self.union.union_with(&own);
        let with = got.union(&foreign(fam));
        self.full = Some(self.full.take().map_or(with.clone(), |f| f.intersect(&with)));
        let i = match self.variants.iter().position(|v| v.0 == own) {
            Some(i) => i,
            None => {
                self.variants.push((own, vec![], vec![]));
                self.variants.len() - 1
            }
        };
        let v = &mut self.variants[i];
        let (a, b) = (show_range(fam, s.lo, s.hi), show_range(fam, d.lo, d.hi));
        if v.1.len() < LISTED && !v.1.contains(&a) {
            v.1.push(a);
        }
        if v.2.len() < LISTED && !v.2.contains(&b) {
            v.2.push(b);
        }
    }

    fn finish(self, tables: &[Table]) -> LiveFlow {
        let full = self.full.unwrap_or_default();
        let only_part = self.union.subtract(&full);
        let partial = (!only_part.is_empty()).then(|| {
            let mut p = Partial {
                ports: only_part.clone(),
                ..Partial::default()
            };
            for (own, f, t) in &self.variants {
                if own.intersects(&only_part) {
                    p.from.extend(f.iter().cloned());
                    p.to.extend(t.iter().cloned());
                }
            }
            for v in [&mut p.from, &mut p.to] {
                v.sort();
                v.dedup();
            }
            p
        });
        let union = self.union;
        LiveFlow {
            by: self
                .by
                .into_iter()
                .map(|((t, r), ps)| (tables[t].rules[r].clone(), ps.intersect(&union)))
                .filter(|(_, ps)| !ps.is_empty())
                .collect(),
            ports: union,
            partial,
        }
    }
}

/// Everything the evaluation of one family needs.
struct Eval<'a> {
    ir: &'a Ir,
    tables: &'a [Table],
    roles: &'a Roles,
    fam: Family,
    pieces: &'a [Piece],
}

impl Eval<'_> {
    /// Evaluates every source piece against its candidate destinations.
    fn run(&self, agg: &mut BTreeMap<(AtomId, AtomId), Agg>) {
        let ir = self.ir;
        let owned: Vec<bool> = (0..ir.atoms.len())
            .map(|a| scope::owns(Target::Iptables, ir, a))
            .collect();
        let all: Vec<usize> = (0..self.pieces.len()).collect();
        let to_owned: Vec<usize> = all
            .iter()
            .copied()
            .filter(|d| owned[self.pieces[*d].atom])
            .collect();
        let by_zone: BTreeMap<ZoneId, Vec<usize>> = self
            .roles
            .hosts
            .keys()
            .map(|z| {
                (
                    *z,
                    all.iter()
                        .copied()
                        .filter(|d| ir.atoms[self.pieces[*d].atom].zone == *z)
                        .collect(),
                )
            })
            .collect();
        let fam_ok = |ti: usize| self.tables[ti].families.contains(&self.fam);
        for s in self.pieces {
            let a = s.atom;
            let mut got: BTreeMap<usize, PortSet> = BTreeMap::new();
            let mut spoke: BTreeSet<usize> = BTreeSet::new();
            let mut by: Vec<(usize, (usize, usize), PortSet)> = vec![];
            let mut apply = |ti: usize, hook: Hook, cands: &[usize]| {
                let t = &self.tables[ti];
                let w = Walk {
                    t,
                    fam: self.fam,
                    src: (s.lo, s.hi),
                    dests: self.pieces,
                };
                let Some((acc, b)) = t.hook(hook, &w, cands) else {
                    return;
                };
                for &d in cands {
                    let p = acc.get(&d).cloned().unwrap_or_default();
                    if spoke.insert(d) {
                        got.insert(d, p);
                    } else if let Some(g) = got.get_mut(&d) {
                        *g = g.intersect(&p);
                    }
                }
                by.extend(b.into_iter().map(|(d, r, ps)| (d, (ti, r), ps)));
            };
            if !self.roles.gateways.is_empty() {
                let cands = if owned[a] { &all } else { &to_owned };
                for &ti in self.roles.gateways.iter().filter(|t| fam_ok(**t)) {
                    apply(ti, Hook::Forward, cands);
                }
            }
            if let Some(ts) = self.roles.hosts.get(&ir.atoms[a].zone) {
                for &ti in ts.iter().filter(|t| fam_ok(**t)) {
                    apply(ti, Hook::Output, &all);
                }
            }
            for (z, ts) in &self.roles.hosts {
                for &ti in ts.iter().filter(|t| fam_ok(**t)) {
                    apply(ti, Hook::Input, &by_zone[z]);
                }
            }
            for (d, p) in &got {
                let dp = &self.pieces[*d];
                agg.entry((a, dp.atom)).or_default().add(self.fam, s, dp, p);
            }
            for (d, k, ps) in by {
                let Some(g) = got.get(&d) else { continue };
                let ps = ps.intersect(g);
                if !ps.is_empty() {
                    agg.entry((a, self.pieces[d].atom))
                        .or_default()
                        .by
                        .entry(k)
                        .or_default()
                        .union_with(&ps);
                }
            }
        }
    }
}
