//! The iptables target: `iptables-restore` / `ip6tables-restore` files for the
//! filter table, one per mode and address family (spec §6 layout).
//!
//! Shape: the built-in chain of the mode (FORWARD for the gateway, INPUT and
//! OUTPUT for a host) accepts established and related packets, drops invalid
//! ones, then jumps by source and destination addresses to one user chain per
//! zone pair (`dmz>mz`), so a packet is tested against its pair's rules only.
//! Whatever no rule accepts falls to the chain's DROP policy, optionally after a
//! rate-limited LOG. Every rule carries the allows (file:line) behind it.
//!
//! A pair's chain is the same in every file that holds it (the gateway's and
//! the hosts' of both its zones), so each is rendered once per family, straight
//! into the gateway's text, and the hosts' files copy it from there.

use super::netfilter::{
    push_port, push_quoted, Family, Grant, Interval, Match, Mode, Model, PortSpan, Ruleset,
};
use super::{Artefact, EmitOptions, Sink, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, AtomId, Ir, ZoneId};
use crate::ports::Proto;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// iptables chain names are at most 28 characters.
const MAX_CHAIN: usize = 28;
/// The gateway's entry chain: FORWARD jumps to it (docs/netfilter.md, "Loading").
pub const GATEWAY_CHAIN: &str = "moat-forward";
/// `-m comment` holds at most 255 bytes.
const MAX_COMMENT: usize = 240;
/// iptables-restore rejects a parameter of 1024 characters or more.
const MAX_ADDR_LIST: usize = 900;
/// `-m multiport` holds at most 15 ports, a range counting two.
const MULTIPORT_SLOTS: usize = 15;

/// Compiles the policy to iptables-restore files.
pub fn emit(ir: &Ir, opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let mut out = vec![];
    emit_into(ir, opts, &mut out)?;
    Ok(out)
}

/// [`emit`], handing each file to `sink` as soon as it is written.
pub fn emit_into(ir: &Ir, opts: &EmitOptions, sink: &mut dyn Sink) -> Result<(), Vec<Diagnostic>> {
    let model = Model::new(ir, Target::Iptables)?;
    let rulesets = model.rulesets();
    let pairs = Pairs::new(&model);
    for fam in Family::ALL {
        let files: Vec<&Ruleset<'_>> = rulesets.iter().filter(|rs| rs.families.contains(&fam)).collect();
        if !files.is_empty() {
            family_files(&model, &pairs, files, fam, opts, sink);
        }
    }
    Ok(())
}

/// The files of one address family. Each pair's rules are rendered once, in
/// place in the gateway's file (which holds every pair), and copied from there
/// into the hosts' files.
fn family_files(
    m: &Model<'_>,
    pairs: &Pairs<'_>,
    files: Vec<&Ruleset<'_>>,
    fam: Family,
    opts: &EmitOptions,
    sink: &mut dyn Sink,
) {
    let mut sides = Sides::new(m, fam);
    let jumps = Jumps {
        fam,
        of: pairs.jumps(m, &mut sides, fam),
    };
    let (gateway, hosts): (Vec<_>, Vec<_>) = files.into_iter().partition(|rs| rs.mode == Mode::Gateway);
    let mut at = vec![0..0; pairs.all.len()];
    let mut rules_once = |s: &mut String, i: usize| {
        let start = s.len();
        pair_rules(s, m, &pairs.all[i], &sides.one, fam);
        at[i] = start..s.len();
    };
    let bound = |i: usize| rules_bound(m, &pairs.all[i], &sides.one);
    let source = match gateway.first() {
        Some(gw) => render(m, gw, pairs, &jumps, opts, &bound, &mut rules_once),
        None => {
            let mut s = String::new();
            (0..jumps.of.len())
                .filter(|i| jumps.of[*i].is_some())
                .for_each(|i| rules_once(&mut s, i));
            s
        }
    };
    for rs in hosts {
        let len = |i: usize| at[i].len();
        let text = render(m, rs, pairs, &jumps, opts, &len, &mut |s, i| {
            s.push_str(&source[at[i].clone()])
        });
        sink.put(Artefact {
            path: file_path(rs, fam),
            contents: text,
        });
    }
    if let Some(gw) = gateway.first() {
        sink.put(Artefact {
            path: file_path(gw, fam),
            contents: source,
        });
    }
}

