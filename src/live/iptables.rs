//! The `iptables` live reader: `iptables-save` / `ip6tables-save` output (and
//! `ipset save` output given as one more input, for `-m set`).
//!
//! The filter table is evaluated: every chain, jumps, gotos, RETURN, the
//! built-in chains' policies, `-s`/`-d` (with `!`), `-p`, `--dport`,
//! `-m multiport --dports`, `-m iprange`, `-m set`, `-m conntrack`/`-m state`,
//! `-i lo`/`-o lo`, `-m addrtype`. Other tables (nat, mangle, raw, security)
//! and unmodelled matches give W013 and are treated as the module doc of
//! [`super::netfilter`] says.

use super::netfilter::{self, Base, Chain, Hook, Ranges, Rule, Table, Tuple, Verdict};
use super::{Evaluated, LiveInput, LiveRule};
use crate::backend::netfilter::Family;
use crate::diag::Diagnostic;
use crate::ir::Ir;
use crate::ports::{PortRange, PortSet, Proto};
use crate::span::{SourceMap, Span};
use std::collections::BTreeMap;

/// Reads every `iptables` input (one live state) and evaluates it over the atoms.
pub fn read(ir: &Ir, sources: &SourceMap, inputs: &[&LiveInput]) -> Evaluated {
    let mut errs = vec![];
    let mut warns = Warnings::default();
    let mut sets: BTreeMap<String, (Family, Option<Ranges>)> = BTreeMap::new();
    for input in inputs {
        let text = &sources.file(input.file).text;
        if is_ipset(text) {
            if let Err(e) = ipsets(text, input.file, &mut sets) {
                errs.push(e);
            }
        }
    }
    let mut tables = vec![];
    let mut spans = vec![];
    for input in inputs {
        let text = &sources.file(input.file).text;
        if is_ipset(text) {
            continue;
        }
        match parse(text, input, &sets, &mut warns) {
            Ok(t) => {
                tables.push(t);
                spans.push(Span::new(input.file, 0, 0));
            }
            Err(e) => errs.extend(e),
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let (m, mut w) = netfilter::evaluate(ir, &tables, &spans)?;
    w.extend(warns.done());
    Ok((m, w))
}

/// True when the text is `ipset save` output.
fn is_ipset(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with("create "))
}

/// W013 once per construct and file, with how many rules hold it.
#[derive(Default)]
pub struct Warnings {
    seen: BTreeMap<(usize, String), (Span, usize, &'static str)>,
}

impl Warnings {
    /// Notes one use of an unmodelled construct at `span`; `how` says how it was treated.
    pub fn note(&mut self, span: Span, what: &str, how: &'static str) {
        self.seen
            .entry((span.file, what.to_string()))
            .or_insert((span, 0, how))
            .1 += 1;
    }

    /// The warnings, one per construct and file.
    pub fn done(self) -> Vec<Diagnostic> {
        self.seen
            .into_iter()
            .map(|((_, what), (span, n, how))| {
                Diagnostic::warning("W013", span, format!("live construct not modelled: {what}"))
                    .with_note(format!("{n} rule(s) of this input hold it; {how}"))
                    .with_help("check these rules by hand; drift reads the live state as allowing at least what it may allow")
            })
            .collect()
    }
}

/// How unknown matches are treated (W013's note).
pub const CONSERVATIVE: &str =
    "treated as matching when the rule accepts, jumps or returns, and as not matching when it drops or rejects";

/// The filter table of one `iptables-save` file.
fn parse(
    text: &str,
    input: &LiveInput,
    sets: &BTreeMap<String, (Family, Option<Ranges>)>,
    warns: &mut Warnings,
) -> Result<Table, Vec<Diagnostic>> {
    let fam = family_of(text, &input.path);
    let stem = stem(&input.path);
    let mut p = Parser {
        fam,
        table: Table {
            families: vec![fam],
            stem,
            ..Table::default()
        },
        names: BTreeMap::new(),
        pending: vec![],
        errs: vec![],
        moat_forward: None,
    };
    let mut current: Option<(String, Span)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim();
        let span = Span::new(input.file, start, start + body.len());
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('*') {
            if let Some((open, at)) = &current {
                p.errs.push(
                    Diagnostic::error(
                        "E032",
                        span,
                        format!("table `{name}` starts before table `{open}` ends"),
                    )
                    .with_label(*at, "this table has no COMMIT")
                    .with_help(
                        "each table ends with a COMMIT line (is the file truncated or two files joined?)",
                    ),
                );
            }
            match name {
                "filter" | "nat" | "mangle" | "raw" | "security" => {
                    if name != "filter" {
                        warns.note(
                            span,
                            &format!("the {name} table"),
                            "its rules are ignored: only the filter table decides what passes",
                        );
                    }
                }
                _ => p.errs.push(
                    Diagnostic::error("E032", span, format!("unknown iptables table `{name}`"))
                        .with_help("iptables-save writes the tables filter, nat, mangle, raw and security"),
                ),
            }
            current = Some((name.to_string(), span));
            continue;
        }
        let Some((table, _)) = &current else {
            p.errs.push(
                Diagnostic::error("E032", span, "a line outside any table").with_help(
                    "iptables-save output: `*filter`, chain lines `:NAME POLICY [0:0]`, `-A` rules, `COMMIT`",
                ),
            );
            continue;
        };
        if trimmed == "COMMIT" {
            current = None;
            continue;
        }
        if table != "filter" {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix(':') {
            p.chain_line(rest, span);
        } else {
            let rest = strip_counters(trimmed);
            match rest
                .strip_prefix("-A ")
                .or_else(|| rest.strip_prefix("--append "))
            {
                Some(rule) => p.pending.push((rule.to_string(), span)),
                None => p.errs.push(
                    Diagnostic::error("E032", span, "not an iptables-save line")
                        .with_help("rules are written `-A CHAIN ...`, chains `:NAME POLICY [0:0]`"),
                ),
            }
        }
    }
    if let Some((name, at)) = current {
        p.errs.push(
            Diagnostic::error(
                "E032",
                at,
                format!("table `{name}` has no COMMIT: the input ends inside it"),
            )
            .with_help("the dump looks truncated; take it again with iptables-save"),
        );
    }
    let pending = std::mem::take(&mut p.pending);
    for (rule, span) in pending {
        p.rule(&rule, span, sets, warns);
    }
    p.hook_moat_forward();
    if p.errs.is_empty() {
        Ok(p.table)
    } else {
        Err(p.errs)
    }
}

/// `[12:345] -A ...` (iptables-save -c) without its counters.
fn strip_counters(s: &str) -> &str {
    if s.starts_with('[') {
        if let Some(i) = s.find(']') {
            return s[i + 1..].trim_start();
        }
    }
    s
}

/// The file's stem without the extensions moat and users put on dumps.
pub fn stem(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut s = name.as_str();
    for ext in [
        ".json", ".nft", ".rules", ".save", ".txt", ".v4", ".v6", ".ipv4", ".ipv6",
    ] {
        s = s.strip_suffix(ext).unwrap_or(s);
    }
    for ext in [".v4", ".v6", ".rules"] {
        s = s.strip_suffix(ext).unwrap_or(s);
    }
    s.to_string()
}

/// IPv6 when ip6tables-save wrote it (header) or it names IPv6 addresses.
fn family_of(text: &str, path: &std::path::Path) -> Family {
    let head = text.lines().take(3).any(|l| l.contains("ip6tables"));
    let v6_addr = text.split_whitespace().take(200_000).any(|w| {
        w.split(',')
            .any(|p| parse_net(p).is_some_and(|n| matches!(n, ipnet::IpNet::V6(_))))
    });
    let named = path.to_string_lossy().contains(".v6") || path.to_string_lossy().contains("ip6");
    if head || named || v6_addr {
        Family::V6
    } else {
        Family::V4
    }
}

struct Parser {
    fam: Family,
    table: Table,
    names: BTreeMap<String, usize>,
    pending: Vec<(String, Span)>,
    errs: Vec<Diagnostic>,
    /// Where the chain [`MOAT_FORWARD`] is declared, if it is.
    moat_forward: Option<Span>,
}

/// The chain moat's gateway file fills; its load procedure sends routed
/// traffic to it with `iptables -I FORWARD 1 -j moat-forward`.
const MOAT_FORWARD: &str = crate::backend::iptables::GATEWAY_CHAIN;

impl Parser {
    /// moat's gateway file as written (before it is loaded) declares
    /// `moat-forward` and no FORWARD chain: evaluate it as the load procedure
    /// hooks it, the first rule of FORWARD (whose policy it never reaches:
    /// the chain ends in a DROP; ACCEPT, the kernel's default, is taken).
    fn hook_moat_forward(&mut self) {
        let Some(at) = self.moat_forward else { return };
        if self.table.bases.iter().any(|b| b.hook == Hook::Forward) {
            return;
        }
        let chain = self.chain(MOAT_FORWARD);
        let text = format!(":{MOAT_FORWARD} - [0:0] (entered by `iptables -I FORWARD 1 -j {MOAT_FORWARD}`)");
        let policy = self.live(
            at,
            &text,
            Some("FORWARD, as moat's load procedure hooks it".to_string()),
        );
        self.table.bases.push(Base {
            hook: Hook::Forward,
            family: Some(self.fam),
            chain,
            accept: true,
            policy,
        });
    }

    /// The index of chain `name`, created when first seen.
    fn chain(&mut self, name: &str) -> usize {
        if let Some(i) = self.names.get(name) {
            return *i;
        }
        self.table.chains.push(Chain {
            name: name.to_string(),
            rules: vec![],
        });
        let i = self.table.chains.len() - 1;
        self.names.insert(name.to_string(), i);
        i
    }

    fn live(&mut self, span: Span, text: &str, object: Option<String>) -> usize {
        let mut t: String = text.chars().take(240).collect();
        if t.len() < text.len() {
            t.push_str("...");
        }
        self.table.rules.push(LiveRule {
            span,
            object,
            text: t,
        });
        self.table.rules.len() - 1
    }

    /// `:NAME POLICY [p:b]`.
    fn chain_line(&mut self, rest: &str, span: Span) {
        let mut w = rest.split_whitespace();
        let (Some(name), Some(policy)) = (w.next(), w.next()) else {
            self.errs.push(
                Diagnostic::error("E032", span, "a chain line needs a name and a policy")
                    .with_help("`:FORWARD DROP [0:0]`, `:mychain - [0:0]`"),
            );
            return;
        };
        let c = self.chain(name);
        let hook = match name {
            "INPUT" => Some(Hook::Input),
            "FORWARD" => Some(Hook::Forward),
            "OUTPUT" => Some(Hook::Output),
            _ => None,
        };
        let accept = match policy {
            "ACCEPT" => true,
            "DROP" => false,
            "-" => {
                if name == MOAT_FORWARD {
                    self.moat_forward = Some(span);
                }
                if hook.is_some() {
                    self.errs.push(
                        Diagnostic::error("E032", span, format!("built-in chain `{name}` without a policy"))
                            .with_help("ACCEPT or DROP"),
                    );
                }
                return;
            }
            other => {
                self.errs.push(
                    Diagnostic::error("E032", span, format!("unknown chain policy `{other}`"))
                        .with_help("ACCEPT, DROP, or `-` for a user chain"),
                );
                return;
            }
        };
        let Some(hook) = hook else {
            // PREROUTING/POSTROUTING have no place in the filter table
            self.errs.push(
                Diagnostic::error(
                    "E032",
                    span,
                    format!("`{name}` is no built-in chain of the filter table"),
                )
                .with_help("the filter table's built-in chains are INPUT, FORWARD, OUTPUT"),
            );
            return;
        };
        let policy = self.live(span, &format!(":{rest}"), Some(format!("policy of {name}")));
        self.table.bases.push(Base {
            hook,
            family: Some(self.fam),
            chain: c,
            accept,
            policy,
        });
    }

    /// One `-A CHAIN ...` rule (chains are all declared by now).
    fn rule(
        &mut self,
        text: &str,
        span: Span,
        sets: &BTreeMap<String, (Family, Option<Ranges>)>,
        warns: &mut Warnings,
    ) {
        let words = match split_words(text) {
            Ok(w) => w,
            Err(e) => {
                self.errs.push(
                    Diagnostic::error("E032", span, e)
                        .with_help("quote text with double quotes as iptables-save does"),
                );
                return;
            }
        };
        let Some(chain_name) = words.first() else { return };
        let Some(&c) = self.names.get(chain_name.as_str()) else {
            self.errs.push(
                Diagnostic::error(
                    "E032",
                    span,
                    format!("rule for chain `{chain_name}`, which is not declared"),
                )
                .with_help(format!("declare it before the rules: `:{chain_name} - [0:0]`")),
            );
            return;
        };
        let live = self.live(span, &format!("-A {text}"), None);
        let mut r = Rule {
            live,
            family: Some(self.fam),
            clauses: vec![],
            never: false,
            unknown: false,
            verdict: Verdict::Continue,
        };
        let mut proto: Option<PortSet> = None;
        let mut proto_neg = false;
        let mut i = 1;
        let mut neg = false;
        let mut unknown: Vec<String> = vec![];
        while i < words.len() {
            let w = words[i].as_str();
            let arg = words.get(i + 1).map(String::as_str);
            i += 1;
            if w == "!" {
                neg = true;
                continue;
            }
            let mut takes = true;
            match w {
                "-s" | "--source" | "-d" | "--destination" => match arg.map(|a| self.addrs(a)) {
                    Some(Some(rs)) => {
                        let rs = if neg { rs.complement(self.fam) } else { rs };
                        let dst = w.starts_with("-d") || w == "--destination";
                        r.clauses.push(vec![addr_tuple(rs, dst)]);
                    }
                    _ => return self.bad(span, w, arg),
                },
                "--src-range" | "--dst-range" => match arg.and_then(|a| self.range(a)) {
                    Some(rs) => {
                        let rs = if neg { rs.complement(self.fam) } else { rs };
                        r.clauses.push(vec![addr_tuple(rs, w == "--dst-range")]);
                    }
                    None => return self.bad(span, w, arg),
                },
                "-p" | "--protocol" => match arg.and_then(protocol) {
                    Some((set, known)) => {
                        if !known {
                            unknown.push(format!("protocol `{}`", arg.unwrap_or("")));
                        }
                        proto = Some(set);
                        proto_neg = neg;
                    }
                    None => return self.bad(span, w, arg),
                },
                "--dport" | "--destination-port" | "--dports" | "--destination-ports" => {
                    let base = proto.clone().filter(|_| !proto_neg);
                    match (arg.and_then(|a| ports(a, base.as_ref())), base) {
                        (Some(set), Some(base)) => {
                            let set = if neg { base.subtract(&set) } else { set };
                            r.clauses.push(vec![ports_tuple(set)]);
                        }
                        _ => return self.bad(span, w, arg),
                    }
                }
                "-i" | "--in-interface" | "-o" | "--out-interface" => {
                    let lo = arg.is_some_and(|a| a == "lo");
                    match (lo, neg) {
                        (true, false) => r.never = true,
                        (true, true) => {}
                        _ => unknown.push(format!("interface match `{w} {}`", arg.unwrap_or(""))),
                    }
                }
                "--ctstate" | "--state" => {
                    let new = arg.is_some_and(|a| a.split(',').any(|s| s == "NEW"));
                    if new == neg {
                        r.never = true;
                    }
                }
                "--match-set" => {
                    let dir = words.get(i + 1).map(String::as_str).unwrap_or("");
                    i += 1;
                    match (arg.and_then(|n| sets.get(n)), dir) {
                        (Some((f, Some(rs))), "src" | "dst") if *f == self.fam => {
                            let rs = if neg { rs.complement(self.fam) } else { rs.clone() };
                            r.clauses.push(vec![addr_tuple(rs, dir == "dst")]);
                        }
                        (Some(_), _) => unknown.push(format!("ipset match `{} {dir}`", arg.unwrap_or(""))),
                        (None, _) => {
                            self.errs.push(
                                Diagnostic::error("E032", span, format!("rule matches ipset `{}`, which no input defines", arg.unwrap_or("")))
                                    .with_help("give the `ipset save` output as one more input: --live iptables:ipset.save"),
                            );
                            return;
                        }
                    }
                }
                "--dst-type" | "--src-type" => {
                    // LOCAL: the packet is to (INPUT) / from (OUTPUT) this host
                    let local = arg == Some("LOCAL");
                    if !local {
                        r.never = !neg;
                    } else {
                        unknown.push(format!("address type `{w} LOCAL`"));
                    }
                }
                "--mark" | "--ctmark" => {}
                "--comment" | "--log-prefix" | "--log-level" | "--reject-with" | "--log-uid"
                | "--nflog-prefix" | "--nflog-group" | "--log-tcp-options" | "--log-ip-options"
                | "--limit" | "--limit-burst" => {
                    if matches!(w, "--limit" | "--limit-burst") {
                        unknown.push("rate limit `-m limit`".to_string());
                    }
                    if matches!(w, "--log-tcp-options" | "--log-ip-options") {
                        takes = false;
                    }
                }
                "-m" | "--match" => {
                    if arg == Some("mark") || arg == Some("connmark") {
                        unknown.push(format!("mark match `-m {}`", arg.unwrap_or("")));
                    }
                }
                "--syn" => takes = false,
                "--tcp-flags" => {
                    i += 1; // mask and comparison
                    if words.get(i).map(String::as_str) != Some("SYN") {
                        unknown.push("tcp flags".to_string());
                    }
                }
                "--icmp-type" | "--icmpv6-type" => {
                    let nd = arg.is_some_and(|a| {
                        matches!(
                            a,
                            "neighbour-solicitation"
                                | "neighbour-advertisement"
                                | "router-solicitation"
                                | "router-advertisement"
                                | "133"
                                | "134"
                                | "135"
                                | "136"
                        )
                    });
                    if nd {
                        r.never = true;
                    } else {
                        unknown.push(format!("ICMP type `{}`", arg.unwrap_or("")));
                    }
                }
                "-j" | "--jump" | "-g" | "--goto" => {
                    let t = arg.unwrap_or("");
                    r.verdict = match t {
                        "ACCEPT" => Verdict::Accept,
                        "DROP" | "REJECT" => Verdict::Drop,
                        "RETURN" => Verdict::Return,
                        "LOG" | "NFLOG" | "ULOG" | "TRACE" | "AUDIT" => Verdict::Continue,
                        "MARK" | "CONNMARK" | "CT" | "NOTRACK" | "TCPMSS" | "CLASSIFY" | "DSCP" => {
                            warns.note(
                                span,
                                &format!("target `{t}`"),
                                "the rule is read as doing nothing to whether a packet passes",
                            );
                            Verdict::Continue
                        }
                        _ => match self.names.get(t) {
                            Some(&tc) if w == "-g" || w == "--goto" => Verdict::Goto(tc),
                            Some(&tc) => Verdict::Jump(tc),
                            None => {
                                warns.note(
                                    span,
                                    &format!("target `{t}`"),
                                    "packets it would take are read as accepted",
                                );
                                Verdict::Accept
                            }
                        },
                    };
                }
                _ if w.starts_with('-') => {
                    // an option of a match moat does not model: its argument, if any, follows
                    unknown.push(format!("match option `{w}`"));
                    takes = arg.is_some_and(|a| !a.starts_with('-') && a != "!");
                }
                _ => {
                    self.errs.push(
                        Diagnostic::error("E032", span, format!("unexpected word `{w}` in a rule"))
                            .with_help(
                                "rules are `-A CHAIN [match options] -j TARGET` as iptables-save writes them",
                            ),
                    );
                    return;
                }
            }
            if takes {
                i += 1;
            }
            neg = false;
        }
        if let Some(set) = proto {
            let set = if proto_neg {
                PortSet::any().subtract(&set)
            } else {
                set
            };
            if !r.clauses.iter().any(|c| c.iter().any(|t| t.ports.is_some())) {
                r.clauses.push(vec![ports_tuple(set)]);
            }
        }
        if !unknown.is_empty() && r.verdict != Verdict::Continue && !r.never {
            r.unknown = true;
            for u in unknown {
                warns.note(span, &u, CONSERVATIVE);
            }
        }
        self.table.chains[c].rules.push(r);
    }

    fn bad(&mut self, span: Span, opt: &str, arg: Option<&str>) {
        self.errs.push(
            Diagnostic::error(
                "E032",
                span,
                format!("cannot read `{opt} {}`", arg.unwrap_or("")),
            )
            .with_help("addresses are a.b.c.d[/len] (or IPv6 in ip6tables-save), ports 80 or 80:90, after -p tcp|udp|sctp"),
        );
    }

    /// `10.0.0.0/8,10.1.2.3` in the file's family.
    fn addrs(&self, s: &str) -> Option<Ranges> {
        let mut v = vec![];
        for part in s.split(',') {
            let n = parse_net(part)?;
            let (f, lo, hi) = netfilter::net_range(&n);
            if f != self.fam {
                return None;
            }
            v.push((lo, hi));
        }
        Some(Ranges::new(v))
    }

    /// `10.0.0.1-10.0.0.9` (iprange).
    fn range(&self, s: &str) -> Option<Ranges> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let (fa, lo, _) = netfilter::net_range(&parse_net(a)?);
        let (fb, _, hi) = netfilter::net_range(&parse_net(b)?);
        (fa == self.fam && fb == self.fam && lo <= hi).then(|| Ranges::new(vec![(lo, hi)]))
    }
}

fn addr_tuple(rs: Ranges, dst: bool) -> Tuple {
    if dst {
        Tuple {
            dst: Some(rs),
            ..Tuple::default()
        }
    } else {
        Tuple {
            src: Some(rs),
            ..Tuple::default()
        }
    }
}

fn ports_tuple(set: PortSet) -> Tuple {
    Tuple {
        ports: Some(set),
        ..Tuple::default()
    }
}

/// An address or prefix (a bare address is a host).
pub fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .map(|n| n.trunc())
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(crate::addr::host))
}

