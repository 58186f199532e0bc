//! `moat diff` (spec §6): the semantic difference of two policies' matrices.
//!
//! Both matrices are keyed by atom *names*, so two unrelated policies can be
//! compared. A pair's added ports are `new − old`, its removed ports
//! `old − new`; each becomes rows of the matrix shape (`ports` holds only the
//! added or removed ports).
//!
//! Renames: an atom that exists under a name only in OLD, and another only in
//! NEW, are the same atom when they have the same *address-level identity*:
//! the same address set, the same namespaces and the same pod selector (for a
//! zone's remainder: the same selectors of its sibling services). Only
//! one-to-one matches count; OLD's flows are then read under NEW's name, so a
//! rename that allows exactly the same flows shows as no change (and is listed
//! under `renamed`). An atom with neither addresses nor namespaces has no
//! identity and is never matched.
//!
//! Readdressing: an atom present on both sides whose members changed (its
//! address set, namespaces or pod selector) is listed under `readdressed`:
//! its flows may read the same, yet now reach other machines. It counts as a
//! difference (exit 1).
//!
//! Relaying out: a zone present on both sides whose deployment layout changed
//! (its cluster, `unmanaged`, namespaces chosen by label, the pods it claims
//! in a shared namespace, its services' `serviceaccount`) is listed under
//! `relaid`: the matrix may be the same, yet the rules are written into
//! another cluster, no longer enforced at the zone, or match other pods or
//! mesh identities. It counts as a difference (exit 1).

use super::matrix::{pair_rows, Row};
use crate::ir::{AtomId, Ir, ZoneKind};
use crate::ports::{PortRange, PortSet, Proto};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

mod render;
pub use render::{row_text, summary, to_json, to_markdown, to_text};

/// Why a changed row deserves a reviewer's eye.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flag {
    /// From another zone into a militarised zone.
    IntoMilitarised,
    /// From a militarised zone into another zone.
    OutOfMilitarised,
    /// From an external zone into another zone.
    FromExternal,
    /// From another zone to an external one: a way out (exfiltration).
    ToExternal,
}

impl Flag {
    /// The short name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::IntoMilitarised => "into-militarised",
            Flag::OutOfMilitarised => "out-of-militarised",
            Flag::FromExternal => "from-external",
            Flag::ToExternal => "to-external",
        }
    }

    /// The phrase used in summaries.
    pub fn phrase(self) -> &'static str {
        match self {
            Flag::IntoMilitarised => "into a militarised zone",
            Flag::OutOfMilitarised => "out of a militarised zone",
            Flag::FromExternal => "from an external zone",
            Flag::ToExternal => "to an external zone (a way out: exfiltration)",
        }
    }
}

/// One added or removed row, with what a reviewer needs around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffRow {
    /// The row in matrix form; `ports` are only the added or removed ports.
    pub row: Row,
    /// The crossing this row is, if it is one of the flagged kinds.
    pub flags: Vec<Flag>,
    /// `file:line` of the allows (of NEW for added rows, of OLD for removed) behind it.
    pub allows: Vec<String>,
    /// The zones of both ends (NEW's names).
    pub from_zone: String,
    pub to_zone: String,
}

/// The semantic difference of two policies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    pub added: Vec<DiffRow>,
    pub removed: Vec<DiffRow>,
    /// `(old name, new name)` of atoms matched by address-level identity.
    pub renamed: Vec<(String, String)>,
    /// Atoms present on both sides whose members changed.
    pub readdressed: Vec<Readdressed>,
    /// Zones present on both sides whose kind changed: `(zone, old kind, new kind)`.
    pub reclassified: Vec<(String, ZoneKind, ZoneKind)>,
    /// Zones present on both sides whose deployment layout changed.
    pub relaid: Vec<Relaid>,
}

/// A zone whose deployment layout changed, with both descriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Relaid {
    pub zone: String,
    pub old: String,
    pub new: String,
}

/// An atom whose members changed, with both descriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readdressed {
    pub atom: String,
    pub old: String,
    pub new: String,
}

impl Diff {
    /// True when the two policies allow exactly the same flows between the same members.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.readdressed.is_empty()
            && self.reclassified.is_empty()
            && self.relaid.is_empty()
    }

    /// The number of added rows carrying `flag`.
    pub fn added_with(&self, flag: Flag) -> usize {
        self.added.iter().filter(|r| r.flags.contains(&flag)).count()
    }
}

