//! Fail-closed writes and fail-closed artefacts.
//!
//! Writes: `moat::output` stages every file beside the output directory and
//! swaps each target directory into place only when all are on disk. A
//! write that fails, a compile that fails its checks, or a process killed
//! between two files leaves the previous artefacts byte for byte, and no
//! temporary file inside the output directory (a killed process's staging
//! directory beside it is removed by the next write). The library tests
//! drive the writer in a child process (this test binary, re-run on the
//! ignored `writer_child`), so they do not depend on any back end; the CLI
//! tests do the same through `moat compile`.
//!
//! Artefacts: a policy with no allow compiles, for every target, to
//! artefacts that deny by default.

mod common;
mod robust_support;

use moat::backend::Artefact;
use robust_support::tree;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names in `parent` that look like moat's staging directories.
fn leftovers(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("moat-tmp"))
        .collect()
}

fn artefacts(version: &str, n: usize) -> Vec<Artefact> {
    (0..n)
        .map(|i| Artefact {
            path: format!("{}/file-{i:03}.txt", if i % 2 == 0 { "k8s" } else { "iptables" }),
            contents: format!("{version} {i}\n"),
        })
        .collect()
}

/// Not a test on its own: the child process the writer tests start and kill.
#[test]
#[ignore = "run by the fail-closed tests as a child process"]
fn writer_child() {
    let Ok(dir) = std::env::var("ROBUST_WRITER_DIR") else {
        return;
    };
    match moat::output::write_all(Path::new(&dir), &artefacts("new", 40)) {
        Ok(()) => println!("WRITER-OK"),
        Err(e) => println!("WRITER-ERR {e}"),
    }
}

