//! The `nftables` live reader: `nft -j list ruleset` (JSON).
//!
//! Tables of family ip, ip6 and inet; base chains of type filter on the
//! input, forward and output hooks (several base chains on one hook: a packet
//! passes when every one accepts it, as in the kernel); user chains, jump,
//! goto, return, verdict maps; matches on addresses (`ip saddr`, `ip6
//! daddr`), protocols (`meta l4proto`, `ip protocol`, `ip6 nexthdr`), ports
//! (`tcp dport`, `th dport`), conntrack state, `iif`/`oif` lo, named and
//! anonymous sets, intervals and concatenations (`ip daddr . meta l4proto .
//! th dport @set`, what moat itself writes). Anything else gives W013 and is
//! treated as [`super::netfilter`] says.

use super::iptables::{parse_net, stem, Warnings, CONSERVATIVE};
use super::netfilter::{self, Base, Chain, Hook, Ranges, Rule, Table, Tuple, Verdict};
use super::{Evaluated, LiveInput, LiveRule};
use crate::backend::netfilter::Family;
use crate::diag::Diagnostic;
use crate::ir::Ir;
use crate::ports::{PortRange, PortSet, Proto};
use crate::span::{SourceMap, Span};
use serde_json::Value;

mod text;
use std::collections::BTreeMap;

/// Reads every `nftables` input (one live state) and evaluates it over the atoms.
pub fn read(ir: &Ir, sources: &SourceMap, inputs: &[&LiveInput]) -> Evaluated {
    let mut errs = vec![];
    let mut warns = Warnings::default();
    let mut tables = vec![];
    let mut spans = vec![];
    for input in inputs {
        let text = &sources.file(input.file).text;
        match parse(text, input, &mut warns) {
            Ok(t) => {
                tables.push(t);
                spans.push(Span::new(input.file, 0, 0));
            }
            Err(e) => errs.push(e),
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let (m, mut w) = netfilter::evaluate(ir, &tables, &spans)?;
    w.extend(warns.done());
    Ok((m, w))
}

/// Byte offset of 1-based `line`, `column`.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}

/// Byte offsets of each `"rule"` object key, in order (the kernel writes one per rule).
fn rule_offsets(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut out = vec![];
    let mut from = 0;
    while let Some(i) = text[from..].find("\"rule\"") {
        let at = from + i;
        from = at + 6;
        if at > 0 && b[at - 1] == b'\\' {
            continue;
        }
        let after = text[from..].trim_start();
        if after.starts_with(':') {
            out.push(at);
        }
    }
    out
}

/// One named set: its key kinds and elements, read on use.
struct NamedSet<'v> {
    elems: Vec<&'v Value>,
}

/// The filter rules of one `nft -j list ruleset` file.
fn parse(text: &str, input: &LiveInput, warns: &mut Warnings) -> Result<Table, Diagnostic> {
    let file = input.file;
    if !text.trim_start().starts_with('{') {
        let (items, locs) = text::to_json(text, file)?;
        return parse_items(&items, &locs, input, warns);
    }
    let whole = Span::new(file, 0, 0);
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        let at = offset(text, e.line(), e.column());
        Diagnostic::error("E032", Span::new(file, at, at), format!("not nft JSON: {e}"))
            .with_help("give the output of `nft -j list ruleset` (is the file truncated?)")
    })?;
    let Some(items) = doc.get("nftables").and_then(Value::as_array) else {
        return Err(
            Diagnostic::error("E032", whole, "nft JSON without a top-level `nftables` array")
                .with_help("give the output of `nft -j list ruleset`"),
        );
    };
    let locs: Vec<(usize, usize, Option<String>)> = rule_offsets(text)
        .into_iter()
        .map(|at| (at, at + 6, None))
        .collect();
    parse_items(items, &locs, input, warns)
}

