//! Smoke tests of the benchmark inputs (docs/performance.md): the generated
//! policy checks and answers its query, Aerleon accepts the equivalent
//! policy, and the bench script's helpers turn raw figures into tables. No
//! timing is asserted here; the benchmarks run with `scripts/bench.sh`.

mod common;

use common::{moat, root, skip, TempDir};
use moat::gen::bench::{generate, Shape};
use std::path::Path;
use std::process::Command;

fn small() -> Shape {
    Shape {
        zones: 20,
        cidrs: 2,
        services: 30,
        port_groups: 10,
        allows: 400,
        ..Shape::default()
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

#[test]
fn generated_policy_checks_and_its_query_is_allowed() {
    let g = generate(&small());
    let t = TempDir::new("perf-gen");
    write(t.path(), "policy.moat", &g.moat);
    let p = t.path().join("policy.moat");
    let check = moat()
        .args(["check", "--format", "json"])
        .arg(&p)
        .output()
        .expect("run moat");
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let diags: serde_json::Value = serde_json::from_slice(&check.stdout).expect("json diagnostics");
    assert!(diags
        .as_array()
        .expect("array")
        .iter()
        .all(|d| d["severity"] != "error"));

    let (from, to, port) = &g.query;
    let q = moat()
        .arg("query")
        .arg(&p)
        .args(["--from", from, "--to", to, "--port", port])
        .output()
        .expect("run moat query");
    let out = String::from_utf8_lossy(&q.stdout);
    assert_eq!(q.status.code(), Some(0), "{out}");
    assert!(out.starts_with("allow"), "{out}");

    // the diff input: 1% of the allows differ, the zones do not
    let v2 = generate(&Shape {
        mutate_percent: 1,
        ..small()
    });
    let allows = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("allow "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (a, b) = (allows(&g.moat), allows(&v2.moat));
    assert_eq!(a.len(), b.len());
    let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    assert!((1..=4).contains(&differ), "{differ} of 400 allows differ");
    let zones = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("allow ") && !l.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(zones(&g.moat), zones(&v2.moat));
}

#[test]
fn aerleon_compiles_the_equivalent_policy() {
    let venv = root().join(".venv-bench/bin");
    if !venv.join("aclgen").is_file() {
        return skip("Aerleon is not installed in .venv-bench (scripts/ci/install-perf.sh)");
    }
    let s = Shape {
        allows: 60,
        ..small()
    };
    let g = generate(&s);
    let t = TempDir::new("perf-aerleon");
    let a = t.path();
    write(a, "def/NETWORK.net", &g.networks);
    write(a, "def/SERVICES.svc", &g.services);
    write(a, "pol/iptables.pol", &g.iptables_pol);
    write(a, "pol/k8s.pol", &g.k8s_pol);
    for target in ["iptables", "k8s"] {
        let out = a.join(format!("out-{target}"));
        std::fs::create_dir_all(&out).expect("mkdir");
        let run = Command::new(venv.join("aclgen"))
            .arg(format!("--base_directory={}", a.join("pol").display()))
            .arg(format!("--definitions_directory={}", a.join("def").display()))
            .arg(format!(
                "--policy_file={}",
                a.join(format!("pol/{target}.pol")).display()
            ))
            .arg(format!("--output_directory={}", out.display()))
            .arg("--max_renderers=1")
            .output()
            .expect("run aclgen");
        assert!(
            run.status.success(),
            "aclgen {target}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text: String = std::fs::read_dir(&out)
            .expect("output")
            .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
            .collect();
        match target {
            "iptables" => assert!(
                text.lines().filter(|l| l.starts_with("-A ")).count() >= 60,
                "{text}"
            ),
            _ => assert_eq!(text.matches("kind: NetworkPolicy\n").count(), 60, "{text}"),
        }
    }
    // aclcheck answers the same query as `moat query`
    let (_, _, port) = &g.query;
    let (proto, num) = port.split_once('/').expect("proto/port");
    let run = Command::new(venv.join("aclcheck"))
        .arg(format!("--definitions_directory={}", a.join("def").display()))
        .arg(format!("--policy_file={}", a.join("pol/iptables.pol").display()))
        .args([
            "-s",
            &g.query_addrs.0,
            "-d",
            &g.query_addrs.1,
            "--dport",
            num,
            "--proto",
            proto,
        ])
        .output()
        .expect("run aclcheck");
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && out.contains("accept"),
        "{out}{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn bench_script_helpers_make_the_tables() {
    let t = TempDir::new("perf-report");
    let raw = t.path().join("raw");
    let runs = "n\ttool\tcase\trun\twall_s\tcpu_s\trss_kib\texit\n\
        2000\tmoat\tcompile-iptables\t1\t0.050\t0.040\t10240\t0\n\
        2000\tmoat\tcompile-iptables\t2\t0.070\t0.060\t10240\t0\n\
        2000\taerleon\taclgen-iptables\t1\t2.000\t1.900\t70000\t0\n\
        20000\tmoat\tcompile-iptables\t1\t0.400\t0.390\t60000\t0\n\
        20000\taerleon\taclgen-iptables\t1\t20.000\t19.000\t500000\t0\n";
    write(&raw, "runs.tsv", runs);
    // a fake compile output to count
    write(
        t.path(),
        "work/out-iptables/iptables/gateway.v4.rules",
        "*filter\n-A FORWARD -j ACCEPT\n-A FORWARD -j DROP\nCOMMIT\n",
    );
    write(t.path(), "work/out-nftables/nftables/gateway.nft", "table inet moat {\n  set s { type ipv4_addr; elements = { 10.0.0.1 } }\n  chain forward {\n    type filter hook forward priority 0; policy drop;\n    ip saddr @s accept\n  }\n}\n");
    let count = Command::new("python3")
        .arg(root().join("scripts/bench_count.py"))
        .args(["moat", "2000"])
        .arg(t.path().join("work"))
        .output()
        .expect("python3");
    assert!(
        count.status.success(),
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    let counted = String::from_utf8_lossy(&count.stdout).to_string();
    assert!(
        counted.contains("2000\tmoat\tiptables\t1\t") && counted.contains("\t2\t-A lines"),
        "{counted}"
    );
    assert!(
        counted.contains("2000\tmoat\tnftables\t1\t") && counted.contains("\t1\tstatements in chains"),
        "{counted}"
    );
    write(&raw, "rules.tsv", &counted);
    let report = Command::new("python3")
        .arg(root().join("scripts/bench_report.py"))
        .arg(t.path())
        .output()
        .expect("python3");
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let md = String::from_utf8_lossy(&report.stdout);
    // medians: 0.060 s wall at 2,000; ratio 2.0 / 0.06 = 33x
    assert!(
        md.contains("| 2,000 | moat | compile-iptables | 2 | 0.060 | 0.050 | 10 | 0 |"),
        "{md}"
    );
    assert!(
        md.contains("| 2,000 | compile-iptables vs aclgen-iptables | 33x |"),
        "{md}"
    );
    assert!(md.contains("| compile-iptables | 0.82 |"), "{md}");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(root().join("scripts/bench.sh"))
        .status()
        .expect("bash");
    assert!(syntax.success());
}
