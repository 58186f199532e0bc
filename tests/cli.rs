//! CLI contract tests (spec §6): run the built `moat` binary and check exit
//! codes, the JSON shapes of `check` and `matrix`, the table and CSV forms,
//! `query`'s verdicts, several files or a directory as one policy.

mod common;

use common::{moat, root, TempDir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Runs `moat ARGS` in the crate root.
fn run(args: &[&str]) -> Output {
    moat().current_dir(root()).args(args).output().expect("run moat")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("an exit code")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(o)))
}

const EXAMPLE: &str = "fixtures/good/spec-example.moat";
const CELLS: &str = "fixtures/good/spec-cells.moat";

/// A policy with every kind of matrix row: `any`, icmp, icmpv6, ports, ranges.
const ROWS_POLICY: &str = r#"
zone dmz : demilitarised { cidr 10.10.0.0/16
  service web { hosts 10.10.0.10 port http tcp/80 port https tcp/443 port alt tcp/8000-8100 } }
zone mz : militarised { cidr 10.20.0.0/16 }
allow dmz -> dmz.web : http, alt, tcp/443
allow mz -> mz : any
allow mz -> dmz : icmp, icmpv6, udp/53
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, text).expect("write policy");
    p
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// ---- check -------------------------------------------------------------

#[test]
fn check_exit_codes() {
    assert_eq!(code(&run(&["check", EXAMPLE])), 0);
    assert_eq!(code(&run(&["check", CELLS])), 0);
    assert_eq!(code(&run(&["check", "fixtures/bad/E006-internet-to-mz.moat"])), 1);
    // warnings only: 0, and 1 with --deny-warnings
    assert_eq!(
        code(&run(&["check", "fixtures/bad/W003-any-across-zones.moat"])),
        0
    );
    assert_eq!(
        code(&run(&[
            "check",
            "--deny-warnings",
            "fixtures/bad/W003-any-across-zones.moat"
        ])),
        1
    );
    // a missing file, a missing file next to a good one: I/O trouble
    assert_eq!(code(&run(&["check", "no/such/file.moat"])), 2);
    assert_eq!(code(&run(&["check", EXAMPLE, "no/such/file.moat"])), 2);
    // usage: no files, unknown flag, unknown format, unknown command
    assert_eq!(code(&run(&["check"])), 2);
    assert_eq!(code(&run(&["check", "--frobnicate", EXAMPLE])), 2);
    assert_eq!(code(&run(&["check", "--format", "xml", EXAMPLE])), 2);
    assert_eq!(code(&run(&["frobnicate"])), 2);
}

#[test]
fn check_missing_file_is_reported_in_json() {
    let o = run(&["check", "--format", "json", "no/such/file.moat"]);
    assert_eq!(code(&o), 2);
    let v = json(&o);
    let arr = v.as_array().expect("an array");
    assert_eq!(arr.len(), 1, "{v}");
    assert_eq!(arr[0]["severity"], "error");
    assert!(
        arr[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no/such/file.moat")),
        "{v}"
    );
}

#[test]
fn check_json_shape() {
    let o = run(&[
        "check",
        "--format",
        "json",
        "fixtures/bad/E006-internet-to-mz.moat",
    ]);
    assert_eq!(code(&o), 1);
    let v = json(&o);
    let arr = v.as_array().expect("one JSON array");
    assert_eq!(arr.len(), 2);
    for d in arr {
        let obj = d.as_object().expect("objects");
        for key in ["code", "severity", "message", "file", "line", "column"] {
            assert!(obj.contains_key(key), "missing {key}: {d}");
        }
        assert_eq!(d["code"], "E006");
        assert_eq!(d["severity"], "error");
        assert_eq!(d["file"], "fixtures/bad/E006-internet-to-mz.moat");
        assert_eq!(d["column"], 1);
        assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(arr[0]["line"], 8);
    assert_eq!(arr[1]["line"], 9);
    // a clean policy: an empty array, nothing else on stdout
    let o = run(&["check", "--format", "json", EXAMPLE]);
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o), Value::Array(vec![]));
}

