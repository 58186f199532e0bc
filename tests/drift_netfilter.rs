//! `moat drift` and `moat import` against the kernel: every example policy is
//! compiled, each ruleset loaded into a network namespace and read back with
//! `iptables-save` / `ip6tables-save` / `nft -j list ruleset` (the kernel's
//! own rendering is what is parsed); drift must be empty and import must
//! reproduce the matrix. Then hand edits of the kind a person makes (an extra
//! ACCEPT, a rule moved above a DROP, a widened CIDR) must give exactly the
//! changed rows, and each row is checked by probing the lab. Needs root, `ip`,
//! `nsenter`, `iptables-restore`, `nft`, `python3`; skips with a reason
//! otherwise (fails under MOAT_FULL_TESTS=1).

mod common;
mod live_support;
mod netfilter_support;

use moat::ir::Ir;
use moat::span::SourceMap;
use netfilter_support::lab::{self, Lab};
use netfilter_support::{compile, ir_of, lab_unavailable};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Command;

/// Runs a tool inside namespace `ns`; its stdout.
fn capture(ns: &str, argv: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .args(argv)
        .output()
        .expect("run nsenter");
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 dump")
}

/// Loads every netfilter artefact into a fresh namespace, one at a time, and
/// writes what the kernel gives back under `dir/iptables/` and `dir/nftables/`.
fn kernel_dumps(arts: &BTreeMap<String, String>, dir: &Path) {
    let lab = Lab::new(&[]);
    let ns = lab.router.clone();
    let src = dir.join("compiled");
    for (path, text) in arts {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write artefact");
        let file = p.display().to_string();
        let name = Path::new(path)
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        lab.flush(&ns);
        let (dump, out) = if path.starts_with("iptables/") && name.ends_with(".v6.rules") {
            if name.starts_with("gateway") {
                lab::in_ns(&ns, &["ip6tables-restore", "--noflush", &file]);
                lab::in_ns(
                    &ns,
                    &[
                        "ip6tables",
                        "-I",
                        "FORWARD",
                        "1",
                        "-j",
                        moat::backend::iptables::GATEWAY_CHAIN,
                    ],
                );
            } else {
                lab::in_ns(&ns, &["ip6tables-restore", &file]);
            }
            (
                capture(&ns, &["ip6tables-save"]),
                dir.join("iptables").join(&name),
            )
        } else if path.starts_with("iptables/") && name.starts_with("gateway") {
            // As docs/netfilter.md loads it: moat's own chains, then the one
            // jump from FORWARD.
            lab::in_ns(&ns, &["iptables-restore", "--noflush", &file]);
            lab::in_ns(
                &ns,
                &[
                    "iptables",
                    "-I",
                    "FORWARD",
                    "1",
                    "-j",
                    moat::backend::iptables::GATEWAY_CHAIN,
                ],
            );
            (capture(&ns, &["iptables-save"]), dir.join("iptables").join(&name))
        } else if path.starts_with("iptables/") {
            lab::in_ns(&ns, &["iptables-restore", &file]);
            (capture(&ns, &["iptables-save"]), dir.join("iptables").join(&name))
        } else {
            lab::in_ns(&ns, &["nft", "-f", &file]);
            let stem = name.trim_end_matches(".nft");
            (
                capture(&ns, &["nft", "-j", "list", "ruleset"]),
                dir.join("nftables").join(format!("{stem}.json")),
            )
        };
        std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
        std::fs::write(out, dump).expect("write dump");
    }
}

/// The live matrix of `args` over `ir` (library call, the command's own path).
fn live(ir: &Ir, args: &[String]) -> moat::live::LiveMatrix {
    let mut sources = SourceMap::new();
    match moat::live::read_all(ir, &mut sources, args) {
        Ok((m, _)) => m,
        Err(e) => panic!("live state does not read: {e:#?}"),
    }
}

