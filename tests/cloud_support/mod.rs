//! An evaluator for the cloud targets' output, independent of the back ends:
//! it reads the emitted JSON back (groups, rules, tags, priorities, deny
//! rules, the clouds' default rules) and computes which (source atom,
//! destination atom, protocol, port) the firewalls allow, to compare with
//! moat's matrix.
//!
//! Model: one instance per covered atom, carrying what the docs say it gets
//! (AWS: the group tagged `moat:atom`; GCP: the policy tag and its atom's tag;
//! Azure: its zone's NSG and its atom's ASG), and the atom's exact addresses.
//! A packet belongs to one address family: a peer named by address is matched
//! per family by the prefixes of that family (ICMP only over IPv4, ICMPv6 only
//! over IPv6); an atom with no addresses is reachable only by group, in both.
#![allow(dead_code)]

use ipnet::IpNet;
use moat::addr::AddrSet;
use moat::backend::{cloud::ident, Artefact, Target};
use moat::ir::{AtomId, Ir, SiteKind};
use moat::ports::{PortRange, PortSet, Proto};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Which way a rule filters, seen from the instance it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dir {
    In,
    Out,
}

/// Who a rule lets in or out.
#[derive(Debug, Clone)]
pub enum Sel {
    Atoms(BTreeSet<AtomId>),
    Cidr(IpNet),
    Any,
}

/// One rule as the cloud would evaluate it.
#[derive(Debug, Clone)]
pub struct ERule {
    pub name: String,
    /// The instances (atoms) it applies to.
    pub applies: BTreeSet<AtomId>,
    pub dir: Dir,
    pub peer: Vec<Sel>,
    pub ports: PortSet,
    pub allow: bool,
    /// Lower is evaluated first; at equal priority a deny wins.
    pub priority: i64,
}

/// A firewall configuration read back from the output.
pub struct Model {
    pub rules: Vec<ERule>,
    /// What happens when no rule matches: (owner, peer, dir) -> allowed.
    pub default: Box<dyn Fn(AtomId, AtomId, Dir) -> bool>,
    /// Structural problems found while reading (unknown references, ...).
    pub problems: Vec<String>,
}

/// The atoms a target covers (zones at sites of its kind, except unmanaged
/// ones: their instances get nothing of moat's, and are peers by address).
pub fn covered(ir: &Ir, kind: SiteKind) -> BTreeSet<AtomId> {
    (0..ir.atoms.len())
        .filter(|a| ir.site_of(*a).kind == kind && !ir.is_unmanaged(*a))
        .collect()
}

fn kind(target: Target) -> SiteKind {
    match target {
        Target::Aws => SiteKind::Aws,
        Target::Gcp => SiteKind::Gcp,
        _ => SiteKind::Azure,
    }
}

/// A pseudo-atom: an instance in a covered atom's network that moat does not
/// manage (no group, tag or ASG of moat's; an address moat does not know).
pub const STRANGER: AtomId = usize::MAX;

/// The address families a peer is matched in (both when it has no addresses).
fn families(ir: &Ir, a: AtomId) -> Vec<bool> {
    if a == STRANGER {
        return vec![false, true];
    }
    let p = ir.atoms[a].addrs.prefixes();
    let f: Vec<bool> = [false, true]
        .into_iter()
        .filter(|v6| p.iter().any(|n| matches!(n, IpNet::V6(_)) == *v6))
        .collect();
    if f.is_empty() {
        vec![false, true]
    } else {
        f
    }
}

fn feasible(proto: Proto, v6: bool) -> bool {
    match proto {
        Proto::Icmp => !v6,
        Proto::Icmpv6 => v6,
        _ => true,
    }
}

/// The matrix's ports for a check against peer `p`, without the ICMP family
/// that cannot exist towards it.
fn feasible_ports(ir: &Ir, ports: &PortSet, p: AtomId) -> PortSet {
    let f = families(ir, p);
    let mut drop = PortSet::empty();
    if !f.contains(&false) {
        drop.union_with(&PortSet::proto(Proto::Icmp));
    }
    if !f.contains(&true) {
        drop.union_with(&PortSet::proto(Proto::Icmpv6));
    }
    ports.subtract(&drop)
}

