//! Property tests over policies from `moat::gen::random_policy`:
//! - the matrix does not change when top-level statements are reordered, or
//!   split across several files (or a directory of them);
//! - the matrix of a policy is the union of the matrices of its allows, each
//!   checked alone with every declaration;
//! - the front end never panics, on arbitrary bytes, arbitrary strings, token
//!   soup or mutated valid policies: it returns an IR or error diagnostics,
//!   and both renderers handle whatever it returns.
//!
//! Case counts are modest so the whole file runs in a few seconds.

mod common;

use moat::gen::{random_policy, GenOptions};
use moat::ir::{Ir, SiteKind};
use moat::ports::{PortSet, Proto};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

// ---- generated policies and their statements ---------------------------

/// Options for the generator, varied over the knobs that change the shape of
/// the text (sizes, sites, namespaces vs addresses, IPv6, icmp, any).
fn gen_options() -> impl Strategy<Value = GenOptions> {
    (
        1usize..6,
        0usize..4,
        1usize..14,
        0usize..3,
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        1usize..3,
    )
        .prop_map(
            |(zones, max_services, allows, sites, mapping, ipv6, icmp, external, cidrs_per_zone)| {
                GenOptions {
                    zones,
                    cidrs_per_zone,
                    max_services,
                    allows,
                    sites: match sites {
                        0 => vec![],
                        1 => vec![SiteKind::Onprem, SiteKind::Aws],
                        _ => vec![SiteKind::Onprem, SiteKind::Aws, SiteKind::Gcp, SiteKind::Azure],
                    },
                    namespaces: mapping != 1,
                    addresses: mapping != 0,
                    ipv6,
                    external,
                    icmp,
                    any: true,
                }
            },
        )
}

/// Splits generated text into top-level statements: a line starting with a
/// keyword at column 0 starts one; a `zone ... {` line runs to the line `}`.
/// Comments and blank lines are dropped.
fn statements(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut block: Option<String> = None;
    for line in text.lines() {
        if let Some(b) = block.as_mut() {
            b.push_str(line);
            b.push('\n');
            if line == "}" {
                out.extend(block.take());
            }
        } else if line.trim().is_empty() || line.starts_with('#') {
            continue;
        } else if line.trim_end().ends_with('{') {
            block = Some(format!("{line}\n"));
        } else {
            assert!(
                !line.starts_with(char::is_whitespace),
                "unexpected indented line outside a block: {line:?}"
            );
            out.push(format!("{line}\n"));
        }
    }
    assert!(block.is_none(), "unterminated block in generated text");
    out
}

/// Random choices drawn by proptest (so failures shrink and replay): a
/// Fisher-Yates shuffle and a choice of bucket per statement.
#[derive(Debug, Clone)]
struct Choices(Vec<prop::sample::Index>);

impl Choices {
    fn strategy() -> impl Strategy<Value = Choices> {
        prop::collection::vec(any::<prop::sample::Index>(), 64).prop_map(Choices)
    }

    fn pick(&self, i: usize, n: usize) -> usize {
        self.0[i % self.0.len()].index(n.max(1))
    }

    fn shuffle<T>(&self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.pick(i, i + 1));
        }
    }
}

/// The matrix by atom names: (from, to) -> merged ports.
type NamedMatrix = BTreeMap<(String, String), PortSet>;

fn named(ir: &Ir) -> NamedMatrix {
    ir.flows
        .iter()
        .map(|(&(f, t), flow)| {
            (
                (ir.atoms[f].name.clone(), ir.atoms[t].name.clone()),
                flow.ports.clone(),
            )
        })
        .collect()
}

/// Checks a text that must be free of errors and returns its IR.
fn ir_of(name: &str, text: &str) -> Result<Ir, TestCaseError> {
    let c = moat::check_str(name, text);
    let errors: Vec<String> = c
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    prop_assert!(errors.is_empty(), "errors {errors:?} in\n{text}");
    c.ir.ok_or_else(|| TestCaseError::fail(format!("no IR for\n{text}")))
}