fn moat_run(args: &[&str]) -> (i32, String, String) {
    let out = common::moat().args(args).output().expect("run moat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn round_trip_every_example_policy_through_the_kernel() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let mut report = vec![];
    let examples = [
        common::policy("mosip.moat"),
        common::policy("mosip-cells.moat"),
        common::policy("mosip-hybrid.moat"),
        common::root().join("fixtures/cloud/hybrid.moat"),
    ];
    for path in examples {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let text = std::fs::read_to_string(&path).expect("read policy");
        let ir = ir_of(name, &text);
        let dir = common::TempDir::new("drift-rt");
        kernel_dumps(&compile(&ir, false), dir.path());
        let zones = dir.path().join("zones.moat");
        std::fs::write(&zones, live_support::zones_only(&ir_of(name, &text), &text)).expect("write zones");
        for kind in ["iptables", "nftables"] {
            let arg = format!("{kind}:{}", dir.path().join(kind).display());
            let (code, out, err) = moat_run(&[
                "drift",
                path.to_str().expect("path"),
                "--live",
                &arg,
                "--format",
                "json",
            ]);
            assert_eq!(code, 0, "{name} {kind}: drift not empty:\n{out}\n{err}");
            let json: serde_json::Value = serde_json::from_str(&out).expect("drift json");
            assert_eq!(json["added"], serde_json::json!([]));
            assert_eq!(json["removed"], serde_json::json!([]));
            let compared = json["compared"].as_u64().expect("compared");
            assert!(compared > 0, "{name} {kind}: nothing compared");
            // import, append, and the appended policy has exactly the matrix
            // the live state speaks for
            let (code, imported, err) = moat_run(&["import", &arg, "--zones", zones.to_str().expect("path")]);
            // A flow the policy exempts (hybrid.moat's residency waiver) is
            // printed and reported: a ruleset carries no waiver (exit 1, E010).
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error[")).collect();
            let waivers_only = !errors.is_empty() && errors.iter().all(|l| l.starts_with("error[E010]"));
            let exempting = ir.allows.iter().any(|a| a.exempt.is_some());
            assert!(
                code == 0 || (code == 1 && waivers_only && exempting),
                "{name} {kind}: import lost something:\n{err}"
            );
            // The printed allows, appended to the zones (with the policy's
            // waivers given back), have exactly the matrix the live state
            // speaks for (flows of atoms without addresses, which a zone
            // endpoint also names, have no hosts: only those pairs count).
            let mut sources = SourceMap::new();
            let m = match moat::live::read_all(&ir, &mut sources, std::slice::from_ref(&arg)) {
                Ok((m, _)) => m,
                Err(e) => panic!("live state does not read: {e:#?}"),
            };
            let n = live_support::import_reproduces(&ir, &text, &m, &sources, false)
                .unwrap_or_else(|e| panic!("{name} {kind}: {e}"));
            let want = m.values().filter(|f| !f.ports.is_empty()).count();
            let allows = imported.lines().filter(|l| l.starts_with("allow ")).count();
            assert_eq!(
                allows, n,
                "{name} {kind}: moat import printed other allows than the library's"
            );
            report.push(format!(
                "{name} {kind}: {compared} pairs compared, no drift; {want} flows reimported by {allows} allows"
            ));
        }
    }
    for r in report {
        netfilter_support::report(&format!("drift round trip: {r}"));
    }
}

/// The small policy the seeded edits start from.
const EDITED: &str = "\
zone internet : external { cidr 0.0.0.0/0 }
zone dmz : dmz { cidr 10.1.0.0/24
  service web { hosts 10.1.0.10 }
  service mail { hosts 10.1.0.20 } }
zone mz : mz { cidr 10.2.0.0/24
  service db { hosts 10.2.0.5 }
  service app { hosts 10.2.0.6 } }
allow internet -> dmz.web : tcp/443
allow dmz.web -> mz.app : tcp/8080
allow mz.app -> mz.db : tcp/5432
";

/// Lab hosts of the edit tests: (key, address).
const HOSTS: [(usize, &str); 6] = [
    (0, "10.1.0.10"),  // dmz.web
    (1, "10.1.0.20"),  // dmz.mail
    (2, "10.2.0.5"),   // mz.db
    (3, "10.2.0.6"),   // mz.app
    (4, "10.2.0.4"),   // mz (remainder), inside 10.2.0.4/30
    (5, "10.2.0.100"), // mz (remainder), outside it
];

fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Probes tcp connections `(from key, to key, port)` with the gateway loaded
/// from `rules`; true for each that connected.
fn kernel_says(lab: &Lab, rules: &Path, probes: &[(usize, usize, u16)]) -> Vec<bool> {
    kernel_says_with(lab, &[(lab.router.clone(), rules.to_path_buf())], probes)
}

/// [`kernel_says`] with `rules` loaded into each namespace given (all others flushed).
fn kernel_says_with(
    lab: &Lab,
    load: &[(String, std::path::PathBuf)],
    probes: &[(usize, usize, u16)],
) -> Vec<bool> {
    lab.flush(&lab.router);
    for h in lab.hosts.values() {
        lab.flush(&h.ns);
    }
    for (ns, rules) in load {
        lab::in_ns(ns, &["iptables-restore", &rules.display().to_string()]);
    }
    let list: Vec<serde_json::Value> = probes
        .iter()
        .enumerate()
        .map(|(i, (f, t, port))| {
            let (src, dst) = (&lab.hosts[f], &lab.hosts[t]);
            serde_json::json!([
                i,
                src.ns,
                "tcp",
                src.addr(false).expect("v4").to_string(),
                dst.addr(false).expect("v4").to_string(),
                port
            ])
        })
        .collect();
    let mut cmd = Command::new(python());
    cmd.args([
        common::root()
            .join("tests/netfilter_support/probe.py")
            .display()
            .to_string(),
        "probe".into(),
        "1.0".into(),
    ]);
    let text = lab::run_bounded(
        cmd,
        &serde_json::Value::Array(list).to_string(),
        std::time::Duration::from_secs(30),
    )
    .expect("probe client");
    let map: BTreeMap<String, String> = serde_json::from_str(&text).expect("probe output");
    (0..probes.len())
        .map(|i| map.get(&i.to_string()).map(String::as_str) == Some("open"))
        .collect()
}

/// The drift rows of one edited dump, as `+ from -> to tcp/port [partial]` lines.
fn drift_rows(policy: &Path, dump: &Path) -> Vec<String> {
    let arg = format!("iptables:{}", dump.display());
    let (code, out, err) = moat_run(&[
        "drift",
        policy.to_str().expect("path"),
        "--live",
        &arg,
        "--format",
        "json",
    ]);
    assert!(code == 0 || code == 1, "drift trouble: {err}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let mut rows = vec![];
    for d in json["details"].as_array().expect("details") {
        let sign = if d["change"] == "added" { '+' } else { '-' };
        let part = if d["partial"] == true {
            format!(" partial {}", d["addresses"]["to"])
        } else {
            String::new()
        };
        rows.push(format!(
            "{sign} {} -> {} {}/{}{part}",
            d["from"].as_str().unwrap_or(""),
            d["to"].as_str().unwrap_or(""),
            d["protocol"].as_str().unwrap_or(""),
            d["ports"].as_str().unwrap_or("")
        ));
    }
    rows
}

/// The lab of the edit tests: one host per [`HOSTS`] entry, each serving the probed ports.
fn edit_lab() -> Lab {
    let hosts: Vec<(usize, Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>)> = HOSTS
        .iter()
        .map(|(k, a)| (*k, Some(a.parse().expect("ip")), None))
        .collect();
    let mut lab = Lab::new(&hosts);
    let config: Vec<serde_json::Value> = lab
        .hosts
        .values()
        .map(|h| {
            serde_json::json!([
                h.ns,
                [h.addr(false).expect("v4").to_string()],
                ["tcp/22", "tcp/443", "tcp/5432", "tcp/8080"]
            ])
        })
        .collect();
    let server = lab.spawn(&[
        python(),
        common::root()
            .join("tests/netfilter_support/probe.py")
            .display()
            .to_string(),
        "serve".to_string(),
    ]);
    writeln!(
        server.stdin.as_ref().expect("stdin"),
        "{}",
        serde_json::Value::Array(config)
    )
    .expect("configure");
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready");
    assert_eq!(line.trim(), "ready");

    lab
}

#[test]
fn seeded_edits_give_exactly_the_changed_rows_and_the_kernel_agrees() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let ir = ir_of("edited.moat", EDITED);
    let dir = common::TempDir::new("drift-edit");
    let policy = dir.path().join("edited.moat");
    std::fs::write(&policy, EDITED).expect("write policy");
    kernel_dumps(&compile(&ir, false), dir.path());
    let base = std::fs::read_to_string(dir.path().join("iptables/gateway.v4.rules")).expect("dump");
    assert!(drift_rows(&policy, &dir.path().join("iptables/gateway.v4.rules")).is_empty());

    let lab = edit_lab();
    let anchor = "-A moat-forward -m conntrack --ctstate INVALID -j DROP\n";
    assert!(base.contains(anchor), "the dump has the conntrack rules first");
    let after = |extra: &str| base.replacen(anchor, &format!("{anchor}{extra}\n"), 1);
    let commit_at_end = |extra: &str| {
        let i = base.rfind("COMMIT").expect("COMMIT");
        format!("{}{extra}\n{}", &base[..i], &base[i..])
    };
    let accept = "-A moat-forward -s 10.1.0.20/32 -d 10.2.0.5/32 -p tcp -m tcp --dport 5432 -j ACCEPT";
    let drop_mail = "-A moat-forward -s 10.1.0.20/32 -j DROP";
    // (what, edited dump, expected rows, probes (from, to, port, open))
    type Case<'a> = (&'a str, String, Vec<&'a str>, Vec<(usize, usize, u16, bool)>);
    let cases: Vec<Case> = vec![
        (
            "an extra ACCEPT",
            after(accept),
            vec!["+ dmz.mail -> mz.db tcp/5432"],
            vec![(1, 2, 5432, true), (1, 3, 5432, false)],
        ),
        (
            "a DROP above an allowed flow",
            after("-A moat-forward -s 10.1.0.10/32 -d 10.2.0.6/32 -p tcp -m tcp --dport 8080 -j DROP"),
            vec!["- dmz.web -> mz.app tcp/8080"],
            vec![(0, 3, 8080, false), (3, 2, 5432, true)],
        ),
        (
            "an ACCEPT below a DROP that shadows it",
            after(drop_mail).replace("COMMIT", &format!("{accept}\nCOMMIT")),
            vec![],
            vec![(1, 2, 5432, false)],
        ),
        (
            "the same ACCEPT moved above the DROP",
            commit_at_end("").replacen(anchor, &format!("{anchor}{accept}\n{drop_mail}\n"), 1),
            vec!["+ dmz.mail -> mz.db tcp/5432"],
            vec![(1, 2, 5432, true)],
        ),
        (
            "a widened CIDR (10.2.0.6/32 -> 10.2.0.4/30)",
            base.replace("10.2.0.6/32", "10.2.0.4/30"),
            vec![
                "+ dmz.web -> mz tcp/8080 partial [\"10.2.0.4/32\",\"10.2.0.7/32\"]",
                "+ dmz.web -> mz.db tcp/8080",
                "+ mz -> mz.db tcp/5432 partial [\"10.2.0.5/32\"]",
                "+ mz.db -> mz.db tcp/5432",
            ],
            vec![
                (0, 4, 8080, true),
                (0, 5, 8080, false),
                (0, 3, 8080, true),
                (0, 2, 8080, true),
                (4, 2, 5432, true),
                (5, 2, 5432, false),
            ],
        ),
    ];
    for (what, text, want, probes) in cases {
        let file = dir.path().join("edited/gateway.v4.rules");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, &text).expect("write edit");
        let got = drift_rows(&policy, &file);
        assert_eq!(got, want, "{what}: drift rows");
        let seen = kernel_says(
            &lab,
            &file,
            &probes.iter().map(|p| (p.0, p.1, p.2)).collect::<Vec<_>>(),
        );
        for (p, open) in probes.iter().zip(seen) {
            assert_eq!(open, p.3, "{what}: the kernel disagrees on {:?}", p);
        }
        netfilter_support::report(&format!(
            "drift edit {what}: {} row(s), {} kernel probe(s) agree",
            want.len(),
            probes.len()
        ));
    }
}

#[test]
fn foreign_ufw_host_ruleset_agrees_with_the_kernel() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let ir = ir_of("edited.moat", EDITED);
    let dir = common::TempDir::new("drift-ufw");
    let policy = dir.path().join("edited.moat");
    std::fs::write(&policy, EDITED).expect("write policy");
    let ufw = common::root().join("fixtures/live/ufw/host-dmz.v4.rules");
    let arg = format!("iptables:{}", ufw.display());
    let rows = drift_rows(&policy, &ufw);
    for want in [
        "+ mz.app -> dmz.web tcp/22,443,8080",
        "+ internet -> dmz.web tcp/22",
        "+ internet -> dmz.mail tcp/22,443",
        "+ dmz.web -> mz.db any/",
    ] {
        assert!(
            rows.iter().any(|r| r == want),
            "missing drift row {want}: {rows:#?}"
        );
    }
    assert!(
        !rows.iter().any(|r| r.starts_with("- ")),
        "ufw blocks nothing the policy allows: {rows:#?}"
    );
    assert!(
        rows.iter().any(|r| r == "+ dmz.mail -> dmz.web tcp/22,443"),
        "8080 is open only from mz: {rows:#?}"
    );
    // import over the same zones gives the ufw host's reachability back:
    // every flow expressible, one allow per ufw rule, and the allows appended
    // to the zones reproduce the live matrix
    let mut sources = SourceMap::new();
    let (whole, _) = moat::live::read_all(&ir, &mut sources, std::slice::from_ref(&arg)).expect("reads");
    let allows = live_support::import_reproduces(&ir, EDITED, &whole, &sources, false)
        .unwrap_or_else(|e| panic!("ufw import: {e}"));
    assert!(allows >= 10, "only {allows} allows from ufw's rules");
    // the evaluator and the kernel agree probe by probe
    let m = live(&ir, &[arg]);
    let lab = edit_lab();
    let dmz: Vec<(String, std::path::PathBuf)> = [0, 1]
        .iter()
        .map(|k| (lab.hosts[k].ns.clone(), ufw.clone()))
        .collect();
    let probes: Vec<(usize, usize, u16)> = vec![
        (3, 0, 22),
        (3, 0, 8080),
        (3, 0, 5432),
        (2, 1, 443),
        (0, 2, 5432),
        (1, 0, 8080),
        (1, 0, 22),
        (4, 1, 8080),
        (5, 0, 137),
    ];
    let kernel = kernel_says_with(&lab, &dmz, &probes);
    let atom = |k: usize| ["dmz.web", "dmz.mail", "mz.db", "mz.app", "mz", "mz"][k];
    for (p, open) in probes.iter().zip(&kernel) {
        let (f, t) = (
            ir.atom_id(atom(p.0)).expect("atom"),
            ir.atom_id(atom(p.1)).expect("atom"),
        );
        let says = m
            .get(&(f, t))
            .is_some_and(|l| l.ports.contains(moat::ports::Proto::Tcp, p.2));
        assert_eq!(
            says,
            *open,
            "evaluator and kernel disagree on {} -> {} tcp/{}",
            atom(p.0),
            atom(p.1),
            p.2
        );
    }
    assert!(kernel.iter().any(|o| *o) && kernel.iter().any(|o| !*o));
    netfilter_support::report(&format!(
        "drift ufw: {} rows, {allows} allows imported, {} probes agree with the kernel",
        rows.len(),
        probes.len()
    ));
}

