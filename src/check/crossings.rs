//! The built-in crossing rules over each allow's atom pairs: forbidden
//! crossings (E006), residency (E010), cell isolation (E011), `any` across
//! zones (W003), and exemptions (W004).

use super::rules::AllowPairs;
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir, SiteKind, ZoneKind};

/// Runs the crossing checks on every allow.
pub fn check(ir: &Ir, allows: &[AllowPairs], diags: &mut Vec<Diagnostic>) {
    for a in &ir.atoms {
        if a.resident && ir.sites[ir.zones[a.zone].site].kind != SiteKind::Onprem {
            let site = &ir.sites[ir.zones[a.zone].site];
            diags.push(
                Diagnostic::error(
                    "E010",
                    a.span,
                    format!(
                        "resident service `{}` is placed at site `{}` of kind {}",
                        a.name,
                        site.name,
                        site.kind.as_str()
                    ),
                )
                .with_help("resident (data-localised) services must sit in a zone at an onprem site"),
            );
        }
    }
    for (id, ap) in allows.iter().enumerate() {
        let exempt = ir.allows.get(id).and_then(|a| a.exempt.clone());
        let span = ap.rule.span;
        let mut waived = vec![];
        if let Some((f, t)) = ap.pairs.iter().find(|(f, t)| crossing(ir, *f, *t)) {
            let msg = format!(
                "forbidden crossing: `{}` ({}) -> `{}` ({}) directly",
                name(ir, *f),
                kind(ir, *f),
                name(ir, *t),
                kind(ir, *t)
            );
            match exempt {
                Some(_) => waived.push(format!("E006 ({msg})")),
                None => diags.push(
                    Diagnostic::error("E006", span, msg)
                        .with_help("route the flow through a demilitarised zone (a proxy), or add `exempt \"<waiver>\"` to this allow with the reason it is accepted"),
                ),
            }
        }
        if let Some((f, t)) = ap.pairs.iter().find(|(f, t)| residency(ir, *f, *t)) {
            let (res, other) = if ir.atoms[*f].resident { (*f, *t) } else { (*t, *f) };
            let site = ir.site_of(other);
            let msg = format!(
                "residency: resident service `{}` exchanges flows with `{}` at site `{}` ({})",
                name(ir, res),
                name(ir, other),
                site.name,
                site.kind.as_str()
            );
            match exempt {
                Some(_) => waived.push(format!("E010 ({msg})")),
                None => diags.push(
                    Diagnostic::error("E010", span, msg)
                        .with_label(ir.atoms[res].span, "marked `resident` here")
                        .with_help("keep resident data on-premise: reach it through an onprem service, or add `exempt \"<waiver>\"`"),
                ),
            }
        }
        if let Some((f, t)) = ap.pairs.iter().find(|(f, t)| cross_cell(ir, *f, *t)) {
            let msg = format!(
                "flow between two different cells: `{}` -> `{}`",
                name(ir, *f),
                name(ir, *t)
            );
            match exempt {
                Some(_) => waived.push(format!("E011 ({msg})")),
                None => {
                    diags.push(Diagnostic::error("E011", span, msg).with_help(cross_cell_help(ir, *f, *t)))
                }
            }
        }
        if ap.any {
            if let Some((f, t)) = ap
                .pairs
                .iter()
                .find(|(f, t)| ir.atoms[*f].zone != ir.atoms[*t].zone)
            {
                diags.push(
                    Diagnostic::warning(
                        "W003",
                        span,
                        format!(
                            "`any` ports on a flow between different zones (`{}` -> `{}`)",
                            name(ir, *f),
                            name(ir, *t)
                        ),
                    )
                    .with_help("name the ports the destination needs, e.g. `: tcp/443`"),
                );
            }
        }
        if let Some(w) = &exempt {
            let mut d = Diagnostic::warning("W004", span, format!("exemption used: \"{w}\""));
            d = if waived.is_empty() {
                d.with_note("this allow breaks no built-in rule; the exemption is not needed")
                    .with_help("remove `exempt` if no waiver is required")
            } else {
                waived
                    .into_iter()
                    .fold(d, |d, w| d.with_note(format!("waives {w}")))
            };
            diags.push(d);
        }
    }
}

fn name(ir: &Ir, a: AtomId) -> &str {
    &ir.atoms[a].name
}

fn kind(ir: &Ir, a: AtomId) -> &'static str {
    ir.zone_of(a).kind.as_str()
}

/// external -> militarised or militarised -> external.
pub fn crossing(ir: &Ir, f: AtomId, t: AtomId) -> bool {
    let (a, b) = (ir.zone_of(f).kind, ir.zone_of(t).kind);
    matches!(
        (a, b),
        (ZoneKind::External, ZoneKind::Militarised) | (ZoneKind::Militarised, ZoneKind::External)
    )
}

/// A resident service on one end, a non-onprem site on the other.
pub fn residency(ir: &Ir, f: AtomId, t: AtomId) -> bool {
    let off = |a: AtomId| ir.site_of(a).kind != SiteKind::Onprem;
    (ir.atoms[f].resident && off(t)) || (ir.atoms[t].resident && off(f))
}

/// Both ends in cells, and not the same cell.
pub fn cross_cell(ir: &Ir, f: AtomId, t: AtomId) -> bool {
    matches!((&ir.zone_of(f).cell, &ir.zone_of(t).cell), (Some(a), Some(b)) if a != b)
}

/// The E011 help, naming the cells blocks of the two ends (`tenant*.`).
fn cross_cell_help(ir: &Ir, from: AtomId, to: AtomId) -> String {
    let block = |a: AtomId| ir.atoms[a].zone;
    let blocks: Vec<&str> = [from, to]
        .iter()
        .filter_map(|a| ir.zones[block(*a)].cell.as_ref().map(|c| c.block.as_str()))
        .collect();
    match blocks.as_slice() {
        [a, b] if a == b => format!(
            "cells are isolated: use `{a}*.` on both sides to pair each cell with itself, or go through a shared zone"
        ),
        [a, b] => format!(
            "cells are isolated: `{a}` and `{b}` are different cells blocks; go through a shared zone, or add `exempt \"<waiver>\"`"
        ),
        _ => "cells are isolated: go through a shared zone".to_string(),
    }
}
