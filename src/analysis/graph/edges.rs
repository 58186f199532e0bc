//! The edges of the drawing: matrix pairs, with pairs that cover a whole
//! zone drawn once. When one atom reaches every member of another zone on
//! the same ports, that is one edge into the zone's cluster; when every member
//! of a zone reaches one end on the same ports, one edge out of the cluster.
//! Inside one zone such a fan is a note on the node instead ("from all of
//! mz-app: tcp/8080"), since an edge cannot leave and enter the same cluster.

use crate::ir::{AtomId, Flow, Ir, ZoneId};
use crate::ports::PortSet;
use std::collections::BTreeMap;

/// One end of a drawn edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    Atom(AtomId),
    Zone(ZoneId),
}

/// A drawn edge: ends, ports and the waivers of exempt allows behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: End,
    pub to: End,
    pub ports: PortSet,
    pub waivers: Vec<String>,
}

/// Edges plus per-atom notes for fans inside one zone.
#[derive(Debug, Default)]
pub struct Drawing {
    pub edges: Vec<Edge>,
    /// Atom -> lines such as `from all of mz-app: tcp/8080`.
    pub notes: BTreeMap<AtomId, Vec<String>>,
}

/// The waivers of the exempt allows behind a flow.
fn waivers(ir: &Ir, flow: &Flow) -> Vec<String> {
    flow.allow_ids()
        .into_iter()
        .filter_map(|a| ir.allows[a].exempt.clone())
        .collect()
}

/// Every atom of a zone (its services and its remainder).
fn members(ir: &Ir, z: ZoneId) -> Vec<AtomId> {
    let zone = &ir.zones[z];
    let mut v = zone.services.clone();
    v.push(zone.remainder);
    v
}

fn zone_of(ir: &Ir, e: End) -> ZoneId {
    match e {
        End::Atom(a) => ir.atoms[a].zone,
        End::Zone(z) => z,
    }
}

/// Collapses `edges` on one side: groups by (the other end, the zone of this
/// side's atom); a group covering every member of that zone with one port set
/// becomes one edge (or a note when the other end is inside the zone).
fn collapse(
    ir: &Ir,
    edges: Vec<Edge>,
    source_side: bool,
    notes: &mut BTreeMap<AtomId, Vec<String>>,
) -> Vec<Edge> {
    let mut groups: BTreeMap<(End, ZoneId), Vec<Edge>> = BTreeMap::new();
    let mut out = vec![];
    for e in edges {
        let (mine, other) = if source_side {
            (e.from, e.to)
        } else {
            (e.to, e.from)
        };
        match mine {
            End::Atom(a) => groups.entry((other, ir.atoms[a].zone)).or_default().push(e),
            End::Zone(_) => out.push(e),
        }
    }
    for ((other, z), group) in groups {
        let all = members(ir, z);
        let same = group
            .iter()
            .all(|e| e.ports == group[0].ports && e.waivers == group[0].waivers);
        if all.len() < 2 || group.len() != all.len() || !same {
            out.extend(group);
            continue;
        }
        let (ports, waivers) = (group[0].ports.clone(), group[0].waivers.clone());
        match other {
            End::Atom(a) if zone_of(ir, other) == z => {
                let dir = if source_side { "from" } else { "to" };
                notes
                    .entry(a)
                    .or_default()
                    .push(format!("{dir} all of {}: {ports}", ir.zones[z].name));
            }
            _ if zone_of(ir, other) == z => out.extend(group),
            _ => {
                let (from, to) = if source_side {
                    (End::Zone(z), other)
                } else {
                    (other, End::Zone(z))
                };
                out.push(Edge {
                    from,
                    to,
                    ports,
                    waivers,
                });
            }
        }
    }
    out.sort_by_key(|e| (e.from, e.to));
    out
}

/// The drawing of the matrix.
pub fn drawing(ir: &Ir) -> Drawing {
    let edges: Vec<Edge> = ir
        .flows
        .iter()
        .map(|(&(f, t), fl)| Edge {
            from: End::Atom(f),
            to: End::Atom(t),
            ports: fl.ports.clone(),
            waivers: waivers(ir, fl),
        })
        .collect();
    let mut notes: BTreeMap<AtomId, Vec<String>> = BTreeMap::new();
    let edges = collapse(ir, edges, false, &mut notes);
    let edges = collapse(ir, edges, true, &mut notes);
    let mut out = vec![];
    for e in edges {
        match (e.from, e.to) {
            (End::Atom(f), End::Atom(t)) if f == t => notes
                .entry(f)
                .or_default()
                .push(format!("to itself: {}", e.ports)),
            _ => out.push(e),
        }
    }
    Drawing { edges: out, notes }
}
