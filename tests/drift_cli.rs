//! `moat drift` and `moat import` without the kernel: every bad live input
//! gives a coded error with file and line (snapshots of the rendered
//! diagnostics), unmodelled constructs give W013, what import cannot name
//! gives W014, a 50 MB dump is an error (never a panic), and every example
//! policy's compiled artefacts, read as they were written, show no drift.

mod common;

use std::path::Path;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = common::moat()
        .args(args)
        .current_dir(common::root())
        .output()
        .expect("run moat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const POLICY: &str = "fixtures/live/policy.moat";

fn drift(live: &[&str]) -> (i32, String, String) {
    let mut args = vec!["drift", POLICY];
    for l in live {
        args.extend(["--live", l]);
    }
    run(&args)
}

#[test]
fn bad_live_inputs_are_coded_errors_with_file_and_line() {
    for (name, kind) in [
        ("bad-rules.rules", "iptables"),
        ("unknown-table.rules", "iptables"),
        ("no-commit.rules", "iptables"),
        ("gateway-input.rules", "iptables"),
        ("truncated.json", "nftables"),
        ("truncated.nft", "nftables"),
    ] {
        let arg = format!("{kind}:fixtures/live/bad/{name}");
        let (code, out, err) = drift(&[&arg]);
        assert_eq!(code, 2, "{name}: exit code\n{err}");
        assert!(out.is_empty(), "{name}: nothing on stdout when the input is bad");
        assert!(
            err.contains(&format!("fixtures/live/bad/{name}:")),
            "{name}: the error names the file and line"
        );
        insta::assert_snapshot!(format!("bad_{}", name.replace(['.', '-'], "_")), err);
    }
}

#[test]
fn bad_live_arguments() {
    let (code, _, err) = drift(&[
        "foo:bar",
        "k8s:fixtures/live/good",
        "iptables:fixtures/live/none.rules",
        "iptables",
    ]);
    assert_eq!(code, 2);
    insta::assert_snapshot!("bad_arguments", err);
}

#[test]
fn unmodelled_constructs_warn_and_err_towards_openings() {
    let (code, out, err) = drift(&["iptables:fixtures/live/good/unmodelled.rules"]);
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!("unmodelled_warnings", err);
    insta::assert_snapshot!("unmodelled_text", out);
    // the interface-restricted ACCEPT is read as matching: web's 443 everywhere
    assert!(
        out.contains("+ dmz.web -> mz.db  tcp/443  [into-militarised]"),
        "{out}"
    );
    let (_, json, _) = run(&[
        "drift",
        POLICY,
        "--live",
        "iptables:fixtures/live/good/unmodelled.rules",
        "--format",
        "json",
    ]);
    insta::assert_snapshot!("unmodelled_json", json);
    let (_, md, _) = run(&[
        "drift",
        POLICY,
        "--live",
        "iptables:fixtures/live/good/unmodelled.rules",
        "--format",
        "markdown",
    ]);
    insta::assert_snapshot!("unmodelled_markdown", md);
}

/// Import writes one allow per live rule (each citing its line), merged
/// over the atom pairs that rule covers alike (a whole zone).
#[test]
fn import_writes_one_allow_per_live_rule() {
    let (code, out, err) = run(&[
        "import",
        "iptables:fixtures/live/good/two-rules.rules",
        "--zones",
        POLICY,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let allows: Vec<&str> = out.lines().filter(|l| l.starts_with("allow ")).collect();
    assert_eq!(
        allows,
        [
            "allow dmz -> mz.db : tcp/5432  # live: fixtures/live/good/two-rules.rules:9",
            "allow dmz.web -> mz.app : tcp/8080  # live: fixtures/live/good/two-rules.rules:7",
            "allow dmz.web -> mz.app : tcp/8443  # live: fixtures/live/good/two-rules.rules:8",
        ],
        "{out}"
    );
}

#[test]
fn import_reports_what_the_zones_cannot_name() {
    let (code, out, err) = run(&[
        "import",
        "iptables:fixtures/live/good/remainder-only.rules",
        "--zones",
        POLICY,
    ]);
    assert_eq!(code, 1, "W014 makes import exit 1");
    assert!(
        err.contains("warning[W014]") && err.contains("10.2.0.100/32"),
        "{err}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("allow ")).count(),
        1,
        "{out}"
    );
    insta::assert_snapshot!("import_partial", format!("{out}\n---\n{err}"));
    let (_, json, _) = run(&[
        "drift",
        POLICY,
        "--live",
        "iptables:fixtures/live/good/remainder-only.rules",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    let d = &v["details"][0];
    assert_eq!(
        (d["change"].as_str(), d["partial"].as_bool()),
        (Some("added"), Some(true))
    );
    assert_eq!(d["addresses"]["from"], serde_json::json!(["10.2.0.100/32"]));
}

#[test]
fn a_50_mb_dump_is_an_error_not_a_panic() {
    let dir = common::TempDir::new("drift-big");
    let mut text = String::from(
        "{\"nftables\": [{\"table\": {\"family\": \"inet\", \"name\": \"f\", \"handle\": 1}},\n",
    );
    let rule = "{\"rule\": {\"family\": \"inet\", \"table\": \"f\", \"chain\": \"forward\", \"handle\": 7, \"expr\": [{\"match\": {\"op\": \"==\", \"left\": {\"payload\": {\"protocol\": \"ip\", \"field\": \"saddr\"}}, \"right\": \"10.1.0.10\"}}, {\"accept\": null}]}},\n";
    while text.len() < 50 << 20 {
        text.push_str(rule);
    }
    let lines = text.lines().count();
    let file = dir.path().join("big.json");
    std::fs::write(&file, &text[..text.len() - 40]).expect("write");
    let arg = format!("nftables:{}", file.display());
    let t = std::time::Instant::now();
    let (code, _, err) = drift(&[&arg]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error[E032]") && err.contains(&format!("big.json:{lines}:")),
        "{}",
        &err[..err.len().min(600)]
    );
    eprintln!(
        "50 MB truncated nft JSON: E032 at its last line in {:.1}s",
        t.elapsed().as_secs_f64()
    );
}

/// Every example policy: `policies/*.moat` and `fixtures/cloud/*.moat`.
fn examples() -> Vec<std::path::PathBuf> {
    let mut v = vec![];
    for dir in ["policies", "fixtures/cloud"] {
        let mut here: Vec<std::path::PathBuf> = std::fs::read_dir(common::root().join(dir))
            .expect("read examples")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "moat"))
            .collect();
        here.sort();
        v.extend(here);
    }
    v
}

/// Every example policy with netfilter output (the others are E046: no
/// on-premise zone with addresses), compiled and read back as written.
#[test]
fn compiled_artefacts_read_back_as_written_show_no_drift() {
    let mut read_back = 0;
    for policy in examples() {
        let name = policy.display().to_string();
        let dir = common::TempDir::new("drift-compiled");
        let (code, _, err) = run(&[
            "compile",
            &name,
            "--target",
            "iptables,nftables",
            "--out",
            dir.path().to_str().expect("path"),
        ]);
        if code != 0 {
            assert!(err.contains("error[E046]"), "{name}: {err}");
            continue;
        }
        for kind in ["iptables", "nftables"] {
            let arg = format!("{kind}:{}", Path::new(dir.path()).join(kind).display());
            let (code, out, err) = run(&["drift", &name, "--live", &arg]);
            assert_eq!(code, 0, "{name} {kind}: {out}\n{err}");
            assert!(out.starts_with("no drift"), "{out}");
        }
        // The gateway file alone, as written (before the load procedure
        // hooks `moat-forward` into FORWARD), speaks for the routed pairs.
        let gateway = Path::new(dir.path()).join("iptables/gateway.v4.rules");
        if gateway.is_file() {
            let arg = format!("iptables:{}", gateway.display());
            let (code, out, err) = run(&["drift", &name, "--live", &arg, "--format", "json"]);
            assert_eq!(code, 0, "{name} gateway: {out}\n{err}");
            let json: serde_json::Value = serde_json::from_str(&out).expect("drift json");
            assert!(
                json["compared"].as_u64().is_some_and(|n| n > 0),
                "{name} gateway: {out}"
            );
        }
        read_back += 1;
    }
    assert!(read_back >= 4, "only {read_back} examples have netfilter output");
}
