//! The gcp target: VPC firewall rules as Terraform JSON (`gcp/main.tf.json`).
//!
//! Every instance moat covers carries two network tags: the policy's tag and
//! the tag of its atom (its service, or its zone when it is in no service).
//! Ingress rules target an atom's tag and name in-network peers by
//! `source_tags`, others by `source_ranges`; egress rules target an atom's tag
//! and name every peer by `destination_ranges` (GCP egress rules cannot name
//! tags). A rule holds IPv4 or IPv6 ranges, never both. Below all of them, at
//! priority 65534, deny-all ingress and egress rules for the policy's tag.

use super::cloud::{self, Direction, Peer, Plan, Prefixes, Rule, TfFile, TfOutput};
use super::{Artefact, EmitOptions, Target};
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir, SiteId};
use crate::ports::{PortSet, Proto};
use ipnet::IpNet;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The priority of every allow rule. Rules only allow, except the deny-all
/// rules below them, so one priority is enough and stays stable across edits.
pub const ALLOW_PRIORITY: u32 = 1000;
/// The priority of the deny-all rules: the lowest a rule can have above GCP's
/// implied rules (65535).
pub const DENY_PRIORITY: u32 = 65534;
/// GCP names (rules, tags): `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
const MAX_NAME: usize = 63;

/// Compiles the policy to gcp artefacts.
pub fn emit(ir: &Ir, _opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let plan = Plan::new(Target::Gcp, ir)?;
    if plan.atoms.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![cloud::json_artefact("gcp/main.tf.json", &terraform(&plan)?)])
}

#[derive(Serialize)]
struct TfProvider {
    alias: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
}

/// The tags to put on instances, so that users and tests can find them.
#[derive(Serialize)]
struct Locals {
    /// The tag every moat-covered instance carries.
    moat_policy_tag: String,
    /// The tag of each atom, by atom name.
    moat_tags: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct TfResources<'p> {
    google_compute_firewall: BTreeMap<String, Firewall<'p>>,
}

#[derive(Serialize)]
struct Firewall<'p> {
    provider: String,
    name: String,
    network: String,
    description: String,
    direction: &'static str,
    priority: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allow: Vec<ProtoPorts>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    deny: Vec<ProtoPorts>,
    target_tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_ranges: Option<Cow<'p, [String]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_ranges: Option<Cow<'p, [String]>>,
}

#[derive(Serialize, Clone)]
struct ProtoPorts {
    protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<Vec<String>>,
}

/// How one firewall rule names its peer.
enum GcpPeer<'p> {
    Tag(AtomId),
    Ranges {
        v6: bool,
        nets: &'p [IpNet],
        text: &'p [String],
    },
}

/// The network tags moat gives instances: the policy's tag, and each covered
/// atom's tag (the live reader finds atoms by them too).
pub fn network_tags(plan: &Plan) -> (String, BTreeMap<AtomId, String>) {
    let policy_tag = cloud::short_name(&["moat", plan.policy()], MAX_NAME);
    let tags = cloud::unique_short(
        plan.atoms
            .iter()
            .map(|a| (*a, vec!["moat", plan.policy(), plan.ir.atoms[*a].name.as_str()]))
            .collect(),
        MAX_NAME,
    );
    (policy_tag, tags)
}

/// The parts of a generated name, joined by [`cloud::short_name`].
type NameParts<'p> = Vec<&'p str>;