/// `iptables/<stem>.<family>.rules`.
fn file_path(rs: &Ruleset<'_>, fam: Family) -> String {
    format!("iptables/{}.{}.rules", rs.stem, fam.as_str())
}

/// The grants of one zone pair, under the chain that holds their rules.
struct Pair<'m> {
    from: ZoneId,
    to: ZoneId,
    chain: String,
    grants: Vec<&'m Grant>,
}

/// Every zone pair with grants, in zone order, and which pairs each zone's hosts see.
struct Pairs<'m> {
    all: Vec<Pair<'m>>,
    /// Per zone, the indices of the pairs it is an end of.
    by_zone: Vec<Vec<usize>>,
}

impl<'m> Pairs<'m> {
    /// The grants grouped by (source zone, destination zone).
    fn new(m: &'m Model<'_>) -> Pairs<'m> {
        let ir = m.ir;
        let mut by: BTreeMap<(ZoneId, ZoneId), Vec<&'m Grant>> = BTreeMap::new();
        for g in &m.grants {
            by.entry((ir.atoms[g.from].zone, ir.atoms[g.to].zone))
                .or_default()
                .push(g);
        }
        let all: Vec<Pair<'m>> = by
            .into_iter()
            .map(|((from, to), grants)| Pair {
                from,
                to,
                chain: chain_name(ir, from, to),
                grants,
            })
            .collect();
        let mut by_zone = vec![vec![]; ir.zones.len()];
        for (i, p) in all.iter().enumerate() {
            by_zone[p.from].push(i);
            if p.to != p.from {
                by_zone[p.to].push(i);
            }
        }
        Pairs { all, by_zone }
    }

    /// Each pair's jump rules in one family, without their `-A HOOK` (`None`
    /// when no grant of the pair has addresses at both ends there: no chain).
    fn jumps(&self, m: &Model<'_>, sides: &mut Sides, fam: Family) -> Vec<Option<String>> {
        let addressed =
            |g: &&Grant| !m.intervals(g.from, fam).is_empty() && !m.intervals(g.to, fam).is_empty();
        self.all
            .iter()
            .map(|p| p.grants.iter().any(addressed).then(|| dispatch(m, p, sides, fam)))
            .collect()
    }
}

/// Each pair's jump rules in one family (see [`Pairs::jumps`]).
struct Jumps {
    fam: Family,
    of: Vec<Option<String>>,
}

/// The address arguments of each atom in one family, and of the sets of
/// atoms that jumps match on (each set's union computed once).
struct Sides {
    one: Vec<Vec<Addrs>>,
    many: BTreeMap<Vec<AtomId>, Vec<Addrs>>,
}

impl Sides {
    fn new(m: &Model<'_>, fam: Family) -> Sides {
        Sides {
            one: (0..m.ir.atoms.len())
                .map(|a| addrs(m.intervals(a, fam)))
                .collect(),
            many: BTreeMap::new(),
        }
    }

    /// The arguments of the union of `atoms` (sorted, distinct).
    fn of(&mut self, m: &Model<'_>, atoms: Vec<AtomId>, fam: Family) -> &[Addrs] {
        if let [one] = atoms[..] {
            return &self.one[one];
        }
        self.many
            .entry(atoms)
            .or_insert_with_key(|atoms| addrs(&m.union(atoms, fam)))
    }
}

