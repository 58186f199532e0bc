//! The canonical model (spec §3): sites, zones, atoms and the flow matrix
//! between atoms, each flow remembering the allows that produced it.
//! Every back end and every analysis reads only this.

use crate::addr::AddrSet;
use crate::ports::PortSet;
use crate::span::Span;
use ipnet::IpNet;
use std::collections::BTreeMap;

/// Index into [`Ir::sites`].
pub type SiteId = usize;
/// Index into [`Ir::zones`].
pub type ZoneId = usize;
/// Index into [`Ir::atoms`]; atoms are sorted by name, so id order is name order.
pub type AtomId = usize;
/// Index into [`Ir::allows`].
pub type AllowId = usize;

/// Where a zone runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum SiteKind {
    Onprem,
    Aws,
    Gcp,
    Azure,
}

impl SiteKind {
    /// The keyword of the language.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::Onprem => "onprem",
            SiteKind::Aws => "aws",
            SiteKind::Gcp => "gcp",
            SiteKind::Azure => "azure",
        }
    }
}

/// A site: the implicit `default` (onprem) or one declared with `site`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Site {
    pub name: String,
    pub kind: SiteKind,
    /// `region`, `vpc`, `network`, `resource_group`, ... as written.
    pub props: BTreeMap<String, String>,
    /// `None` for the implicit `default` site.
    pub span: Option<Span>,
}

/// The security kind of a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ZoneKind {
    External,
    Demilitarised,
    Militarised,
}

impl ZoneKind {
    /// The canonical keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneKind::External => "external",
            ZoneKind::Demilitarised => "demilitarised",
            ZoneKind::Militarised => "militarised",
        }
    }

    /// Parses a kind keyword or alias.
    pub fn parse(s: &str) -> Option<ZoneKind> {
        Some(match s {
            "external" => ZoneKind::External,
            "demilitarised" | "demilitarized" | "dmz" => ZoneKind::Demilitarised,
            "militarised" | "militarized" | "mz" => ZoneKind::Militarised,
            _ => return None,
        })
    }
}

/// A zone, after cells are expanded (`cell2.mz` is a zone of its own).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Zone {
    /// Full path: `mz`, `cell2.mz`.
    pub name: String,
    pub kind: ZoneKind,
    pub site: SiteId,
    /// The zone's declared ranges (an external zone's may hold other zones).
    pub cidrs: Vec<IpNet>,
    pub namespaces: Vec<String>,
    /// The cell (`cell2`) and its block name (`cell`) when declared in a `cells` block.
    pub cell: Option<CellRef>,
    /// Its service atoms, by name.
    pub services: Vec<AtomId>,
    /// The atom standing for the zone's members in none of its services.
    pub remainder: AtomId,
    /// The DNS names of an external zone (`dns "..."`), lower case, sorted; no
    /// target built in can enforce them (E017).
    #[serde(default)]
    pub dns: Vec<String>,
    /// The address ranges among the zone's `cidr`, as (first, last) addresses
    /// (their prefixes are in `cidrs`): for showing them as written.
    #[serde(default)]
    pub cidr_ranges: Vec<(std::net::IpAddr, std::net::IpAddr)>,
    pub span: Span,
}

/// Which cell of which `cells` block a zone belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct CellRef {
    /// The block's name, `cell` in `cells cell[1..4]`.
    pub block: String,
    /// The cell's name, `cell2`.
    pub cell: String,
}

/// A unit of the canonical form: a service, or a zone's remainder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Atom {
    /// `mz.kernel` for a service, `mz` for a zone's remainder.
    pub name: String,
    pub zone: ZoneId,
    /// The service's own name (`kernel`), `None` for a zone's remainder.
    pub service: Option<String>,
    /// Exactly the addresses that belong to this atom: for a service its hosts;
    /// for a remainder the zone's ranges minus its services' hosts and minus
    /// every more specific zone inside it (the external carve-out), where the
    /// zones inside a `cells` block are carved out as that whole block.
    pub addrs: AddrSet,
    /// Kubernetes namespaces the atom's pods live in (service: its own or the zone's).
    pub namespaces: Vec<String>,
    /// Pod selector (AND of labels). Empty for a remainder: then "pods of the
    /// zone's namespaces that no service of the zone selects".
    pub pods: BTreeMap<String, String>,
    /// Declared named ports.
    pub ports: BTreeMap<String, PortSet>,
    pub resident: bool,
    /// `serviceaccount NAME`: the service account its pods run as (its mesh identity).
    #[serde(default)]
    pub service_account: Option<String>,
    pub span: Span,
}

