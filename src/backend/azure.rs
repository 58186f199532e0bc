//! The azure target: network security groups as Terraform JSON (`azure/main.tf.json`).
//!
//! One network security group (NSG) per zone, to attach to the zone's subnets
//! or NICs; one application security group (ASG) per atom (each service, and
//! the zone itself for members in none of its services), to put each NIC in.
//! Rules are separate `azurerm_network_security_rule` resources, never inline:
//! inbound rules have the owner's ASG as destination, outbound rules as
//! source; in-network peers by ASG, others by address prefixes, one family per
//! rule. Priorities are numbered from 100 per NSG and direction in a fixed
//! order; explicit deny-all rules at 4096 shut out Azure's defaults
//! (`AllowVnetInBound`, `AllowInternetOutBound`, ...).

use super::cloud::{self, Direction, Peer, Plan, Rule, TfFile, TfOutput};
use super::{Artefact, EmitOptions, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Ir, SiteId, ZoneId};
use crate::ports::{PortSet, Proto};
use ipnet::IpNet;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Rules per NSG (Azure's limit).
pub const MAX_RULES_PER_NSG: usize = 1000;
/// Source and destination addresses and ranges per NSG (Azure's limit).
pub const MAX_ADDRESSES_PER_NSG: usize = 4000;
/// The first allow rule's priority.
pub const FIRST_PRIORITY: u32 = 100;
/// The deny-all rules' priority: the last a user rule can have.
pub const DENY_PRIORITY: u32 = 4096;
/// Longest rule description Azure accepts.
const MAX_DESCRIPTION: usize = 140;
/// Longest rule name Azure accepts.
const MAX_NAME: usize = 80;

/// Compiles the policy to azure artefacts.
pub fn emit(ir: &Ir, _opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let plan = Plan::new(Target::Azure, ir)?;
    if plan.atoms.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![cloud::json_artefact(
        "azure/main.tf.json",
        &terraform(&plan)?,
    )])
}

#[derive(Serialize)]
struct TfProvider {
    alias: String,
    features: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct TfResources<'p> {
    azurerm_application_security_group: BTreeMap<String, Group>,
    azurerm_network_security_group: BTreeMap<String, Group>,
    azurerm_network_security_rule: BTreeMap<String, NsgRule<'p>>,
}

/// An ASG or an NSG (the NSG without inline `security_rule` blocks: its
/// rules are separate resources).
#[derive(Serialize)]
struct Group {
    provider: String,
    name: String,
    location: String,
    resource_group_name: String,
    tags: BTreeMap<String, String>,
}

#[derive(Serialize, Clone)]
struct NsgRule<'p> {
    provider: String,
    name: String,
    description: String,
    priority: u32,
    direction: &'static str,
    access: &'static str,
    protocol: &'static str,
    source_port_range: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_port_range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_port_ranges: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_address_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_address_prefixes: Option<&'p [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_application_security_group_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_address_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_address_prefixes: Option<&'p [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_application_security_group_ids: Option<Vec<String>>,
    resource_group_name: String,
    network_security_group_name: String,
}

/// How one Azure rule names its peer.
#[derive(Clone, Copy)]
enum AzPeer<'p> {
    Asg(AtomId),
    /// Every IPv4 and IPv6 address: `*`.
    Any,
    /// Prefixes of one family, as text.
    Prefixes(&'p [String]),
}

/// The parts of a rule's name, also its sort key within its NSG and direction.
type Key<'p> = Vec<Cow<'p, str>>;

/// One rule before numbering: the NSG it lives in and its sort key.
struct Pending<'p> {
    zone: ZoneId,
    dir: Direction,
    key: Key<'p>,
    allows: Vec<AllowId>,
    addresses: usize,
    rule: NsgRule<'p>,
}