#[test]
fn check_json_column_counts_characters_at_the_right_place() {
    let o = run(&["check", "--format", "json", "fixtures/bad/E002-unknown-name.moat"]);
    let v = json(&o);
    assert_eq!(v[0]["line"], 11);
    assert_eq!(v[0]["column"], 7);
    assert_eq!(v[1]["line"], 12);
    assert_eq!(v[1]["column"], 22);
}

#[test]
fn human_output_has_no_colour_off_a_terminal() {
    let o = run(&["check", "fixtures/bad/E007-allow-meets-forbid.moat"]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.contains("error[E007]"), "{err}");
    assert!(!err.contains('\u{1b}'), "escape codes in piped output: {err:?}");
}

// ---- matrix ------------------------------------------------------------

#[test]
fn matrix_json_shape_is_exactly_the_spec() {
    let t = TempDir::new("cli-matrix");
    let p = write(t.path(), "rows.moat", ROWS_POLICY);
    let o = run(&["matrix", "--format", "json", s(&p)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json(&o);
    let top = v.as_object().expect("an object");
    assert!(top.contains_key("flows"));
    let flows = v["flows"].as_array().expect("flows is an array");
    for f in flows {
        let keys: Vec<&String> = f.as_object().expect("row object").keys().collect();
        assert_eq!(keys.len(), 4, "exactly from, to, protocol, ports: {f}");
        for k in ["from", "to", "protocol", "ports"] {
            assert!(f.get(k).is_some(), "missing {k}: {f}");
        }
    }
    let rows: Vec<(String, String, String, Value)> = flows
        .iter()
        .map(|f| {
            (
                f["from"].as_str().expect("from").into(),
                f["to"].as_str().expect("to").into(),
                f["protocol"].as_str().expect("protocol").into(),
                f["ports"].clone(),
            )
        })
        .collect();
    let r = |f: &str, t: &str, p: &str, ports: Value| (f.to_string(), t.to_string(), p.to_string(), ports);
    let expected = vec![
        r("dmz", "dmz.web", "tcp", "80,443,8000-8100".into()),
        r("dmz.web", "dmz.web", "tcp", "80,443,8000-8100".into()),
        r("mz", "dmz", "icmp", Value::Null),
        r("mz", "dmz", "icmpv6", Value::Null),
        r("mz", "dmz", "udp", "53".into()),
        r("mz", "dmz.web", "icmp", Value::Null),
        r("mz", "dmz.web", "icmpv6", Value::Null),
        r("mz", "dmz.web", "udp", "53".into()),
        r("mz", "mz", "any", Value::Null),
    ];
    assert_eq!(rows, expected);
}

#[test]
fn matrix_json_of_the_spec_example() {
    let o = run(&["matrix", "--format", "json", EXAMPLE]);
    assert_eq!(code(&o), 0);
    let v = json(&o);
    assert_eq!(
        v["flows"],
        serde_json::json!([
            {"from": "dmz.ingress", "to": "mz.kernel", "protocol": "tcp", "ports": "8080"},
            {"from": "internet", "to": "dmz.ingress", "protocol": "tcp", "ports": "443"},
            {"from": "mz.kernel", "to": "mz.postgres", "protocol": "tcp", "ports": "5432"},
        ])
    );
}

#[test]
fn matrix_csv_and_table_shapes() {
    let t = TempDir::new("cli-matrix-csv");
    let p = write(t.path(), "rows.moat", ROWS_POLICY);
    let o = run(&["matrix", "--format", "csv", s(&p)]);
    assert_eq!(code(&o), 0);
    let csv = stdout(&o);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "from,to,protocol,ports");
    assert_eq!(lines[1], "dmz,dmz.web,tcp,\"80,443,8000-8100\"");
    assert!(lines.contains(&"mz,mz,any,"), "{csv}");
    assert!(lines.contains(&"mz,dmz,icmp,"), "{csv}");
    assert_eq!(lines.len(), 10, "header and nine rows:\n{csv}");

    let o = run(&["matrix", "--format", "table", s(&p)]);
    assert_eq!(code(&o), 0);
    let table = stdout(&o);
    let lines: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["FROM", "TO", "PROTO", "PORTS"]);
    assert_eq!(lines[1], ["dmz", "dmz.web", "tcp", "80,443,8000-8100"]);
    assert_eq!(lines.len(), 10, "{table}");
    // the default format is the table
    assert_eq!(stdout(&run(&["matrix", s(&p)])), table);
}

