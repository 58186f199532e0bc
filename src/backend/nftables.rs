//! The nftables target: one `nft -f` file per mode, `table inet moat` for
//! both address families, re-loadable in one transaction (declare the table,
//! delete it, define it again).
//!
//! Shape: each atom that needs classifying has a named interval set of its
//! addresses (`addr4_mz.kernel`). The base chain (forward; or input and
//! output on a host) jumps on that set to the atom's chain (`from_X` matches
//! where X's packets go, `to_X` where packets to X come from), which holds at
//! most three rules per family, each one lookup in a concatenated interval set
//! (peer address . protocol . port, peer address . protocol, peer address).
//! The number of rules grows with the atoms, never with the flows; every set
//! element carries the allows (file:line) behind it as its comment.

use super::netfilter::{Family, Grant, Match, Mode, Model, Ruleset};
use super::{Artefact, EmitOptions, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Ir};
use crate::ports::{PortRange, Proto};
use std::fmt::Write as _;

/// nft comments hold at most 128 bytes.
const MAX_COMMENT: usize = 120;

/// Compiles the policy to nft scripts.
pub fn emit(ir: &Ir, opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let model = Model::new(ir, Target::Nftables)?;
    Ok(model
        .rulesets()
        .iter()
        .map(|rs| Artefact { path: format!("nftables/{}.nft", rs.stem), contents: render(&model, rs, &build(&model, rs, opts)) })
        .collect())
}

/// The table's contents: the atoms' address sets, the flow sets, then chains.
#[derive(Debug, Default)]
struct Table {
    addr_sets: Vec<Set>,
    sets: Vec<Set>,
    chains: Vec<Chain>,
}

/// A named interval set.
#[derive(Debug)]
struct Set {
    name: String,
    /// `ipv4_addr . inet_proto . inet_service`, ...
    key: String,
    /// Each element with its comment.
    elements: Vec<(String, Option<String>)>,
}

/// A chain; base chains carry their hook and policy.
#[derive(Debug)]
struct Chain {
    name: String,
    hook: Option<&'static str>,
    rules: Vec<String>,
}

/// Which end of a flow a per-atom chain classifies by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// Packets from the atom: chain `from_X`, matching the destination.
    Out,
    /// Packets to the atom: chain `to_X`, matching the source.
    In,
}

impl Dir {
    fn chain(self, atom: &str) -> String {
        match self {
            Dir::Out => format!("from_{atom}"),
            Dir::In => format!("to_{atom}"),
        }
    }

    /// The address field that classifies the atom, and the one that matches the peer.
    fn fields(self, fam: Family) -> (&'static str, &'static str) {
        let ip = if fam.is_v6() { "ip6" } else { "ip" };
        match (self, ip) {
            (Dir::Out, "ip") => ("ip saddr", "ip daddr"),
            (Dir::Out, _) => ("ip6 saddr", "ip6 daddr"),
            (Dir::In, "ip") => ("ip daddr", "ip saddr"),
            (Dir::In, _) => ("ip6 daddr", "ip6 saddr"),
        }
    }

    fn set_prefix(self) -> &'static str {
        match self {
            Dir::Out => "out",
            Dir::In => "in",
        }
    }
}

fn build(m: &Model<'_>, rs: &Ruleset<'_>, opts: &EmitOptions) -> Table {
    let mut t = Table::default();
    let hooks: Vec<(&'static str, Vec<(AtomId, Dir)>)> = match rs.mode {
        Mode::Gateway => vec![("forward", classified(rs, Dir::Out, |_| true))],
        Mode::Host(z) => {
            let inside = |a: AtomId| m.ir.atoms[a].zone == z;
            vec![("input", classified(rs, Dir::In, inside)), ("output", classified(rs, Dir::Out, inside))]
        }
    };
    for (hook, atoms) in hooks {
        let mut base = Chain { name: hook.to_string(), hook: Some(hook), rules: prologue(hook, rs.mode) };
        for (atom, dir) in atoms {
            atom_chain(m, rs, atom, dir, &mut t, &mut base);
        }
        if opts.log_drops {
            base.rules.push(format!("limit rate 5/minute burst 10 packets log prefix \"moat {hook} drop: \""));
        }
        t.chains.push(base);
    }
    t
}

