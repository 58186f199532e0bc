//! `moat audit --format html`: the audit report as one self-contained page.
//!
//! Everything is inline (CSS, the zone picture as SVG, a few lines of script
//! for searching and sorting the tables): the page fetches nothing, so it can
//! be mailed, archived with an audit and opened offline. It is laid out for a
//! 1280 px window and prints to PDF (the print style drops the search boxes
//! and keeps table rows whole). The output is deterministic: no dates, no
//! random ids.
//!
//! With a diff (`--against OLD`) the page opens with the changes, and the
//! crossing rows that the change adds are highlighted.

use super::audit::{PairFlow, Report};
use super::diff::{Diff, DiffRow};
use crate::ir::{Ir, ZoneId, ZoneKind};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The page for `report` of `ir`; `against` is the diff from an older
/// version and that version's name.
pub fn render(ir: &Ir, report: &Report, against: Option<(&Diff, &str)>) -> String {
    let mut p = Page::default();
    let title = report
        .title
        .as_ref()
        .map_or_else(|| report.policy.clone(), |t| format!("{} — {t}", report.policy));
    p.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    p.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // No request may leave the page, not even for a favicon.
    p.raw("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n");
    p.raw("<link rel=\"icon\" href=\"data:,\">\n");
    let _ = writeln!(p.s, "<title>Audit report: {}</title>", esc(&title));
    p.raw("<style>\n");
    p.raw(CSS);
    p.raw("</style>\n</head>\n<body>\n<header>\n");
    let _ = writeln!(p.s, "<h1>Audit report: {}</h1>", esc(&title));
    let _ = writeln!(
        p.s,
        "<p class=\"summary\" id=\"summary\">{}</p>",
        esc(&super::audit::summary(report))
    );
    let _ = writeln!(
        p.s,
        "<p class=\"meta\">Written by moat {} from the policy alone: the matrix is every allowed flow (default deny).</p>",
        env!("CARGO_PKG_VERSION")
    );
    p.raw("<nav>");
    let mut sections = vec![];
    if against.is_some() {
        sections.push(("changes", "Changes"));
    }
    sections.extend([
        ("picture", "Zone picture"),
        ("zones", "Zones"),
        ("crossings", "Crossings"),
        ("exemptions", "Exemptions"),
        ("any-ports", "Any-port crossings"),
        ("residents", "Resident services"),
        ("forbids", "Forbids"),
    ]);
    for (id, name) in &sections {
        let _ = write!(p.s, "<a href=\"#{id}\">{name}</a> ");
    }
    p.raw("</nav>\n</header>\n<main>\n");
    let added: BTreeSet<(String, String)> = against
        .map(|(d, _)| {
            d.added
                .iter()
                .map(|r| (r.row.from.clone(), r.row.to.clone()))
                .collect()
        })
        .unwrap_or_default();
    if let Some((d, old)) = against {
        changes(&mut p, d, old);
    }
    p.section("picture", "Zone picture");
    p.raw(&picture(ir, report));
    zones(&mut p, ir);
    crossings(&mut p, report, &added);
    exemptions(&mut p, report);
    pair_table(
        &mut p,
        "any-ports",
        "Crossings on any port (W003)",
        &report.any_port_crossings,
        &added,
    );
    residents(&mut p, report);
    forbids(&mut p, report);
    p.raw("</main>\n<script>\n");
    p.raw(SCRIPT);
    p.raw("</script>\n</body>\n</html>\n");
    p.s
}

#[derive(Default)]
struct Page {
    s: String,
}

impl Page {
    fn raw(&mut self, s: &str) {
        self.s.push_str(s);
    }

    fn section(&mut self, id: &str, title: &str) {
        let _ = writeln!(self.s, "<section id=\"{id}\">\n<h2>{}</h2>", esc(title));
    }

