//! `moat audit`: the report an auditor asks for, built from the IR alone.
//!
//! Zones by kind; every zone-to-zone crossing with its ports; every exempt
//! allow with its waiver (W004); every crossing on `any` ports (W003); every
//! resident service and who may reach it; every forbid with its proof. The
//! proof is exhaustive: the matrix *is* the set of allowed flows (default
//! deny), so a forbid holds exactly when, for every atom pair it covers, the
//! pair's allowed ports and the forbidden ports do not intersect. The report
//! lists each covered pair that carries any flow, with both port sets.

use crate::ir::{AtomId, Flow, Ir, ZoneKind};
use crate::ports::PortSet;
use serde::Serialize;
use std::collections::BTreeMap;

/// The whole report (also its JSON shape).
#[derive(Debug, Serialize)]
pub struct Report {
    pub policy: String,
    pub title: Option<String>,
    pub zones: Vec<ZoneGroup>,
    pub crossings: Vec<Crossing>,
    pub exemptions: Vec<Exemption>,
    pub any_port_crossings: Vec<PairFlow>,
    pub resident_services: Vec<Resident>,
    pub forbids: Vec<ForbidProof>,
    /// Zones marked `unmanaged`: moat writes nothing for their own members.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<Unmanaged>,
    /// With `--inventory`: each workload, its atom and its allowed flows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workloads: Option<Vec<WorkloadFlows>>,
}

/// An unmanaged zone, and the flows to and from it that only its peers enforce.
#[derive(Debug, Serialize)]
pub struct Unmanaged {
    pub zone: String,
    pub namespaces: Vec<String>,
    pub cidrs: Vec<String>,
    /// Allowed flows with an end in the zone (each enforced at its other end only).
    pub flows: Vec<PairFlow>,
}

/// One workload of the inventory, the atom it belongs to and that atom's flows.
#[derive(Debug, Serialize)]
pub struct WorkloadFlows {
    /// `namespace/name`.
    pub workload: String,
    pub kind: String,
    /// `inventory.yaml:12`.
    pub source: String,
    /// `None`: its namespace is in no zone.
    pub atom: Option<String>,
    /// Flows into the atom.
    pub inbound: Vec<PairFlow>,
    /// Flows out of the atom.
    pub outbound: Vec<PairFlow>,
}

/// The zones of one kind.
#[derive(Debug, Serialize)]
pub struct ZoneGroup {
    pub kind: &'static str,
    pub zones: Vec<ZoneInfo>,
}

/// One zone's facts.
#[derive(Debug, Serialize)]
pub struct ZoneInfo {
    pub name: String,
    pub site: String,
    pub site_kind: &'static str,
    pub cidrs: Vec<String>,
    /// The address ranges among the cidrs, as `FIRST-LAST` (their prefixes are in `cidrs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<String>,
    /// DNS names of an external zone (no target enforces them: E017 at compile).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    pub namespaces: Vec<String>,
    pub services: Vec<String>,
}

/// One allowed atom pair and the allows (`file:line`) behind it.
#[derive(Debug, Serialize)]
pub struct PairFlow {
    pub from: String,
    pub to: String,
    pub ports: String,
    pub allows: Vec<String>,
}

/// Every flow from one zone into another.
#[derive(Debug, Serialize)]
pub struct Crossing {
    pub from_zone: String,
    pub from_kind: &'static str,
    pub to_zone: String,
    pub to_kind: &'static str,
    /// The union of the pairs' ports.
    pub ports: String,
    pub flows: Vec<PairFlow>,
}

/// One `exempt` allow and what it lets through.
#[derive(Debug, Serialize)]
pub struct Exemption {
    pub allow: String,
    pub waiver: String,
    pub reason: Option<String>,
    pub flows: Vec<PairFlow>,
}

/// A resident (data-localised) service, who may reach it and whom it reaches.
#[derive(Debug, Serialize)]
pub struct Resident {
    pub service: String,
    pub site: String,
    pub site_kind: &'static str,
    pub reached_by: Vec<PairFlow>,
    pub reaches: Vec<PairFlow>,
}

/// One forbid and the evidence that it holds.
#[derive(Debug, Serialize)]
pub struct ForbidProof {
    pub forbid: String,
    pub reason: Option<String>,
    pub forbidden_ports: String,
    pub holds: bool,
    /// Atom pairs the forbid covers.
    pub pairs_checked: usize,
    /// The covered pairs that carry some allowed flow (on other ports).
    pub pairs_with_flows: Vec<ForbidPair>,
}

