//! `query`: is one flow allowed, by which allows, or what denies it.

use crate::ir::{AllowId, AtomId, Ir};
use crate::ports::{PortRange, PortSet, Proto};
use serde::Serialize;
use std::net::IpAddr;

/// Resolves an endpoint: an atom name (a zone name means its remainder), an IP
/// address, or a DNS name that an external zone declares (`dns "..."`).
pub fn endpoint(ir: &Ir, text: &str) -> Result<AtomId, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return ir
            .atom_for_ip(ip)
            .ok_or_else(|| format!("no zone holds the address {ip}"));
    }
    ir.atom_id(text).or_else(|| dns_zone(ir, text)).ok_or_else(|| {
        let names: Vec<&str> = ir.atoms.iter().map(|a| a.name.as_str()).collect();
        match crate::syntax::parse::closest(text, &names) {
            Some(c) => format!("unknown zone or service `{text}`; did you mean `{c}`?"),
            None => format!("unknown zone or service `{text}`"),
        }
    })
}

/// The remainder of the zone that declares DNS name `text`, or a wildcard `*.domain` over it.
fn dns_zone(ir: &Ir, text: &str) -> Option<AtomId> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    let covers = |d: &String| {
        *d == name
            || d.strip_prefix('*')
                .is_some_and(|dot_domain| name.ends_with(dot_domain) && name.len() > dot_domain.len())
    };
    ir.zones
        .iter()
        .find(|z| z.dns.iter().any(covers))
        .map(|z| z.remainder)
}

/// Parses `tcp/5432`, `udp/53`, `icmp`: a protocol and, where it has ports, one port.
pub fn port_spec(text: &str) -> Result<(Proto, u16), String> {
    let (p, port) = match text.split_once('/') {
        Some((p, n)) => (p, Some(n)),
        None => (text, None),
    };
    let proto =
        Proto::parse(p).ok_or_else(|| format!("unknown protocol `{p}` (tcp, udp, sctp, icmp, icmpv6)"))?;
    match (proto.has_ports(), port) {
        (true, Some(n)) => match n.parse::<u16>() {
            Ok(v) if v >= 1 => Ok((proto, v)),
            _ => Err(format!("`{n}` is not a port (1 to 65535)")),
        },
        (true, None) => Err(format!("name one port: `{p}/PORT`")),
        (false, None) => Ok((proto, 0)),
        (false, Some(_)) => Err(format!("{p} has no ports")),
    }
}

/// One allow or forbid cited in an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cite {
    pub loc: String,
    pub reason: Option<String>,
    /// An allow's stable citation (`allow#…`), for `--artefacts`; not in the JSON answer.
    #[serde(skip)]
    pub cite: Option<String>,
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub verdict: &'static str,
    pub from: String,
    pub to: String,
    pub protocol: &'static str,
    pub port: Option<u16>,
    /// The allows that permit the flow (empty when denied).
    pub allows: Vec<Cite>,
    /// The forbids that rule the flow out.
    pub forbids: Vec<Cite>,
    /// What the pair allows otherwise, when denied (`tcp/8080`), if anything.
    pub otherwise: Option<String>,
}

/// Answers "may `from` open a connection to `to` on `(proto, port)`?".
pub fn query(ir: &Ir, from: AtomId, to: AtomId, proto: Proto, port: u16) -> Answer {
    let flow = ir.flows.get(&(from, to));
    let allows: Vec<AllowId> = flow.map(|f| f.allows_for(proto, port)).unwrap_or_default();
    let mut ids = allows.clone();
    ids.sort_unstable();
    ids.dedup();
    let probe = PortSet::range(proto, PortRange::new(port.max(1), port.max(1)));
    let forbids = ir
        .forbids
        .iter()
        .filter(|f| {
            f.pairs
                .iter()
                .any(|(a, b, p)| *a == from && *b == to && !p.intersect(&probe).is_empty())
        })
        .map(|f| Cite {
            loc: f.loc.clone(),
            reason: f.reason.clone(),
            cite: None,
        })
        .collect();
    let allowed = !ids.is_empty();
    Answer {
        verdict: if allowed { "allow" } else { "deny" },
        from: ir.atoms[from].name.clone(),
        to: ir.atoms[to].name.clone(),
        protocol: proto.as_str(),
        port: proto.has_ports().then_some(port),
        allows: ids
            .iter()
            .map(|a| Cite {
                loc: ir.allows[*a].loc.clone(),
                reason: ir.allows[*a].reason.clone(),
                cite: Some(ir.allows[*a].cite.clone()),
            })
            .collect(),
        forbids,
        otherwise: if allowed {
            None
        } else {
            flow.map(|f| f.ports.to_string())
        },
    }
}

