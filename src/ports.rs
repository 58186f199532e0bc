//! Protocols and port sets, with the merging rules of spec §3.

use std::fmt;

/// An IP protocol moat can name. `Other` stands for every protocol not listed,
/// so that `any` is an ordinary, subtractable set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmpv6,
    Other,
}

impl Proto {
    /// Every protocol, in canonical order.
    pub const ALL: [Proto; 6] = [
        Proto::Tcp,
        Proto::Udp,
        Proto::Sctp,
        Proto::Icmp,
        Proto::Icmpv6,
        Proto::Other,
    ];

    /// True for protocols that have ports (tcp, udp, sctp).
    pub fn has_ports(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Udp | Proto::Sctp)
    }

    /// The lower-case name used in the language and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
            Proto::Icmp => "icmp",
            Proto::Icmpv6 => "icmpv6",
            Proto::Other => "other",
        }
    }

    /// Parses a protocol keyword of the language (not `other`, which is internal).
    pub fn parse(s: &str) -> Option<Proto> {
        Some(match s {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "sctp" => Proto::Sctp,
            "icmp" => Proto::Icmp,
            "icmpv6" => Proto::Icmpv6,
            _ => return None,
        })
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive port range `lo..=hi`, 1 ≤ lo ≤ hi ≤ 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(from = "(u16, u16)", into = "(u16, u16)")]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    /// Every port.
    pub const FULL: PortRange = PortRange { lo: 1, hi: 65535 };

    /// The range `lo..=hi`.
    pub fn new(lo: u16, hi: u16) -> Self {
        PortRange { lo, hi }
    }

    /// Number of ports in the range.
    pub fn len(self) -> u32 {
        u32::from(self.hi) - u32::from(self.lo) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(self) -> bool {
        false
    }
}

/// Serialised as `[lo, hi]`.
impl From<(u16, u16)> for PortRange {
    fn from((lo, hi): (u16, u16)) -> Self {
        PortRange { lo, hi }
    }
}

impl From<PortRange> for (u16, u16) {
    fn from(r: PortRange) -> Self {
        (r.lo, r.hi)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.lo, f)?;
        if self.lo != self.hi {
            f.write_str("-")?;
            fmt::Display::fmt(&self.hi, f)?;
        }
        Ok(())
    }
}

/// A set of (protocol, port) pairs in canonical form: per protocol, sorted,
/// disjoint, non-adjacent ranges; protocols without ports hold an empty list.
///
/// The IR holds one set per allow contribution (1.2 million at 200,000
/// allows), so the layout matters (docs/performance.md): the protocols
/// present sit inline, in order, each with the end of its slice of one
/// shared range vector: one heap allocation per set, none for an empty or
/// port-less one. Equality, order and hash are those of the sequence of
/// `(protocol, ranges)` that [`PortSet::iter`] yields.
#[derive(Clone)]
pub struct PortSet {
    n: u8,
    protos: [Proto; 6],
    /// `ranges[ends[i - 1]..ends[i]]` are the ranges of `protos[i]`.
    ends: [u32; 6],
    ranges: Vec<PortRange>,
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet {
            n: 0,
            protos: [Proto::Tcp; 6],
            ends: [0; 6],
            ranges: Vec::new(),
        }
    }
}

impl PartialEq for PortSet {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n && self.iter().eq(other.iter())
    }
}

impl Eq for PortSet {}

impl PartialOrd for PortSet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PortSet {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

impl std::hash::Hash for PortSet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.n.hash(state);
        for (p, rs) in self.iter() {
            p.hash(state);
            rs.hash(state);
        }
    }
}