fn writer(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("test binary"));
    c.args([
        "--ignored",
        "--exact",
        "writer_child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("ROBUST_WRITER_DIR", dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// An output directory holding a previous compile, and its contents.
fn previous(tag: &str) -> (common::TempDir, PathBuf, BTreeMap<String, Vec<u8>>) {
    let t = common::TempDir::new(tag);
    let dir = t.path().join("out");
    moat::output::write_all(&dir, &artefacts("old", 10)).expect("first write");
    let before = tree(&dir);
    assert_eq!(before.len(), 10);
    (t, dir, before)
}

#[test]
fn a_failing_write_leaves_the_previous_artefacts() {
    let (t, dir, before) = previous("failclosed-fail");
    let out = writer(&dir, &[("MOAT_TEST_FAIL_WRITE_AFTER", "7")])
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("WRITER-ERR injected write failure"), "{stdout}");
    assert_eq!(tree(&dir), before, "the previous artefacts changed");
    assert_eq!(leftovers(t.path()), Vec::<String>::new());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn a_killed_write_leaves_the_previous_artefacts() {
    let (t, dir, before) = previous("failclosed-kill");
    let mut child = writer(&dir, &[("MOAT_TEST_WRITE_DELAY_MS", "100")])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child");
    // wait until the child has staged a few files, then SIGKILL it
    let start = Instant::now();
    loop {
        let staged: usize = leftovers(t.path())
            .iter()
            .map(|s| tree(&t.path().join(s)).len())
            .sum();
        if staged >= 3 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the child never staged a file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(tree(&dir), before, "the previous artefacts changed");
    assert_eq!(
        leftovers(&dir),
        Vec::<String>::new(),
        "temporary files inside the output directory"
    );
    assert_eq!(
        leftovers(t.path()).len(),
        1,
        "the killed process's staging directory is beside the output"
    );
    // the next write succeeds and removes the orphan
    let out = writer(&dir, &[]).output().expect("run child");
    assert!(String::from_utf8_lossy(&out.stdout).contains("WRITER-OK"));
    assert_eq!(tree(&dir).len(), 40);
    assert!(tree(&dir).values().all(|v| v.starts_with(b"new ")));
    assert_eq!(
        leftovers(t.path()),
        Vec::<String>::new(),
        "the orphaned staging directory is gone"
    );
}

#[test]
fn a_target_directory_is_replaced_whole_and_others_are_kept() {
    let (_t, dir, _) = previous("failclosed-whole");
    std::fs::create_dir_all(dir.join("aws")).expect("mkdir");
    std::fs::write(dir.join("aws/main.tf.json"), "{}").expect("write");
    // a new k8s output without file-000: no stale file survives; aws/ is not touched
    let new = vec![Artefact {
        path: "k8s/only.yaml".into(),
        contents: "x\n".into(),
    }];
    moat::output::write_targets(&dir, &["k8s", "iptables"], &new).expect("write");
    let files: Vec<String> = tree(&dir).into_keys().collect();
    assert_eq!(files, ["aws/main.tf.json", "k8s/only.yaml"]);
    assert!(
        dir.join("iptables").is_dir(),
        "a compiled target with no artefact is an empty directory"
    );
}

#[test]
fn artefact_paths_that_leave_the_output_directory_write_nothing() {
    let (t, dir, before) = previous("failclosed-paths");
    for bad in [
        "../escape.txt",
        "/tmp/abs.txt",
        "k8s/../../escape.txt",
        "k8s",
        ".moat-tmp/x",
    ] {
        let a = vec![
            Artefact {
                path: "k8s/fine.yaml".into(),
                contents: "x".into(),
            },
            Artefact {
                path: bad.into(),
                contents: "x".into(),
            },
        ];
        assert!(moat::output::write_all(&dir, &a).is_err(), "{bad} accepted");
        assert_eq!(tree(&dir), before, "{bad}: the previous artefacts changed");
    }
    assert!(!t.path().join("escape.txt").exists());
    assert_eq!(leftovers(t.path()), Vec::<String>::new());
}

// ---- through the CLI ---------------------------------------------------------

/// A policy with something in scope for every target.
pub const EVERY_TARGET: &str = r#"policy everywhere "in scope for every target"
site dc : onprem
site cloud : aws { region "ap-south-1" vpc "vpc-0abc1234" }
site g : gcp { project "shop-prod" region "asia-south1" network "prod" }
site az : azure { region "centralindia" resource_group "rg" }
zone internet : external { cidr 0.0.0.0/0 }
zone dmz : demilitarised @ dc { cidr 10.10.0.0/16 namespace dmz
  service web { pods app=web hosts 10.10.0.10 port https tcp/443 } }
zone mz : militarised @ dc { cidr 10.20.0.0/16 namespace mz
  service db { pods app=db hosts 10.20.0.10 port pg tcp/5432 } }
zone aw : militarised @ cloud { cidr 10.30.0.0/16 service app { hosts 10.30.0.10 port api tcp/8080 } }
zone gc : militarised @ g { cidr 10.40.0.0/16 service app { hosts 10.40.0.10 port api tcp/8080 } }
zone zz : militarised @ az { cidr 10.50.0.0/16 service app { hosts 10.50.0.10 port api tcp/8080 } }
"#;

/// The allows of the policy above.
pub const ALLOWS: &str = "allow internet -> dmz.web : https \"public\"
allow dmz.web -> mz.db : pg \"the database\"
allow dmz.web -> aw.app, gc.app, zz.app : api \"the cloud\"
";

fn compile(dir: &Path, policy: &Path, env: &[(&str, &str)]) -> robust_support::Run {
    let mut c = common::moat();
    c.arg("compile")
        .arg(policy)
        .args(["--target", "all", "--out"])
        .arg(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    robust_support::run(c, Duration::from_secs(120))
}

/// The CLI's compile: first a good one, then each kind of failure; none may
/// change what the first wrote, nor leave temporary files behind.
#[test]
fn a_failed_or_killed_compile_leaves_the_previous_artefacts() {
    let t = common::TempDir::new("failclosed-cli");
    let dir = t.path().join("out");
    let good = t.path().join("good.moat");
    std::fs::write(&good, format!("{EVERY_TARGET}{ALLOWS}")).expect("write policy");
    let r = compile(&dir, &good, &[]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let before = tree(&dir);
    if before.len() < 2 {
        return common::skip(&format!(
            "the back ends wrote {} file(s); the CLI write tests need two",
            before.len()
        ));
    }
    // a policy with an error: exit 1, nothing written
    let bad = t.path().join("bad.moat");
    std::fs::write(
        &bad,
        format!("{EVERY_TARGET}{ALLOWS}allow dmz.web -> nowhere : any\n"),
    )
    .expect("write policy");
    assert_eq!(compile(&dir, &bad, &[]).code(), 1);
    assert_eq!(tree(&dir), before);
    // a failing write: exit 2
    let changed = t.path().join("changed.moat");
    std::fs::write(
        &changed,
        format!("{EVERY_TARGET}{ALLOWS}allow dmz.web -> mz : tcp/5433 \"new\"\n"),
    )
    .expect("write policy");
    let r = compile(&dir, &changed, &[("MOAT_TEST_FAIL_WRITE_AFTER", "1")]);
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert_eq!(tree(&dir), before);
    assert_eq!(leftovers(t.path()), Vec::<String>::new());
    // killed between two files
    let mut c = common::moat();
    c.arg("compile")
        .arg(&changed)
        .args(["--target", "all", "--out"])
        .arg(&dir)
        .env("MOAT_TEST_WRITE_DELAY_MS", "300");
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while leftovers(t.path())
        .iter()
        .map(|s| tree(&t.path().join(s)).len())
        .sum::<usize>()
        < 1
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "moat compile never staged a file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(tree(&dir), before);
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    // and a good compile afterwards replaces everything and cleans up
    assert_eq!(compile(&dir, &changed, &[]).code(), 0);
    assert_ne!(tree(&dir), before);
    assert_eq!(leftovers(t.path()), Vec::<String>::new());
}

// ---- fail-closed artefacts -----------------------------------------------------

/// Compiles the policy with no allows for `target`; its artefacts by path.
fn empty_policy_artefacts(target: &str) -> BTreeMap<String, String> {
    let t = common::TempDir::new(&format!("failclosed-empty-{target}"));
    let policy = t.path().join("empty.moat");
    std::fs::write(&policy, EVERY_TARGET).expect("write policy");
    let dir = t.path().join("out");
    let mut c = common::moat();
    c.arg("compile")
        .arg(&policy)
        .args(["--target", target, "--out"])
        .arg(&dir);
    let r = robust_support::run(c, Duration::from_secs(120));
    assert_eq!(r.code(), 0, "{target}: {}", r.stderr);
    tree(&dir)
        .into_iter()
        // The rulesets and manifests; not the sources table beside them.
        .filter(|(k, _)| !k.ends_with(moat::backend::sources::FILE))
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

fn json_files(files: &BTreeMap<String, String>) -> Vec<(String, serde_json::Value)> {
    files
        .iter()
        .filter(|(p, _)| p.ends_with(".json"))
        .map(|(p, c)| {
            (
                p.clone(),
                serde_json::from_str(c).unwrap_or_else(|e| panic!("{p}: {e}")),
            )
        })
        .collect()
}

/// Every object in `v` (depth first) that has the key `key`.
fn objects_with<'v>(v: &'v serde_json::Value, key: &str, out: &mut Vec<&'v serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            if m.contains_key(key) {
                out.push(v);
            }
            m.values().for_each(|x| objects_with(x, key, out));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| objects_with(x, key, out)),
        _ => {}
    }
}

/// Terraform resources of one type: (name, body).
fn tf_resources<'v>(v: &'v serde_json::Value, kind: &str) -> Vec<&'v serde_json::Value> {
    let mut out = vec![];
    if let Some(r) = v["resource"].get(kind) {
        match r {
            serde_json::Value::Object(m) => out.extend(m.values()),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_object())
                .for_each(|m| out.extend(m.values())),
            _ => {}
        }
    }
    out
}