/// Elementary (proto, range) pieces: no rule's port set cuts through one.
fn pieces(rules: &[&ERule]) -> Vec<(Proto, PortRange)> {
    let mut out = vec![];
    for proto in Proto::ALL {
        if !proto.has_ports() {
            out.push((proto, PortRange::FULL));
            continue;
        }
        let mut cuts: BTreeSet<u32> = BTreeSet::from([1, 65536]);
        for r in rules {
            for rg in r.ports.get(proto).unwrap_or(&[]) {
                cuts.insert(u32::from(rg.lo));
                cuts.insert(u32::from(rg.hi) + 1);
            }
        }
        let v: Vec<u32> = cuts.into_iter().collect();
        for w in v.windows(2) {
            out.push((proto, PortRange::new(w[0] as u16, (w[1] - 1) as u16)));
        }
    }
    out
}

fn family_prefixes(ir: &Ir, a: AtomId, v6: bool) -> Vec<IpNet> {
    if a == STRANGER {
        return vec![];
    }
    ir.atoms[a]
        .addrs
        .prefixes()
        .into_iter()
        .filter(|n| matches!(n, IpNet::V6(_)) == v6)
        .collect()
}

/// Some(true) when `cidrs` cover all of `prefixes`, Some(false) when they miss
/// all of them, None when they cover a part (a rule that splits an atom). An
/// atom without declared addresses (empty `prefixes`) still has some address:
/// only a range holding every address of the family surely matches it.
fn coverage(cidrs: &[IpNet], prefixes: &[IpNet]) -> Option<bool> {
    if prefixes.is_empty() {
        return Some(cidrs.iter().any(|c| c.prefix_len() == 0));
    }
    let mut all = true;
    let mut any = false;
    for q in prefixes {
        let inside: Vec<IpNet> = cidrs
            .iter()
            .filter(|c| q.contains(*c) && *c != q)
            .copied()
            .collect();
        let full = cidrs.iter().any(|c| c.contains(q))
            || (!inside.is_empty() && AddrSet::new(vec![*q], inside.clone()).prefixes().is_empty());
        let touch = full || !inside.is_empty();
        all &= full;
        any |= touch;
    }
    if all {
        Some(true)
    } else if any {
        None
    } else {
        Some(false)
    }
}

