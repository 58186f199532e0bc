//! Policy-quality warnings: unused zones and services (W001), and allows
//! made redundant by others (W002). W002 compares contributions per atom
//! pair only, so its cost follows the matrix, not the square of the allows.

use super::model::Model;
use crate::diag::Diagnostic;
use crate::ir::{AllowId, Ir};
use crate::ports::{PortRange, PortSet, Proto};
use std::collections::BTreeSet;

/// Runs W001 and W002.
pub fn check(ir: &Ir, m: &Model, diags: &mut Vec<Diagnostic>) {
    unused(ir, m, diags);
    redundant(ir, diags);
}

fn unused(ir: &Ir, m: &Model, diags: &mut Vec<Diagnostic>) {
    let mut used = vec![false; ir.atoms.len()];
    for &(f, t) in ir.flows.keys() {
        used[f] = true;
        used[t] = true;
    }
    let mut decls = std::collections::BTreeMap::new();
    for d in m.zones.iter().rev() {
        decls.insert(d.name.as_str(), d.decl); // the first declaration wins
    }
    for z in &ir.zones {
        let decl = decls.get(z.name.as_str()).copied();
        let Some(decl) = decl else { continue };
        if !used[z.remainder] && z.services.iter().all(|s| !used[*s]) {
            diags.push(
                Diagnostic::warning("W001", decl.name.span, format!("zone `{}` is in no flow", z.name))
                    .with_help("allow something to or from it, or remove it"),
            );
            continue;
        }
        for &s in &z.services {
            if used[s] {
                continue;
            }
            let a = &ir.atoms[s];
            let span = decl.services.iter().find(|d| Some(&d.name.node) == a.service.as_ref()).map_or(a.span, |d| d.name.span);
            diags.push(Diagnostic::warning("W001", span, format!("service `{}` is in no flow", a.name)).with_help("allow something to or from it, or remove it"));
        }
    }
}

/// W002: an allow every one of whose contributions is covered by other
/// allows. Later duplicates are reported, earlier ones kept. Per atom pair a
/// [`Coverage`] counts, for every port, the allows not yet reported that
/// cover it: an allow is redundant when each of its ports is counted twice
/// (itself and another). This keeps the cost near-linear in the allows even
/// when thousands of them share one pair.
fn redundant(ir: &Ir, diags: &mut Vec<Diagnostic>) {
    let keys: Vec<&(usize, usize)> = ir.flows.keys().collect();
    let mut mine_of: Vec<Vec<(usize, PortSet)>> = vec![vec![]; ir.allows.len()];
    let mut cover: Vec<Coverage> = vec![];
    for (k, key) in keys.iter().enumerate() {
        let flow = &ir.flows[*key];
        let mut merged: std::collections::BTreeMap<AllowId, PortSet> = std::collections::BTreeMap::new();
        for (a, p) in &flow.by {
            merged.entry(*a).or_default().union_with(p);
        }
        cover.push(Coverage::new(merged.values()));
        for (a, p) in merged {
            mine_of[a].push((k, p));
        }
    }
    let mut flagged = vec![false; ir.allows.len()];
    for a in (0..ir.allows.len()).rev() {
        if mine_of[a].is_empty() || !mine_of[a].iter().all(|(k, p)| cover[*k].min_count(p) >= 2) {
            continue;
        }
        flagged[a] = true;
        for (k, p) in &mine_of[a] {
            cover[*k].remove(p);
        }
        let covering = coverers(ir, &keys, &mine_of[a], a, &flagged);
        let mut names: Vec<String> = covering.iter().map(|c| ir.allows[*c].loc.clone()).collect();
        if covering.len() >= MAX_NAMED {
            names.push("and others".into());
        }
        let mut d = Diagnostic::warning("W002", ir.allows[a].span, "redundant allow: everything it allows is allowed by others")
            .with_note(format!("covered by the allow(s) at {}", names.join(", ")))
            .with_help("remove it, or narrow the allows that cover it");
        for c in covering.iter().take(4) {
            d = d.with_label(ir.allows[*c].span, "covers it");
        }
        diags.push(d);
    }
}

/// How many covering allows a W002 names at most.
const MAX_NAMED: usize = 8;
/// How many contributions of one pair are searched for them.
const SEARCH_BUDGET: usize = 64;

/// Some allows (not reported themselves) that share ports with `a` on its pairs.
fn coverers(ir: &Ir, keys: &[&(usize, usize)], mine: &[(usize, PortSet)], a: AllowId, flagged: &[bool]) -> BTreeSet<AllowId> {
    let mut out = BTreeSet::new();
    for (k, p) in mine {
        let by = &ir.flows[keys[*k]].by;
        let n = by.len();
        let ends = by.iter().take(SEARCH_BUDGET / 2).chain(by.iter().skip(n.saturating_sub(SEARCH_BUDGET / 2).max(SEARCH_BUDGET / 2)));
        for (x, q) in ends {
            if out.len() >= MAX_NAMED {
                return out;
            }
            if *x != a && !flagged[*x] && !out.contains(x) && !q.intersect(p).is_empty() {
                out.insert(*x);
            }
        }
    }
    out
}

