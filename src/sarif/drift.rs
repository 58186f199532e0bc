//! `moat drift --format sarif`: each drift row a result.
//!
//! Two rules: `drift-added` (the live state lets through what the policy does
//! not allow) and `drift-removed` (the live state blocks what the policy
//! allows). An added row is located at the live rule that lets it through
//! (its file and line; its object name, a NetworkPolicy or a security group
//! rule, as a logical location), with the further live rules and any forbid
//! the flow crosses as related locations. A removed row has no live rule to
//! point at: it is located at the policy's allow the live state does not
//! honour, with the other allows as related locations.
//!
//! Level: `error` for an added row that crosses a forbid or opens a path
//! into a militarised zone or from an external one; `warning` for every
//! other row (a removed row breaks a service but opens nothing).
//! The reader's warnings (W013) are results of the same log.

use super::{physical, Log};
use crate::analysis::diff::{row_ports, row_text, Flag};
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir};
use crate::live::compare::{Drift, DriftRow};
use crate::live::{LiveMatrix, LiveRule};
use crate::ports::PortSet;
use crate::span::{SourceMap, Span};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The rule id of rows the live state lets through and the policy does not allow.
pub const ADDED: &str = "drift-added";
/// The rule id of rows the policy allows and the live state blocks.
pub const REMOVED: &str = "drift-removed";

/// The SARIF log of a drift report and the live readers' warnings.
pub fn render_drift(
    ir: &Ir,
    live: &LiveMatrix,
    drift: &Drift,
    warnings: &[Diagnostic],
    sources: &SourceMap,
) -> String {
    let atoms: HashMap<&str, AtomId> = ir
        .atoms
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), i))
        .collect();
    let mut log = Log::default();
    log.diagnostics(warnings, sources);
    let ctx = Ctx {
        ir,
        live,
        atoms,
        sources,
    };
    for r in &drift.added {
        let i = log.rule(ADDED, || rule(ADDED));
        log.results.push(ctx.added(r, i));
    }
    for r in &drift.removed {
        let i = log.rule(REMOVED, || rule(REMOVED));
        log.results.push(ctx.removed(r, i));
    }
    log.finish()
}

fn rule(id: &str) -> Value {
    let (short, full, help) = if id == ADDED {
        (
            "the live state lets through a flow the policy does not allow",
            "A deployed rule lets packets through between two atoms of the policy that no allow \
             permits: an opening the policy does not know about.",
            "Remove or narrow the live rule that lets it through and redeploy the compiled \
             artefacts; if the flow is meant, add an allow to the policy and recompile.",
        )
    } else {
        (
            "the live state blocks a flow the policy allows",
            "The policy allows the flow, but the deployed rules drop it for all or part of the \
             pair: the live state is out of date or was edited by hand.",
            "Deploy the compiled artefacts again; if the flow is no longer meant, remove the allow.",
        )
    };
    json!({
        "id": id,
        "name": id,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": format!("{help} (docs/drift.md describes moat drift.)")},
        "defaultConfiguration": {"level": "warning"},
    })
}

/// What the results of one drift report are made from.
struct Ctx<'a> {
    ir: &'a Ir,
    live: &'a LiveMatrix,
    atoms: HashMap<&'a str, AtomId>,
    sources: &'a SourceMap,
}