/// The atoms a base chain dispatches on: the `from` (Out) or `to` (In) ends of the grants.
fn classified(rs: &Ruleset<'_>, dir: Dir, keep: impl Fn(AtomId) -> bool) -> Vec<(AtomId, Dir)> {
    let mut v: Vec<AtomId> =
        rs.grants.iter().map(|g| if dir == Dir::Out { g.from } else { g.to }).filter(|a| keep(*a)).collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter().map(|a| (a, dir)).collect()
}

/// Loopback and neighbour discovery on hosts, then connection state.
fn prologue(hook: &str, mode: Mode) -> Vec<String> {
    let mut v = vec![];
    if let Mode::Host(_) = mode {
        v.push(format!("{} \"lo\" accept comment \"loopback\"", if hook == "input" { "iif" } else { "oif" }));
        v.push(
            "icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept comment \"IPv6 neighbour discovery\""
                .to_string(),
        );
    }
    v.push("ct state established,related accept".to_string());
    v.push("ct state invalid drop".to_string());
    v
}

/// The sets and chain of one atom in one direction, and the base chain's jumps to it.
fn atom_chain(m: &Model<'_>, rs: &Ruleset<'_>, atom: AtomId, dir: Dir, t: &mut Table, base: &mut Chain) {
    let name = &m.ir.atoms[atom].name;
    let grants: Vec<&Grant> =
        rs.grants.iter().copied().filter(|g| if dir == Dir::Out { g.from == atom } else { g.to == atom }).collect();
    let mut chain = Chain { name: dir.chain(name), hook: None, rules: vec![] };
    for fam in &rs.families {
        let own = m.intervals(atom, *fam);
        if own.is_empty() {
            continue;
        }
        let (mine, peer) = dir.fields(*fam);
        let [ports, protos, any] = elements(m, &grants, dir, *fam);
        let f = fam.as_str();
        let kinds = [
            (ports, "ports", format!("{} . inet_proto . inet_service", addr_type(*fam)), format!("{peer} . meta l4proto . th dport")),
            (protos, "protos", format!("{} . inet_proto", addr_type(*fam)), format!("{peer} . meta l4proto")),
            (any, "any", addr_type(*fam).to_string(), peer.to_string()),
        ];
        let before = chain.rules.len();
        for (elems, kind, key, lookup) in kinds {
            if elems.is_empty() {
                continue;
            }
            let set = format!("{}{}_{kind}_{name}", dir.set_prefix(), f.trim_start_matches('v'));
            chain.rules.push(format!("{lookup} @{set} accept"));
            t.sets.push(Set { name: set, key, elements: elems });
        }
        if chain.rules.len() > before {
            let set = format!("addr{}_{name}", f.trim_start_matches('v'));
            base.rules.push(format!("{mine} @{set} jump {}", chain.name));
            if !t.addr_sets.iter().any(|s| s.name == set) {
                let elements = own.iter().map(|n| (n.to_string(), None)).collect();
                t.addr_sets.push(Set { name: set, key: addr_type(*fam).to_string(), elements });
            }
        }
    }
    if !chain.rules.is_empty() {
        t.chains.push(chain);
    }
}