    /// A searchable, sortable table; each row is (class, cells of HTML).
    fn table(&mut self, id: &str, head: &[&str], rows: &[(String, Vec<String>)]) {
        if rows.is_empty() {
            self.raw("<p class=\"none\">none</p>\n</section>\n");
            return;
        }
        let _ = writeln!(
            self.s,
            "<input type=\"search\" class=\"filter\" data-table=\"{id}-table\" placeholder=\"Filter {} rows\" aria-label=\"Filter the table\">",
            rows.len()
        );
        let _ = writeln!(
            self.s,
            "<table id=\"{id}-table\" class=\"sortable\">\n<thead><tr>"
        );
        for h in head {
            let _ = write!(self.s, "<th scope=\"col\">{}</th>", esc(h));
        }
        self.raw("</tr></thead>\n<tbody>\n");
        for (class, cells) in rows {
            if class.is_empty() {
                self.raw("<tr>");
            } else {
                let _ = write!(self.s, "<tr class=\"{class}\">");
            }
            for c in cells {
                let _ = write!(self.s, "<td>{c}</td>");
            }
            self.raw("</tr>\n");
        }
        self.raw("</tbody>\n</table>\n</section>\n");
    }
}

/// Text made safe for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s))
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "&ndash;".to_string()
    } else {
        items.iter().map(|i| esc(i)).collect::<Vec<_>>().join("<br>")
    }
}

fn changes(p: &mut Page, d: &Diff, old: &str) {
    p.section("changes", &format!("Changes against {old}"));
    let flagged = d.added.iter().filter(|r| !r.flags.is_empty()).count();
    let _ = writeln!(
        p.s,
        "<p class=\"diff-summary\">{} row(s) added, {} removed; {flagged} of the added rows flagged.</p>",
        d.added.len(),
        d.removed.len()
    );
    if !d.renamed.is_empty() {
        let names: Vec<String> = d.renamed.iter().map(|(a, b)| format!("{a} → {b}")).collect();
        let _ = writeln!(p.s, "<p>Renamed (same members): {}</p>", esc(&names.join(", ")));
    }
    let row = |change: &str, r: &DiffRow| {
        let flags: Vec<String> = r
            .flags
            .iter()
            .map(|f| format!("<span class=\"flag\">{}</span>", f.as_str()))
            .collect();
        let ports = r.row.ports.as_deref().map_or(r.row.protocol.clone(), |ports| {
            format!("{}/{ports}", r.row.protocol)
        });
        (
            change.to_string(),
            vec![
                change.to_string(),
                code(&r.row.from),
                code(&r.row.to),
                code(&ports),
                flags.join(" "),
                list(&r.allows),
            ],
        )
    };
    let rows: Vec<(String, Vec<String>)> = d
        .added
        .iter()
        .map(|r| row("added", r))
        .chain(d.removed.iter().map(|r| row("removed", r)))
        .collect();
    p.table(
        "changes",
        &["change", "from", "to", "ports", "flags", "allowed by"],
        &rows,
    );
}

fn zones(p: &mut Page, ir: &Ir) {
    p.section("zones", "Zones");
    let rows: Vec<(String, Vec<String>)> = ir
        .zones
        .iter()
        .map(|z| {
            let site = &ir.sites[z.site];
            let services: Vec<String> = z.services.iter().map(|s| ir.atoms[*s].name.clone()).collect();
            let cidrs: Vec<String> = z.cidrs.iter().map(ToString::to_string).collect();
            (
                format!("kind-{}", z.kind.as_str()),
                vec![
                    code(&z.name),
                    z.kind.as_str().to_string(),
                    esc(&format!("{} ({})", site.name, site.kind.as_str())),
                    z.cell.as_ref().map_or("&ndash;".to_string(), |c| esc(&c.cell)),
                    list(&cidrs),
                    list(&z.namespaces),
                    list(&services),
                ],
            )
        })
        .collect();
    p.table(
        "zones",
        &["zone", "kind", "site", "cell", "cidr", "namespaces", "services"],
        &rows,
    );
}

fn pair_cells(f: &PairFlow) -> Vec<String> {
    vec![code(&f.from), code(&f.to), code(&f.ports), list(&f.allows)]
}

fn crossings(p: &mut Page, r: &Report, added: &BTreeSet<(String, String)>) {
    p.section("crossings", "Zone-to-zone crossings");
    let rows: Vec<(String, Vec<String>)> = r
        .crossings
        .iter()
        .flat_map(|c| {
            c.flows.iter().map(move |f| {
                let class = if added.contains(&(f.from.clone(), f.to.clone())) {
                    "added"
                } else {
                    ""
                };
                let mut cells = vec![esc(&format!(
                    "{} ({}) → {} ({})",
                    c.from_zone, c.from_kind, c.to_zone, c.to_kind
                ))];
                cells.extend(pair_cells(f));
                (class.to_string(), cells)
            })
        })
        .collect();
    p.table(
        "crossings",
        &["crossing", "from", "to", "ports", "allowed by"],
        &rows,
    );
}

