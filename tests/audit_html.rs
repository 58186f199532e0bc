//! `moat audit --format html` in a real browser: Debian's Chromium, driven
//! headless by playwright-core (`tests/browser/audit.mjs`). For every example
//! policy the page shows every zone (in the picture and the table) and every
//! crossing row that `moat audit --format json` lists, logs nothing to the
//! console, requests nothing, fits 1280 px, filters and sorts, and prints to
//! PDF. Screenshots are kept in `target/audit-html/` to be looked at.

mod common;

use common::{moat, root, skip, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Why the browser cannot run here, if it cannot.
fn browser_missing() -> Option<String> {
    if common::missing_tool("chromium").is_some() {
        return Some("`chromium` is not installed (scripts/ci/install-browser.sh)".into());
    }
    if common::missing_tool("node").is_some() {
        return Some("`node` is not installed (scripts/ci/install-browser.sh)".into());
    }
    if !root().join("tests/browser/node_modules/playwright-core").is_dir() {
        return Some(
            "playwright-core is not installed in tests/browser (scripts/ci/install-browser.sh)".into(),
        );
    }
    None
}

fn audit(args: &[&str]) -> String {
    let out = moat()
        .arg("audit")
        .args(args)
        .current_dir(root())
        .output()
        .expect("moat runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Runs the browser on `page`; returns what it saw.
fn browse(page: &Path, name: &str) -> Value {
    let shots = root().join("target/audit-html");
    std::fs::create_dir_all(&shots).expect("target/ is writable");
    let out = Command::new("node")
        .arg(root().join("tests/browser/audit.mjs"))
        .arg(page)
        .arg(shots.join(format!("{name}.png")))
        .arg(shots.join(format!("{name}.pdf")))
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "the browser failed on {name}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the driver prints JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// The page of `policy` seen in the browser agrees with the JSON report.
fn check_page(policy: &str, name: &str, against: Option<&str>) -> Value {
    let tmp = TempDir::new("audit-html");
    let page = tmp.path().join(format!("{name}.html"));
    let mut args = vec![policy, "--format", "html", "--out"];
    let page_arg = page.display().to_string();
    args.push(&page_arg);
    if let Some(old) = against {
        args.extend(["--against", old]);
    }
    audit(&args);
    let report: Value = serde_json::from_str(&audit(&[policy, "--format", "json"])).expect("JSON");
    let seen = browse(&page, name);

    assert_eq!(
        strings(&seen["console"]),
        Vec::<String>::new(),
        "{name}: console messages"
    );
    assert_eq!(
        strings(&seen["pageErrors"]),
        Vec::<String>::new(),
        "{name}: script errors"
    );
    assert_eq!(
        strings(&seen["requests"]),
        Vec::<String>::new(),
        "{name}: the page fetched something"
    );
    assert!(
        seen["scrollWidth"].as_u64().expect("a number") <= 1280,
        "{name}: wider than 1280 px"
    );
    assert!(
        seen["pdfBytes"].as_u64().expect("a number") > 10_000,
        "{name}: the PDF is empty"
    );

    let mut zones: Vec<String> = report["zones"]
        .as_array()
        .expect("zone groups")
        .iter()
        .flat_map(|g| {
            strings(
                &g["zones"]
                    .as_array()
                    .expect("zones")
                    .iter()
                    .map(|z| z["name"].clone())
                    .collect(),
            )
        })
        .collect();
    zones.sort();
    let mut in_picture = strings(&seen["pictureZones"]);
    in_picture.sort();
    let mut in_table = strings(&seen["zoneRows"]);
    in_table.sort();
    assert_eq!(in_picture, zones, "{name}: zones in the picture");
    assert_eq!(in_table, zones, "{name}: zones in the table");

    let crossings = report["crossings"].as_array().expect("crossings");
    assert_eq!(
        seen["pictureEdges"].as_u64(),
        Some(crossings.len() as u64),
        "{name}: one arrow per crossing"
    );
    let expected: Vec<(String, String)> = crossings
        .iter()
        .flat_map(|c| c["flows"].as_array().expect("flows").iter())
        .map(|f| {
            (
                f["from"].as_str().expect("from").into(),
                f["to"].as_str().expect("to").into(),
            )
        })
        .collect();
    let rows: Vec<(String, String)> = seen["crossingRows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["from"].as_str().expect("from").into(),
                r["to"].as_str().expect("to").into(),
            )
        })
        .collect();
    assert_eq!(rows, expected, "{name}: crossing rows");
    let verdicts = strings(&seen["forbidRows"]);
    assert_eq!(
        verdicts.len(),
        report["forbids"].as_array().expect("forbids").len()
    );
    for (v, f) in verdicts
        .iter()
        .zip(report["forbids"].as_array().expect("forbids"))
    {
        assert_eq!(v == "holds", f["holds"] == true, "{name}: forbid verdict");
    }
    assert_eq!(
        seen["summary"].as_str(),
        Some(summary_line(policy).as_str()),
        "{name}"
    );
    if rows.len() > 1 {
        assert_eq!(seen["filter"]["allMatch"], true, "{name}: filtering");
        assert!(seen["filter"]["visible"].as_u64().expect("a number") >= 1);
        assert_eq!(seen["sort"]["ascending"], true, "{name}: sorting");
        assert_eq!(seen["sort"]["descending"], true, "{name}: sorting");
    }
    seen
}

/// The first line of the text report after its title: the summary.
fn summary_line(policy: &str) -> String {
    let text = audit(&[policy]);
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("Audit report") && !l.starts_with('='))
        .expect("a summary line")
        .to_string()
}

#[test]
fn every_example_policy_reads_in_the_browser() {
    if let Some(why) = browser_missing() {
        return skip(&why);
    }
    for policy in [
        "policies/mosip.moat",
        "policies/mosip-cells.moat",
        "policies/mosip-hybrid.moat",
        "fixtures/cloud/hybrid.moat",
    ] {
        let name = Path::new(policy)
            .file_stem()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        check_page(policy, &name, None);
    }
}

#[test]
fn against_an_older_version_the_changes_lead_and_are_highlighted() {
    if let Some(why) = browser_missing() {
        return skip(&why);
    }
    let tmp = TempDir::new("audit-html-against");
    let new = tmp.path().join("hybrid.moat");
    let mut text = std::fs::read_to_string(root().join("fixtures/cloud/hybrid.moat")).expect("policy");
    text.push_str("\nallow ops.monitor -> app.worker : jobs \"the monitor runs jobs\"\n");
    std::fs::write(&new, text).expect("write");
    let new_arg = new.display().to_string();
    let seen = check_page(&new_arg, "hybrid-against", Some("fixtures/cloud/hybrid.moat"));
    let changes = strings(&seen["changeRows"]);
    assert_eq!(changes, vec!["added"], "the one added row");
    let added: Vec<&Value> = seen["crossingRows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["added"] == true)
        .collect();
    assert_eq!(added.len(), 1, "one highlighted crossing");
    assert_eq!(added[0]["from"], "ops.monitor");
    assert_eq!(added[0]["to"], "app.worker");
}

#[test]
fn the_page_is_deterministic_and_the_oracle_sees_a_fetch() {
    let tmp = TempDir::new("audit-html-det");
    let a = tmp.path().join("a.html");
    let b = tmp.path().join("b.html");
    for p in [&a, &b] {
        audit(&[
            "policies/mosip-hybrid.moat",
            "--format",
            "html",
            "--out",
            &p.display().to_string(),
        ]);
    }
    let page = std::fs::read_to_string(&a).expect("page");
    // --against belongs to the page; the diff alone is `moat diff`.
    let refused = moat()
        .args(["audit", "policies/mosip.moat", "--against", "policies/mosip.moat"])
        .current_dir(root())
        .output()
        .expect("moat runs");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("moat diff"));
    assert_eq!(
        page,
        std::fs::read_to_string(&b).expect("page"),
        "two runs differ"
    );
    for attr in ["src=\"", "href=\"", "url("] {
        for (i, _) in page.match_indices(attr) {
            let target = &page[i + attr.len()..];
            assert!(
                target.starts_with('#') || target.starts_with("data:"),
                "the page links outside itself: {}",
                &target[..target.len().min(60)]
            );
        }
    }
    if let Some(why) = browser_missing() {
        return skip(&why);
    }
    // A page that does try to fetch is caught: the control for the
    // "requests nothing" assertion above.
    let sneaky = tmp.path().join("sneaky.html");
    std::fs::write(
        &sneaky,
        page.replace("<main>", "<main><img src=\"http://127.0.0.1:9/x.png\">"),
    )
    .expect("write");
    let seen = browse(&sneaky, "sneaky-control");
    let caught = !strings(&seen["requests"]).is_empty() || !strings(&seen["console"]).is_empty();
    assert!(caught, "a page with an external image went unnoticed: {seen}");
}
