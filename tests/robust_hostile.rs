//! The hostile-input corpus (`fixtures/hostile/`): every file gives exactly
//! the diagnostics its `# expect:` line names (`clean` for none), each with a
//! file, line and column, or a clean success — never a panic or a hang. Large
//! inputs (a 50 MB file, a 1 MB line) are generated here, not committed, and
//! must take time and memory linear in their size. Includes through symlink
//! loops are built here too (git would carry the loop into every checkout).

mod common;
mod robust_support;

use robust_support::{diags, run, run_measured};
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn hostile_dir() -> PathBuf {
    common::root().join("fixtures/hostile")
}

/// The fixture files directly in `fixtures/hostile/`, sorted.
fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(hostile_dir())
        .expect("fixtures/hostile")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "moat"))
        .collect();
    v.sort();
    assert!(v.len() >= 30, "the hostile corpus shrank: {} files", v.len());
    v
}

/// The `# expect:` entries: `CODE` or `CODE@LINE:COL`; `clean` means none.
fn expected(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).expect("read fixture");
    let text = String::from_utf8_lossy(&bytes);
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("# expect:"))
        .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
    line.split_whitespace()
        .filter(|w| *w != "clean")
        .map(str::to_string)
        .collect()
}

/// `moat check --format json FILE` in `fixtures/hostile/`: its exit code and diagnostics.
fn check(dir: &Path, file: &str) -> (i32, Vec<robust_support::Found>) {
    let mut c = common::moat();
    c.args(["check", "--format", "json", file]).current_dir(dir);
    let r = run(c, LIMIT);
    let code = r.code();
    (code, diags(&r.stdout))
}

