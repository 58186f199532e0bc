//! UI tests: every policy under `fixtures/bad/` is checked, and
//! - its rendered human diagnostics (no colour), together with the source text
//!   of every file it loaded, are an insta snapshot (`tests/snapshots/ui__*.snap`);
//! - `moat check --format json` reports exactly the codes of its `# expect:` line;
//! - it exits 1, or for a warnings-only fixture 0, and 1 with `--deny-warnings`.
//!
//! A fixture names what it tests in a leading comment and lists the expected
//! codes (with repeats, in any order) on a line `# expect: E002 E002`.
//! A line `# inventory: PATH...` checks the fixture against those manifests
//! (`--inventory`, paths relative to the crate root).
//! Files below `fixtures/bad/includes/` and `fixtures/bad/inventory/` are
//! parts of other fixtures, not fixtures.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The fixture files directly in `fixtures/bad/`, sorted, as paths relative to
/// the crate root (cargo runs integration tests there), so that file names in
/// diagnostics are stable.
fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new("fixtures/bad");
    let mut out: Vec<PathBuf> = std::fs::read_dir(common::root().join(dir))
        .expect("fixtures/bad exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "moat"))
        .map(|p| dir.join(p.file_name().expect("a file name")))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in fixtures/bad");
    out
}

/// The codes on the fixture's `# expect:` line, sorted.
fn expected_codes(path: &Path) -> Vec<String> {
    // lossy: one fixture is deliberately not UTF-8
    let bytes = std::fs::read(common::root().join(path)).expect("read fixture");
    let text = String::from_utf8_lossy(&bytes);
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("# expect:"))
        .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
    let mut codes: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    assert!(!codes.is_empty(), "{}: empty `# expect:` line", path.display());
    codes.sort();
    codes
}

/// The paths on the fixture's `# inventory:` line, if it has one.
fn inventory(path: &Path) -> Vec<PathBuf> {
    let bytes = std::fs::read(common::root().join(path)).expect("read fixture");
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("# inventory:"))
        .map(|l| l.split_whitespace().map(PathBuf::from).collect())
        .unwrap_or_default()
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .expect("a file stem")
        .to_string_lossy()
        .into_owned()
}

/// Replaces the absolute crate root (which appears in include-cycle messages)
/// by `[ROOT]`, so snapshots do not depend on where the repository lives.
fn redact(s: &str) -> String {
    let root = common::root();
    let canon = std::fs::canonicalize(&root).unwrap_or(root.clone());
    s.replace(&format!("{}/", canon.display()), "[ROOT]/")
        .replace(&format!("{}/", root.display()), "[ROOT]/")
}

/// The fixture checked as `moat check` does it (with its inventory, if any).
fn checked(path: &Path) -> moat::Checked {
    let mut checked = moat::check_paths(&moat::load::Disk, &[path.to_path_buf()]);
    let inventory = inventory(path);
    if !inventory.is_empty() {
        moat::check_inventory(&mut checked, &inventory);
    }
    checked
}

/// The snapshot body: each loaded file's source, then the rendered diagnostics.
fn render(path: &Path) -> String {
    let checked = checked(path);
    let mut out = String::new();
    for f in checked.sources.files() {
        out.push_str(&format!("----- SOURCE {}\n{}", f.name, f.text));
        if !f.text.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str("----- DIAGNOSTICS\n");
    out.push_str(&moat::diag::render_human(&checked.diags, &checked.sources, false));
    redact(&out)
}

#[test]
fn human_diagnostics_match_snapshots() {
    let mut failed = vec![];
    for path in fixtures() {
        let name = stem(&path);
        let body = render(&path);
        let r = std::panic::catch_unwind(|| {
            let mut settings = insta::Settings::clone_current();
            settings.set_prepend_module_to_snapshot(true);
            settings.set_info(&path.display().to_string());
            settings.set_omit_expression(true);
            settings.bind(|| insta::assert_snapshot!(name.clone(), body));
        });
        if r.is_err() {
            failed.push(name);
        }
    }
    assert!(
        failed.is_empty(),
        "snapshots differ for: {failed:?} (review with `cargo insta review` or INSTA_UPDATE=always)"
    );
}

/// Runs `moat check --format json FILE [extra]` and returns (exit code, diagnostics).
fn check_json(path: &Path, extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = common::moat()
        .current_dir(common::root())
        .args(["check", "--format", "json"])
        .arg(path)
        .args(extra)
        .args(inventory_args(path))
        .output()
        .expect("run moat");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e}):\n{stdout}", path.display()));
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("{}: not a JSON array: {v}", path.display()))
        .clone();
    (out.status.code().expect("exit code"), arr)
}