fn pair_table(p: &mut Page, id: &str, title: &str, flows: &[PairFlow], added: &BTreeSet<(String, String)>) {
    p.section(id, title);
    let rows: Vec<(String, Vec<String>)> = flows
        .iter()
        .map(|f| {
            let class = if added.contains(&(f.from.clone(), f.to.clone())) {
                "added"
            } else {
                ""
            };
            (class.to_string(), pair_cells(f))
        })
        .collect();
    p.table(id, &["from", "to", "ports", "allowed by"], &rows);
}

fn exemptions(p: &mut Page, r: &Report) {
    p.section("exemptions", "Exemptions (W004)");
    let rows: Vec<(String, Vec<String>)> = r
        .exemptions
        .iter()
        .map(|e| {
            let flows: Vec<String> = e
                .flows
                .iter()
                .map(|f| format!("{} → {} {}", f.from, f.to, f.ports))
                .collect();
            (
                String::new(),
                vec![
                    esc(&e.allow),
                    esc(&e.waiver),
                    e.reason.as_deref().map_or("&ndash;".to_string(), esc),
                    list(&flows),
                ],
            )
        })
        .collect();
    p.table("exemptions", &["allow", "waiver", "reason", "flows"], &rows);
}

fn residents(p: &mut Page, r: &Report) {
    p.section("residents", "Resident services and who may reach them");
    let rows: Vec<(String, Vec<String>)> = r
        .resident_services
        .iter()
        .map(|s| {
            let by: Vec<String> = s
                .reached_by
                .iter()
                .map(|f| format!("{} ({}; {})", f.from, f.ports, f.allows.join(", ")))
                .collect();
            let to: Vec<String> = s
                .reaches
                .iter()
                .map(|f| format!("{} ({})", f.to, f.ports))
                .collect();
            (
                String::new(),
                vec![
                    code(&s.service),
                    esc(&format!("{} ({})", s.site, s.site_kind)),
                    list(&by),
                    list(&to),
                ],
            )
        })
        .collect();
    p.table("residents", &["service", "site", "reached by", "reaches"], &rows);
}

fn forbids(p: &mut Page, r: &Report) {
    p.section("forbids", "Forbids and their proofs");
    let rows: Vec<(String, Vec<String>)> = r
        .forbids
        .iter()
        .map(|f| {
            let verdict = if f.holds { "holds" } else { "VIOLATED" };
            let evidence: Vec<String> = f
                .pairs_with_flows
                .iter()
                .map(|pr| {
                    format!(
                        "{} → {}: allowed {}, forbidden {}, overlap {}",
                        pr.from,
                        pr.to,
                        pr.allowed,
                        pr.forbidden,
                        if pr.overlap.is_empty() {
                            "none"
                        } else {
                            &pr.overlap
                        }
                    )
                })
                .collect();
            (
                if f.holds { "holds" } else { "violated" }.to_string(),
                vec![
                    esc(&f.forbid),
                    f.reason.as_deref().map_or("&ndash;".to_string(), esc),
                    code(&f.forbidden_ports),
                    format!("<strong>{verdict}</strong>"),
                    f.pairs_checked.to_string(),
                    if evidence.is_empty() {
                        "no covered pair carries any allowed flow".to_string()
                    } else {
                        list(&evidence)
                    },
                ],
            )
        })
        .collect();
    p.table(
        "forbids",
        &[
            "forbid",
            "reason",
            "ports",
            "verdict",
            "pairs checked",
            "covered pairs with flows",
        ],
        &rows,
    );
}

/// Layout of the picture: one column per zone kind, zones in policy order.
const COL_X: [f64; 3] = [40.0, 470.0, 900.0];
const BOX_W: f64 = 300.0;
const BOX_H: f64 = 58.0;
const GAP: f64 = 22.0;
const TOP: f64 = 56.0;

fn column(kind: ZoneKind) -> usize {
    match kind {
        ZoneKind::External => 0,
        ZoneKind::Demilitarised => 1,
        ZoneKind::Militarised => 2,
    }
}

