//! The text, JSON and Markdown forms of a [`Diff`].

use super::{row_ports, Diff, DiffRow, Flag, Readdressed, Relaid};
use crate::analysis::matrix::Row;
use crate::ir::{Ir, ZoneKind};
use crate::ports::PortSet;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// `tcp/443`, `tcp/80,8000-8100`, `icmp`, `any`: a row's protocol and ports.
pub fn row_text(r: &Row) -> String {
    match &r.ports {
        Some(p) => format!("{}/{}", r.protocol, p),
        None => r.protocol.clone(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one-line summary: counts, and the flagged added rows.
pub fn summary(d: &Diff) -> String {
    if d.is_empty() {
        return "no change: both policies allow exactly the same flows".to_string();
    }
    let mut s = format!(
        "{} added, {} removed",
        plural(d.added.len(), "row", "rows"),
        d.removed.len()
    );
    if !d.readdressed.is_empty() {
        s.push_str(&format!(
            ", {} readdressed",
            plural(d.readdressed.len(), "atom", "atoms")
        ));
    }
    if !d.reclassified.is_empty() {
        s.push_str(&format!(
            ", {} of another kind",
            plural(d.reclassified.len(), "zone", "zones")
        ));
    }
    if !d.relaid.is_empty() {
        s.push_str(&format!(
            ", {} laid out anew",
            plural(d.relaid.len(), "zone", "zones")
        ));
    }
    let flagged: Vec<String> = [
        Flag::IntoMilitarised,
        Flag::OutOfMilitarised,
        Flag::FromExternal,
        Flag::ToExternal,
    ]
    .into_iter()
    .filter_map(|f| {
        let n = d.added_with(f);
        (n > 0).then(|| format!("{} {}", plural(n, "opens a path", "open a path"), f.phrase()))
    })
    .collect();
    if !flagged.is_empty() {
        s.push_str(&format!("; of the added rows, {}", flagged.join(", ")));
    }
    s
}

/// The plain-text report.
pub fn to_text(d: &Diff) -> String {
    let mut out = format!("{}\n", summary(d));
    for (title, sign, rows) in [("added", '+', &d.added), ("removed", '-', &d.removed)] {
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("{title}:\n"));
        for r in rows {
            let flags: Vec<&str> = r.flags.iter().map(|f| f.as_str()).collect();
            let flags = if flags.is_empty() {
                String::new()
            } else {
                format!("  [{}]", flags.join(", "))
            };
            let by = if r.allows.is_empty() {
                String::new()
            } else {
                format!("  by {}", r.allows.join(", "))
            };
            out.push_str(&format!(
                "  {sign} {} -> {}  {}{flags}{by}\n",
                r.row.from,
                r.row.to,
                row_text(&r.row)
            ));
        }
    }
    if !d.readdressed.is_empty() {
        out.push_str("readdressed (same name, other members: its flows now reach these instead):\n");
        for r in &d.readdressed {
            out.push_str(&format!("  ~ {}: {} -> {}\n", r.atom, r.old, r.new));
        }
    }
    for (z, o, n) in &d.reclassified {
        out.push_str(&format!("zone {z} is now {} (was {})\n", n.as_str(), o.as_str()));
    }
    if !d.relaid.is_empty() {
        out.push_str(
            "laid out anew (same flows, written to other clusters, namespaces, pods or identities):\n",
        );
        for r in &d.relaid {
            out.push_str(&format!("  ~ {}: {} -> {}\n", r.zone, r.old, r.new));
        }
    }
    if !d.renamed.is_empty() {
        out.push_str("renamed (same addresses, namespaces and pods; compared under the new name):\n");
        for (o, n) in &d.renamed {
            out.push_str(&format!("  {o} -> {n}\n"));
        }
    }
    out
}

#[derive(Serialize)]
struct JsonDiff<'a> {
    added: Vec<&'a Row>,
    removed: Vec<&'a Row>,
    renamed: Vec<JsonRename<'a>>,
    readdressed: &'a [Readdressed],
    reclassified: Vec<JsonKind<'a>>,
    relaid: &'a [Relaid],
    details: Vec<JsonDetail<'a>>,
    summary: String,
}

#[derive(Serialize)]
struct JsonKind<'a> {
    zone: &'a str,
    old: &'static str,
    new: &'static str,
}

