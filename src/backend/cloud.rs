//! What the three cloud targets (aws, gcp, azure) share, derived once from the
//! IR: which zones and atoms a target covers, the rules each atom's group
//! needs (one per direction and peer), how peers are addressed (by group when
//! they sit at the same site, else by exact address prefixes), names, and
//! descriptions that point back to the allows.

use super::{scope, Target};
use crate::addr::AddrSet;
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Flow, Ir, SiteId, SiteKind, ZoneId};
use crate::ports::{PortRange, PortSet, Proto};
use ipnet::IpNet;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Which way a rule filters, seen from the atom that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Traffic arriving at the owner (the flow's destination).
    Ingress,
    /// Traffic leaving the owner (the flow's source).
    Egress,
}

impl Direction {
    /// `in` or `out`, for generated names.
    pub fn short(self) -> &'static str {
        match self {
            Direction::Ingress => "in",
            Direction::Egress => "out",
        }
    }
}

/// How a rule names the other end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// An atom at the same site: referenced by its group, tag or ASG.
    Local(AtomId),
    /// Any other atom: by its exact addresses as disjoint prefixes, per
    /// family ([`Plan::ranges`]).
    Ranges(AtomId),
}

impl Peer {
    /// The atom on the other end.
    pub fn atom(&self) -> AtomId {
        match self {
            Peer::Local(a) | Peer::Ranges(a) => *a,
        }
    }
}

/// The prefixes of one address set by family, each sorted, with their text.
#[derive(Debug, Clone, Default)]
pub struct Prefixes {
    pub v4: Vec<IpNet>,
    pub v6: Vec<IpNet>,
    /// `v4` as text (`10.1.0.0/24`), for the rules that list it.
    pub v4_text: Vec<String>,
    pub v6_text: Vec<String>,
}

impl Prefixes {
    fn new(prefixes: Vec<IpNet>) -> Prefixes {
        let (v6, v4): (Vec<IpNet>, Vec<IpNet>) =
            prefixes.into_iter().partition(|n| matches!(n, IpNet::V6(_)));
        let text = |v: &[IpNet]| v.iter().map(ToString::to_string).collect();
        Prefixes {
            v4_text: text(&v4),
            v6_text: text(&v6),
            v4,
            v6,
        }
    }

    /// The prefixes of one family, and their text.
    pub fn family(&self, v6: bool) -> (&[IpNet], &[String]) {
        if v6 {
            (&self.v6, &self.v6_text)
        } else {
            (&self.v4, &self.v4_text)
        }
    }
}

/// One rule a cloud group needs: the owner's side of one in-scope flow.
#[derive(Debug, Clone)]
pub struct Rule<'a> {
    /// The covered atom whose group holds the rule.
    pub owner: AtomId,
    pub dir: Direction,
    /// The other end of the flow.
    pub peer: Peer,
    /// The flow's merged ports.
    pub ports: &'a PortSet,
    /// The flow itself, for provenance.
    pub flow: &'a Flow,
}

impl Rule<'_> {
    /// The allows whose contribution to the flow meets `part` (a subset of the ports).
    pub fn allows(&self, part: &PortSet) -> Vec<AllowId> {
        let mut v: Vec<AllowId> = self
            .flow
            .by
            .iter()
            .filter(|(_, p)| p.intersects(part))
            .map(|(a, _)| *a)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Everything a cloud back end needs, computed once per target.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The policy.
    pub ir: &'a Ir,
    /// The cloud target planned for.
    pub target: Target,
    /// Sites of the target's kind that hold at least one zone.
    pub sites: Vec<SiteId>,
    /// Zones at those sites, by name.
    pub zones: Vec<ZoneId>,
    /// The atoms of those zones (remainders and services), by name: one group each.
    pub atoms: Vec<AtomId>,
    /// Ingress and egress rules, sorted by owner, direction, peer.
    pub rules: Vec<Rule<'a>>,
    /// By atom: the prefixes a rule names for it as a peer by ranges
    /// ([`filled`]), computed once; empty for atoms no rule names so.
    ranges: Vec<Prefixes>,
    /// By atom: a covered atom's own prefixes; empty for the others.
    own: Vec<Prefixes>,
    /// [`Plan::policy`], computed once.
    policy: String,
    /// A unique identifier-safe name per covered atom and per site.
    names: BTreeMap<AtomId, String>,
    site_names: BTreeMap<SiteId, String>,
}