/// A covered pair: what is allowed, what is forbidden, their overlap (empty when the forbid holds).
#[derive(Debug, Serialize)]
pub struct ForbidPair {
    pub from: String,
    pub to: String,
    pub allowed: String,
    pub forbidden: String,
    pub overlap: String,
}

/// Builds the report.
pub fn report(ir: &Ir) -> Report {
    Report {
        policy: ir.name.clone(),
        title: ir.title.clone(),
        zones: zones(ir),
        crossings: crossings(ir),
        exemptions: exemptions(ir),
        any_port_crossings: ir
            .flows
            .iter()
            .filter(|(&(f, t), fl)| ir.atoms[f].zone != ir.atoms[t].zone && fl.ports.is_any())
            .map(|(&(f, t), fl)| pair(ir, f, t, fl))
            .collect(),
        resident_services: residents(ir),
        forbids: ir.forbids.iter().map(|fb| proof(ir, fb)).collect(),
        unmanaged: unmanaged(ir),
        workloads: None,
    }
}

/// The inventory section: every workload, its atom and the atom's allowed
/// flows in and out, in inventory order.
pub fn workloads(
    ir: &Ir,
    inv: &crate::inventory::Inventory,
    sources: &crate::span::SourceMap,
) -> Vec<WorkloadFlows> {
    inv.workloads
        .iter()
        .map(|w| {
            let atom = crate::inventory::check::atom_of(ir, inv, w);
            let flows = |inbound: bool| -> Vec<PairFlow> {
                let Some(a) = atom else { return vec![] };
                ir.flows
                    .iter()
                    .filter(|(&(f, t), _)| if inbound { t == a } else { f == a })
                    .map(|(&(f, t), fl)| pair(ir, f, t, fl))
                    .collect()
            };
            WorkloadFlows {
                workload: format!("{}/{}", w.namespace, w.name),
                kind: w.kind.clone(),
                source: sources.location(w.span),
                atom: atom.map(|a| ir.atoms[a].name.clone()),
                inbound: flows(true),
                outbound: flows(false),
            }
        })
        .collect()
}

fn pair(ir: &Ir, f: AtomId, t: AtomId, flow: &Flow) -> PairFlow {
    PairFlow {
        from: ir.atoms[f].name.clone(),
        to: ir.atoms[t].name.clone(),
        ports: flow.ports.to_string(),
        allows: flow
            .allow_ids()
            .into_iter()
            .map(|a| ir.allows[a].loc.clone())
            .collect(),
    }
}

fn zones(ir: &Ir) -> Vec<ZoneGroup> {
    [ZoneKind::External, ZoneKind::Demilitarised, ZoneKind::Militarised]
        .into_iter()
        .map(|kind| ZoneGroup {
            kind: kind.as_str(),
            zones: ir
                .zones
                .iter()
                .filter(|z| z.kind == kind)
                .map(|z| ZoneInfo {
                    name: z.name.clone(),
                    site: ir.sites[z.site].name.clone(),
                    site_kind: ir.sites[z.site].kind.as_str(),
                    cidrs: z.cidrs.iter().map(ToString::to_string).collect(),
                    ranges: z.cidr_ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect(),
                    dns: z.dns.clone(),
                    namespaces: z.namespaces.clone(),
                    services: z.services.iter().map(|s| ir.atoms[*s].name.clone()).collect(),
                })
                .collect(),
        })
        .collect()
}

fn unmanaged(ir: &Ir) -> Vec<Unmanaged> {
    (ir.zones.iter().enumerate())
        .filter(|(z, _)| ir.layout.zone(*z).unmanaged)
        .map(|(zi, z)| Unmanaged {
            zone: z.name.clone(),
            namespaces: z.namespaces.clone(),
            cidrs: z.cidrs.iter().map(ToString::to_string).collect(),
            flows: (ir.flows.iter())
                .filter(|(&(f, t), _)| ir.atoms[f].zone == zi || ir.atoms[t].zone == zi)
                .map(|(&(f, t), fl)| pair(ir, f, t, fl))
                .collect(),
        })
        .collect()
}

