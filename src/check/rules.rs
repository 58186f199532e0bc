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
use std::rc::Rc;

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
pub fn build<'a>(
    sources: &SourceMap,
    m: &Model<'a>,
    ir: &mut Ir,
    diags: &mut Vec<Diagnostic>,
) -> Vec<AllowPairs<'a>> {
    let mut out: Vec<AllowPairs<'a>> = Vec::with_capacity(m.n_allows);
    let mut memo = Memo::new(ir);
    for def in &m.allows {
        if out.len() <= def.stmt {
            let r = def.rule;
            let text = |n: &Option<Spanned<String>>| n.as_ref().map(|s| interp(def.cell.as_ref(), &s.node));
            ir.allows.push(Allow {
                span: r.span,
                loc: sources.location(r.span),
                cite: crate::ir::cite(sources.snippet(r.span)),
                reason: text(&r.reason),
                exempt: text(&r.exempt),
                l7: r
                    .l7
                    .as_ref()
                    .and_then(|d| super::mesh::lower(d, def.cell.as_ref(), diags)),
            });
            let any = r
                .ports
                .iter()
                .flatten()
                .any(|p| matches!(p.node, crate::syntax::ast::PortItem::Any));
            out.push(AllowPairs {
                rule: r,
                pairs: vec![],
                any,
            });
        }
        let Some(expanded) = expand(m, ir, def, &mut memo, diags) else {
            continue;
        };
        for (f, t, ports) in expanded {
            out[def.stmt].pairs.push((f, t));
            let flow = ir.flows.entry((f, t)).or_default();
            flow.ports.union_with(&ports);
            flow.by.push((def.stmt, ports));
        }
    }
    let mut forbid_stmt = usize::MAX;
    for def in &m.forbids {
        let expanded = expand(m, ir, def, &mut memo, diags).unwrap_or_default();
        if def.stmt != forbid_stmt {
            forbid_stmt = def.stmt;
            let r = def.rule;
            ir.forbids.push(Forbid {
                span: r.span,
                loc: sources.location(r.span),
                cite: crate::ir::forbid_cite(sources.snippet(r.span)),
                reason: r.reason.as_ref().map(|s| interp(def.cell.as_ref(), &s.node)),
                pairs: vec![],
            });
        }
        if let Some(f) = ir.forbids.last_mut() {
            f.pairs.extend(expanded);
        }
    }
    out
}