/// The site kind a cloud target covers.
pub fn kind_of(target: Target) -> Option<SiteKind> {
    match target {
        Target::Aws => Some(SiteKind::Aws),
        Target::Gcp => Some(SiteKind::Gcp),
        Target::Azure => Some(SiteKind::Azure),
        _ => None,
    }
}

impl<'a> Plan<'a> {
    /// Plans a cloud target, or returns the E012 diagnostics of its scope.
    pub fn new(target: Target, ir: &'a Ir) -> Result<Plan<'a>, Vec<Diagnostic>> {
        let flows = scope::flows(target, ir)?;
        let kind = kind_of(target);
        let sites: Vec<SiteId> = (0..ir.sites.len())
            .filter(|s| Some(ir.sites[*s].kind) == kind && ir.zones.iter().any(|z| z.site == *s))
            .collect();
        // An unmanaged zone gets no group: peers name it by its addresses.
        let zones: Vec<ZoneId> = (0..ir.zones.len())
            .filter(|z| sites.contains(&ir.zones[*z].site) && !ir.layout.zone(*z).unmanaged)
            .collect();
        let covered: Vec<bool> = ir
            .atoms
            .iter()
            .map(|a| zones.binary_search(&a.zone).is_ok())
            .collect();
        let atoms: Vec<AtomId> = (0..ir.atoms.len()).filter(|a| covered[*a]).collect();
        let own: Vec<Prefixes> = ir
            .atoms
            .iter()
            .zip(&covered)
            .map(|(a, c)| {
                if *c {
                    Prefixes::new(a.addrs.prefixes())
                } else {
                    Prefixes::default()
                }
            })
            .collect();
        let mut ranges = vec![Prefixes::default(); ir.atoms.len()];
        let mut filled_in = vec![false; ir.atoms.len()];
        let mut peer = |owner: AtomId, other: AtomId| {
            if covered[other] && ir.zone_of(other).site == ir.zone_of(owner).site {
                return Peer::Local(other);
            }
            if !filled_in[other] {
                ranges[other] = Prefixes::new(filled(ir, &atoms, &own, other).prefixes());
                filled_in[other] = true;
            }
            Peer::Ranges(other)
        };
        let mut rules = vec![];
        for (from, to, flow) in flows {
            if covered[to] {
                rules.push(Rule {
                    owner: to,
                    dir: Direction::Ingress,
                    peer: peer(to, from),
                    ports: &flow.ports,
                    flow,
                });
            }
            if covered[from] {
                rules.push(Rule {
                    owner: from,
                    dir: Direction::Egress,
                    peer: peer(from, to),
                    ports: &flow.ports,
                    flow,
                });
            }
        }
        rules.sort_by_key(|r| (r.owner, r.dir, r.peer.atom()));
        let names = unique_names(ir.atoms.iter().enumerate().map(|(i, a)| (i, ident(&a.name))));
        let site_names = unique_names(sites.iter().map(|s| (*s, ident(&ir.sites[*s].name))));
        let policy = ir
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        Ok(Plan {
            ir,
            target,
            sites,
            zones,
            atoms,
            rules,
            ranges,
            own,
            policy,
            names,
            site_names,
        })
    }

    /// The prefixes that rules name for `atom` as a [`Peer::Ranges`].
    pub fn ranges(&self, atom: AtomId) -> &Prefixes {
        &self.ranges[atom]
    }

    /// The prefixes of a covered atom's own addresses.
    pub fn own_prefixes(&self, atom: AtomId) -> &Prefixes {
        &self.own[atom]
    }

    /// The identifier of an atom (`mz__kernel` for `mz.kernel`), unique in the policy.
    pub fn name(&self, atom: AtomId) -> &str {
        self.names.get(&atom).map(String::as_str).unwrap_or("unknown")
    }

    /// The identifier of a covered site (`blr_dc` for `blr-dc`).
    pub fn site_name(&self, site: SiteId) -> &str {
        self.site_names
            .get(&site)
            .map(String::as_str)
            .unwrap_or("unknown")
    }

    /// The policy name for generated names and descriptions (`mosip-hybrid`).
    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// A human name for the object an atom's group stands for.
    pub fn atom_title(&self, atom: AtomId) -> String {
        let a = &self.ir.atoms[atom];
        match &a.service {
            Some(_) => format!("service {}", a.name),
            None => format!("zone {}, members in none of its services", a.name),
        }
    }

    /// The `file:line` list of `allows`, as a rule description of at most `max`
    /// characters, keeping only characters `ok` accepts (others become `_`):
    /// as many locations as fit, then `(+N more)`.
    pub fn describe(&self, allows: &[AllowId], max: usize, ok: fn(char) -> bool) -> String {
        let locs: Vec<&str> = allows.iter().map(|a| self.ir.allows[*a].cite.as_str()).collect();
        fit_locs(format!("moat {}: allow ", self.policy()), &locs, max, ok)
    }

    /// The properties of a site that become Terraform variables: every declared
    /// property, plus `required` ones (without a default) the target needs.
    pub fn site_vars(&self, site: SiteId, required: &[&str]) -> BTreeMap<String, Variable> {
        let s = &self.ir.sites[site];
        let mut out = BTreeMap::new();
        let keys: BTreeSet<&str> = s
            .props
            .keys()
            .map(String::as_str)
            .chain(required.iter().copied())
            .collect();
        for k in keys {
            out.insert(
                self.var_name(site, k),
                Variable {
                    r#type: "string",
                    default: s.props.get(k).map(|v| tf_literal(v)),
                    description: format!("`{k}` of site {} ({})", s.name, s.kind.as_str()),
                },
            );
        }
        out
    }

    /// The variables of every covered site ([`Plan::site_vars`]).
    pub fn variables(&self, required: &[&str]) -> BTreeMap<String, Variable> {
        self.sites
            .iter()
            .flat_map(|s| self.site_vars(*s, required))
            .collect()
    }

    /// The Terraform variable of a site property (`cloud_region`).
    pub fn var_name(&self, site: SiteId, prop: &str) -> String {
        format!("{}_{}", self.site_name(site), ident(prop))
    }

    /// `${var.cloud_region}`.
    pub fn var_ref(&self, site: SiteId, prop: &str) -> String {
        format!("${{var.{}}}", self.var_name(site, prop))
    }
}

/// A policy string as a Terraform literal: `${` and `%{` would start an
/// interpolation or directive, so they are written `$${` and `%%{`.
pub fn tf_literal(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

/// A Terraform input variable.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Variable {
    pub r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    pub description: String,
}

/// A Terraform JSON file (`main.tf.json`): `P` is the provider block, `R`
/// the target's resources by type, `L` its locals (`()` for none).
#[derive(Debug, Serialize)]
pub struct TfFile<P: Serialize, R: Serialize, L: Serialize = ()> {
    #[serde(rename = "//")]
    pub comment: String,
    pub terraform: TerraformBlock,
    pub variable: BTreeMap<String, Variable>,
    pub provider: BTreeMap<&'static str, Vec<P>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locals: Option<L>,
    pub resource: R,
    pub output: BTreeMap<&'static str, TfOutput>,
}

impl<P: Serialize, R: Serialize, L: Serialize> TfFile<P, R, L> {
    /// A file for `provider` (`aws`), with the usual header comment.
    pub fn new(
        plan: &Plan,
        provider: (&'static str, &'static str, &'static str),
        providers: Vec<P>,
        resource: R,
    ) -> Self {
        TfFile {
            comment: format!("Generated by moat from policy `{}`; do not edit.", plan.ir.name),
            terraform: TerraformBlock::one(provider.0, provider.1, provider.2),
            variable: BTreeMap::new(),
            provider: BTreeMap::from([(provider.0, providers)]),
            locals: None,
            resource,
            output: BTreeMap::new(),
        }
    }
}

/// A Terraform output.
#[derive(Debug, Serialize)]
pub struct TfOutput {
    pub description: &'static str,
    pub value: BTreeMap<String, String>,
}

/// An artefact holding `v` as pretty JSON.
pub fn json_artefact<T: Serialize>(path: &str, v: &T) -> super::Artefact {
    super::Artefact {
        path: path.to_string(),
        contents: serde_json::to_string_pretty(v)
            .map(|s| s + "\n")
            .unwrap_or_default(),
    }
}

/// The `terraform { required_providers { ... } }` block.
#[derive(Debug, Clone, Serialize)]
pub struct TerraformBlock {
    pub required_providers: BTreeMap<&'static str, ProviderReq>,
}

/// One required provider.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderReq {
    pub source: &'static str,
    pub version: &'static str,
}

impl TerraformBlock {
    /// Requires one provider.
    pub fn one(name: &'static str, source: &'static str, version: &'static str) -> Self {
        TerraformBlock {
            required_providers: BTreeMap::from([(name, ProviderReq { source, version })]),
        }
    }
}

/// `head` and as many of `locs` as fit in `max` characters, then `(+N more)`
/// ([`Plan::describe`]); characters `ok` rejects become `_`.
fn fit_locs(mut s: String, locs: &[&str], max: usize, ok: fn(char) -> bool) -> String {
    // Characters of the description that keeps the first `keep` locations.
    let mut width = vec![s.chars().count()];
    for (i, l) in locs.iter().enumerate() {
        width.push(width[i] + l.chars().count() + if i > 0 { 2 } else { 0 });
    }
    let more = |keep: usize| {
        if keep < locs.len() {
            " (+ more)".len() + digits(locs.len() - keep)
        } else {
            0
        }
    };
    let Some(keep) = (1..=locs.len()).rev().find(|&k| width[k] + more(k) <= max) else {
        return s.chars().take(max).collect();
    };
    // Exact, or a little more when `ok` replaces wide characters: these
    // strings live until the whole file is written, so no slack.
    s.reserve_exact(locs[..keep].iter().map(|l| l.len() + 2).sum::<usize>() + more(keep));
    for (i, l) in locs[..keep].iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.extend(l.chars().map(|c| if ok(c) { c } else { '_' }));
    }
    if keep < locs.len() {
        let _ = write!(s, " (+{} more)", locs.len() - keep);
    }
    s
}

