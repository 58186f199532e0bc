//! The aws target: security groups as Terraform JSON (`aws/main.tf.json`) and
//! as a CloudFormation template (`aws/template.json`).
//!
//! One group per covered atom (a zone's remainder or a service), no inline
//! rules, one ingress or egress rule resource per peer and port range; peers
//! at the same site by group id, others by `cidr_ipv4` / `cidr_ipv6`.

use super::cloud::{self, Direction, Peer, Plan, Rule, TfFile, TfOutput};
use super::{Artefact, EmitOptions, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Ir, SiteId, ZoneId};
use crate::ports::{PortRange, PortSet, Proto};
use ipnet::IpNet;
use serde::Serialize;
use std::collections::BTreeMap;

/// AWS's default quota of inbound (and of outbound) rules per security
/// group, counted separately for IPv4 and IPv6.
pub const MAX_RULES_PER_FAMILY: usize = 60;

/// Longest rule and group description AWS accepts.
const MAX_DESCRIPTION: usize = 255;

/// Compiles the policy to aws artefacts.
pub fn emit(ir: &Ir, _opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let plan = Plan::new(Target::Aws, ir)?;
    if plan.atoms.is_empty() {
        return Ok(vec![]);
    }
    let rules = expand(&plan)?;
    Ok(vec![
        cloud::json_artefact("aws/main.tf.json", &terraform(&plan, &rules)),
        cloud::json_artefact("aws/template.json", &cloudformation(&plan, &rules)),
    ])
}

/// The other end of one AWS rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AwsPeer {
    Group(AtomId),
    /// The members group of a zone: every instance of the zone has it.
    Members(ZoneId),
    Cidr(IpNet),
}

/// The group that holds a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Holder {
    /// An atom's own group.
    Atom(AtomId),
    /// A zone's members group: the rule every atom of the zone needs.
    Members(ZoneId),
}

/// One `aws_vpc_security_group_*_rule`: one peer, one protocol, one port range.
#[derive(Debug, Clone)]
struct AwsRule {
    owner: Holder,
    dir: Direction,
    peer_atom: AtomId,
    peer: AwsPeer,
    /// `-1`, `tcp`, `udp`, `icmp`, `icmpv6`, `132` (sctp).
    ip_protocol: &'static str,
    ports: Option<(i32, i32)>,
    allows: Vec<AllowId>,
}

impl AwsRule {
    /// Its Terraform resource name, from its content (stable across edits elsewhere).
    fn key(&self, plan: &Plan) -> String {
        let proto = match (self.ip_protocol, self.ports) {
            ("-1", _) => "all".to_string(),
            ("132", _) => "sctp".to_string(),
            (p, Some((lo, hi))) if lo >= 0 && lo == hi => format!("{p}_{lo}"),
            (p, Some((lo, hi))) if lo >= 0 => format!("{p}_{lo}_{hi}"),
            (p, _) => p.to_string(),
        };
        let peer = match self.peer {
            AwsPeer::Group(_) => "sg".to_string(),
            AwsPeer::Members(_) => "members".to_string(),
            AwsPeer::Cidr(n) => cloud::net_ident(&n),
        };
        let owner = match self.owner {
            Holder::Atom(a) => plan.name(a).to_string(),
            Holder::Members(z) => members_key(plan, z),
        };
        format!(
            "{owner}__{}__{}__{peer}__{proto}",
            self.dir.short(),
            plan.name(self.peer_atom)
        )
    }
}

