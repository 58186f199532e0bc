//! Addresses: parsing (E015), cell-relative addresses (E016), overlaps (E004),
//! service hosts inside their zone (E005), and each atom's exact address set
//! (most specific range wins: the external carve-out).

use crate::addr::AddrSet;
use crate::diag::Diagnostic;
use crate::span::Span;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Parses an absolute address or CIDR; a bare address is a single host.
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    if text.contains('-') {
        return Err(format!("`{text}` is an address range; a CIDR is needed here"));
    }
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("`{addr}` is not an IPv4 or IPv6 address"))?;
    if let IpAddr::V6(v6) = ip {
        if let Some(v4) = v6.to_ipv4_mapped() {
            return Err(format!(
                "`{addr}` is an IPv4-mapped IPv6 address; write the IPv4 address {v4} instead"
            ));
        }
    }
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max && !l.is_empty() && l.len() <= 3 => n,
            _ => {
                return Err(format!(
                    "`/{l}` is not a prefix length for {} (0 to {max})",
                    if max == 32 { "IPv4" } else { "IPv6" }
                ))
            }
        },
    };
    let net = IpNet::new(ip, len).map_err(|e| e.to_string())?;
    if net.trunc() != net {
        return Err(format!(
            "host bits are set in `{text}`: did you mean `{}`?",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Resolves `+A/L` against a cell's block: the block's base plus A, length L.
pub fn parse_relative(text: &str, block: IpNet) -> Result<IpNet, (&'static str, String)> {
    let off = parse_net_unchecked(text).map_err(|m| ("E015", m))?;
    let sum = match (block, off) {
        (IpNet::V4(b), IpNet::V4(o)) => {
            let base = u32::from(b.network()).checked_add(u32::from(o.network()));
            base.and_then(|a| Ipv4Net::new(a.into(), o.prefix_len()).ok())
                .map(IpNet::V4)
        }
        (IpNet::V6(b), IpNet::V6(o)) => {
            let base = u128::from(b.network()).checked_add(u128::from(o.network()));
            base.and_then(|a| Ipv6Net::new(a.into(), o.prefix_len()).ok())
                .map(IpNet::V6)
        }
        _ => {
            return Err((
                "E016",
                format!("`+{text}` and the cell block {block} are of different address families"),
            ))
        }
    };
    let Some(net) = sum else {
        return Err(("E016", format!("`+{text}` leaves the cell's block {block}")));
    };
    if net.trunc() != net {
        return Err((
            "E015",
            format!("host bits are set in `+{text}` (it resolves to {net} in this cell)"),
        ));
    }
    if !block.contains(&net) {
        return Err((
            "E016",
            format!("`+{text}` resolves to {net}, outside the cell's block {block}"),
        ));
    }
    Ok(net)
}

fn parse_net_unchecked(text: &str) -> Result<IpNet, String> {
    let (addr, len) = text.split_once('/').unwrap_or((text, ""));
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("`{addr}` is not an IPv4 or IPv6 address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = if len.is_empty() {
        max
    } else {
        len.parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("`/{len}` is not a prefix length"))?
    };
    IpNet::new(ip, len).map_err(|e| e.to_string())
}

/// One declared range: a zone's cidr (owner = the zone's remainder atom) or a
/// service's hosts (owner = the service atom).
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub net: IpNet,
    pub span: Span,
    pub zone: usize,
    pub atom: usize,
    pub is_service: bool,
}

/// How many atoms with the very same range are compared with the ranges after them.
const MAX_EQUAL_RANGES: usize = 8;

/// The outcome of the address pass: each atom's address set.
///
/// `blocks` are the address blocks of the `cells` statements. A block belongs
/// to its cells as a whole: an external zone holding it carves out the block
/// once, not each zone inside it, so addresses of the block that no zone
/// claims belong to no atom.
pub fn atom_addresses(
    ranges: &[Range],
    zone_external: &[bool],
    zone_names: &[String],
    blocks: &[IpNet],
    n_atoms: usize,
    diags: &mut Vec<Diagnostic>,
) -> Vec<AddrSet> {
    let mut include: Vec<Vec<IpNet>> = vec![vec![]; n_atoms];
    let mut except: Vec<Vec<IpNet>> = vec![vec![]; n_atoms];
    let mut blocks_out: BTreeSet<(usize, IpNet)> = BTreeSet::new();
    let mut dropped: Vec<BTreeSet<IpNet>> = vec![BTreeSet::new(); n_atoms];
    let mut sorted: Vec<&Range> = ranges.iter().collect();
    // Containers first: by family, network address, then shorter prefix; zones before services.
    sorted.sort_by_key(|r| (r.net.network(), r.net.prefix_len(), r.is_service, r.span));
    let mut stack: Vec<&Range> = vec![];
    let mut reported: BTreeSet<(usize, usize)> = BTreeSet::new();
    for r in sorted {
        include[r.atom].push(r.net);
        while stack.last().is_some_and(|s| !s.net.contains(&r.net)) {
            stack.pop();
        }
        for s in &stack {
            if s.atom == r.atom {
                continue;
            }
            let strict = s.net.prefix_len() < r.net.prefix_len();
            overlap_check(s, r, strict, zone_external, zone_names, &mut reported, diags);
            if strict {
                match enclosing_block(blocks, &r.net).filter(|b| {
                    zone_external[s.zone]
                        && !zone_external[r.zone]
                        && s.net.prefix_len() < b.prefix_len()
                        && s.net.contains(b)
                }) {
                    Some(b) => {
                        if blocks_out.insert((s.atom, b)) {
                            except[s.atom].push(b);
                        }
                    }
                    None => except[s.atom].push(r.net),
                }
            } else if !s.is_service && r.is_service && s.zone == r.zone {
                dropped[s.atom].insert(s.net); // a service covering a whole cidr of its zone
            }
        }
        // Three or more atoms with one and the same range are already E004. Stacking
        // more copies (a cells block repeating an absolute cidr 4096 times) would make
        // every later range meet them all: quadratic, and millions of E004s.
        if stack.iter().rev().take_while(|s| s.net == r.net).count() < MAX_EQUAL_RANGES {
            stack.push(r);
        }
    }
    (0..n_atoms)
        .map(|a| {
            let inc = include[a]
                .iter()
                .filter(|n| !dropped[a].contains(n))
                .copied()
                .collect();
            AddrSet::new(inc, std::mem::take(&mut except[a]))
        })
        .collect()
}

/// The largest cells block holding `net`, if any.
fn enclosing_block(blocks: &[IpNet], net: &IpNet) -> Option<IpNet> {
    blocks
        .iter()
        .filter(|b| b.contains(net))
        .min_by_key(|b| b.prefix_len())
        .copied()
}

/// E055 for an external zone's cidr or service hosts inside a cells block: the
/// block belongs to its cells as a whole, and an external zone holding it only
/// carves it out whole.
pub fn external_in_cells(
    ranges: &[Range],
    zone_external: &[bool],
    zone_names: &[String],
    blocks: &[(IpNet, Span)],
    diags: &mut Vec<Diagnostic>,
) {
    let mut reported = BTreeSet::new();
    for r in ranges.iter().filter(|r| zone_external[r.zone]) {
        let Some((block, span)) = blocks.iter().find(|(b, _)| b.contains(&r.net)) else {
            continue;
        };
        if !reported.insert(r.span) {
            continue; // a cells block repeating one zone: report it once
        }
        let what = if r.is_service { "service hosts" } else { "cidr" };
        diags.push(
            Diagnostic::error(
                "E055",
                r.span,
                format!(
                    "external zone `{}` has {what} {} inside the cells block {block}",
                    zone_names[r.zone], r.net
                ),
            )
            .with_label(*span, format!("the cells block {block} is declared here"))
            .with_help("a cells block belongs to its cells: give the external zone addresses outside the block, or make the zone demilitarised or militarised"),
        );
    }
}

/// E004 when `inner` lies in `outer` and that is not an external zone holding another zone.
fn overlap_check(
    outer: &Range,
    inner: &Range,
    strict: bool,
    external: &[bool],
    names: &[String],
    reported: &mut BTreeSet<(usize, usize)>,
    diags: &mut Vec<Diagnostic>,
) {
    let ok = match (outer.is_service, inner.is_service) {
        (false, false) => outer.zone != inner.zone && strict && external[outer.zone],
        // a service inside its own zone's range is the normal case; inside another
        // zone's range it is fine only when that zone is external and holds its zone
        (false, true) => outer.zone == inner.zone || (strict && external[outer.zone]),
        (true, false) => outer.zone == inner.zone || (external[outer.zone] && strict), // own zone: E005's
        (true, true) => outer.zone != inner.zone && strict && external[outer.zone],
    };
    if ok || !reported.insert((outer.atom.min(inner.atom), outer.atom.max(inner.atom))) {
        return;
    }
    let what = if outer.is_service && inner.is_service && outer.zone == inner.zone {
        format!(
            "two services of zone `{}` share addresses: {}",
            names[inner.zone], inner.net
        )
    } else {
        format!(
            "zones `{}` and `{}` share addresses: {}",
            names[outer.zone], names[inner.zone], inner.net
        )
    };
    diags.push(
        Diagnostic::error("E004", inner.span, what)
            .with_label(outer.span, format!("{} is declared here", outer.net))
            .with_help("give each zone (and each service of a zone) its own addresses; only an external zone may hold another zone's range, which is then carved out of it"),
    );
}

/// E005 for service hosts outside every cidr of their zone.
/// `ranges` are the address ranges among the hosts, as written, by span: a
/// range is several prefixes with one span, reported once and named as written.
pub fn hosts_inside_zone(
    zone_name: &str,
    zone_cidrs: &[IpNet],
    hosts: &[(IpNet, Span)],
    ranges: &[(Span, &str)],
    zone_span: Span,
    diags: &mut Vec<Diagnostic>,
) {
    let mut reported: Option<Span> = None;
    for (net, span) in hosts {
        if zone_cidrs.iter().any(|c| c.contains(net)) || reported == Some(*span) {
            continue;
        }
        reported = Some(*span);
        let h = match ranges.iter().find(|(s, _)| s == span) {
            Some((_, text)) => format!("{net} (of the range {text})"),
            None => net.to_string(),
        };
        let msg = if zone_cidrs.is_empty() {
            format!("service hosts {h} given, but zone `{zone_name}` has no cidr")
        } else {
            format!(
                "service hosts {h} lie outside zone `{zone_name}` ({})",
                zone_cidrs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        diags.push(
            Diagnostic::error("E005", *span, msg)
                .with_label(zone_span, format!("zone `{zone_name}` is declared here"))
                .with_help("move the host into the zone's cidr, or widen the zone's cidr"),
        );
    }
}