/// Decimal digits of `n`.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The addresses a rule may name for `peer`: its own, plus the holes in it
/// that belong to atoms this target covers (when such an atom's addresses of
/// one family lie wholly inside the peer's ranges). Exact all the same: a covered atom's own group
/// filters both its egress and its ingress exactly, so the rule on the other
/// side may let its addresses pass; a flow is allowed only when both sides
/// allow it. It keeps an external zone such as `internet` from splitting into
/// a prefix per hole for every cloud zone, which security group quotas and
/// rule sizes cannot afford.
fn filled(ir: &Ir, covered: &[AtomId], own: &[Prefixes], peer: AtomId) -> AddrSet {
    let a = &ir.atoms[peer].addrs;
    if a.except.is_empty() {
        return a.clone();
    }
    let inside = |n: &IpNet| a.include.iter().any(|r| r.contains(n));
    let mut fill: Vec<IpNet> = vec![];
    for c in covered {
        for p in [&own[*c].v4, &own[*c].v6] {
            if p.iter().all(inside) {
                fill.extend(p);
            }
        }
    }
    // The holes that stay: each hole the covered addresses do not fill
    // completely stays whole. Cutting the covered addresses out of it would be
    // exact too, but a cells block with addresses no zone claims would then
    // cost a prefix per cell in every rule that names the peer.
    let mut holes = vec![];
    for h in &a.except {
        if fill.iter().any(|f| f.contains(h)) {
            continue;
        }
        let within: Vec<IpNet> = fill.iter().filter(|f| h.contains(*f)).copied().collect();
        if within.is_empty() || !AddrSet::new(vec![*h], within).prefixes().is_empty() {
            holes.push(*h);
        }
    }
    AddrSet::new(a.include.clone(), holes)
}

