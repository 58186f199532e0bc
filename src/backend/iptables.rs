//! The iptables target: `iptables-restore` / `ip6tables-restore` files for the
//! filter table, one per mode and address family (spec §6 layout).
//!
//! Shape: the built-in chain of the mode (FORWARD for the gateway, INPUT and
//! OUTPUT for a host) accepts established and related packets, drops invalid
//! ones, then jumps by source and destination addresses to one user chain per
//! zone pair (`dmz>mz`), so a packet is tested against its pair's rules only.
//! Whatever no rule accepts falls to the chain's DROP policy, optionally after a
//! rate-limited LOG. Every rule carries the allows (file:line) behind it.

use super::netfilter::{Family, Grant, Interval, Match, Mode, Model, PortSpan, Ruleset};
use super::{Artefact, EmitOptions, Target};
use crate::diag::Diagnostic;
use crate::ir::{AllowId, Ir, ZoneId};
use crate::ports::Proto;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// iptables chain names are at most 28 characters.
const MAX_CHAIN: usize = 28;
/// `-m comment` holds at most 255 bytes.
const MAX_COMMENT: usize = 240;
/// iptables-restore rejects a parameter of 1024 characters or more.
const MAX_ADDR_LIST: usize = 900;
/// `-m multiport` holds at most 15 ports, a range counting two.
const MULTIPORT_SLOTS: usize = 15;

/// Compiles the policy to iptables-restore files.
pub fn emit(ir: &Ir, opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let model = Model::new(ir, Target::Iptables)?;
    let mut out = vec![];
    for rs in model.rulesets() {
        for fam in &rs.families {
            let table = build(&model, &rs, *fam, opts);
            out.push(Artefact {
                path: format!("iptables/{}.{}.rules", rs.stem, fam.as_str()),
                contents: render(&model, &rs, *fam, &table),
            });
        }
    }
    Ok(out)
}

/// The filter table of one file: chains with their policies, then rules in order.
#[derive(Debug, Default)]
struct Table {
    /// Built-in chains with policy, user chains with `-`.
    chains: Vec<(String, &'static str)>,
    rules: Vec<Rule>,
}

/// One `-A` line.
#[derive(Debug)]
struct Rule {
    chain: String,
    /// Match arguments, already split into words (`-p`, `tcp`, ...).
    args: Vec<String>,
    comment: Option<String>,
    target: String,
}

impl Rule {
    fn new(chain: &str, args: &[&str], target: &str) -> Rule {
        Rule { chain: chain.to_string(), args: args.iter().map(|s| s.to_string()).collect(), comment: None, target: target.to_string() }
    }

    fn comment(mut self, c: String) -> Rule {
        self.comment = Some(c);
        self
    }

    /// Appends options of the target (`-j LOG --log-prefix ...`).
    fn with_target_args(mut self, args: &[&str]) -> Rule {
        for a in args {
            self.target.push(' ');
            self.target.push_str(a);
        }
        self
    }
}

/// The grants of one zone pair, under the chain that holds their rules.
struct Pair<'m> {
    from: ZoneId,
    to: ZoneId,
    chain: String,
    grants: Vec<&'m Grant>,
}

/// The table of one ruleset in one family: built-in chains with their policies,
/// each hook's prologue and jumps to the zone pairs it sees, then the pairs' chains.
fn build(m: &Model<'_>, rs: &Ruleset<'_>, fam: Family, opts: &EmitOptions) -> Table {
    let mut t = Table::default();
    let hooks: Vec<(&str, Option<ZoneId>, Option<ZoneId>)> = match rs.mode {
        Mode::Gateway => {
            t.chains = vec![("INPUT".into(), "ACCEPT"), ("FORWARD".into(), "DROP"), ("OUTPUT".into(), "ACCEPT")];
            vec![("FORWARD", None, None)]
        }
        Mode::Host(z) => {
            t.chains = vec![("INPUT".into(), "DROP"), ("FORWARD".into(), "ACCEPT"), ("OUTPUT".into(), "DROP")];
            vec![("INPUT", None, Some(z)), ("OUTPUT", Some(z), None)]
        }
    };
    let pairs = pairs(m, rs);
    let mut bodies = vec![];
    for p in &pairs {
        let body = pair_rules(m, p, fam);
        if !body.is_empty() {
            t.chains.push((p.chain.clone(), "-"));
            bodies.push((p, body));
        }
    }
    for (hook, from, to) in hooks {
        prologue(&mut t, hook, rs.mode, fam);
        for (p, _) in &bodies {
            if from.is_some_and(|z| z != p.from) || to.is_some_and(|z| z != p.to) {
                continue;
            }
            t.rules.extend(dispatch(m, hook, p, fam));
        }
        if opts.log_drops {
            let prefix = format!("\"moat {hook} drop: \"");
            t.rules.push(Rule::new(hook, &["-m", "limit", "--limit", "5/min", "--limit-burst", "10"], "LOG")
                .with_target_args(&["--log-prefix", &prefix]));
        }
    }
    for (_, body) in bodies {
        t.rules.extend(body);
    }
    t
}

