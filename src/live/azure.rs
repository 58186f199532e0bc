//! `azure`: the output of `az network nsg list` (each network security group
//! with its `securityRules`, flattened as the CLI prints them, or under
//! `properties` as the REST API does).
//!
//! Which atoms sit behind an NSG: its `moat-zone` tag (moat's NSGs are one per
//! zone), or its name `moat-<policy>-<zone>`. An application security group
//! stands for the atom whose ASG moat names `moat-<policy>-<atom>` (the last
//! part of its id). Rules are taken by ascending priority; the first that
//! matches decides; then Azure's default rules: the virtual network (the
//! atoms at the same site) in, everything out. Service tags: `*`, `Any` and
//! `Internet` as every address (`Internet` is all outside the virtual
//! network; no moat atom is told apart by it), `VirtualNetwork` as the
//! atoms at the NSG's site, `AzureLoadBalancer` as the health probes'
//! address 168.63.129.16/32. Not modelled (W015, each taken as letting more
//! through, never less): other service tags and unknown ASGs (an allow is
//! taken to match everyone, a deny no one), source port ranges (an allow
//! is taken as every source port, a deny as matching nothing), protocols
//! other than Tcp, Udp, Icmp (an allow taken as `other`, a deny as matching nothing).

use super::cloud::{self, CRule, Dir, Firewall, Sel};
use super::parse::{self, Spanned};
use super::{Evaluated, LiveInput, LiveRule};
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir, SiteKind};
use crate::ports::{PortRange, PortSet, Proto};
use crate::span::SourceMap;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const WHAT: &str = "`az network nsg list --output json`";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Nsg {
    name: String,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    security_rules: Option<Vec<Spanned<Rule>>>,
    properties: Option<NsgProps>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NsgProps {
    #[serde(default)]
    security_rules: Vec<Spanned<Rule>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    name: String,
    properties: Option<Box<Rule>>,
    priority: Option<i64>,
    direction: Option<String>,
    access: Option<String>,
    protocol: Option<String>,
    source_address_prefix: Option<String>,
    #[serde(default)]
    source_address_prefixes: Vec<String>,
    destination_address_prefix: Option<String>,
    #[serde(default)]
    destination_address_prefixes: Vec<String>,
    source_port_range: Option<String>,
    #[serde(default)]
    source_port_ranges: Vec<String>,
    destination_port_range: Option<String>,
    #[serde(default)]
    destination_port_ranges: Vec<String>,
    #[serde(default)]
    source_application_security_groups: Vec<Id>,
    #[serde(default)]
    destination_application_security_groups: Vec<Id>,
}

#[derive(Deserialize)]
struct Id {
    #[serde(default)]
    id: String,
}

/// The [`super::Reader`] of `azure`.
pub fn read(ir: &Ir, sources: &SourceMap, inputs: &[&LiveInput]) -> Evaluated {
    let mut errs = vec![];
    let mut warns = vec![];
    let mut nsgs: Vec<(&LiveInput, Spanned<Nsg>)> = vec![];
    for input in inputs {
        match parse::documents::<Vec<Spanned<Nsg>>>(sources, input, WHAT) {
            Ok(docs) => nsgs.extend(docs.into_iter().flatten().map(|n| (*input, n))),
            Err(d) => errs.push(d),
        }
    }
    let group_name = |name: &str| format!("moat-{}-{name}", plan_policy(ir));
    let asgs: BTreeMap<String, AtomId> = (0..ir.atoms.len())
        .filter(|a| ir.site_of(*a).kind == SiteKind::Azure)
        .map(|a| (group_name(&ir.atoms[a].name).to_ascii_lowercase(), a))
        .collect();
    let zones_by_name: BTreeMap<String, &str> = ir
        .zones
        .iter()
        .map(|z| (group_name(&z.name).to_ascii_lowercase(), z.name.as_str()))
        .collect();
    let mut placed: BTreeSet<AtomId> = BTreeSet::new();
    let mut rules = vec![];
    for (input, nsg) in &nsgs {
        let zone = nsg
            .value
            .tags
            .as_ref()
            .and_then(|t| t.get("moat-zone"))
            .map(String::as_str)
            .or_else(|| zones_by_name.get(&nsg.value.name.to_ascii_lowercase()).copied());
        let members: BTreeSet<AtomId> = zone.map(|z| cloud::zone_atoms(ir, z)).unwrap_or_default();
        if members.is_empty() {
            warns.push(
                Diagnostic::warning(
                    parse::W_UNPLACED,
                    parse::span_at(sources, input, &nsg.referenced),
                    format!(
                        "network security group `{}` has no `moat-zone` tag and no name moat gives a zone; its rules apply to no atom",
                        nsg.value.name
                    ),
                )
                .with_help("tag the NSG `moat-zone = <zone>` to say whose instances it guards"),
            );
            continue;
        }
        placed.extend(&members);
        let site_atoms: BTreeSet<AtomId> = members
            .iter()
            .flat_map(|m| {
                let site = ir.zone_of(*m).site;
                (0..ir.atoms.len()).filter(move |a| ir.zone_of(*a).site == site)
            })
            .collect();
        let ctx = Ctx {
            ir,
            sources,
            input,
            nsg: &nsg.value.name,
            asgs: &asgs,
            members: &members,
            site_atoms: &site_atoms,
        };
        let list = nsg
            .value
            .security_rules
            .iter()
            .flatten()
            .chain(nsg.value.properties.iter().flat_map(|p| p.security_rules.iter()));
        for r in list {
            match ctx.rule(r, &mut warns) {
                Ok(Some(r)) => rules.push(r),
                Ok(None) => {}
                Err(d) => errs.extend(d),
            }
        }
    }
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        return Err(errs);
    }
    let azure = cloud::covered(ir, SiteKind::Azure);
    warns.extend(parse::unplaced(
        ir,
        inputs,
        azure.iter().copied().filter(|a| !placed.contains(a)),
        "no network security group",
        "only Azure's default rules apply to them",
    ));
    let sites: Vec<usize> = (0..ir.atoms.len()).map(|a| ir.zone_of(a).site).collect();
    let defaults = move |o: AtomId, p: AtomId, d: Dir| d == Dir::Out || sites[o] == sites[p];
    let fw = Firewall {
        kind: SiteKind::Azure,
        rules,
        default: &defaults,
    };
    Ok((fw.evaluate(ir), warns))
}