fn crossings(ir: &Ir) -> Vec<Crossing> {
    type PairFlows<'a> = Vec<(AtomId, AtomId, &'a Flow)>;
    let mut by_zone: BTreeMap<(usize, usize), PairFlows> = BTreeMap::new();
    for (&(f, t), fl) in &ir.flows {
        let (zf, zt) = (ir.atoms[f].zone, ir.atoms[t].zone);
        if zf != zt {
            by_zone.entry((zf, zt)).or_default().push((f, t, fl));
        }
    }
    by_zone
        .into_iter()
        .map(|((zf, zt), flows)| Crossing {
            from_zone: ir.zones[zf].name.clone(),
            from_kind: ir.zones[zf].kind.as_str(),
            to_zone: ir.zones[zt].name.clone(),
            to_kind: ir.zones[zt].kind.as_str(),
            ports: flows
                .iter()
                .fold(PortSet::empty(), |acc, (_, _, fl)| acc.union(&fl.ports))
                .to_string(),
            flows: flows.into_iter().map(|(f, t, fl)| pair(ir, f, t, fl)).collect(),
        })
        .collect()
}

fn exemptions(ir: &Ir) -> Vec<Exemption> {
    ir.allows
        .iter()
        .enumerate()
        .filter_map(|(id, a)| {
            let waiver = a.exempt.clone()?;
            let flows = ir
                .flows
                .iter()
                .filter_map(|(&(f, t), fl)| {
                    let mine = fl
                        .by
                        .iter()
                        .filter(|(b, _)| *b == id)
                        .fold(PortSet::empty(), |acc, (_, p)| acc.union(p));
                    (!mine.is_empty()).then(|| PairFlow {
                        from: ir.atoms[f].name.clone(),
                        to: ir.atoms[t].name.clone(),
                        ports: mine.to_string(),
                        allows: vec![a.loc.clone()],
                    })
                })
                .collect();
            Some(Exemption {
                allow: a.loc.clone(),
                waiver,
                reason: a.reason.clone(),
                flows,
            })
        })
        .collect()
}

fn residents(ir: &Ir) -> Vec<Resident> {
    ir.atoms
        .iter()
        .enumerate()
        .filter(|(_, a)| a.resident)
        .map(|(id, a)| Resident {
            service: a.name.clone(),
            site: ir.site_of(id).name.clone(),
            site_kind: ir.site_of(id).kind.as_str(),
            reached_by: ir
                .flows
                .iter()
                .filter(|(k, _)| k.1 == id)
                .map(|(&(f, t), fl)| pair(ir, f, t, fl))
                .collect(),
            reaches: ir
                .flows
                .iter()
                .filter(|(k, _)| k.0 == id)
                .map(|(&(f, t), fl)| pair(ir, f, t, fl))
                .collect(),
        })
        .collect()
}

fn proof(ir: &Ir, fb: &crate::ir::Forbid) -> ForbidProof {
    let mut forbidden_all = PortSet::empty();
    let mut with_flows = vec![];
    let mut holds = true;
    for (f, t, ports) in &fb.pairs {
        forbidden_all.union_with(ports);
        let Some(flow) = ir.flows.get(&(*f, *t)) else {
            continue;
        };
        let overlap = flow.ports.intersect(ports);
        holds &= overlap.is_empty();
        with_flows.push(ForbidPair {
            from: ir.atoms[*f].name.clone(),
            to: ir.atoms[*t].name.clone(),
            allowed: flow.ports.to_string(),
            forbidden: ports.to_string(),
            overlap: overlap.to_string(),
        });
    }
    ForbidProof {
        forbid: fb.loc.clone(),
        reason: fb.reason.clone(),
        forbidden_ports: forbidden_all.to_string(),
        holds,
        pairs_checked: fb.pairs.len(),
        pairs_with_flows: with_flows,
    }
}

// ---------------------------------------------------------------- rendering

/// `{...}`: the report as JSON.
pub fn to_json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default()
}