/// The difference from `old` to `new`.
pub fn diff(old: &Ir, new: &Ir) -> Diff {
    let renames = renames(old, new);
    let map: BTreeMap<&str, &str> = renames.iter().map(|(o, n)| (o.as_str(), n.as_str())).collect();
    let old_side = Side {
        ir: old,
        rename: &map,
    };
    let new_side = Side {
        ir: new,
        rename: &BTreeMap::new(),
    };
    let (o, n) = (old_side.pairs(), new_side.pairs());
    let keys: BTreeSet<&(String, String)> = o.keys().chain(n.keys()).collect();
    let mut out = Diff {
        renamed: renames.clone(),
        ..Diff::default()
    };
    let empty = PortSet::empty();
    for key in keys {
        let op = o.get(key).map_or(&empty, |&(f, t)| &old.flows[&(f, t)].ports);
        let np = n.get(key).map_or(&empty, |&(f, t)| &new.flows[&(f, t)].ports);
        if let Some(&(f, t)) = n.get(key) {
            out.added.extend(new_side.rows(key, f, t, &np.subtract(op)));
        }
        if let Some(&(f, t)) = o.get(key) {
            out.removed.extend(old_side.rows(key, f, t, &op.subtract(np)));
        }
    }
    out.readdressed = readdressed(old, new, &map);
    out.reclassified = old
        .zones
        .iter()
        .filter_map(|z| {
            let name = map.get(z.name.as_str()).copied().unwrap_or(&z.name);
            let nz = new.zones.iter().find(|n| n.name == name)?;
            (nz.kind != z.kind).then(|| (name.to_string(), z.kind, nz.kind))
        })
        .collect();
    out.relaid = relaid(old, new, &map);
    out.added.sort_by(|a, b| a.row.cmp(&b.row));
    out.removed.sort_by(|a, b| a.row.cmp(&b.row));
    out
}

/// The zones of both sides (OLD's under NEW's names) whose layout reads differently.
fn relaid(old: &Ir, new: &Ir, ren: &BTreeMap<&str, &str>) -> Vec<Relaid> {
    let mut out: Vec<Relaid> = old
        .zones
        .iter()
        .enumerate()
        .filter_map(|(oz, z)| {
            let name = ren.get(z.name.as_str()).copied().unwrap_or(&z.name);
            let nz = new.zones.iter().position(|n| n.name == name)?;
            let (o, n) = (layout_text(old, oz), layout_text(new, nz));
            (o != n).then(|| Relaid {
                zone: name.to_string(),
                old: o,
                new: n,
            })
        })
        .collect();
    out.sort_by(|a, b| a.zone.cmp(&b.zone));
    out
}

/// One zone's deployment layout in words: `cluster hq @ dc1; unmanaged; ...`.
fn layout_text(ir: &Ir, z: crate::ir::ZoneId) -> String {
    let lay = ir.layout.zones.get(z).cloned().unwrap_or_default();
    let mut parts = vec![];
    if let Some(c) = lay.cluster.and_then(|c| ir.layout.clusters.get(c)) {
        parts.push(format!("cluster {} @ {}", c.name, ir.sites[c.site].name));
    }
    if lay.unmanaged {
        parts.push("unmanaged".to_string());
    }
    if !lay.ns_labels.is_empty() {
        let kv: Vec<String> = lay.ns_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.push(format!("namespaces {}", kv.join(",")));
    }
    for (ns, sel) in &lay.claims {
        parts.push(format!("namespace {ns} pods {}", selector_text(sel)));
    }
    for &s in &ir.zones[z].services {
        if let Some(sa) = &ir.atoms[s].service_account {
            parts.push(format!("{} serviceaccount {sa}", ir.atoms[s].name));
        }
    }
    if parts.is_empty() {
        "no layout statement".to_string()
    } else {
        parts.join("; ")
    }
}

/// `app=a,tier!=b,tier!=c`: a pod selector as the language writes it.
fn selector_text(sel: &crate::ir::PodSelector) -> String {
    let eq = sel.equal.iter().map(|(k, v)| format!("{k}={v}"));
    let ne = sel
        .not_in
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| format!("{k}!={v}")));
    eq.chain(ne).collect::<Vec<_>>().join(",")
}

/// One policy seen under the names of the diff (OLD's renamed atoms under NEW's names).
struct Side<'a> {
    ir: &'a Ir,
    rename: &'a BTreeMap<&'a str, &'a str>,
}

