//! Address ranges `FIRST-LAST` (both ends included): checked ends (E015, E016,
//! E026, E027), lowered to the CIDR prefixes that cover exactly the range, so
//! that the overlap checks, the carve-out and every back end see the exact set.

use super::addresses::{parse_net, parse_relative};
use crate::diag::Diagnostic;
use crate::span::Span;
use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use std::net::IpAddr;

/// True when an address literal is a range.
pub fn is_range(text: &str) -> bool {
    text.contains('-')
}

/// The prefixes of the range `text` (`FIRST-LAST`), its ends relative to `block`
/// for a `+` range in a cell; or the diagnostic saying what is wrong with it.
pub fn parse_range(text: &str, block: Option<IpNet>, span: Span) -> Result<Vec<IpNet>, Diagnostic> {
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    let (a, b) = (range_end(first, block, span)?, range_end(last, block, span)?);
    let shown = |ip: IpAddr| ip.to_string();
    match (a, b) {
        (IpAddr::V4(x), IpAddr::V4(y)) if x <= y => Ok(Ipv4Subnets::new(x, y, 0).map(IpNet::V4).collect()),
        (IpAddr::V6(x), IpAddr::V6(y)) if x <= y => Ok(Ipv6Subnets::new(x, y, 0).map(IpNet::V6).collect()),
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Err(Diagnostic::error(
            "E026",
            span,
            format!(
                "address range `{text}` ends before it starts: {} comes after {}",
                shown(a),
                shown(b)
            ),
        )
        .with_help(format!(
            "write the lower address first: `{}{last}-{first}`",
            plus(block)
        ))),
        _ => Err(Diagnostic::error(
            "E027",
            span,
            format!(
                "address range `{text}` mixes IPv4 and IPv6: {} and {}",
                shown(a),
                shown(b)
            ),
        )
        .with_help("write one range per address family, e.g. `10.0.0.2-10.0.0.51, fd00::2-fd00::51`")),
    }
}

fn plus(block: Option<IpNet>) -> &'static str {
    if block.is_some() {
        "+"
    } else {
        ""
    }
}

/// One end of a range: a single address (absolute, or relative to the cell's block).
fn range_end(text: &str, block: Option<IpNet>, span: Span) -> Result<IpAddr, Diagnostic> {
    if text.contains('/') {
        return Err(Diagnostic::error(
            "E027",
            span,
            format!("`{text}` is a CIDR: the ends of an address range are single addresses"),
        )
        .with_help("write a range as `10.0.0.2-10.0.0.51`, or a CIDR on its own such as `10.0.0.0/26`"));
    }
    let net = match block {
        None => parse_net(text).map_err(|m| ("E015", m)),
        Some(b) => parse_relative(text, b),
    };
    net.map(|n| n.addr()).map_err(|(code, msg)| {
        let help = if code == "E016" {
            "keep both ends of a relative range inside the cell's block"
        } else {
            "write a range of two addresses of one family, such as `10.0.0.2-10.0.0.51`"
        };
        Diagnostic::error(code, span, msg).with_help(help)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(text: &str) -> Vec<String> {
        parse_range(text, None, Span::default())
            .map(|v| v.iter().map(ToString::to_string).collect())
            .unwrap_or_else(|d| vec![d.code.to_string()])
    }

    #[test]
    fn a_range_becomes_exactly_its_prefixes() {
        assert_eq!(
            prefixes("10.0.0.2-10.0.0.51"),
            [
                "10.0.0.2/31",
                "10.0.0.4/30",
                "10.0.0.8/29",
                "10.0.0.16/28",
                "10.0.0.32/28",
                "10.0.0.48/30"
            ]
        );
        assert_eq!(prefixes("10.0.0.7-10.0.0.7"), ["10.0.0.7/32"]);
        assert_eq!(prefixes("0.0.0.0-255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(prefixes("fd00::1-fd00::2"), ["fd00::1/128", "fd00::2/128"]);
    }

    /// For many ranges (splitmix64 ends, and every end near a power of two):
    /// the prefixes are sorted, disjoint, inside the range, cover all of it,
    /// and no two neighbours could be one prefix (the list is minimal).
    #[test]
    fn prefixes_cover_exactly_and_minimally() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (seed ^ (seed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            (z ^ (z >> 27)) as u32
        };
        let mut cases: Vec<(u32, u32)> = (0..2000).map(|_| (next(), next())).collect();
        cases.extend(
            (0..32)
                .flat_map(|b| [(1u32 << b) - 1, 1 << b, (1 << b) + 1])
                .map(|x| (x, x.saturating_add(77))),
        );
        for (a, b) in cases {
            let (lo, hi) = (a.min(b), a.max(b));
            let text = format!(
                "{}-{}",
                std::net::Ipv4Addr::from(lo),
                std::net::Ipv4Addr::from(hi)
            );
            let nets = parse_range(&text, None, Span::default()).expect("a valid range");
            let mut at = u64::from(lo);
            for (i, n) in nets.iter().enumerate() {
                let IpNet::V4(n) = n else { panic!("family") };
                assert_eq!(
                    u64::from(u32::from(n.network())),
                    at,
                    "{text}: gap or overlap at {n}"
                );
                at = u64::from(u32::from(n.broadcast())) + 1;
                if let Some(IpNet::V4(m)) = nets.get(i + 1) {
                    let joined = n.prefix_len() == m.prefix_len() && n.supernet() == m.supernet();
                    assert!(!joined, "{text}: {n} and {m} are one prefix");
                }
            }
            assert_eq!(at, u64::from(hi) + 1, "{text}: does not end at the last address");
        }
    }

    #[test]
    fn bad_ranges_have_their_codes() {
        assert_eq!(prefixes("10.0.0.51-10.0.0.2"), ["E026"]);
        assert_eq!(prefixes("10.0.0.1-fd00::1"), ["E027"]);
        assert_eq!(prefixes("10.0.0.0/24-10.0.1.0/24"), ["E027"]);
        assert_eq!(prefixes("10.0.0.1-10.0.0.300"), ["E015"]);
    }

    #[test]
    fn a_relative_range_lies_in_its_cell() {
        let block: IpNet = "10.64.1.0/24".parse().expect("block");
        let got = parse_range("0.0.0.2-0.0.0.3", Some(block), Span::default()).expect("range");
        assert_eq!(got, vec!["10.64.1.2/31".parse::<IpNet>().expect("net")]);
        let out = parse_range("0.0.0.2-0.0.1.3", Some(block), Span::default());
        assert_eq!(out.map_err(|d| d.code), Err("E016"));
    }
}
