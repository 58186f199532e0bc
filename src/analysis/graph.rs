//! `moat graph`: zones as clusters, services as nodes, allowed flows as
//! edges labelled with their ports, in Graphviz DOT or Mermaid.
//!
//! Zone kinds are styled (external: dashed grey, demilitarised: amber,
//! militarised: red), resident services get a double border, and a flow that
//! an `exempt` allow contributes to is drawn thick red with the waiver as its
//! tooltip. A zone's remainder (its members in none of its services) is drawn
//! only when it takes part in a flow or the zone has no services.

use crate::ir::{AtomId, Flow, Ir, ZoneKind};

/// Mermaid class definitions for the three zone kinds.
pub const MERMAID_CLASSES: &str = "  classDef external fill:#f4f4f4,stroke:#888,stroke-dasharray:4 3\n  classDef dmz fill:#fff4d6,stroke:#d4a000\n  classDef mz fill:#fde2e1,stroke:#c0392b\n";

/// The Mermaid class of a zone kind.
pub fn kind_class(kind: ZoneKind) -> &'static str {
    match kind {
        ZoneKind::External => "external",
        ZoneKind::Demilitarised => "dmz",
        ZoneKind::Militarised => "mz",
    }
}

/// A Mermaid node body for a zone: `(["name<br/>kind"])`, shaped by kind.
pub fn mermaid_node(name: &str, kind: ZoneKind) -> String {
    let label = format!("\"{name}<br/><i>{}</i>\"", kind.as_str());
    match kind {
        ZoneKind::External => format!("([{label}])"),
        ZoneKind::Demilitarised => format!("[{label}]"),
        ZoneKind::Militarised => format!("[[{label}]]"),
    }
}

/// (fill, border, border style) of a zone kind's cluster.
fn dot_style(kind: ZoneKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ZoneKind::External => ("#f4f4f4", "#888888", "dashed,filled"),
        ZoneKind::Demilitarised => ("#fff4d6", "#d4a000", "filled"),
        ZoneKind::Militarised => ("#fde2e1", "#c0392b", "bold,filled"),
    }
}

/// Output format of `moat graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Dot,
    Mermaid,
}

/// The drawing of the policy in `format`.
pub fn render(ir: &Ir, format: Format) -> String {
    match format {
        Format::Dot => to_dot(ir),
        Format::Mermaid => to_mermaid(ir),
    }
}

/// The atoms drawn: every service, and remainders that matter.
fn shown(ir: &Ir) -> Vec<bool> {
    let mut show: Vec<bool> = ir.atoms.iter().map(|a| !a.is_remainder()).collect();
    for &(f, t) in ir.flows.keys() {
        show[f] = true;
        show[t] = true;
    }
    for z in &ir.zones {
        if z.services.is_empty() {
            show[z.remainder] = true;
        }
    }
    show
}

/// The waivers of the exempt allows behind a flow.
fn waivers(ir: &Ir, flow: &Flow) -> Vec<String> {
    flow.allow_ids().into_iter().filter_map(|a| ir.allows[a].exempt.clone()).collect()
}

/// A string in DOT double quotes (newlines become `\n` line breaks).
fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

fn atom_label(ir: &Ir, a: AtomId) -> String {
    let atom = &ir.atoms[a];
    match &atom.service {
        Some(s) => s.clone(),
        None if ir.zones[atom.zone].services.is_empty() => atom.name.clone(),
        None => format!("{} (rest)", atom.name),
    }
}

/// Graphviz DOT.
pub fn to_dot(ir: &Ir) -> String {
    let show = shown(ir);
    let title = ir.title.as_ref().map_or_else(|| ir.name.clone(), |t| format!("{}: {t}", ir.name));
    let mut out = String::from("digraph moat {\n");
    out.push_str(&format!("  graph [rankdir=LR, fontname=\"Helvetica\", labelloc=t, label={}];\n", q(&title)));
    out.push_str("  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n");
    for (zi, z) in ir.zones.iter().enumerate() {
        let (fill, border, style) = dot_style(z.kind);
        let site = &ir.sites[z.site];
        let at = if site.span.is_some() { format!(" @ {}", site.name) } else { String::new() };
        out.push_str(&format!("  subgraph cluster_{zi} {{\n"));
        out.push_str(&format!("    label={}; style={}; fillcolor={}; color={};\n", q(&format!("{} ({}){at}", z.name, z.kind.as_str())), q(style), q(fill), q(border)));
        let members = z.services.iter().copied().chain([z.remainder]);
        for a in members.filter(|a| show[*a]) {
            let extra = match (ir.atoms[a].is_remainder(), ir.atoms[a].resident) {
                (true, _) => ", shape=ellipse, style=\"dashed,filled\"",
                (false, true) => ", peripheries=2, tooltip=\"resident (data-localised)\"",
                _ => "",
            };
            out.push_str(&format!("    {} [label={}{extra}];\n", q(&ir.atoms[a].name), q(&atom_label(ir, a))));
        }
        out.push_str("  }\n");
    }
    for (&(f, t), flow) in &ir.flows {
        let label = flow.ports.to_string().replace(' ', "\n");
        let w = waivers(ir, flow);
        let style = if w.is_empty() {
            String::new()
        } else {
            format!(", color=\"#d00000\", fontcolor=\"#d00000\", penwidth=2.5, tooltip={}", q(&format!("exempt: {}", w.join("; "))))
        };
        let label = if w.is_empty() { label } else { format!("{label}\nexempt") };
        out.push_str(&format!("  {} -> {} [label={}{style}];\n", q(&ir.atoms[f].name), q(&ir.atoms[t].name), q(&label)));
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart with one subgraph per zone.
pub fn to_mermaid(ir: &Ir) -> String {
    let show = shown(ir);
    let mut out = String::from("flowchart LR\n");
    for (zi, z) in ir.zones.iter().enumerate() {
        out.push_str(&format!("  subgraph z{zi}[\"{} ({})\"]\n", z.name, z.kind.as_str()));
        for a in z.services.iter().copied().chain([z.remainder]).filter(|a| show[*a]) {
            let label = atom_label(ir, a);
            let node = if ir.atoms[a].is_remainder() { format!("([\"{label}\"])") } else { format!("[\"{label}\"]") };
            out.push_str(&format!("    a{a}{node}\n"));
        }
        out.push_str("  end\n");
    }
    let mut exempt_links = vec![];
    for (i, (&(f, t), flow)) in ir.flows.iter().enumerate() {
        let mut label = flow.ports.to_string().replace(' ', "<br/>");
        if !waivers(ir, flow).is_empty() {
            label.push_str("<br/>exempt");
            exempt_links.push(i);
        }
        out.push_str(&format!("  a{f} -->|\"{label}\"| a{t}\n"));
    }
    out.push_str(MERMAID_CLASSES);
    for (zi, z) in ir.zones.iter().enumerate() {
        out.push_str(&format!("  class z{zi} {}\n", kind_class(z.kind)));
    }
    for i in exempt_links {
        out.push_str(&format!("  linkStyle {i} stroke:#d00000,stroke-width:3px\n"));
    }
    out
}