/// The report as plain text (`md = false`) or Markdown (`md = true`).
pub fn to_doc(r: &Report, md: bool) -> String {
    let mut d = Doc { md, s: String::new() };
    let title = r
        .title
        .as_ref()
        .map_or_else(|| r.policy.clone(), |t| format!("{} — {t}", r.policy));
    d.h(1, &format!("Audit report: {title}"));
    d.para(&summary(r));
    d.h(2, "Zones by kind");
    let zone_rows = r.zones.iter().flat_map(|g| {
        g.zones.iter().map(move |z| {
            vec![
                g.kind.to_string(),
                z.name.clone(),
                format!("{} ({})", z.site, z.site_kind),
                or_dash(&addresses(z)),
                or_dash(&z.namespaces.join(", ")),
                or_dash(&z.services.join(", ")),
            ]
        })
    });
    d.table(
        &["kind", "zone", "site", "cidr", "namespaces", "services"],
        zone_rows.collect(),
    );
    d.h(2, "Zone-to-zone crossings");
    let rows = r.crossings.iter().flat_map(|c| {
        c.flows.iter().map(move |p| {
            vec![
                format!(
                    "{} ({}) -> {} ({})",
                    c.from_zone, c.from_kind, c.to_zone, c.to_kind
                ),
                p.from.clone(),
                p.to.clone(),
                p.ports.clone(),
                p.allows.join(", "),
            ]
        })
    });
    d.table(&["crossing", "from", "to", "ports", "allowed by"], rows.collect());
    d.h(2, "Exemptions (W004)");
    let rows = r.exemptions.iter().map(|e| {
        let flows: Vec<String> = e
            .flows
            .iter()
            .map(|p| format!("{} -> {} {}", p.from, p.to, p.ports))
            .collect();
        vec![
            e.allow.clone(),
            e.waiver.clone(),
            or_dash(e.reason.as_deref().unwrap_or("")),
            flows.join("; "),
        ]
    });
    d.table(&["allow", "waiver", "reason", "flows"], rows.collect());
    d.h(2, "Crossings on any port (W003)");
    d.table(
        &["from", "to", "allowed by"],
        r.any_port_crossings
            .iter()
            .map(|p| vec![p.from.clone(), p.to.clone(), p.allows.join(", ")])
            .collect(),
    );
    d.h(2, "Resident services and who may reach them");
    let rows = r.resident_services.iter().map(|s| {
        let by: Vec<String> = s
            .reached_by
            .iter()
            .map(|p| format!("{} ({}; {})", p.from, p.ports, p.allows.join(", ")))
            .collect();
        let to: Vec<String> = s
            .reaches
            .iter()
            .map(|p| format!("{} ({})", p.to, p.ports))
            .collect();
        vec![
            s.service.clone(),
            format!("{} ({})", s.site, s.site_kind),
            or_dash(&by.join("; ")),
            or_dash(&to.join("; ")),
        ]
    });
    d.table(&["service", "site", "reached by", "reaches"], rows.collect());
    d.h(2, "Forbids and their proofs");
    for f in &r.forbids {
        d.para(&forbid_text(f, md));
    }
    if r.forbids.is_empty() {
        d.para("none");
    }
    if !r.unmanaged.is_empty() {
        d.h(2, "Unmanaged zones (enforced only at their managed peers)");
        let rows = r.unmanaged.iter().map(|u| {
            let flows: Vec<String> = u
                .flows
                .iter()
                .map(|p| format!("{} -> {} {}", p.from, p.to, p.ports))
                .collect();
            vec![
                u.zone.clone(),
                or_dash(&u.namespaces.join(", ")),
                or_dash(&u.cidrs.join(", ")),
                or_dash(&flows.join("; ")),
            ]
        });
        d.table(
            &["zone", "namespaces", "cidr", "flows its peers enforce"],
            rows.collect(),
        );
    }
    if let Some(ws) = &r.workloads {
        workloads_doc(&mut d, ws);
    }
    d.s
}

/// The inventory section of the text and Markdown reports.
fn workloads_doc(d: &mut Doc, ws: &[WorkloadFlows]) {
    d.h(2, "Workloads of the inventory and their flows");
    let side = |flows: &[PairFlow], inbound: bool| -> String {
        let parts: Vec<String> = flows
            .iter()
            .map(|p| {
                let peer = if inbound { &p.from } else { &p.to };
                format!("{peer} {}", p.ports)
            })
            .collect();
        or_dash(&parts.join("; "))
    };
    let rows = ws.iter().map(|w| {
        vec![
            w.workload.clone(),
            w.kind.clone(),
            w.atom.clone().unwrap_or_else(|| "(no zone: denied)".to_string()),
            side(&w.inbound, true),
            side(&w.outbound, false),
            w.source.clone(),
        ]
    });
    d.table(
        &["workload", "kind", "atom", "from", "to", "source"],
        rows.collect(),
    );
}

