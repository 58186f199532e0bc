//! Rules: endpoint resolution (E002, with `cell*` pairing), port lists (E008,
//! E009), and the expansion of every allow into the flow matrix and every
//! forbid into atom pairs. Cost is linear in the atom pairs the rules name.

use super::model::{interp, Model, RuleDef};
use super::ports::{self, Ports};
use crate::diag::Diagnostic;
use crate::ir::{Allow, AtomId, Forbid, Ir};
use crate::ports::PortSet;
use crate::span::{SourceMap, Span, Spanned};
use crate::syntax::ast::{EndpointPath, Rule};
use crate::syntax::parse::closest;

/// One allow statement's expansion, for the checks that look at its pairs.
#[derive(Debug, Clone)]
pub struct AllowPairs<'a> {
    pub rule: &'a Rule,
    /// The (from, to) atom pairs of all its instances.
    pub pairs: Vec<(AtomId, AtomId)>,
    /// True when the port list has `any`.
    pub any: bool,
}

/// Resolves all rules into `ir.allows`, `ir.flows` and `ir.forbids`.
pub fn build<'a>(sources: &SourceMap, m: &Model<'a>, ir: &mut Ir, diags: &mut Vec<Diagnostic>) -> Vec<AllowPairs<'a>> {
    let mut out: Vec<AllowPairs<'a>> = Vec::with_capacity(m.n_allows);
    for def in &m.allows {
        if out.len() <= def.stmt {
            let r = def.rule;
            let text = |n: &Option<Spanned<String>>| n.as_ref().map(|s| interp(def.cell.as_ref(), &s.node));
            ir.allows.push(Allow { span: r.span, loc: sources.location(r.span), reason: text(&r.reason), exempt: text(&r.exempt) });
            let any = r.ports.iter().flatten().any(|p| matches!(p.node, crate::syntax::ast::PortItem::Any));
            out.push(AllowPairs { rule: r, pairs: vec![], any });
        }
        let Some(expanded) = expand(m, ir, def, diags) else { continue };
        for (f, t, ports) in expanded {
            out[def.stmt].pairs.push((f, t));
            let flow = ir.flows.entry((f, t)).or_default();
            flow.ports.union_with(&ports);
            flow.by.push((def.stmt, ports));
        }
    }
    let mut forbid_stmt = usize::MAX;
    for def in &m.forbids {
        let expanded = expand(m, ir, def, diags).unwrap_or_default();
        if def.stmt != forbid_stmt {
            forbid_stmt = def.stmt;
            let r = def.rule;
            ir.forbids.push(Forbid { span: r.span, loc: sources.location(r.span), reason: r.reason.as_ref().map(|s| interp(def.cell.as_ref(), &s.node)), pairs: vec![] });
        }
        if let Some(f) = ir.forbids.last_mut() {
            f.pairs.extend(expanded);
        }
    }
    out
}

/// The (from, to, ports) triples of one rule instance, or `None` after errors.
fn expand(m: &Model, ir: &Ir, def: &RuleDef, diags: &mut Vec<Diagnostic>) -> Option<Vec<(AtomId, AtomId, PortSet)>> {
    let r = def.rule;
    let mut ok = true;
    let mut side = |eps: &[Spanned<EndpointPath>]| -> Vec<Tagged> {
        let mut v = vec![];
        for ep in eps {
            match resolve(m, ir, def, ep) {
                Ok(t) => v.extend(t),
                Err(d) => {
                    ok = false;
                    diags.push(d);
                }
            }
        }
        v
    };
    let from = side(&r.from);
    let to = side(&r.to);
    let mut items = vec![];
    for p in r.ports.iter().flatten() {
        match ports::port_item(p) {
            Ok(x) => items.push((x, p.span)),
            Err(d) => {
                ok = false;
                diags.push(d);
            }
        }
    }
    if r.ports.is_none() {
        items.push((Ports::Set(PortSet::any()), r.span));
    }
    if !ok {
        return None;
    }
    let mut dest_ports: std::collections::BTreeMap<AtomId, PortSet> = Default::default();
    // A forbid may name any port: it states what must never be allowed.
    let is_allow = r.kind == crate::syntax::ast::RuleKind::Allow;
    let named: std::collections::BTreeSet<AtomId> = to.iter().filter(|t| !t.zone).flat_map(|t| t.atoms.iter().copied()).collect();
    for t in &to {
        for &a in &t.atoms {
            if dest_ports.contains_key(&a) {
                continue;
            }
            match ports::for_destination(&items, &ir.atoms[a], named.contains(&a), is_allow) {
                Ok(p) => {
                    dest_ports.insert(a, p);
                }
                Err(ds) => {
                    ok = false;
                    diags.extend(ds);
                }
            }
        }
    }
    if !ok {
        return None;
    }
    let mut out = vec![];
    for f in &from {
        for t in &to {
            if matches!((&f.cell, &t.cell), (Some(a), Some(b)) if a.0 == b.0 && a.1 != b.1) {
                continue; // `cell*` on both sides pairs cell i with cell i
            }
            for &fa in &f.atoms {
                for &ta in &t.atoms {
                    out.push((fa, ta, dest_ports[&ta].clone()));
                }
            }
        }
    }
    Some(out)
}