/// The policy part of the names moat gives Azure groups (`moat-<policy>-...`).
fn plan_policy(ir: &Ir) -> String {
    crate::backend::cloud::Plan::new(crate::backend::Target::Azure, ir)
        .map(|p| p.policy().to_string())
        .unwrap_or_else(|_| ir.name.clone())
}

struct Ctx<'a> {
    ir: &'a Ir,
    sources: &'a SourceMap,
    input: &'a LiveInput,
    nsg: &'a str,
    asgs: &'a BTreeMap<String, AtomId>,
    members: &'a BTreeSet<AtomId>,
    site_atoms: &'a BTreeSet<AtomId>,
}

impl Ctx<'_> {
    fn rule(&self, r: &Spanned<Rule>, warns: &mut Vec<Diagnostic>) -> Result<Option<CRule>, Vec<Diagnostic>> {
        let (sources, input, loc) = (self.sources, self.input, &r.referenced);
        // The REST shape keeps the fields under `properties`.
        let name = &r.value.name;
        let rule: &Rule = r.value.properties.as_deref().unwrap_or(&r.value);
        let mut errs = vec![];
        let bad = |m: String, help: &str| {
            parse::bad_value(
                sources,
                input,
                loc,
                format!("NSG `{}` rule `{name}`: {m}", self.nsg),
                help,
            )
        };
        let dir = match rule.direction.as_deref() {
            Some("Inbound") => Dir::In,
            Some("Outbound") => Dir::Out,
            other => {
                return Err(vec![bad(
                    format!("direction {other:?}"),
                    "direction is Inbound or Outbound",
                )])
            }
        };
        let allow = match rule.access.as_deref() {
            Some("Allow") => true,
            Some("Deny") => false,
            other => return Err(vec![bad(format!("access {other:?}"), "access is Allow or Deny")]),
        };
        let Some(priority) = rule.priority else {
            return Err(vec![bad(
                "no priority".into(),
                "every rule has a priority, 100 to 4096",
            )]);
        };
        let source_ports: Vec<&String> = rule
            .source_port_range
            .iter()
            .chain(&rule.source_port_ranges)
            .filter(|p| p.as_str() != "*")
            .collect();
        if !source_ports.is_empty() {
            warns.push(parse::unmodelled(
                sources,
                input,
                loc,
                format_args!("source port ranges of NSG rule `{name}`"),
                if allow {
                    "the allow is taken as every source port"
                } else {
                    "the deny is taken to match nothing"
                },
            ));
            if !allow {
                return Ok(None);
            }
        }
        let (ports, what) = match ports(rule) {
            Ok(p) => p,
            Err(m) => {
                return Err(vec![bad(
                    m,
                    "ports are `*`, a number or a range such as 8000-8080",
                )])
            }
        };
        if let Some(w) = what {
            let taken = if allow {
                "the allow is taken as every other protocol"
            } else {
                "the deny is taken to match nothing"
            };
            warns.push(parse::unmodelled(sources, input, loc, w, taken));
            if !allow {
                return Ok(None);
            }
        }
        let mut end = |side: &str,
                       prefix: &Option<String>,
                       prefixes: &[String],
                       asgs: &[Id],
                       warns: &mut Vec<Diagnostic>| {
            let mut out = vec![];
            for id in asgs {
                let last = id.id.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
                match self.asgs.get(&last) {
                    Some(a) => out.push(Sel::Atoms(BTreeSet::from([*a]))),
                    None => {
                        warns.push(parse::unmodelled(
                            sources,
                            input,
                            loc,
                            format_args!("application security group `{}` ({side} of rule `{name}`)", id.id),
                            if allow {
                                "the allow is taken to match everyone"
                            } else {
                                "the deny is taken to match no one"
                            },
                        ));
                        if allow {
                            out.push(Sel::Any);
                        }
                    }
                }
            }
            for p in prefix.iter().chain(prefixes) {
                match p.as_str() {
                    "*" | "Any" => out.push(Sel::Any),
                    // Everything outside the virtual network: for a deny, exactly the other sites' atoms.
                    "Internet" if allow => out.push(Sel::Any),
                    "Internet" => out.push(Sel::Atoms(
                        (0..self.ir.atoms.len())
                            .filter(|a| !self.site_atoms.contains(a))
                            .collect(),
                    )),
                    "VirtualNetwork" => out.push(Sel::Atoms(self.site_atoms.clone())),
                    // The health probes' source: one documented address.
                    crate::backend::azure::AZURE_LB_TAG => {
                        match cloud::net(crate::backend::azure::AZURE_LB_PROBE) {
                            Some(n) => out.push(Sel::Net(n)),
                            None => out.push(Sel::Any),
                        }
                    }
                    other => match cloud::net(other) {
                        Some(n) => out.push(Sel::Net(n)),
                        None if other.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') => {
                            warns.push(parse::unmodelled(
                                sources,
                                input,
                                loc,
                                format_args!("service tag `{other}` ({side} of rule `{name}`)"),
                                if allow {
                                    "the allow is taken to match everyone"
                                } else {
                                    "the deny is taken to match no one"
                                },
                            ));
                            if allow {
                                out.push(Sel::Any);
                            }
                        }
                        None => errs.push(bad(
                            format!("`{other}` is not an address prefix or service tag"),
                            "give a CIDR, `*` or a service tag",
                        )),
                    },
                }
            }
            out
        };
        let src = end(
            "source",
            &rule.source_address_prefix,
            &rule.source_address_prefixes,
            &rule.source_application_security_groups,
            warns,
        );
        let dst = end(
            "destination",
            &rule.destination_address_prefix,
            &rule.destination_address_prefixes,
            &rule.destination_application_security_groups,
            warns,
        );
        if !errs.is_empty() {
            return Err(errs);
        }
        let (own, peers) = if dir == Dir::In { (dst, src) } else { (src, dst) };
        // The members this rule guards: named by ASG or `*`, or whose addresses the prefix holds.
        let applies: BTreeSet<AtomId> = self
            .members
            .iter()
            .copied()
            .filter(|a| {
                own.iter().any(|s| match s {
                    Sel::Any => true,
                    Sel::Atoms(set) => set.contains(a),
                    Sel::Net(n) => {
                        let addrs = super::cover::intervals(&self.ir.atoms[*a].addrs);
                        let n = super::cover::Iv::of(n);
                        let inside = !addrs.is_empty() && addrs.iter().all(|iv| iv.inside(&n));
                        let touch = addrs
                            .iter()
                            .any(|iv| iv.v6 == n.v6 && iv.lo <= n.hi && n.lo <= iv.hi);
                        // a prefix holding part of an atom: an allow applies, a deny does not
                        inside || (touch && allow)
                    }
                })
            })
            .collect();
        let side = if dir == Dir::In { "inbound" } else { "outbound" };
        let word = if allow { "allow" } else { "deny" };
        Ok(Some(CRule {
            live: LiveRule {
                span: parse::span_at(sources, input, loc),
                object: Some(format!("{}/{name}", self.nsg)),
                text: format!("{}/{name} {side} {word} {ports} priority {priority}", self.nsg),
            },
            applies,
            dir,
            peers,
            ports,
            allow,
            priority,
        }))
    }
}

