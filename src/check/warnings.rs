//! Policy-quality warnings: unused zones and services (W001), and allows
//! made redundant by others (W002). W002 compares contributions per atom
//! pair only, so its cost follows the matrix, not the square of the allows.

use super::model::Model;
use crate::diag::Diagnostic;
use crate::ir::{AllowId, Ir};
use crate::ports::PortSet;
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
    for z in &ir.zones {
        let decl = m.zones.iter().find(|d| d.name == z.name).map(|d| d.decl);
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
/// allows. Later duplicates are reported, earlier ones kept.
fn redundant(ir: &Ir, diags: &mut Vec<Diagnostic>) {
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
        let mut covering: BTreeSet<AllowId> = BTreeSet::new();
        let covered = pairs_of[a].iter().all(|key| {
            let Some(flow) = ir.flows.get(key) else { return false };
            let mut mine = PortSet::empty();
            for (_, p) in flow.by.iter().filter(|(x, _)| *x == a) {
                mine.union_with(p);
            }
            let mut others = PortSet::empty();
            let mut who = vec![];
            for (x, p) in &flow.by {
                if *x != a && !flagged[*x] && p.intersects(&mine) {
                    others.union_with(p);
                    who.push(*x);
                }
            }
            let ok = mine.is_subset(&others);
            if ok {
                covering.extend(who);
            }
            ok
        });
        if covered {
            flagged[a] = true;
            let names: Vec<String> = covering.iter().map(|c| ir.allows[*c].loc.clone()).collect();
            let mut d = Diagnostic::warning("W002", ir.allows[a].span, "redundant allow: everything it allows is allowed by others")
                .with_note(format!("covered by the allow(s) at {}", names.join(", ")))
                .with_help("remove it, or narrow the allows that cover it");
            for c in covering.iter().take(4) {
                d = d.with_label(ir.allows[*c].span, "covers it");
            }
            diags.push(d);
        }
    }
}
