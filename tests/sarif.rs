//! `--format sarif`: every log moat writes is valid SARIF 2.1.0 (checked with
//! the official OASIS schema by the `jsonschema` validator from PyPI), and
//! says the same as the JSON diagnostics: codes, regions, related locations.

mod common;

use common::{moat, root, skip, venv_tool, TempDir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bad_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/bad"))
        .expect("a readable directory")
        .map(|e| e.expect("a readable directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "moat"))
        .collect();
    v.sort();
    v
}

fn run_json(args: &[&str], file: &Path) -> (Option<i32>, String, String) {
    let out = moat()
        .args(args)
        .arg(file)
        .current_dir(root())
        .output()
        .expect("the command runs");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("well-formed output"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Validates every log with the OASIS schema in one Python process; returns
/// the validator's complaints (empty when all are valid), or why it could not run.
fn schema_errors(logs: &[(String, String)]) -> Result<Vec<String>, String> {
    let dir = TempDir::new("sarif-logs");
    let mut paths = vec![];
    for (i, (name, log)) in logs.iter().enumerate() {
        let p = dir.path().join(format!("{i}.sarif"));
        std::fs::write(&p, log).expect("file I/O");
        paths.push((name.clone(), p));
    }
    let script = r#"
import json, sys
from jsonschema import Draft4Validator
schema = json.load(open(sys.argv[1]))
Draft4Validator.check_schema(schema)
v = Draft4Validator(schema)
bad = 0
for pair in sys.argv[2:]:
    name, path = pair.split("=", 1)
    for e in v.iter_errors(json.load(open(path))):
        bad += 1
        print(f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
print(f"checked {len(sys.argv) - 2} logs")
"#;
    let python = venv_tool("python3");
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(root().join("fixtures/sarif/sarif-schema-2.1.0.json"))
        .args(paths.iter().map(|(n, p)| format!("{n}={}", p.display())))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !stdout.contains("checked") {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'jsonschema'") {
            return Err("the Python package `jsonschema` is not installed (scripts/ci/install-ci.sh)".into());
        }
        panic!("the schema validator failed:\n{stdout}\n{err}");
    }
    Ok(stdout
        .lines()
        .filter(|l| !l.starts_with("checked"))
        .map(String::from)
        .collect())
}

#[test]
fn every_bad_fixture_gives_a_sarif_log_that_matches_the_json_diagnostics() {
    let mut logs = vec![];
    for f in bad_fixtures() {
        let name = f.file_name().expect("file I/O").to_string_lossy().into_owned();
        let (code, sarif, _) = run_json(&["check", "--format", "sarif"], &f);
        let (json_code, json, _) = run_json(&["check", "--format", "json"], &f);
        assert_eq!(code, json_code, "{name}: exit codes of sarif and json differ");
        let log: Value = serde_json::from_str(&sarif).unwrap_or_else(|e| panic!("{name}: {e}\n{sarif}"));
        let diags: Value = serde_json::from_str(&json).expect("well-formed output");
        let run = &log["runs"][0];
        let results = run["results"].as_array().expect("an array");
        let diags = diags.as_array().expect("an array");
        assert_eq!(results.len(), diags.len(), "{name}");
        let rules = run["tool"]["driver"]["rules"].as_array().expect("an array");
        for (r, d) in results.iter().zip(diags) {
            assert_eq!(r["ruleId"], d["code"], "{name}");
            let rule = &rules[r["ruleIndex"].as_u64().expect("a number") as usize];
            assert_eq!(rule["id"], d["code"], "{name}: ruleIndex points at another rule");
            assert!(
                rule["shortDescription"]["text"]
                    .as_str()
                    .is_some_and(|t| t.len() > 5),
                "{name}: {rule}"
            );
            assert_eq!(r["level"], d["severity"], "{name}");
            assert!(r["message"]["text"]
                .as_str()
                .expect("a string")
                .starts_with(d["message"].as_str().expect("a string")));
            if d["file"].is_string() {
                let loc = &r["locations"][0]["physicalLocation"];
                assert_eq!(loc["region"]["startLine"], d["line"], "{name}");
                assert_eq!(loc["region"]["startColumn"], d["column"], "{name}");
                assert!(
                    loc["artifactLocation"]["uri"]
                        .as_str()
                        .expect("a string")
                        .ends_with(".moat"),
                    "{name}"
                );
            }
            let related = d["related"].as_array().map_or(0, Vec::len);
            assert_eq!(
                r["relatedLocations"].as_array().map_or(0, Vec::len),
                related,
                "{name}: related locations"
            );
        }
        logs.push((name, sarif));
    }
    assert!(logs.len() >= 30, "the bad fixtures were not found");
    // The allow that crosses a forbid points at the forbid as a related location.
    let e007 = logs
        .iter()
        .find(|(n, _)| n.starts_with("E007"))
        .expect("file I/O");
    let log: Value = serde_json::from_str(&e007.1).expect("well-formed output");
    let r = &log["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "E007");
    assert!(!r["relatedLocations"].as_array().expect("an array").is_empty());
    match schema_errors(&logs) {
        Ok(errors) => assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n")),
        Err(why) => skip(&why),
    }
}

#[test]
fn a_clean_policy_and_a_compile_give_valid_logs() {
    let policy = root().join("policies/mosip.moat");
    let (code, clean, _) = run_json(&["check", "--format", "sarif"], &policy);
    assert_eq!(code, Some(0));
    let log: Value = serde_json::from_str(&clean).expect("well-formed output");
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["runs"][0]["results"].as_array().expect("an array").len(), 0);

    // compile: the log on stdout holds the target's warnings (W005 on a
    // policy whose namespaces reach no DNS), nothing else is on stdout.
    let dir = TempDir::new("sarif-compile");
    let src = dir.path().join("nodns.moat");
    std::fs::write(
        &src,
        "zone app : militarised { namespace app service api { pods app=api port http tcp/80 } }\n\
         zone web : demilitarised { namespace web service ui { pods app=ui port http tcp/80 } }\n\
         allow web.ui -> app.api : http\n",
    )
    .expect("file I/O");
    let out = moat()
        .args(["compile", "--target", "k8s", "--format", "sarif", "--out"])
        .arg(dir.path().join("out"))
        .arg(&src)
        .output()
        .expect("the command runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compiled = String::from_utf8(out.stdout).expect("well-formed output");
    let log: Value = serde_json::from_str(&compiled).expect("well-formed output");
    let ids: Vec<&str> = log["runs"][0]["results"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| r["ruleId"].as_str().expect("a string"))
        .collect();
    assert!(ids.contains(&"W005"), "{ids:?}");
    assert!(dir.path().join("out/k8s/app.yaml").is_file());

    match schema_errors(&[("mosip".into(), clean), ("compile".into(), compiled)]) {
        Ok(errors) => assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n")),
        Err(why) => skip(&why),
    }
}

#[test]
fn sarif_is_refused_where_stdout_is_data() {
    let policy = root().join("policies/mosip.moat");
    // compile without --out lists the artefacts on stdout.
    let (code, _, err) = run_json(&["compile", "--target", "k8s", "--format", "sarif"], &policy);
    assert_eq!(code, Some(2));
    assert!(err.contains("--out"), "{err}");
    // matrix prints its data on stdout; its diagnostics go to stderr.
    let (code, _, err) = run_json(&["matrix", "--diagnostics", "sarif"], &policy);
    assert_eq!(code, Some(2));
    assert!(err.contains("moat check"), "{err}");
}

/// `moat drift --format sarif`: a result per drift row, in both directions,
/// located at the live rule (added) or at the allow it lacks (removed).
#[test]
fn drift_rows_are_results_located_at_the_live_rule_or_the_allow() {
    let policy = "fixtures/live/policy.moat";
    let drift = |live: &str| {
        let out = moat()
            .args(["drift", policy, "--live", live, "--format", "sarif"])
            .current_dir(root())
            .output()
            .expect("the command runs");
        let text = String::from_utf8(out.stdout).expect("well-formed output");
        (out.status.code(), text)
    };
    let (code, both) = drift("iptables:fixtures/live/good/remainder-only.rules");
    assert_eq!(code, Some(1), "drift exits 1 when it finds rows");
    let log: Value = serde_json::from_str(&both).expect("well-formed output");
    let run = &log["runs"][0];
    let results = run["results"].as_array().expect("an array");
    let by_rule = |id: &str| -> Vec<&Value> { results.iter().filter(|r| r["ruleId"] == id).collect() };
    let (added, removed) = (by_rule("drift-added"), by_rule("drift-removed"));
    assert_eq!((added.len(), removed.len()), (1, 2), "{both}");
    let rules = run["tool"]["driver"]["rules"].as_array().expect("an array");
    for r in results {
        let rule = &rules[r["ruleIndex"].as_u64().expect("a number") as usize];
        assert_eq!(rule["id"], r["ruleId"]);
        assert!(
            rule["help"]["text"].as_str().is_some_and(|t| t.len() > 20),
            "{rule}"
        );
    }
    // The extra opening is located at line 8 of the live dump, the rule that lets it through.
    let loc = &added[0]["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "fixtures/live/good/remainder-only.rules"
    );
    assert_eq!(loc["region"]["startLine"], 8);
    assert_eq!(added[0]["properties"]["partial"], true);
    assert_eq!(
        added[0]["level"], "warning",
        "out of a militarised zone is a warning"
    );
    // What the live state blocks is located at the allow it does not honour.
    let lines: Vec<&Value> = removed
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            assert_eq!(loc["artifactLocation"]["uri"], policy);
            &loc["region"]["startLine"]
        })
        .collect();
    assert_eq!(lines, [9, 11]);

    // An opening from the internet into the militarised zone, across a
    // forbid: an error, with the forbid as a related location.
    let tmp = TempDir::new("sarif-drift");
    let forbid_policy = tmp.path().join("policy.moat");
    let text = std::fs::read_to_string(root().join(policy)).expect("the policy");
    std::fs::write(
        &forbid_policy,
        format!("{text}forbid internet -> mz : any \"the core stays inside\"\n"),
    )
    .expect("file I/O");
    let rules_file = tmp.path().join("gateway.rules");
    std::fs::write(
        &rules_file,
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A FORWARD -d 10.2.0.5/32 -p tcp -m tcp --dport 5432 -j ACCEPT\nCOMMIT\n",
    )
    .expect("file I/O");
    let out = moat()
        .arg("drift")
        .arg(&forbid_policy)
        .arg("--live")
        .arg(format!("iptables:{}", rules_file.display()))
        .args(["--format", "sarif"])
        .output()
        .expect("the command runs");
    assert_eq!(out.status.code(), Some(1));
    let opened = String::from_utf8(out.stdout).expect("well-formed output");
    let log: Value = serde_json::from_str(&opened).expect("well-formed output");
    let into_mz: Vec<&Value> = log["runs"][0]["results"]
        .as_array()
        .expect("an array")
        .iter()
        .filter(|r| r["ruleId"] == "drift-added" && r["properties"]["from"] == "internet")
        .collect();
    assert_eq!(into_mz.len(), 1, "{opened}");
    assert_eq!(into_mz[0]["level"], "error");
    let related = into_mz[0]["relatedLocations"]
        .as_array()
        .expect("the forbid is related");
    assert_eq!(
        related[0]["physicalLocation"]["region"]["startLine"], 12,
        "{opened}"
    );

    // Every log, with a W013 warning among the results too, is valid SARIF.
    let (_, none) = drift("iptables:fixtures/live/good/unmodelled.rules");
    assert!(
        none.contains("\"ruleId\": \"W013\""),
        "the reader's warnings are results: {none}"
    );
    match schema_errors(&[
        ("drift".into(), both),
        ("forbid".into(), opened),
        ("unmodelled".into(), none),
    ]) {
        Ok(errors) => assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n")),
        Err(why) => skip(&why),
    }
}