/// The filter rules of the ruleset items (the JSON array, or text turned into
/// it); `locs` holds each rule's byte range and, for text, its line.
fn parse_items(
    items: &[Value],
    locs: &[(usize, usize, Option<String>)],
    input: &LiveInput,
    warns: &mut Warnings,
) -> Result<Table, Diagnostic> {
    let file = input.file;
    let whole = Span::new(file, 0, 0);
    let mut t = Table {
        stem: stem(&input.path),
        ..Table::default()
    };
    let mut fams = std::collections::BTreeSet::new();
    let mut sets: BTreeMap<(String, String, String), NamedSet<'_>> = BTreeMap::new();
    let mut names: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let key = |o: &Value| -> (String, String, String) {
        let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        (s("family"), s("table"), s("name"))
    };
    // first pass: tables, chains, sets
    for item in items {
        if let Some(o) = item.get("set").or_else(|| item.get("map")) {
            let elems = o
                .get("elem")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            sets.insert(key(o), NamedSet { elems });
        } else if let Some(o) = item.get("chain") {
            let k = key(o);
            let fam = k.0.clone();
            if !matches!(fam.as_str(), "ip" | "ip6" | "inet") {
                warns.note(
                    whole,
                    &format!("tables of family {fam}"),
                    "their rules are ignored",
                );
                continue;
            }
            t.chains.push(Chain {
                name: format!("{} {} {}", k.0, k.1, k.2),
                rules: vec![],
            });
            let c = t.chains.len() - 1;
            names.insert(k.clone(), c);
            let Some(hook) = o.get("hook").and_then(Value::as_str) else {
                continue;
            };
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("filter");
            let hook = match (kind, hook) {
                ("filter", "input") => Hook::Input,
                ("filter", "forward") => Hook::Forward,
                ("filter", "output") => Hook::Output,
                _ => {
                    warns.note(
                        whole,
                        &format!("{kind} chains on hook {hook}"),
                        "they are ignored: only filter chains on input, forward and output decide here",
                    );
                    continue;
                }
            };
            let family = match fam.as_str() {
                "ip" => Some(Family::V4),
                "ip6" => Some(Family::V6),
                _ => None,
            };
            match family {
                Some(f) => {
                    fams.insert(f);
                }
                None => {
                    fams.extend(Family::ALL);
                }
            }
            let accept = o.get("policy").and_then(Value::as_str) != Some("drop");
            t.rules.push(LiveRule {
                span: whole,
                object: Some(format!("{} {} {} policy", k.0, k.1, k.2)),
                text: format!(
                    "chain {} hook {hook:?} policy {}",
                    k.2,
                    if accept { "accept" } else { "drop" }
                ),
            });
            let policy = t.rules.len() - 1;
            t.bases.push(Base {
                hook,
                family,
                chain: c,
                accept,
                policy,
            });
        }
    }
    t.families = fams.into_iter().collect();
    let mut errs = vec![];
    let mut n = 0;
    for item in items {
        let Some(o) = item.get("rule") else { continue };
        let (at, end, line) = locs.get(n).cloned().unwrap_or((0, 0, None));
        n += 1;
        let span = Span::new(file, at, end);
        let k = key(o);
        let chain_key = (
            k.0.clone(),
            k.1.clone(),
            o.get("chain").and_then(Value::as_str).unwrap_or("").to_string(),
        );
        let Some(&c) = names.get(&chain_key) else { continue };
        let handle = o.get("handle").and_then(Value::as_u64).unwrap_or(0);
        let comment = o
            .get("comment")
            .and_then(Value::as_str)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        t.rules.push(LiveRule {
            span,
            object: Some(format!("{} {} {} handle {handle}", k.0, k.1, chain_key.2)),
            text: line.unwrap_or_else(|| format!("rule {handle} of chain {}{comment}", chain_key.2)),
        });
        let live = t.rules.len() - 1;
        let ctx = Ctx {
            family: &k.0,
            table: &k.1,
            sets: &sets,
            names: &names,
        };
        match ctx.rule(o, live, span, warns) {
            Ok(rules) => t.chains[c].rules.extend(rules),
            Err(e) => errs.push(e),
        }
    }
    match errs.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(t),
    }
}