/// One line of counts: zones by kind, crossings, exemptions, `any` crossings, residents, forbids.
pub fn summary(r: &Report) -> String {
    let kinds: Vec<String> = r
        .zones
        .iter()
        .map(|g| format!("{} {}", g.zones.len(), g.kind))
        .collect();
    let holding = r.forbids.iter().filter(|f| f.holds).count();
    format!(
        "{} zones ({}); {} zone-to-zone crossings; {} exemptions; {} crossings on any port; {} resident services; {} forbids, {} holding",
        r.zones.iter().map(|g| g.zones.len()).sum::<usize>(),
        kinds.join(", "),
        r.crossings.len(),
        r.exemptions.len(),
        r.any_port_crossings.len(),
        r.resident_services.len(),
        r.forbids.len(),
        if holding == r.forbids.len() { "all".to_string() } else { format!("only {holding}") }
    )
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        s.to_string()
    }
}

fn forbid_text(f: &ForbidProof, md: bool) -> String {
    let verdict = if f.holds { "holds" } else { "VIOLATED" };
    let reason = f
        .reason
        .as_ref()
        .map_or_else(String::new, |r| format!(" \"{r}\""));
    let mut s = format!(
        "forbid at {}{reason} on {}: {verdict}. Checked all {} atom pairs it covers against the matrix (default deny: \
         the matrix is every allowed flow); ",
        f.forbid, f.forbidden_ports, f.pairs_checked
    );
    if f.pairs_with_flows.is_empty() {
        s.push_str("none of them carries any allowed flow.");
        return s;
    }
    s.push_str(&format!("{} carry allowed flows, ", f.pairs_with_flows.len()));
    s.push_str(if f.holds {
        "none on a forbidden port:"
    } else {
        "and these overlap:"
    });
    for p in &f.pairs_with_flows {
        let overlap = if p.overlap == "nothing" {
            String::new()
        } else {
            format!(", OVERLAP {}", p.overlap)
        };
        s.push_str(&format!(
            "\n{} {} -> {} allows {}{overlap}",
            if md { "-" } else { "  " },
            p.from,
            p.to,
            p.allowed
        ));
    }
    s
}

/// A tiny document builder that writes either plain text or Markdown.
struct Doc {
    md: bool,
    s: String,
}

impl Doc {
    fn h(&mut self, level: usize, title: &str) {
        if self.md {
            self.s.push_str(&format!("{} {title}\n\n", "#".repeat(level)));
        } else {
            let bar = if level == 1 { '=' } else { '-' };
            self.s.push_str(&format!(
                "{title}\n{}\n",
                bar.to_string().repeat(title.chars().count())
            ));
        }
    }

    fn para(&mut self, text: &str) {
        self.s.push_str(text);
        self.s.push_str("\n\n");
    }

    fn table(&mut self, head: &[&str], rows: Vec<Vec<String>>) {
        if rows.is_empty() {
            return self.para("none");
        }
        if self.md {
            let esc = |c: &str| c.replace('|', "\\|");
            self.s.push_str(&format!(
                "| {} |\n|{}\n",
                head.join(" | "),
                "---|".repeat(head.len())
            ));
            for r in &rows {
                let cells: Vec<String> = r.iter().map(|c| esc(c)).collect();
                self.s.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
            self.s.push('\n');
            return;
        }
        let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut l: String = cells.iter().zip(&w).map(|(c, n)| format!("{c:n$}  ")).collect();
            l.truncate(l.trim_end().len());
            l + "\n"
        };
        self.s.push_str(&line(head.to_vec()));
        for r in &rows {
            self.s.push_str(&line(r.iter().map(String::as_str).collect()));
        }
        self.s.push('\n');
    }
}

/// A zone's addresses for the table: its ranges as written and the cidrs outside
/// them, then its DNS names (`dns a, b`).
fn addresses(z: &ZoneInfo) -> String {
    let ranges: Vec<(std::net::IpAddr, std::net::IpAddr)> = z
        .ranges
        .iter()
        .filter_map(|r| r.split_once('-'))
        .filter_map(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .collect();
    let inside = |c: &String| {
        c.parse::<ipnet::IpNet>().is_ok_and(|n| {
            ranges
                .iter()
                .any(|(a, b)| *a <= n.network() && n.broadcast() <= *b)
        })
    };
    let mut shown: Vec<&str> = z.ranges.iter().map(String::as_str).collect();
    shown.extend(z.cidrs.iter().filter(|c| !inside(c)).map(String::as_str));
    let dns = (!z.dns.is_empty()).then(|| format!("dns {}", z.dns.join(", ")));
    let cidrs = (!shown.is_empty()).then(|| shown.join(", "));
    cidrs.into_iter().chain(dns).collect::<Vec<_>>().join("; ")
}