#[test]
fn every_hostile_fixture_gives_its_expected_diagnostics() {
    let mut problems = vec![];
    for path in fixtures() {
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        let want = expected(&path);
        let (code, got) = check(&hostile_dir(), &name);
        let mut got_codes: Vec<&str> = got.iter().map(|d| d.0.as_str()).collect();
        got_codes.sort_unstable();
        let mut want_codes: Vec<&str> = want.iter().map(|w| w.split('@').next().unwrap_or(w)).collect();
        want_codes.sort_unstable();
        if got_codes != want_codes {
            problems.push(format!("{name}: expected {want_codes:?}, got {got:?}"));
        }
        for w in want.iter().filter(|w| w.contains('@')) {
            let (c, pos) = w.split_once('@').expect("@");
            let (l, col) = pos.split_once(':').expect("LINE:COL");
            let at = (c.to_string(), l.parse().ok(), col.parse().ok());
            if !got.contains(&at) {
                problems.push(format!("{name}: no {c} at line {l}, column {col}: {got:?}"));
            }
        }
        if let Some(d) = got.iter().find(|d| d.1.is_none() || d.2.is_none()) {
            problems.push(format!("{name}: {} has no position", d.0));
        }
        let errors = want_codes.iter().any(|c| c.starts_with('E'));
        if code != i32::from(errors) {
            problems.push(format!(
                "{name}: exit code {code}, expected {}",
                i32::from(errors)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The human rendering of every hostile fixture works too, and shows no
/// bidirectional-control character (a Trojan Source excerpt would mislead).
#[test]
fn human_rendering_shows_no_hidden_characters() {
    for path in fixtures() {
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        let mut c = common::moat();
        c.args(["check", &name]).current_dir(hostile_dir());
        let r = run(c, LIMIT);
        r.code();
        let bad = r
            .stderr
            .chars()
            .find(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\0'));
        assert!(
            bad.is_none(),
            "{name}: the rendering contains U+{:04X}",
            bad.map_or(0, |c| c as u32)
        );
    }
}

/// The small valid policy the large inputs are built around.
const POLICY: &str = "zone dmz : demilitarised { cidr 10.10.0.0/16 namespace dmz
  service web { pods app=web hosts 10.10.0.10 port https tcp/443 } }
zone mz : militarised { cidr 10.20.0.0/16 namespace mz
  service db { pods app=db hosts 10.20.0.10 port pg tcp/5432 } }
allow dmz.web -> mz.db : pg
";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write input");
}

/// A 50 MB policy (the small policy, 50 MB of comments, blank lines and a
/// 1 MB reason) checks clean, in linear time and memory: the peak resident
/// set stays below 8 times the file (the text, its parsed form and the
/// source map each hold it once).
#[test]
fn fifty_megabytes_check_clean_in_linear_memory() {
    let t = common::TempDir::new("hostile-50mb");
    let mut text = String::with_capacity(51 << 20);
    text.push_str(POLICY);
    let comment = format!("# {}\n\n", "c".repeat(76));
    while text.len() < 49 << 20 {
        text.push_str(&comment);
    }
    text.push_str(&format!(
        "allow dmz.web -> mz.db : pg \"{}\"\n",
        "r".repeat(1 << 20)
    ));
    let size = text.len() as u64;
    write(t.path(), "big.moat", &text);
    drop(text);
    let (r, rss) = run_measured(
        &["check", "--format", "json", "big.moat"],
        t.path(),
        Duration::from_secs(300),
    );
    let found = diags(&r.stdout);
    assert_eq!(r.code(), 0, "{found:?}");
    assert_eq!(
        found.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
        ["W002"],
        "the second allow is redundant"
    );
    eprintln!(
        "50 MB file: {:.1} s, peak RSS {} KiB",
        r.secs,
        rss.map_or("unmeasured".into(), |k| k.to_string())
    );
    if let Some(kib) = rss {
        assert!(kib * 1024 < 8 * size, "peak RSS {kib} KiB for a {size}-byte file");
    }
}

/// A 1 MB line of statements, valid and invalid: the error at its end is
/// reported at the right column, and both renderings finish.
#[test]
fn one_megabyte_line() {
    let t = common::TempDir::new("hostile-1mb-line");
    let mut line = String::new();
    let mut n = 0;
    while line.len() < 1 << 20 {
        line.push_str(&format!("allow dmz.web -> mz : tcp/{} ", n % 65535 + 1));
        n += 1;
    }
    let col = line.chars().count() + 1;
    write(
        t.path(),
        "line.moat",
        &format!("{POLICY}{line}allow dmz.web -> mz.nope : pg\n"),
    );
    let mut c = common::moat();
    c.args(["check", "--format", "json", "line.moat"])
        .current_dir(t.path());
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 1);
    let found = diags(&r.stdout);
    assert!(
        found.contains(&("E002".into(), Some(6), Some(col as u64 + 17))),
        "{:?}",
        found.iter().filter(|d| d.0 != "W002").collect::<Vec<_>>()
    );
    // every allow to a zone number is one error here: 30 000 diagnostics on one line
    let errors: String = std::iter::repeat_n("allow dmz.web -> mz.db : tcp/0 ", 1 << 15).collect();
    write(t.path(), "errors.moat", &format!("{POLICY}{errors}\n"));
    for format in ["json", "human"] {
        let mut c = common::moat();
        c.args(["check", "--format", format, "errors.moat"])
            .current_dir(t.path());
        let r = run(c, LIMIT);
        assert_eq!(r.code(), 1);
        let text = if format == "json" { &r.stdout } else { &r.stderr };
        assert!(
            text.matches("E009").count() >= 1 << 15,
            "{format}: every error reported"
        );
        assert!(
            text.len() < 40 << 20,
            "{format}: {} bytes of output for a 1 MB line",
            text.len()
        );
    }
}

/// Twice the statements take at most about twice the time and memory.
#[test]
fn many_statements_scale_linearly() {
    let t = common::TempDir::new("hostile-linear");
    let mut measured = vec![];
    for (name, n) in [("small.moat", 5_000), ("large.moat", 20_000)] {
        let allows: String = (0..n)
            .map(|i| {
                format!(
                    "allow dmz.web -> mz.db : pg \"reason {i}\"\nallow dmz.web -> mz : tcp/{}\n",
                    i % 60000 + 1
                )
            })
            .collect();
        write(t.path(), name, &format!("{POLICY}{allows}"));
        let (r, rss) = run_measured(
            &["check", "--format", "json", name],
            t.path(),
            Duration::from_secs(120),
        );
        assert_eq!(r.code(), 0);
        measured.push((r.secs, rss));
    }
    let (small, large) = (measured[0], measured[1]);
    eprintln!("5k vs 20k statement pairs: {small:?} vs {large:?}");
    assert!(
        large.0 < 8.0 * small.0 + 1.0,
        "time grows faster than linearly: {small:?} -> {large:?}"
    );
    if let (Some(a), Some(b)) = (small.1, large.1) {
        assert!(
            b < 6 * a + 20_000,
            "memory grows faster than linearly: {a} -> {b} KiB"
        );
    }
}

/// The largest cells block (4096 cells) with four services a cell, so the
/// external zone has 8192 holes: near-linear, where it once was quadratic
/// (25 s for 4096 cells, from the holes and two zone look-ups).
#[test]
fn the_largest_cells_block_scales_linearly() {
    let t = common::TempDir::new("hostile-cells");
    let template =
        std::fs::read_to_string(common::root().join("fuzz/regressions/check-4096-cells-8192-holes.moat"))
            .expect("regression file");
    let mut secs = vec![];
    for n in [1024, 4096] {
        let name = format!("cells{n}.moat");
        write(
            t.path(),
            &name,
            &template.replace("c[1..4096]", &format!("c[1..{n}]")),
        );
        let mut c = common::moat();
        c.args(["check", "--format", "json", &name]).current_dir(t.path());
        let r = run(c, LIMIT);
        assert_eq!(r.code(), 0, "{}", r.stdout);
        secs.push(r.secs);
    }
    eprintln!("1024 vs 4096 cells: {secs:?}");
    assert!(
        secs[1] < 8.0 * secs[0] + 1.0,
        "cells scale faster than linearly: {secs:?}"
    );
}

/// A symlink loop or a device, named directly or through an include, is E014 — not a hang.
#[test]
fn include_through_a_symlink_loop() {
    let t = common::TempDir::new("hostile-symlink");
    std::os::unix::fs::symlink("loop-b.moat", t.path().join("loop-a.moat")).expect("symlink");
    std::os::unix::fs::symlink("loop-a.moat", t.path().join("loop-b.moat")).expect("symlink");
    write(
        t.path(),
        "main.moat",
        &format!("include \"loop-a.moat\"\n{POLICY}"),
    );
    let (code, found) = check(t.path(), "main.moat");
    assert_eq!((code, found), (1, vec![("E014".to_string(), Some(1), Some(9))]));
    // named on the command line: an I/O error, exit 2, still coded
    let mut c = common::moat();
    c.args(["check", "--format", "json", "loop-a.moat"])
        .current_dir(t.path());
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 2);
    assert!(
        r.stdout.contains("E014") || r.stderr.contains("E014"),
        "{} {}",
        r.stdout,
        r.stderr
    );
    // a device behind a policy-looking name is not read (it would never end)
    std::os::unix::fs::symlink("/dev/zero", t.path().join("zero.moat")).expect("symlink");
    write(t.path(), "dev.moat", &format!("include \"zero.moat\"\n{POLICY}"));
    let (code, found) = check(t.path(), "dev.moat");
    assert_eq!((code, found), (1, vec![("E014".to_string(), Some(1), Some(9))]));
    // a directory holding a symlink to itself is walked once, not forever
    std::fs::create_dir(t.path().join("d")).expect("mkdir");
    std::os::unix::fs::symlink(".", t.path().join("d/again")).expect("symlink");
    std::fs::create_dir(t.path().join("d/sub")).expect("mkdir");
    std::os::unix::fs::symlink("..", t.path().join("d/sub/up")).expect("symlink");
    write(&t.path().join("d"), "p.moat", POLICY);
    let mut c = common::moat();
    c.args(["check", "--format", "json", "d"]).current_dir(t.path());
    let r = run(c, LIMIT);
    assert_eq!(r.code(), 0, "{}", r.stdout);
}
