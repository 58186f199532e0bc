//! Address sets: CIDR ranges with carved-out holes, and their exact prefix lists.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::IpAddr;

/// A set of addresses: the union of `include`, minus the union of `except`.
/// Every hole in `except` lies inside some range of `include`. Both lists are
/// sorted and free of duplicates, so the set compares and prints deterministically.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AddrSet {
    pub include: Vec<IpNet>,
    pub except: Vec<IpNet>,
}

impl AddrSet {
    /// A set from ranges and holes; holes outside every range are dropped.
    pub fn new(mut include: Vec<IpNet>, except: Vec<IpNet>) -> Self {
        include.sort();
        include.dedup();
        let mut except: Vec<IpNet> = except
            .into_iter()
            .filter(|h| include.iter().any(|r| r.contains(h) && r != h))
            .collect();
        // Sorted by network then length, a hole inside another comes after it
        // with only holes of that one in between: one sweep drops them all
        // (linear, where comparing every pair took minutes for 8 000 holes).
        except.sort_by_key(|n| (n.network(), n.prefix_len()));
        except.dedup();
        let mut kept: Vec<IpNet> = Vec::with_capacity(except.len());
        for h in except {
            if !kept.last().is_some_and(|o| o.contains(&h)) {
                kept.push(h);
            }
        }
        kept.sort();
        AddrSet {
            include,
            except: kept,
        }
    }

    /// True when the set has no ranges at all.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty()
    }

    /// True when `ip` is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.include.iter().any(|n| n.contains(&ip)) && !self.except.iter().any(|n| n.contains(&ip))
    }

    /// The same set restricted to one address family (`v6 = false` for IPv4).
    pub fn family(&self, v6: bool) -> AddrSet {
        let keep = |n: &&IpNet| matches!(n, IpNet::V6(_)) == v6;
        AddrSet {
            include: self.include.iter().filter(keep).copied().collect(),
            except: self.except.iter().filter(keep).copied().collect(),
        }
    }

    /// True when any range is IPv6.
    pub fn has_v6(&self) -> bool {
        self.include.iter().any(|n| matches!(n, IpNet::V6(_)))
    }

    /// True when any range is IPv4.
    pub fn has_v4(&self) -> bool {
        self.include.iter().any(|n| matches!(n, IpNet::V4(_)))
    }

    /// The exact set as disjoint CIDR prefixes (holes subtracted), sorted.
    /// For targets that cannot express exceptions (security groups).
    pub fn prefixes(&self) -> Vec<IpNet> {
        let mut out = vec![];
        for r in &self.include {
            let holes: Vec<IpNet> = self.except.iter().filter(|h| r.contains(*h)).copied().collect();
            subtract(*r, &holes, &mut out);
        }
        out.sort();
        out
    }
}

/// Appends `net` minus `holes` as disjoint prefixes.
fn subtract(net: IpNet, holes: &[IpNet], out: &mut Vec<IpNet>) {
    if holes.iter().any(|h| h.contains(&net)) {
        return;
    }
    let inside: Vec<IpNet> = holes.iter().filter(|h| net.contains(*h)).copied().collect();
    if inside.is_empty() {
        out.push(net);
        return;
    }
    for half in halves(net) {
        subtract(half, &inside, out);
    }
}

/// The two halves of a prefix one bit longer (a /32 or /128 has none).
fn halves(net: IpNet) -> Vec<IpNet> {
    match net {
        IpNet::V4(n) if n.prefix_len() < 32 => n
            .subnets(n.prefix_len() + 1)
            .map(|it| it.map(IpNet::V4).collect())
            .unwrap_or_default(),
        IpNet::V6(n) if n.prefix_len() < 128 => n
            .subnets(n.prefix_len() + 1)
            .map(|it| it.map(IpNet::V6).collect())
            .unwrap_or_default(),
        _ => vec![],
    }
}

/// True when two prefixes share at least one address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

/// The single-host prefix of an address.
pub fn host(ip: IpAddr) -> IpNet {
    match ip {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::from(a)),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::from(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().expect("test CIDR")
    }

    #[test]
    fn prefixes_subtract_holes_exactly() {
        let s = AddrSet::new(vec![n("10.0.0.0/24")], vec![n("10.0.0.0/25"), n("10.0.0.128/26")]);
        assert_eq!(s.prefixes(), vec![n("10.0.0.192/26")]);
        let all = AddrSet::new(vec![n("0.0.0.0/0")], vec![n("10.0.0.0/8")]);
        assert_eq!(all.prefixes().len(), 8);
        assert!(!all.contains("10.1.2.3".parse().expect("ip")));
        assert!(all.contains("11.1.2.3".parse().expect("ip")));
    }
}