impl Side<'_> {
    fn name(&self, n: &str) -> String {
        self.rename.get(n).copied().unwrap_or(n).to_string()
    }

    /// Every flow's atom pair under its (renamed) names.
    fn pairs(&self) -> BTreeMap<(String, String), (AtomId, AtomId)> {
        self.ir
            .flows
            .keys()
            .map(|&(f, t)| {
                (
                    (
                        self.name(&self.ir.atoms[f].name),
                        self.name(&self.ir.atoms[t].name),
                    ),
                    (f, t),
                )
            })
            .collect()
    }

    /// The rows of `ports` (a part of flow `f -> t`) with flags and provenance.
    fn rows(&self, key: &(String, String), f: AtomId, t: AtomId, ports: &PortSet) -> Vec<DiffRow> {
        if ports.is_empty() {
            return vec![];
        }
        let flow = &self.ir.flows[&(f, t)];
        let mut allows: Vec<String> = flow
            .by
            .iter()
            .filter(|(_, p)| !p.intersect(ports).is_empty())
            .map(|(a, _)| self.ir.allows[*a].loc.clone())
            .collect();
        allows.dedup();
        let flags = flags(self.ir, f, t);
        let (fz, tz) = (
            self.name(&self.ir.zone_of(f).name),
            self.name(&self.ir.zone_of(t).name),
        );
        pair_rows(&key.0, &key.1, ports)
            .into_iter()
            .map(|row| DiffRow {
                row,
                flags: flags.clone(),
                allows: allows.clone(),
                from_zone: fz.clone(),
                to_zone: tz.clone(),
            })
            .collect()
    }
}

/// The flags of a flow from atom `f` to atom `t` of one policy.
pub fn flags(ir: &Ir, f: AtomId, t: AtomId) -> Vec<Flag> {
    let (zf, zt) = (ir.atoms[f].zone, ir.atoms[t].zone);
    if zf == zt {
        return vec![];
    }
    let (kf, kt) = (ir.zones[zf].kind, ir.zones[zt].kind);
    let mut out = vec![];
    if kt == ZoneKind::Militarised {
        out.push(Flag::IntoMilitarised);
    }
    if kf == ZoneKind::Militarised {
        out.push(Flag::OutOfMilitarised);
    }
    if kf == ZoneKind::External {
        out.push(Flag::FromExternal);
    }
    if kt == ZoneKind::External {
        out.push(Flag::ToExternal);
    }
    out
}

/// What an atom *is* at the address level, for rename detection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Identity {
    addrs: crate::addr::AddrSet,
    namespaces: Vec<String>,
    /// The service's selector, or for a remainder `None`.
    pods: Option<BTreeMap<String, String>>,
    /// For a remainder: its sibling services' selectors (what it is *not*).
    siblings: Vec<BTreeMap<String, String>>,
}

fn identity(ir: &Ir, a: AtomId) -> Option<Identity> {
    let atom = &ir.atoms[a];
    if atom.addrs.is_empty() && atom.namespaces.is_empty() {
        return None;
    }
    let mut namespaces = atom.namespaces.clone();
    namespaces.sort();
    let mut siblings: Vec<_> = if atom.is_remainder() {
        ir.zones[atom.zone]
            .services
            .iter()
            .map(|s| ir.atoms[*s].pods.clone())
            .collect()
    } else {
        vec![]
    };
    siblings.sort();
    let pods = (!atom.is_remainder()).then(|| atom.pods.clone());
    Some(Identity {
        addrs: atom.addrs.clone(),
        namespaces,
        pods,
        siblings,
    })
}

/// `10.20.0.0/16 except 10.20.1.0/24; namespaces mz; pods app=kernel`.
fn members(ir: &Ir, a: AtomId) -> String {
    let atom = &ir.atoms[a];
    let mut parts = vec![];
    if !atom.addrs.is_empty() {
        let inc: Vec<String> = atom.addrs.include.iter().map(ToString::to_string).collect();
        let exc: Vec<String> = atom.addrs.except.iter().map(ToString::to_string).collect();
        let exc = if exc.is_empty() {
            String::new()
        } else {
            format!(" except {}", exc.join(", "))
        };
        parts.push(format!("{}{exc}", inc.join(", ")));
    }
    if atom.has_namespaces() {
        let mut ns = atom.namespaces.clone();
        ns.sort();
        parts.push(format!("namespaces {}", ns.join(", ")));
        if atom.is_remainder() {
            let sib: Vec<String> = ir.zones[atom.zone]
                .services
                .iter()
                .map(|s| ir.atoms[*s].name.clone())
                .collect();
            if !sib.is_empty() {
                parts.push(format!("pods not selected by {}", sib.join(", ")));
            }
        } else if !atom.pods.is_empty() {
            let l: Vec<String> = atom.pods.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.push(format!("pods {}", l.join(",")));
        }
    }
    if parts.is_empty() {
        "nothing".to_string()
    } else {
        parts.join("; ")
    }
}