/// A reason in double quotes, with control and bidi characters escaped so
/// that it stays on one line and reads as written.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') => {
                out.extend(c.escape_unicode())
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The human form: `allow` or `deny` on the first line, then the reasons.
pub fn to_text(a: &Answer) -> String {
    let what = match a.port {
        Some(p) => format!("{}/{p}", a.protocol),
        None => a.protocol.to_string(),
    };
    let cite = |c: &Cite| match &c.reason {
        Some(r) => format!("{} {}", c.loc, quote(r)),
        None => c.loc.clone(),
    };
    let mut out = format!("{}\n{} -> {} on {what}\n", a.verdict, a.from, a.to);
    for c in &a.allows {
        out.push_str(&format!("  allowed by {}\n", cite(c)));
    }
    if a.allows.is_empty() {
        for c in &a.forbids {
            out.push_str(&format!("  forbidden by {}\n", cite(c)));
        }
        match &a.otherwise {
            Some(o) => out.push_str(&format!(
                "  no allow covers {what}; between these two the policy allows only {o}\n"
            )),
            None => out.push_str("  no allow covers this pair: denied by default\n"),
        }
    }
    out
}

/// A `--port` argument: a protocol with a port, or the name of a port the
/// destination declares (`https`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortArg {
    Number(Proto, u16),
    Named(String),
}

/// Parses `tcp/5432`, `icmp` or a port name (`https`).
pub fn port_arg(text: &str) -> Result<PortArg, String> {
    let is_name = text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !text.contains('/') && Proto::parse(text).is_none() && is_name {
        return Ok(PortArg::Named(text.to_string()));
    }
    port_spec(text).map(|(p, n)| PortArg::Number(p, n))
}

/// The protocol and port of `arg` for a flow to `to`: a name is looked up in
/// the ports `to` declares, and must be one port.
pub fn resolve_port(ir: &Ir, to: AtomId, arg: &PortArg) -> Result<(Proto, u16), String> {
    let name = match arg {
        PortArg::Number(p, n) => return Ok((*p, *n)),
        PortArg::Named(name) => name,
    };
    let atom = &ir.atoms[to];
    let Some(set) = atom.ports.get(name) else {
        let known: Vec<&str> = atom.ports.keys().map(String::as_str).collect();
        return Err(if known.is_empty() {
            format!(
                "`{}` declares no named ports: give `PROTO/PORT`, e.g. `tcp/443`",
                atom.name
            )
        } else {
            format!(
                "`{}` declares no port `{name}` (it declares {})",
                atom.name,
                known.join(", ")
            )
        });
    };
    let parts: Vec<(Proto, &[PortRange])> = set.iter().collect();
    match parts.as_slice() {
        [(p, [])] if !p.has_ports() => Ok((*p, 0)),
        [(p, [r])] if r.lo == r.hi => Ok((*p, r.lo)),
        _ => Err(format!(
            "port `{name}` of `{}` is {set}, not one port: give one, e.g. `--port {}`",
            atom.name,
            parts
                .first()
                .map_or("tcp/443".to_string(), |(p, rs)| match rs.first() {
                    Some(r) => format!("{p}/{}", r.lo),
                    None => p.to_string(),
                })
        )),
    }
}

/// One side of a query: an atom, or an address prefix whose addresses
/// belong to several atoms (or to none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    Atom(AtomId),
    Range(Spread),
}

/// How a prefix divides among the atoms: each atom's share as prefixes, and
/// the part no zone holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spread {
    pub net: ipnet::IpNet,
    pub shares: Vec<(AtomId, Vec<ipnet::IpNet>)>,
    pub outside: Vec<ipnet::IpNet>,
}

/// Resolves `--from`/`--to`: an atom name, an address, or a prefix
/// (`10.1.0.0/16`). A prefix held by one atom alone is that atom.
pub fn side(ir: &Ir, text: &str) -> Result<Side, String> {
    if !text.contains('/') {
        return endpoint(ir, text).map(Side::Atom);
    }
    let net: ipnet::IpNet = text
        .parse()
        .map_err(|_| format!("`{text}` is not an atom, an address or a CIDR prefix"))?;
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has host bits set: did you mean `{}`?",
            net.trunc()
        ));
    }
    let s = spread(ir, net);
    match (s.shares.as_slice(), s.outside.is_empty()) {
        ([(a, _)], true) => Ok(Side::Atom(*a)),
        ([], _) => Err(format!("no zone holds any address of {net}")),
        _ => Ok(Side::Range(s)),
    }
}

