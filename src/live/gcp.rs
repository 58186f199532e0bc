//! `gcp`: the output of `gcloud compute firewall-rules list --format=json`,
//! and optionally, beside it, `gcloud compute instances list --format=json`
//! (which says which instance, at which address, carries which tags and
//! service accounts).
//!
//! Which atom's instances carry a tag: the tags moat gives them (the policy's
//! tag and the atom's own, see the gcp target), and every listed instance
//! whose address lies in an atom puts its tags and service accounts on that
//! atom. A rule applies in its network (the last part of `network`, matched
//! against the site's `network`; a site without one matches every network)
//! to the instances its `targetTags` / `targetServiceAccounts` name, or to all
//! of them. Rules are taken by ascending priority, a deny first at equal
//! priority; the first that matches decides; then GCP's implied rules (deny
//! ingress, allow egress). Disabled rules are skipped. Not modelled (W015, each
//! taken as letting more through, never less): service accounts no listed
//! instance carries (an allow is taken to match every instance of the
//! network, a deny none), protocols moat does not name (taken as `other`).

use super::cloud::{self, CRule, Dir, Firewall, Sel};
use super::parse::{self, Spanned};
use super::{Evaluated, LiveInput, LiveRule};
use crate::backend::cloud::Plan;
use crate::backend::Target;
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir, SiteKind};
use crate::ports::{PortRange, PortSet, Proto};
use crate::span::SourceMap;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const WHAT: &str =
    "`gcloud compute firewall-rules list --format=json` or `gcloud compute instances list --format=json`";

/// One element of either list: a firewall rule, or an instance (it has `networkInterfaces`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default)]
    name: String,
    #[serde(default)]
    network: String,
    direction: Option<String>,
    priority: Option<i64>,
    #[serde(default)]
    source_ranges: Vec<String>,
    destination_ranges: Option<Vec<String>>,
    #[serde(default)]
    source_tags: Vec<String>,
    #[serde(default)]
    target_tags: Vec<String>,
    #[serde(default)]
    source_service_accounts: Vec<String>,
    #[serde(default)]
    target_service_accounts: Vec<String>,
    #[serde(default)]
    allowed: Vec<Grant>,
    #[serde(default)]
    denied: Vec<Grant>,
    #[serde(default)]
    disabled: bool,
    // instances
    network_interfaces: Option<Vec<Nic>>,
    tags: Option<Tags>,
    #[serde(default)]
    service_accounts: Vec<Account>,
}

