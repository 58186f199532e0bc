//! `moat drift`'s comparison: the live matrix against the policy's, over the
//! pairs the live inputs speak for, as rows of `moat diff`'s shape.
//!
//! `added` holds what the live state lets through and the policy does not
//! allow (each row cites the live rules that let it through); `removed` what
//! the policy allows and the live state blocks, for all or part of the pair
//! (each row cites the allows it lacks). A protocol that cannot occur
//! between the two atoms (icmp when one end has no IPv4 address, icmpv6 when
//! one has no IPv6 address) is not compared.

use super::{LiveMatrix, Partial};
use crate::analysis::diff::{flags, row_text, DiffRow, Flag};
use crate::analysis::matrix::pair_rows;
use crate::ir::{AtomId, Ir};
use crate::ports::{PortSet, Proto};
use crate::span::SourceMap;
use serde::Serialize;

/// One drift row: the diff row, and the part of the pair it holds for when
/// the live state treats the pair's addresses differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftRow {
    pub row: DiffRow,
    pub partial: Option<Partial>,
}

/// The drift of a live state from a policy.
#[derive(Debug, Clone, Default)]
pub struct Drift {
    pub added: Vec<DriftRow>,
    pub removed: Vec<DriftRow>,
    /// Atom pairs compared (in scope of some live input).
    pub compared: usize,
}

impl Drift {
    /// True when the live state allows exactly what the policy allows, where it speaks.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The protocols that cannot flow between two atoms with addresses.
fn impossible(ir: &Ir, f: AtomId, t: AtomId) -> PortSet {
    let (a, b) = (&ir.atoms[f].addrs, &ir.atoms[t].addrs);
    let mut out = PortSet::empty();
    if a.is_empty() || b.is_empty() {
        return out;
    }
    if !(a.has_v4() && b.has_v4()) {
        out.union_with(&PortSet::proto(Proto::Icmp));
    }
    if !(a.has_v6() && b.has_v6()) {
        out.union_with(&PortSet::proto(Proto::Icmpv6));
    }
    out
}

/// Compares the live matrix with the policy's over the pairs the live state speaks for.
pub fn compare(ir: &Ir, live: &LiveMatrix, sources: &SourceMap) -> Drift {
    let mut out = Drift {
        compared: live.len(),
        ..Drift::default()
    };
    let empty = crate::ir::Flow::default();
    for (&(f, t), lf) in live {
        let flow = ir.flows.get(&(f, t)).unwrap_or(&empty);
        let skip = impossible(ir, f, t);
        let part = lf.partial.as_ref().map(|p| p.ports.clone()).unwrap_or_default();
        let full = lf.ports.subtract(&part);
        // what is everything that can flow between the two reads as `any`
        let whole = |p: PortSet| {
            if p.union(&skip).is_any() {
                PortSet::any()
            } else {
                p
            }
        };
        let added = whole(lf.ports.subtract(&flow.ports).subtract(&skip));
        let removed = whole(flow.ports.subtract(&full).subtract(&skip));
        let (from, to) = (&ir.atoms[f].name, &ir.atoms[t].name);
        let fl = flags(ir, f, t);
        let (fz, tz) = (ir.zone_of(f).name.clone(), ir.zone_of(t).name.clone());
        let mk = |ports: &PortSet, cite: Vec<String>, out: &mut Vec<DriftRow>| {
            for row in pair_rows(from, to, ports) {
                let rp = crate::analysis::diff::row_ports(&row).unwrap_or_default();
                let partial = lf.partial.as_ref().filter(|p| p.ports.intersects(&rp)).cloned();
                out.push(DriftRow {
                    row: DiffRow {
                        row,
                        flags: fl.clone(),
                        allows: cite.clone(),
                        from_zone: fz.clone(),
                        to_zone: tz.clone(),
                    },
                    partial,
                });
            }
        };
        if !added.is_empty() {
            let cite: Vec<String> = lf
                .by
                .iter()
                .filter(|(_, p)| p.intersects(&added))
                .map(|(r, _)| cite_rule(r, sources))
                .collect();
            mk(&added, cite, &mut out.added);
        }
        if !removed.is_empty() {
            let mut cite: Vec<String> = flow
                .by
                .iter()
                .filter(|(_, p)| p.intersects(&removed))
                .map(|(a, _)| ir.allows[*a].loc.clone())
                .collect();
            cite.dedup();
            mk(&removed, cite, &mut out.removed);
        }
    }
    out.added.sort_by(|a, b| a.row.row.cmp(&b.row.row));
    out.removed.sort_by(|a, b| a.row.row.cmp(&b.row.row));
    out
}

/// `file:line` of a live rule, with its object name when it has one.
pub fn cite_rule(r: &super::LiveRule, sources: &SourceMap) -> String {
    let loc = sources.location(r.span);
    match &r.object {
        Some(o) => format!("{loc} ({o})"),
        None => loc,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one-line summary.
pub fn summary(d: &Drift) -> String {
    if d.is_empty() {
        return format!(
            "no drift: the live state allows exactly what the policy allows ({} compared)",
            plural(d.compared, "atom pair", "atom pairs")
        );
    }
    let mut s = format!(
        "{} the live state allows and the policy does not, {} the policy allows and the live state blocks ({} compared)",
        plural(d.added.len(), "row", "rows"),
        d.removed.len(),
        plural(d.compared, "atom pair", "atom pairs")
    );
    let flagged: Vec<String> = [Flag::IntoMilitarised, Flag::OutOfMilitarised, Flag::FromExternal]
        .into_iter()
        .filter_map(|f| {
            let n = d.added.iter().filter(|r| r.row.flags.contains(&f)).count();
            (n > 0).then(|| format!("{} {}", plural(n, "opens a path", "open a path"), f.phrase()))
        })
        .collect();
    if !flagged.is_empty() {
        s.push_str(&format!("; of the extra rows, {}", flagged.join(", ")));
    }
    s
}

fn partial_text(p: &Option<Partial>) -> String {
    match p {
        None => String::new(),
        Some(p) => format!(
            "  [partial: only from {} to {}]",
            short_list(&p.from),
            short_list(&p.to)
        ),
    }
}

fn short_list(v: &[String]) -> String {
    if v.len() <= 4 {
        v.join(", ")
    } else {
        format!("{}, ... ({} parts)", v[..4].join(", "), v.len())
    }
}

/// The plain-text report.
pub fn to_text(d: &Drift) -> String {
    let mut out = format!("{}\n", summary(d));
    for (title, sign, rows, by) in [
        (
            "added (live allows, policy does not)",
            '+',
            &d.added,
            "let through by",
        ),
        ("removed (policy allows, live blocks)", '-', &d.removed, "lacks"),
    ] {
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        for r in rows {
            let flags: Vec<&str> = r.row.flags.iter().map(|f| f.as_str()).collect();
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!("  [{}]", flags.join(", "))
            };
            let cites = if r.row.allows.is_empty() {
                String::new()
            } else {
                format!("  {by} {}", r.row.allows.join(", "))
            };
            out.push_str(&format!(
                "  {sign} {} -> {}  {}{flags}{}{cites}\n",
                r.row.row.from,
                r.row.row.to,
                row_text(&r.row.row),
                partial_text(&r.partial)
            ));
        }
    }
    out
}

#[derive(Serialize)]
struct JsonDrift<'a> {
    added: Vec<&'a crate::analysis::matrix::Row>,
    removed: Vec<&'a crate::analysis::matrix::Row>,
    details: Vec<JsonDetail<'a>>,
    compared: usize,
    summary: String,
}

#[derive(Serialize)]
struct JsonDetail<'a> {
    change: &'static str,
    #[serde(flatten)]
    row: &'a crate::analysis::matrix::Row,
    flags: &'a [Flag],
    /// Added rows: the live rules that let it through; removed rows: the allows it lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    live_rules: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allows: Option<&'a [String]>,
    partial: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    addresses: Option<JsonPart<'a>>,
}

