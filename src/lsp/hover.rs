//! Hover: what a name is (kind, site, addresses, namespaces and pods,
//! ports) and, when the policy checks, the flows that reach it (from the matrix).

use super::index::Sym;
use super::workspace::Analysis;
use crate::ir::{AtomId, Ir, ZoneKind};
use crate::span::FileId;
use crate::syntax::ast::{self, PortItem};
use std::fmt::Write;

/// Most flows listed in one hover.
const MAX_FLOWS: usize = 20;
/// Most cell instances described in one hover.
const MAX_CELLS: usize = 3;

/// The hover text (Markdown) for the name under the cursor.
pub fn hover(a: &Analysis, file: FileId, pos: usize) -> Option<String> {
    let occs = a.index().at(file, pos);
    let first = occs.first()?;
    let cell = cell_before(a, file, first.span.start);
    let mut out = String::new();
    for o in &occs {
        if !out.is_empty() {
            out.push_str("\n---\n");
        }
        out.push_str(&describe(a, &o.sym, cell.as_deref()));
    }
    Some(out)
}

/// In `cell2.dmz.web`, the cell a segment after `cell2.` is in.
fn cell_before(a: &Analysis, file: FileId, start: usize) -> Option<String> {
    let text = a.text(file);
    let before = text.get(..start)?.strip_suffix('.')?;
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let first = before[word_start..].split('.').next()?;
    a.index()
        .cells
        .values()
        .any(|c| c.has_cell(first))
        .then(|| first.to_string())
}

fn describe(a: &Analysis, sym: &Sym, cell: Option<&str>) -> String {
    let ir = a.checked.ir.as_ref();
    match sym {
        Sym::Site(s) => site(a, s),
        Sym::Cluster(c) => {
            let zones: Vec<String> = a
                .index()
                .zones
                .values()
                .filter(|z| z.decl.layout.cluster.as_ref().is_some_and(|n| n.node == *c))
                .map(|z| format!("`{}`", z.decl.name.node))
                .collect();
            format!(
                "**cluster** `{c}` (Kubernetes)\n\nzones in it: {}",
                zones.join(", ")
            )
        }
        Sym::Cells(b) => cells(a, b),
        Sym::Cell(b, c) => cell_text(a, b, c),
        Sym::Zone(b, z) => zone(a, b.as_deref(), z, cell),
        Sym::Service(b, z, s) => service(a, b.as_deref(), z, s, cell),
        Sym::Port(b, z, s, p) => {
            let spec = a
                .index()
                .zones
                .get(&(b.clone(), z.clone()))
                .and_then(|zi| zi.decl.services.iter().find(|d| d.name.node == *s))
                .and_then(|d| d.ports.iter().find(|x| x.name.node == *p))
                .map(|x| port_text(&x.spec.node))
                .unwrap_or_default();
            let mut out = format!(
                "**port** `{p}` = `{spec}` of service `{}`",
                Sym::Service(b.clone(), z.clone(), s.clone()).display()
            );
            out.push_str(&port_flows(a, b.as_deref(), z, s, p, cell));
            out
        }
        Sym::File(p) => {
            let _ = ir;
            format!("**include** `{}`", p.display())
        }
    }
}

/// The flows of the matrix that use port `p` of each instance of service `s`.
fn port_flows(a: &Analysis, block: Option<&str>, z: &str, s: &str, p: &str, cell: Option<&str>) -> String {
    let Some(ir) = &a.checked.ir else {
        return "\n\n*flows: shown once the policy has no errors*".into();
    };
    let mut out = String::new();
    for zone in instances(ir, block, z, cell).iter().take(MAX_CELLS) {
        let Some(atom) = ir.atom_id(&format!("{}.{s}", zone.name)) else {
            continue;
        };
        let Some(set) = ir.atoms[atom].ports.get(p) else {
            continue;
        };
        let _ = write!(out, "\n\n**`{}`** `{p}`", ir.atoms[atom].name);
        out.push_str(&flows_to(ir, &[atom], &a.checked.sources, Some(set)));
    }
    out
}

fn site(a: &Analysis, s: &str) -> String {
    let mut out = format!("**site** `{s}`");
    if let Some(site) = a
        .checked
        .ir
        .as_ref()
        .and_then(|ir| ir.sites.iter().find(|x| x.name == s))
    {
        let _ = write!(out, " : {}", site.kind.as_str());
        for (k, v) in &site.props {
            let _ = write!(out, "\n- {k} `{v}`");
        }
    }
    out
}