/// Serialised as the list of `(protocol, ranges)` that [`PortSet::iter`] yields.
impl serde::Serialize for PortSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for PortSet {
    /// Accepts any list of `(protocol, ranges)` and puts it in canonical form.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parts: Vec<(Proto, Vec<PortRange>)> = serde::Deserialize::deserialize(d)?;
        let sets: Vec<PortSet> = parts
            .into_iter()
            .flat_map(|(p, rs): (Proto, Vec<PortRange>)| -> Vec<PortSet> {
                if p.has_ports() {
                    rs.into_iter()
                        .map(|r| {
                            PortSet::range(p, PortRange::new(r.lo.min(r.hi).max(1), r.hi.max(r.lo).max(1)))
                        })
                        .collect()
                } else {
                    vec![PortSet::range(p, PortRange::FULL)]
                }
            })
            .collect();
        Ok(PortSet::union_all(&sets.iter().collect::<Vec<_>>()))
    }
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PortSet {
    /// The empty set.
    pub fn empty() -> Self {
        PortSet::default()
    }

    /// Every protocol and port (`any`).
    pub fn any() -> Self {
        let mut s = PortSet::default();
        for p in Proto::ALL {
            s.push(p, if p.has_ports() { &[PortRange::FULL] } else { &[] });
        }
        s
    }

    /// Every port of one protocol (`tcp`, `icmp`).
    pub fn proto(p: Proto) -> Self {
        PortSet::range(p, PortRange::FULL)
    }

    /// One range of one protocol; the range is ignored for port-less protocols.
    pub fn range(p: Proto, r: PortRange) -> Self {
        let mut s = PortSet::default();
        let one = [r];
        s.push(p, if p.has_ports() { &one } else { &[] });
        s
    }

    /// Appends protocol `p` (greater than every protocol present) with its
    /// canonical ranges.
    fn push(&mut self, p: Proto, rs: &[PortRange]) {
        let i = usize::from(self.n);
        debug_assert!(i < 6 && (i == 0 || self.protos[i - 1] < p));
        self.ranges.extend_from_slice(rs);
        self.protos[i] = p;
        self.ends[i] = self.ranges.len() as u32; // at most 3 x 32,768 disjoint ranges
        self.n += 1;
    }

    /// True when nothing is in the set.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// True when the set is every protocol and port.
    pub fn is_any(&self) -> bool {
        usize::from(self.n) == Proto::ALL.len()
            && self
                .iter()
                .all(|(p, rs)| !p.has_ports() || rs == [PortRange::FULL])
    }

    /// The protocols present, each with its ranges (empty for port-less protocols).
    pub fn iter(&self) -> impl Iterator<Item = (Proto, &[PortRange])> {
        (0..usize::from(self.n)).map(|i| (self.protos[i], self.slice(i)))
    }

    fn slice(&self, i: usize) -> &[PortRange] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.ranges[start..self.ends[i] as usize]
    }

    /// The ranges of protocol `p`, if present.
    pub fn get(&self, p: Proto) -> Option<&[PortRange]> {
        (0..usize::from(self.n))
            .find(|&i| self.protos[i] == p)
            .map(|i| self.slice(i))
    }

    /// True when `(p, port)` is in the set; `port` is ignored for port-less protocols.
    pub fn contains(&self, p: Proto, port: u16) -> bool {
        match self.get(p) {
            None => false,
            Some(_) if !p.has_ports() => true,
            Some(rs) => rs.iter().any(|r| r.lo <= port && port <= r.hi),
        }
    }

    /// Adds everything in `other`.
    pub fn union_with(&mut self, other: &PortSet) {
        if other.is_subset(self) {
            return; // common when many allows share a pair: no copy, no sort
        }
        if self.is_empty() {
            *self = other.clone();
            return;
        }
        let mut out = PortSet::default();
        out.ranges.reserve(self.ranges.len() + other.ranges.len());
        let (na, nb) = (usize::from(self.n), usize::from(other.n));
        let (mut i, mut j) = (0, 0);
        let mut merged = vec![];
        while i < na || j < nb {
            let pa = if i < na { Some(self.protos[i]) } else { None };
            let pb = if j < nb { Some(other.protos[j]) } else { None };
            match (pa, pb) {
                (Some(p), Some(q)) if p == q => {
                    merged.clear();
                    merged.extend_from_slice(self.slice(i));
                    merged.extend_from_slice(other.slice(j));
                    normalise(&mut merged);
                    out.push(p, &merged);
                    i += 1;
                    j += 1;
                }
                (Some(p), Some(q)) if p < q => {
                    out.push(p, self.slice(i));
                    i += 1;
                }
                (Some(p), None) => {
                    out.push(p, self.slice(i));
                    i += 1;
                }
                (_, Some(q)) => {
                    out.push(q, other.slice(j));
                    j += 1;
                }
                (None, None) => break,
            }
        }
        *self = out;
    }

    /// The union of several sets, built at once (one allocation).
    pub fn union_all(sets: &[&PortSet]) -> PortSet {
        match sets {
            [] => return PortSet::empty(),
            [one] => return (*one).clone(),
            _ => {}
        }
        let mut out = PortSet::default();
        let mut merged = vec![];
        for p in Proto::ALL {
            merged.clear();
            let mut present = false;
            for s in sets {
                if let Some(rs) = s.get(p) {
                    present = true;
                    merged.extend_from_slice(rs);
                }
            }
            if present {
                normalise(&mut merged);
                out.push(p, &merged);
            }
        }
        out
    }

    /// The union of two sets.
    pub fn union(&self, other: &PortSet) -> PortSet {
        let mut s = self.clone();
        s.union_with(other);
        s
    }

    /// The intersection of two sets.
    pub fn intersect(&self, other: &PortSet) -> PortSet {
        let mut out = PortSet::empty();
        let mut v = vec![];
        for (p, a) in self.iter() {
            let Some(b) = other.get(p) else { continue };
            if !p.has_ports() {
                out.push(p, &[]);
                continue;
            }
            v.clear();
            let (mut i, mut j) = (0, 0);
            while i < a.len() && j < b.len() {
                let lo = a[i].lo.max(b[j].lo);
                let hi = a[i].hi.min(b[j].hi);
                if lo <= hi {
                    v.push(PortRange::new(lo, hi));
                }
                if a[i].hi < b[j].hi {
                    i += 1
                } else {
                    j += 1
                }
            }
            if !v.is_empty() {
                out.push(p, &v);
            }
        }
        out
    }

    /// True when the two sets share an element (`!intersect(other).is_empty()`, without allocating).
    pub fn intersects(&self, other: &PortSet) -> bool {
        self.iter().any(|(p, a)| {
            let Some(b) = other.get(p) else { return false };
            if !p.has_ports() {
                return true;
            }
            let (mut i, mut j) = (0, 0);
            while i < a.len() && j < b.len() {
                if a[i].lo.max(b[j].lo) <= a[i].hi.min(b[j].hi) {
                    return true;
                }
                if a[i].hi < b[j].hi {
                    i += 1
                } else {
                    j += 1
                }
            }
            false
        })
    }

    /// Everything in `self` that is not in `other`.
    pub fn subtract(&self, other: &PortSet) -> PortSet {
        let mut out = PortSet::empty();
        for (p, a) in self.iter() {
            match other.get(p) {
                None => out.push(p, a),
                Some(_) if !p.has_ports() => {}
                Some(b) => {
                    let v = subtract_ranges(a, b);
                    if !v.is_empty() {
                        out.push(p, &v);
                    }
                }
            }
        }
        out
    }

    /// True when every element of `self` is in `other` (without allocating):
    /// `other`'s ranges are disjoint and non-adjacent, so each range of `self`
    /// must lie inside one of them.
    pub fn is_subset(&self, other: &PortSet) -> bool {
        self.iter().all(|(p, a)| {
            let Some(b) = other.get(p) else { return false };
            let mut j = 0;
            a.iter().all(|r| {
                while j < b.len() && b[j].hi < r.lo {
                    j += 1;
                }
                j < b.len() && b[j].lo <= r.lo && r.hi <= b[j].hi
            })
        })
    }

    /// Rows for tables and JSON: `("any", None)` for any, else one per protocol
    /// with its merged port list (`"80,443,8000-8100"`), or `None` for port-less protocols.
    pub fn rows(&self) -> Vec<(&'static str, Option<String>)> {
        if self.is_any() {
            return vec![("any", None)];
        }
        self.iter()
            .map(|(p, rs)| {
                (
                    p.as_str(),
                    if p.has_ports() {
                        Some(ranges_to_string(rs))
                    } else {
                        None
                    },
                )
            })
            .collect()
    }
}