#[derive(Serialize)]
struct JsonPart<'a> {
    from: &'a [String],
    to: &'a [String],
}

/// `{"added": [rows], "removed": [rows], "details": [...], ...}`: `moat diff`'s shape.
pub fn to_json(d: &Drift) -> String {
    fn detail<'a>(change: &'static str, r: &'a DriftRow) -> JsonDetail<'a> {
        let live = change == "added";
        JsonDetail {
            change,
            row: &r.row.row,
            flags: &r.row.flags,
            live_rules: live.then_some(r.row.allows.as_slice()),
            allows: (!live).then_some(r.row.allows.as_slice()),
            partial: r.partial.is_some(),
            addresses: r.partial.as_ref().map(|p| JsonPart {
                from: &p.from,
                to: &p.to,
            }),
        }
    }
    let json = JsonDrift {
        added: d.added.iter().map(|r| &r.row.row).collect(),
        removed: d.removed.iter().map(|r| &r.row.row).collect(),
        details: d
            .added
            .iter()
            .map(|r| detail("added", r))
            .chain(d.removed.iter().map(|r| detail("removed", r)))
            .collect(),
        compared: d.compared,
        summary: summary(d),
    };
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

/// A Markdown report (a table of the rows) for a pull request or a ticket.
pub fn to_markdown(d: &Drift) -> String {
    let mut out = format!("### moat drift\n\n**{}**\n\n", summary(d));
    if d.is_empty() {
        return out;
    }
    out.push_str("| change | from | to | ports | flags | cited | partial |\n|---|---|---|---|---|---|---|\n");
    let cell = |s: &str| s.replace('|', "\\|");
    for (change, rows) in [("live allows", &d.added), ("live blocks", &d.removed)] {
        for r in rows {
            let flags: Vec<String> = r
                .row
                .flags
                .iter()
                .map(|f| format!("**{}**", f.as_str()))
                .collect();
            let part = r
                .partial
                .as_ref()
                .map(|p| format!("from {} to {}", short_list(&p.from), short_list(&p.to)))
                .unwrap_or_default();
            out.push_str(&format!(
                "| {change} | `{}` | `{}` | `{}` | {} | {} | {} |\n",
                r.row.row.from,
                r.row.row.to,
                cell(&row_text(&r.row.row)),
                flags.join(" "),
                cell(&r.row.allows.join(", ")),
                cell(&part)
            ));
        }
    }
    out
}