struct Ctx<'a, 'v> {
    family: &'a str,
    table: &'a str,
    sets: &'a BTreeMap<(String, String, String), NamedSet<'v>>,
    names: &'a BTreeMap<(String, String, String), usize>,
}

/// What one component of a match's left side is.
#[derive(Clone, Copy, Debug)]
enum Key {
    Addr {
        dst: bool,
        fam: Family,
    },
    Proto,
    /// Destination port of these protocols (`th`: tcp, udp, sctp).
    Port(&'static [Proto]),
}

impl Ctx<'_, '_> {
    /// The rules one nft rule stands for (a verdict map gives one per element).
    fn rule(
        &self,
        o: &Value,
        live: usize,
        span: Span,
        warns: &mut Warnings,
    ) -> Result<Vec<Rule>, Diagnostic> {
        let mut r = Rule {
            live,
            family: match self.family {
                "ip" => Some(Family::V4),
                "ip6" => Some(Family::V6),
                _ => None,
            },
            clauses: vec![],
            never: false,
            unknown: false,
            verdict: Verdict::Continue,
        };
        let mut unknown: Vec<String> = vec![];
        let mut out = vec![];
        let exprs = o
            .get("expr")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for e in &exprs {
            let Some((name, body)) = e.as_object().and_then(|m| m.iter().next()) else {
                continue;
            };
            match name.as_str() {
                "match" => self.match_(body, &mut r, &mut unknown, span)?,
                "accept" => r.verdict = Verdict::Accept,
                "drop" | "reject" => r.verdict = Verdict::Drop,
                "return" => r.verdict = Verdict::Return,
                "jump" | "goto" => {
                    let target = body.get("target").and_then(Value::as_str).unwrap_or("");
                    let k = (
                        self.family.to_string(),
                        self.table.to_string(),
                        target.to_string(),
                    );
                    let Some(&c) = self.names.get(&k) else {
                        return Err(Diagnostic::error(
                            "E032",
                            span,
                            format!("{name} to chain `{target}`, which the table does not have"),
                        )
                        .with_help("give the whole ruleset: nft -j list ruleset"));
                    };
                    r.verdict = if name == "jump" {
                        Verdict::Jump(c)
                    } else {
                        Verdict::Goto(c)
                    };
                }
                "counter" | "log" | "comment" | "nflog" => {}
                "limit" | "quota" | "meter" => unknown.push(format!("`{name}` statement")),
                "vmap" => {
                    let key = body
                        .get("key")
                        .ok_or_else(|| bad(span, "a verdict map without a key"))?;
                    let data = body
                        .get("data")
                        .ok_or_else(|| bad(span, "a verdict map without data"))?;
                    let elems = self.elements(data);
                    for el in elems {
                        let pair = el.as_array().filter(|a| a.len() == 2);
                        let Some(pair) = pair else { continue };
                        let mut rr = r.clone();
                        let m = serde_json::json!({"op": "==", "left": key, "right": pair[0]});
                        self.match_(&m, &mut rr, &mut unknown, span)?;
                        rr.verdict = self.verdict(&pair[1], span)?;
                        out.push(rr);
                    }
                    r.never = true;
                }
                "mangle" | "meta" | "ct" if body.get("key").is_some() || body.get("value").is_some() => {
                    warns.note(
                        span,
                        "setting marks or metadata",
                        "the rule is read as doing nothing to whether a packet passes",
                    );
                }
                "snat" | "dnat" | "masquerade" | "redirect" => {
                    warns.note(
                        span,
                        &format!("NAT (`{name}`)"),
                        "ignored: addresses are evaluated as the packets leave their sender",
                    );
                }
                other => unknown.push(format!("`{other}` statement")),
            }
        }
        if !unknown.is_empty() && r.verdict != Verdict::Continue && !r.never {
            r.unknown = true;
            for u in unknown {
                warns.note(span, &u, CONSERVATIVE);
            }
        }
        if !r.never || out.is_empty() {
            out.insert(0, r);
        }
        Ok(out)
    }

