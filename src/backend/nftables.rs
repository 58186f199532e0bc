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
//!
//! An atom's `from_X` sets are the same in the gateway's file and in the file
//! of X's hosts: they are rendered once, into the gateway's text, and the
//! hosts' files copy them from there. Everything is written straight into
//! each file's text.

use super::netfilter::{push_port, push_quoted, Family, Grant, Match, Mode, Model, Ruleset};
use super::{Artefact, EmitOptions, Sink, Target};
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir};
use crate::ports::{PortRange, Proto};
use std::fmt::Write as _;
use std::ops::Range;

/// nft comments hold at most 128 bytes.
const MAX_COMMENT: usize = 120;

/// Compiles the policy to nft scripts.
pub fn emit(ir: &Ir, opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let mut out = vec![];
    emit_into(ir, opts, &mut out)?;
    Ok(out)
}

/// [`emit`], handing each file to `sink` as soon as it is written.
pub fn emit_into(ir: &Ir, opts: &EmitOptions, sink: &mut dyn Sink) -> Result<(), Vec<Diagnostic>> {
    let model = Model::new(ir, Target::Nftables)?;
    let ends = Ends::new(&model);
    let rulesets = model.rulesets();
    let (gateway, hosts): (Vec<_>, Vec<_>) = rulesets.iter().partition(|rs| rs.mode == Mode::Gateway);
    // Where each atom's `from_X` sets sit in the gateway's text, for the hosts to copy.
    let mut at: Vec<Option<Range<usize>>> = vec![None; ir.atoms.len()];
    let gateway_text = gateway.first().map(|rs| {
        let bound = |atom, dir| sets_bound(&ends, atom, dir);
        let text = render(&ends, rs, opts, &bound, &mut |s, atom, dir| {
            let start = s.len();
            flow_sets(s, &ends, rs, atom, dir);
            at[atom] = Some(start..s.len());
        });
        (rs, text)
    });
    for rs in hosts {
        let len = |atom, dir| sets_bound(&ends, atom, dir);
        let text = render(
            &ends,
            rs,
            opts,
            &len,
            &mut |s, atom, dir| match (&gateway_text, &at[atom], dir) {
                (Some((_, gw)), Some(r), Dir::Out) => s.push_str(&gw[r.clone()]),
                _ => flow_sets(s, &ends, rs, atom, dir),
            },
        );
        sink.put(Artefact {
            path: file_path(rs),
            contents: text,
        });
    }
    if let Some((rs, text)) = gateway_text {
        sink.put(Artefact {
            path: file_path(rs),
            contents: text,
        });
    }
    Ok(())
}

/// `nftables/<stem>.nft`.
fn file_path(rs: &Ruleset<'_>) -> String {
    format!("nftables/{}.nft", rs.stem)
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

    /// The other end of a grant.
    fn peer(self, g: &Grant) -> AtomId {
        if self == Dir::Out {
            g.to
        } else {
            g.from
        }
    }
}

/// The grants by their ends, and each atom's addresses as element text, per family.
struct Ends<'m> {
    m: &'m Model<'m>,
    /// Per atom, the grants from it (in grant order).
    from: Vec<Vec<&'m Grant>>,
    /// Per atom, the grants to it.
    to: Vec<Vec<&'m Grant>>,
    /// Per atom, its intervals as text, IPv4 then IPv6.
    text: Vec<[Vec<String>; 2]>,
}

