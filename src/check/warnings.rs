//! Policy-quality warnings: unused zones and services (W001), and allows
//! made redundant by others (W002). W002 compares contributions per atom
//! pair only, so its cost follows the matrix, not the square of the allows.

use super::model::Model;
use crate::diag::Diagnostic;
use crate::ir::{AllowId, Ir};
use crate::ports::{PortSet, Proto};
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
            let span = decl
                .services
                .iter()
                .find(|d| Some(&d.name.node) == a.service.as_ref())
                .map_or(a.span, |d| d.name.span);
            diags.push(
                Diagnostic::warning("W001", span, format!("service `{}` is in no flow", a.name))
                    .with_help("allow something to or from it, or remove it"),
            );
        }
    }
}

/// W002: an allow every one of whose contributions is covered by other
/// allows. Later duplicates are reported, earlier ones kept.
///
/// Cost: each atom pair's contributions are indexed once as port intervals
/// sorted by (protocol, low port); an allow's ports on a pair are then
/// checked by a greedy interval cover over the intervals that can reach them,
/// which stops as soon as they are covered. So the work per (allow, pair) is a
/// binary search plus the intervals around its ports, not every allow on the
/// pair: no quadratic blow-up when many allows share a pair
/// (docs/performance.md). The note names the allows of that cover.
fn redundant(ir: &Ir, diags: &mut Vec<Diagnostic>) {
    // mine[a]: (pair index, position in the pair's `by`), in pair order; an
    // allow may contribute to one pair more than once (overlapping endpoints)
    let flows: Vec<&crate::ir::Flow> = ir.flows.values().collect();
    let mut mine: Vec<Vec<(usize, usize)>> = vec![vec![]; ir.allows.len()];
    let mut index: Vec<PairIndex> = Vec::with_capacity(flows.len());
    for (fi, flow) in flows.iter().enumerate() {
        for (k, (a, _)) in flow.by.iter().enumerate() {
            mine[*a].push((fi, k));
        }
        index.push(PairIndex::new(&flow.by));
    }
    let mut flagged = vec![false; ir.allows.len()];
    for a in (0..ir.allows.len()).rev() {
        if mine[a].is_empty() {
            continue;
        }
        let mut covering: BTreeSet<AllowId> = BTreeSet::new();
        let covered = mine[a].chunk_by(|x, y| x.0 == y.0).all(|same_pair| {
            let fi = same_pair[0].0;
            let by = &flows[fi].by;
            match same_pair {
                [(_, k)] => index[fi].covers(&by[*k].1, a, &flagged, &mut covering),
                _ => {
                    let mut ports = PortSet::empty();
                    for (_, k) in same_pair {
                        ports.union_with(&by[*k].1);
                    }
                    index[fi].covers(&ports, a, &flagged, &mut covering)
                }
            }
        });
        if covered {
            flagged[a] = true;
            let names: Vec<String> = covering.iter().map(|c| ir.allows[*c].loc.clone()).collect();
            let mut d = Diagnostic::warning(
                "W002",
                ir.allows[a].span,
                "redundant allow: everything it allows is allowed by others",
            )
            .with_note(format!("covered by the allow(s) at {}", names.join(", ")))
            .with_help("remove it, or narrow the allows that cover it");
            for c in covering.iter().take(4) {
                d = d.with_label(ir.allows[*c].span, "covers it");
            }
            diags.push(d);
        }
    }
}

/// One atom pair's contributions as intervals `(protocol, lo, hi, allow)`
/// sorted by protocol, then `lo`, then allow; port-less protocols use `0..=0`.
struct PairIndex {
    iv: Vec<(Proto, u16, u16, AllowId)>,
    /// Per protocol (index in `Proto::ALL`), the widest interval minus one:
    /// an interval starting more than this below a port cannot reach it.
    reach: [u16; 6],
}

impl PairIndex {
    fn new(by: &[(AllowId, PortSet)]) -> Self {
        let mut iv = vec![];
        let mut reach = [0u16; 6];
        for (a, p) in by {
            for (proto, ranges) in p.iter() {
                if ranges.is_empty() {
                    iv.push((proto, 0, 0, *a));
                }
                for r in ranges {
                    iv.push((proto, r.lo, r.hi, *a));
                    let k = proto_slot(proto);
                    reach[k] = reach[k].max(r.hi - r.lo);
                }
            }
        }
        iv.sort_unstable();
        PairIndex { iv, reach }
    }

