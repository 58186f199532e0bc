//! Fuzz harnesses over moat's public API. Each takes arbitrary bytes and
//! panics only when moat misbehaves: a panic inside moat, an IR returned
//! together with an error, a diagnostic pointing outside its file, or output
//! that differs between two runs on the same input.

use moat::backend::{self, EmitOptions, Target};
use moat::gen::{random_policy, GenOptions};
use moat::ir::SiteKind;

/// The bytes as policy text: invalid UTF-8 goes through the loader's own
/// E001 path (via a file), everything else through `check_str`.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Parse only.
pub fn parse(data: &[u8]) {
    let t = match text(data) {
        Some(t) => t.to_string(),
        None => String::from_utf8_lossy(data).into_owned(),
    };
    let loaded = moat::load::load_str("fuzz.moat", &t);
    for d in &loaded.diags {
        if let Some(s) = d.span {
            assert!(
                s.start <= s.end && s.end <= t.len() + 4,
                "span {s:?} outside a file of {} bytes",
                t.len()
            );
        }
    }
}

/// Parse, check and lower; render the diagnostics both ways.
pub fn check(data: &[u8]) -> Option<moat::ir::Ir> {
    let t = match text(data) {
        Some(t) => t.to_string(),
        None => String::from_utf8_lossy(data).into_owned(),
    };
    check_text(&t)
}

fn check_text(t: &str) -> Option<moat::ir::Ir> {
    let c = moat::check_str("fuzz.moat", t);
    assert_eq!(
        c.ir.is_some(),
        !c.has_errors(),
        "an IR exactly when there is no error"
    );
    for d in &c.diags {
        if let Some(s) = d.span {
            assert!(
                s.start <= s.end && s.end <= t.len() + 4,
                "span {s:?} outside a file of {} bytes",
                t.len()
            );
        }
    }
    // Rendering walks every span; keep it for small inputs (it is linear but slow).
    if t.len() < 64 * 1024 {
        let _ = moat::diag::render_human(&c.diags, &c.sources, false);
        let _ = moat::diag::render_json(&c.diags, &c.sources);
    }
    c.ir
}

/// Check, then compile to every target; the output must be deterministic.
pub fn compile(data: &[u8]) {
    if let Some(ir) = check(data) {
        emit_all(&ir);
    }
}

fn emit_all(ir: &moat::ir::Ir) {
    let opts = EmitOptions::default();
    for t in Target::ALL {
        let first = backend::emit(t, ir, &opts);
        let again = backend::emit(t, ir, &opts);
        assert!(first == again, "target {} is not deterministic", t.as_str());
        if let Ok(artefacts) = first {
            for a in &artefacts {
                assert!(
                    a.path.starts_with(&format!("{}/", t.as_str())),
                    "artefact {} outside {}/",
                    a.path,
                    t.as_str()
                );
                assert!(!a.path.contains(".."), "artefact path {} climbs out", a.path);
            }
        }
    }
}

/// Tokens spliced into generated policies: hostile strings, boundary numbers,
/// addresses, and the language's punctuation.
pub const DICTIONARY: &[&str] = &[
    "\"x\n-A FORWARD -j ACCEPT\"",
    "\"\\\" -j ACCEPT #\"",
    "\"${var.x}\"",
    "\"%{ if true }x%{ endif }\"",
    "\"}; flush ruleset; {\"",
    "\"a: b\\n- c\"",
    "\"{\\\"k\\\": 1}\"",
    "\"{cell}\"",
    "\"{cell}_x\"",
    "\"\u{202E}evil\"",
    "# \u{2066}hidden\n",
    "\"\0\"",
    "\u{feff}",
    "\r\n",
    "}",
    "{",
    ";",
    ":",
    ",",
    "->",
    "*",
    "cell*",
    "any",
    "tcp",
    "udp/0",
    "tcp/65535",
    "tcp/65536",
    "tcp/1-65535",
    "icmp",
    "icmpv6/1",
    "0.0.0.0/0",
    "::/0",
    "::ffff:10.0.0.1",
    "10.0.0.1/8",
    "10.0.0.0/33",
    "fd00::/129",
    "+0.0.0.0/17",
    "99999999999999999999999999999999999999999",
    "exempt",
    "\"waiver\"",
    "resident",
    "namespace",
    "pods",
    "app=x",
    "a/b/c=d",
    "hosts",
    "cidr",
    "port",
    "service",
    "zone",
    "allow",
    "forbid",
    "include",
    "\"/\"",
    "cells c[1..4096] in 10.0.0.0/8 each /20 {",
    "site s : aws",
    "@ s",
    "internet",
    "dmz",
    "mz",
];