impl fmt::Display for PortSet {
    /// The compact form used in messages: `tcp/80,443 udp/53`, or `any`.
    /// Written straight into the formatter: back ends print one per rule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing");
        }
        if self.is_any() {
            return f.write_str("any");
        }
        for (i, (p, rs)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(p.as_str())?;
            for (j, r) in rs.iter().enumerate() {
                f.write_str(if j == 0 { "/" } else { "," })?;
                fmt::Display::fmt(r, f)?;
            }
        }
        Ok(())
    }
}

/// `80,443,8000-8100`.
pub fn ranges_to_string(rs: &[PortRange]) -> String {
    rs.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// Sorts ranges and merges overlapping and adjacent ones, in place.
fn normalise(v: &mut Vec<PortRange>) {
    v.sort_unstable();
    let mut w = 0;
    for i in 0..v.len() {
        let r = v[i];
        if w > 0 && u32::from(r.lo) <= u32::from(v[w - 1].hi) + 1 {
            v[w - 1].hi = v[w - 1].hi.max(r.hi);
        } else {
            v[w] = r;
            w += 1;
        }
    }
    v.truncate(w);
}

fn subtract_ranges(a: &[PortRange], b: &[PortRange]) -> Vec<PortRange> {
    let mut out = vec![];
    for r in a {
        let mut lo = u32::from(r.lo);
        let hi = u32::from(r.hi);
        for s in b {
            let (slo, shi) = (u32::from(s.lo), u32::from(s.hi));
            if shi < lo || slo > hi {
                continue;
            }
            if slo > lo {
                out.push(PortRange::new(lo as u16, (slo - 1) as u16));
            }
            lo = shi + 1;
            if lo > hi {
                break;
            }
        }
        if lo <= hi {
            out.push(PortRange::new(lo as u16, hi as u16));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(lo: u16, hi: u16) -> PortSet {
        PortSet::range(Proto::Tcp, PortRange::new(lo, hi))
    }

    #[test]
    fn adjacent_and_overlapping_ranges_merge() {
        let s = tcp(80, 80)
            .union(&tcp(81, 90))
            .union(&tcp(85, 100))
            .union(&tcp(443, 443));
        assert_eq!(s.to_string(), "tcp/80-100,443");
    }

    #[test]
    fn full_tcp_range_is_not_any() {
        assert_eq!(tcp(1, 65535).rows(), vec![("tcp", Some("1-65535".to_string()))]);
        assert!(PortSet::any().rows() == vec![("any", None)]);
    }

    #[test]
    fn subtract_and_intersect() {
        let a = tcp(1, 100);
        let b = tcp(50, 60);
        assert_eq!(a.subtract(&b).to_string(), "tcp/1-49,61-100");
        assert_eq!(a.intersect(&b).to_string(), "tcp/50-60");
        assert!(b.is_subset(&a));
        assert_eq!(PortSet::any().subtract(&PortSet::any()), PortSet::empty());
        let any_minus = PortSet::any().subtract(&tcp(80, 80));
        assert!(!any_minus.contains(Proto::Tcp, 80));
        assert!(any_minus.contains(Proto::Udp, 80));
        assert_eq!(any_minus.union(&tcp(80, 80)), PortSet::any());
    }

    #[test]
    fn allocation_free_tests_agree_with_set_algebra() {
        let sets = [
            PortSet::empty(),
            PortSet::any(),
            tcp(1, 100),
            tcp(50, 60),
            tcp(101, 200),
            tcp(80, 80).union(&tcp(90, 95)),
            PortSet::proto(Proto::Icmp),
            PortSet::proto(Proto::Icmp).union(&PortSet::range(Proto::Udp, PortRange::new(53, 53))),
            PortSet::any().subtract(&tcp(80, 80)),
        ];
        for a in &sets {
            for b in &sets {
                assert_eq!(a.intersects(b), !a.intersect(b).is_empty(), "{a} / {b}");
                assert_eq!(a.is_subset(b), a.subtract(b).is_empty(), "{a} / {b}");
                assert_eq!(PortSet::union_all(&[a, b]), a.union(b), "{a} / {b}");
                for c in &sets {
                    assert_eq!(
                        PortSet::union_all(&[a, b, c]),
                        a.union(b).union(c),
                        "{a} / {b} / {c}"
                    );
                }
            }
        }
        assert!(PortSet::any().is_any());
        assert!(!PortSet::any().subtract(&tcp(80, 80)).is_any());
        for a in &sets {
            let json = serde_json::to_string(a).expect("serialise");
            assert_eq!(
                &serde_json::from_str::<PortSet>(&json).expect("deserialise"),
                a,
                "{json}"
            );
        }
        assert_eq!(
            serde_json::to_string(&tcp(80, 90).union(&PortSet::proto(Proto::Icmp)))
                .ok()
                .as_deref(),
            Some(r#"[["tcp",[[80,90]]],["icmp",[]]]"#)
        );
        let messy: PortSet =
            serde_json::from_str(r#"[["udp",[[53,53],[54,60]]],["tcp",[[90,80]]]]"#).expect("deserialise");
        assert_eq!(messy.to_string(), "tcp/80-90 udp/53-60", "put in canonical form");
    }
}