/// Splits the plan's rules into AWS rules and checks the quota (E013) and
/// the protocols AWS cannot filter by port (E017).
fn expand(plan: &Plan) -> Result<Vec<AwsRule>, Vec<Diagnostic>> {
    let whole = whole_zones(plan);
    let mut out = vec![];
    let mut errs = vec![];
    for r in &plan.rules {
        let protos = match protocols(plan, r) {
            Ok(p) => p,
            Err(e) => {
                errs.extend(e);
                continue;
            }
        };
        let peers: Vec<AwsPeer> = match &r.peer {
            Peer::Local(a) => match whole.get(&(r.owner, r.dir, plan.ir.atoms[*a].zone)) {
                // One rule for the whole zone, written where its remainder's would be.
                Some(_) if plan.ir.zone_of(*a).remainder == *a => {
                    vec![AwsPeer::Members(plan.ir.atoms[*a].zone)]
                }
                Some(_) => vec![],
                None => vec![AwsPeer::Group(*a)],
            },
            Peer::Ranges(a) => {
                let p = plan.ranges(*a);
                p.v4.iter().chain(&p.v6).map(|n| AwsPeer::Cidr(*n)).collect()
            }
        };
        for peer in peers {
            for (ip_protocol, ports, part) in &protos {
                let v6 = matches!(peer, AwsPeer::Cidr(IpNet::V6(_)));
                if matches!(peer, AwsPeer::Cidr(_)) && part.iter().any(|(p, _)| !cloud::fits_family(p, v6)) {
                    continue;
                }
                let allows = match peer {
                    AwsPeer::Members(z) => whole
                        .get(&(r.owner, r.dir, z))
                        .map(|rs| union_allows(rs, part))
                        .unwrap_or_default(),
                    _ => r.allows(part),
                };
                out.push(AwsRule {
                    owner: Holder::Atom(r.owner),
                    dir: r.dir,
                    peer_atom: r.peer.atom(),
                    peer,
                    ip_protocol,
                    ports: *ports,
                    allows,
                });
            }
        }
    }
    let out = hoist(plan, out);
    errs.extend(quota(plan, &out));
    if errs.is_empty() {
        Ok(out)
    } else {
        crate::diag::sort(&mut errs);
        Err(errs)
    }
}

/// The (owner, direction, zone) whose every atom is a same-site peer of the
/// owner with the same ports: one rule referencing the zone's members group
/// replaces a rule per atom (AWS counts rules per group). Each maps to the
/// rules it replaces.
fn whole_zones<'p, 'a>(plan: &'p Plan<'a>) -> BTreeMap<(AtomId, Direction, ZoneId), Vec<&'p Rule<'a>>> {
    let mut by: BTreeMap<(AtomId, Direction, ZoneId), Vec<&Rule>> = BTreeMap::new();
    for r in &plan.rules {
        if let Peer::Local(a) = r.peer {
            by.entry((r.owner, r.dir, plan.ir.atoms[a].zone))
                .or_default()
                .push(r);
        }
    }
    by.retain(|(_, _, z), rs| {
        let zone = &plan.ir.zones[*z];
        rs.len() == zone.services.len() + 1 && rs.len() > 1 && rs.iter().all(|r| r.ports == rs[0].ports)
    });
    by
}

/// Moves a rule that every atom of a zone has (same direction, peer,
/// protocol and ports) to the zone's members group: groups add up, so every
/// member still gets it, and it counts once instead of once per atom.
fn hoist(plan: &Plan, rules: Vec<AwsRule>) -> Vec<AwsRule> {
    type Shape = (
        ZoneId,
        Direction,
        AtomId,
        AwsPeer,
        &'static str,
        Option<(i32, i32)>,
    );
    let shape = |r: &AwsRule| -> Option<Shape> {
        let Holder::Atom(a) = r.owner else { return None };
        Some((
            plan.ir.atoms[a].zone,
            r.dir,
            r.peer_atom,
            r.peer,
            r.ip_protocol,
            r.ports,
        ))
    };
    // The rules of each shape, in rule order: a stable sort puts them in runs.
    let mut order: Vec<usize> = (0..rules.len()).filter(|i| shape(&rules[*i]).is_some()).collect();
    order.sort_by(|a, b| shape(&rules[*a]).cmp(&shape(&rules[*b])));
    // The rules that move, and the allows of each zone's members rule, by the
    // rule it takes the place of.
    let mut hoisted = vec![false; rules.len()];
    let mut members: BTreeMap<usize, Vec<AllowId>> = BTreeMap::new();
    for run in order.chunk_by(|a, b| shape(&rules[*a]) == shape(&rules[*b])) {
        let Some(zone) = shape(&rules[run[0]]).map(|k| k.0) else {
            continue;
        };
        if run.len() < 2 || run.len() != plan.ir.zones[zone].services.len() + 1 {
            continue;
        }
        let mut allows: Vec<AllowId> = run
            .iter()
            .flat_map(|i| rules[*i].allows.iter().copied())
            .collect();
        allows.sort_unstable();
        allows.dedup();
        let first = rules[run[0]].owner;
        for i in run {
            hoisted[*i] = true;
        }
        for i in run.iter().filter(|i| rules[**i].owner == first) {
            members.insert(*i, allows.clone());
        }
    }
    let mut out = Vec::with_capacity(rules.len());
    for (i, (r, hoisted)) in rules.into_iter().zip(hoisted).enumerate() {
        match (shape(&r), members.remove(&i)) {
            (Some(k), Some(allows)) => out.push(AwsRule {
                owner: Holder::Members(k.0),
                allows,
                ..r
            }),
            _ if hoisted => {}
            _ => out.push(r),
        }
    }
    out
}