#[derive(Deserialize)]
struct Grant {
    #[serde(rename = "IPProtocol")]
    ip_protocol: String,
    #[serde(default)]
    ports: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Nic {
    #[serde(default)]
    network_i_p: String,
    #[serde(default)]
    ipv6_address: String,
    #[serde(default)]
    network: String,
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    items: Vec<String>,
}

#[derive(Deserialize)]
struct Account {
    #[serde(default)]
    email: String,
}

/// The last part of a network URL (`.../global/networks/prod` -> `prod`).
fn network_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The [`super::Reader`] of `gcp`.
pub fn read(ir: &Ir, sources: &SourceMap, inputs: &[&LiveInput]) -> Evaluated {
    let mut errs = vec![];
    let mut warns = vec![];
    let mut items: Vec<(&LiveInput, Spanned<Item>)> = vec![];
    for input in inputs {
        match parse::documents::<Vec<Spanned<Item>>>(sources, input, WHAT) {
            Ok(docs) => items.extend(docs.into_iter().flatten().map(|i| (*input, i))),
            Err(d) => errs.push(d),
        }
    }
    // The tags and service accounts each atom's instances carry.
    let mut carries: BTreeMap<AtomId, BTreeSet<String>> = BTreeMap::new();
    if let Ok(plan) = Plan::new(Target::Gcp, ir) {
        let (policy_tag, tags) = crate::backend::gcp::network_tags(&plan);
        for (a, t) in tags {
            carries.entry(a).or_default().extend([policy_tag.clone(), t]);
        }
    }
    let mut listed_accounts: BTreeSet<String> = BTreeSet::new();
    for (_, it) in &items {
        let Some(nics) = &it.value.network_interfaces else {
            continue;
        };
        for nic in nics {
            for a in [&nic.network_i_p, &nic.ipv6_address] {
                let Some(atom) = a.parse().ok().and_then(|ip| ir.atom_for_ip(ip)) else {
                    continue;
                };
                let set = carries.entry(atom).or_default();
                set.extend(it.value.tags.iter().flat_map(|t| t.items.iter().cloned()));
                for sa in &it.value.service_accounts {
                    set.insert(format!("sa:{}", sa.email));
                    listed_accounts.insert(sa.email.clone());
                }
            }
            let _ = &nic.network;
        }
    }
    let in_network = |a: AtomId, net: &str| {
        ir.site_of(a)
            .props
            .get("network")
            .is_none_or(|n| network_name(n) == network_name(net))
    };
    let gcp_atoms = cloud::covered(ir, SiteKind::Gcp);
    let mut rules = vec![];
    for (input, it) in &items {
        let fw = &it.value;
        if fw.network_interfaces.is_some() || fw.disabled {
            continue;
        }
        let loc = &it.referenced;
        let dir = match fw.direction.as_deref().unwrap_or("INGRESS") {
            "INGRESS" => Dir::In,
            "EGRESS" => Dir::Out,
            other => {
                errs.push(parse::bad_value(
                    sources,
                    input,
                    loc,
                    format!("firewall rule `{}` has direction `{other}`", fw.name),
                    "direction is INGRESS or EGRESS",
                ));
                continue;
            }
        };
        let here: Vec<AtomId> = gcp_atoms
            .iter()
            .copied()
            .filter(|a| in_network(*a, &fw.network))
            .collect();
        let carries_any = |a: AtomId, tags: &[String], accounts: &[String]| {
            let c = carries.get(&a);
            tags.iter().any(|t| c.is_some_and(|c| c.contains(t)))
                || accounts
                    .iter()
                    .any(|s| c.is_some_and(|c| c.contains(&format!("sa:{s}"))))
        };
        let allows = !fw.allowed.is_empty();
        // Service accounts no listed instance carries: an allow reaches every instance, a deny none.
        let unknown = |accounts: &[String], warns: &mut Vec<Diagnostic>| -> bool {
            let missing: Vec<&String> = accounts
                .iter()
                .filter(|s| !listed_accounts.contains(*s))
                .collect();
            if missing.is_empty() {
                return false;
            }
            warns.push(parse::unmodelled(
                sources,
                input,
                loc,
                format_args!(
                    "service account(s) {} of firewall rule `{}` (no instance list carries them)",
                    missing
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    fw.name
                ),
                if allows {
                    "the allow is taken to match every instance of the network"
                } else {
                    "the deny is taken to match no instance"
                },
            ));
            true
        };
        let targets_unknown = unknown(&fw.target_service_accounts, &mut warns);
        let applies: BTreeSet<AtomId> = here
            .iter()
            .copied()
            .filter(|a| {
                (fw.target_tags.is_empty() && fw.target_service_accounts.is_empty())
                    || carries_any(*a, &fw.target_tags, &fw.target_service_accounts)
                    || (targets_unknown && allows)
            })
            .collect();
        let mut peers = vec![];
        let ranges: Vec<&String> = match dir {
            Dir::In => fw.source_ranges.iter().collect(),
            Dir::Out => fw.destination_ranges.iter().flatten().collect(),
        };
        for r in ranges {
            match cloud::net(r) {
                Some(n) => peers.push(Sel::Net(n)),
                None => errs.push(parse::bad_value(
                    sources,
                    input,
                    loc,
                    format!("firewall rule `{}`: `{r}` is not a CIDR", fw.name),
                    "ranges are CIDRs such as 10.0.0.0/24",
                )),
            }
        }
        if dir == Dir::In && (!fw.source_tags.is_empty() || !fw.source_service_accounts.is_empty()) {
            let sources_unknown = unknown(&fw.source_service_accounts, &mut warns);
            let set: BTreeSet<AtomId> = here
                .iter()
                .copied()
                .filter(|a| {
                    carries_any(*a, &fw.source_tags, &fw.source_service_accounts)
                        || (sources_unknown && allows)
                })
                .collect();
            peers.push(Sel::Atoms(set));
        }
        if dir == Dir::Out && fw.destination_ranges.is_none() {
            peers.push(Sel::Any);
        }
        let priority = fw.priority.unwrap_or(1000);
        for (list, allow) in [(&fw.allowed, true), (&fw.denied, false)] {
            if list.is_empty() {
                continue;
            }
            let mut ports = PortSet::empty();
            for g in list {
                match grant_ports(g) {
                    Ok((p, what)) => {
                        if let Some(w) = what {
                            warns.push(parse::unmodelled(
                                sources,
                                input,
                                loc,
                                w,
                                if allow {
                                    "it is taken as every other protocol"
                                } else {
                                    "it is taken as denying nothing moat names"
                                },
                            ));
                            if !allow {
                                continue;
                            }
                        }
                        ports.union_with(&p)
                    }
                    Err(m) => errs.push(parse::bad_value(
                        sources,
                        input,
                        loc,
                        format!("firewall rule `{}`: {m}", fw.name),
                        "ports are numbers or ranges such as 8000-8080",
                    )),
                }
            }
            let word = if allow { "allow" } else { "deny" };
            let side = if dir == Dir::In { "ingress" } else { "egress" };
            rules.push(CRule {
                live: LiveRule {
                    span: parse::span_at(sources, input, loc),
                    object: Some(fw.name.clone()),
                    text: format!("{} {side} {word} {ports} priority {priority}", fw.name),
                },
                applies: applies.clone(),
                dir,
                peers: peers.clone(),
                ports,
                allow,
                priority,
            });
        }
    }
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        return Err(errs);
    }
    warns.extend(parse::unplaced(
        ir,
        inputs,
        gcp_atoms.iter().copied().filter(|a| !carries.contains_key(a)),
        "no network tag",
        "only rules for every instance of the network apply to them",
    ));
    let implied = |_: AtomId, _: AtomId, d: Dir| d == Dir::Out;
    let fw = Firewall {
        kind: SiteKind::Gcp,
        rules,
        default: &implied,
    };
    Ok((fw.evaluate(ir), warns))
}