/// Per protocol, a count of covering allows for every port segment.
#[derive(Debug, Clone)]
struct Coverage {
    protos: std::collections::BTreeMap<Proto, (Vec<u32>, MinAdd)>,
}

impl Coverage {
    /// Counts how many of `sets` cover each port.
    fn new<'s>(sets: impl Iterator<Item = &'s PortSet> + Clone) -> Coverage {
        let mut bounds: std::collections::BTreeMap<Proto, Vec<u32>> = std::collections::BTreeMap::new();
        for s in sets.clone() {
            for (p, rs) in s.iter() {
                let b = bounds.entry(p).or_default();
                b.push(0);
                for r in ranges(p, rs) {
                    b.extend([r.0, r.1 + 1]);
                }
            }
        }
        let mut protos = std::collections::BTreeMap::new();
        for (p, mut b) in bounds {
            b.sort_unstable();
            b.dedup();
            let tree = MinAdd::new(b.len());
            protos.insert(p, (b, tree));
        }
        let mut c = Coverage { protos };
        for s in sets {
            c.add(s, 1);
        }
        c
    }

    fn segments<'a>(&'a self, p: Proto, rs: &'a [PortRange]) -> impl Iterator<Item = (usize, usize)> + 'a {
        let b = self.protos.get(&p).map_or(&[][..], |(b, _)| b.as_slice());
        ranges(p, rs).map(move |(lo, hi)| (b.partition_point(|x| *x < lo), b.partition_point(|x| *x <= hi)))
    }

    fn add(&mut self, s: &PortSet, v: i64) {
        for (p, rs) in s.iter() {
            let segs: Vec<(usize, usize)> = self.segments(p, rs).collect();
            if let Some((_, tree)) = self.protos.get_mut(&p) {
                for (l, r) in segs {
                    tree.add(l, r, v);
                }
            }
        }
    }

    fn remove(&mut self, s: &PortSet) {
        self.add(s, -1);
    }

    /// The smallest count over the ports of `s`.
    fn min_count(&self, s: &PortSet) -> i64 {
        s.iter()
            .flat_map(|(p, rs)| {
                let tree = self.protos.get(&p).map(|(_, t)| t);
                self.segments(p, rs).map(move |(l, r)| tree.map_or(0, |t| t.min(l, r)))
            })
            .min()
            .unwrap_or(0)
    }
}

/// A protocol's ranges as `(lo, hi)`; a protocol without ports is one point.
fn ranges(p: Proto, rs: &[PortRange]) -> impl Iterator<Item = (u32, u32)> + '_ {
    let whole = (!p.has_ports()).then_some((0, 0));
    whole.into_iter().chain(rs.iter().map(|r| (u32::from(r.lo), u32::from(r.hi))))
}

/// A segment tree over `n` slots: add to a range, minimum of a range.
#[derive(Debug, Clone)]
struct MinAdd {
    n: usize,
    min: Vec<i64>,
    lazy: Vec<i64>,
}

impl MinAdd {
    fn new(n: usize) -> MinAdd {
        MinAdd { n, min: vec![0; 4 * n.max(1)], lazy: vec![0; 4 * n.max(1)] }
    }

    /// Adds `v` to slots `l..r`.
    fn add(&mut self, l: usize, r: usize, v: i64) {
        if l < r {
            self.add_at(1, 0, self.n, l, r, v);
        }
    }

    fn add_at(&mut self, node: usize, lo: usize, hi: usize, l: usize, r: usize, v: i64) {
        if r <= lo || hi <= l {
            return;
        }
        if l <= lo && hi <= r {
            self.min[node] += v;
            self.lazy[node] += v;
            return;
        }
        let mid = (lo + hi) / 2;
        self.add_at(2 * node, lo, mid, l, r, v);
        self.add_at(2 * node + 1, mid, hi, l, r, v);
        self.min[node] = self.lazy[node] + self.min[2 * node].min(self.min[2 * node + 1]);
    }

    /// The minimum over slots `l..r` (`i64::MAX` when empty).
    fn min(&self, l: usize, r: usize) -> i64 {
        self.min_at(1, 0, self.n, l, r)
    }

    fn min_at(&self, node: usize, lo: usize, hi: usize, l: usize, r: usize) -> i64 {
        if r <= lo || hi <= l || l >= r {
            return i64::MAX;
        }
        if l <= lo && hi <= r {
            return self.min[node];
        }
        let mid = (lo + hi) / 2;
        self.min_at(2 * node, lo, mid, l, r).min(self.min_at(2 * node + 1, mid, hi, l, r)).saturating_add(self.lazy[node])
    }
}