impl Ctx<'_> {
    /// The pair and ports of a row (rows name atoms of `ir`).
    fn pair(&self, r: &DriftRow) -> Option<(AtomId, AtomId, PortSet)> {
        let f = *self.atoms.get(r.row.row.from.as_str())?;
        let t = *self.atoms.get(r.row.row.to.as_str())?;
        Some((f, t, row_ports(&r.row.row)?))
    }

    fn added(&self, r: &DriftRow, rule_index: usize) -> Value {
        let (rules, forbids) = match self.pair(r) {
            Some((f, t, ports)) => (self.live_rules(f, t, &ports), self.forbids(f, t, &ports)),
            None => (vec![], vec![]),
        };
        let serious = !forbids.is_empty()
            || r.row
                .flags
                .iter()
                .any(|f| matches!(f, Flag::IntoMilitarised | Flag::FromExternal));
        let mut text = format!(
            "the live state lets through {}, which the policy does not allow",
            flow(r)
        );
        if !r.row.allows.is_empty() {
            text.push_str(&format!("; let through by {}", r.row.allows.join(", ")));
        }
        let mut related: Vec<(Span, String)> = rules
            .iter()
            .skip(1)
            .map(|l| (l.span, format!("also lets it through: {}", l.text)))
            .collect();
        for (span, loc) in &forbids {
            text.push_str(&format!("; it crosses the forbid at {loc}"));
            related.push((*span, "the forbid this flow crosses".to_string()));
        }
        let mut res = self.result(
            ADDED,
            rule_index,
            r,
            text,
            if serious { "error" } else { "warning" },
        );
        if let Some(first) = rules.first() {
            let mut loc = json!({"physicalLocation": physical(first.span, self.sources)});
            if let Some(o) = &first.object {
                loc["logicalLocations"] = json!([{"name": o, "kind": "resource"}]);
            }
            loc["message"] = json!({"text": first.text});
            res["locations"] = json!([loc]);
        }
        self.related(&mut res, &related);
        res
    }

    fn removed(&self, r: &DriftRow, rule_index: usize) -> Value {
        let allows: Vec<(Span, String)> = match self.pair(r) {
            Some((f, t, ports)) => self.ir.flows.get(&(f, t)).map_or(vec![], |flow| {
                let mut v: Vec<(Span, String)> = flow
                    .by
                    .iter()
                    .filter(|(_, p)| p.intersects(&ports))
                    .map(|(a, _)| {
                        let a = &self.ir.allows[*a];
                        (
                            a.span,
                            format!("the allow the live state does not honour ({})", a.cite),
                        )
                    })
                    .collect();
                v.dedup();
                v
            }),
            None => vec![],
        };
        let text = format!(
            "the policy allows {} ({}), and the live state blocks it",
            flow(r),
            r.row.allows.join(", ")
        );
        let mut res = self.result(REMOVED, rule_index, r, text, "warning");
        if let Some((span, note)) = allows.first() {
            res["locations"] = json!([{
                "physicalLocation": physical(*span, self.sources),
                "message": {"text": note},
            }]);
        }
        self.related(&mut res, allows.get(1..).unwrap_or(&[]));
        res
    }

    /// The result's common part: rule, level, message and the row as properties.
    fn result(&self, id: &str, rule_index: usize, r: &DriftRow, text: String, level: &str) -> Value {
        let row = &r.row.row;
        let flags: Vec<&str> = r.row.flags.iter().map(|f| f.as_str()).collect();
        let mut props = json!({
            "from": row.from,
            "to": row.to,
            "protocol": row.protocol,
            "flags": flags,
            "partial": r.partial.is_some(),
        });
        if let Some(p) = &row.ports {
            props["ports"] = json!(p);
        }
        if let Some(p) = &r.partial {
            props["addresses"] = json!({"from": p.from, "to": p.to});
        }
        json!({
            "ruleId": id,
            "ruleIndex": rule_index,
            "level": level,
            "message": {"text": text},
            "properties": props,
        })
    }

    fn related(&self, res: &mut Value, spans: &[(Span, String)]) {
        if spans.is_empty() {
            return;
        }
        let v: Vec<Value> = spans
            .iter()
            .enumerate()
            .map(|(i, (span, note))| {
                json!({
                    "id": i,
                    "physicalLocation": physical(*span, self.sources),
                    "message": {"text": note},
                })
            })
            .collect();
        res["relatedLocations"] = Value::Array(v);
    }

    /// The live rules that let some of `ports` through from `f` to `t`, in input order.
    fn live_rules(&self, f: AtomId, t: AtomId, ports: &PortSet) -> Vec<&LiveRule> {
        self.live.get(&(f, t)).map_or(vec![], |lf| {
            lf.by
                .iter()
                .filter(|(_, p)| p.intersects(ports))
                .map(|(r, _)| r)
                .collect()
        })
    }

    /// The forbids (span and `file:line`) that cover some of `ports` from `f` to `t`.
    fn forbids(&self, f: AtomId, t: AtomId, ports: &PortSet) -> Vec<(Span, String)> {
        self.ir
            .forbids
            .iter()
            .filter(|fb| {
                fb.pairs
                    .iter()
                    .any(|(a, b, p)| (*a, *b) == (f, t) && p.intersects(ports))
            })
            .map(|fb| (fb.span, fb.loc.clone()))
            .collect()
    }
}

/// `from -> to ports [flags]`, with the part of the pair when it is partial.
fn flow(r: &DriftRow) -> String {
    let row = &r.row.row;
    let mut s = format!("{} -> {} {}", row.from, row.to, row_text(row));
    if !r.row.flags.is_empty() {
        let flags: Vec<&str> = r.row.flags.iter().map(|f| f.as_str()).collect();
        s.push_str(&format!(" [{}]", flags.join(", ")));
    }
    if let Some(p) = &r.partial {
        s.push_str(&format!(" (only from {} to {})", few(&p.from), few(&p.to)));
    }
    s
}

/// Up to four items of a list, and how many there are when there are more.
fn few(v: &[String]) -> String {
    match v.get(..4) {
        Some(head) if v.len() > 4 => format!("{}, ... ({} parts)", head.join(", "), v.len()),
        _ => v.join(", "),
    }
}