fn terraform<'p>(plan: &'p Plan) -> Result<TfFile<TfProvider, TfResources<'p>, Locals>, Vec<Diagnostic>> {
    let (policy_tag, tags) = network_tags(plan);
    let tag = |a: AtomId| tags.get(&a).cloned().unwrap_or_default();
    let providers = plan
        .sites
        .iter()
        .map(|s| {
            let opt = |k: &str| {
                plan.ir.sites[*s]
                    .props
                    .contains_key(k)
                    .then(|| plan.var_ref(*s, k))
            };
            TfProvider {
                alias: plan.site_name(*s).to_string(),
                project: opt("project"),
                region: opt("region"),
            }
        })
        .collect();
    let mut rules: Vec<(NameParts, Firewall)> = vec![];
    let mut errs = vec![];
    for r in &plan.rules {
        match firewalls(plan, r, &tag) {
            Ok(v) => rules.extend(v),
            Err(e) => errs.extend(e),
        }
    }
    for s in &plan.sites {
        for dir in [Direction::Ingress, Direction::Egress] {
            for all in ["0.0.0.0/0", "::/0"] {
                rules.push(deny_all(plan, *s, dir, all, &policy_tag));
            }
        }
    }
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        return Err(errs);
    }
    let names = cloud::unique_short(
        rules
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (i, k.clone()))
            .collect(),
        MAX_NAME,
    );
    let mut firewall = BTreeMap::new();
    for (i, (_, mut fw)) in rules.into_iter().enumerate() {
        let name = names.get(&i).cloned().unwrap_or_default();
        fw.name = name.clone();
        firewall.insert(name.replace('-', "_"), fw);
    }
    let moat_tags: BTreeMap<String, String> = plan
        .atoms
        .iter()
        .map(|a| (plan.ir.atoms[*a].name.clone(), tag(*a)))
        .collect();
    let mut file = TfFile::new(
        plan,
        ("google", "hashicorp/google", ">= 5.0"),
        providers,
        TfResources {
            google_compute_firewall: firewall,
        },
    );
    file.variable = plan.variables(&["network"]);
    file.locals = Some(Locals {
        moat_policy_tag: policy_tag,
        moat_tags: moat_tags.clone(),
    });
    let description = "Network tags per moat atom; every covered instance also carries local.moat_policy_tag";
    file.output.insert(
        "network_tags",
        TfOutput {
            description,
            value: moat_tags,
        },
    );
    Ok(file)
}

fn site_of(plan: &Plan, atom: AtomId) -> SiteId {
    plan.ir.zone_of(atom).site
}

/// The firewall rules for one plan rule (one per address family for ranges),
/// each with the parts of its name.
fn firewalls<'p>(
    plan: &'p Plan,
    r: &Rule,
    tag: &dyn Fn(AtomId) -> String,
) -> Result<Vec<(NameParts<'p>, Firewall<'p>)>, Vec<Diagnostic>> {
    let by_family = |p: &'p Prefixes| {
        [false, true].map(|v6| {
            let (nets, text) = p.family(v6);
            GcpPeer::Ranges { v6, nets, text }
        })
    };
    let peers = match (&r.peer, r.dir) {
        (Peer::Local(a), Direction::Ingress) => vec![GcpPeer::Tag(*a)],
        (Peer::Local(a), Direction::Egress) => {
            let own = plan.own_prefixes(*a);
            if own.v4.is_empty() && own.v6.is_empty() {
                return Err(no_egress_addresses(plan, r));
            }
            by_family(own).into()
        }
        (Peer::Ranges(a), _) => by_family(plan.ranges(*a)).into(),
    };
    let owner = site_of(plan, r.owner);
    let mut out = vec![];
    for p in peers {
        let fam = match &p {
            GcpPeer::Tag(_) => None,
            GcpPeer::Ranges { nets: [], .. } => continue,
            GcpPeer::Ranges { v6, .. } => Some(*v6),
        };
        let (allow, part) = protocols(plan, r, fam)?;
        if allow.is_empty() {
            continue;
        }
        let mut fw = Firewall {
            provider: format!("google.{}", plan.site_name(owner)),
            name: String::new(),
            network: plan.var_ref(owner, "network"),
            description: plan.describe(&r.allows(&part), 2048, |_| true),
            direction: if r.dir == Direction::Ingress {
                "INGRESS"
            } else {
                "EGRESS"
            },
            priority: ALLOW_PRIORITY,
            allow,
            deny: vec![],
            target_tags: vec![tag(r.owner)],
            source_tags: None,
            source_ranges: None,
            destination_ranges: None,
        };
        let fam_name = match &p {
            GcpPeer::Tag(a) => {
                fw.source_tags = Some(vec![tag(*a)]);
                "tag"
            }
            GcpPeer::Ranges { v6, text, .. } => {
                let list = Some(Cow::Borrowed(*text));
                match r.dir {
                    Direction::Ingress => fw.source_ranges = list,
                    Direction::Egress => fw.destination_ranges = list,
                }
                if *v6 {
                    "v6"
                } else {
                    "v4"
                }
            }
        };
        let key = vec![
            "moat",
            plan.policy(),
            &plan.ir.atoms[r.owner].name,
            r.dir.short(),
            &plan.ir.atoms[r.peer.atom()].name,
            fam_name,
        ];
        out.push((key, fw));
    }
    Ok(out)
}