/// The ports of one `allowed`/`denied` entry, and what in it is not modelled.
fn grant_ports(g: &Grant) -> Result<(PortSet, Option<String>), String> {
    let proto = match g.ip_protocol.to_ascii_lowercase().as_str() {
        "all" => return Ok((PortSet::any(), None)),
        "tcp" | "6" => Proto::Tcp,
        "udp" | "17" => Proto::Udp,
        "sctp" | "132" => Proto::Sctp,
        "icmp" | "1" => Proto::Icmp,
        "58" | "ipv6-icmp" | "icmpv6" => Proto::Icmpv6,
        other => {
            return Ok((
                PortSet::proto(Proto::Other),
                Some(format!("IP protocol `{other}`")),
            ))
        }
    };
    if g.ports.is_empty() || !proto.has_ports() {
        return Ok((PortSet::proto(proto), None));
    }
    let mut set = PortSet::empty();
    for p in &g.ports {
        let (lo, hi) = p.split_once('-').unwrap_or((p, p));
        match (lo.trim().parse::<u16>(), hi.trim().parse::<u16>()) {
            (Ok(lo), Ok(hi)) if lo <= hi => {
                set.union_with(&PortSet::range(proto, PortRange::new(lo.max(1), hi.max(1))))
            }
            _ => return Err(format!("`{p}` is not a port or port range")),
        }
    }
    Ok((set, None))
}