    fn verdict(&self, v: &Value, span: Span) -> Result<Verdict, Diagnostic> {
        let Some((name, body)) = v.as_object().and_then(|m| m.iter().next()) else {
            return Err(bad(span, "a verdict map element without a verdict"));
        };
        Ok(match name.as_str() {
            "accept" => Verdict::Accept,
            "drop" | "reject" => Verdict::Drop,
            "return" => Verdict::Return,
            "jump" | "goto" => {
                let target = body.get("target").and_then(Value::as_str).unwrap_or("");
                let k = (
                    self.family.to_string(),
                    self.table.to_string(),
                    target.to_string(),
                );
                let c = *self
                    .names
                    .get(&k)
                    .ok_or_else(|| bad(span, "a verdict map element jumps to an unknown chain"))?;
                if name == "jump" {
                    Verdict::Jump(c)
                } else {
                    Verdict::Goto(c)
                }
            }
            _ => Verdict::Continue,
        })
    }

    /// One `match` expression, added to the rule as a clause (or as `never`).
    fn match_(
        &self,
        m: &Value,
        r: &mut Rule,
        unknown: &mut Vec<String>,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
        let (Some(left), Some(right)) = (m.get("left"), m.get("right")) else {
            return Err(bad(span, "a match without left and right"));
        };
        let neg = op == "!=";
        if !matches!(op, "==" | "!=" | "in") {
            unknown.push(format!("match with operator `{op}`"));
            return Ok(());
        }
        // conntrack state, interfaces, family: no clause, a yes or a no
        if let Some(k) = left.get("ct").and_then(|c| c.get("key")).and_then(Value::as_str) {
            if k == "state" {
                let has_new = self.strings(right).iter().any(|s| s == "new");
                if has_new == neg {
                    r.never = true;
                }
            } else {
                unknown.push(format!("ct {k}"));
            }
            return Ok(());
        }
        if let Some(k) = left
            .get("meta")
            .and_then(|c| c.get("key"))
            .and_then(Value::as_str)
        {
            match k {
                "iif" | "oif" | "iifname" | "oifname" => {
                    let lo = self.strings(right).iter().all(|s| s == "lo");
                    match (lo, neg) {
                        (true, false) => r.never = true,
                        (true, true) => {}
                        _ => unknown.push(format!("interface match `meta {k}`")),
                    }
                    return Ok(());
                }
                "nfproto" => {
                    let v = self.strings(right);
                    let f = if v.iter().any(|s| s == "ipv6") {
                        Family::V6
                    } else {
                        Family::V4
                    };
                    let f = if neg { other(f) } else { f };
                    if r.family.is_some_and(|g| g != f) {
                        r.never = true;
                    }
                    r.family = Some(f);
                    return Ok(());
                }
                "l4proto" => {}
                "mark" => {
                    unknown.push("mark match".to_string());
                    return Ok(());
                }
                _ => {
                    unknown.push(format!("meta {k}"));
                    return Ok(());
                }
            }
        }
        if let Some(p) = left.get("payload") {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("");
            let field = p.get("field").and_then(Value::as_str).unwrap_or("");
            if matches!(proto, "icmp" | "icmpv6") && field == "type" {
                let nd = self
                    .strings(right)
                    .iter()
                    .all(|s| s.starts_with("nd-") || s.starts_with("mld"));
                if nd && !neg {
                    r.never = true;
                } else {
                    unknown.push(format!("{proto} type"));
                }
                return Ok(());
            }
        }
        let keys: Vec<Option<Key>> = match left.get("concat").and_then(Value::as_array) {
            Some(parts) => parts.iter().map(key_of).collect(),
            None => vec![key_of(left)],
        };
        let Some(keys) = keys.into_iter().collect::<Option<Vec<Key>>>() else {
            unknown.push(format!("match on `{}`", short(left)));
            return Ok(());
        };
        for k in &keys {
            if let Key::Addr { fam, .. } = k {
                if r.family.is_some_and(|g| g != *fam) {
                    r.never = true;
                }
                r.family = Some(*fam);
            }
        }
        let elems = self.elements(right);
        let mut tuples = vec![];
        for el in elems {
            let el = el.get("elem").and_then(|e| e.get("val")).unwrap_or(el);
            let parts: Vec<&Value> = match el.get("concat").and_then(Value::as_array) {
                Some(a) => a.iter().collect(),
                None => vec![el],
            };
            if parts.len() != keys.len() {
                return Err(bad(span, "a set element does not fit the match's key"));
            }
            tuples.push(
                tuple(&keys, &parts)
                    .ok_or_else(|| bad(span, &format!("cannot read the value `{}`", short(el))))?,
            );
        }
        if neg {
            if keys.len() != 1 {
                unknown.push("negated concatenation".to_string());
                return Ok(());
            }
            let t = negate(keys[0], &tuples);
            r.clauses.push(vec![t]);
        } else {
            r.clauses.push(tuples);
        }
        Ok(())
    }

