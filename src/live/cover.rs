//! Address arithmetic for the readers: an atom's addresses as numeric
//! intervals per family, split at every edge a live rule mentions, so that
//! each piece is wholly inside or wholly outside every rule's ranges.

use crate::addr::AddrSet;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An inclusive interval of addresses of one family (`v6`), as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Iv {
    pub v6: bool,
    pub lo: u128,
    pub hi: u128,
}

impl Iv {
    /// The interval of a prefix.
    pub fn of(n: &IpNet) -> Iv {
        match n {
            IpNet::V4(n) => Iv {
                v6: false,
                lo: u128::from(u32::from(n.network())),
                hi: u128::from(u32::from(n.broadcast())),
            },
            IpNet::V6(n) => Iv {
                v6: true,
                lo: u128::from(n.network()),
                hi: u128::from(n.broadcast()),
            },
        }
    }

    /// True when `self` lies wholly inside `n`.
    pub fn inside(&self, n: &Iv) -> bool {
        self.v6 == n.v6 && n.lo <= self.lo && self.hi <= n.hi
    }

    /// The interval as prefixes or a range, for reports (`10.0.0.0/25`, `10.0.0.1-10.0.0.5`).
    pub fn text(&self) -> String {
        let ps = prefixes(*self);
        if ps.len() <= 2 {
            return ps.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        }
        format!("{}-{}", addr(self.v6, self.lo), addr(self.v6, self.hi))
    }
}

fn addr(v6: bool, n: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    }
}

/// The fewest prefixes that make up an interval.
fn prefixes(iv: Iv) -> Vec<IpNet> {
    let bits: u32 = if iv.v6 { 128 } else { 32 };
    let mut out = vec![];
    let span = |s: u32| if s >= 128 { u128::MAX } else { (1u128 << s) - 1 };
    let mut lo = iv.lo;
    loop {
        // the largest aligned block at `lo` that does not pass `hi`
        let mut size = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        while size > 0 && lo.checked_add(span(size)).is_none_or(|l| l > iv.hi) {
            size -= 1;
        }
        let len = (bits - size) as u8;
        let net = if iv.v6 {
            Ipv6Net::new(Ipv6Addr::from(lo), len).map(IpNet::V6)
        } else {
            Ipv4Net::new(Ipv4Addr::from(lo as u32), len).map(IpNet::V4)
        };
        if let Ok(n) = net {
            out.push(n);
        }
        let last = lo + span(size);
        if last >= iv.hi {
            return out;
        }
        lo = last + 1;
    }
}

/// An address set as intervals (holes subtracted), sorted.
pub fn intervals(set: &AddrSet) -> Vec<Iv> {
    set.prefixes().iter().map(Iv::of).collect()
}

/// `ivs` split at every edge of `cuts` (and of nothing else): each piece lies
/// wholly inside or wholly outside each cut.
pub fn split(ivs: &[Iv], cuts: &[Iv]) -> Vec<Iv> {
    let mut out = vec![];
    for iv in ivs {
        let mut edges: BTreeSet<u128> = BTreeSet::new();
        for c in cuts.iter().filter(|c| c.v6 == iv.v6) {
            if c.lo > iv.lo && c.lo <= iv.hi {
                edges.insert(c.lo);
            }
            if c.hi >= iv.lo && c.hi < iv.hi {
                edges.insert(c.hi + 1);
            }
        }
        let mut lo = iv.lo;
        for e in edges {
            out.push(Iv {
                v6: iv.v6,
                lo,
                hi: e - 1,
            });
            lo = e;
        }
        out.push(Iv {
            v6: iv.v6,
            lo,
            hi: iv.hi,
        });
    }
    out
}

/// A `cidr` minus `except` holes (a NetworkPolicy ipBlock) as intervals.
pub fn block(cidr: &IpNet, except: &[IpNet]) -> Vec<Iv> {
    intervals(&AddrSet::new(vec![*cidr], except.to_vec()))
}

/// Adjacent or overlapping intervals merged, for reports.
pub fn merged(mut ivs: Vec<Iv>) -> Vec<Iv> {
    ivs.sort();
    let mut out: Vec<Iv> = vec![];
    for iv in ivs {
        match out.last_mut() {
            Some(l) if l.v6 == iv.v6 && l.hi.checked_add(1).is_none_or(|n| n >= iv.lo) => {
                l.hi = l.hi.max(iv.hi)
            }
            _ => out.push(iv),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().expect("test CIDR")
    }

    #[test]
    fn split_cuts_at_every_edge_and_text_names_the_pieces() {
        let atom = intervals(&AddrSet::new(vec![n("10.0.0.0/24")], vec![]));
        let cut = Iv::of(&n("10.0.0.64/26"));
        let pieces = split(&atom, &[cut]);
        let texts: Vec<String> = pieces.iter().map(Iv::text).collect();
        assert_eq!(texts, ["10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/25"]);
        assert!(pieces[1].inside(&cut) && !pieces[0].inside(&cut));
        let odd = Iv {
            v6: false,
            lo: Iv::of(&n("10.0.0.1/32")).lo,
            hi: Iv::of(&n("10.0.0.6/32")).lo,
        };
        assert_eq!(odd.text(), "10.0.0.1-10.0.0.6");
        assert_eq!(Iv::of(&n("0.0.0.0/0")).text(), "0.0.0.0/0");
        assert_eq!(Iv::of(&n("::/0")).text(), "::/0");
        assert_eq!(merged(pieces), atom);
        let holes = block(&n("10.0.0.0/24"), &[n("10.0.0.0/25")]);
        assert_eq!(holes, vec![Iv::of(&n("10.0.0.128/25"))]);
    }
}
