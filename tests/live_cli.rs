//! `moat drift --live k8s:DIR | aws:FILE | gcp:FILE | azure:FILE` from the
//! command line: moat's own output is no drift (exit 0), a hand edit is
//! exactly its rows (exit 1), bad input is a coded error at its line (exit 2).

mod common;
mod live_support;

use serde_json::{json, Value};
use std::path::Path;

fn drift(policy: &Path, live: &str, format: &str) -> (i32, String, String) {
    let out = common::moat()
        .arg("drift")
        .arg(policy)
        .args(["--live", live, "--format", format])
        .output()
        .expect("run moat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn compile(policy: &Path, target: &str, out: &Path) {
    let st = common::moat()
        .arg("compile")
        .arg(policy)
        .args(["--target", target, "--out"])
        .arg(out)
        .output()
        .expect("run moat");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
}

/// The (from, to) of each row of a JSON drift report's `added` or `removed`.
fn rows(report: &str, key: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(report).expect("drift JSON");
    v[key]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["from"].as_str().unwrap_or("").into(),
                r["to"].as_str().unwrap_or("").into(),
            )
        })
        .collect()
}

/// Compiles `policy` to k8s in `tmp` and asserts that drift against the
/// output finds nothing; gives the k8s directory and its `--live` argument.
fn compiled_without_drift(policy: &Path, tmp: &Path) -> (std::path::PathBuf, String) {
    compile(policy, "k8s", tmp);
    let dir = tmp.join("k8s");
    let live = format!("k8s:{}", dir.display());
    let (code, out, err) = drift(policy, &live, "text");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("no drift"), "{out}");
    (dir, live)
}

/// Removes the documents of a multi-document YAML file that hold `marker`;
/// gives how many are kept.
fn drop_docs(file: &Path, marker: &str) -> usize {
    let text = std::fs::read_to_string(file).expect("read");
    let kept: Vec<&str> = text.split("\n---\n").filter(|d| !d.contains(marker)).collect();
    std::fs::write(file, kept.join("\n---\n")).expect("write");
    kept.len()
}

#[test]
fn drift_k8s_directory() {
    let policy = common::root().join("fixtures/good/spec-example.moat");
    let tmp = common::TempDir::new("live-cli-k8s");
    let (dir, live) = compiled_without_drift(&policy, tmp.path());
    // Delete the kernel's NetworkPolicy by hand.
    let mz = dir.join("mz.yaml");
    assert_eq!(drop_docs(&mz, "moat.io/atom: mz.kernel"), 2);
    let (code, out, err) = drift(&policy, &live, "json");
    assert_eq!(code, 1, "{out}{err}");
    assert!(rows(&out, "added").is_empty(), "{out}");
    let want = [("dmz.ingress", "mz.kernel"), ("mz.kernel", "mz.postgres")];
    let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(rows(&out, "removed"), want, "{out}");
    // Truncated: E037 at the file and line, exit 2.
    std::fs::write(&mz, "kind: NetworkPolicy\nspec: [\n").expect("write");
    let (code, out, err) = drift(&policy, &live, "text");
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("E037") && err.contains("mz.yaml:"), "{err}");
}

/// A policy with clusters: each cluster's directory is evaluated on that
/// cluster's view (the same namespace name in two clusters is two
/// namespaces), and a flow between clusters passes what both ends let through.
#[test]
fn drift_k8s_per_cluster() {
    let policy = common::root().join("fixtures/good/layout-clusters.moat");
    let tmp = common::TempDir::new("live-cli-k8s-clusters");
    let (dir, live) = compiled_without_drift(&policy, tmp.path());
    // Only the mz cluster's regproc: still no drift for what it speaks for.
    let one = format!("k8s:{}", dir.join("mz-k8s").display());
    let (code, out, err) = drift(&policy, &one, "text");
    assert_eq!(code, 0, "{out}{err}");
    // Delete kafka's ingress policy in cluster mz-k8s: the flow from the
    // other cluster (allowed by dmz-k8s's egress) and the one inside are gone.
    let kafka = dir.join("mz-k8s/kafka.yaml");
    assert_eq!(drop_docs(&kafka, "moat.io/atom: mz.kafka"), 2);
    let (code, out, err) = drift(&policy, &live, "json");
    assert_eq!(code, 1, "{out}{err}");
    assert!(rows(&out, "added").is_empty(), "{out}");
    let want = [("dmz.group1", "mz.kafka"), ("mz.workflow", "mz.kafka")];
    let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(rows(&out, "removed"), want, "{out}");
    // A file in no cluster's directory: E063 at the file, exit 2.
    let stray = tmp.path().join("netpol.yaml");
    std::fs::copy(&kafka, &stray).expect("copy");
    let (code, out, err) = drift(&policy, &format!("k8s:{}", stray.display()), "text");
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("E063") && err.contains("netpol.yaml:1:1"), "{err}");
}

