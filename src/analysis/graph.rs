//! `moat graph`: zones as clusters, services as nodes, allowed flows as
//! edges labelled with their ports, in Graphviz DOT or Mermaid.
//!
//! Zone kinds are styled (external: dashed grey, demilitarised: amber,
//! militarised: red), resident services get a double border, and a flow that
//! an `exempt` allow contributes to is drawn thick red with the waiver as its
//! tooltip. A zone's remainder (its members in none of its services) is drawn
//! only when it takes part in a flow or the zone has no services.

use crate::ir::{AtomId, Ir, ZoneKind};

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

mod edges;

use edges::{Drawing, End};

/// The atoms drawn: every service, remainders that are an edge's end or carry
/// a note, and the remainder of a zone without services.
fn shown(ir: &Ir, d: &Drawing) -> Vec<bool> {
    let mut show: Vec<bool> = ir.atoms.iter().map(|a| !a.is_remainder()).collect();
    for e in &d.edges {
        for end in [e.from, e.to] {
            if let End::Atom(a) = end {
                show[a] = true;
            }
        }
    }
    for a in d.notes.keys() {
        show[*a] = true;
    }
    for z in &ir.zones {
        if z.services.is_empty() {
            show[z.remainder] = true;
        }
    }
    show
}

/// A string in DOT double quotes (newlines become `\n` line breaks).
fn q(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
    )
}

/// A node's label: the service name (or `zone (rest)`), a zone's DNS names, then its notes.
fn atom_label(ir: &Ir, d: &Drawing, a: AtomId, sep: &str) -> String {
    let atom = &ir.atoms[a];
    let mut label = match &atom.service {
        Some(s) => s.clone(),
        None if ir.zones[atom.zone].services.is_empty() => atom.name.clone(),
        None => format!("{} (rest)", atom.name),
    };
    let dns = &ir.zones[atom.zone].dns;
    if atom.service.is_none() && !dns.is_empty() {
        label.push_str(sep);
        label.push_str(&format!("dns {}", dns.join(", ")));
    }
    for n in d.notes.get(&a).into_iter().flatten() {
        label.push_str(sep);
        label.push_str(n);
    }
    label
}

/// The zone's members that are drawn, services first.
fn drawn_members(ir: &Ir, show: &[bool], z: usize) -> Vec<AtomId> {
    let zone = &ir.zones[z];
    zone.services
        .iter()
        .copied()
        .chain([zone.remainder])
        .filter(|a| show[*a])
        .collect()
}

/// Graphviz DOT.
pub fn to_dot(ir: &Ir) -> String {
    let d = edges::drawing(ir);
    let show = shown(ir, &d);
    let title = ir
        .title
        .as_ref()
        .map_or_else(|| ir.name.clone(), |t| format!("{}: {t}", ir.name));
    let mut out = String::from("digraph moat {\n");
    out.push_str(&format!(
        "  graph [rankdir=LR, newrank=true, compound=true, fontname=\"Helvetica\", labelloc=t, label={}];\n",
        q(&title)
    ));
    out.push_str("  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n");
    for (zi, z) in ir.zones.iter().enumerate() {
        let (fill, border, style) = dot_style(z.kind);
        let site = &ir.sites[z.site];
        let at = if site.span.is_some() {
            format!(" @ {}", site.name)
        } else {
            String::new()
        };
        out.push_str(&format!("  subgraph cluster_{zi} {{\n"));
        out.push_str(&format!(
            "    label={}; style={}; fillcolor={}; color={};\n",
            q(&format!("{} ({}){at}", z.name, z.kind.as_str())),
            q(style),
            q(fill),
            q(border)
        ));
        for a in drawn_members(ir, &show, zi) {
            let extra = match (ir.atoms[a].is_remainder(), ir.atoms[a].resident) {
                (true, _) => ", shape=ellipse, style=\"dashed,filled\"",
                (false, true) => ", peripheries=2, tooltip=\"resident (data-localised)\"",
                _ => "",
            };
            out.push_str(&format!(
                "    {} [label={}{extra}];\n",
                q(&ir.atoms[a].name),
                q(&atom_label(ir, &d, a, "\n"))
            ));
        }
        out.push_str("  }\n");
    }
    // A zone end is drawn to the cluster through one of its nodes.
    let end = |e: End, attr: &str| -> (String, String) {
        match e {
            End::Atom(a) => (q(&ir.atoms[a].name), String::new()),
            End::Zone(z) => {
                let anchor = drawn_members(ir, &show, z)
                    .first()
                    .map_or_else(|| ir.zones[z].name.clone(), |a| ir.atoms[*a].name.clone());
                (q(&anchor), format!(", {attr}=cluster_{z}"))
            }
        }
    };
    for e in &d.edges {
        let ((from, ltail), (to, lhead)) = (end(e.from, "ltail"), end(e.to, "lhead"));
        let mut label = e.ports.to_string().replace(' ', "\n");
        let style = if e.waivers.is_empty() {
            String::new()
        } else {
            label.push_str("\nexempt");
            format!(
                ", color=\"#d00000\", fontcolor=\"#d00000\", penwidth=2.5, tooltip={}",
                q(&format!("exempt: {}", e.waivers.join("; ")))
            )
        };
        out.push_str(&format!(
            "  {from} -> {to} [label={}{ltail}{lhead}{style}];\n",
            q(&label)
        ));
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart with one subgraph per zone.
pub fn to_mermaid(ir: &Ir) -> String {
    let d = edges::drawing(ir);
    let show = shown(ir, &d);
    let mut out = String::from("flowchart LR\n");
    for (zi, z) in ir.zones.iter().enumerate() {
        out.push_str(&format!(
            "  subgraph z{zi}[\"{} ({})\"]\n",
            z.name,
            z.kind.as_str()
        ));
        for a in drawn_members(ir, &show, zi) {
            let label = atom_label(ir, &d, a, "<br/>");
            let node = if ir.atoms[a].is_remainder() {
                format!("([\"{label}\"])")
            } else {
                format!("[\"{label}\"]")
            };
            out.push_str(&format!("    a{a}{node}\n"));
        }
        out.push_str("  end\n");
    }
    let id = |e: End| match e {
        End::Atom(a) => format!("a{a}"),
        End::Zone(z) => format!("z{z}"),
    };
    let mut exempt_links = vec![];
    for (i, e) in d.edges.iter().enumerate() {
        let mut label = e.ports.to_string().replace(' ', "<br/>");
        if !e.waivers.is_empty() {
            label.push_str("<br/>exempt");
            exempt_links.push(i);
        }
        out.push_str(&format!("  {} -->|\"{label}\"| {}\n", id(e.from), id(e.to)));
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