impl Model {
    /// The ports `owner` lets through from (`In`) or to (`Out`) `peer`.
    pub fn allowed(
        &self,
        ir: &Ir,
        owner: AtomId,
        peer: AtomId,
        dir: Dir,
        problems: &mut Vec<String>,
    ) -> PortSet {
        let mut rules: Vec<&ERule> = self
            .rules
            .iter()
            .filter(|r| r.dir == dir && r.applies.contains(&owner))
            .collect();
        rules.sort_by_key(|r| r.priority);
        let fams = families(ir, peer);
        let mut out = PortSet::empty();
        for (proto, rg) in pieces(&rules) {
            let fs: Vec<bool> = fams.iter().copied().filter(|f| feasible(proto, *f)).collect();
            if fs.is_empty() {
                continue;
            }
            let ok = fs
                .iter()
                .all(|f| self.decide(ir, &rules, owner, peer, dir, proto, rg.lo, *f, problems));
            if ok {
                out.union_with(&PortSet::range(proto, rg));
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        ir: &Ir,
        rules: &[&ERule],
        owner: AtomId,
        peer: AtomId,
        dir: Dir,
        proto: Proto,
        port: u16,
        v6: bool,
        problems: &mut Vec<String>,
    ) -> bool {
        let levels: BTreeSet<i64> = rules.iter().map(|r| r.priority).collect();
        let prefixes = family_prefixes(ir, peer, v6);
        for level in levels {
            let at: Vec<&&ERule> = rules
                .iter()
                .filter(|r| r.priority == level && r.ports.contains(proto, port))
                .collect();
            for allow in [false, true] {
                let of: Vec<&&ERule> = at.iter().copied().filter(|r| r.allow == allow).collect();
                let direct = of.iter().any(|r| {
                    r.peer.iter().any(|s| match s {
                        Sel::Any => true,
                        Sel::Atoms(set) => set.contains(&peer),
                        Sel::Cidr(_) => false,
                    })
                });
                let cidrs: Vec<IpNet> = of
                    .iter()
                    .flat_map(|r| r.peer.iter())
                    .filter_map(|s| if let Sel::Cidr(n) = s { Some(*n) } else { None })
                    .filter(|n| matches!(n, IpNet::V6(_)) == v6)
                    .collect();
                let by_addr = match coverage(&cidrs, &prefixes) {
                    Some(b) => b,
                    None => {
                        problems.push(format!(
                            "rules {:?} cover only part of `{}` ({proto}/{port}, {})",
                            of.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
                            name(ir, peer),
                            if v6 { "IPv6" } else { "IPv4" }
                        ));
                        false
                    }
                };
                if direct || by_addr {
                    return allow;
                }
            }
        }
        (self.default)(owner, peer, dir)
    }
}

fn name(ir: &Ir, a: AtomId) -> &str {
    if a == STRANGER {
        "(an unmanaged instance)"
    } else {
        &ir.atoms[a].name
    }
}

/// Compares the model's allowed flows with moat's matrix on the covered atoms.
/// Returns every difference and structural problem, empty when they agree.
pub fn compare(ir: &Ir, target: Target, model: &Model) -> Vec<String> {
    let cov = covered(ir, kind(target));
    let mut problems = model.problems.clone();
    let n = ir.atoms.len();
    for s in 0..n {
        for d in 0..n {
            if !cov.contains(&s) && !cov.contains(&d) {
                continue;
            }
            let matrix = ir.flows.get(&(s, d)).map(|f| f.ports.clone()).unwrap_or_default();
            let mut want = matrix.clone();
            let mut got = PortSet::any();
            if cov.contains(&d) {
                want = feasible_ports(ir, &want, s);
                got = got.intersect(&model.allowed(ir, d, s, Dir::In, &mut problems));
            }
            if cov.contains(&s) {
                want = feasible_ports(ir, &want, d);
                got = got.intersect(&model.allowed(ir, s, d, Dir::Out, &mut problems));
            }
            if got != want {
                problems.push(format!(
                    "{} -> {}: firewalls allow `{got}`, the matrix says `{want}`",
                    ir.atoms[s].name, ir.atoms[d].name
                ));
            }
        }
    }
    // An instance moat does not manage, in a covered atom's network, gets
    // nothing in, unless the policy lets every address in (an atom holding a
    // whole /0, where that instance's address must lie too).
    let everything = (0..n).any(|a| ir.atoms[a].addrs.prefixes().iter().any(|p| p.prefix_len() == 0));
    if !everything {
        for o in &cov {
            let got = model.allowed(ir, *o, STRANGER, Dir::In, &mut problems);
            if !got.is_empty() {
                problems.push(format!(
                    "an unmanaged instance at the site of `{}` gets `{got}` into it",
                    ir.atoms[*o].name
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

/// Reads one artefact as JSON.
pub fn json(artefacts: &[Artefact], path: &str) -> Value {
    let a = artefacts
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no artefact {path}"));
    serde_json::from_str(&a.contents).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

fn obj(v: &Value) -> Vec<(&String, &Value)> {
    v.as_object().map(|m| m.iter().collect()).unwrap_or_default()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|x| s(x).to_string()).collect())
        .unwrap_or_default()
}

/// `${aws_security_group.x.id}` -> `x`, if it has that form.
fn tf_ref<'a>(v: &'a str, kind: &str, attr: &str) -> Option<&'a str> {
    v.strip_prefix(&format!("${{{kind}."))
        .and_then(|r| r.strip_suffix(&format!(".{attr}}}")))
}

fn net(v: &str, problems: &mut Vec<String>) -> Option<IpNet> {
    match v.parse::<IpNet>() {
        Ok(n) if n.trunc() == n => Some(n),
        _ => {
            problems.push(format!("`{v}` is not a canonical CIDR"));
            None
        }
    }
}

/// Every `${var.x}` names a declared variable and every `${type.name.attr}` a
/// declared resource: `terraform validate` without providers checks neither.
pub fn check_references(v: &Value) -> Vec<String> {
    let mut problems = vec![];
    let vars: BTreeSet<String> = obj(&v["variable"]).into_iter().map(|(k, _)| k.clone()).collect();
    let mut res: BTreeSet<String> = BTreeSet::new();
    for (ty, m) in obj(&v["resource"]) {
        for (name, _) in obj(m) {
            res.insert(format!("{ty}.{name}"));
        }
    }
    let mut stack = vec![v];
    while let Some(x) = stack.pop() {
        match x {
            Value::String(t) => {
                let mut rest = t.as_str();
                while let Some(i) = rest.find("${") {
                    let Some(j) = rest[i..].find('}') else { break };
                    let inner = &rest[i + 2..i + j];
                    let parts: Vec<&str> = inner.split('.').collect();
                    let ok = match parts.as_slice() {
                        ["var", name] => vars.contains(*name),
                        [ty, name, _attr] => res.contains(&format!("{ty}.{name}")),
                        _ => false,
                    };
                    if !ok {
                        problems.push(format!("unresolved reference `${{{inner}}}`"));
                    }
                    rest = &rest[i + j..];
                }
            }
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(m) => stack.extend(m.values()),
            _ => {}
        }
    }
    problems
}

/// The port set of an AWS (ip_protocol, from, to); None for what matches no
/// whole moat protocol (a single ICMP type).
fn aws_ports(proto: &str, from: Option<i64>, to: Option<i64>) -> Option<PortSet> {
    let range = |p: Proto| match (from, to) {
        (Some(lo), Some(hi)) if (1..=65535).contains(&lo) && (lo..=65535).contains(&hi) => {
            Some(PortSet::range(p, PortRange::new(lo as u16, hi as u16)))
        }
        (Some(0), Some(65535)) | (None, None) => Some(PortSet::proto(p)),
        _ => None,
    };
    match proto {
        "-1" | "all" => Some(PortSet::any()),
        "tcp" | "6" => range(Proto::Tcp),
        "udp" | "17" => range(Proto::Udp),
        "icmp" | "1" => {
            matches!((from, to), (Some(-1), Some(-1)) | (None, None)).then(|| PortSet::proto(Proto::Icmp))
        }
        "icmpv6" | "58" => {
            matches!((from, to), (Some(-1), Some(-1)) | (None, None)).then(|| PortSet::proto(Proto::Icmpv6))
        }
        "132" | "sctp" => Some(PortSet::proto(Proto::Sctp)),
        _ => None,
    }
}

/// Reads `aws/main.tf.json`. Terraform removes AWS's default allow-all egress
/// rule from the groups it creates, so nothing is allowed by default.
pub fn aws_terraform(ir: &Ir, v: &Value) -> Model {
    let mut problems = check_references(v);
    let mut groups: BTreeMap<String, AtomId> = BTreeMap::new();
    let mut members: BTreeMap<String, BTreeSet<AtomId>> = BTreeMap::new();
    for (k, g) in obj(&v["resource"]["aws_security_group"]) {
        if let Some(z) = g["tags"].get("moat:members") {
            members.insert(k.clone(), zone_atoms(ir, s(z), &mut problems));
            continue;
        }
        match ir.atom_id(s(&g["tags"]["moat:atom"])) {
            Some(a) => {
                groups.insert(k.clone(), a);
            }
            None => problems.push(format!("group {k} has no known moat:atom tag")),
        }
        if g.get("ingress").is_some() || g.get("egress").is_some() {
            problems.push(format!("group {k} has inline rules"));
        }
    }
    let mut rules = vec![];
    for (ty, dir) in [
        ("aws_vpc_security_group_ingress_rule", Dir::In),
        ("aws_vpc_security_group_egress_rule", Dir::Out),
    ] {
        for (k, r) in obj(&v["resource"][ty]) {
            let owner = tf_ref(s(&r["security_group_id"]), "aws_security_group", "id").unwrap_or("");
            // A rule on a zone's members group applies to every member.
            let applies = match (groups.get(owner), members.get(owner)) {
                (Some(a), _) => BTreeSet::from([*a]),
                (_, Some(set)) => set.clone(),
                _ => {
                    problems.push(format!("rule {k}: unknown group"));
                    continue;
                }
            };
            let mut peer = vec![];
            if let Some(g) = r.get("referenced_security_group_id") {
                let g = tf_ref(s(g), "aws_security_group", "id").unwrap_or("");
                match (groups.get(g), members.get(g)) {
                    (Some(a), _) => peer.push(Sel::Atoms(BTreeSet::from([*a]))),
                    (_, Some(set)) => peer.push(Sel::Atoms(set.clone())),
                    _ => problems.push(format!("rule {k}: unknown referenced group")),
                }
            }
            for key in ["cidr_ipv4", "cidr_ipv6"] {
                if let Some(c) = r.get(key).and_then(|c| net(s(c), &mut problems)) {
                    if matches!(c, IpNet::V6(_)) != (key == "cidr_ipv6") {
                        problems.push(format!("rule {k}: {key} holds {c}"));
                    }
                    peer.push(Sel::Cidr(c));
                }
            }
            if peer.len() != 1 {
                problems.push(format!("rule {k}: needs exactly one peer"));
            }
            let Some(ports) = aws_ports(
                s(&r["ip_protocol"]),
                r["from_port"].as_i64(),
                r["to_port"].as_i64(),
            ) else {
                continue;
            };
            rules.push(ERule {
                name: k.clone(),
                applies,
                dir,
                peer,
                ports,
                allow: true,
                priority: 0,
            });
        }
    }
    Model {
        rules,
        default: Box::new(|_, _, _| false),
        problems,
    }
}

/// Every atom of the zone named `zone` (its members group's instances).
fn zone_atoms(ir: &Ir, zone: &str, problems: &mut Vec<String>) -> BTreeSet<AtomId> {
    let set: BTreeSet<AtomId> = (0..ir.atoms.len())
        .filter(|a| ir.zone_of(*a).name == zone)
        .collect();
    if set.is_empty() {
        problems.push(format!("members group of unknown zone {zone}"));
    }
    set
}

/// `{"Fn::GetAtt": [X, "GroupId"]}` -> X.
fn get_att(v: &Value) -> Option<&str> {
    let a = v.get("Fn::GetAtt")?.as_array()?;
    (a.len() == 2 && s(&a[1]) == "GroupId").then(|| s(&a[0]))
}

/// Reads `aws/template.json`. A CloudFormation group keeps AWS's default
/// allow-all egress rule unless it declares `SecurityGroupEgress` inline.
pub fn aws_cloudformation(ir: &Ir, v: &Value) -> Model {
    let mut problems = vec![];
    let mut groups: BTreeMap<String, AtomId> = BTreeMap::new();
    let mut open_egress: BTreeSet<AtomId> = BTreeSet::new();
    let mut members: BTreeMap<String, BTreeSet<AtomId>> = BTreeMap::new();
    let mut rules = vec![];
    let res = obj(&v["Resources"]);
    for (k, r) in &res {
        if s(&r["Type"]) != "AWS::EC2::SecurityGroup" {
            continue;
        }
        let tags = r["Properties"]["Tags"].as_array().cloned().unwrap_or_default();
        let applies = if let Some(t) = tags.iter().find(|t| s(&t["Key"]) == "moat:members") {
            let set = zone_atoms(ir, s(&t["Value"]), &mut problems);
            members.insert((*k).clone(), set.clone());
            set
        } else {
            let atom = tags
                .iter()
                .find(|t| s(&t["Key"]) == "moat:atom")
                .and_then(|t| ir.atom_id(s(&t["Value"])));
            let Some(atom) = atom else {
                problems.push(format!("group {k} has no known moat:atom tag"));
                continue;
            };
            groups.insert((*k).clone(), atom);
            BTreeSet::from([atom])
        };
        match r["Properties"]
            .get("SecurityGroupEgress")
            .and_then(Value::as_array)
        {
            None => {
                open_egress.extend(applies);
            }
            Some(inline) => {
                for (i, e) in inline.iter().enumerate() {
                    let c = e
                        .get("CidrIp")
                        .or(e.get("CidrIpv6"))
                        .and_then(|c| net(s(c), &mut problems));
                    let Some(ports) =
                        aws_ports(s(&e["IpProtocol"]), e["FromPort"].as_i64(), e["ToPort"].as_i64())
                    else {
                        continue;
                    };
                    let peer = c.map(Sel::Cidr).into_iter().collect();
                    rules.push(ERule {
                        name: format!("{k}/egress{i}"),
                        applies: applies.clone(),
                        dir: Dir::Out,
                        peer,
                        ports,
                        allow: true,
                        priority: 0,
                    });
                }
            }
        }
    }
    for (k, r) in &res {
        let (dir, peer_key) = match s(&r["Type"]) {
            "AWS::EC2::SecurityGroupIngress" => (Dir::In, "SourceSecurityGroupId"),
            "AWS::EC2::SecurityGroupEgress" => (Dir::Out, "DestinationSecurityGroupId"),
            _ => continue,
        };
        let p = &r["Properties"];
        let owner = get_att(&p["GroupId"]).unwrap_or("");
        let applies = match (groups.get(owner), members.get(owner)) {
            (Some(a), _) => BTreeSet::from([*a]),
            (_, Some(set)) => set.clone(),
            _ => {
                problems.push(format!("{k}: unknown group"));
                continue;
            }
        };
        let mut peer = vec![];
        if let Some(g) = p.get(peer_key) {
            let g = get_att(g).unwrap_or("");
            match (groups.get(g), members.get(g)) {
                (Some(a), _) => peer.push(Sel::Atoms(BTreeSet::from([*a]))),
                (_, Some(set)) => peer.push(Sel::Atoms(set.clone())),
                _ => problems.push(format!("{k}: unknown peer group")),
            }
        }
        for key in ["CidrIp", "CidrIpv6"] {
            if let Some(c) = p.get(key).and_then(|c| net(s(c), &mut problems)) {
                peer.push(Sel::Cidr(c));
            }
        }
        if peer.len() != 1 {
            problems.push(format!("{k}: needs exactly one peer"));
        }
        let Some(ports) = aws_ports(s(&p["IpProtocol"]), p["FromPort"].as_i64(), p["ToPort"].as_i64()) else {
            continue;
        };
        rules.push(ERule {
            name: (*k).clone(),
            applies,
            dir,
            peer,
            ports,
            allow: true,
            priority: 0,
        });
    }
    Model {
        rules,
        default: Box::new(move |o, _, d| d == Dir::Out && open_egress.contains(&o)),
        problems,
    }
}

/// The port set of a GCP allow/deny block.
fn gcp_ports(b: &Value, problems: &mut Vec<String>) -> PortSet {
    let proto = match s(&b["protocol"]) {
        "all" => return PortSet::any(),
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "sctp" => Proto::Sctp,
        "icmp" => Proto::Icmp,
        "58" | "ipv6-icmp" => Proto::Icmpv6,
        other => {
            problems.push(format!("unknown GCP protocol `{other}`"));
            return PortSet::empty();
        }
    };
    let ports = strs(&b["ports"]);
    if ports.is_empty() || !proto.has_ports() {
        return PortSet::proto(proto);
    }
    let mut set = PortSet::empty();
    for p in ports {
        let (lo, hi) = p.split_once('-').unwrap_or((&p, &p));
        match (lo.parse::<u16>(), hi.parse::<u16>()) {
            (Ok(lo), Ok(hi)) if lo >= 1 && lo <= hi => {
                set.union_with(&PortSet::range(proto, PortRange::new(lo, hi)))
            }
            _ => problems.push(format!("bad GCP port `{p}`")),
        }
    }
    set
}

/// Reads `gcp/main.tf.json`. An instance of atom A in the network of A's site
/// carries `local.moat_policy_tag` and `local.moat_tags[A]`. GCP's implied
/// rules deny ingress and allow egress.
pub fn gcp(ir: &Ir, v: &Value) -> Model {
    let mut problems = check_references(v);
    let policy_tag = s(&v["locals"]["moat_policy_tag"]).to_string();
    let mut tags: BTreeMap<AtomId, BTreeSet<String>> = BTreeMap::new();
    for (name, tag) in obj(&v["locals"]["moat_tags"]) {
        match ir.atom_id(name) {
            Some(a) => {
                tags.insert(a, BTreeSet::from([policy_tag.clone(), s(tag).to_string()]));
            }
            None => problems.push(format!("tag for unknown atom {name}")),
        }
    }
    let network_of = |a: AtomId| format!("${{var.{}_network}}", ident(&ir.site_of(a).name));
    let mut names = BTreeSet::new();
    let mut rules = vec![];
    for (k, r) in obj(&v["resource"]["google_compute_firewall"]) {
        let name = s(&r["name"]);
        if !names.insert(name.to_string()) || name.len() > 63 {
            problems.push(format!("firewall name `{name}` repeated or too long"));
        }
        let network = s(&r["network"]);
        let target = strs(&r["target_tags"]);
        let applies: BTreeSet<AtomId> = tags
            .iter()
            .filter(|(a, t)| {
                network_of(**a) == network && (target.is_empty() || target.iter().any(|x| t.contains(x)))
            })
            .map(|(a, _)| *a)
            .collect();
        let dir = if s(&r["direction"]) == "EGRESS" {
            Dir::Out
        } else {
            Dir::In
        };
        let mut peer = vec![];
        let src_tags = strs(&r["source_tags"]);
        if !src_tags.is_empty() {
            let set = tags
                .iter()
                .filter(|(a, t)| network_of(**a) == network && src_tags.iter().any(|x| t.contains(x)))
                .map(|(a, _)| *a)
                .collect();
            peer.push(Sel::Atoms(set));
        }
        let key = if dir == Dir::In {
            "source_ranges"
        } else {
            "destination_ranges"
        };
        let ranges: Vec<IpNet> = strs(&r[key])
            .iter()
            .filter_map(|c| net(c, &mut problems))
            .collect();
        if ranges.iter().any(|n| matches!(n, IpNet::V4(_)))
            && ranges.iter().any(|n| matches!(n, IpNet::V6(_)))
        {
            problems.push(format!("firewall {k} mixes IPv4 and IPv6 ranges"));
        }
        peer.extend(ranges.into_iter().map(Sel::Cidr));
        if dir == Dir::Out && r.get("destination_ranges").is_none() {
            peer.push(Sel::Any);
        }
        let priority = r["priority"].as_i64().unwrap_or(1000);
        for (list, allow) in [("allow", true), ("deny", false)] {
            let mut ports = PortSet::empty();
            for b in r[list].as_array().cloned().unwrap_or_default() {
                ports.union_with(&gcp_ports(&b, &mut problems));
            }
            if !ports.is_empty() {
                rules.push(ERule {
                    name: k.clone(),
                    applies: applies.clone(),
                    dir,
                    peer: peer.clone(),
                    ports,
                    allow,
                    priority,
                });
            }
        }
    }
    Model {
        rules,
        default: Box::new(|_, _, d| d == Dir::Out),
        problems,
    }
}

/// The port set of an Azure rule: `Icmp` is ICMP and ICMPv6 alike.
fn azure_ports(r: &Value, problems: &mut Vec<String>) -> PortSet {
    let protos = match s(&r["protocol"]) {
        "*" => return PortSet::any(),
        "Tcp" => vec![Proto::Tcp],
        "Udp" => vec![Proto::Udp],
        "Icmp" => return PortSet::proto(Proto::Icmp).union(&PortSet::proto(Proto::Icmpv6)),
        other => {
            problems.push(format!("unknown Azure protocol `{other}`"));
            vec![]
        }
    };
    let mut ranges: Vec<String> = strs(&r["destination_port_ranges"]);
    if let Some(p) = r.get("destination_port_range") {
        ranges.push(s(p).to_string());
    }
    let mut set = PortSet::empty();
    for p in protos {
        for rg in &ranges {
            if rg == "*" {
                set.union_with(&PortSet::proto(p));
                continue;
            }
            let (lo, hi) = rg.split_once('-').unwrap_or((rg, rg));
            match (lo.parse::<u16>(), hi.parse::<u16>()) {
                (Ok(lo), Ok(hi)) if lo >= 1 && lo <= hi => {
                    set.union_with(&PortSet::range(p, PortRange::new(lo, hi)))
                }
                _ => problems.push(format!("bad Azure port `{rg}`")),
            }
        }
    }
    set
}

/// Reads `azure/main.tf.json`. An instance of atom A sits behind its zone's
/// NSG (tag `moat-zone`) and in A's ASG (tag `moat-atom`). Azure's default
/// rules allow the virtual network in and everything out.
pub fn azure(ir: &Ir, v: &Value) -> Model {
    let mut problems = check_references(v);
    let mut asgs: BTreeMap<String, AtomId> = BTreeMap::new();
    for (k, g) in obj(&v["resource"]["azurerm_application_security_group"]) {
        match ir.atom_id(s(&g["tags"]["moat-atom"])) {
            Some(a) => {
                asgs.insert(format!("${{azurerm_application_security_group.{k}.id}}"), a);
            }
            None => problems.push(format!("ASG {k} has no known moat-atom tag")),
        }
    }
    let mut nsgs: BTreeMap<String, BTreeSet<AtomId>> = BTreeMap::new();
    for (k, g) in obj(&v["resource"]["azurerm_network_security_group"]) {
        if g.get("security_rule").is_some() {
            problems.push(format!("NSG {k} has inline rules"));
        }
        let zone = s(&g["tags"]["moat-zone"]);
        let atoms: BTreeSet<AtomId> = (0..ir.atoms.len())
            .filter(|a| ir.zone_of(*a).name == zone)
            .collect();
        if atoms.is_empty() {
            problems.push(format!("NSG {k} has no known moat-zone tag"));
        }
        nsgs.insert(format!("${{azurerm_network_security_group.{k}.name}}"), atoms);
    }
    let mut seen: BTreeSet<(String, String, i64)> = BTreeSet::new();
    let mut rules = vec![];
    for (k, r) in obj(&v["resource"]["azurerm_network_security_rule"]) {
        let nsg = s(&r["network_security_group_name"]).to_string();
        let Some(members) = nsgs.get(&nsg) else {
            problems.push(format!("rule {k}: unknown NSG"));
            continue;
        };
        let dir = if s(&r["direction"]) == "Outbound" {
            Dir::Out
        } else {
            Dir::In
        };
        let priority = r["priority"].as_i64().unwrap_or(0);
        if !(100..=4096).contains(&priority)
            || !seen.insert((nsg.clone(), s(&r["direction"]).to_string(), priority))
        {
            problems.push(format!("rule {k}: priority {priority} out of range or repeated"));
        }
        if s(&r["description"]).chars().count() > 140 {
            problems.push(format!("rule {k}: description longer than 140 characters"));
        }
        let end = |side: &str, problems: &mut Vec<String>| -> Vec<Sel> {
            let mut out = vec![];
            for id in strs(&r[format!("{side}_application_security_group_ids")]) {
                match asgs.get(&id) {
                    Some(a) => out.push(Sel::Atoms(BTreeSet::from([*a]))),
                    None => problems.push(format!("rule {k}: unknown ASG {id}")),
                }
            }
            let mut prefixes = strs(&r[format!("{side}_address_prefixes")]);
            if let Some(p) = r.get(format!("{side}_address_prefix")) {
                prefixes.push(s(p).to_string());
            }
            for p in prefixes {
                match p.as_str() {
                    "*" | "Any" => out.push(Sel::Any),
                    _ => out.extend(net(&p, problems).map(Sel::Cidr)),
                }
            }
            out
        };
        let (src, dst) = (end("source", &mut problems), end("destination", &mut problems));
        let (own, peer) = if dir == Dir::In { (dst, src) } else { (src, dst) };
        let applies: BTreeSet<AtomId> = members
            .iter()
            .copied()
            .filter(|a| {
                own.iter().any(|s| match s {
                    Sel::Any => true,
                    Sel::Atoms(set) => set.contains(a),
                    Sel::Cidr(_) => false,
                })
            })
            .collect();
        let ports = azure_ports(r, &mut problems);
        let allow = s(&r["access"]) == "Allow";
        rules.push(ERule {
            name: k.clone(),
            applies,
            dir,
            peer,
            ports,
            allow,
            priority,
        });
    }
    // AllowVnetInBound / AllowVnetOutBound / AllowInternetOutBound at 65000+.
    let sites: Vec<usize> = (0..ir.atoms.len()).map(|a| ir.zone_of(a).site).collect();
    let kinds: Vec<SiteKind> = (0..ir.atoms.len()).map(|a| ir.site_of(a).kind).collect();
    let default = move |o: AtomId, p: AtomId, d: Dir| {
        d == Dir::Out || p == STRANGER || (kinds[p] == SiteKind::Azure && sites[o] == sites[p])
    };
    Model {
        rules,
        default: Box::new(default),
        problems,
    }
}

/// Every model the target's artefacts hold (AWS: Terraform and CloudFormation).
pub fn models(ir: &Ir, target: Target, artefacts: &[Artefact]) -> Vec<(String, Model)> {
    match target {
        Target::Aws => vec![
            (
                "aws/main.tf.json".into(),
                aws_terraform(ir, &json(artefacts, "aws/main.tf.json")),
            ),
            (
                "aws/template.json".into(),
                aws_cloudformation(ir, &json(artefacts, "aws/template.json")),
            ),
        ],
        Target::Gcp => vec![(
            "gcp/main.tf.json".into(),
            gcp(ir, &json(artefacts, "gcp/main.tf.json")),
        )],
        _ => vec![(
            "azure/main.tf.json".into(),
            azure(ir, &json(artefacts, "azure/main.tf.json")),
        )],
    }
}

/// Emits `target` and checks every model of its output against the matrix.
pub fn verify(ir: &Ir, target: Target) -> Result<Vec<String>, Vec<moat::diag::Diagnostic>> {
    let artefacts = moat::backend::emit(target, ir, &Default::default())?;
    let mut out = vec![];
    for (path, m) in models(ir, target, &artefacts) {
        out.extend(
            compare(ir, target, &m)
                .into_iter()
                .map(|p| format!("{path}: {p}")),
        );
    }
    Ok(out)
}