#[test]
fn drift_clouds() {
    let policy = common::root().join("fixtures/cloud/hybrid.moat");
    let tmp = common::TempDir::new("live-cli-cloud");
    for (target, kind) in [("aws", "aws"), ("gcp", "gcp"), ("azure", "azure")] {
        compile(&policy, target, tmp.path());
        let tf: Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join(target).join("main.tf.json")).expect("read"),
        )
        .expect("json");
        let shape = match target {
            "aws" => live_support::aws_describe(&tf),
            "gcp" => live_support::gcp_list(&tf),
            _ => live_support::azure_list(&tf),
        };
        let file = tmp.path().join(format!("{target}-live.json"));
        std::fs::write(&file, serde_json::to_string_pretty(&shape).expect("json")).expect("write");
        let live = format!("{kind}:{}", file.display());
        let (code, out, err) = drift(&policy, &live, "text");
        assert_eq!(code, 0, "{target}: {out}{err}");
        if target == "aws" {
            // An SSH rule for 0.0.0.0/0 on the bastion's group.
            let mut shape = shape;
            let groups = shape["SecurityGroups"].as_array_mut().expect("groups");
            let g = groups
                .iter_mut()
                .find(|g| {
                    g["Tags"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t["Value"] == "edge.bastion"))
                })
                .expect("bastion group");
            g["IpPermissions"].as_array_mut().expect("rules").push(json!({
                "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}));
            std::fs::write(&file, serde_json::to_string_pretty(&shape).expect("json")).expect("write");
            let (code, out, err) = drift(&policy, &live, "json");
            assert_eq!(code, 1, "{out}{err}");
            let added = rows(&out, "added");
            assert!(
                !added.is_empty() && added.iter().all(|(_, t)| t == "edge.bastion"),
                "{out}"
            );
            assert!(
                added.contains(&("internet".to_string(), "edge.bastion".to_string())),
                "{out}"
            );
            assert!(rows(&out, "removed").is_empty(), "{out}");
            std::fs::write(
                &file,
                "{\"SecurityGroups\": [\n  {\"GroupId\": \"sg-1\", \"IpPermissions\": \"all\"}\n]}",
            )
            .expect("write");
            let (code, out, err) = drift(&policy, &live, "text");
            assert_eq!(code, 2, "{out}{err}");
            assert!(err.contains("E038") && err.contains("aws-live.json:"), "{err}");
        }
    }
}

/// `moat drift` of hybrid.moat against one live file, from the crate root (stable paths).
fn drift_rel(live: &str, format: &str) -> (i32, String, String) {
    drift(Path::new("fixtures/cloud/hybrid.moat"), live, format)
}

#[test]
fn bad_cloud_and_k8s_inputs_are_coded_errors_with_file_and_line() {
    let cases = [
        ("k8s", "k8s-truncated.yaml", "E037"),
        ("k8s", "k8s-no-kind.yaml", "E038"),
        ("k8s", "k8s-bad-ipblock.yaml", "E039"),
        ("aws", "aws-truncated.json", "E037"),
        ("aws", "aws-wrong-shape.json", "E038"),
        ("gcp", "gcp-direction.json", "E039"),
        ("azure", "azure-no-priority.json", "E039"),
    ];
    for (kind, name, code) in cases {
        let (status, out, err) = drift_rel(&format!("{kind}:fixtures/live/kc-bad/{name}"), "text");
        assert_eq!(status, 2, "{name}: {out}{err}");
        assert!(out.is_empty(), "{name}: nothing on stdout: {out}");
        assert!(
            err.contains(&format!("error[{code}]")) && err.contains(&format!("fixtures/live/kc-bad/{name}:")),
            "{name}: {err}"
        );
        insta::assert_snapshot!(format!("kc_bad_{}", name.replace(['.', '-'], "_")), err);
    }
}

#[test]
fn unmodelled_cloud_constructs_warn_and_err_towards_openings() {
    let (status, out, err) = drift_rel("aws:fixtures/live/kc-good/aws-prefix-list.json", "text");
    assert_eq!(status, 1, "{out}{err}");
    assert!(err.contains("warning[W015]") && err.contains("pl-0app"), "{err}");
    assert!(
        err.contains("warning[W015]") && err.contains("ICMP type 8"),
        "{err}"
    );
    assert!(err.contains("warning[W016]"), "{err}");
    insta::assert_snapshot!("kc_unmodelled_warnings", err);
    insta::assert_snapshot!("kc_unmodelled_text", out);
}