/// The zones as boxes in three columns (external, demilitarised,
/// militarised), each crossing as one arrow labelled with its ports (its
/// atom pairs in the tooltip): the same picture as `moat graph`, drawn at
/// zone level so that it stays legible on one screen.
fn picture(ir: &Ir, r: &Report) -> String {
    let mut pos: BTreeMap<ZoneId, (f64, f64)> = BTreeMap::new();
    let mut rows = [0usize; 3];
    for (id, z) in ir.zones.iter().enumerate() {
        let c = column(z.kind);
        pos.insert(id, (COL_X[c], TOP + rows[c] as f64 * (BOX_H + GAP)));
        rows[c] += 1;
    }
    let height = TOP + *rows.iter().max().unwrap_or(&1) as f64 * (BOX_H + GAP) + 20.0;
    let by_name: BTreeMap<&str, ZoneId> = ir
        .zones
        .iter()
        .enumerate()
        .map(|(i, z)| (z.name.as_str(), i))
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg id=\"zone-picture\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1240 {height:.0}\" role=\"img\" aria-label=\"Zones and the flows between them\">"
    );
    s.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n");
    for (i, label) in ["external", "demilitarised", "militarised"].iter().enumerate() {
        let _ = writeln!(
            s,
            "<text class=\"col-head\" x=\"{:.0}\" y=\"30\">{label}</text>",
            COL_X[i] + BOX_W / 2.0
        );
    }
    // Edges first, so that boxes are drawn over their ends.
    for (n, c) in r.crossings.iter().enumerate() {
        let (Some(&zf), Some(&zt)) = (by_name.get(c.from_zone.as_str()), by_name.get(c.to_zone.as_str()))
        else {
            continue;
        };
        let ((x1, y1), (x2, y2)) = (pos[&zf], pos[&zt]);
        // Spread the ends of the arrows over the box's height.
        let off = ((n % 5) as f64 - 2.0) * 7.0;
        let (y1, y2) = (y1 + BOX_H / 2.0 + off, y2 + BOX_H / 2.0 + off);
        let path = if x2 > x1 {
            let (sx, ex) = (x1 + BOX_W, x2);
            let mid = (sx + ex) / 2.0;
            format!("M{sx:.0},{y1:.0} C{mid:.0},{y1:.0} {mid:.0},{y2:.0} {ex:.0},{y2:.0}")
        } else if x2 < x1 {
            let (sx, ex) = (x1, x2 + BOX_W);
            let mid = (sx + ex) / 2.0;
            format!("M{sx:.0},{y1:.0} C{mid:.0},{y1:.0} {mid:.0},{y2:.0} {ex:.0},{y2:.0}")
        } else {
            let sx = x1 + BOX_W;
            let bulge = (sx + 40.0 + (y2 - y1).abs() * 0.15).min(1236.0);
            format!("M{sx:.0},{y1:.0} C{bulge:.0},{y1:.0} {bulge:.0},{y2:.0} {sx:.0},{y2:.0}")
        };
        let pairs: Vec<String> = c
            .flows
            .iter()
            .map(|f| format!("{} → {} {}", f.from, f.to, f.ports))
            .collect();
        let class = if c.to_kind == "militarised" && c.from_kind != "militarised" {
            "edge into-mz"
        } else if c.from_kind == "external" {
            "edge from-external"
        } else {
            "edge"
        };
        let _ = writeln!(
            s,
            "<path class=\"{class}\" d=\"{path}\" marker-end=\"url(#arrow)\"><title>{} → {}: {}\n{}</title></path>",
            esc(&c.from_zone),
            esc(&c.to_zone),
            esc(&c.ports),
            esc(&pairs.join("\n"))
        );
    }
    for (id, z) in ir.zones.iter().enumerate() {
        let (x, y) = pos[&id];
        let site = &ir.sites[z.site];
        let mut sub = format!("{} ({})", site.name, site.kind.as_str());
        if let Some(c) = &z.cell {
            let _ = write!(sub, " · cell {}", c.cell);
        }
        let _ = write!(sub, " · {} service(s)", z.services.len());
        let _ = writeln!(
            s,
            "<g class=\"zone kind-{}\" data-zone=\"{}\"><rect x=\"{x:.0}\" y=\"{y:.0}\" width=\"{BOX_W:.0}\" height=\"{BOX_H:.0}\" rx=\"6\"/><text x=\"{:.0}\" y=\"{:.0}\" class=\"zone-name\">{}</text><text x=\"{:.0}\" y=\"{:.0}\" class=\"zone-sub\">{}</text></g>",
            z.kind.as_str(),
            esc(&z.name),
            x + 12.0,
            y + 24.0,
            esc(&z.name),
            x + 12.0,
            y + 44.0,
            esc(&sub)
        );
    }
    s.push_str("</svg>\n<p class=\"legend\"><span class=\"sw kind-external\"></span>external <span class=\"sw kind-demilitarised\"></span>demilitarised <span class=\"sw kind-militarised\"></span>militarised · red arrows enter a militarised zone, orange arrows leave an external one · hover an arrow for its ports and atom pairs</p>\n</section>\n");
    s
}