impl<'m> Ends<'m> {
    fn new(m: &'m Model<'m>) -> Ends<'m> {
        let n = m.ir.atoms.len();
        let (mut from, mut to) = (vec![vec![]; n], vec![vec![]; n]);
        for g in &m.grants {
            from[g.from].push(g);
            to[g.to].push(g);
        }
        let text = (0..n)
            .map(|a| Family::ALL.map(|f| m.intervals(a, f).iter().map(ToString::to_string).collect()))
            .collect();
        Ends { m, from, to, text }
    }

    /// The grants a per-atom chain handles.
    fn grants(&self, atom: AtomId, dir: Dir) -> &[&'m Grant] {
        if dir == Dir::Out {
            &self.from[atom]
        } else {
            &self.to[atom]
        }
    }

    fn addrs(&self, atom: AtomId, fam: Family) -> &[String] {
        &self.text[atom][fam as usize]
    }

    /// Which of the ports, protocols and any sets of an atom's chain have elements in one family.
    fn kinds(&self, atom: AtomId, dir: Dir, fam: Family) -> [bool; 3] {
        let mut k = [false; 3];
        if self.addrs(atom, fam).is_empty() {
            return k;
        }
        for g in self.grants(atom, dir) {
            if self.addrs(dir.peer(g), fam).is_empty() {
                continue;
            }
            for e in &g.entries {
                match &e.what {
                    Match::Ports(..) => k[0] = true,
                    Match::Proto(p) if fam.carries(*p) => k[1] = true,
                    Match::Proto(_) => {}
                    Match::Any => k[2] = true,
                }
            }
        }
        k
    }
}

/// The three sets of a per-atom chain.
const KINDS: [&str; 3] = ["ports", "protos", "any"];

/// The atoms a base chain dispatches on: the `from` (Out) or `to` (In) ends of the grants.
fn classified(ends: &Ends<'_>, rs: &Ruleset<'_>, dir: Dir) -> Vec<AtomId> {
    let inside = |a: AtomId| match rs.mode {
        Mode::Gateway => true,
        Mode::Host(z) => ends.m.ir.atoms[a].zone == z,
    };
    (0..ends.m.ir.atoms.len())
        .filter(|a| inside(*a) && !ends.grants(*a, dir).is_empty())
        .collect()
}

/// An atom a base chain dispatches on, in which direction, and the kinds of
/// sets its chain has in each family where it has any.
type Planned = (AtomId, Dir, Vec<(Family, [bool; 3])>);

/// One file: the atoms' address sets, the flow sets (appended by `sets`),
/// then each hook's per-atom chains and its base chain.
fn render(
    ends: &Ends<'_>,
    rs: &Ruleset<'_>,
    opts: &EmitOptions,
    sets_len: &dyn Fn(AtomId, Dir) -> usize,
    sets: &mut dyn FnMut(&mut String, AtomId, Dir),
) -> String {
    let m = ends.m;
    let hooks: Vec<(&'static str, Dir)> = match rs.mode {
        Mode::Gateway => vec![("forward", Dir::Out)],
        Mode::Host(_) => vec![("input", Dir::In), ("output", Dir::Out)],
    };
    // Per hook, its atoms with the kinds of sets each has per family.
    let plan: Vec<Vec<Planned>> = hooks
        .iter()
        .map(|(_, dir)| {
            classified(ends, rs, *dir)
                .into_iter()
                .map(|a| {
                    (
                        a,
                        *dir,
                        rs.families
                            .iter()
                            .map(|f| (*f, ends.kinds(a, *dir, *f)))
                            .filter(|(_, k)| k.contains(&true))
                            .collect(),
                    )
                })
                .filter(|(_, _, fams): &Planned| !fams.is_empty())
                .collect()
        })
        .collect();
    // Sized once: a file of tens of megabytes grown by doubling is copied, and
    // the old copies stay resident for a while (mimalloc).
    let size: usize = plan
        .iter()
        .flatten()
        .map(|(a, dir, _)| sets_len(*a, *dir) + 512)
        .sum();
    let mut s = String::with_capacity(size + 4096);
    s.push_str("#!/usr/sbin/nft -f\n");
    for line in m.header(rs, "nftables ruleset (table inet moat, IPv4 and IPv6)") {
        let _ = writeln!(s, "# {line}");
    }
    let file = format!("{}.nft", rs.stem);
    let _ = writeln!(
        s,
        "# Load (replaces table inet moat in one transaction): nft -f {file}"
    );
    let _ = writeln!(s, "# Check without loading: nft -c -f {file}");
    s.push_str("\ntable inet moat\ndelete table inet moat\n\ntable inet moat {\n");
    let mut declared: Vec<(AtomId, Family)> = vec![];
    for (atom, _, fams) in plan.iter().flatten() {
        for (fam, _) in fams {
            if !declared.contains(&(*atom, *fam)) {
                declared.push((*atom, *fam));
                set_head(&mut s, &addr_set(m, *atom, *fam), addr_type(*fam));
                for e in ends.addrs(*atom, *fam) {
                    let _ = writeln!(s, "\t\t\t{e},");
                }
                set_tail(&mut s);
            }
        }
    }
    for (atom, dir, _) in plan.iter().flatten() {
        sets(&mut s, *atom, *dir);
    }
    for ((hook, _), atoms) in hooks.iter().zip(&plan) {
        let mut base = prologue(hook, rs.mode);
        for (atom, dir, fams) in atoms {
            let name = &m.ir.atoms[*atom].name;
            let chain = dir.chain(name);
            let _ = writeln!(s, "\tchain {chain} {{");
            for (fam, kinds) in fams {
                let (mine, peer) = dir.fields(*fam);
                for (kind, _) in KINDS.iter().zip(kinds).filter(|(_, k)| **k) {
                    let lookup = match *kind {
                        "ports" => format!("{peer} . meta l4proto . th dport"),
                        "protos" => format!("{peer} . meta l4proto"),
                        _ => peer.to_string(),
                    };
                    let _ = writeln!(s, "\t\t{lookup} @{} accept", flow_set(m, *atom, *dir, *fam, kind));
                }
                base.push(format!("{mine} @{} jump {chain}", addr_set(m, *atom, *fam)));
            }
            s.push_str("\t}\n");
        }
        if opts.log_drops {
            base.push(format!(
                "limit rate 5/minute burst 10 packets log prefix \"moat {hook} drop: \""
            ));
        }
        let _ = writeln!(s, "\tchain {hook} {{");
        let _ = writeln!(s, "\t\ttype filter hook {hook} priority filter; policy drop;");
        for r in &base {
            let _ = writeln!(s, "\t\t{r}");
        }
        s.push_str("\t}\n");
    }
    s.push_str("}\n");
    s
}