/// `dmz>mz`, or `zones3>7` when the names do not fit 28 characters.
fn chain_name(ir: &Ir, from: ZoneId, to: ZoneId) -> String {
    let name = format!("{}>{}", ir.zones[from].name, ir.zones[to].name);
    if name.len() <= MAX_CHAIN {
        name
    } else {
        format!("zones{from}>{to}")
    }
}

/// The jumps to a pair's chain by the whole addresses of its two zones (the
/// chain classifies by atom itself), each line without its `-A HOOK`.
fn dispatch(m: &Model<'_>, p: &Pair<'_>, sides: &mut Sides, fam: Family) -> String {
    let mut tail = String::from(" -m comment --comment \"");
    push_quoted(
        &mut tail,
        &format!(
            "zone {} -> zone {}",
            m.ir.zones[p.from].name, m.ir.zones[p.to].name
        ),
        MAX_COMMENT,
    );
    let _ = writeln!(tail, "\" -j {}", p.chain);
    let mut out = String::new();
    let src = sides.of(m, m.zone_atoms(p.from), fam).to_vec();
    for_each_address_match(Some(&src), Some(sides.of(m, m.zone_atoms(p.to), fam)), |words| {
        out.push_str(words);
        out.push_str(&tail);
    });
    out
}

/// Appends the rules of one pair's chain in one family, given each atom's
/// address arguments there (none when no grant has addresses at both ends).
///
/// The chain classifies before it matches: the jump brought only packets from
/// the source zone to the destination zone, so a remainder needs no address
/// match once its zone's services have left. Source blocks come services
/// first, each rule matching the service's addresses; then every service of
/// the source zone RETURNs, and the remainder's rules match no source. Inside
/// a block the rules to the destination's services come first; before the
/// rules to the destination's remainder, the services RETURN (no later rule of
/// the chain can accept a packet from this block's source to them).
fn pair_rules(out: &mut String, m: &Model<'_>, p: &Pair<'_>, sides: &[Vec<Addrs>], fam: Family) {
    let (zf, zt) = (&m.ir.zones[p.from], &m.ir.zones[p.to]);
    let mut grants: Vec<&Grant> = p
        .grants
        .iter()
        .copied()
        .filter(|g| !sides[g.from].is_empty() && !sides[g.to].is_empty())
        .collect();
    // services first, each source's grants to services first: the order of the blocks
    grants.sort_by_key(|g| (g.from == zf.remainder, g.from, g.to == zt.remainder, g.to));
    let mut rest = &grants[..];
    while let Some(first) = rest.first() {
        let n = rest.iter().take_while(|g| g.from == first.from).count();
        let (block, tail) = rest.split_at(n);
        rest = tail;
        let src = (first.from != zf.remainder).then(|| &sides[first.from][..]);
        if src.is_none() {
            returns(out, m, &p.chain, zf, sides, |s| (Some(s), None));
        }
        source_block(out, m, p, zt, block, src, sides, fam);
    }
}

/// The rules of one source atom's grants in a pair's chain (`src`: its
/// address arguments, `None` for its zone's remainder).
#[allow(clippy::too_many_arguments)]
fn source_block(
    out: &mut String,
    m: &Model<'_>,
    p: &Pair<'_>,
    zt: &crate::ir::Zone,
    block: &[&Grant],
    src: Option<&[Addrs]>,
    sides: &[Vec<Addrs>],
    fam: Family,
) {
    let (mut words, mut ends): (String, Vec<usize>) = (String::new(), vec![]);
    for g in block {
        let dst = if g.to == zt.remainder {
            returns(out, m, &p.chain, zt, sides, |d| (src, Some(d)));
            None
        } else {
            Some(&sides[g.to][..])
        };
        words.clear();
        ends.clear();
        for_each_address_match(src, dst, |w| {
            words.push_str(w);
            ends.push(words.len());
        });
        grant_rules(out, m, &p.chain, g, &words, &ends, fam);
    }
}

