//! `aws`: the output of `aws ec2 describe-security-groups` (and, beside it,
//! `aws ec2 describe-network-interfaces`, which says which groups sit on
//! which addresses), or the state `terraform show -json` prints: its
//! `aws_security_group` resources (with their inline `ingress`/`egress`),
//! `aws_vpc_security_group_ingress_rule`/`_egress_rule` and
//! `aws_security_group_rule` resources, in the root and child modules.
//!
//! Which atom's instances carry a group: the group's `moat:atom` tag (or
//! `moat:members`, a zone's members group), as moat's own groups are tagged;
//! and every network interface whose address lies in an atom puts its groups
//! on that atom. Security groups only allow, and an instance's groups are a
//! union: a packet passes when any rule of any group lets it; what no rule
//! lets through is dropped (the default group's allow-all egress is an
//! ordinary rule in the output). Not modelled (W015, each taken as letting
//! more through, never less): prefix lists (taken as every address), ICMP
//! types and codes (taken as all of ICMP), protocols other than tcp, udp,
//! icmp, icmpv6 and sctp (taken as every other protocol).

use super::cloud::{self, CRule, Dir, Firewall, Sel};
use super::parse::{self, Spanned};
use super::{Evaluated, LiveInput, LiveRule};
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir, SiteKind};
use crate::ports::{PortRange, PortSet, Proto};
use crate::span::SourceMap;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const WHAT: &str =
    "`aws ec2 describe-security-groups --output json` or `aws ec2 describe-network-interfaces --output json`";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    security_groups: Option<Vec<Spanned<Group>>>,
    network_interfaces: Option<Vec<Spanned<Interface>>>,
    /// `terraform show -json`: the state's resources.
    #[serde(rename = "values")]
    state: Option<StateValues>,
}

#[derive(Deserialize)]
struct StateValues {
    root_module: Module,
}