#[test]
fn matrix_exit_codes() {
    assert_eq!(
        code(&run(&["matrix", "fixtures/bad/E006-internet-to-mz.moat"])),
        1
    );
    assert_eq!(code(&run(&["matrix", "no/such/file.moat"])), 2);
    assert_eq!(code(&run(&["matrix", "--format", "yaml", EXAMPLE])), 2);
    // a policy with errors prints no matrix
    assert_eq!(
        stdout(&run(&[
            "matrix",
            "--format",
            "json",
            "fixtures/bad/E006-internet-to-mz.moat"
        ])),
        ""
    );
}

// ---- several files, directories ----------------------------------------

/// The spec example split into declarations and rules.
fn split_example(dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(root().join(EXAMPLE)).expect("read example");
    let cut = text.find("allow internet").expect("the allows");
    (
        write(dir, "a-zones.moat", &text[..cut]),
        write(dir, "b-rules.moat", &text[cut..]),
    )
}

#[test]
fn several_files_form_one_policy() {
    let t = TempDir::new("cli-several");
    let (zones, rules) = split_example(t.path());
    let whole = stdout(&run(&["matrix", "--format", "json", EXAMPLE]));
    let o = run(&["matrix", "--format", "json", s(&zones), s(&rules)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), whole);
    // in either order
    assert_eq!(
        stdout(&run(&["matrix", "--format", "json", s(&rules), s(&zones)])),
        whole
    );
    assert_eq!(code(&run(&["check", s(&zones), s(&rules)])), 0);
    // the rules alone name unknown zones
    let o = run(&["check", "--format", "json", s(&rules)]);
    assert_eq!(code(&o), 1);
    assert!(json(&o)
        .as_array()
        .expect("array")
        .iter()
        .all(|d| d["code"] == "E002"));
    // the zones alone are unused (warnings only)
    let o = run(&["check", "--format", "json", s(&zones)]);
    assert_eq!(code(&o), 0);
    assert!(json(&o)
        .as_array()
        .expect("array")
        .iter()
        .all(|d| d["code"] == "W001"));
}

#[test]
fn a_directory_is_every_moat_file_below_it() {
    let t = TempDir::new("cli-dir");
    let (_, rules) = split_example(t.path());
    // move the rules one level down, and add a file that is not a policy
    let sub = t.path().join("rules");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::rename(&rules, sub.join("b-rules.moat")).expect("move");
    write(t.path(), "README.txt", "not a policy {{{");
    let whole = stdout(&run(&["matrix", "--format", "json", EXAMPLE]));
    let o = run(&["matrix", "--format", "json", s(t.path())]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), whole);
    assert_eq!(code(&run(&["check", s(t.path())])), 0);
    // an empty directory is trouble
    let empty = TempDir::new("cli-empty");
    assert_eq!(code(&run(&["check", s(empty.path())])), 2);
}