impl Atom {
    /// True when the atom is a zone's remainder rather than a service.
    pub fn is_remainder(&self) -> bool {
        self.service.is_none()
    }

    /// True when the atom has a Kubernetes mapping.
    pub fn has_namespaces(&self) -> bool {
        !self.namespaces.is_empty()
    }

    /// True when the atom has addresses.
    pub fn has_addrs(&self) -> bool {
        !self.addrs.is_empty()
    }
}

/// One `allow` statement, after name resolution.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Allow {
    /// The whole statement.
    pub span: Span,
    /// `file:line` of the statement, for diagnostics and reports.
    pub loc: String,
    /// The statement's stable identity, `allow#` and ten hex digits of a hash
    /// of its text: what artefacts cite, so that moving or reordering
    /// statements changes no rule ([`cite`]; `sources.tsv` maps it back to `loc`).
    #[serde(default)]
    pub cite: String,
    pub reason: Option<String>,
    pub exempt: Option<String>,
    /// `paths`/`methods`: the HTTP requests the allow is limited to (istio only).
    #[serde(default)]
    pub l7: Option<L7>,
}

/// An allow's HTTP restriction: a request matches when its path matches one
/// of `paths` (none: any path) and its method is one of `methods` (none: any).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct L7 {
    /// Istio path patterns: exact, `prefix*`, `*suffix` or `*`.
    pub paths: Vec<String>,
    /// Upper-case HTTP methods, sorted.
    pub methods: Vec<String>,
    /// The `paths ... methods ...` part of the allow.
    pub span: Span,
}

/// The stable identity of a statement whose source text is `text`: the same
/// for the same statement wherever it stands (whitespace runs count as one
/// space), different for a different statement.
pub fn cite(text: &str) -> String {
    cite_as("allow", text)
}

/// [`cite`] for a `forbid` statement: `forbid#` and ten hex digits.
pub fn forbid_cite(text: &str) -> String {
    cite_as("forbid", text)
}

fn cite_as(kind: &str, text: &str) -> String {
    let normal: Vec<&str> = text.split_whitespace().collect();
    let h = crate::analysis::cache::hash(normal.join(" ").as_bytes());
    format!("{kind}#{:010x}", h & 0xff_ffff_ffff)
}

/// One `forbid` statement, expanded to atom pairs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Forbid {
    pub span: Span,
    pub loc: String,
    /// The statement's stable identity, `forbid#` and ten hex digits
    /// ([`forbid_cite`]): what the k8s-admin target cites.
    #[serde(default)]
    pub cite: String,
    pub reason: Option<String>,
    /// The (from, to) atom pairs and ports it forbids.
    pub pairs: Vec<(AtomId, AtomId, PortSet)>,
}

/// The allowed ports from one atom to another, and which allows allow what.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Flow {
    /// The merged ports.
    pub ports: PortSet,
    /// Each allow's contribution to this pair, in allow order.
    pub by: Vec<(AllowId, PortSet)>,
}

impl Flow {
    /// The allows whose contribution covers `(proto, port)`.
    pub fn allows_for(&self, proto: crate::ports::Proto, port: u16) -> Vec<AllowId> {
        self.by
            .iter()
            .filter(|(_, p)| p.contains(proto, port))
            .map(|(a, _)| *a)
            .collect()
    }

    /// The distinct allows that contribute to this pair, sorted.
    pub fn allow_ids(&self) -> Vec<AllowId> {
        let mut v: Vec<AllowId> = self.by.iter().map(|(a, _)| *a).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The canonical allowed-flow matrix: (from atom, to atom) -> flow.
pub type FlowMatrix = BTreeMap<(AtomId, AtomId), Flow>;

/// The whole checked policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ir {
    /// From `policy NAME`; `moat` when absent. Used to name generated objects.
    pub name: String,
    pub title: Option<String>,
    /// Sorted by name; `default` is always present.
    pub sites: Vec<Site>,
    /// Sorted by name.
    pub zones: Vec<Zone>,
    /// Sorted by name.
    pub atoms: Vec<Atom>,
    /// In source order.
    pub allows: Vec<Allow>,
    pub forbids: Vec<Forbid>,
    pub flows: FlowMatrix,
    /// Clusters, shared namespaces, unmanaged zones and namespaces by label
    /// (issue 12). Default (empty) when the policy uses none of them.
    pub layout: Layout,
}

/// The deployment layout of a policy: what `cluster`, `namespace NS pods SEL`,
/// `namespaces k=v` and `unmanaged` declare.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    /// Sorted by name.
    pub clusters: Vec<Cluster>,
    /// Per zone (index = ZoneId); empty when no zone uses a layout statement.
    pub zones: Vec<ZoneLayout>,
}