    /// The elements a right-hand side stands for: a named set, an anonymous set, or one value.
    fn elements<'s>(&'s self, v: &'s Value) -> Vec<&'s Value> {
        if let Some(name) = v.as_str().and_then(|s| s.strip_prefix('@')) {
            let k = (self.family.to_string(), self.table.to_string(), name.to_string());
            return self.sets.get(&k).map(|s| s.elems.clone()).unwrap_or_default();
        }
        if let Some(a) = v.get("set").and_then(Value::as_array) {
            return a.iter().collect();
        }
        if let Some(a) = v.as_array() {
            return a.iter().collect();
        }
        vec![v]
    }

    fn strings(&self, v: &Value) -> Vec<String> {
        self.elements(v)
            .into_iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
            .collect()
    }
}

fn other(f: Family) -> Family {
    match f {
        Family::V4 => Family::V6,
        Family::V6 => Family::V4,
    }
}

fn bad(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error("E032", span, format!("cannot read this nft rule: {what}"))
        .with_help("give the output of `nft -j list ruleset`")
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(80).collect()
}

/// The kind of a match's left side, when moat models it.
fn key_of(v: &Value) -> Option<Key> {
    if let Some(m) = v.get("meta") {
        return (m.get("key").and_then(Value::as_str) == Some("l4proto")).then_some(Key::Proto);
    }
    let p = v.get("payload")?;
    let proto = p.get("protocol").and_then(Value::as_str)?;
    let field = p.get("field").and_then(Value::as_str)?;
    Some(match (proto, field) {
        ("ip", "saddr") => Key::Addr {
            dst: false,
            fam: Family::V4,
        },
        ("ip", "daddr") => Key::Addr {
            dst: true,
            fam: Family::V4,
        },
        ("ip6", "saddr") => Key::Addr {
            dst: false,
            fam: Family::V6,
        },
        ("ip6", "daddr") => Key::Addr {
            dst: true,
            fam: Family::V6,
        },
        ("ip", "protocol") | ("ip6", "nexthdr") => Key::Proto,
        ("tcp", "dport") => Key::Port(&[Proto::Tcp]),
        ("udp", "dport") => Key::Port(&[Proto::Udp]),
        ("sctp", "dport") => Key::Port(&[Proto::Sctp]),
        ("th", "dport") => Key::Port(&[Proto::Tcp, Proto::Udp, Proto::Sctp]),
        _ => return None,
    })
}

/// An address value: `"10.0.0.1"`, a prefix, a range.
fn addr_value(v: &Value) -> Option<(Family, u128, u128)> {
    if let Some(s) = v.as_str() {
        return parse_net(s).map(|n| netfilter::net_range(&n));
    }
    if let Some(p) = v.get("prefix") {
        let a = p.get("addr").and_then(Value::as_str)?;
        let len = p.get("len").and_then(Value::as_u64)?;
        let n: ipnet::IpNet = format!("{a}/{len}").parse().ok()?;
        return Some(netfilter::net_range(&n.trunc()));
    }
    if let Some(r) = v.get("range").and_then(Value::as_array) {
        let (f, lo, _) = addr_value(r.first()?)?;
        let (g, _, hi) = addr_value(r.get(1)?)?;
        return (f == g && lo <= hi).then_some((f, lo, hi));
    }
    None
}

/// A port value: `80`, a range.
fn port_value(v: &Value) -> Option<(u16, u16)> {
    if let Some(n) = v.as_u64() {
        let n = u16::try_from(n).ok()?;
        return Some((n, n));
    }
    if let Some(s) = v.as_str() {
        let n = match s {
            "http" => 80,
            "https" => 443,
            "ssh" => 22,
            "domain" => 53,
            _ => s.parse().ok()?,
        };
        return Some((n, n));
    }
    let r = v.get("range").and_then(Value::as_array)?;
    let (lo, _) = port_value(r.first()?)?;
    let (_, hi) = port_value(r.get(1)?)?;
    (lo <= hi).then_some((lo, hi))
}

/// A protocol value: `"tcp"`, `6`.
fn proto_value(v: &Value) -> Option<Proto> {
    let s = v
        .as_str()
        .map(str::to_string)
        .or_else(|| v.as_u64().map(|n| n.to_string()))?;
    Some(match s.as_str() {
        "tcp" | "6" => Proto::Tcp,
        "udp" | "17" => Proto::Udp,
        "sctp" | "132" => Proto::Sctp,
        "icmp" | "1" => Proto::Icmp,
        "icmpv6" | "ipv6-icmp" | "58" => Proto::Icmpv6,
        _ => Proto::Other,
    })
}

/// One element of a (possibly concatenated) match as a tuple.
fn tuple(keys: &[Key], parts: &[&Value]) -> Option<Tuple> {
    let mut t = Tuple::default();
    let mut protos: Option<Vec<Proto>> = None;
    let mut port: Option<(&'static [Proto], (u16, u16))> = None;
    for (k, v) in keys.iter().zip(parts) {
        match k {
            Key::Addr { dst, fam } => {
                let (f, lo, hi) = addr_value(v)?;
                if f != *fam {
                    return None;
                }
                let rs = Some(Ranges::new(vec![(lo, hi)]));
                if *dst {
                    t.dst = rs;
                } else {
                    t.src = rs;
                }
            }
            Key::Proto => protos = Some(vec![proto_value(v)?]),
            Key::Port(ps) => port = Some((ps, port_value(v)?)),
        }
    }
    t.ports = match (protos, port) {
        (None, None) => None,
        (Some(ps), None) => Some(
            ps.into_iter()
                .fold(PortSet::empty(), |a, p| a.union(&PortSet::proto(p))),
        ),
        (ps, Some((allowed, (lo, hi)))) => {
            let list: Vec<Proto> = ps.unwrap_or_else(|| allowed.to_vec());
            let r = PortRange::new(lo.max(1), hi.max(1));
            Some(
                list.into_iter()
                    .filter(|p| p.has_ports() && allowed.contains(p))
                    .fold(PortSet::empty(), |a, p| a.union(&PortSet::range(p, r))),
            )
        }
    };
    Some(t)
}

/// `!=` on a single key: the complement of the values' union.
fn negate(k: Key, tuples: &[Tuple]) -> Tuple {
    match k {
        Key::Addr { dst, fam } => {
            let mut v = vec![];
            for t in tuples {
                let rs = if dst { &t.dst } else { &t.src };
                v.extend(rs.iter().flat_map(|r| r.0.iter().copied()));
            }
            let rs = Some(Ranges::new(v).complement(fam));
            if dst {
                Tuple {
                    dst: rs,
                    ..Tuple::default()
                }
            } else {
                Tuple {
                    src: rs,
                    ..Tuple::default()
                }
            }
        }
        Key::Proto | Key::Port(_) => {
            let all = match k {
                Key::Port(ps) => ps
                    .iter()
                    .fold(PortSet::empty(), |a, p| a.union(&PortSet::proto(*p))),
                _ => PortSet::any(),
            };
            let got = tuples
                .iter()
                .filter_map(|t| t.ports.clone())
                .fold(PortSet::empty(), |a, p| a.union(&p));
            Tuple {
                ports: Some(all.subtract(&got)),
                ..Tuple::default()
            }
        }
    }
}