fn terraform<'p>(plan: &'p Plan) -> Result<TfFile<TfProvider, TfResources<'p>>, Vec<Diagnostic>> {
    let providers = plan
        .sites
        .iter()
        .map(|s| TfProvider {
            alias: plan.site_name(*s).to_string(),
            features: BTreeMap::new(),
        })
        .collect();
    let mut res = TfResources {
        azurerm_application_security_group: BTreeMap::new(),
        azurerm_network_security_group: BTreeMap::new(),
        azurerm_network_security_rule: BTreeMap::new(),
    };
    let mut asg_ids = BTreeMap::new();
    for a in &plan.atoms {
        let atom = &plan.ir.atoms[*a];
        let asg = group(
            plan,
            plan.ir.zones[atom.zone].site,
            &atom.name,
            ("moat-atom", &atom.name),
        );
        res.azurerm_application_security_group
            .insert(plan.name(*a).to_string(), asg);
        asg_ids.insert(atom.name.clone(), asg_ref(plan, *a));
    }
    for z in &plan.zones {
        let zone = &plan.ir.zones[*z];
        res.azurerm_network_security_group.insert(
            nsg_key(plan, *z),
            group(plan, zone.site, &zone.name, ("moat-zone", &zone.name)),
        );
    }
    let mut pending = vec![];
    let mut errs = vec![];
    for r in &plan.rules {
        match rules(plan, r) {
            Ok(v) => pending.extend(v),
            Err(e) => errs.extend(e),
        }
    }
    errs.extend(limits(plan, &pending));
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        return Err(errs);
    }
    number(plan, pending, &mut res.azurerm_network_security_rule);
    let mut file = TfFile::new(plan, ("azurerm", "hashicorp/azurerm", ">= 3.0"), providers, res);
    file.variable = plan.variables(&["region", "resource_group"]);
    let description = "The ASG to put each kind of NIC in, by moat atom";
    file.output.insert(
        "application_security_group_ids",
        TfOutput {
            description,
            value: asg_ids,
        },
    );
    Ok(file)
}

/// An ASG or NSG named `moat-<policy>-<name>` at `site`, tagged with what it is for.
fn group(plan: &Plan, site: SiteId, name: &str, tag: (&str, &str)) -> Group {
    Group {
        provider: provider(plan, site),
        name: format!("moat-{}-{name}", plan.policy()),
        location: plan.var_ref(site, "region"),
        resource_group_name: plan.var_ref(site, "resource_group"),
        tags: BTreeMap::from([
            ("moat-policy".to_string(), plan.ir.name.clone()),
            (tag.0.to_string(), tag.1.to_string()),
        ]),
    }
}

fn provider(plan: &Plan, site: SiteId) -> String {
    format!("azurerm.{}", plan.site_name(site))
}

fn asg_ref(plan: &Plan, atom: AtomId) -> String {
    format!("${{azurerm_application_security_group.{}.id}}", plan.name(atom))
}

fn nsg_key(plan: &Plan, zone: ZoneId) -> String {
    plan.name(plan.ir.zones[zone].remainder).to_string()
}

