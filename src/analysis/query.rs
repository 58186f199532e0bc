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