/// Lower-case identifier from a moat name: `.` becomes `__`, other characters
/// outside `[a-z0-9_-]` become `_`; `-` becomes `_` so it reads in HCL references.
pub fn ident(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        match c {
            '.' => s.push_str("__"),
            'a'..='z' | '0'..='9' | '_' => s.push(c),
            'A'..='Z' => s.push(c.to_ascii_lowercase()),
            _ => s.push('_'),
        }
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        s.insert(0, '_');
    }
    s
}

/// Appends `_2`, `_3`, ... to names that would otherwise collide.
fn unique_names<K: Ord + Copy>(items: impl Iterator<Item = (K, String)>) -> BTreeMap<K, String> {
    let mut seen = BTreeSet::new();
    let mut out = BTreeMap::new();
    for (k, base) in items {
        let mut name = base.clone();
        let mut n = 2;
        while !seen.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        out.insert(k, name);
    }
    out
}

/// A name of at most `max` characters from `[a-z0-9-]`, starting with a letter:
/// the readable form when it fits, else a prefix of it plus a hash of the whole.
/// (The parts joined with `-`, other characters as `-`, runs of `-` as one.)
pub fn short_name<S: AsRef<str>>(parts: &[S], max: usize) -> String {
    let mut s = String::new();
    for (i, part) in parts.iter().enumerate() {
        let sep = (i > 0).then_some('-');
        for c in sep.into_iter().chain(part.as_ref().chars()) {
            let c = match c {
                'a'..='z' | '0'..='9' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '-',
            };
            if c != '-' || !(s.is_empty() || s.ends_with('-')) {
                s.push(c);
            }
        }
    }
    let s = s.trim_end_matches('-');
    let s = if s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s.to_string()
    } else {
        format!("m-{s}")
    };
    if s.len() <= max {
        return s;
    }
    let full: Vec<&str> = parts.iter().map(AsRef::as_ref).collect();
    let tail = format!("-{:08x}", fnv1a(&full.join("-")));
    let keep = max.saturating_sub(tail.len());
    format!("{}{tail}", s[..keep].trim_end_matches('-'))
}