fn spread(ir: &Ir, net: ipnet::IpNet) -> Spread {
    let mut shares = vec![];
    let mut covered = vec![];
    for (id, a) in ir.atoms.iter().enumerate() {
        if !a.addrs.include.iter().any(|r| crate::addr::overlaps(r, &net)) {
            continue;
        }
        let part: Vec<ipnet::IpNet> = a
            .addrs
            .prefixes()
            .into_iter()
            .filter_map(|q| {
                if net.contains(&q) {
                    Some(q)
                } else {
                    q.contains(&net).then_some(net)
                }
            })
            .collect();
        if !part.is_empty() {
            covered.extend(part.iter().copied());
            shares.push((id, part));
        }
    }
    let outside = if covered.contains(&net) {
        vec![]
    } else {
        crate::addr::AddrSet::new(vec![net], covered).prefixes()
    };
    Spread { net, shares, outside }
}

impl Side {
    /// The atoms of this side, each with the addresses it stands for (none for an atom side).
    pub fn atoms(&self) -> Vec<(AtomId, Vec<ipnet::IpNet>)> {
        match self {
            Side::Atom(a) => vec![(*a, vec![])],
            Side::Range(s) => s.shares.clone(),
        }
    }

    fn label(&self, ir: &Ir) -> String {
        match self {
            Side::Atom(a) => ir.atoms[*a].name.clone(),
            Side::Range(s) => s.net.to_string(),
        }
    }

    fn outside(&self) -> Vec<String> {
        match self {
            Side::Atom(_) => vec![],
            Side::Range(s) => s.outside.iter().map(ToString::to_string).collect(),
        }
    }
}

/// One pair of a range query: the addresses it covers on each side, and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Part {
    pub from_addresses: Vec<String>,
    pub to_addresses: Vec<String>,
    #[serde(flatten)]
    pub answer: Answer,
}

/// The answer for every address of a prefix: allowed only when every part
/// is allowed and every address is in some zone; `differs` when the parts
/// disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeAnswer {
    pub verdict: &'static str,
    pub differs: bool,
    pub from: String,
    pub to: String,
    pub parts: Vec<Part>,
    /// Addresses of `--from` / `--to` that no zone holds (nothing allows them).
    pub from_outside: Vec<String>,
    pub to_outside: Vec<String>,
}

/// Answers a query whose ends may be prefixes, one part per pair of atoms.
/// `port` gives the protocol and port of a flow to an atom.
pub fn query_range(
    ir: &Ir,
    from: &Side,
    to: &Side,
    port: impl Fn(AtomId) -> Result<(Proto, u16), String>,
) -> Result<RangeAnswer, String> {
    let mut parts = vec![];
    for (f, fa) in from.atoms() {
        for (t, ta) in to.atoms() {
            let (proto, p) = port(t)?;
            let text = |v: &[ipnet::IpNet]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
            parts.push(Part {
                from_addresses: text(&fa),
                to_addresses: text(&ta),
                answer: query(ir, f, t, proto, p),
            });
        }
    }
    let (from_outside, to_outside) = (from.outside(), to.outside());
    let allowed = parts.iter().filter(|p| p.answer.verdict == "allow").count();
    let outside = !from_outside.is_empty() || !to_outside.is_empty();
    let all = allowed == parts.len() && !outside;
    Ok(RangeAnswer {
        verdict: if all { "allow" } else { "deny" },
        differs: !(all || allowed == 0),
        from: from.label(ir),
        to: to.label(ir),
        parts,
        from_outside,
        to_outside,
    })
}

/// The human form of a range answer: the verdict, whether it differs
/// within the range, then each part with its reasons.
pub fn range_to_text(r: &RangeAnswer) -> String {
    let mut out = format!("{}\n{} -> {}", r.verdict, r.from, r.to);
    out.push_str(if r.differs {
        ": the answer differs within the range\n"
    } else {
        ": the same answer for every address\n"
    });
    let addrs = |v: &[String], name: &str| {
        if v.is_empty() {
            name.to_string()
        } else {
            format!("{} ({name})", v.join(", "))
        }
    };
    for p in &r.parts {
        let a = &p.answer;
        out.push_str(&format!(
            "  {} -> {}: {}\n",
            addrs(&p.from_addresses, &a.from),
            addrs(&p.to_addresses, &a.to),
            a.verdict
        ));
        for line in to_text(a).lines().skip(2) {
            out.push_str(&format!("  {line}\n"));
        }
    }
    for (side, v) in [("from", &r.from_outside), ("to", &r.to_outside)] {
        if !v.is_empty() {
            out.push_str(&format!(
                "  {side} {}: no zone holds these addresses: deny\n",
                v.join(", ")
            ));
        }
    }
    out
}