#[test]
fn foreign_aerleon_output_for_the_benchmark_policy() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let aclgen = common::root().join(".venv-bench/bin/aclgen");
    if !aclgen.is_file() {
        return common::skip("Aerleon is not installed in .venv-bench (scripts/ci/install-perf.sh)");
    }
    let g = moat::gen::bench::generate(&moat::gen::bench::Shape {
        zones: 60,
        services: 60,
        allows: 100,
        ..moat::gen::bench::Shape::default()
    });
    let dir = common::TempDir::new("drift-aerleon");
    let a = dir.path().join("aerleon");
    for (rel, text) in [
        ("def/NETWORK.net", &g.networks),
        ("def/SERVICES.svc", &g.services),
        ("pol/iptables.pol", &g.iptables_pol),
    ] {
        let p = a.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    std::fs::create_dir_all(a.join("out")).expect("mkdir");
    let st = Command::new(&aclgen)
        .args(["--base_directory", &a.join("pol").display().to_string()])
        .args(["--definitions_directory", &a.join("def").display().to_string()])
        .args(["--policy_file", &a.join("pol/iptables.pol").display().to_string()])
        .args([
            "--output_directory",
            &a.join("out").display().to_string(),
            "--max_renderers",
            "1",
        ])
        .output()
        .expect("aclgen");
    assert!(
        st.status.success(),
        "aclgen: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    // Aerleon writes iptables commands (-P, -N, -A); iptables-restore wants a table
    let cmds = std::fs::read_to_string(a.join("out/iptables")).expect("aerleon output");
    let mut chains = vec![
        ":INPUT ACCEPT [0:0]".to_string(),
        ":OUTPUT ACCEPT [0:0]".to_string(),
    ];
    let mut rules = vec![];
    for l in cmds.lines() {
        if let Some(p) = l.strip_prefix("-P FORWARD ") {
            chains.push(format!(":FORWARD {p} [0:0]"));
        } else if let Some(c) = l.strip_prefix("-N ") {
            chains.push(format!(":{c} - [0:0]"));
        } else if l.starts_with("-A ") {
            rules.push(l.to_string());
        }
    }
    let restore = dir.path().join("aerleon.restore");
    std::fs::write(
        &restore,
        format!("*filter\n{}\n{}\nCOMMIT\n", chains.join("\n"), rules.join("\n")),
    )
    .expect("write");
    let lab = Lab::new(&[]);
    lab::in_ns(&lab.router, &["iptables-restore", &restore.display().to_string()]);
    let dump = dir.path().join("kernel/aerleon.v4.rules");
    std::fs::create_dir_all(dump.parent().expect("parent")).expect("mkdir");
    std::fs::write(&dump, capture(&lab.router, &["iptables-save"])).expect("write dump");
    let policy = dir.path().join("policy.moat");
    std::fs::write(&policy, &g.moat).expect("write policy");
    let arg = format!("iptables:{}", dump.display());
    let (code, out, err) = moat_run(&["drift", policy.to_str().expect("path"), "--live", &arg]);
    assert_eq!(
        code, 0,
        "Aerleon's ruleset drifts from the policy it was generated from:\n{out}\n{err}"
    );
    let zones = dir.path().join("zones.moat");
    std::fs::write(
        &zones,
        live_support::zones_only(&ir_of("policy.moat", &g.moat), &g.moat),
    )
    .expect("write zones");
    let (code, imported, err) = moat_run(&["import", &arg, "--zones", zones.to_str().expect("path")]);
    assert_eq!(code, 0, "import: {err}");
    let ir = ir_of("policy.moat", &g.moat);
    let back = ir_of(
        "back.moat",
        &format!(
            "{}\n{imported}",
            live_support::zones_only(&ir_of("policy.moat", &g.moat), &g.moat)
        ),
    );
    let m = live(&ir, &[arg]);
    let names = |ir: &Ir, keep: &dyn Fn(&(usize, usize)) -> bool| -> BTreeMap<(String, String), String> {
        ir.flows
            .iter()
            .filter(|(k, _)| keep(k))
            .map(|(&(f, t), fl)| {
                (
                    (ir.atoms[f].name.clone(), ir.atoms[t].name.clone()),
                    fl.ports.to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        names(&back, &|_| true),
        names(&ir, &|k| m.contains_key(k)),
        "import does not reproduce the matrix"
    );
    netfilter_support::report(&format!(
        "drift aerleon: {} rules from Aerleon, no drift over {} pairs; reimported by {} allows",
        rules.len(),
        m.len(),
        imported.lines().filter(|l| l.starts_with("allow")).count()
    ));
}