#[test]
fn empty_policy_k8s_denies_by_default() {
    let files = empty_policy_artefacts("k8s");
    for ns in ["dmz", "mz"] {
        let text = files
            .get(&format!("k8s/{ns}.yaml"))
            .unwrap_or_else(|| panic!("no k8s/{ns}.yaml: {:?}", files.keys()));
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).expect("YAML");
        let deny_all = docs.iter().any(|d| {
            d["kind"] == "NetworkPolicy"
                && d["spec"]["podSelector"].as_object().is_some_and(|m| {
                    m.is_empty() || m.values().all(|v| v.as_object().is_some_and(|o| o.is_empty()))
                })
                && ["Ingress", "Egress"].iter().all(|t| {
                    d["spec"]["policyTypes"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == t))
                })
                && d["spec"]["ingress"].as_array().is_none_or(|a| a.is_empty())
                && d["spec"]["egress"].as_array().is_none_or(|a| a.is_empty())
        });
        assert!(deny_all, "k8s/{ns}.yaml has no default-deny NetworkPolicy (all pods, Ingress and Egress, no rules):\n{text}");
        assert!(
            !text.contains("ingress:\n  - {}") && !text.contains("- {}"),
            "an allow-all rule:\n{text}"
        );
    }
}

#[test]
fn empty_policy_iptables_denies_by_default() {
    let files = empty_policy_artefacts("iptables");
    assert!(!files.is_empty(), "no iptables output");
    for (path, text) in &files {
        let chains: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(":INPUT") || l.starts_with(":FORWARD") || l.starts_with(":OUTPUT"))
            .collect();
        let forward_or_input_drop = text.lines().any(|l| {
            l.starts_with(":INPUT DROP")
                || l == "-A moat-forward -m comment --comment \"routed traffic no allow covers\" -j DROP"
        });
        assert!(
            forward_or_input_drop,
            "{path}: no chain with policy DROP: {chains:?}\n{text}"
        );
        let accepts: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("-A")
                    && l.ends_with("-j ACCEPT")
                    && !l.contains("ESTABLISHED")
                    && !l.contains("-i lo")
                    && !l.contains("-o lo")
            })
            .collect();
        assert!(
            accepts.is_empty(),
            "{path}: a policy with no allow accepts: {accepts:?}"
        );
        netfilter_load("iptables-restore", &["--test"], path, text);
    }
}