fn ir_of_paths(inputs: &[PathBuf]) -> Result<Ir, TestCaseError> {
    let c = moat::check_paths(&moat::load::Disk, inputs);
    let errors: Vec<String> = c
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    prop_assert!(errors.is_empty(), "errors {errors:?} for {inputs:?}");
    c.ir.ok_or_else(|| TestCaseError::fail("no IR".to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn reordering_statements_keeps_the_matrix(seed in any::<u64>(), o in gen_options(), mix in Choices::strategy()) {
        let text = random_policy(seed, &o);
        let base = ir_of("gen.moat", &text)?;
        let mut stmts = statements(&text);
        mix.shuffle(&mut stmts);
        let shuffled = stmts.concat();
        let again = ir_of("shuffled.moat", &shuffled)?;
        prop_assert_eq!(moat::analysis::matrix::rows(&base), moat::analysis::matrix::rows(&again), "shuffled:\n{}", shuffled);
        // and the whole policy on one line per statement, in reverse order
        stmts.reverse();
        let reversed = ir_of("reversed.moat", &stmts.concat())?;
        prop_assert_eq!(named(&base), named(&reversed));
    }

    #[test]
    fn splitting_across_files_keeps_the_matrix(seed in any::<u64>(), o in gen_options(), mix in Choices::strategy(), parts in 2usize..5) {
        let text = random_policy(seed, &o);
        let base = ir_of("gen.moat", &text)?;
        let mut files = vec![String::new(); parts];
        for (i, s) in statements(&text).into_iter().enumerate() {
            files[mix.pick(i, parts)].push_str(&s);
        }
        let dir = common::TempDir::new("props-split");
        let paths: Vec<PathBuf> = files
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let p = dir.path().join(format!("part{i}.moat"));
                std::fs::write(&p, t).expect("write part");
                p
            })
            .collect();
        let split = ir_of_paths(&paths)?;
        prop_assert_eq!(moat::analysis::matrix::rows(&base), moat::analysis::matrix::rows(&split));
        // the files in another order, and the directory holding them
        let mut reordered = paths.clone();
        mix.shuffle(&mut reordered);
        prop_assert_eq!(named(&base), named(&ir_of_paths(&reordered)?));
        prop_assert_eq!(named(&base), named(&ir_of_paths(&[dir.path().to_path_buf()])?));
    }

    #[test]
    fn the_matrix_is_the_union_of_each_allows_matrix(seed in any::<u64>(), o in gen_options()) {
        let text = random_policy(seed, &o);
        let whole = named(&ir_of("gen.moat", &text)?);
        let stmts = statements(&text);
        let (allows, decls): (Vec<&String>, Vec<&String>) = stmts.iter().partition(|s| s.starts_with("allow "));
        prop_assert!(!allows.is_empty());
        let decls: String = decls.into_iter().map(String::as_str).collect();
        let mut union = NamedMatrix::new();
        for a in allows {
            let one = ir_of("one.moat", &format!("{decls}{a}"))?;
            for (pair, ports) in named(&one) {
                union.entry(pair).or_default().union_with(&ports);
            }
        }
        prop_assert_eq!(whole, union);
    }
}

/// Is (proto, port) in the matrix rows of one pair? The oracle reads only the
/// spec's row form (`any`, port-less protocols, `"80,443,8000-8100"`).
fn rows_allow(rows: &[&moat::analysis::matrix::Row], proto: Proto, port: u16) -> bool {
    rows.iter().any(|r| {
        r.protocol == "any"
            || (r.protocol == proto.as_str()
                && match &r.ports {
                    None => true,
                    Some(list) => list.split(',').any(|item| {
                        let (lo, hi) = item.split_once('-').unwrap_or((item, item));
                        let (lo, hi): (u16, u16) = (lo.parse().expect("port"), hi.parse().expect("port"));
                        (lo..=hi).contains(&port)
                    }),
                })
    })
}