/// The ports of a rule (`Icmp` is ICMP and ICMPv6 alike), and what is not modelled.
fn ports(r: &Rule) -> Result<(PortSet, Option<String>), String> {
    let ranges: Vec<&String> = r
        .destination_port_range
        .iter()
        .chain(&r.destination_port_ranges)
        .collect();
    let every_port = ranges.iter().all(|p| p.as_str() == "*");
    let protos = match r.protocol.as_deref().unwrap_or("*") {
        "*" | "Any" if every_port => return Ok((PortSet::any(), None)),
        // Any protocol on some ports: the protocols with ports Azure filters, TCP and UDP.
        "*" | "Any" => vec![Proto::Tcp, Proto::Udp],
        "Tcp" => vec![Proto::Tcp],
        "Udp" => vec![Proto::Udp],
        "Icmp" => {
            return Ok((
                PortSet::proto(Proto::Icmp).union(&PortSet::proto(Proto::Icmpv6)),
                None,
            ))
        }
        other => return Ok((PortSet::proto(Proto::Other), Some(format!("protocol `{other}`")))),
    };
    let ranges: Vec<&String> = r
        .destination_port_range
        .iter()
        .chain(&r.destination_port_ranges)
        .collect();
    let mut set = PortSet::empty();
    for p in protos {
        if ranges.is_empty() {
            set.union_with(&PortSet::proto(p));
        }
        for rg in &ranges {
            if rg.as_str() == "*" {
                set.union_with(&PortSet::proto(p));
                continue;
            }
            let (lo, hi) = rg.split_once('-').unwrap_or((rg, rg));
            match (lo.trim().parse::<u16>(), hi.trim().parse::<u16>()) {
                (Ok(lo), Ok(hi)) if lo <= hi => {
                    set.union_with(&PortSet::range(p, PortRange::new(lo.max(1), hi.max(1))))
                }
                _ => return Err(format!("`{rg}` is not a port range")),
            }
        }
    }
    Ok((set, None))
}