/// The RETURNs of a zone's services (in `sides`), each matched as `ends(service)`
/// gives: they take the services' packets out before the zone's remainder's
/// rules, which match no address of that zone.
fn returns<'s>(
    out: &mut String,
    m: &Model<'_>,
    chain: &str,
    zone: &crate::ir::Zone,
    sides: &'s [Vec<Addrs>],
    ends: impl Fn(&'s [Addrs]) -> (Option<&'s [Addrs]>, Option<&'s [Addrs]>),
) {
    for s in &zone.services {
        if *s == zone.remainder || sides[*s].is_empty() {
            continue;
        }
        let (src, dst) = ends(&sides[*s]);
        let mut tail = String::from(" -m comment --comment \"");
        let note = format!("{} is not {}'s remainder", m.ir.atoms[*s].name, zone.name);
        push_quoted(&mut tail, &note, MAX_COMMENT);
        tail.push_str("\" -j RETURN\n");
        for_each_address_match(src, dst, |w| {
            out.extend(["-A ", chain, w, &tail]);
        });
    }
}

/// The ACCEPT rules of one grant: each protocol/port match once per
/// combination of address words (`words`, each ending at the next of `ends`).
fn grant_rules(
    out: &mut String,
    m: &Model<'_>,
    chain: &str,
    g: &Grant,
    words: &str,
    ends: &[usize],
    fam: Family,
) {
    let (mut tail, mut comment) = (String::new(), String::new());
    let (from, to) = (&m.ir.atoms[g.from].name, &m.ir.atoms[g.to].name);
    for e in &g.entries {
        for_each_match(&e.what, &e.allows, fam, |args, what, allows| {
            comment.clear();
            comment.extend([from.as_str(), " -> ", to.as_str(), " ", what, ": "]);
            m.push_locs(&mut comment, allows, MAX_COMMENT);
            tail.clear();
            tail.push_str(args);
            tail.push_str(" -m comment --comment \"");
            push_quoted(&mut tail, &comment, MAX_COMMENT);
            tail.push_str("\" -j ACCEPT\n");
            let mut start = 0;
            for end in ends {
                out.extend(["-A ", chain, &words[start..*end], &tail]);
                start = *end;
            }
        });
    }
}

/// An upper bound on the length of a pair's rules (each line's comment is at
/// most [`MAX_COMMENT`] bytes, a `multiport` match holds at least 7 ranges).
fn rules_bound(m: &Model<'_>, p: &Pair<'_>, sides: &[Vec<Addrs>]) -> usize {
    let line = "-A ".len() + p.chain.len() + " -m comment --comment \"\" -j ACCEPT\n".len() + MAX_COMMENT;
    let text = |a: &Addrs| match a {
        Addrs::Nets(t) | Addrs::Range(t) => t.len(),
    };
    p.grants
        .iter()
        .map(|g| {
            let (src, dst) = (&sides[g.from], &sides[g.to]);
            let combos = src.len() * dst.len();
            let words = src.iter().map(text).sum::<usize>() * dst.len()
                + dst.iter().map(text).sum::<usize>() * src.len()
                + 48 * combos;
            let per_entry = |e: &super::netfilter::Entry| match &e.what {
                Match::Ports(_, spans) => {
                    (spans.len() / 7 + 1) * (words + combos * (line + 48)) + combos * 12 * spans.len()
                }
                _ => words + combos * (line + 24),
            };
            g.entries.iter().map(per_entry).sum::<usize>()
        })
        .sum::<usize>()
        + returns_bound(m, p, sides, line)
}