/// The elements of the ports, protocols and any sets of one atom chain in one family.
fn elements(m: &Model<'_>, grants: &[&Grant], dir: Dir, fam: Family) -> [Vec<(String, Option<String>)>; 3] {
    let mut out: [Vec<(String, Option<String>)>; 3] = [vec![], vec![], vec![]];
    for g in grants {
        let peer_atom = if dir == Dir::Out { g.to } else { g.from };
        let peer = m.intervals(peer_atom, fam);
        let arrow = if dir == Dir::Out { "to" } else { "from" };
        let who = format!("{arrow} {}", m.ir.atoms[peer_atom].name);
        let note = |allows: &[AllowId]| Some(comment(&format!("{who}: {}", m.locs(allows, MAX_COMMENT))));
        for e in &g.entries {
            match &e.what {
                Match::Any => out[2].extend(peer.iter().map(|n| (n.to_string(), note(&e.allows)))),
                Match::Proto(p) if fam.carries(*p) => {
                    out[1].extend(peer.iter().map(|n| (format!("{n} . {}", proto(*p)), note(&e.allows))))
                }
                Match::Proto(_) => {}
                Match::Ports(p, spans) => {
                    for n in peer {
                        for s in spans {
                            out[0].push((format!("{n} . {} . {}", proto(*p), range(s.range)), note(&s.allows)));
                        }
                    }
                }
            }
        }
    }
    out
}

fn addr_type(fam: Family) -> &'static str {
    if fam.is_v6() { "ipv6_addr" } else { "ipv4_addr" }
}

fn proto(p: Proto) -> &'static str {
    match p {
        Proto::Icmpv6 => "ipv6-icmp",
        other => other.as_str(),
    }
}

fn range(r: PortRange) -> String {
    if r.lo == r.hi { r.lo.to_string() } else { format!("{}-{}", r.lo, r.hi) }
}

/// A comment safe inside nft's double quotes, within its length limit.
fn comment(s: &str) -> String {
    let mut s: String = s.chars().map(|c| if c == '"' || c == '\\' || c.is_control() { '\'' } else { c }).collect();
    if s.len() > MAX_COMMENT {
        let mut n = MAX_COMMENT - 3;
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s.truncate(n);
        s.push_str("...");
    }
    s
}

fn render(m: &Model<'_>, rs: &Ruleset<'_>, t: &Table) -> String {
    let file = format!("{}.nft", rs.stem);
    let mut s = String::from("#!/usr/sbin/nft -f\n");
    for line in m.header(rs, "nftables ruleset (table inet moat, IPv4 and IPv6)") {
        let _ = writeln!(s, "# {line}");
    }
    let _ = writeln!(s, "# Load (replaces table inet moat in one transaction): nft -f {file}");
    let _ = writeln!(s, "# Check without loading: nft -c -f {file}");
    s.push_str("\ntable inet moat\ndelete table inet moat\n\ntable inet moat {\n");
    for set in t.addr_sets.iter().chain(&t.sets) {
        render_set(&mut s, set);
    }
    for c in &t.chains {
        let _ = writeln!(s, "\tchain {} {{", c.name);
        if let Some(hook) = c.hook {
            let _ = writeln!(s, "\t\ttype filter hook {hook} priority filter; policy drop;");
        }
        for r in &c.rules {
            let _ = writeln!(s, "\t\t{r}");
        }
        s.push_str("\t}\n");
    }
    s.push_str("}\n");
    s
}

fn render_set(s: &mut String, set: &Set) {
    let _ = writeln!(s, "\tset {} {{", set.name);
    let _ = writeln!(s, "\t\ttype {}", set.key);
    s.push_str("\t\tflags interval\n\t\telements = {\n");
    for (i, (e, c)) in set.elements.iter().enumerate() {
        let sep = if i + 1 == set.elements.len() { "" } else { "," };
        match c {
            Some(c) => {
                let _ = writeln!(s, "\t\t\t{e} comment \"{c}\"{sep}");
            }
            None => {
                let _ = writeln!(s, "\t\t\t{e}{sep}");
            }
        }
    }
    s.push_str("\t\t}\n\t}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_quoted_safely_and_cut() {
        assert_eq!(comment("a\"b"), "a'b");
        assert!(comment(&"x".repeat(300)).len() <= MAX_COMMENT);
    }
}