#[test]
fn empty_policy_nftables_denies_by_default() {
    let files = empty_policy_artefacts("nftables");
    assert!(!files.is_empty(), "no nftables output");
    for (path, text) in &files {
        let hooks: Vec<&str> = text.lines().filter(|l| l.contains("type filter hook")).collect();
        assert!(!hooks.is_empty(), "{path}: no base chain");
        assert!(
            hooks
                .iter()
                .filter(|l| l.contains("forward") || l.contains("input"))
                .all(|l| l.contains("policy drop")),
            "{path}: a base chain that does not drop: {hooks:?}"
        );
        let accepts: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.ends_with("accept") && !l.contains("established") && !l.contains("\"lo\""))
            .collect();
        assert!(
            accepts.is_empty(),
            "{path}: a policy with no allow accepts: {accepts:?}"
        );
        netfilter_load("nft", &["-c", "-f"], path, text);
    }
}

/// Loads a ruleset with the real tool in check mode (in a throw-away network
/// namespace if `unshare` is there, so nothing on the host changes).
pub fn netfilter_load(tool: &str, args: &[&str], path: &str, text: &str) {
    if let Some(why) = common::missing_tool(tool) {
        return common::skip(&why);
    }
    if let Some(why) = common::missing_root() {
        return common::skip(&why);
    }
    let t = common::TempDir::new("failclosed-load");
    let file = t.path().join("rules");
    std::fs::write(&file, text).expect("write rules");
    let mut c = if common::missing_tool("unshare").is_none() {
        let mut c = Command::new("unshare");
        c.args(["--net", tool]);
        c
    } else {
        Command::new(tool)
    };
    c.args(args).arg(&file);
    let out = c.output().expect("run netfilter tool");
    assert!(
        out.status.success(),
        "{tool} {args:?} rejects {path}: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn empty_policy_aws_denies_by_default() {
    let files = empty_policy_artefacts("aws");
    let jsons = json_files(&files);
    assert!(!jsons.is_empty(), "no aws output: {:?}", files.keys());
    for (path, v) in &jsons {
        for kind in [
            "aws_vpc_security_group_ingress_rule",
            "aws_vpc_security_group_egress_rule",
            "aws_security_group_rule",
        ] {
            assert!(
                tf_resources(v, kind).is_empty(),
                "{path}: {kind} in a policy with no allow"
            );
        }
        for sg in tf_resources(v, "aws_security_group") {
            for dir in ["ingress", "egress"] {
                assert!(
                    sg.get(dir)
                        .is_none_or(|r| r.as_array().is_some_and(|a| a.is_empty())),
                    "{path}: a security group with {dir} rules: {sg}"
                );
            }
        }
        // CloudFormation: a group without SecurityGroupEgress gets AWS's allow-all egress
        let mut groups = vec![];
        objects_with(v, "Type", &mut groups);
        for g in groups.iter().filter(|g| g["Type"] == "AWS::EC2::SecurityGroup") {
            let egress = &g["Properties"]["SecurityGroupEgress"];
            assert!(egress.is_array(), "{path}: a CloudFormation security group without explicit egress keeps AWS's allow-all egress: {g}");
            assert!(
                !egress.to_string().contains("0.0.0.0/0"),
                "{path}: egress to everywhere: {g}"
            );
            assert!(
                g["Properties"]["SecurityGroupIngress"]
                    .as_array()
                    .is_none_or(|a| a.is_empty()),
                "{path}: ingress rules: {g}"
            );
        }
        assert!(
            !groups
                .iter()
                .any(|g| g["Type"] == "AWS::EC2::SecurityGroupIngress"
                    || g["Type"] == "AWS::EC2::SecurityGroupEgress"),
            "{path}: rule resources"
        );
    }
}

#[test]
fn empty_policy_gcp_denies_by_default() {
    let files = empty_policy_artefacts("gcp");
    let jsons = json_files(&files);
    assert!(!jsons.is_empty(), "no gcp output: {:?}", files.keys());
    for (path, v) in &jsons {
        let rules = tf_resources(v, "google_compute_firewall");
        assert!(
            rules.iter().all(|r| r
                .get("allow")
                .is_none_or(|a| a.as_array().is_some_and(|a| a.is_empty()))),
            "{path}: an allow rule in a policy with no allow"
        );
        // GCP's implied rules allow all egress: a deny-all egress rule must override it
        let denies_egress = rules.iter().any(|r| {
            r["direction"] == "EGRESS" && r.get("deny").is_some() && r.to_string().contains("0.0.0.0/0")
        });
        assert!(
            denies_egress,
            "{path}: no deny-all egress rule (GCP allows egress by default):\n{v:#}"
        );
    }
}

#[test]
fn empty_policy_azure_denies_by_default() {
    let files = empty_policy_artefacts("azure");
    let jsons = json_files(&files);
    assert!(!jsons.is_empty(), "no azure output: {:?}", files.keys());
    for (path, v) in &jsons {
        let mut rules = vec![];
        objects_with(v, "access", &mut rules);
        assert!(
            !rules.iter().any(|r| r["access"] == "Allow"),
            "{path}: an Allow rule in a policy with no allow"
        );
        // Azure's default rules allow the virtual network and outbound internet: explicit denies must override them
        for dir in ["Inbound", "Outbound"] {
            let deny = rules
                .iter()
                .any(|r| r["access"] == "Deny" && r["direction"] == dir);
            assert!(
                deny,
                "{path}: no {dir} deny rule (Azure's defaults allow VNet traffic):\n{v:#}"
            );
        }
    }
}