fn cells(a: &Analysis, b: &str) -> String {
    let Some(c) = a.index().cells.get(b) else {
        return format!("**cells** `{b}`");
    };
    let zones: Vec<&str> = a
        .index()
        .zones
        .keys()
        .filter(|(bb, _)| bb.as_deref() == Some(b))
        .map(|(_, z)| z.as_str())
        .collect();
    format!(
        "**cells** `{b}[{}..{}]` in `{}` each `/{}`\n\nzones of each cell: {}",
        c.lo,
        c.hi,
        c.block,
        c.each,
        zones
            .iter()
            .map(|z| format!("`{z}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn cell_text(a: &Analysis, b: &str, c: &str) -> String {
    let mut out = format!("**cell** `{c}` of cells block `{b}`");
    if let Some(ir) = &a.checked.ir {
        for z in ir
            .zones
            .iter()
            .filter(|z| z.cell.as_ref().is_some_and(|r| r.cell == c))
        {
            let cidrs: Vec<String> = z.cidrs.iter().map(|n| n.to_string()).collect();
            let _ = write!(
                out,
                "\n- zone `{}` ({}) {}",
                z.name,
                z.kind.as_str(),
                cidrs.join(", ")
            );
        }
    }
    out
}

/// The IR zones one declaration stands for: itself, or (in a cells block) its instances.
fn instances<'i>(ir: &'i Ir, block: Option<&str>, z: &str, cell: Option<&str>) -> Vec<&'i crate::ir::Zone> {
    ir.zones
        .iter()
        .filter(|x| match (block, &x.cell) {
            (None, None) => x.name == z,
            (Some(b), Some(r)) => {
                r.block == b && x.name == format!("{}.{z}", r.cell) && cell.is_none_or(|c| c == r.cell)
            }
            _ => false,
        })
        .collect()
}

fn zone(a: &Analysis, block: Option<&str>, z: &str, cell: Option<&str>) -> String {
    let key = (block.map(str::to_string), z.to_string());
    let Some(zi) = a.index().zones.get(&key) else {
        return format!("**zone** `{z}`");
    };
    let d = &zi.decl;
    let kind = ZoneKind::parse(&d.kind.node).map_or(d.kind.node.as_str(), |k| k.as_str());
    let mut out = format!(
        "**zone** `{}` : {kind}",
        Sym::Zone(key.0.clone(), z.to_string()).display()
    );
    let _ = write!(
        out,
        " @ {}",
        d.site.as_ref().map_or("default", |s| s.node.as_str())
    );
    if !d.cidrs.is_empty() {
        let c: Vec<&str> = d.cidrs.iter().map(|c| c.node.text.as_str()).collect();
        let _ = write!(out, "\n\n- cidr {}", c.join(", "));
    }
    if !d.namespaces.is_empty() {
        let n: Vec<&str> = d.namespaces.iter().map(|n| n.node.as_str()).collect();
        let _ = write!(out, "\n- namespaces {}", n.join(", "));
    }
    if !d.services.is_empty() {
        let s: Vec<String> = d.services.iter().map(|s| format!("`{}`", s.name.node)).collect();
        let _ = write!(out, "\n- services {}", s.join(", "));
    }
    out.push_str(&ir_facts(a, block, z, None, cell));
    out
}

fn service(a: &Analysis, block: Option<&str>, z: &str, s: &str, cell: Option<&str>) -> String {
    let key = (block.map(str::to_string), z.to_string());
    let name = Sym::Service(key.0.clone(), z.to_string(), s.to_string()).display();
    let Some(d) = a
        .index()
        .zones
        .get(&key)
        .and_then(|zi| zi.decl.services.iter().find(|d| d.name.node == s))
    else {
        return format!("**service** `{name}`");
    };
    let mut out = format!("**service** `{name}`");
    if let Some(zi) = a.index().zones.get(&key) {
        let kind = ZoneKind::parse(&zi.decl.kind.node).map_or(zi.decl.kind.node.as_str(), |k| k.as_str());
        let _ = write!(out, " in {kind} zone `{z}`");
    }
    out.push('\n');
    service_lines(d, &mut out);
    out.push_str(&ir_facts(a, block, z, Some(s), cell));
    out
}

fn service_lines(d: &ast::ServiceDecl, out: &mut String) {
    if !d.hosts.is_empty() {
        let h: Vec<&str> = d.hosts.iter().map(|c| c.node.text.as_str()).collect();
        let _ = write!(out, "\n- hosts {}", h.join(", "));
    }
    if !d.namespaces.is_empty() {
        let n: Vec<&str> = d.namespaces.iter().map(|n| n.node.as_str()).collect();
        let _ = write!(out, "\n- namespace {}", n.join(", "));
    }
    if !d.pods.is_empty() {
        let p: Vec<String> = d
            .pods
            .iter()
            .map(|l| format!("{}={}", l.node.key, l.node.value))
            .collect();
        let _ = write!(out, "\n- pods {}", p.join(", "));
    }
    for p in &d.ports {
        let _ = write!(out, "\n- port `{}` {}", p.name.node, port_text(&p.spec.node));
    }
    if d.resident.is_some() {
        out.push_str("\n- resident");
    }
}

/// Addresses, Kubernetes mapping and the flows reaching each instance (only when the policy checks).
fn ir_facts(a: &Analysis, block: Option<&str>, z: &str, s: Option<&str>, cell: Option<&str>) -> String {
    let Some(ir) = &a.checked.ir else {
        return "\n\n*addresses and flows: shown once the policy has no errors*".into();
    };
    let zones = instances(ir, block, z, cell);
    let mut out = String::new();
    for zone in zones.iter().take(MAX_CELLS) {
        let atoms: Vec<AtomId> = match s {
            Some(s) => ir.atom_id(&format!("{}.{s}", zone.name)).into_iter().collect(),
            None => std::iter::once(zone.remainder)
                .chain(zone.services.iter().copied())
                .collect(),
        };
        let Some(&main) = atoms.first() else { continue };
        let atom = &ir.atoms[main];
        let _ = write!(
            out,
            "\n\n**`{}`**",
            s.map_or(zone.name.clone(), |_| atom.name.clone())
        );
        let addrs: Vec<String> = atom.addrs.prefixes().iter().map(|p| p.to_string()).collect();
        if !addrs.is_empty() {
            let _ = write!(out, "\n- addresses {}", shorten(&addrs, 8));
        }
        if atom.has_namespaces() {
            let _ = write!(out, "\n- namespaces {}", atom.namespaces.join(", "));
        }
        if !atom.pods.is_empty() {
            let p: Vec<String> = atom.pods.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = write!(out, "\n- pods {}", p.join(", "));
        }
        out.push_str(&flows_to(ir, &atoms, &a.checked.sources, None));
    }
    if zones.len() > MAX_CELLS {
        let _ = write!(out, "\n\n… and {} more cells", zones.len() - MAX_CELLS);
    }
    out
}

fn shorten(items: &[String], n: usize) -> String {
    if items.len() <= n {
        items.join(", ")
    } else {
        format!("{} … ({} in all)", items[..n].join(", "), items.len())
    }
}

/// The flows of the matrix whose destination is one of `atoms`, with the allows behind them.
/// With `only`, the flows that allow some of those ports, shown as just those ports.
fn flows_to(
    ir: &Ir,
    atoms: &[AtomId],
    sources: &crate::span::SourceMap,
    only: Option<&crate::ports::PortSet>,
) -> String {
    let mut rows = vec![];
    for (&(f, t), flow) in &ir.flows {
        let ports = match only {
            Some(o) => flow.ports.intersect(o),
            None => flow.ports.clone(),
        };
        if atoms.contains(&t) && !ports.is_empty() {
            let by: Vec<String> = flow
                .allow_ids()
                .iter()
                .map(|&i| sources.location(ir.allows[i].span))
                .collect();
            rows.push(format!(
                "`{} -> {}` {} ({})",
                ir.atoms[f].name,
                ir.atoms[t].name,
                ports_text(&ports),
                shorten(&by, 3)
            ));
        }
    }
    if rows.is_empty() {
        return "\n- no flow reaches it".into();
    }
    let mut out = format!("\n- flows reaching it ({}):", rows.len());
    for r in rows.iter().take(MAX_FLOWS) {
        let _ = write!(out, "\n  - {r}");
    }
    if rows.len() > MAX_FLOWS {
        let _ = write!(out, "\n  - … {} more (`moat matrix`)", rows.len() - MAX_FLOWS);
    }
    out
}

/// A port set as the language writes it: `tcp/80,443 udp/53`.
pub fn ports_text(p: &crate::ports::PortSet) -> String {
    if p.is_any() {
        return "any".into();
    }
    p.rows()
        .into_iter()
        .map(|(proto, ports)| match ports {
            Some(ps) => format!("{proto}/{ps}"),
            None => proto.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One port item as written.
pub fn port_text(p: &PortItem) -> String {
    match p {
        PortItem::Any => "any".into(),
        PortItem::Proto(x) | PortItem::Named(x) => x.clone(),
        PortItem::Port(x, n) => format!("{x}/{n}"),
        PortItem::Range(x, lo, hi) => format!("{x}/{lo}-{hi}"),
    }
}