/// `--inventory PATH...` for a fixture with an `# inventory:` line.
fn inventory_args(path: &Path) -> Vec<String> {
    let paths = inventory(path);
    if paths.is_empty() {
        return vec![];
    }
    std::iter::once("--inventory".to_string())
        .chain(paths.iter().map(|p| p.display().to_string()))
        .collect()
}

#[test]
fn json_reports_exactly_the_expected_codes_and_exit_codes() {
    let mut problems = vec![];
    for path in fixtures() {
        let expected = expected_codes(&path);
        let (code, diags) = check_json(&path, &[]);
        let mut got: Vec<String> = diags
            .iter()
            .map(|d| d["code"].as_str().unwrap_or("<no code>").to_string())
            .collect();
        got.sort();
        if got != expected {
            problems.push(format!(
                "{}: expected codes {expected:?}, got {got:?}",
                path.display()
            ));
        }
        for d in &diags {
            let has_pos = d["file"].is_string()
                && d["line"].as_u64().is_some_and(|l| l >= 1)
                && d["column"].as_u64().is_some_and(|c| c >= 1);
            if !has_pos {
                problems.push(format!(
                    "{}: diagnostic without file/line/column: {d}",
                    path.display()
                ));
            }
            let sev = d["severity"].as_str().unwrap_or("");
            let want = if d["code"].as_str().is_some_and(|c| c.starts_with('E')) {
                "error"
            } else {
                "warning"
            };
            if sev != want {
                problems.push(format!("{}: {} has severity {sev:?}", path.display(), d["code"]));
            }
        }
        let errors = expected.iter().any(|c| c.starts_with('E'));
        let want_exit = if errors { 1 } else { 0 };
        if code != want_exit {
            problems.push(format!(
                "{}: exit code {code}, expected {want_exit}",
                path.display()
            ));
        }
        if !errors {
            let (code, _) = check_json(&path, &["--deny-warnings"]);
            if code != 1 {
                problems.push(format!(
                    "{}: exit code {code} with --deny-warnings, expected 1",
                    path.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every code the front end owns has at least one fixture named after it.
#[test]
fn every_front_end_code_has_a_fixture() {
    let named: BTreeSet<String> = fixtures().iter().map(|p| stem(p)[..4].to_string()).collect();
    let codes = (1..=11)
        .chain(14..=16)
        .chain(21..=25)
        .map(|n| format!("E{n:03}"))
        .chain((1..=4).chain(9..=10).map(|n| format!("W{n:03}")));
    let missing: Vec<String> = codes.filter(|c| !named.contains(c)).collect();
    assert!(missing.is_empty(), "no fixture for {missing:?}");
    // and each fixture expects (at least) the code in its name
    for p in fixtures() {
        let code = stem(&p)[..4].to_string();
        assert!(
            expected_codes(&p).contains(&code),
            "{}: `# expect:` does not list {code}",
            p.display()
        );
    }
}

/// No snapshot is left behind by a renamed or removed fixture.
#[test]
fn every_snapshot_has_its_fixture() {
    let names: BTreeSet<String> = fixtures().iter().map(|p| stem(p)).collect();
    let dir = common::root().join("tests/snapshots");
    for e in std::fs::read_dir(&dir).expect("tests/snapshots").flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        if let Some(name) = file.strip_prefix("ui__").and_then(|f| f.strip_suffix(".snap")) {
            assert!(
                names.contains(name),
                "tests/snapshots/{file} has no fixture fixtures/bad/{name}.moat"
            );
        }
    }
}

/// The binary prints the same rendering on stderr (plus a summary line) when
/// stderr is not a terminal.
#[test]
fn the_binary_prints_what_the_snapshots_hold() {
    for path in fixtures() {
        let checked = checked(&path);
        let lib = moat::diag::render_human(&checked.diags, &checked.sources, false);
        let out = common::moat()
            .current_dir(common::root())
            .arg("check")
            .arg(&path)
            .args(inventory_args(&path))
            .output()
            .expect("run moat");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&lib),
            "{}: stderr differs from the library rendering:\n{stderr}",
            path.display()
        );
        let summary = stderr[lib.len()..].trim();
        let errors = checked.diags.iter().filter(|d| d.is_error()).count();
        assert!(
            summary.starts_with(&format!("{errors} error")),
            "{}: summary {summary:?}",
            path.display()
        );
    }
}