const CSS: &str = r#"
:root { --ext: #fde2e1; --dmz: #fff4d6; --mz: #dceaf7; --line: #c9ccd1; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2125; margin: 0; background: #fff; }
header, main { max-width: 1280px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.summary { font-size: 15px; margin: 4px 0; }
.meta { color: #5b6168; margin: 2px 0 10px; }
nav { padding: 6px 0 12px; }
nav a { margin-right: 14px; color: #0b57a4; text-decoration: none; }
nav a:hover { text-decoration: underline; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; table-layout: auto; }
th, td { border: 1px solid var(--line); padding: 4px 7px; text-align: left; vertical-align: top; word-break: break-word; }
th { background: #f1f3f5; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " ▲"; }
th[aria-sort="descending"]::after { content: " ▼"; }
tbody tr:nth-child(even) { background: #fafbfc; }
tr.added, tr.added:nth-child(even) { background: #e3f6e5; }
tr.removed, tr.removed:nth-child(even) { background: #fbe4e4; text-decoration: line-through; }
tr.violated td { background: #fbe4e4; }
tr.kind-external td:first-child { border-left: 4px solid #e5726d; }
tr.kind-demilitarised td:first-child { border-left: 4px solid #e0b43c; }
tr.kind-militarised td:first-child { border-left: 4px solid #4f86c6; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.flag { display: inline-block; padding: 0 6px; border-radius: 8px; background: #fbe4e4; color: #8a1c1c; font-size: 12px; }
.filter { width: 320px; padding: 4px 8px; margin: 2px 0; border: 1px solid var(--line); border-radius: 4px; }
.none { color: #5b6168; }
svg#zone-picture { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; background: #fcfcfd; }
.zone rect { stroke: #6b7178; stroke-width: 1; }
.zone.kind-external rect { fill: var(--ext); }
.zone.kind-demilitarised rect { fill: var(--dmz); }
.zone.kind-militarised rect { fill: var(--mz); }
.zone-name { font: 600 14px system-ui, sans-serif; }
.zone-sub { font: 12px system-ui, sans-serif; fill: #4a5056; }
.col-head { font: 600 14px system-ui, sans-serif; text-anchor: middle; fill: #4a5056; }
.edge { fill: none; stroke: #7d838a; stroke-width: 1.4; }
.edge.into-mz { stroke: #c0392b; stroke-width: 1.8; }
.edge.from-external { stroke: #e08e0b; }
.edge:hover { stroke-width: 3.5; }
.legend { color: #4a5056; font-size: 13px; }
.sw { display: inline-block; width: 12px; height: 12px; border: 1px solid #6b7178; margin: 0 4px 0 10px; vertical-align: -1px; }
.sw.kind-external { background: var(--ext); } .sw.kind-demilitarised { background: var(--dmz); } .sw.kind-militarised { background: var(--mz); }
@media print {
  nav, .filter { display: none; }
  header, main { max-width: none; padding: 0; }
  tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  svg#zone-picture { break-inside: avoid; }
}
"#;

const SCRIPT: &str = r#"
(function () {
  "use strict";
  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = document.getElementById(input.dataset.table);
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].textContent, y = b.cells[col].textContent;
          var nx = parseFloat(x), ny = parseFloat(y);
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
"#;

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn text_cannot_become_markup() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
