//! `nft list ruleset` text, turned into the items of `nft -j list ruleset`
//! so that one reader evaluates both. Reads what nft itself prints: tables,
//! chains (with `type ... hook ... priority ...; policy ...;`), sets and maps
//! with their elements (over several lines), one rule a line.

use crate::diag::Diagnostic;
use crate::span::Span;
use serde_json::{json, Value};

/// Each rule's byte range and line text.
pub type Locs = Vec<(usize, usize, Option<String>)>;

/// The JSON items, and each rule's location, or E032 at the line that cannot be read.
pub fn to_json(text: &str, file: usize) -> Result<(Vec<Value>, Locs), Diagnostic> {
    let mut items = vec![];
    let mut locs = vec![];
    let mut stack: Vec<Block> = vec![];
    let mut offset = 0;
    let mut pending: Option<(String, usize)> = None; // elements spread over lines
    for raw in text.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let body = strip_comment(raw.trim_end_matches(['\n', '\r']));
        let line = body.trim();
        let span = Span::new(file, start, start + raw.trim_end().len());
        let err = |m: &str| {
            Diagnostic::error("E032", span, format!("cannot read this nft line: {m}"))
                .with_help("give the output of `nft list ruleset` or `nft -j list ruleset`")
        };
        if let Some((mut acc, opens)) = pending.take() {
            acc.push(' ');
            acc.push_str(line);
            if depth(&acc) > 0 {
                pending = Some((acc, opens));
            } else {
                finish_elements(
                    &acc,
                    stack.last_mut().ok_or_else(|| err("elements outside a set"))?,
                );
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match (words.as_slice(), stack.last_mut()) {
            (["}"], Some(_)) => {
                let b = stack.pop().ok_or_else(|| err("a `}` too many"))?;
                if let Some(item) = b.item() {
                    items.push(item);
                }
            }
            (["}"], None) => return Err(err("a `}` too many")),
            // the commands of an `nft -f` script around its tables (moat's own files)
            (["table", _, x] | ["delete" | "flush", _, _, x], None) if *x != "{" => {}
            (["flush", "ruleset"], None) => {}
            (["table", fam, name, "{"], None) => stack.push(Block::Table(fam.to_string(), name.to_string())),
            (["table", name, "{"], None) => stack.push(Block::Table("ip".into(), name.to_string())),
            (["chain", name, "{"], Some(Block::Table(f, t))) => {
                let (f, t) = (f.clone(), t.clone());
                stack.push(Block::Chain(
                    json!({"family": f, "table": t, "name": unquote(name)}),
                ));
            }
            ([kind @ ("set" | "map"), name, "{"], Some(Block::Table(f, t))) => {
                let (f, t) = (f.clone(), t.clone());
                stack.push(Block::Set(
                    kind.to_string(),
                    json!({"family": f, "table": t, "name": unquote(name), "elem": []}),
                ));
            }
            ([_, .., "{"], Some(Block::Table(..))) => stack.push(Block::Other),
            (_, Some(Block::Other)) => {
                if line.ends_with('{') {
                    stack.push(Block::Other);
                }
            }
            (["elements", "=", ..], Some(b @ Block::Set(..))) => {
                let rest = line.split_once('=').map_or("", |x| x.1).trim().to_string();
                if depth(&rest) > 0 {
                    pending = Some((rest, start));
                } else {
                    finish_elements(&rest, b);
                }
            }
            (_, Some(Block::Set(..))) => {}
            (["type", ..], Some(Block::Chain(c))) if line.contains("hook") => base_chain(line, c),
            (["policy", p], Some(Block::Chain(c))) => c["policy"] = json!(p.trim_end_matches(';')),
            (_, Some(Block::Chain(c))) => {
                let chain = c.clone();
                let (expr, comment) = rule(line).map_err(|m| err(&m))?;
                let mut r = json!({"family": chain["family"], "table": chain["table"], "chain": chain["name"], "handle": locs.len() + 1, "expr": expr});
                if let Some(c) = comment {
                    r["comment"] = json!(c);
                }
                items.push(json!({ "rule": r }));
                locs.push((span.start, span.end, Some(line.to_string())));
            }
            _ => return Err(err("not a table, chain, set or rule line")),
        }
    }
    if pending.is_some() || !stack.is_empty() {
        let at = text.len();
        return Err(Diagnostic::error(
            "E032",
            Span::new(file, at, at),
            "the nft ruleset ends inside a block",
        )
        .with_help("the dump looks truncated; take it again with nft list ruleset"));
    }
    Ok((items, locs))
}

enum Block {
    Table(String, String),
    Chain(Value),
    Set(String, Value),
    Other,
}

impl Block {
    fn item(self) -> Option<Value> {
        match self {
            Block::Chain(c) => Some(json!({ "chain": c })),
            Block::Set(kind, s) => Some(json!({ kind: s })),
            _ => None,
        }
    }
}

/// Nesting of braces outside quotes.
fn depth(s: &str) -> i64 {
    let mut d = 0;
    let mut q = false;
    for c in s.chars() {
        match c {
            '"' => q = !q,
            '{' if !q => d += 1,
            '}' if !q => d -= 1,
            _ => {}
        }
    }
    d
}

/// The line without a `#` comment (outside quotes).
fn strip_comment(s: &str) -> &str {
    let mut q = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => q = !q,
            '#' if !q => return &s[..i],
            _ => {}
        }
    }
    s
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_string()
}