/// The Azure rules of one plan rule: per peer family, one per protocol.
fn rules<'p>(plan: &'p Plan, r: &Rule) -> Result<Vec<Pending<'p>>, Vec<Diagnostic>> {
    let peers: Vec<(AzPeer, Option<bool>)> = match &r.peer {
        Peer::Local(a) => vec![(AzPeer::Asg(*a), None)],
        Peer::Ranges(a) => match plan.ranges(*a) {
            p if is_everything(&p.v4, &p.v6) && icmp_symmetric(r.ports) => vec![(AzPeer::Any, None)],
            p => [false, true]
                .into_iter()
                .map(|v6| (p.family(v6).1, v6))
                .filter(|(n, _)| !n.is_empty())
                .map(|(n, v6)| (AzPeer::Prefixes(n), Some(v6)))
                .collect(),
        },
    };
    let zone = plan.ir.atoms[r.owner].zone;
    let site = plan.ir.zones[zone].site;
    let mut out = vec![];
    for (peer, fam) in peers {
        for (protocol, ports, part) in protocols(plan, r, fam)? {
            let allows = r.allows(&part);
            let own = AzPeer::Asg(r.owner);
            let (src, dst) = match r.dir {
                Direction::Ingress => (&peer, &own),
                Direction::Egress => (&own, &peer),
            };
            let mut rule = NsgRule {
                provider: provider(plan, site),
                name: String::new(),
                description: plan.describe(&allows, MAX_DESCRIPTION, |_| true),
                priority: 0,
                direction: if r.dir == Direction::Ingress {
                    "Inbound"
                } else {
                    "Outbound"
                },
                access: "Allow",
                protocol,
                source_port_range: "*",
                destination_port_range: None,
                destination_port_ranges: None,
                source_address_prefix: None,
                source_address_prefixes: None,
                source_application_security_group_ids: None,
                destination_address_prefix: None,
                destination_address_prefixes: None,
                destination_application_security_group_ids: None,
                resource_group_name: plan.var_ref(site, "resource_group"),
                network_security_group_name: format!(
                    "${{azurerm_network_security_group.{}.name}}",
                    nsg_key(plan, zone)
                ),
            };
            match ports {
                None => rule.destination_port_range = Some("*".into()),
                Some(mut p) if p.len() == 1 => rule.destination_port_range = p.pop(),
                Some(p) => rule.destination_port_ranges = Some(p),
            }
            let addresses = set_end(plan, &mut rule, src, true) + set_end(plan, &mut rule, dst, false);
            let fam_name = match (fam, &peer) {
                (None, AzPeer::Any) => "any",
                (None, _) => "asg",
                (Some(false), _) => "v4",
                (Some(true), _) => "v6",
            };
            let key = vec![
                Cow::Borrowed(plan.ir.atoms[r.owner].name.as_str()),
                r.dir.short().into(),
                plan.ir.atoms[r.peer.atom()].name.as_str().into(),
                fam_name.into(),
                protocol.to_lowercase().replace('*', "all").into(),
            ];
            out.push(Pending {
                zone,
                dir: r.dir,
                key,
                allows,
                addresses,
                rule,
            });
        }
    }
    Ok(out)
}

/// True when the prefixes are every address of both families: Azure's `*`.
fn is_everything(v4: &[IpNet], v6: &[IpNet]) -> bool {
    let all = |v: &[IpNet]| v.len() == 1 && v[0].prefix_len() == 0;
    all(v4) && all(v6)
}

/// True when the set has both ICMP and ICMPv6 or neither, so Azure's `Icmp`
/// towards both families says exactly that.
fn icmp_symmetric(ports: &PortSet) -> bool {
    ports.get(Proto::Icmp).is_some() == ports.get(Proto::Icmpv6).is_some()
}

/// The address Azure's load-balancer health probes come from (the host's
/// virtual IP, docs/cloud.md "Health probes"): a source of exactly this
/// address is written as the service tag [`AZURE_LB_TAG`].
pub const AZURE_LB_PROBE: &str = "168.63.129.16/32";
/// The service tag that stands for [`AZURE_LB_PROBE`] in an NSG rule.
pub const AZURE_LB_TAG: &str = "AzureLoadBalancer";

/// Fills the source (or destination) of a rule; returns how many addresses it uses.
fn set_end<'p>(plan: &Plan, rule: &mut NsgRule<'p>, end: &AzPeer<'p>, source: bool) -> usize {
    match (end, source) {
        (AzPeer::Asg(a), true) => rule.source_application_security_group_ids = Some(vec![asg_ref(plan, *a)]),
        (AzPeer::Asg(a), false) => {
            rule.destination_application_security_group_ids = Some(vec![asg_ref(plan, *a)])
        }
        (AzPeer::Any, true) => rule.source_address_prefix = Some("*".into()),
        (AzPeer::Any, false) => rule.destination_address_prefix = Some("*".into()),
        (AzPeer::Prefixes([one]), true) if one == AZURE_LB_PROBE => {
            rule.source_address_prefix = Some(AZURE_LB_TAG.into())
        }
        (AzPeer::Prefixes([one]), true) => rule.source_address_prefix = Some(one.clone()),
        (AzPeer::Prefixes([one]), false) => rule.destination_address_prefix = Some(one.clone()),
        (AzPeer::Prefixes(n), true) => rule.source_address_prefixes = Some(n),
        (AzPeer::Prefixes(n), false) => rule.destination_address_prefixes = Some(n),
    }
    match end {
        AzPeer::Asg(_) => 0,
        AzPeer::Any => 1,
        AzPeer::Prefixes(n) => n.len(),
    }
}