/// Loopback (host mode), neighbour discovery (host mode, IPv6), state.
fn prologue(t: &mut Table, hook: &str, mode: Mode, fam: Family) {
    if let Mode::Host(_) = mode {
        let lo = if hook == "INPUT" { "-i" } else { "-o" };
        t.rules.push(Rule::new(hook, &[lo, "lo"], "ACCEPT").comment("loopback".into()));
        if fam.is_v6() {
            for ty in ["router-solicitation", "router-advertisement", "neighbour-solicitation", "neighbour-advertisement"] {
                t.rules.push(
                    Rule::new(hook, &["-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", ty], "ACCEPT")
                        .comment("IPv6 neighbour discovery".into()),
                );
            }
        }
    }
    t.rules.push(Rule::new(hook, &["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED"], "ACCEPT"));
    t.rules.push(Rule::new(hook, &["-m", "conntrack", "--ctstate", "INVALID"], "DROP"));
}

/// The grants grouped by (source zone, destination zone), in zone order.
fn pairs<'m>(m: &Model<'_>, rs: &Ruleset<'m>) -> Vec<Pair<'m>> {
    let ir = m.ir;
    let mut by: BTreeMap<(ZoneId, ZoneId), Vec<&'m Grant>> = BTreeMap::new();
    for g in &rs.grants {
        by.entry((ir.atoms[g.from].zone, ir.atoms[g.to].zone)).or_default().push(g);
    }
    by.into_iter()
        .map(|((from, to), grants)| Pair { from, to, chain: chain_name(ir, from, to), grants })
        .collect()
}

/// `dmz>mz`, or `zones3>7` when the names do not fit 28 characters.
fn chain_name(ir: &Ir, from: ZoneId, to: ZoneId) -> String {
    let name = format!("{}>{}", ir.zones[from].name, ir.zones[to].name);
    if name.len() <= MAX_CHAIN { name } else { format!("zones{from}>{to}") }
}

/// The jumps from a built-in chain to a pair's chain, by the pair's addresses.
fn dispatch(m: &Model<'_>, hook: &str, p: &Pair<'_>, fam: Family) -> Vec<Rule> {
    let mut froms: Vec<_> = p.grants.iter().map(|g| g.from).collect();
    let mut tos: Vec<_> = p.grants.iter().map(|g| g.to).collect();
    froms.sort_unstable();
    froms.dedup();
    tos.sort_unstable();
    tos.dedup();
    let (zf, zt) = (&m.ir.zones[p.from].name, &m.ir.zones[p.to].name);
    address_matches(&m.union(&froms, fam), &m.union(&tos, fam))
        .into_iter()
        .map(|args| Rule { chain: hook.to_string(), args, comment: Some(format!("zone {zf} -> zone {zt}")), target: p.chain.clone() })
        .collect()
}

/// The rules of one pair's chain in one family (empty when no grant has addresses in it).
fn pair_rules(m: &Model<'_>, p: &Pair<'_>, fam: Family) -> Vec<Rule> {
    let mut out = vec![];
    for g in &p.grants {
        let (src, dst) = (m.intervals(g.from, fam), m.intervals(g.to, fam));
        if src.is_empty() || dst.is_empty() {
            continue;
        }
        let addrs = address_matches(src, dst);
        let flow = format!("{} -> {}", m.ir.atoms[g.from].name, m.ir.atoms[g.to].name);
        for e in &g.entries {
            for (args, what, allows) in matches(&e.what, &e.allows, fam) {
                let comment = cut(format!("{flow} {what}: {}", m.locs(&allows, MAX_COMMENT)));
                for a in &addrs {
                    let mut words = a.clone();
                    words.extend(args.iter().cloned());
                    out.push(Rule { chain: p.chain.clone(), args: words, comment: Some(comment.clone()), target: "ACCEPT".into() });
                }
            }
        }
    }
    out
}