/// Like [`short_name`] for many keys at once, guaranteeing distinct names:
/// a name that two keys would share gets a hash of its key's parts.
pub fn unique_short<K: Ord + Clone, S: AsRef<str>>(
    items: Vec<(K, Vec<S>)>,
    max: usize,
) -> BTreeMap<K, String> {
    let named: Vec<(K, Vec<S>, String)> = items
        .into_iter()
        .map(|(k, parts)| {
            let n = short_name(&parts, max);
            (k, parts, n)
        })
        .collect();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, n) in &named {
        *count.entry(n.as_str()).or_default() += 1;
    }
    let shared: BTreeSet<String> = count
        .into_iter()
        .filter(|(_, c)| *c > 1)
        .map(|(n, _)| n.to_string())
        .collect();
    named
        .into_iter()
        .map(|(k, parts, n)| {
            if !shared.contains(&n) {
                return (k, n);
            }
            let full: Vec<&str> = parts.iter().map(AsRef::as_ref).collect();
            let tail = format!("-{:08x}", fnv1a(&full.join("\u{1}")));
            let keep = max.saturating_sub(tail.len()).min(n.len());
            (k, format!("{}{tail}", n[..keep].trim_end_matches('-')))
        })
        .collect()
}

/// CloudFormation logical ids for `keys`, in order: CamelCase, at most 255
/// characters, distinct.
pub fn unique_camel(keys: Vec<String>) -> Vec<String> {
    let ids = keys.iter().enumerate().map(|(i, k)| {
        let c = camel(k);
        let c = if c.len() > 240 {
            format!("{}{:08x}", &c[..232], fnv1a(k))
        } else {
            c
        };
        (i, c)
    });
    let named = unique_names(ids);
    named.into_values().map(|n| n.replace('_', "N")).collect()
}