/// `addr4_mz.kernel`: the addresses of an atom.
fn addr_set(m: &Model<'_>, atom: AtomId, fam: Family) -> String {
    format!(
        "addr{}_{}",
        fam.as_str().trim_start_matches('v'),
        m.ir.atoms[atom].name
    )
}

/// `out4_ports_mz.kernel`: one of the flow sets of an atom's chain.
fn flow_set(m: &Model<'_>, atom: AtomId, dir: Dir, fam: Family, kind: &str) -> String {
    format!(
        "{}{}_{kind}_{}",
        dir.set_prefix(),
        fam.as_str().trim_start_matches('v'),
        m.ir.atoms[atom].name
    )
}

/// Loopback and neighbour discovery on hosts, then connection state.
fn prologue(hook: &str, mode: Mode) -> Vec<String> {
    let mut v = vec![];
    if let Mode::Host(_) = mode {
        v.push(format!(
            "{} \"lo\" accept comment \"loopback\"",
            if hook == "input" { "iif" } else { "oif" }
        ));
        v.push(
            "icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept comment \"IPv6 neighbour discovery\""
                .to_string(),
        );
    }
    v.push("ct state established,related accept".to_string());
    v.push("ct state invalid drop".to_string());
    v
}

/// Appends the flow sets (ports, protocols, any) of one atom's chain, each family in turn.
fn flow_sets(s: &mut String, ends: &Ends<'_>, rs: &Ruleset<'_>, atom: AtomId, dir: Dir) {
    let m = ends.m;
    for fam in &rs.families {
        let kinds = ends.kinds(atom, dir, *fam);
        for (i, kind) in KINDS.iter().enumerate().filter(|(i, _)| kinds[*i]) {
            let a = addr_type(*fam);
            let key = match i {
                0 => format!("{a} . inet_proto . inet_service"),
                1 => format!("{a} . inet_proto"),
                _ => a.to_string(),
            };
            set_head(s, &flow_set(m, atom, dir, *fam, kind), &key);
            elements(s, ends, atom, dir, *fam, i);
            set_tail(s);
        }
    }
}