/// The protocol/port arguments of an entry, one item per rule, with a short
/// description (`tcp/80,443`) and the allows of each.
fn matches(what: &Match, allows: &[AllowId], fam: Family) -> Vec<(Vec<String>, String, Vec<AllowId>)> {
    match what {
        Match::Any => vec![(vec![], "any".to_string(), allows.to_vec())],
        Match::Proto(p) if fam.carries(*p) => vec![(proto_args(*p), p.as_str().to_string(), allows.to_vec())],
        Match::Proto(_) => vec![],
        Match::Ports(p, spans) if spans.len() == 1 => {
            let mut a = proto_args(*p);
            a.extend(["--dport".to_string(), port(&spans[0], ":")]);
            vec![(a, format!("{p}/{}", port(&spans[0], "-")), spans[0].allows.clone())]
        }
        Match::Ports(p, spans) => chunks(spans)
            .into_iter()
            .map(|chunk| {
                let mut a = proto_args(*p);
                let list: Vec<String> = chunk.iter().map(|s| port(s, ":")).collect();
                a.extend(["-m".to_string(), "multiport".to_string(), "--dports".to_string(), list.join(",")]);
                let desc: Vec<String> = chunk.iter().map(|s| port(s, "-")).collect();
                let mut ids: Vec<AllowId> = chunk.iter().flat_map(|s| s.allows.iter().copied()).collect();
                ids.sort_unstable();
                ids.dedup();
                (a, format!("{p}/{}", desc.join(",")), ids)
            })
            .collect(),
    }
}

/// Groups port spans so that each group fits one `multiport` match.
fn chunks(spans: &[PortSpan]) -> Vec<Vec<&PortSpan>> {
    let mut out: Vec<Vec<&PortSpan>> = vec![];
    let mut used = MULTIPORT_SLOTS;
    for s in spans {
        let need = if s.range.lo == s.range.hi { 1 } else { 2 };
        if used + need > MULTIPORT_SLOTS {
            out.push(vec![]);
            used = 0;
        }
        used += need;
        if let Some(last) = out.last_mut() {
            last.push(s);
        }
    }
    out
}

fn proto_args(p: Proto) -> Vec<String> {
    let name = if p == Proto::Icmpv6 { "ipv6-icmp" } else { p.as_str() };
    vec!["-p".to_string(), name.to_string()]
}

/// `80`, or `8000:8100` with `sep` between the ends.
fn port(s: &PortSpan, sep: &str) -> String {
    if s.range.lo == s.range.hi { s.range.lo.to_string() } else { format!("{}{sep}{}", s.range.lo, s.range.hi) }
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
            (Interval::Prefix(_), Some(Addrs::Nets(last))) if last.len() + 1 + text.len() <= MAX_ADDR_LIST => {
                last.push(',');
                last.push_str(&text);
            }
            (Interval::Prefix(_), _) => out.push(Addrs::Nets(text)),
        }
    }
    out
}

/// The match words of every (source, destination) combination: `-s`/`-d` for
/// prefix lists, `-m iprange --src-range`/`--dst-range` for ranges.
fn address_matches(src: &[Interval], dst: &[Interval]) -> Vec<Vec<String>> {
    let (src, dst) = (addrs(src), addrs(dst));
    let mut out = vec![];
    for s in &src {
        for d in &dst {
            let mut words: Vec<String> = vec![];
            let mut ranges: Vec<String> = vec![];
            for (side, flag, range_flag) in [(s, "-s", "--src-range"), (d, "-d", "--dst-range")] {
                match side {
                    Addrs::Nets(n) => words.extend([flag.to_string(), n.clone()]),
                    Addrs::Range(r) => ranges.extend([range_flag.to_string(), r.clone()]),
                }
            }
            if !ranges.is_empty() {
                words.extend(["-m".to_string(), "iprange".to_string()]);
                words.extend(ranges);
            }
            out.push(words);
        }
    }
    out
}

/// A comment safe inside double quotes and within iptables' length limit.
fn cut(s: String) -> String {
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

fn render(m: &Model<'_>, rs: &Ruleset<'_>, fam: Family, t: &Table) -> String {
    let (tool, file) = match fam {
        Family::V4 => ("iptables-restore", format!("{}.v4.rules", rs.stem)),
        Family::V6 => ("ip6tables-restore", format!("{}.v6.rules", rs.stem)),
    };
    let what = format!("iptables filter table (IPv{})", if fam.is_v6() { 6 } else { 4 });
    let mut s = String::new();
    for line in m.header(rs, &what) {
        let _ = writeln!(s, "# {line}");
    }
    let _ = writeln!(s, "# Load (replaces the whole filter table in one step): {tool} < {file}");
    let _ = writeln!(s, "# Check without loading: {tool} --test {file}");
    s.push_str("*filter\n");
    for (name, policy) in &t.chains {
        let _ = writeln!(s, ":{name} {policy} [0:0]");
    }
    for r in &t.rules {
        let _ = write!(s, "-A {}", r.chain);
        for a in &r.args {
            let _ = write!(s, " {a}");
        }
        if let Some(c) = &r.comment {
            let _ = write!(s, " -m comment --comment \"{}\"", cut(c.clone()));
        }
        let _ = writeln!(s, " -j {}", r.target);
    }
    s.push_str("COMMIT\n");
    s
}