/// An upper bound on the length of a pair's RETURN rules: at most one per
/// (source block, service of either zone, address combination).
fn returns_bound(m: &Model<'_>, p: &Pair<'_>, sides: &[Vec<Addrs>], line: usize) -> usize {
    let text = |a: &Addrs| match a {
        Addrs::Nets(t) | Addrs::Range(t) => t.len(),
    };
    let widest = |atoms: &mut dyn Iterator<Item = AtomId>| {
        atoms
            .map(|a| {
                (
                    sides[a].len().max(1),
                    sides[a].iter().map(text).max().unwrap_or(0),
                )
            })
            .fold((1, 0), |(n, t), (n2, t2)| (n.max(n2), t.max(t2)))
    };
    let (src_n, src_t) = widest(&mut p.grants.iter().map(|g| g.from));
    let services = |z: ZoneId| -> usize {
        m.ir.zones[z]
            .services
            .iter()
            .map(|s| {
                sides[*s].len() * src_n * (line + 48 + src_t + sides[*s].iter().map(text).max().unwrap_or(0))
            })
            .sum()
    };
    let mut sources: Vec<AtomId> = p.grants.iter().map(|g| g.from).collect();
    sources.dedup();
    services(p.from) + sources.len() * services(p.to)
}

/// Calls `f` with the protocol/port arguments of an entry (each rule's, with a
/// leading space), a short description (`tcp/80,443`) and the allows of each.
fn for_each_match(what: &Match, allows: &[AllowId], fam: Family, mut f: impl FnMut(&str, &str, &[AllowId])) {
    let (mut args, mut desc) = (String::with_capacity(96), String::with_capacity(96));
    match what {
        Match::Any => f("", "any", allows),
        Match::Proto(p) if fam.carries(*p) => {
            args.push_str(" -p ");
            args.push_str(proto_name(*p));
            f(&args, p.as_str(), allows)
        }
        Match::Proto(_) => {}
        Match::Ports(p, spans) if spans.len() == 1 => {
            args.extend([" -p ", proto_name(*p), " --dport "]);
            push_port(&mut args, spans[0].range, ':');
            desc.extend([p.as_str(), "/"]);
            push_port(&mut desc, spans[0].range, '-');
            f(&args, &desc, &spans[0].allows)
        }
        Match::Ports(p, spans) => {
            for chunk in chunks(spans) {
                args.clear();
                desc.clear();
                args.extend([" -p ", proto_name(*p), " -m multiport --dports "]);
                desc.extend([p.as_str(), "/"]);
                for (i, s) in chunk.iter().enumerate() {
                    if i > 0 {
                        args.push(',');
                        desc.push(',');
                    }
                    push_port(&mut args, s.range, ':');
                    push_port(&mut desc, s.range, '-');
                }
                let mut ids: Vec<AllowId> = chunk.iter().flat_map(|s| s.allows.iter().copied()).collect();
                ids.sort_unstable();
                ids.dedup();
                f(&args, &desc, &ids);
            }
        }
    }
}

/// Groups port spans so that each group fits one `multiport` match.
fn chunks(spans: &[PortSpan]) -> Vec<&[PortSpan]> {
    let mut out = vec![];
    let (mut start, mut used) = (0, 0);
    for (i, s) in spans.iter().enumerate() {
        let need = if s.range.lo == s.range.hi { 1 } else { 2 };
        if i > start && used + need > MULTIPORT_SLOTS {
            out.push(&spans[start..i]);
            (start, used) = (i, 0);
        }
        used += need;
    }
    if start < spans.len() {
        out.push(&spans[start..]);
    }
    out
}

/// The name iptables knows a protocol by.
fn proto_name(p: Proto) -> &'static str {
    if p == Proto::Icmpv6 {
        "ipv6-icmp"
    } else {
        p.as_str()
    }
}

/// One side of a rule's address match: a comma-separated prefix list (which
/// iptables-restore expands into one rule per prefix), or one address range.
#[derive(Debug, Clone)]
enum Addrs {
    Nets(String),
    Range(String),
}