/// The atoms one endpoint stands for, tagged with (block, cell index) when it came from `cell*`.
struct Tagged {
    cell: Option<(String, usize)>,
    atoms: Vec<AtomId>,
    /// True when the endpoint named a zone (its services are reached as members).
    zone: bool,
}

fn resolve(m: &Model, ir: &Ir, def: &RuleDef, ep: &Spanned<EndpointPath>) -> Result<Vec<Tagged>, Diagnostic> {
    let path = &ep.node;
    if let Some(block) = path.wildcard() {
        let Some(cells) = m.cells.iter().find(|c| c.name == block) else {
            let names: Vec<&str> = m.cells.iter().map(|c| c.name.as_str()).collect();
            let mut d = Diagnostic::error("E002", ep.span, format!("no cells block named `{block}` (in `{path}`)"));
            if let Some(c) = closest(block, &names) {
                d = d.with_help(format!("did you mean `{c}*`?"));
            } else {
                d = d.with_help("`NAME*.` refers to every cell of a `cells NAME[LO..HI]` block");
            }
            return Err(d);
        };
        let rest = path.segments[1..].join(".");
        return cells
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let full = if rest.is_empty() { c.clone() } else { format!("{c}.{rest}") };
                lookup(ir, &full).map(|(atoms, zone)| Tagged { cell: Some((block.to_string(), i)), atoms, zone }).ok_or_else(|| unknown(ir, &full, ep.span))
            })
            .collect();
    }
    let full = path.to_string();
    if let Some(c) = &def.cell {
        if let Some((atoms, zone)) = lookup(ir, &format!("{}.{full}", c.cell.cell)) {
            return Ok(vec![Tagged { cell: None, atoms, zone }]);
        }
    }
    lookup(ir, &full).map(|(atoms, zone)| vec![Tagged { cell: None, atoms, zone }]).ok_or_else(|| unknown(ir, &full, ep.span))
}

/// A zone (all its atoms, `true`) or a service (its atom, `false`) by full name.
fn lookup(ir: &Ir, full: &str) -> Option<(Vec<AtomId>, bool)> {
    if let Ok(z) = ir.zones.binary_search_by(|z| z.name.as_str().cmp(full)) {
        let zone = &ir.zones[z];
        let mut v = vec![zone.remainder];
        v.extend(&zone.services);
        v.sort_unstable();
        return Some((v, true));
    }
    ir.atom_id(full).filter(|a| !ir.atoms[*a].is_remainder()).map(|a| (vec![a], false))
}

fn unknown(ir: &Ir, full: &str, span: Span) -> Diagnostic {
    // A cells block repeats an unknown name once per cell (up to 4096): with
    // that many atoms, comparing with each of them every time is quadratic.
    let names: Vec<&str> = if ir.atoms.len() > 2000 { vec![] } else { ir.atoms.iter().map(|a| a.name.as_str()).collect() };
    let mut d = Diagnostic::error("E002", span, format!("unknown zone or service `{full}`"));
    d = match closest(full, &names) {
        Some(c) => d.with_help(format!("did you mean `{c}`?")),
        None => d.with_help("endpoints are zones (`mz`) or services (`mz.kernel`); cells are reached as `cell2.mz` or `cell*.mz`"),
    };
    d
}