/// 32-bit FNV-1a: a stable, dependency-free hash for shortened names.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// CamelCase alphanumeric form of an identifier (`mz__kernel` -> `MzKernel`),
/// for CloudFormation logical ids.
pub fn camel(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The address text of a prefix for names: `10_20_0_0_16`, `fd00__64`.
pub fn net_ident(n: &IpNet) -> String {
    n.to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// One protocol and port range of a rule, as the clouds see it: `ranges` is
/// `None` for protocols without ports and for all ports of `any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtoRange {
    pub proto: Proto,
    /// `None` for protocols without ports.
    pub range: Option<PortRange>,
}

impl ProtoRange {
    /// The set this entry stands for, to find the allows it comes from.
    pub fn set(self) -> PortSet {
        match self.range {
            Some(r) => PortSet::range(self.proto, r),
            None => PortSet::proto(self.proto),
        }
    }
}

/// False for ICMP towards IPv6 ranges and ICMPv6 towards IPv4 ranges: such
/// packets cannot exist, so rules for them are left out.
pub fn fits_family(proto: Proto, v6: bool) -> bool {
    match proto {
        Proto::Icmp => !v6,
        Proto::Icmpv6 => v6,
        _ => true,
    }
}

/// Splits a non-`any` port set into one entry per protocol and range.
pub fn entries(ports: &PortSet) -> Vec<ProtoRange> {
    let mut out = vec![];
    for (proto, ranges) in ports.iter() {
        if proto.has_ports() {
            out.extend(ranges.iter().map(|r| ProtoRange {
                proto,
                range: Some(*r),
            }));
        } else {
            out.push(ProtoRange { proto, range: None });
        }
    }
    out
}

/// A diagnostic at each allow behind `part` of `rule`: the target cannot express it (E017).
pub fn cannot_express(plan: &Plan, rule: &Rule, part: &PortSet, why: &str, help: &str) -> Vec<Diagnostic> {
    let o = &plan.ir.atoms[rule.owner];
    rule.allows(part)
        .into_iter()
        .map(|id| {
            Diagnostic::error(
                "E017",
                plan.ir.allows[id].span,
                format!(
                    "target {} cannot express {part} for `{}`: {why}",
                    plan.target.as_str(),
                    o.name
                ),
            )
            .with_help(help.to_string())
        })
        .collect()
}

/// E017 for `Proto::Other` outside `any`: no cloud can name "every protocol
/// moat has no keyword for" except as part of all protocols.
pub fn other_protocol(plan: &Plan, rule: &Rule) -> Vec<Diagnostic> {
    let set = PortSet::proto(Proto::Other);
    cannot_express(
        plan,
        rule,
        &set,
        "only `any` can name the protocols moat has no keyword for",
        "allow `any`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_bounded() {
        assert_eq!(ident("cell2.mz.kernel"), "cell2__mz__kernel");
        assert_eq!(ident("blr-dc"), "blr_dc");
        assert_eq!(camel("cell2__mz__kernel"), "Cell2MzKernel");
        let long = short_name(
            &[
                "moat",
                "a-very-long-policy-name",
                "cell12.mz.registration-processor",
                "in",
                "cell12.dmz.registration-processor",
            ],
            63,
        );
        assert!(long.len() <= 63, "{long}");
        assert!(long
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        assert_eq!(short_name(&["moat", "mz.kernel"], 63), "moat-mz-kernel");
    }

    #[test]
    fn descriptions_keep_what_fits() {
        // The former search: every candidate length, longest first.
        fn oracle(head: &str, locs: &[&str], max: usize, ok: fn(char) -> bool) -> String {
            let locs: Vec<String> = locs
                .iter()
                .map(|l| l.chars().map(|c| if ok(c) { c } else { '_' }).collect())
                .collect();
            for keep in (1..=locs.len()).rev() {
                let mut s = head.to_string() + &locs[..keep].join(", ");
                if keep < locs.len() {
                    s += &format!(" (+{} more)", locs.len() - keep);
                }
                if s.chars().count() <= max {
                    return s;
                }
            }
            head.chars().take(max).collect()
        }
        let all: Vec<String> = (0..120).map(|i| format!("p\u{e9}licy.moat:{}", i * 37)).collect();
        let locs: Vec<&str> = all.iter().map(String::as_str).collect();
        for n in [0, 1, 2, 9, 10, 11, 99, 100, 120] {
            for max in [5, 20, 40, 140, 255, 2048] {
                let ok: fn(char) -> bool = |c| c.is_ascii();
                assert_eq!(
                    fit_locs("moat p: allow ".into(), &locs[..n], max, ok),
                    oracle("moat p: allow ", &locs[..n], max, ok),
                    "{n} {max}"
                );
            }
        }
    }

    #[test]
    fn short_names_collapse_and_hash() {
        // The former construction: join, map, collapse `--` repeatedly, trim.
        fn oracle(parts: &[&str], max: usize) -> String {
            let full = parts.join("-");
            let lower = |c: char| c.to_ascii_lowercase();
            let mut s: String = full
                .chars()
                .map(lower)
                .map(|c| {
                    if c.is_ascii_lowercase() || c.is_ascii_digit() {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            while s.contains("--") {
                s = s.replace("--", "-");
            }
            let s = s.trim_matches('-').to_string();
            let s = if s.starts_with(|c: char| c.is_ascii_lowercase()) {
                s
            } else {
                format!("m-{s}")
            };
            if s.len() <= max {
                return s;
            }
            let tail = format!("-{:08x}", fnv1a(&full));
            let keep = max.saturating_sub(tail.len());
            format!("{}{tail}", s[..keep].trim_end_matches('-'))
        }
        let cases: [&[&str]; 7] = [
            &["moat", "p", "mz.kernel"],
            &["-", "--x--", "_A_"],
            &["", "", ""],
            &["9lives", "é.é"],
            &[
                "Moat",
                "a very long policy name with spaces",
                "cell12.mz.registration-processor",
                "in",
                "cell12.dmz.x",
            ],
            &["-moat-", "-"],
            &[],
        ];
        for parts in cases {
            for max in [8, 20, 63, 80] {
                assert_eq!(short_name(parts, max), oracle(parts, max), "{parts:?} {max}");
            }
        }
    }

    #[test]
    fn colliding_names_get_suffixes() {
        let m =
            unique_names([(1, "a".to_string()), (2, "a".to_string()), (3, "a_2".to_string())].into_iter());
        let v: BTreeSet<&String> = m.values().collect();
        assert_eq!(v.len(), 3);
    }
}