/// The address arguments of a set of intervals: ranges one by one, prefixes in
/// lists cut below iptables-restore's parameter limit.
fn addrs(ivs: &[Interval]) -> Vec<Addrs> {
    let mut out: Vec<Addrs> = vec![];
    for iv in ivs {
        let text = iv.to_string();
        match (iv, out.last_mut()) {
            (Interval::Range(..), _) => out.push(Addrs::Range(text)),
            (Interval::Prefix(_), Some(Addrs::Nets(last)))
                if last.len() + 1 + text.len() <= MAX_ADDR_LIST =>
            {
                last.push(',');
                last.push_str(&text);
            }
            (Interval::Prefix(_), _) => out.push(Addrs::Nets(text)),
        }
    }
    out
}

/// Calls `f` with the match words (each with a leading space) of every (source,
/// destination) combination: `-s`/`-d` for prefix lists, `-m iprange
/// --src-range`/`--dst-range` for ranges; a side that is `None` matches no address.
fn for_each_address_match(src: Option<&[Addrs]>, dst: Option<&[Addrs]>, mut f: impl FnMut(&str)) {
    let mut words = String::new();
    for s in each(src) {
        for d in each(dst) {
            words.clear();
            for (side, flag) in [(s, "-s"), (d, "-d")] {
                if let Some(Addrs::Nets(n)) = side {
                    words.extend([" ", flag, " ", n]);
                }
            }
            if matches!(s, Some(Addrs::Range(_))) || matches!(d, Some(Addrs::Range(_))) {
                words.push_str(" -m iprange");
            }
            for (side, flag) in [(s, "--src-range"), (d, "--dst-range")] {
                if let Some(Addrs::Range(r)) = side {
                    words.extend([" ", flag, " ", r]);
                }
            }
            f(&words);
        }
    }
}

/// The address arguments of one side, one by one; `[None]` for no address match.
fn each(side: Option<&[Addrs]>) -> Vec<Option<&Addrs>> {
    side.map_or(vec![None], |s| s.iter().map(Some).collect())
}