/// Atoms on both sides (OLD's under their new names) whose identity changed.
fn readdressed(old: &Ir, new: &Ir, ren: &BTreeMap<&str, &str>) -> Vec<Readdressed> {
    let mut out = vec![];
    for (oid, a) in old.atoms.iter().enumerate() {
        let name = ren.get(a.name.as_str()).copied().unwrap_or(&a.name);
        let Some(nid) = new.atom_id(name) else { continue };
        if identity(old, oid) != identity(new, nid) {
            out.push(Readdressed {
                atom: name.to_string(),
                old: members(old, oid),
                new: members(new, nid),
            });
        }
    }
    out.sort_by(|a, b| a.atom.cmp(&b.atom));
    out
}

/// One-to-one matches, by identity, of atoms named only in `old` with atoms named only in `new`.
fn renames(old: &Ir, new: &Ir) -> Vec<(String, String)> {
    let only = |ir: &Ir, other: &Ir| -> BTreeMap<Identity, Vec<String>> {
        let mut m: BTreeMap<Identity, Vec<String>> = BTreeMap::new();
        for (id, a) in ir.atoms.iter().enumerate() {
            if other.atom_id(&a.name).is_some() {
                continue;
            }
            if let Some(k) = identity(ir, id) {
                m.entry(k).or_default().push(a.name.clone());
            }
        }
        m
    };
    let (o, n) = (only(old, new), only(new, old));
    let mut out: Vec<(String, String)> = o
        .iter()
        .filter_map(|(k, olds)| match (olds.as_slice(), n.get(k).map(Vec::as_slice)) {
            ([a], Some([b])) => Some((a.clone(), b.clone())),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// The port set a matrix row stands for (the inverse of [`pair_rows`] for one row),
/// or `None` when the row is malformed.
pub fn row_ports(row: &Row) -> Option<PortSet> {
    if row.protocol == "any" {
        return Some(PortSet::any());
    }
    let proto = if row.protocol == "other" {
        Proto::Other
    } else {
        Proto::parse(&row.protocol)?
    };
    let Some(list) = row.ports.as_deref().filter(|_| proto.has_ports()) else {
        return Some(PortSet::proto(proto));
    };
    let mut set = PortSet::empty();
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let range = PortRange::new(lo.trim().parse().ok()?, hi.trim().parse().ok()?);
        set.union_with(&PortSet::range(proto, range));
    }
    Some(set)
}

/// A matrix keyed by atom names, as the rows describe it.
pub type NamedMatrix = BTreeMap<(String, String), PortSet>;

/// The matrix of rows, keyed by names (pairs with no ports are absent).
pub fn named_matrix(rows: &[Row]) -> NamedMatrix {
    let mut m = NamedMatrix::new();
    for r in rows {
        let ports = row_ports(r).unwrap_or_default();
        m.entry((r.from.clone(), r.to.clone()))
            .or_default()
            .union_with(&ports);
    }
    m
}

/// Applies a diff to OLD's matrix: renames, then removes, then adds. The
/// result equals NEW's matrix (a property the tests check).
pub fn apply(old: &NamedMatrix, d: &Diff) -> NamedMatrix {
    let ren: BTreeMap<&str, &str> = d.renamed.iter().map(|(o, n)| (o.as_str(), n.as_str())).collect();
    let name = |n: &String| ren.get(n.as_str()).map_or_else(|| n.clone(), |s| s.to_string());
    let mut m: NamedMatrix = old
        .iter()
        .map(|((f, t), p)| ((name(f), name(t)), p.clone()))
        .collect();
    for r in &d.removed {
        let key = (r.row.from.clone(), r.row.to.clone());
        if let Some(p) = m.get_mut(&key) {
            *p = p.subtract(&row_ports(&r.row).unwrap_or_default());
        }
    }
    for r in &d.added {
        m.entry((r.row.from.clone(), r.row.to.clone()))
            .or_default()
            .union_with(&row_ports(&r.row).unwrap_or_default());
    }
    m.retain(|_, p| !p.is_empty());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_ports_inverts_pair_rows() {
        let set = PortSet::range(Proto::Tcp, PortRange::new(80, 90))
            .union(&PortSet::range(Proto::Tcp, PortRange::new(443, 443)))
            .union(&PortSet::proto(Proto::Icmp));
        let back = pair_rows("a", "b", &set)
            .iter()
            .filter_map(row_ports)
            .fold(PortSet::empty(), |a, b| a.union(&b));
        assert_eq!(back, set);
        let most = PortSet::any().subtract(&PortSet::range(Proto::Udp, PortRange::new(53, 53)));
        let back = pair_rows("a", "b", &most)
            .iter()
            .filter_map(row_ports)
            .fold(PortSet::empty(), |a, b| a.union(&b));
        assert_eq!(back, most);
    }
}