fn union_allows(rules: &[&Rule], part: &PortSet) -> Vec<AllowId> {
    let mut v: Vec<AllowId> = rules.iter().flat_map(|r| r.allows(part)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

type AwsProto = (&'static str, Option<(i32, i32)>, PortSet);

/// The (ip_protocol, ports) entries of one rule's port set.
fn protocols(plan: &Plan, r: &Rule) -> Result<Vec<AwsProto>, Vec<Diagnostic>> {
    if r.ports.is_any() {
        return Ok(vec![("-1", None, PortSet::any())]);
    }
    let mut out = vec![];
    let mut errs = vec![];
    for e in cloud::entries(r.ports) {
        let range = e.range.map(|x| (i32::from(x.lo), i32::from(x.hi)));
        match e.proto {
            Proto::Tcp => out.push(("tcp", range, e.set())),
            Proto::Udp => out.push(("udp", range, e.set())),
            Proto::Icmp => out.push(("icmp", Some((-1, -1)), e.set())),
            Proto::Icmpv6 => out.push(("icmpv6", Some((-1, -1)), e.set())),
            Proto::Sctp if e.range == Some(PortRange::FULL) => out.push(("132", None, e.set())),
            Proto::Sctp => errs.extend(cloud::cannot_express(
                plan,
                r,
                &e.set(),
                "AWS security groups filter sctp by protocol only, not by port",
                "allow all of sctp (`sctp`), or enforce the sctp ports elsewhere",
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

/// E013 for every group and direction over the per-family rule quota. A rule
/// that references a group counts once for IPv4 and once for IPv6.
fn quota(plan: &Plan, rules: &[AwsRule]) -> Vec<Diagnostic> {
    let mut count: BTreeMap<(Holder, Direction, bool), (usize, Vec<AllowId>)> = BTreeMap::new();
    for r in rules {
        let fams: &[bool] = match r.peer {
            AwsPeer::Group(_) | AwsPeer::Members(_) => &[false, true],
            AwsPeer::Cidr(IpNet::V4(_)) => &[false],
            AwsPeer::Cidr(IpNet::V6(_)) => &[true],
        };
        for v6 in fams {
            let e = count.entry((r.owner, r.dir, *v6)).or_default();
            e.0 += 1;
            e.1.extend(&r.allows);
        }
    }
    let mut out = vec![];
    for ((owner, dir, v6), (n, mut allows)) in count {
        if n <= MAX_RULES_PER_FAMILY {
            continue;
        }
        allows.sort_unstable();
        allows.dedup();
        let (span, group, what) = match owner {
            Holder::Atom(a) => (
                plan.ir.atoms[a].span,
                group_name(plan, a),
                format!("`{}`", plan.ir.atoms[a].name),
            ),
            Holder::Members(z) => (
                plan.ir.zones[z].span,
                members_group(plan, z).0,
                format!("every member of zone `{}`", plan.ir.zones[z].name),
            ),
        };
        let (way, fam) = (
            if dir == Direction::Ingress {
                "inbound"
            } else {
                "outbound"
            },
            if v6 { "IPv6" } else { "IPv4" },
        );
        let mut d = Diagnostic::error(
            "E013",
            span,
            format!("security group `{group}` (for {what}) needs {n} {way} {fam} rules; AWS allows {MAX_RULES_PER_FAMILY} per group"),
        )
        .with_help(
            "each peer prefix times each port range is one rule: merge the ports into fewer ranges, \
             or give the peers fewer, larger address ranges (a carved-out zone such as `internet` \
             costs several prefixes per hole), or ask AWS for a higher quota",
        )
        .with_note(
            "a managed prefix list does not lower the count: a rule that references one counts \
             as many rules as the list's maximum entries",
        );
        for id in allows {
            d = d.with_label(plan.ir.allows[id].span, "contributes rules to this group");
        }
        out.push(d);
    }
    out
}

/// Characters AWS accepts in group and rule descriptions.
fn aws_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// `moat-mosip-mz.kernel`: the group's name, unique within the VPC.
fn group_name(plan: &Plan, atom: AtomId) -> String {
    let s = format!("moat-{}-{}", plan.policy(), plan.ir.atoms[atom].name);
    s.chars()
        .map(|c| if aws_char(c) && c != ' ' { c } else { '_' })
        .collect()
}

fn group_description(plan: &Plan, atom: AtomId) -> String {
    let s = format!("moat {}: {}", plan.policy(), plan.atom_title(atom));
    s.chars()
        .map(|c| if aws_char(c) { c } else { '_' })
        .take(MAX_DESCRIPTION)
        .collect()
}

fn group_tags(plan: &Plan, atom: AtomId) -> BTreeMap<String, String> {
    let a = &plan.ir.atoms[atom];
    BTreeMap::from([
        ("Name".to_string(), group_name(plan, atom)),
        ("moat:policy".to_string(), plan.ir.name.clone()),
        ("moat:atom".to_string(), a.name.clone()),
        ("moat:zone".to_string(), plan.ir.zones[a.zone].name.clone()),
    ])
}

fn site_of(plan: &Plan, atom: AtomId) -> SiteId {
    plan.ir.zone_of(atom).site
}

// ---------------------------------------------------------------- Terraform

#[derive(Serialize)]
struct TfProvider {
    alias: String,
    region: String,
}

#[derive(Serialize)]
struct TfResources {
    aws_security_group: BTreeMap<String, TfGroup>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    aws_vpc_security_group_ingress_rule: BTreeMap<String, TfRule>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    aws_vpc_security_group_egress_rule: BTreeMap<String, TfRule>,
}

/// An `aws_security_group` without inline rules: Terraform then also removes
/// the allow-all egress rule AWS creates with every group.
#[derive(Serialize)]
struct TfGroup {
    provider: String,
    name: String,
    description: String,
    vpc_id: String,
    tags: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct TfRule {
    provider: String,
    security_group_id: String,
    description: String,
    ip_protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ipv4: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referenced_security_group_id: Option<String>,
}

fn terraform(plan: &Plan, rules: &[AwsRule]) -> TfFile<TfProvider, TfResources> {
    let providers = plan
        .sites
        .iter()
        .map(|s| TfProvider {
            alias: plan.site_name(*s).to_string(),
            region: plan.var_ref(*s, "region"),
        })
        .collect();
    let mut res = TfResources {
        aws_security_group: BTreeMap::new(),
        aws_vpc_security_group_ingress_rule: BTreeMap::new(),
        aws_vpc_security_group_egress_rule: BTreeMap::new(),
    };
    let mut ids = BTreeMap::new();
    for a in &plan.atoms {
        res.aws_security_group
            .insert(plan.name(*a).to_string(), tf_group(plan, *a));
        ids.insert(plan.ir.atoms[*a].name.clone(), tf_group_id(plan, *a));
    }
    let mut members = BTreeMap::new();
    for z in &plan.zones {
        let remainder = plan.ir.zones[*z].remainder;
        let (name, description, tags) = members_group(plan, *z);
        let group = TfGroup {
            provider: tf_provider(plan, remainder),
            name,
            description,
            vpc_id: plan.var_ref(plan.ir.zones[*z].site, "vpc"),
            tags,
        };
        res.aws_security_group.insert(members_key(plan, *z), group);
        members.insert(
            plan.ir.zones[*z].name.clone(),
            format!("${{aws_security_group.{}.id}}", members_key(plan, *z)),
        );
    }
    for r in rules {
        let map = match r.dir {
            Direction::Ingress => &mut res.aws_vpc_security_group_ingress_rule,
            Direction::Egress => &mut res.aws_vpc_security_group_egress_rule,
        };
        map.insert(r.key(plan), tf_rule(plan, r));
    }
    let mut file = TfFile::new(plan, ("aws", "hashicorp/aws", ">= 5.30"), providers, res);
    file.variable = plan.variables(&["region", "vpc"]);
    let description = "The security group to attach to each kind of instance, by moat atom";
    file.output.insert(
        "security_group_ids",
        TfOutput {
            description,
            value: ids,
        },
    );
    let description = "The members group to attach to every instance of each zone, as well";
    file.output.insert(
        "zone_member_group_ids",
        TfOutput {
            description,
            value: members,
        },
    );
    file
}

/// The Terraform name of a zone's members group (`mz-members`: no atom's
/// identifier has a `-`, so it cannot collide).
fn members_key(plan: &Plan, zone: ZoneId) -> String {
    format!("{}-members", plan.name(plan.ir.zones[zone].remainder))
}

/// A zone's members group: attached to every instance of the zone, so that
/// one rule can name the whole zone, and can hold the rules all its atoms share.
fn members_group(plan: &Plan, zone: ZoneId) -> (String, String, BTreeMap<String, String>) {
    let z = &plan.ir.zones[zone];
    let name: String = format!("moat-{}-{}:members", plan.policy(), z.name)
        .chars()
        .map(|c| if aws_char(c) && c != ' ' { c } else { '_' })
        .collect();
    let description = format!(
        "moat {}: every instance of zone {} (attach to all of them)",
        plan.policy(),
        z.name
    );
    let description: String = description
        .chars()
        .map(|c| if aws_char(c) { c } else { '_' })
        .take(MAX_DESCRIPTION)
        .collect();
    let tags = BTreeMap::from([
        ("Name".to_string(), name.clone()),
        ("moat:policy".to_string(), plan.ir.name.clone()),
        ("moat:members".to_string(), z.name.clone()),
    ]);
    (name, description, tags)
}

/// An atom standing for the holder's site (a zone's remainder for its members group).
fn holder_atom(plan: &Plan, h: Holder) -> AtomId {
    match h {
        Holder::Atom(a) => a,
        Holder::Members(z) => plan.ir.zones[z].remainder,
    }
}

fn tf_provider(plan: &Plan, atom: AtomId) -> String {
    format!("aws.{}", plan.site_name(site_of(plan, atom)))
}

fn tf_group_id(plan: &Plan, atom: AtomId) -> String {
    format!("${{aws_security_group.{}.id}}", plan.name(atom))
}

fn tf_group(plan: &Plan, atom: AtomId) -> TfGroup {
    TfGroup {
        provider: tf_provider(plan, atom),
        name: group_name(plan, atom),
        description: group_description(plan, atom),
        vpc_id: plan.var_ref(site_of(plan, atom), "vpc"),
        tags: group_tags(plan, atom),
    }
}

fn tf_rule(plan: &Plan, r: &AwsRule) -> TfRule {
    let (from_port, to_port) = r.ports.map_or((None, None), |(lo, hi)| (Some(lo), Some(hi)));
    let mut tf = TfRule {
        provider: tf_provider(plan, holder_atom(plan, r.owner)),
        security_group_id: match r.owner {
            Holder::Atom(a) => tf_group_id(plan, a),
            Holder::Members(z) => format!("${{aws_security_group.{}.id}}", members_key(plan, z)),
        },
        description: plan.describe(&r.allows, MAX_DESCRIPTION, aws_char),
        ip_protocol: r.ip_protocol,
        from_port,
        to_port,
        cidr_ipv4: None,
        cidr_ipv6: None,
        referenced_security_group_id: None,
    };
    match r.peer {
        AwsPeer::Group(g) => tf.referenced_security_group_id = Some(tf_group_id(plan, g)),
        AwsPeer::Members(z) => {
            tf.referenced_security_group_id =
                Some(format!("${{aws_security_group.{}.id}}", members_key(plan, z)))
        }
        AwsPeer::Cidr(n @ IpNet::V4(_)) => tf.cidr_ipv4 = Some(n.to_string()),
        AwsPeer::Cidr(n @ IpNet::V6(_)) => tf.cidr_ipv6 = Some(n.to_string()),
    }
    tf
}

// ---------------------------------------------------------- CloudFormation

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    version: &'static str,
    description: String,
    parameters: BTreeMap<String, Parameter>,
    resources: BTreeMap<String, Resource>,
    outputs: BTreeMap<String, Output>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Parameter {
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<String>,
    description: String,
}

#[derive(Serialize)]
#[serde(tag = "Type", content = "Properties")]
enum Resource {
    #[serde(rename = "AWS::EC2::SecurityGroup")]
    Group(GroupProps),
    #[serde(rename = "AWS::EC2::SecurityGroupIngress")]
    Ingress(RuleProps),
    #[serde(rename = "AWS::EC2::SecurityGroupEgress")]
    Egress(RuleProps),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GroupProps {
    /// No `GroupName`: CloudFormation cannot replace a custom-named group, so
    /// the name goes into the `Name` tag instead.
    group_description: String,
    vpc_id: Ref,
    /// Only the placeholder that makes CloudFormation drop AWS's default
    /// allow-all egress rule; the real rules are separate resources.
    security_group_egress: Vec<Placeholder>,
    tags: Vec<Tag>,
}

/// An egress rule that matches no packet (ICMP type 252 code 86 to
/// 255.255.255.255/32), the same one the AWS CDK writes for
/// `allowAllOutbound: false`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Placeholder {
    cidr_ip: &'static str,
    description: &'static str,
    ip_protocol: &'static str,
    from_port: i32,
    to_port: i32,
}

const NO_EGRESS: Placeholder = Placeholder {
    cidr_ip: "255.255.255.255/32",
    description: "Disallow all traffic (removes the default allow-all egress rule)",
    ip_protocol: "icmp",
    from_port: 252,
    to_port: 86,
};

#[derive(Serialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value")]
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RuleProps {
    group_id: GetAtt,
    description: String,
    ip_protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_security_group_id: Option<GetAtt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination_security_group_id: Option<GetAtt>,
}

#[derive(Serialize)]
struct Ref {
    #[serde(rename = "Ref")]
    name: String,
}

#[derive(Serialize)]
struct GetAtt {
    #[serde(rename = "Fn::GetAtt")]
    att: [String; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Output {
    description: String,
    value: GetAtt,
}

fn cloudformation(plan: &Plan, rules: &[AwsRule]) -> Template {
    let mut parameters = BTreeMap::new();
    for s in &plan.sites {
        let site = &plan.ir.sites[*s];
        let region = site.props.get("region").map_or("of the stack", String::as_str);
        let param = Parameter {
            r#type: "String",
            default: site.props.get("vpc").cloned(),
            description: format!("VPC of site {} (region {region})", site.name),
        };
        parameters.insert(vpc_param(plan, *s), param);
    }
    let mut resources = BTreeMap::new();
    let mut outputs = BTreeMap::new();
    for a in &plan.atoms {
        resources.insert(cfn_group_id(plan, *a), cfn_group(plan, *a));
        let description = format!("Security group for {}", plan.ir.atoms[*a].name);
        outputs.insert(
            cfn_group_id(plan, *a),
            Output {
                description,
                value: get_group_id(plan, *a),
            },
        );
    }
    for z in &plan.zones {
        let (_, group_description, tags) = members_group(plan, *z);
        let props = GroupProps {
            group_description,
            vpc_id: Ref {
                name: vpc_param(plan, plan.ir.zones[*z].site),
            },
            security_group_egress: vec![NO_EGRESS],
            tags: tags.into_iter().map(|(key, value)| Tag { key, value }).collect(),
        };
        resources.insert(cfn_members_id(plan, *z), Resource::Group(props));
        let description = format!("Members group of zone {}", plan.ir.zones[*z].name);
        outputs.insert(
            cfn_members_id(plan, *z),
            Output {
                description,
                value: get_members_id(plan, *z),
            },
        );
    }
    let keys = cloud::unique_camel(rules.iter().map(|r| r.key(plan)).collect());
    for (r, key) in rules.iter().zip(keys) {
        resources.insert(key, cfn_rule(plan, r));
    }
    Template {
        version: "2010-09-09",
        description: format!(
            "moat policy {}: security groups (generated; do not edit)",
            plan.ir.name
        ),
        parameters,
        resources,
        outputs,
    }
}

fn vpc_param(plan: &Plan, site: SiteId) -> String {
    format!("{}Vpc", cloud::camel(plan.site_name(site)))
}

/// The logical id of an atom's group (`SgMzKernel`).
fn cfn_group_id(plan: &Plan, atom: AtomId) -> String {
    format!("Sg{}", cloud::camel(plan.name(atom)))
}

/// The logical id of a zone's members group (`MembersMz`).
fn cfn_members_id(plan: &Plan, zone: ZoneId) -> String {
    format!(
        "Members{}",
        cloud::camel(plan.name(plan.ir.zones[zone].remainder))
    )
}

fn get_members_id(plan: &Plan, zone: ZoneId) -> GetAtt {
    GetAtt {
        att: [cfn_members_id(plan, zone), "GroupId".into()],
    }
}

fn get_group_id(plan: &Plan, atom: AtomId) -> GetAtt {
    GetAtt {
        att: [cfn_group_id(plan, atom), "GroupId".into()],
    }
}

fn cfn_group(plan: &Plan, atom: AtomId) -> Resource {
    Resource::Group(GroupProps {
        group_description: group_description(plan, atom),
        vpc_id: Ref {
            name: vpc_param(plan, site_of(plan, atom)),
        },
        security_group_egress: vec![NO_EGRESS],
        tags: group_tags(plan, atom)
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .collect(),
    })
}

fn cfn_rule(plan: &Plan, r: &AwsRule) -> Resource {
    let (from_port, to_port) = r.ports.map_or((None, None), |(lo, hi)| (Some(lo), Some(hi)));
    let mut p = RuleProps {
        group_id: match r.owner {
            Holder::Atom(a) => get_group_id(plan, a),
            Holder::Members(z) => get_members_id(plan, z),
        },
        description: plan.describe(&r.allows, MAX_DESCRIPTION, aws_char),
        ip_protocol: r.ip_protocol,
        from_port,
        to_port,
        cidr_ip: None,
        cidr_ipv6: None,
        source_security_group_id: None,
        destination_security_group_id: None,
    };
    match (r.peer, r.dir) {
        (AwsPeer::Group(g), Direction::Ingress) => p.source_security_group_id = Some(get_group_id(plan, g)),
        (AwsPeer::Group(g), Direction::Egress) => {
            p.destination_security_group_id = Some(get_group_id(plan, g))
        }
        (AwsPeer::Members(z), Direction::Ingress) => {
            p.source_security_group_id = Some(get_members_id(plan, z))
        }
        (AwsPeer::Members(z), Direction::Egress) => {
            p.destination_security_group_id = Some(get_members_id(plan, z))
        }
        (AwsPeer::Cidr(n @ IpNet::V4(_)), _) => p.cidr_ip = Some(n.to_string()),
        (AwsPeer::Cidr(n @ IpNet::V6(_)), _) => p.cidr_ipv6 = Some(n.to_string()),
    }
    match r.dir {
        Direction::Ingress => Resource::Ingress(p),
        Direction::Egress => Resource::Egress(p),
    }
}