/// A built-in chain that dispatches to the pairs, with the source zone or
/// destination zone it is limited to (host mode).
type Hook = (&'static str, Option<ZoneId>, Option<ZoneId>);

/// One file: header, the built-in chains and the pairs' chains, each hook's
/// prologue and jumps to the pairs it sees, then the pairs' rules (appended by `rules`).
fn render(
    m: &Model<'_>,
    rs: &Ruleset<'_>,
    pairs: &Pairs<'_>,
    jumps: &Jumps,
    opts: &EmitOptions,
    rules_len: &dyn Fn(usize) -> usize,
    rules: &mut dyn FnMut(&mut String, usize),
) -> String {
    let shown: Vec<(usize, &str)> = match rs.mode {
        Mode::Gateway => jumps
            .of
            .iter()
            .enumerate()
            .filter_map(|(i, j)| Some((i, j.as_deref()?)))
            .collect(),
        Mode::Host(z) => pairs.by_zone[z]
            .iter()
            .filter_map(|i| Some((*i, jumps.of[*i].as_deref()?)))
            .collect(),
    };
    // The gateway file manages only its own chains (loaded with `--noflush`,
    // entered from FORWARD by one jump): the firewall's INPUT, OUTPUT and
    // other rules stay as they are. A host file is the host's whole table.
    let (builtins, hooks): (&[(&str, &str)], &[Hook]) = match rs.mode {
        Mode::Gateway => (&[], &[(GATEWAY_CHAIN, None, None)]),
        Mode::Host(z) => (
            &[("INPUT", "DROP"), ("FORWARD", "ACCEPT"), ("OUTPUT", "DROP")],
            &[("INPUT", None, Some(z)), ("OUTPUT", Some(z), None)],
        ),
    };
    // Sized once: a file of tens of megabytes grown by doubling is copied, and
    // the old copies stay resident for a while (mimalloc).
    let hooks_len = if matches!(rs.mode, Mode::Gateway) { 6 } else { 5 };
    let size: usize = shown
        .iter()
        .map(|(i, j)| {
            rules_len(*i) + 2 * pairs.all[*i].chain.len() + 16 + j.len() + hooks_len * j.matches('\n').count()
        })
        .sum();
    let mut s = String::with_capacity(size + 4096);
    header(m, rs, jumps.fam, &mut s);
    for (name, policy) in builtins {
        let _ = writeln!(s, ":{name} {policy} [0:0]");
    }
    if matches!(rs.mode, Mode::Gateway) {
        let _ = writeln!(s, ":{GATEWAY_CHAIN} - [0:0]");
    }
    for (i, _) in &shown {
        let _ = writeln!(s, ":{} - [0:0]", pairs.all[*i].chain);
    }
    for &(hook, from, to) in hooks {
        prologue(&mut s, hook, rs.mode, jumps.fam);
        for (i, jump) in &shown {
            let p = &pairs.all[*i];
            if from.is_some_and(|z| z != p.from) || to.is_some_and(|z| z != p.to) {
                continue;
            }
            for line in jump.split_inclusive('\n') {
                s.push_str("-A ");
                s.push_str(hook);
                s.push_str(line);
            }
        }
        let seen = if hook == GATEWAY_CHAIN { "FORWARD" } else { hook };
        if opts.log_drops {
            let _ = writeln!(s, "-A {hook} -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix \"moat {seen} drop: \"");
        }
        if hook == GATEWAY_CHAIN {
            let _ = writeln!(
                s,
                "-A {hook} -m comment --comment \"routed traffic no allow covers\" -j DROP"
            );
        }
    }
    for (i, _) in &shown {
        rules(&mut s, *i);
    }
    s.push_str("COMMIT\n");
    s
}

/// The comment lines and `*filter`.
fn header(m: &Model<'_>, rs: &Ruleset<'_>, fam: Family, s: &mut String) {
    let (tool, file) = match fam {
        Family::V4 => ("iptables-restore", format!("{}.v4.rules", rs.stem)),
        Family::V6 => ("ip6tables-restore", format!("{}.v6.rules", rs.stem)),
    };
    let what = format!("iptables filter table (IPv{})", if fam.is_v6() { 6 } else { 4 });
    for line in m.header(rs, &what) {
        let _ = writeln!(s, "# {line}");
    }
    match rs.mode {
        Mode::Gateway => {
            let cmd = tool.trim_end_matches("-restore");
            let _ = writeln!(
                s,
                "# Load (flushes and refills moat's own chains only; the rest of the filter table stays): {tool} --noflush < {file}"
            );
            let _ = writeln!(
                s,
                "# Then, once, send routed traffic to them: {cmd} -C FORWARD -j {GATEWAY_CHAIN} 2>/dev/null || {cmd} -I FORWARD 1 -j {GATEWAY_CHAIN}"
            );
            let _ = writeln!(s, "# Check without loading: {tool} --test --noflush {file}");
        }
        Mode::Host(_) => {
            let _ = writeln!(
                s,
                "# Load (replaces the whole filter table in one step): {tool} < {file}"
            );
            let _ = writeln!(s, "# Check without loading: {tool} --test {file}");
        }
    }
    s.push_str("*filter\n");
}

/// Loopback (host mode), neighbour discovery (host mode, IPv6), state.
fn prologue(s: &mut String, hook: &str, mode: Mode, fam: Family) {
    if let Mode::Host(_) = mode {
        let lo = if hook == "INPUT" { "-i" } else { "-o" };
        let _ = writeln!(s, "-A {hook} {lo} lo -m comment --comment \"loopback\" -j ACCEPT");
        if fam.is_v6() {
            for ty in [
                "router-solicitation",
                "router-advertisement",
                "neighbour-solicitation",
                "neighbour-advertisement",
            ] {
                let _ = writeln!(
                    s,
                    "-A {hook} -p ipv6-icmp -m icmp6 --icmpv6-type {ty} -m comment --comment \"IPv6 neighbour discovery\" -j ACCEPT"
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "-A {hook} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
    );
    let _ = writeln!(s, "-A {hook} -m conntrack --ctstate INVALID -j DROP");
}