#[derive(Serialize)]
struct JsonRename<'a> {
    old: &'a str,
    new: &'a str,
}

#[derive(Serialize)]
struct JsonDetail<'a> {
    change: &'static str,
    #[serde(flatten)]
    row: &'a Row,
    flags: Vec<Flag>,
    allows: &'a [String],
}

/// `{"added": [rows], "removed": [rows], ...}` (spec §6; `renamed`, `details`
/// with flags and provenance, and `summary` are extra keys).
pub fn to_json(d: &Diff) -> String {
    fn detail<'a>(change: &'static str, r: &'a DiffRow) -> JsonDetail<'a> {
        JsonDetail {
            change,
            row: &r.row,
            flags: r.flags.clone(),
            allows: &r.allows,
        }
    }
    let json = JsonDiff {
        added: d.added.iter().map(|r| &r.row).collect(),
        removed: d.removed.iter().map(|r| &r.row).collect(),
        renamed: d
            .renamed
            .iter()
            .map(|(o, n)| JsonRename { old: o, new: n })
            .collect(),
        readdressed: &d.readdressed,
        reclassified: d
            .reclassified
            .iter()
            .map(|(z, o, n)| JsonKind {
                zone: z,
                old: o.as_str(),
                new: n.as_str(),
            })
            .collect(),
        relaid: &d.relaid,
        details: d
            .added
            .iter()
            .map(|r| detail("added", r))
            .chain(d.removed.iter().map(|r| detail("removed", r)))
            .collect(),
        summary: summary(d),
    };
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

/// Escapes a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The pull-request comment: a summary line, a table of added and removed
/// rows, and a Mermaid diagram of the zones with the changed edges marked.
pub fn to_markdown(d: &Diff, old: &Ir, new: &Ir) -> String {
    let mut out = format!("### moat diff\n\n**{}**\n\n", summary(d));
    if !d.is_empty() {
        out.push_str("| change | from | to | ports | flags | allowed by |\n|---|---|---|---|---|---|\n");
        for (change, rows) in [("added", &d.added), ("removed", &d.removed)] {
            for r in rows {
                let flags: Vec<String> = r.flags.iter().map(|f| format!("**{}**", f.as_str())).collect();
                out.push_str(&format!(
                    "| {change} | `{}` | `{}` | `{}` | {} | {} |\n",
                    r.row.from,
                    r.row.to,
                    cell(&row_text(&r.row)),
                    flags.join(" "),
                    cell(&r.allows.join(", "))
                ));
            }
        }
        out.push('\n');
    }
    let readdressed = d
        .readdressed
        .iter()
        .map(|r| (r.atom.as_str(), r.old.as_str(), r.new.as_str()));
    out.push_str(&old_new_table(
        "**Readdressed** (same name, other members; every flow of the atom now reaches these):",
        "| atom | old members | new members |",
        readdressed,
    ));
    for (z, o, n) in &d.reclassified {
        out.push_str(&format!(
            "Zone `{z}` is now **{}** (was {}).\n\n",
            n.as_str(),
            o.as_str()
        ));
    }
    let relaid = d
        .relaid
        .iter()
        .map(|r| (r.zone.as_str(), r.old.as_str(), r.new.as_str()));
    out.push_str(&old_new_table(
        "**Laid out anew** (same flows; the rules go to another cluster, namespace, pods or identity):",
        "| zone | old layout | new layout |",
        relaid,
    ));
    if !d.renamed.is_empty() {
        out.push_str("Renamed with the same addresses (compared under the new name): ");
        let list: Vec<String> = d.renamed.iter().map(|(o, n)| format!("`{o}` → `{n}`")).collect();
        out.push_str(&list.join(", "));
        out.push_str("\n\n");
    }
    if !d.added.is_empty() || !d.removed.is_empty() {
        out.push_str("```mermaid\n");
        out.push_str(&zone_diagram(d, old, new));
        out.push_str("```\n");
    }
    out
}

/// A Markdown table of `(name, old, new)` rows under `title`, or nothing without rows.
fn old_new_table<'a>(
    title: &str,
    header: &str,
    rows: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> String {
    let body: String = rows
        .map(|(name, old, new)| format!("| `{name}` | {} | {} |\n", cell(old), cell(new)))
        .collect();
    if body.is_empty() {
        return String::new();
    }
    format!("{title}\n\n{header}\n|---|---|---|\n{body}\n")
}

/// A zone-level Mermaid flowchart: NEW's zone-to-zone edges in grey, added
/// ports as thick green edges, removed ports as dashed red edges.
fn zone_diagram(d: &Diff, old: &Ir, new: &Ir) -> String {
    let ren: BTreeMap<&str, &str> = d.renamed.iter().map(|(o, n)| (o.as_str(), n.as_str())).collect();
    let mut kinds: BTreeMap<String, ZoneKind> = BTreeMap::new();
    for z in &old.zones {
        kinds.insert(
            ren.get(z.name.as_str()).copied().unwrap_or(&z.name).to_string(),
            z.kind,
        );
    }
    kinds.extend(new.zones.iter().map(|z| (z.name.clone(), z.kind)));
    let ids: BTreeMap<&str, String> = kinds
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), format!("z{i}")))
        .collect();
    let mut out = String::from("flowchart LR\n");
    for (name, kind) in &kinds {
        out.push_str(&format!(
            "  {}{}\n",
            ids[name.as_str()],
            crate::analysis::graph::mermaid_node(name, *kind)
        ));
    }
    let changed = |rows: &[DiffRow]| -> BTreeMap<(String, String), PortSet> {
        let mut m: BTreeMap<(String, String), PortSet> = BTreeMap::new();
        for r in rows {
            m.entry((r.from_zone.clone(), r.to_zone.clone()))
                .or_default()
                .union_with(&row_ports(&r.row).unwrap_or_default());
        }
        m
    };
    let (added, removed) = (changed(&d.added), changed(&d.removed));
    let unchanged: BTreeSet<(String, String)> = new
        .flows
        .keys()
        .map(|&(f, t)| (new.zone_of(f).name.clone(), new.zone_of(t).name.clone()))
        .filter(|k| !added.contains_key(k) && !removed.contains_key(k))
        .collect();
    let mut styles = vec![];
    let mut n = 0usize;
    let id = |z: &str| ids.get(z).cloned().unwrap_or_else(|| "unknown".to_string());
    styles.push("  linkStyle default stroke:#aaa,stroke-width:1px\n".to_string());
    for (f, t) in &unchanged {
        out.push_str(&format!("  {} --> {}\n", id(f), id(t)));
        n += 1;
    }
    for ((f, t), p) in &added {
        out.push_str(&format!("  {} ==>|\"+ {p}\"| {}\n", id(f), id(t)));
        styles.push(format!("  linkStyle {n} stroke:#1a7f37,stroke-width:3px\n"));
        n += 1;
    }
    for ((f, t), p) in &removed {
        out.push_str(&format!("  {} -.->|\"− {p}\"| {}\n", id(f), id(t)));
        styles.push(format!("  linkStyle {n} stroke:#cf222e,stroke-width:2px\n"));
        n += 1;
    }
    out.push_str(crate::analysis::graph::MERMAID_CLASSES);
    for (name, kind) in &kinds {
        out.push_str(&format!(
            "  class {} {}\n",
            ids[name.as_str()],
            crate::analysis::graph::kind_class(*kind)
        ));
    }
    styles.concat().lines().for_each(|l| {
        out.push_str(l);
        out.push('\n');
    });
    out
}