#[test]
fn includes_are_relative_to_the_including_file_and_read_once() {
    let t = TempDir::new("cli-include");
    let text = std::fs::read_to_string(root().join(EXAMPLE)).expect("read example");
    let cut = text.find("allow internet").expect("the allows");
    write(t.path(), "common/zones.moat", &text[..cut]);
    let main = write(
        t.path(),
        "main.moat",
        &format!("include \"common/zones.moat\"\n{}", &text[cut..]),
    );
    // the same file named twice (directly and through the include) is one copy: no E003
    let o = run(&[
        "check",
        "--format",
        "json",
        s(&main),
        s(&t.path().join("common/zones.moat")),
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let whole = stdout(&run(&["matrix", "--format", "json", EXAMPLE]));
    assert_eq!(stdout(&run(&["matrix", "--format", "json", s(&main)])), whole);
}

#[test]
fn include_cycle_names_files_as_given() {
    let o = run(&[
        "check",
        "--format",
        "json",
        "fixtures/bad/E014-include-cycle.moat",
    ]);
    let v = json(&o);
    let msg = v[0]["message"].as_str().expect("a message");
    let abs = std::fs::canonicalize(root()).expect("root");
    assert!(
        !msg.contains(&abs.display().to_string()),
        "absolute paths in: {msg}"
    );
    assert!(msg.contains("fixtures/bad/includes/cycle-a.moat"), "{msg}");
}

// ---- query -------------------------------------------------------------

#[test]
fn query_allow_deny_and_trouble() {
    let q = |from: &str, to: &str, port: &str| {
        run(&["query", EXAMPLE, "--from", from, "--to", to, "--port", port])
    };
    // allowed: exit 0, `allow` first, then the allow's file:line
    let o = q("internet", "dmz.ingress", "tcp/443");
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert_eq!(out.lines().next(), Some("allow"));
    assert!(out.contains("spec-example.moat:26"), "{out}");
    // by IP address, placed in its atom (most specific range)
    let o = q("203.0.113.9", "10.10.0.11", "tcp/443");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let o = q("10.20.1.77", "10.20.5.10", "tcp/5432");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // denied by a forbid: exit 1, names the forbid's line
    let o = q("dmz", "mz.postgres", "tcp/5432");
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert_eq!(out.lines().next(), Some("deny"));
    assert!(out.contains("spec-example.moat:29"), "{out}");
    // denied by default: wrong port, reverse direction
    assert_eq!(code(&q("internet", "dmz.ingress", "tcp/80")), 1);
    assert_eq!(
        stdout(&q("internet", "dmz.ingress", "tcp/80")).lines().next(),
        Some("deny")
    );
    assert_eq!(code(&q("dmz.ingress", "internet", "tcp/443")), 1);
    assert_eq!(code(&q("mz.kernel", "dmz.ingress", "icmp")), 1);
    // trouble: unknown endpoint, bad port, missing file, policy with errors
    assert_eq!(code(&q("nowhere", "dmz.ingress", "tcp/443")), 2);
    assert_eq!(code(&q("internet", "dmz.ingress", "tcp/99999")), 2);
    assert_eq!(code(&q("internet", "dmz.ingress", "banana")), 2);
    assert_eq!(
        code(&run(&[
            "query",
            "no/such.moat",
            "--from",
            "a",
            "--to",
            "b",
            "--port",
            "tcp/1"
        ])),
        2
    );
    let bad = "fixtures/bad/E006-internet-to-mz.moat";
    assert_eq!(
        code(&run(&[
            "query",
            bad,
            "--from",
            "internet",
            "--to",
            "mz.kernel",
            "--port",
            "tcp/8080"
        ])),
        2
    );
    // usage: a missing --port
    assert_eq!(
        code(&run(&[
            "query",
            EXAMPLE,
            "--from",
            "internet",
            "--to",
            "dmz.ingress"
        ])),
        2
    );
}

#[test]
fn query_cells_and_several_files() {
    let q = |from: &str, to: &str, port: &str| {
        code(&run(&[
            "query", CELLS, "--from", from, "--to", to, "--port", port,
        ]))
    };
    assert_eq!(q("cell3.dmz.regproc", "cell3.mz.regproc", "tcp/8080"), 0);
    assert_eq!(q("cell3.dmz.regproc", "cell2.mz.regproc", "tcp/8080"), 1);
    assert_eq!(q("cell4.mz.regproc", "shared.hsm", "tcp/5666"), 0);
    let t = TempDir::new("cli-query-split");
    let (zones, rules) = split_example(t.path());
    let o = run(&[
        "query",
        s(&zones),
        s(&rules),
        "--from",
        "dmz.ingress",
        "--to",
        "mz.kernel",
        "--port",
        "tcp/8080",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("b-rules.moat:2"), "{}", stdout(&o));
}

// ---- compile -----------------------------------------------------------

#[test]
fn compile_with_an_unknown_target_is_usage_trouble() {
    let o = run(&["compile", EXAMPLE, "--target", "cisco"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("cisco"), "{}", stderr(&o));
    assert_eq!(code(&run(&["compile", EXAMPLE, "--target", "k8s,cisco"])), 2);
    assert_eq!(code(&run(&["compile", EXAMPLE])), 2, "--target is required");
}

#[test]
fn compile_of_a_bad_policy_exits_1_and_writes_nothing() {
    let t = TempDir::new("cli-compile-bad");
    let out = t.path().join("out");
    let o = run(&[
        "compile",
        "fixtures/bad/E006-internet-to-mz.moat",
        "--target",
        "all",
        "--out",
        s(&out),
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        !out.exists() || std::fs::read_dir(&out).expect("read out").next().is_none(),
        "output written for a bad policy"
    );
}

#[test]
fn query_places_addresses_by_the_most_specific_range() {
    let hand = "fixtures/good/hand-matrix.moat";
    let q =
        |from: &str, to: &str, port: &str| run(&["query", hand, "--from", from, "--to", to, "--port", port]);
    // 10.30.0.9 is in ops, 10.20.0.5 is mz.db: allowed by lines 41 and 42 (tcp 80-95)
    let o = q("10.30.0.9", "10.20.0.5", "tcp/85");
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("hand-matrix.moat:41"), "{}", stdout(&o));
    let o = q("10.30.0.9", "10.20.0.5", "tcp/93");
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("hand-matrix.moat:42"), "{}", stdout(&o));
    // 10.30.1.9 is outside ops' /24: the internet (carve-out), which may not reach mz
    assert_eq!(code(&q("10.30.1.9", "10.20.0.5", "tcp/85")), 1);
    // a remainder address of dmz is not dmz.web
    assert_eq!(code(&q("8.8.8.8", "10.10.0.10", "tcp/8088")), 0);
    assert_eq!(code(&q("8.8.8.8", "10.10.0.11", "tcp/8088")), 1);
    // cells: an address of cell 2's gateway
    assert_eq!(code(&q("10.65.128.10", "10.65.0.10", "tcp/8080")), 0);
    assert_eq!(code(&q("10.65.128.10", "10.64.0.10", "tcp/8080")), 1);
    // IPv6 is in no atom of this IPv4-only policy: trouble, not a verdict
    assert_eq!(code(&q("fd00::1", "10.20.0.5", "tcp/85")), 2);
}

#[test]
fn every_good_fixture_checks_clean_of_errors() {
    let mut n = 0;
    for e in std::fs::read_dir(root().join("fixtures/good"))
        .expect("fixtures/good")
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "moat") {
            let o = run(&["check", "--format", "json", s(&p)]);
            assert_eq!(code(&o), 0, "{}: {}", p.display(), stdout(&o));
            assert!(json(&o)
                .as_array()
                .expect("array")
                .iter()
                .all(|d| d["severity"] == "warning"));
            n += 1;
        }
    }
    assert!(n >= 3);
}

#[test]
fn output_is_byte_identical_across_runs() {
    for args in [
        &["matrix", "--format", "json", CELLS][..],
        &["matrix", "--format", "csv", "fixtures/good/hand-matrix.moat"][..],
        &[
            "check",
            "--format",
            "json",
            "fixtures/bad/E004-zone-overlap.moat",
            "fixtures/bad/E002-unknown-name.moat",
        ][..],
        &[
            "query",
            "--format",
            "json",
            EXAMPLE,
            "--from",
            "dmz",
            "--to",
            "mz.postgres",
            "--port",
            "tcp/5432",
        ][..],
    ] {
        let a = run(args);
        let b = run(args);
        assert_eq!(a.stdout, b.stdout, "{args:?}");
        assert_eq!(a.stderr, b.stderr, "{args:?}");
        assert!(!a.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_closed_pipe_does_not_make_moat_panic() {
    // `moat matrix … | head -1`: the reader goes away; moat must not panic (exit 101).
    use std::io::Read;
    use std::process::Stdio;
    // Far more output than a pipe buffers (64 KiB), so moat is still writing when the reader leaves.
    let dir = TempDir::new("pipe");
    let big = dir.path().join("big.moat");
    let opts = moat::gen::GenOptions {
        zones: 60,
        allows: 4000,
        ..Default::default()
    };
    std::fs::write(&big, moat::gen::random_policy(3, &opts)).expect("write policy");
    let mut child = common::moat()
        .args(["matrix"])
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::null()) // hundreds of W002 warnings; a full stderr pipe would block moat
        .spawn()
        .expect("run moat");
    let mut first = [0u8; 16];
    let mut stdout = child.stdout.take().expect("stdout");
    stdout.read_exact(&mut first).expect("read the first bytes");
    drop(stdout);
    let status = child.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(0),
        "moat must exit 0, not panic (101), when its reader goes away"
    );
}

// ---- large outputs: warning limit, streaming compile, parallel diff -------

/// `n` zones that no allow uses: `n` W001 warnings, no error.
fn unused_zones(n: usize) -> String {
    let mut p = String::from("zone a : demilitarised { cidr 10.0.0.0/24 }\nallow a -> a : tcp/22\n");
    for i in 0..n {
        p.push_str(&format!("zone u{i} : demilitarised {{ cidr 10.1.{i}.0/24 }}\n"));
    }
    p
}

#[test]
fn human_output_shows_twenty_warnings_per_code_and_counts_the_rest() {
    let t = TempDir::new("cli-warning-limit");
    let p = write(t.path(), "many.moat", &unused_zones(25));
    let o = run(&["check", s(&p)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.matches("warning[W001]: zone `u").count(), 20, "{err}");
    assert!(
        err.contains("warning[W001]: 5 more not shown (--all-warnings shows every one"),
        "{err}"
    );
    assert!(
        err.trim_end().ends_with("0 errors, 25 warnings"),
        "the summary counts every warning: {err}"
    );

    let all = stderr(&run(&["check", s(&p), "--all-warnings"]));
    assert_eq!(all.matches("warning[W001]: zone `u").count(), 25, "{all}");
    assert!(!all.contains("more not shown"), "{all}");

    let j = json(&run(&["check", s(&p), "--format", "json"]));
    assert_eq!(
        j.as_array().map(Vec::len),
        Some(25),
        "JSON lists every warning: {j}"
    );
}

#[test]
fn a_target_that_fails_after_another_was_staged_writes_nothing() {
    // k8s cannot express ICMP (E017) while iptables can: the iptables files are
    // staged first (or meanwhile, on another thread), then thrown away.
    let t = TempDir::new("cli-compile-partial");
    let p = write(
        t.path(),
        "icmp.moat",
        "zone a : demilitarised { cidr 10.1.0.0/24 namespace a }\nzone b : demilitarised { cidr 10.2.0.0/24 namespace b }\nallow a -> b : icmp\n",
    );
    let out = t.path().join("new").join("out");
    let o = run(&["compile", s(&p), "--target", "iptables,k8s", "--out", s(&out)]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("E017"), "{}", stderr(&o));
    assert!(
        !t.path().join("new").exists(),
        "an output directory (or its parent) was created for a failed compile"
    );
    let left: Vec<_> = std::fs::read_dir(t.path())
        .expect("read tmp")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "only the policy remains, no staging directory: {left:?}"
    );

    // the same targets on a policy both can express: both written
    let ok = write(
        t.path(),
        "tcp.moat",
        &std::fs::read_to_string(&p)
            .expect("read")
            .replace("icmp", "tcp/443"),
    );
    let o = run(&["compile", s(&ok), "--target", "iptables,k8s", "--out", s(&out)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(out.join("k8s").is_dir() && out.join("iptables").is_dir());
    let left: Vec<_> = std::fs::read_dir(t.path().join("new"))
        .expect("read new")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "no staging directory left beside the output: {left:?}"
    );
}

#[test]
fn diff_checks_both_sides_and_reports_them_old_first() {
    let t = TempDir::new("cli-diff-both-bad");
    let bad_old = write(
        t.path(),
        "old.moat",
        "zone a : demilitarised { cidr 10.0.0.0/24 }\nallow a -> nowhere : tcp/1\n",
    );
    let bad_new = write(
        t.path(),
        "new.moat",
        "zone b : demilitarised { cidr 10.0.0.0/24 }\nallow b -> elsewhere : tcp/1\n",
    );
    let o = run(&["diff", s(&bad_old), s(&bad_new)]);
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    let (old, new) = (
        err.find("the old policy does not check"),
        err.find("the new policy does not check"),
    );
    assert!(matches!((old, new), (Some(a), Some(b)) if a < b), "{err}");
    assert!(
        err.find("nowhere") < old && old < err.find("elsewhere"),
        "each side's diagnostics come before its verdict: {err}"
    );
}

// ---- query --cache ---------------------------------------------------------

/// The questions of `query_allow_deny_and_trouble`: allowed, by address,
/// denied by a forbid, denied by default, unknown endpoint.
const QUESTIONS: [[&str; 3]; 7] = [
    ["internet", "dmz.ingress", "tcp/443"],
    ["203.0.113.9", "10.10.0.11", "tcp/443"],
    ["10.20.1.77", "10.20.5.10", "tcp/5432"],
    ["dmz", "mz.postgres", "tcp/5432"],
    ["internet", "dmz.ingress", "tcp/80"],
    ["dmz.ingress", "internet", "tcp/443"],
    ["nowhere", "dmz.ingress", "tcp/443"],
];

fn ask(policy: &Path, cache: Option<&Path>, [from, to, port]: [&str; 3], format: &str) -> Output {
    let mut args = vec![
        "query",
        s(policy),
        "--from",
        from,
        "--to",
        to,
        "--port",
        port,
        "--format",
        format,
    ];
    if let Some(c) = cache {
        args.extend(["--cache", s(c)]);
    }
    run(&args)
}

#[test]
fn a_query_cache_answers_exactly_as_checking_does() {
    let t = TempDir::new("cli-query-cache");
    let policy = write(
        t.path(),
        "p.moat",
        &std::fs::read_to_string(root().join(EXAMPLE)).expect("example"),
    );
    let cache = t.path().join("q.cache");
    for (i, q) in QUESTIONS.iter().enumerate() {
        for format in ["text", "json"] {
            let plain = ask(&policy, None, *q, format);
            let cold = ask(&policy, Some(&cache), *q, format);
            assert!(
                cache.is_file() || code(&plain) == 2,
                "question {i}: no cache written"
            );
            let warm = ask(&policy, Some(&cache), *q, format);
            for (name, o) in [("cold", &cold), ("warm", &warm)] {
                assert_eq!(
                    (code(o), stdout(o)),
                    (code(&plain), stdout(&plain)),
                    "question {i} {format} ({name})\n{}",
                    stderr(o)
                );
            }
        }
    }
}

#[test]
fn a_query_cache_is_read_not_rebuilt_while_the_inputs_are_unchanged() {
    let t = TempDir::new("cli-query-cache-used");
    let policy = write(
        t.path(),
        "p.moat",
        &std::fs::read_to_string(root().join(EXAMPLE)).expect("example"),
    );
    let cache = t.path().join("q.cache");
    let q = QUESTIONS[0];
    assert!(stdout(&ask(&policy, Some(&cache), q, "text")).contains("p.moat:26"));
    // Tamper with the cited location inside the cache (same length): an answer
    // that shows it came from the cache, not from checking the policy again.
    let bytes = std::fs::read(&cache).expect("read cache");
    let (from, to) = (b"p.moat:26".as_slice(), b"p.moat:99".as_slice());
    let at = bytes
        .windows(from.len())
        .rposition(|w| w == from)
        .expect("the allow's location is in the cache");
    let mut tampered = bytes.clone();
    tampered[at..at + to.len()].copy_from_slice(to);
    std::fs::write(&cache, &tampered).expect("write cache");
    assert!(
        stdout(&ask(&policy, Some(&cache), q, "text")).contains("p.moat:99"),
        "the cache was not used"
    );

    // An edit to the policy (here: the line moves down) makes it stale: checked again, rebuilt.
    let text = std::fs::read_to_string(&policy).expect("read policy");
    std::fs::write(&policy, format!("# moved\n{text}")).expect("edit policy");
    assert!(
        stdout(&ask(&policy, Some(&cache), q, "text")).contains("p.moat:27"),
        "a stale cache answered"
    );
    assert_ne!(
        std::fs::read(&cache).expect("read cache"),
        tampered,
        "the cache was not rebuilt"
    );
    assert!(stdout(&ask(&policy, Some(&cache), q, "text")).contains("p.moat:27"));
}

#[test]
fn a_query_cache_follows_directories_and_survives_damage() {
    let t = TempDir::new("cli-query-cache-dir");
    let dir = t.path().join("policy");
    let (a, _b) = split_example(&dir);
    let cache = t.path().join("q.cache");
    let q = ["internet", "dmz.ingress", "tcp/443"];
    let first = stdout(&ask(&dir, Some(&cache), q, "text"));
    assert!(first.starts_with("allow"), "{first}");
    // a new file in the directory input: stale (here it adds an error, so exit 2)
    write(&dir, "extra.moat", "allow internet -> mz.kernel : tcp/1\n");
    assert_eq!(
        code(&ask(&dir, Some(&cache), q, "text")),
        2,
        "the cache hid a file added to the directory"
    );
    std::fs::remove_file(dir.join("extra.moat")).expect("remove");
    assert_eq!(stdout(&ask(&dir, Some(&cache), q, "text")), first);
    // a damaged cache: a warning, the right answer, a rebuilt cache
    let len = std::fs::metadata(&cache).expect("cache").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cache)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let o = ask(&dir, Some(&cache), q, "text");
    assert_eq!((code(&o), stdout(&o)), (0, first.clone()), "{}", stderr(&o));
    assert!(stderr(&o).contains("damaged"), "{}", stderr(&o));
    assert_eq!(std::fs::metadata(&cache).expect("cache").len(), len, "rebuilt");
    // a policy with errors writes no cache
    let bad_cache = t.path().join("bad.cache");
    let bad = root().join("fixtures/bad/E006-internet-to-mz.moat");
    assert_eq!(
        code(&ask(
            &bad,
            Some(&bad_cache),
            ["internet", "mz.kernel", "tcp/8080"],
            "text"
        )),
        2
    );
    assert!(!bad_cache.exists());
    let _ = a;
}