    /// True when the intervals of allows other than `a` and not `flagged`
    /// cover `ports`; the allows used are added to `who`.
    fn covers(&self, ports: &PortSet, a: AllowId, flagged: &[bool], who: &mut BTreeSet<AllowId>) -> bool {
        let usable = |x: AllowId| x != a && !flagged[x];
        ports.iter().all(|(proto, ranges)| {
            let from = |lo: u16| self.iv.partition_point(|&(p, l, _, _)| (p, l) < (proto, lo));
            if ranges.is_empty() {
                let Some(x) = self.iv[from(0)..]
                    .iter()
                    .take_while(|x| x.0 == proto)
                    .find(|x| usable(x.3))
                else {
                    return false;
                };
                who.insert(x.3);
                return true;
            }
            ranges.iter().all(|r| {
                let start = from(r.lo.saturating_sub(self.reach[proto_slot(proto)]));
                // greedy cover of r.lo..=r.hi: `done` is the last covered port
                let mut done = u32::from(r.lo) - 1;
                let mut best: Option<(u16, AllowId)> = None;
                for &(p, lo, hi, x) in &self.iv[start..] {
                    if p != proto {
                        break;
                    }
                    if u32::from(lo) > done + 1 {
                        match best.take() {
                            Some((h, y)) => {
                                done = u32::from(h);
                                who.insert(y);
                            }
                            None => return false,
                        }
                        if u32::from(lo) > done + 1 {
                            return false;
                        }
                    }
                    if usable(x) && u32::from(hi) > done && best.is_none_or(|(h, _)| hi > h) {
                        best = Some((hi, x));
                        if hi >= r.hi {
                            who.insert(x);
                            return true;
                        }
                    }
                }
                match best {
                    Some((h, y)) if h >= r.hi => {
                        who.insert(y);
                        true
                    }
                    _ => false,
                }
            })
        })
    }
}

fn proto_slot(p: Proto) -> usize {
    Proto::ALL.iter().position(|q| *q == p).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{random_policy, GenOptions};

    /// The previous W002, quadratic in the allows sharing a pair: the oracle
    /// for which allows are redundant.
    fn flagged_naive(ir: &Ir) -> Vec<bool> {
        let mut pairs_of: Vec<Vec<(usize, usize)>> = vec![vec![]; ir.allows.len()];
        for (&key, flow) in &ir.flows {
            for (a, _) in &flow.by {
                if pairs_of[*a].last() != Some(&key) {
                    pairs_of[*a].push(key);
                }
            }
        }
        let mut flagged = vec![false; ir.allows.len()];
        for a in (0..ir.allows.len()).rev() {
            if pairs_of[a].is_empty() {
                continue;
            }
            flagged[a] = pairs_of[a].iter().all(|key| {
                let flow = &ir.flows[key];
                let mut mine = PortSet::empty();
                let mut others = PortSet::empty();
                for (x, p) in &flow.by {
                    if *x == a {
                        mine.union_with(p);
                    } else if !flagged[*x] {
                        others.union_with(p);
                    }
                }
                mine.is_subset(&others)
            });
        }
        flagged
    }

    #[test]
    fn indexed_w002_flags_exactly_what_the_pairwise_check_flags() {
        let mut total = 0;
        for seed in 0..60 {
            // few zones and many allows: many allows share each pair
            let o = GenOptions {
                zones: 2 + (seed % 4) as usize,
                allows: 40 + 10 * (seed % 7) as usize,
                icmp: seed % 2 == 0,
                ..GenOptions::default()
            };
            let c = crate::check_str("w002.moat", &random_policy(seed, &o));
            let Some(ir) = c.ir else { continue };
            let mut diags = vec![];
            redundant(&ir, &mut diags);
            let mut got = vec![false; ir.allows.len()];
            for d in &diags {
                let a = ir
                    .allows
                    .iter()
                    .position(|x| Some(x.span) == d.span)
                    .expect("W002 at an allow");
                got[a] = true;
            }
            assert_eq!(got, flagged_naive(&ir), "seed {seed}");
            total += diags.len();
        }
        assert!(
            total > 50,
            "only {total} W002 in all seeds: the test compares too little"
        );
    }
}