#[derive(Deserialize)]
struct Module {
    #[serde(default)]
    resources: Vec<Spanned<Resource>>,
    #[serde(default)]
    child_modules: Vec<Module>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    values: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Group {
    group_id: String,
    #[serde(default)]
    group_name: String,
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    ip_permissions: Vec<Spanned<Permission>>,
    #[serde(default)]
    ip_permissions_egress: Vec<Spanned<Permission>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Permission {
    ip_protocol: String,
    from_port: Option<i64>,
    to_port: Option<i64>,
    #[serde(default)]
    ip_ranges: Vec<Spanned<V4Range>>,
    #[serde(default)]
    ipv6_ranges: Vec<Spanned<V6Range>>,
    #[serde(default)]
    user_id_group_pairs: Vec<GroupRef>,
    #[serde(default)]
    prefix_list_ids: Vec<PrefixList>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct V4Range {
    cidr_ip: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct V6Range {
    cidr_ipv6: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupRef {
    group_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrefixList {
    prefix_list_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Interface {
    #[serde(default)]
    network_interface_id: String,
    #[serde(default)]
    private_ip_addresses: Vec<PrivateIp>,
    private_ip_address: Option<String>,
    #[serde(default)]
    ipv6_addresses: Vec<V6Address>,
    #[serde(default)]
    groups: Vec<GroupRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PrivateIp {
    private_ip_address: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct V6Address {
    ipv6_address: String,
}

/// The [`super::Reader`] of `aws`.
pub fn read(ir: &Ir, sources: &SourceMap, inputs: &[&LiveInput]) -> Evaluated {
    let mut errs = vec![];
    let mut warns = vec![];
    let mut groups: Vec<(&LiveInput, Spanned<Group>)> = vec![];
    let mut interfaces: Vec<(&LiveInput, Spanned<Interface>)> = vec![];
    for input in inputs {
        match parse::documents::<Doc>(sources, input, WHAT) {
            Ok(docs) => {
                for d in docs {
                    if let Some(state) = d.state {
                        match from_state(sources, input, state) {
                            Ok(gs) => groups.extend(gs.into_iter().map(|g| (*input, g))),
                            Err(e) => errs.extend(e),
                        }
                        continue;
                    }
                    if d.security_groups.is_none() && d.network_interfaces.is_none() {
                        errs.push(
                            Diagnostic::error(
                                parse::E_SHAPE,
                                parse::whole(input),
                                format!(
                                    "aws input `{}` holds no `SecurityGroups`, `NetworkInterfaces` or Terraform state `values`",
                                    input.path.display()
                                ),
                            )
                            .with_help(format!("give the output of {WHAT}")),
                        );
                    }
                    groups.extend(
                        d.security_groups
                            .unwrap_or_default()
                            .into_iter()
                            .map(|g| (*input, g)),
                    );
                    interfaces.extend(
                        d.network_interfaces
                            .unwrap_or_default()
                            .into_iter()
                            .map(|i| (*input, i)),
                    );
                }
            }
            Err(d) => errs.push(d),
        }
    }
    // Which atoms carry each group.
    let mut carriers: BTreeMap<String, BTreeSet<AtomId>> = BTreeMap::new();
    for (_, g) in &groups {
        let set = carriers.entry(g.value.group_id.clone()).or_default();
        for t in &g.value.tags {
            match t.key.as_str() {
                "moat:atom" => set.extend(ir.atom_id(&t.value)),
                "moat:members" => set.extend(cloud::zone_atoms(ir, &t.value)),
                _ => {}
            }
        }
    }
    for (input, i) in &interfaces {
        let i = &i.value;
        let addrs = i
            .private_ip_addresses
            .iter()
            .map(|p| p.private_ip_address.as_str())
            .chain(i.private_ip_address.as_deref())
            .chain(i.ipv6_addresses.iter().map(|a| a.ipv6_address.as_str()));
        for a in addrs {
            let Ok(ip) = a.parse::<std::net::IpAddr>() else {
                errs.push(
                    Diagnostic::error(
                        parse::E_VALUE,
                        parse::whole(input),
                        format!(
                            "network interface {} has address `{a}`, not an IP address",
                            i.network_interface_id
                        ),
                    )
                    .with_help("give the unchanged output of `aws ec2 describe-network-interfaces`"),
                );
                continue;
            };
            if let Some(atom) = ir.atom_for_ip(ip) {
                for g in &i.groups {
                    carriers.entry(g.group_id.clone()).or_default().insert(atom);
                }
            }
        }
    }
    let mut rules = vec![];
    for (input, g) in &groups {
        let applies = carriers.get(&g.value.group_id).cloned().unwrap_or_default();
        for (dir, list) in [
            (Dir::In, &g.value.ip_permissions),
            (Dir::Out, &g.value.ip_permissions_egress),
        ] {
            for (k, p) in list.iter().enumerate() {
                let ctx = Ctx {
                    ir,
                    sources,
                    input,
                    group: &g.value,
                    carriers: &carriers,
                };
                match ctx.rule(dir, k, p, &applies, &mut warns) {
                    Ok(r) => rules.push(r),
                    Err(d) => errs.extend(d),
                }
            }
        }
    }
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        return Err(errs);
    }
    let placed: BTreeSet<AtomId> = carriers.values().flatten().copied().collect();
    warns.extend(parse::unplaced(
        ir,
        inputs,
        cloud::covered(ir, SiteKind::Aws)
            .into_iter()
            .filter(|a| !placed.contains(a)),
        "no security group (no `moat:atom` tag, no network interface in their addresses)",
        "everything to and from them is taken as dropped",
    ));
    let deny = |_: AtomId, _: AtomId, _: Dir| false;
    let fw = Firewall {
        kind: SiteKind::Aws,
        rules,
        default: &deny,
    };
    Ok((fw.evaluate(ir), warns))
}

struct Ctx<'a> {
    ir: &'a Ir,
    sources: &'a SourceMap,
    input: &'a LiveInput,
    group: &'a Group,
    carriers: &'a BTreeMap<String, BTreeSet<AtomId>>,
}

impl Ctx<'_> {
    fn rule(
        &self,
        dir: Dir,
        index: usize,
        p: &Spanned<Permission>,
        applies: &BTreeSet<AtomId>,
        warns: &mut Vec<Diagnostic>,
    ) -> Result<CRule, Vec<Diagnostic>> {
        let (sources, input) = (self.sources, self.input);
        let loc = &p.referenced;
        let perm = &p.value;
        let mut errs = vec![];
        let mut peers = vec![];
        for r in &perm.ip_ranges {
            match cloud::net(&r.value.cidr_ip) {
                Some(n) if n.addr().is_ipv4() => peers.push(Sel::Net(n)),
                _ => errs.push(bad_cidr(sources, input, &r.referenced, &r.value.cidr_ip)),
            }
        }
        for r in &perm.ipv6_ranges {
            match cloud::net(&r.value.cidr_ipv6) {
                Some(n) if n.addr().is_ipv6() => peers.push(Sel::Net(n)),
                _ => errs.push(bad_cidr(sources, input, &r.referenced, &r.value.cidr_ipv6)),
            }
        }
        for g in &perm.user_id_group_pairs {
            peers.push(Sel::Atoms(
                self.carriers.get(&g.group_id).cloned().unwrap_or_default(),
            ));
        }
        for pl in &perm.prefix_list_ids {
            warns.push(parse::unmodelled(
                sources,
                input,
                loc,
                format_args!("prefix list `{}`", pl.prefix_list_id),
                "it is taken as every address",
            ));
            peers.push(Sel::Any);
        }
        let ports = match ports(&perm.ip_protocol, perm.from_port, perm.to_port) {
            Ok((ports, None)) => ports,
            Ok((ports, Some(what))) => {
                warns.push(parse::unmodelled(
                    sources,
                    input,
                    loc,
                    what,
                    "it is taken as letting all of it through",
                ));
                ports
            }
            Err(msg) => {
                errs.push(parse::bad_value(
                    sources,
                    input,
                    loc,
                    format!("security group {}: {msg}", self.group.group_id),
                    "give ports 0-65535 (or -1 for all) and an IP protocol name or number",
                ));
                PortSet::empty()
            }
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        let side = if dir == Dir::In { "ingress" } else { "egress" };
        let name = if self.group.group_name.is_empty() {
            self.group.group_id.clone()
        } else {
            format!("{} ({})", self.group.group_id, self.group.group_name)
        };
        let _ = self.ir;
        Ok(CRule {
            live: LiveRule {
                span: parse::span_at(sources, input, loc),
                object: Some(format!("{} {side}[{index}]", self.group.group_id)),
                text: format!(
                    "{name} {side} {} {}",
                    perm.ip_protocol,
                    port_text(perm.from_port, perm.to_port)
                ),
            },
            applies: applies.clone(),
            dir,
            peers,
            ports,
            allow: true,
            priority: 0,
        })
    }
}

fn bad_cidr(sources: &SourceMap, input: &LiveInput, loc: &serde_saphyr::Location, v: &str) -> Diagnostic {
    parse::bad_value(
        sources,
        input,
        loc,
        format!("`{v}` is not a CIDR of the family its field names"),
        "`CidrIp` holds an IPv4 CIDR such as 10.0.0.0/24, `CidrIpv6` an IPv6 one",
    )
}

fn port_text(from: Option<i64>, to: Option<i64>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if a == b => a.to_string(),
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => "all".into(),
    }
}

/// The ports of (IpProtocol, FromPort, ToPort), and what in it is not modelled.
fn ports(proto: &str, from: Option<i64>, to: Option<i64>) -> Result<(PortSet, Option<String>), String> {
    let range = |p: Proto| -> Result<PortSet, String> {
        match (from, to) {
            (None, None) | (Some(-1), Some(-1)) | (Some(0), Some(65535)) => Ok(PortSet::proto(p)),
            (Some(lo), Some(hi)) if (0..=65535).contains(&lo) && (lo..=65535).contains(&hi) => Ok(
                PortSet::range(p, PortRange::new(lo.max(1) as u16, hi.max(1) as u16)),
            ),
            _ => Err(format!("ports {from:?}-{to:?} are not a port range")),
        }
    };
    let icmp = |p: Proto, name: &str| -> (PortSet, Option<String>) {
        let whole = matches!((from, to), (None, None) | (Some(-1), _));
        let what = (!whole).then(|| format!("{name} type {} code {}", from.unwrap_or(-1), to.unwrap_or(-1)));
        (PortSet::proto(p), what)
    };
    Ok(match proto.to_ascii_lowercase().as_str() {
        "-1" | "all" => (PortSet::any(), None),
        "tcp" | "6" => (range(Proto::Tcp)?, None),
        "udp" | "17" => (range(Proto::Udp)?, None),
        "sctp" | "132" => (range(Proto::Sctp)?, None),
        "icmp" | "1" => icmp(Proto::Icmp, "ICMP"),
        "icmpv6" | "58" => icmp(Proto::Icmpv6, "ICMPv6"),
        other if other.parse::<u8>().is_ok() || other.chars().all(|c| c.is_ascii_alphanumeric()) => (
            PortSet::proto(Proto::Other),
            Some(format!(
                "IP protocol `{other}` (moat names tcp, udp, sctp, icmp, icmpv6; the rest is `other`)"
            )),
        ),
        other => return Err(format!("`{other}` is not an IP protocol")),
    })
}

/// A value placed at `loc`.
fn spanned<T>(v: T, loc: serde_saphyr::Location) -> Spanned<T> {
    Spanned::new(v, loc, loc)
}

/// The groups of a `terraform show -json` state, in the describe shape; each
/// rule is placed at its resource in the file.
fn from_state(
    sources: &SourceMap,
    input: &LiveInput,
    state: StateValues,
) -> Result<Vec<Spanned<Group>>, Vec<Diagnostic>> {
    let mut resources = vec![];
    let mut stack = vec![state.root_module];
    while let Some(m) = stack.pop() {
        resources.extend(m.resources);
        stack.extend(m.child_modules);
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    // One permission of a state rule: its cidrs, groups and ports.
    let perm = |v: &serde_json::Value, own: &str, loc: serde_saphyr::Location| -> Permission {
        let mut ip_ranges: Vec<String> = strs(&v["cidr_blocks"]);
        ip_ranges.extend(v.get("cidr_ipv4").map(text).filter(|c| !c.is_empty()));
        let mut v6: Vec<String> = strs(&v["ipv6_cidr_blocks"]);
        v6.extend(v.get("cidr_ipv6").map(text).filter(|c| !c.is_empty()));
        let mut groups: Vec<String> = strs(&v["security_groups"]);
        for k in ["referenced_security_group_id", "source_security_group_id"] {
            groups.extend(v.get(k).map(text).filter(|c| !c.is_empty()));
        }
        if v["self"].as_bool() == Some(true) {
            groups.push(own.to_string());
        }
        let mut lists: Vec<String> = strs(&v["prefix_list_ids"]);
        lists.extend(v.get("prefix_list_id").map(text).filter(|c| !c.is_empty()));
        let proto = v
            .get("ip_protocol")
            .or_else(|| v.get("protocol"))
            .map(text)
            .unwrap_or_default();
        let all = proto == "-1";
        Permission {
            ip_protocol: proto,
            from_port: if all { None } else { v["from_port"].as_i64() },
            to_port: if all { None } else { v["to_port"].as_i64() },
            ip_ranges: ip_ranges
                .into_iter()
                .map(|c| spanned(V4Range { cidr_ip: c }, loc))
                .collect(),
            ipv6_ranges: v6
                .into_iter()
                .map(|c| spanned(V6Range { cidr_ipv6: c }, loc))
                .collect(),
            user_id_group_pairs: groups.into_iter().map(|g| GroupRef { group_id: g }).collect(),
            prefix_list_ids: lists
                .into_iter()
                .map(|p| PrefixList { prefix_list_id: p })
                .collect(),
        }
    };
    let mut groups: BTreeMap<String, Spanned<Group>> = BTreeMap::new();
    for r in resources.iter().filter(|r| r.value.ty == "aws_security_group") {
        let v = &r.value.values;
        let id = text(&v["id"]);
        let id = if id.is_empty() {
            r.value.address.clone()
        } else {
            id
        };
        let tags = v["tags"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, x)| Tag {
                        key: k.clone(),
                        value: text(x),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rules = |key: &str| -> Vec<Spanned<Permission>> {
            v[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| spanned(perm(x, &id, r.referenced), r.referenced))
                        .collect()
                })
                .unwrap_or_default()
        };
        let g = Group {
            group_id: id.clone(),
            group_name: text(&v["name"]),
            tags,
            ip_permissions: rules("ingress"),
            ip_permissions_egress: rules("egress"),
        };
        groups.insert(id.clone(), spanned(g, r.referenced));
    }
    let mut errs = vec![];
    for r in &resources {
        let v = &r.value.values;
        let egress = match r.value.ty.as_str() {
            "aws_vpc_security_group_ingress_rule" => false,
            "aws_vpc_security_group_egress_rule" => true,
            "aws_security_group_rule" => text(&v["type"]) == "egress",
            _ => continue,
        };
        let owner = text(&v["security_group_id"]);
        let Some(g) = groups.get_mut(&owner) else {
            errs.push(parse::bad_value(
                sources,
                input,
                &r.referenced,
                format!(
                    "rule `{}` is on security group `{owner}`, which the state does not hold",
                    r.value.address
                ),
                "give the whole state (`terraform show -json` of the workspace that holds the groups)",
            ));
            continue;
        };
        let p = spanned(perm(v, &owner, r.referenced), r.referenced);
        if egress {
            g.value.ip_permissions_egress.push(p);
        } else {
            g.value.ip_permissions.push(p);
        }
    }
    if errs.is_empty() {
        Ok(groups.into_values().collect())
    } else {
        Err(errs)
    }
}