/// `-p` values: the packet set, and whether moat models it exactly.
fn protocol(s: &str) -> Option<(PortSet, bool)> {
    let p = match s.to_ascii_lowercase().as_str() {
        "tcp" | "6" => Proto::Tcp,
        "udp" | "17" => Proto::Udp,
        "sctp" | "132" => Proto::Sctp,
        "icmp" | "1" => Proto::Icmp,
        "icmpv6" | "ipv6-icmp" | "58" => Proto::Icmpv6,
        "all" | "0" => return Some((PortSet::any(), true)),
        other if !other.is_empty() && other.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            return Some((PortSet::proto(Proto::Other), false))
        }
        _ => return None,
    };
    Some((PortSet::proto(p), true))
}

/// `80`, `80:90`, `80,443,8000:8100` for the protocol(s) of `base`.
fn ports(s: &str, base: Option<&PortSet>) -> Option<PortSet> {
    let base = base?;
    let mut out = PortSet::empty();
    for part in s.split(',') {
        let (lo, hi) = part.split_once(':').unwrap_or((part, part));
        let lo: u16 = if lo.is_empty() { 0 } else { lo.parse().ok()? };
        let hi: u16 = if hi.is_empty() { 65535 } else { hi.parse().ok()? };
        if lo > hi {
            return None;
        }
        let r = PortRange::new(lo.max(1), hi.max(1));
        for (p, _) in base.iter().filter(|(p, _)| p.has_ports()) {
            out.union_with(&PortSet::range(p, r));
        }
    }
    Some(out)
}