/// An upper bound on the length of the flow sets of one atom's chain (each
/// element's comment is at most [`MAX_COMMENT`] bytes).
fn sets_bound(ends: &Ends<'_>, atom: AtomId, dir: Dir) -> usize {
    let element = "\t\t\t . ipv6-icmp . 65535-65535 comment \"\",\n".len() + MAX_COMMENT;
    let name = ends.m.ir.atoms[atom].name.len();
    let mut n = 6 * (name + 128);
    for g in ends.grants(atom, dir) {
        let peer = &ends.text[dir.peer(g)];
        let (count, text) = (
            peer[0].len() + peer[1].len(),
            peer.iter().flatten().map(String::len).sum::<usize>(),
        );
        for e in &g.entries {
            let spans = if let Match::Ports(_, spans) = &e.what {
                spans.len()
            } else {
                1
            };
            n += spans * (text + count * element);
        }
    }
    n
}

/// `\tset NAME {` up to `elements = {`.
fn set_head(s: &mut String, name: &str, key: &str) {
    let _ = write!(
        s,
        "\tset {name} {{\n\t\ttype {key}\n\t\tflags interval\n\t\telements = {{\n"
    );
}

/// Closes the set. Every element, the last too, ends in a comma (nft accepts
/// it), so that adding or removing an element changes its own line only.
fn set_tail(s: &mut String) {
    s.push_str("\t\t}\n\t}\n");
}

/// Appends the elements of one of an atom chain's sets (0 ports, 1 protocols, 2 any), each with its comment.
fn elements(s: &mut String, ends: &Ends<'_>, atom: AtomId, dir: Dir, fam: Family, kind: usize) {
    let m = ends.m;
    let (mut note, mut notes, mut text) = (String::new(), vec![], String::new());
    for g in ends.grants(atom, dir) {
        let peer_atom = dir.peer(g);
        let peer = ends.addrs(peer_atom, fam);
        if peer.is_empty() {
            continue;
        }
        let arrow = if dir == Dir::Out { "to" } else { "from" };
        let mut noted = |allows: &[usize]| {
            text.clear();
            text.extend([arrow, " ", m.ir.atoms[peer_atom].name.as_str(), ": "]);
            m.push_locs(&mut text, allows, MAX_COMMENT);
            note.clear();
            push_quoted(&mut note, &text, MAX_COMMENT);
            note.clone()
        };
        for e in &g.entries {
            match (&e.what, kind) {
                (Match::Any, 2) => {
                    let c = noted(&e.allows);
                    peer.iter().for_each(|n| element(s, &[n], &c));
                }
                (Match::Proto(p), 1) if fam.carries(*p) => {
                    let c = noted(&e.allows);
                    peer.iter().for_each(|n| element(s, &[n, " . ", proto(*p)], &c));
                }
                (Match::Ports(p, spans), 0) => {
                    notes.clear();
                    notes.extend(spans.iter().map(|sp| (range(sp.range), noted(&sp.allows))));
                    for n in peer {
                        for (r, c) in &notes {
                            element(s, &[n, " . ", proto(*p), " . ", r], c);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// One element line: its parts, its comment, a comma.
fn element(s: &mut String, parts: &[&str], comment: &str) {
    s.push_str("\t\t\t");
    s.extend(parts.iter().copied());
    s.extend([" comment \"", comment, "\",\n"]);
}

fn addr_type(fam: Family) -> &'static str {
    if fam.is_v6() {
        "ipv6_addr"
    } else {
        "ipv4_addr"
    }
}

fn proto(p: Proto) -> &'static str {
    match p {
        Proto::Icmpv6 => "ipv6-icmp",
        other => other.as_str(),
    }
}

/// `80`, or `8000-8100`.
fn range(r: PortRange) -> String {
    let mut s = String::new();
    push_port(&mut s, r, '-');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::netfilter::quoted_comment;

    #[test]
    fn comments_are_quoted_safely_and_cut() {
        assert_eq!(quoted_comment("a\"b", MAX_COMMENT), "a'b");
        assert!(quoted_comment(&"x".repeat(300), MAX_COMMENT).len() <= MAX_COMMENT);
    }
}