/// `type filter hook forward priority filter; policy drop;`
fn base_chain(line: &str, c: &mut Value) {
    let words: Vec<&str> = line
        .split(|ch: char| ch.is_whitespace() || ch == ';')
        .filter(|w| !w.is_empty())
        .collect();
    for pair in words.windows(2) {
        match pair[0] {
            "type" => c["type"] = json!(pair[1]),
            "hook" => c["hook"] = json!(pair[1]),
            "priority" => c["prio"] = json!(pair[1]),
            "policy" => c["policy"] = json!(pair[1]),
            _ => {}
        }
    }
}

/// `{ a, b . c comment "x", ... }` as the set's elements.
fn finish_elements(s: &str, b: &mut Block) {
    let Block::Set(_, set) = b else { return };
    let inner = s.trim().trim_start_matches('{').trim_end_matches('}');
    let elems: Vec<Value> = split_top(inner, ',')
        .into_iter()
        .map(|e| element(&e))
        .filter(|v| !v.is_null())
        .collect();
    set["elem"] = json!(elems);
}

/// Splits at `sep` outside quotes and braces.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let (mut out, mut cur, mut q, mut d) = (vec![], String::new(), false, 0);
    for c in s.chars() {
        match c {
            '"' => q = !q,
            '{' if !q => d += 1,
            '}' if !q => d -= 1,
            c if c == sep && !q && d == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// One element: `10.0.0.0/8`, `a-b`, `tcp`, `80`, or a concatenation `x . y . z`
/// (a `comment "..."`, `timeout`, `expires` after it are dropped; a map's `: verdict` kept).
fn element(e: &str) -> Value {
    let e = match e.find(" comment ") {
        Some(i) => &e[..i],
        None => e,
    };
    let e = e
        .split(" timeout ")
        .next()
        .unwrap_or(e)
        .split(" expires ")
        .next()
        .unwrap_or(e);
    if let Some((k, v)) = e.split_once(" : ") {
        let verdict = match v.split_whitespace().collect::<Vec<_>>().as_slice() {
            [w @ ("jump" | "goto"), t] => json!({ *w: {"target": t} }),
            [w] => json!({ *w: null }),
            _ => Value::Null,
        };
        return json!([element(k), verdict]);
    }
    let parts: Vec<&str> = e.split(" . ").map(str::trim).collect();
    if parts.len() > 1 {
        return json!({"concat": parts.iter().map(|p| value(p)).collect::<Vec<_>>()});
    }
    value(e.trim())
}

/// A single value token in the JSON form.
fn value(t: &str) -> Value {
    let t = t.trim_matches('"');
    if let Ok(n) = t.parse::<u64>() {
        return json!(n);
    }
    if let Some((a, b)) = t.split_once('-') {
        let ok = |x: &str| x.parse::<u64>().is_ok() || x.parse::<std::net::IpAddr>().is_ok();
        if ok(a) && ok(b) {
            return json!({"range": [value(a), value(b)]});
        }
    }
    json!(t)
}

/// Left-hand sides of matches: how many words, and their JSON.
fn left(words: &[&str]) -> Option<(usize, Value)> {
    let w0 = *words.first()?;
    let w1 = words.get(1).copied().unwrap_or("");
    Some(match (w0, w1) {
        ("ip" | "ip6" | "tcp" | "udp" | "sctp" | "th" | "icmp" | "icmpv6", f)
            if matches!(
                f,
                "saddr" | "daddr" | "protocol" | "nexthdr" | "dport" | "sport" | "type" | "code"
            ) =>
        {
            (2, json!({"payload": {"protocol": w0, "field": f}}))
        }
        ("meta", k) => (2, json!({"meta": {"key": k}})),
        ("ct", k) => (2, json!({"ct": {"key": k}})),
        ("iif" | "oif" | "iifname" | "oifname" | "l4proto" | "nfproto" | "mark", _) => {
            (1, json!({"meta": {"key": w0}}))
        }
        _ => return None,
    })
}

/// One rule line as JSON statements, and its comment.
fn rule(line: &str) -> Result<(Vec<Value>, Option<String>), String> {
    let words = tokens(line);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut out = vec![];
    let mut comment = None;
    let mut i = 0;
    while i < w.len() {
        match w[i] {
            "accept" | "drop" | "return" | "continue" => {
                out.push(json!({ w[i]: null }));
                i += 1;
            }
            "reject" => {
                out.push(json!({"reject": null}));
                i = w.len();
            }
            "jump" | "goto" => {
                let t = w.get(i + 1).ok_or("a jump without a target")?;
                out.push(json!({ w[i]: {"target": unquote(t)} }));
                i += 2;
            }
            "counter" => {
                i += 1;
                while i + 1 < w.len() && matches!(w[i], "packets" | "bytes") {
                    i += 2;
                }
                out.push(json!({"counter": null}));
            }
            "log" => {
                i += 1;
                while i + 1 < w.len()
                    && matches!(
                        w[i],
                        "prefix" | "level" | "group" | "snaplen" | "queue-threshold" | "flags"
                    )
                {
                    i += 2;
                }
                out.push(json!({"log": null}));
            }
            "limit" => {
                i += 1;
                while i < w.len()
                    && !matches!(
                        w[i],
                        "accept" | "drop" | "log" | "counter" | "jump" | "goto" | "return" | "reject"
                    )
                {
                    i += 1;
                }
                out.push(json!({"limit": null}));
            }
            "comment" => {
                comment = w.get(i + 1).map(|c| unquote(c));
                i += 2;
            }
            "snat" | "dnat" | "masquerade" | "redirect" | "notrack" | "queue" => {
                out.push(json!({ w[i]: null }));
                i = w.len();
            }
            _ => {
                let Some((n, mut l)) = left(&w[i..]) else {
                    out.push(json!({ format!("`{}`", w[i]): null }));
                    i = w.len();
                    continue;
                };
                i += n;
                let mut parts = vec![l.clone()];
                while w.get(i) == Some(&".") {
                    let (n2, l2) = left(&w[i + 1..]).ok_or("a concatenation of unknown fields")?;
                    parts.push(l2);
                    i += 1 + n2;
                }
                if parts.len() > 1 {
                    l = json!({"concat": parts});
                }
                if w.get(i) == Some(&"set") {
                    out.push(json!({"mangle": {"key": l}}));
                    i = w.len();
                    continue;
                }
                let mut op = "==";
                if let Some(o @ ("!=" | "==" | "<" | ">" | "<=" | ">=")) = w.get(i).copied() {
                    op = o;
                    i += 1;
                }
                let (n, right) = right(&w[i..]).ok_or("a match without a value")?;
                i += n;
                out.push(json!({"match": {"op": op, "left": l, "right": right}}));
            }
        }
    }
    Ok((out, comment))
}

/// The value of a match: `@set`, `{ ... }`, or one value (a list for ct state).
fn right(w: &[&str]) -> Option<(usize, Value)> {
    let first = *w.first()?;
    if first == "{" {
        let end = w.iter().position(|x| *x == "}")?;
        let inner = w[1..end].join(" ");
        let elems: Vec<Value> = split_top(&inner, ',').iter().map(|e| element(e)).collect();
        return Some((end + 1, json!({"set": elems})));
    }
    if first.contains(',') && !first.starts_with('"') {
        return Some((1, json!(first.split(',').map(value).collect::<Vec<_>>())));
    }
    Some((1, value(first)))
}

/// Words of a rule line: quoted strings kept whole, braces and `;` apart.
fn tokens(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut q = false;
    for c in line.chars() {
        match c {
            '"' => {
                q = !q;
                cur.push(c);
            }
            c if q => cur.push(c),
            '{' | '}' | ';' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                if c != ';' {
                    out.push(c.to_string());
                }
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