/// Structure-aware: the first bytes choose `random_policy` options and seed,
/// the rest are edits of its tokens (delete, duplicate, swap, splice a
/// dictionary token). With no edits the policy must check clean and compile.
pub fn structured(data: &[u8]) {
    let (policy, edited) = structured_policy(data);
    if !edited {
        let c = moat::check_str("gen.moat", &policy);
        assert!(
            !c.has_errors(),
            "a generated policy has errors: {:?}\n{policy}",
            c.diags.iter().map(|d| (d.code, &d.message)).collect::<Vec<_>>()
        );
        if let Some(ir) = c.ir {
            emit_all(&ir);
        }
        return;
    }
    if let Some(ir) = check_text(&policy) {
        emit_all(&ir);
    }
}

/// The policy text `structured` checks, and whether it was edited.
pub fn structured_policy(data: &[u8]) -> (String, bool) {
    let mut b = data.iter().copied();
    let mut next = || b.next().unwrap_or(0);
    let mut seed = 0u64;
    for _ in 0..4 {
        seed = seed << 8 | u64::from(next());
    }
    let flags = next();
    let kinds = [SiteKind::Onprem, SiteKind::Aws, SiteKind::Gcp, SiteKind::Azure];
    let sites: Vec<SiteKind> = kinds
        .iter()
        .enumerate()
        .filter(|(i, _)| next() & (1 << i) != 0)
        .map(|(_, k)| *k)
        .collect();
    let opts = GenOptions {
        zones: usize::from(next() % 8) + 1,
        cidrs_per_zone: usize::from(next() % 3) + 1,
        max_services: usize::from(next() % 4),
        allows: usize::from(next() % 16),
        sites,
        namespaces: flags & 1 != 0,
        addresses: flags & 2 != 0 || flags & 1 == 0,
        ipv6: flags & 4 != 0,
        external: flags & 8 != 0,
        icmp: flags & 16 != 0,
        any: flags & 32 != 0,
    };
    let policy = random_policy(seed, &opts);
    let edits: Vec<u8> = data.iter().copied().skip(11).collect();
    if edits.len() < 3 {
        return (policy, false);
    }
    (mutate(&policy, &edits), true)
}

/// Applies edits (3 bytes each: operation, token, token or dictionary entry).
fn mutate(policy: &str, edits: &[u8]) -> String {
    let mut toks: Vec<String> = policy
        .split_inclusive(char::is_whitespace)
        .map(str::to_string)
        .collect();
    for e in edits.chunks(3) {
        if toks.is_empty() {
            break;
        }
        let (op, a, c) = (
            e[0],
            usize::from(e.get(1).copied().unwrap_or(0)),
            usize::from(e.get(2).copied().unwrap_or(0)),
        );
        let i = (a * 7 + c) % toks.len();
        match op % 4 {
            0 => {
                toks.remove(i);
            }
            1 => {
                let t = toks[i].clone();
                toks.insert(i, t);
            }
            2 => {
                let j = (c * 13 + a) % toks.len();
                toks.swap(i, j);
            }
            _ => toks.insert(i, format!("{} ", DICTIONARY[c % DICTIONARY.len()])),
        }
    }
    toks.concat()
}