const MOSIP_INVENTORY: &str = "fixtures/inventory/mosip-1.2.0.1.yaml";

/// `moat drift mosip.moat --live k8s:DIR --inventory INV --format json`.
fn drift_mosip_inventory(dir: &Path) -> (i32, String, String) {
    let out = common::moat()
        .arg("drift")
        .arg(common::root().join("policies/mosip.moat"))
        .arg("--live")
        .arg(format!("k8s:{}", dir.display()))
        .args(["--format", "json", "--inventory"])
        .arg(common::root().join(MOSIP_INVENTORY))
        .output()
        .expect("run moat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The hybrid's two clusters, each evaluated on the workloads of its own
/// inventory (`--inventory CLUSTER=PATH`): moat's output shows no drift, and
/// swapping the inventories does not pass (the clusters' pods differ).
#[test]
fn drift_k8s_hybrid_on_each_clusters_inventory() {
    let policy = common::root().join("policies/mosip-hybrid.moat");
    let tmp = common::TempDir::new("live-cli-hybrid");
    compile(&policy, "k8s", tmp.path());
    let run = |onprem: &str, cloud: &str| {
        let inv = |c: &str, f: &str| {
            let path = common::root().join(format!("fixtures/inventory/mosip-hybrid-{f}-1.2.0.1.yaml"));
            format!("{c}={}", path.display())
        };
        let out = common::moat()
            .arg("drift")
            .arg(&policy)
            .arg("--live")
            .arg(format!("k8s:{}", tmp.path().join("k8s").display()))
            .arg("--inventory")
            .arg(inv("onprem-cluster", onprem))
            .arg("--inventory")
            .arg(inv("cloud-cluster", cloud))
            .output()
            .expect("run moat");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    };
    let (code, out) = run("onprem", "cloud");
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("no drift"), "{out}");
    let (code, out) = run("cloud", "onprem");
    assert_ne!(code, 0, "swapped inventories pass:\n{out}");
}

/// Edits one document of a multi-document YAML file: the one holding `marker`.
fn edit_doc(file: &Path, marker: &str, edit: impl Fn(&str) -> Option<String>) {
    let text = std::fs::read_to_string(file).expect("read");
    let docs: Vec<String> = text
        .split("\n---\n")
        .filter_map(|d| {
            if d.contains(marker) {
                edit(d)
            } else {
                Some(d.to_string())
            }
        })
        .collect();
    assert_ne!(docs.join("\n---\n"), text, "{marker}: the edit changed nothing");
    std::fs::write(file, docs.join("\n---\n")).expect("write");
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// The `details` entries of a JSON drift report: (from, to, partial, pods listed).
fn details(report: &str) -> Vec<(String, String, bool, Vec<String>)> {
    let v: Value = serde_json::from_str(report).expect("drift JSON");
    let names = |x: &Value| -> Vec<String> {
        x.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    v["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| {
            let mut pods = names(&d["addresses"]["from"]);
            pods.extend(names(&d["addresses"]["to"]));
            (
                d["from"].as_str().unwrap_or("").into(),
                d["to"].as_str().unwrap_or("").into(),
                d["partial"] == true,
                pods,
            )
        })
        .collect()
}

/// `--inventory`: MOSIP's NetworkPolicies as moat compiles them, evaluated on
/// the pods MOSIP's charts render, are exactly the policy; three hand edits
/// give exactly their rows, a narrowed selector partial rows naming the pod
/// still let through.
/// `moat import k8s:DIR --inventory INV`: MOSIP's NetworkPolicies, on the
/// inventory's pods, give allows that (appended to the zones) reproduce the
/// live matrix; exit 0, and the printed allows are the library's.
#[test]
fn import_k8s_on_the_mosip_inventory_reproduces_the_matrix() {
    let tmp = common::TempDir::new("live-cli-mosip-import");
    let policy = common::root().join("policies/mosip.moat");
    compile(&policy, "k8s", tmp.path());
    let dir = tmp.path().join("k8s");
    let text = std::fs::read_to_string(&policy).expect("policy");
    let mut checked = moat::check_paths(&moat::load::Disk, std::slice::from_ref(&policy));
    let inv =
        moat::check_inventory(&mut checked, &[common::root().join(MOSIP_INVENTORY)]).expect("inventory");
    let ir = checked.ir.take().expect("ir");
    let zones = tmp.path().join("zones.moat");
    std::fs::write(&zones, live_support::zones_only(&ir, &text)).expect("zones");
    let live = format!("k8s:{}", dir.display());
    let out = common::moat()
        .args(["import", &live, "--zones"])
        .arg(&zones)
        .arg("--inventory")
        .arg(common::root().join(MOSIP_INVENTORY))
        .output()
        .expect("run moat");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let mut sources = moat::span::SourceMap::new();
    let (m, _) =
        moat::live::read_all_on(&ir, &mut sources, std::slice::from_ref(&live), Some(&inv)).expect("live");
    let n = live_support::import_reproduces(&ir, &text, &m, &sources, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("allow ")).count(),
        n,
        "{stdout}"
    );
    assert!(n > 400, "only {n} allows");
}

#[test]
fn drift_k8s_on_the_mosip_inventory() {
    let tmp = common::TempDir::new("live-cli-mosip-inv");
    compile(&common::root().join("policies/mosip.moat"), "k8s", tmp.path());
    let dir = tmp.path().join("k8s");
    let (code, out, err) = drift_mosip_inventory(&dir);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(rows(&out, "added"), vec![], "{out}");
    assert_eq!(rows(&out, "removed"), vec![], "{out}");

    // 1. Delete clamav's own NetworkPolicy: the namespace's default deny and
    // the zone's policy stay, so exactly the four ingress flows it carried go.
    edit_doc(&dir.join("clamav.yaml"), "name: moat-mz-data-clamav\n", |_| None);
    let (code, out, err) = drift_mosip_inventory(&dir);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(rows(&out, "added"), vec![], "{out}");
    let clamav = [
        ("dmz-receiver.regproc-group1", "mz-data.clamav"),
        ("mz-app.packetmanager", "mz-data.clamav"),
        ("mz-app.prereg-application", "mz-data.clamav"),
        ("mz-app.resident", "mz-data.clamav"),
    ];
    assert_eq!(rows(&out, "removed"), pairs(&clamav), "{out}");

    // 2. Widen notifier's selector to otpmanager's pods too: otpmanager gets
    // notifier's egress. Only the flows to addresses open (towards pods the
    // other end's ingress still names notifier alone).
    edit_doc(&dir.join("kernel.yaml"), "name: moat-mz-app-notifier\n", |d| {
        Some(d.replacen(
            "  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: notifier\n",
            "  podSelector:\n    matchExpressions:\n    - key: app.kubernetes.io/name\n      operator: In\n      values: [notifier, otpmanager]\n",
            1,
        ))
    });
    let (code, out, err) = drift_mosip_inventory(&dir);
    assert_eq!(code, 1, "{out}{err}");
    let opened = [
        ("mz-app.otpmanager", "dmz-edge.egress-proxy"),
        ("mz-app.otpmanager", "dmz-edge.mail-relay"),
    ];
    assert_eq!(rows(&out, "added"), pairs(&opened), "{out}");
    assert_eq!(rows(&out, "removed"), pairs(&clamav), "{out}");

    // 3. Narrow activemq's selector to the master: the slave (the same atom,
    // mz-data.activemq) loses its flows, so each of the atom's rows holds for
    // part of it only: partial, naming the master pod.
    edit_doc(
        &dir.join("activemq.yaml"),
        "moat.io/atom: mz-data.activemq\n",
        |d| {
            Some(d.replacen(
                "      app: activemq-artemis\n",
                "      app: activemq-artemis\n      component: master\n",
                1,
            ))
        },
    );
    let (code, out, err) = drift_mosip_inventory(&dir);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(rows(&out, "added"), pairs(&opened), "{out}");
    let master = "pod activemq/activemq-activemq-artemis-master".to_string();
    let narrowed = [
        ("mock-abis.mock-abis", "mz-data.activemq"),
        ("mock-abis.mock-mv", "mz-data.activemq"),
        ("mz-app.regproc-group3", "mz-data.activemq"),
        ("mz-data.activemq", "mz-data.activemq"),
        ("mz-ingress.internal-gw", "mz-data.activemq"),
    ];
    let mut removed = pairs(&clamav);
    removed.extend(pairs(&narrowed));
    removed.sort();
    assert_eq!(rows(&out, "removed"), removed, "{out}");
    for (from, to, partial, pods) in details(&out) {
        let is_narrowed = narrowed.iter().any(|(a, b)| *a == from && *b == to);
        assert_eq!(partial, is_narrowed, "{from} -> {to}: {out}");
        if is_narrowed {
            assert!(pods.contains(&master), "{from} -> {to} lists {pods:?}");
            assert!(
                pods.iter().all(|p| !p.contains("slave")),
                "{from} -> {to} lists {pods:?}"
            );
        }
    }
}