type AzProto = (&'static str, Option<Vec<String>>, PortSet);

/// One (protocol, destination ports, covered set) per Azure protocol. Azure's
/// `Icmp` is ICMP and ICMPv6 alike: towards one address family it is exact,
/// towards an ASG it needs both in the policy. Azure has no SCTP.
fn protocols(plan: &Plan, r: &Rule, v6: Option<bool>) -> Result<Vec<AzProto>, Vec<Diagnostic>> {
    if r.ports.is_any() {
        return Ok(vec![("*", None, PortSet::any())]);
    }
    let mut out = vec![];
    let mut errs = vec![];
    let has = |p: Proto| r.ports.get(p).is_some();
    for (proto, ranges) in r.ports.iter() {
        if v6.is_some_and(|v6| !cloud::fits_family(proto, v6)) {
            continue;
        }
        let set = PortSet::proto(proto).intersect(r.ports);
        match proto {
            Proto::Tcp | Proto::Udp => {
                let name = if proto == Proto::Tcp { "Tcp" } else { "Udp" };
                out.push((name, Some(ranges.iter().map(ToString::to_string).collect()), set));
            }
            Proto::Icmp | Proto::Icmpv6 if v6.is_some() => out.push(("Icmp", None, set)),
            Proto::Icmp if has(Proto::Icmpv6) => {
                out.push(("Icmp", None, set.union(&PortSet::proto(Proto::Icmpv6))));
            }
            Proto::Icmpv6 if has(Proto::Icmp) => {}
            Proto::Icmp | Proto::Icmpv6 => errs.extend(cloud::cannot_express(
                plan,
                r,
                &set,
                "Azure's `Icmp` matches ICMP and ICMPv6 together, and this peer is named by application security group",
                "allow both `icmp` and `icmpv6`, or give the peer addresses of one family",
            )),
            Proto::Sctp => errs.extend(cloud::cannot_express(
                plan,
                r,
                &set,
                "Azure network security groups have no SCTP protocol",
                "allow `any` between these endpoints, or enforce SCTP elsewhere",
            )),
            Proto::Other => errs.extend(cloud::other_protocol(plan, r)),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// E013 for every NSG over Azure's rule or address limits.
fn limits(plan: &Plan, pending: &[Pending]) -> Vec<Diagnostic> {
    let mut per: BTreeMap<ZoneId, (usize, usize, Vec<AllowId>)> = BTreeMap::new();
    for p in pending {
        let e = per.entry(p.zone).or_default();
        e.0 += 1;
        e.1 += p.addresses;
        e.2.extend(&p.allows);
    }
    let mut out = vec![];
    for (zone, (rules, addresses, mut allows)) in per {
        let rules = rules + 2; // and the two deny-all rules
        let z = &plan.ir.zones[zone];
        let name = format!("moat-{}-{}", plan.policy(), z.name);
        let msg = if rules > MAX_RULES_PER_NSG {
            format!("network security group `{name}` (zone `{}`) needs {rules} rules; Azure allows {MAX_RULES_PER_NSG} per group", z.name)
        } else if addresses > MAX_ADDRESSES_PER_NSG {
            format!(
                "network security group `{name}` (zone `{}`) names {addresses} addresses and ranges; Azure allows {MAX_ADDRESSES_PER_NSG} per group",
                z.name
            )
        } else {
            continue;
        };
        allows.sort_unstable();
        allows.dedup();
        let mut d = Diagnostic::error("E013", z.span, msg).with_help(
            "use fewer port ranges or fewer peer address ranges (name whole zones rather than many services), \
             or split the zone",
        );
        for id in allows {
            d = d.with_label(plan.ir.allows[id].span, "contributes rules to this group");
        }
        out.push(d);
    }
    out
}

/// Names and numbers the rules per NSG and direction, adds the deny-all
/// rules at 4096, and stores them by resource name.
///
/// The allow rules' order does not matter (they only allow, above the
/// deny-all), so a rule's priority comes from a hash of its key: 100 + the
/// hash modulo the 3996 priorities below the deny-all, or the next free one
/// when taken (rules in key order). Adding or removing a rule then leaves the
/// other rules' priorities as they were, except where two hashes collide.
fn number<'p>(plan: &'p Plan, mut pending: Vec<Pending<'p>>, out: &mut BTreeMap<String, NsgRule<'p>>) {
    pending.sort_by(|a, b| (a.zone, a.dir, &a.key).cmp(&(b.zone, b.dir, &b.key)));
    let slots = DENY_PRIORITY - FIRST_PRIORITY;
    let mut taken: BTreeMap<(ZoneId, Direction), std::collections::BTreeSet<u32>> = BTreeMap::new();
    let mut all: Vec<(Key, NsgRule)> = vec![];
    for p in pending {
        let used = taken.entry((p.zone, p.dir)).or_default();
        let text: Vec<&str> = p.key.iter().map(|k| k.as_ref()).collect();
        let mut n = (crate::analysis::cache::hash(text.join("\u{1f}").as_bytes()) % u64::from(slots)) as u32;
        // E013 keeps an NSG at MAX_RULES_PER_NSG rules, far fewer than the
        // slots; the bound only makes the search finite whatever the input.
        let mut probes = 0;
        while used.contains(&n) && probes < slots {
            n = (n + 1) % slots;
            probes += 1;
        }
        used.insert(n);
        let mut rule = p.rule;
        rule.priority = FIRST_PRIORITY + n;
        all.push((p.key, rule));
    }
    for z in &plan.zones {
        for dir in [Direction::Ingress, Direction::Egress] {
            all.push(deny_all(plan, *z, dir));
        }
    }
    let names = cloud::unique_short(
        all.iter_mut()
            .enumerate()
            .map(|(i, (k, _))| (i, std::mem::take(k)))
            .collect(),
        MAX_NAME,
    );
    for (i, (_, mut rule)) in all.into_iter().enumerate() {
        let name = names.get(&i).cloned().unwrap_or_default();
        rule.name = name.clone();
        let zone = rule.network_security_group_name.clone();
        let zone = zone
            .trim_start_matches("${azurerm_network_security_group.")
            .trim_end_matches(".name}");
        out.insert(format!("{zone}__{}", name.replace('-', "_")), rule);
    }
}

/// The deny-all rule of one NSG and direction.
fn deny_all<'p>(plan: &'p Plan, zone: ZoneId, dir: Direction) -> (Key<'p>, NsgRule<'p>) {
    let site = plan.ir.zones[zone].site;
    let (direction, word) = match dir {
        Direction::Ingress => ("Inbound", "inbound"),
        Direction::Egress => ("Outbound", "outbound"),
    };
    let rule = NsgRule {
        provider: provider(plan, site),
        name: String::new(),
        description: format!("moat {}: deny all other {word} traffic", plan.policy()),
        priority: DENY_PRIORITY,
        direction,
        access: "Deny",
        protocol: "*",
        source_port_range: "*",
        destination_port_range: Some("*".into()),
        destination_port_ranges: None,
        source_address_prefix: Some("*".into()),
        source_address_prefixes: None,
        source_application_security_group_ids: None,
        destination_address_prefix: Some("*".into()),
        destination_address_prefixes: None,
        destination_application_security_group_ids: None,
        resource_group_name: plan.var_ref(site, "resource_group"),
        network_security_group_name: format!(
            "${{azurerm_network_security_group.{}.name}}",
            nsg_key(plan, zone)
        ),
    };
    (
        vec![
            plan.ir.zones[zone].name.as_str().into(),
            "deny-all".into(),
            dir.short().into(),
        ],
        rule,
    )
}