/// A Kubernetes cluster at a site (`cluster NAME @ SITE`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cluster {
    pub name: String,
    pub site: SiteId,
    pub span: Span,
}

/// Index into [`Layout::clusters`].
pub type ClusterId = usize;

/// The layout of one zone.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ZoneLayout {
    /// The cluster of its namespaces (named, or the only one at its site).
    pub cluster: Option<ClusterId>,
    /// `unmanaged`: nothing is enforced at this zone's own members.
    pub unmanaged: bool,
    /// Namespaces (among the zone's) of which only some pods are members.
    pub claims: BTreeMap<String, PodSelector>,
    /// `namespaces k=v`: the zone's namespaces are chosen by these labels.
    pub ns_labels: BTreeMap<String, String>,
}

/// A pod selector: every `equal` label AND, for each `not_in` key, the pod
/// lacks the key or has none of the values (Kubernetes `NotIn`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
pub struct PodSelector {
    pub equal: BTreeMap<String, String>,
    pub not_in: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl PodSelector {
    /// True when no two pods' label sets could match both selectors:
    /// some key has two different required values, or a required value the
    /// other excludes (`NotIn`).
    pub fn disjoint(&self, other: &PodSelector) -> bool {
        let one_way = |a: &PodSelector, b: &PodSelector| {
            a.equal.iter().any(|(k, v)| {
                b.equal.get(k).is_some_and(|w| w != v) || b.not_in.get(k).is_some_and(|vs| vs.contains(v))
            })
        };
        one_way(self, other) || one_way(other, self)
    }

    /// Both selectors at once, or `None` when no pod can match both.
    pub fn and(&self, other: &PodSelector) -> Option<PodSelector> {
        if self.disjoint(other) {
            return None;
        }
        let mut out = self.clone();
        out.equal
            .extend(other.equal.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (k, vs) in &other.not_in {
            out.not_in
                .entry(k.clone())
                .or_default()
                .extend(vs.iter().cloned());
        }
        // A required value already excludes every other: `NotIn` on its key says nothing more.
        out.not_in.retain(|k, _| !out.equal.contains_key(k));
        Some(out)
    }

    /// True when it selects every pod.
    pub fn is_all(&self) -> bool {
        self.equal.is_empty() && self.not_in.is_empty()
    }
}

static NO_LAYOUT: ZoneLayout = ZoneLayout {
    cluster: None,
    unmanaged: false,
    claims: BTreeMap::new(),
    ns_labels: BTreeMap::new(),
};

impl Layout {
    /// The layout of zone `z` (the default when the policy uses none).
    pub fn zone(&self, z: ZoneId) -> &ZoneLayout {
        self.zones.get(z).unwrap_or(&NO_LAYOUT)
    }
}

impl Ir {
    /// The atom named `name` (`mz.kernel`, or `mz` for a zone's remainder).
    pub fn atom_id(&self, name: &str) -> Option<AtomId> {
        self.atoms.binary_search_by(|a| a.name.as_str().cmp(name)).ok()
    }

    /// The zone an atom belongs to.
    pub fn zone_of(&self, atom: AtomId) -> &Zone {
        &self.zones[self.atoms[atom].zone]
    }

    /// The site an atom sits at.
    pub fn site_of(&self, atom: AtomId) -> &Site {
        &self.sites[self.zone_of(atom).site]
    }

    /// True when the atom's zone is `unmanaged` (nothing enforced at its own members).
    pub fn is_unmanaged(&self, atom: AtomId) -> bool {
        self.layout.zone(self.atoms[atom].zone).unmanaged
    }

    /// True when the atom has a Kubernetes mapping: namespaces by name or by label.
    pub fn in_k8s(&self, atom: AtomId) -> bool {
        self.atoms[atom].has_namespaces() || !self.layout.zone(self.atoms[atom].zone).ns_labels.is_empty()
    }

    /// The atom holding address `ip` (most specific range wins), if any.
    pub fn atom_for_ip(&self, ip: std::net::IpAddr) -> Option<AtomId> {
        self.atoms.iter().position(|a| a.addrs.contains(ip))
    }
}