/// Splits a rule into words: double quotes group (with `\"` and `\\`).
fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err("a quote is not closed".to_string());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `ipset save` output: hash:ip / hash:net sets (others are kept as unmodelled).
fn ipsets(
    text: &str,
    file: usize,
    sets: &mut BTreeMap<String, (Family, Option<Ranges>)>,
) -> Result<(), Diagnostic> {
    // per set: the entries added, and those added with `nomatch`
    type Entries = (Vec<(u128, u128)>, Vec<(u128, u128)>);
    let mut adds: BTreeMap<String, Entries> = BTreeMap::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.trim();
        let span = Span::new(file, start, start + body.len());
        let w: Vec<&str> = body.split_whitespace().collect();
        match w.as_slice() {
            [] => {}
            [c, ..] if c.starts_with('#') => {}
            ["create", name, kind, rest @ ..] => {
                let fam = if rest.windows(2).any(|p| p == ["family", "inet6"]) {
                    Family::V6
                } else {
                    Family::V4
                };
                let simple = matches!(*kind, "hash:ip" | "hash:net" | "bitmap:ip");
                sets.insert(name.to_string(), (fam, simple.then(Ranges::default)));
                adds.entry(name.to_string()).or_default();
            }
            ["add", name, entry, rest @ ..] => {
                let Some(net) = entry.split_once('-').map_or_else(
                    || {
                        parse_net(entry).map(|n| {
                            let (_, lo, hi) = netfilter::net_range(&n);
                            (lo, hi)
                        })
                    },
                    |(a, b)| {
                        let a = parse_net(a)?;
                        let b = parse_net(b)?;
                        Some((netfilter::net_range(&a).1, netfilter::net_range(&b).2))
                    },
                ) else {
                    if sets.get(*name).is_some_and(|s| s.1.is_some()) {
                        return Err(Diagnostic::error(
                            "E032",
                            span,
                            format!("cannot read ipset entry `{entry}`"),
                        )
                        .with_help(
                            "entries of hash:ip and hash:net sets are addresses, prefixes or ranges",
                        ));
                    }
                    continue;
                };
                let e = adds.entry(name.to_string()).or_default();
                if rest.contains(&"nomatch") {
                    e.1.push(net);
                } else {
                    e.0.push(net);
                }
            }
            _ => {
                return Err(Diagnostic::error("E032", span, "not an `ipset save` line")
                    .with_help("`create NAME TYPE ...` and `add NAME ENTRY` lines"));
            }
        }
    }
    for (name, (yes, no)) in adds {
        if let Some((fam, Some(rs))) = sets.get_mut(&name) {
            let no = Ranges::new(no).complement(*fam);
            let yes = Ranges::new(yes);
            *rs = intersect(&yes, &no);
        }
    }
    Ok(())
}

/// The intersection of two interval lists.
fn intersect(a: &Ranges, b: &Ranges) -> Ranges {
    let mut out = vec![];
    for &(alo, ahi) in &a.0 {
        for &(blo, bhi) in &b.0 {
            let (lo, hi) = (alo.max(blo), ahi.min(bhi));
            if lo <= hi {
                out.push((lo, hi));
            }
        }
    }
    Ranges::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_and_addresses() {
        let text = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.10.60.0/28 -j ACCEPT\nCOMMIT\n";
        assert_eq!(
            family_of(text, std::path::Path::new("/tmp/dnf/iptables/gateway.v4.rules")),
            Family::V4
        );
        assert!(parse_net("10.10.60.0/28").is_some());
    }
}