/// The allow blocks of a rule for one address family (`None`: a tag peer,
/// both families), and the ports they cover.
fn protocols(plan: &Plan, r: &Rule, v6: Option<bool>) -> Result<(Vec<ProtoPorts>, PortSet), Vec<Diagnostic>> {
    if r.ports.is_any() {
        return Ok((
            vec![ProtoPorts {
                protocol: "all",
                ports: None,
            }],
            PortSet::any(),
        ));
    }
    let mut out = vec![];
    let mut part = PortSet::empty();
    for (proto, ranges) in r.ports.iter() {
        if v6.is_some_and(|v6| !cloud::fits_family(proto, v6)) {
            continue;
        }
        let protocol = match proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
            Proto::Icmp => "icmp",
            // GCP names ICMPv6 by its protocol number.
            Proto::Icmpv6 => "58",
            Proto::Other => return Err(cloud::other_protocol(plan, r)),
        };
        let ports = proto
            .has_ports()
            .then(|| ranges.iter().map(ToString::to_string).collect());
        out.push(ProtoPorts { protocol, ports });
        for rg in ranges {
            part.union_with(&PortSet::range(proto, *rg));
        }
        if !proto.has_ports() {
            part.union_with(&PortSet::proto(proto));
        }
    }
    Ok((out, part))
}

/// E012: a GCP egress rule can name its destination only by address.
fn no_egress_addresses(plan: &Plan, r: &Rule) -> Vec<Diagnostic> {
    let (o, p) = (&plan.ir.atoms[r.owner], &plan.ir.atoms[r.peer.atom()]);
    r.flow
        .allow_ids()
        .into_iter()
        .map(|id| {
            Diagnostic::error(
                "E012",
                plan.ir.allows[id].span,
                format!("target gcp cannot express the flow from `{}` to `{}`: GCP egress rules name destinations only by address, and `{}` has none", o.name, p.name, p.name),
            )
            .with_label(p.span, format!("`{}` is declared here", p.name))
            .with_help(format!("give `{}` addresses (`cidr` on its zone or `hosts` on the service)", p.name))
        })
        .collect()
}

/// The deny-all rule of one network, direction and address family (`all` is
/// `0.0.0.0/0` or `::/0`), below every allow.
fn deny_all<'p>(
    plan: &'p Plan,
    site: SiteId,
    dir: Direction,
    all: &str,
    policy_tag: &str,
) -> (NameParts<'p>, Firewall<'p>) {
    let list = || Some(Cow::Owned(vec![all.to_string()]));
    let (direction, ranges) = match dir {
        Direction::Ingress => ("INGRESS", (list(), None)),
        Direction::Egress => ("EGRESS", (None, list())),
    };
    let fam = if all.contains(':') { "v6" } else { "v4" };
    let fw = Firewall {
        provider: format!("google.{}", plan.site_name(site)),
        name: String::new(),
        network: plan.var_ref(site, "network"),
        description: format!(
            "moat {}: deny everything the policy does not allow ({direction}, {all})",
            plan.policy()
        ),
        direction,
        priority: DENY_PRIORITY,
        allow: vec![],
        deny: vec![ProtoPorts {
            protocol: "all",
            ports: None,
        }],
        target_tags: vec![policy_tag.to_string()],
        source_tags: None,
        source_ranges: ranges.0,
        destination_ranges: ranges.1,
    };
    let key = vec![
        "moat",
        plan.policy(),
        &plan.ir.sites[site].name,
        "deny",
        dir.short(),
        fam,
    ];
    (key, fw)
}