/// Probes around every row's ranges, plus a few fixed ones, for one pair.
fn probes(rows: &[&moat::analysis::matrix::Row]) -> Vec<(Proto, u16)> {
    let mut out = vec![
        (Proto::Tcp, 1),
        (Proto::Tcp, 65535),
        (Proto::Udp, 53),
        (Proto::Sctp, 9),
        (Proto::Icmp, 0),
        (Proto::Icmpv6, 0),
    ];
    for r in rows {
        let Some(proto) = Proto::parse(&r.protocol) else {
            continue;
        };
        for item in r.ports.iter().flat_map(|l| l.split(',')) {
            let (lo, hi) = item.split_once('-').unwrap_or((item, item));
            let (lo, hi): (u16, u16) = (lo.parse().expect("port"), hi.parse().expect("port"));
            out.extend([lo.saturating_sub(1).max(1), lo, hi, hi.saturating_add(1)].map(|p| (proto, p)));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `query` agrees with the matrix on every probe, and each allow it cites
    /// allows the flow on its own.
    #[test]
    fn query_agrees_with_the_matrix_and_cites_allows_that_allow(seed in any::<u64>(), o in gen_options(), picks in Choices::strategy()) {
        use moat::analysis::query::query;
        let text = random_policy(seed, &o);
        let ir = ir_of("gen.moat", &text)?;
        let all_rows = moat::analysis::matrix::rows(&ir);
        let lines: Vec<&str> = text.lines().collect();
        let decls: String = statements(&text).into_iter().filter(|s| !s.starts_with("allow ")).collect();
        let n = ir.atoms.len();
        // every pair with flows, and some without
        let mut pairs: Vec<(usize, usize)> = ir.flows.keys().copied().collect();
        pairs.extend((0..8).map(|i| (picks.pick(2 * i, n), picks.pick(2 * i + 1, n))));
        for (f, t) in pairs {
            let rows: Vec<&moat::analysis::matrix::Row> = all_rows.iter().filter(|r| r.from == ir.atoms[f].name && r.to == ir.atoms[t].name).collect();
            for (proto, port) in probes(&rows) {
                let a = query(&ir, f, t, proto, port);
                let want = rows_allow(&rows, proto, port);
                prop_assert_eq!(a.verdict == "allow", want, "{} -> {} {}/{}: {:?}", a.from, a.to, proto, port, a);
                prop_assert_eq!(a.allows.is_empty(), !want);
                for cite in &a.allows {
                    let line: usize = cite.loc.rsplit(':').next().and_then(|l| l.parse().ok()).expect("file:line");
                    let alone = ir_of("one.moat", &format!("{decls}{}\n", lines[line - 1]))?;
                    let (f1, t1) = (alone.atom_id(&a.from).expect("from"), alone.atom_id(&a.to).expect("to"));
                    prop_assert_eq!(query(&alone, f1, t1, proto, port).verdict, "allow", "{} does not allow {:?}", lines[line - 1], a);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// W002 is right: an allow reported redundant can go without changing the matrix.
    #[test]
    fn an_allow_reported_redundant_changes_nothing(seed in any::<u64>(), o in gen_options()) {
        let o = GenOptions { allows: o.allows * 3, ..o };
        let text = random_policy(seed, &o);
        let c = moat::check_str("gen.moat", &text);
        let whole = named(c.ir.as_ref().ok_or_else(|| TestCaseError::fail("no IR"))?);
        let lines: Vec<&str> = text.lines().collect();
        for d in c.diags.iter().filter(|d| d.code == "W002") {
            let span = d.span.ok_or_else(|| TestCaseError::fail("W002 without a span"))?;
            let line = c.sources.file(span.file).line_col(span.start).0;
            prop_assert!(lines[line - 1].starts_with("allow "), "W002 not at an allow: {}", lines[line - 1]);
            let without: String = lines.iter().enumerate().filter(|(i, _)| *i != line - 1).map(|(_, l)| format!("{l}\n")).collect();
            prop_assert_eq!(&whole, &named(&ir_of("without.moat", &without)?), "removing {} changed the matrix", lines[line - 1]);
        }
    }
}

// ---- the front end never panics ----------------------------------------

/// Policy files held in memory, for feeding raw bytes to `moat::load`.
struct MemFs(BTreeMap<PathBuf, Vec<u8>>);

impl moat::load::Fs for MemFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not in memory"))
    }

    fn moat_files_in(&self, _path: &Path) -> Option<Vec<PathBuf>> {
        None
    }

    fn identity(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
}

/// The outcome is coherent: an IR exactly when there are no errors; spans lie
/// inside their files; both renderers produce output without panicking.
fn coherent(c: &moat::Checked) -> Result<(), TestCaseError> {
    prop_assert_eq!(c.ir.is_some(), !c.has_errors(), "diags: {:?}", c.diags);
    for d in &c.diags {
        prop_assert!(
            d.code.len() == 4 && (d.code.starts_with('E') || d.code.starts_with('W')),
            "code {}",
            d.code
        );
        if let Some(s) = d.span {
            let len = c.sources.file(s.file).text.len();
            prop_assert!(
                s.start <= s.end && s.end <= len,
                "span {s:?} outside a file of {len} bytes: {d:?}"
            );
        }
    }
    let human = moat::diag::render_human(&c.diags, &c.sources, false);
    prop_assert_eq!(human.is_empty(), c.diags.is_empty());
    let json: serde_json::Value = serde_json::from_str(&moat::diag::render_json(&c.diags, &c.sources))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(json.as_array().map(Vec::len), Some(c.diags.len()));
    if let Some(ir) = &c.ir {
        let _ = moat::analysis::matrix::rows(ir);
    }
    Ok(())
}

fn check_bytes(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let path = PathBuf::from("mem/input.moat");
    let fs = MemFs(BTreeMap::from([(path.clone(), bytes.clone())]));
    let loaded = moat::load::load(&fs, std::slice::from_ref(&path));
    if std::str::from_utf8(&bytes).is_err() {
        prop_assert!(
            loaded.diags.iter().any(|d| d.code == "E001"),
            "invalid UTF-8 is E001"
        );
    }
    coherent(&moat::check_paths(&fs, &[path]))
}

/// Tokens of the language, so random sequences reach deep into the parser.
const TOKENS: &[&str] = &[
    "policy",
    "include",
    "site",
    "zone",
    "service",
    "cidr",
    "namespace",
    "hosts",
    "pods",
    "port",
    "resident",
    "allow",
    "forbid",
    "exempt",
    "cells",
    "in",
    "each",
    "external",
    "demilitarised",
    "mz",
    "dmz",
    "onprem",
    "aws",
    "@",
    "{",
    "}",
    "[",
    "]",
    "..",
    "->",
    ":",
    ",",
    ".",
    "*",
    "/",
    "+",
    "=",
    "\"",
    "\"x\"",
    "\"{cell}\"",
    "\\",
    "#",
    "\n",
    "a",
    "b.c",
    "cell*.a.b",
    "cell[1..3]",
    "10.0.0.0/8",
    "10.0.0.1",
    "+0.0.1.0/24",
    "::/0",
    "fd00::1",
    "10.0.0.1/8",
    "/16",
    "tcp",
    "udp/53",
    "tcp/80-90",
    "tcp/0",
    "tcp/99999",
    "icmp",
    "icmpv6/1",
    "sctp",
    "any",
    "app=x",
    "k.io/n=\"v\"",
    "0",
    "65535",
    "é",
    "\u{0}",
    "\t",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|ts| ts.join(" "))
}

/// A valid generated policy, then a few edits: delete, insert a token,
/// duplicate a line, truncate.
fn mutated_policy() -> impl Strategy<Value = String> {
    (
        any::<u64>(),
        prop::collection::vec(
            (
                0u8..4,
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                prop::sample::select(TOKENS),
            ),
            1..5,
        ),
    )
        .prop_map(|(seed, edits)| {
            let o = GenOptions {
                zones: 3,
                allows: 5,
                icmp: true,
                ipv6: seed % 2 == 0,
                ..GenOptions::default()
            };
            let mut t: Vec<char> = random_policy(seed, &o).chars().collect();
            for (kind, i, j, tok) in edits {
                let at = i.index(t.len() + 1);
                match kind {
                    0 => {
                        let end = (at + j.index(12)).min(t.len());
                        t.drain(at..end);
                    }
                    1 => {
                        t.splice(at..at, tok.chars());
                    }
                    2 => {
                        let s: String = t.iter().collect();
                        let lines: Vec<&str> = s.lines().collect();
                        if lines.is_empty() {
                            continue;
                        }
                        let l = lines[i.index(lines.len())];
                        let mut v: Vec<&str> = lines.clone();
                        v.insert(j.index(lines.len() + 1), l);
                        t = v.join("\n").chars().collect();
                    }
                    _ => t.truncate(at),
                }
            }
            t.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_bytes(bytes)?;
    }

    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        coherent(&moat::check_str("s.moat", &s))?;
    }

    #[test]
    fn never_panics_on_token_soup(s in token_soup()) {
        coherent(&moat::check_str("soup.moat", &s))?;
        check_bytes(s.into_bytes())?;
    }

    #[test]
    fn never_panics_on_mutated_policies(s in mutated_policy()) {
        coherent(&moat::check_str("mutated.moat", &s))?;
    }

    #[test]
    fn never_panics_on_valid_policy_with_bytes_flipped(seed in any::<u64>(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = random_policy(seed, &GenOptions::default()).into_bytes();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        check_bytes(bytes)?;
    }
}

/// The statement splitter itself: every statement of a generated policy is
/// kept, once, and the concatenation checks to the same matrix.
#[test]
fn statements_cover_the_generated_text() {
    let o = GenOptions {
        allows: 10,
        ..GenOptions::default()
    };
    let text = random_policy(11, &o);
    let stmts = statements(&text);
    let zones = text.lines().filter(|l| l.starts_with("zone ")).count();
    let allows = text.lines().filter(|l| l.starts_with("allow ")).count();
    assert_eq!(stmts.iter().filter(|s| s.starts_with("zone ")).count(), zones);
    assert_eq!(stmts.iter().filter(|s| s.starts_with("allow ")).count(), allows);
    assert_eq!(allows, 10);
    let a = moat::check_str("a.moat", &text);
    let b = moat::check_str("b.moat", &stmts.concat());
    assert_eq!(a.ir.map(|ir| named(&ir)), b.ir.map(|ir| named(&ir)));
}