/// The (from, to, ports) triples of one rule instance, or `None` after errors.
fn expand(
    m: &Model,
    ir: &Ir,
    def: &RuleDef,
    memo: &mut Memo,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(AtomId, AtomId, PortSet)>> {
    let r = def.rule;
    let mut ok = true;
    let mut side = |eps: &[Spanned<EndpointPath>]| -> Vec<Tagged> {
        let mut v = vec![];
        for ep in eps {
            match resolve(m, ir, def, ep, memo) {
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
    // (destination, its ports): destinations are few per rule, a vector beats a map
    let mut dest_ports: Vec<(AtomId, PortSet)> = Vec::with_capacity(to.iter().map(|t| t.atoms.len()).sum());
    // A forbid may name any port: it states what must never be allowed.
    let is_allow = r.kind == crate::syntax::ast::RuleKind::Allow;
    let named = |a: AtomId| to.iter().any(|t| !t.zone && t.atoms.contains(&a));
    for t in &to {
        for &a in t.atoms.iter() {
            if dest_ports.iter().any(|(d, _)| *d == a) {
                continue;
            }
            match ports::for_destination(&items, &ir.atoms[a], named(a), is_allow, &mut memo.exposed[a]) {
                Ok(p) => {
                    dest_ports.push((a, p));
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
            for &fa in f.atoms.iter() {
                for &ta in t.atoms.iter() {
                    if let Some((_, p)) = dest_ports.iter().find(|(d, _)| *d == ta) {
                        out.push((fa, ta, p.clone()));
                    }
                }
            }
        }
    }
    Some(out)
}

/// A name's atoms, and true when it names a zone.
type Resolved = (Rc<[AtomId]>, bool);

/// What `build` computes once and reuses: the policy names the same zones and
/// services in thousands of allows (docs/performance.md).
struct Memo {
    /// Endpoint name -> (its atoms, true for a zone), or `None` when unknown.
    names: std::collections::HashMap<String, Option<Resolved>>,
    /// Per atom, the union of the ports it exposes, once a number was checked against it.
    exposed: Vec<Option<PortSet>>,
    /// Scratch space for a dotted name.
    buf: String,
}

impl Memo {
    fn new(ir: &Ir) -> Memo {
        Memo {
            names: Default::default(),
            exposed: vec![None; ir.atoms.len()],
            buf: String::new(),
        }
    }

    /// [`lookup`], remembered.
    fn lookup(&mut self, ir: &Ir, full: &str) -> Option<Resolved> {
        if let Some(hit) = self.names.get(full) {
            return hit.clone();
        }
        let found = lookup(ir, full).map(|(atoms, zone)| (Rc::from(atoms), zone));
        self.names.insert(full.to_string(), found.clone());
        found
    }
}

/// The atoms one endpoint stands for, tagged with (block, cell index) when it came from `cell*`.
struct Tagged {
    cell: Option<(String, usize)>,
    atoms: Rc<[AtomId]>,
    /// True when the endpoint named a zone (its services are reached as members).
    zone: bool,
}

fn resolve(
    m: &Model,
    ir: &Ir,
    def: &RuleDef,
    ep: &Spanned<EndpointPath>,
    memo: &mut Memo,
) -> Result<Vec<Tagged>, Diagnostic> {
    let path = &ep.node;
    if let Some(block) = path.wildcard() {
        let Some(cells) = m.cells.iter().find(|c| c.name == block) else {
            let names: Vec<&str> = m.cells.iter().map(|c| c.name.as_str()).collect();
            let mut d = Diagnostic::error(
                "E002",
                ep.span,
                format!("no cells block named `{block}` (in `{path}`)"),
            );
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
                let full = if rest.is_empty() {
                    c.clone()
                } else {
                    format!("{c}.{rest}")
                };
                memo.lookup(ir, &full)
                    .map(|(atoms, zone)| Tagged {
                        cell: Some((block.to_string(), i)),
                        atoms,
                        zone,
                    })
                    .ok_or_else(|| unknown(ir, &full, ep.span))
            })
            .collect();
    }
    let mut full = std::mem::take(&mut memo.buf);
    full.clear();
    for (i, seg) in path.segments.iter().enumerate() {
        if i > 0 {
            full.push('.');
        }
        full.push_str(seg);
    }
    let found = match &def.cell {
        Some(c) => memo.lookup(ir, &format!("{}.{full}", c.cell.cell)),
        None => None,
    };
    let found = found.or_else(|| memo.lookup(ir, &full));
    let result = found
        .map(|(atoms, zone)| {
            vec![Tagged {
                cell: None,
                atoms,
                zone,
            }]
        })
        .ok_or_else(|| unknown(ir, &full, ep.span));
    memo.buf = full;
    result
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
    ir.atom_id(full)
        .filter(|a| !ir.atoms[*a].is_remainder())
        .map(|a| (vec![a], false))
}

fn unknown(ir: &Ir, full: &str, span: Span) -> Diagnostic {
    // A cells block repeats an unknown name once per cell (up to 4096): with
    // that many atoms, comparing with each of them every time is quadratic.
    let names: Vec<&str> = if ir.atoms.len() > 2000 {
        vec![]
    } else {
        ir.atoms.iter().map(|a| a.name.as_str()).collect()
    };
    let mut d = Diagnostic::error("E002", span, format!("unknown zone or service `{full}`"));
    d = match closest(full, &names) {
        Some(c) => d.with_help(format!("did you mean `{c}`?")),
        None => d.with_help(endpoint_help(ir)),
    };
    d
}

/// What an endpoint looks like, with this policy's own names: a zone and a
/// service of it, and the cells only when the policy has cells.
fn endpoint_help(ir: &Ir) -> String {
    let plain = ir
        .zones
        .iter()
        .find(|z| z.cell.is_none() && !z.services.is_empty());
    let mut help = match plain {
        Some(z) => format!(
            "endpoints are zones (`{}`) or services (`{}`)",
            z.name, ir.atoms[z.services[0]].name
        ),
        None => "endpoints are zones (`ZONE`) or services (`ZONE.SERVICE`)".to_string(),
    };
    if let Some(z) = ir.zones.iter().find(|z| z.cell.is_some()) {
        if let Some(c) = &z.cell {
            let local = z.name.strip_prefix(&format!("{}.", c.cell)).unwrap_or(&z.name);
            help.push_str(&format!(
                "; cells are reached as `{}.{local}` or `{}*.{local}`",
                c.cell, c.block
            ));
        }
    }
    help
}
