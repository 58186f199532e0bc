//! The cloud targets' output against the real tools: `terraform validate`
//! (without provider plugins), `cfn-lint` and `checkov`. Each test skips with
//! a reason when its tool is missing, and fails instead under MOAT_FULL_TESTS=1.

mod cloud_support;
mod common;

use common::{root, skip, venv_tool, TempDir};
use moat::backend::Target;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The checks skipped on the example policies, and why.
/// CKV2_AWS_5: "security groups are attached to another resource" — moat
/// writes the groups; attaching them to instances is the user's own
/// configuration, which is not part of this output.
const SKIPPED_CHECKS: &str = "CKV2_AWS_5";

/// The example policies with a cloud site, the cloud fixture and the ranges fixture.
fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("policies"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "moat"));
    v.retain(|p| {
        std::fs::read_to_string(p).is_ok_and(|t| [": aws", ": gcp", ": azure"].iter().any(|k| t.contains(k)))
    });
    v.push(root().join("fixtures/cloud/hybrid.moat"));
    v.push(root().join("fixtures/layouts/ranges.moat")); // address ranges, as the clouds' prefixes
    v.sort();
    v
}

/// Compiles `policy` for every cloud target in its scope into `out`.
fn compile(policy: &Path, out: &Path) {
    let c = moat::check_paths(&moat::load::Disk, &[policy.to_path_buf()]);
    let ir =
        c.ir.as_ref()
            .unwrap_or_else(|| panic!("{}: {:?}", policy.display(), c.diags));
    let clouds = [Target::Aws, Target::Gcp, Target::Azure];
    let targets: Vec<&str> = clouds
        .iter()
        .filter(|t| moat::backend::in_scope(**t, ir))
        .map(|t| t.as_str())
        .collect();
    let o = common::moat()
        .current_dir(root())
        .args(["compile"])
        .arg(policy)
        .args(["--target", &targets.join(","), "--out"])
        .arg(out)
        .output()
        .expect("run moat");
    assert!(
        o.status.success(),
        "moat compile {} failed:\n{}",
        policy.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Compiles every example into `dir/<policy>/`, returning the policy directories.
fn compile_examples(dir: &Path) -> Vec<PathBuf> {
    examples()
        .iter()
        .map(|p| {
            let out = dir.join(p.file_stem().expect("file name"));
            compile(p, &out);
            out
        })
        .collect()
}

/// The tool `name` from `.venv/bin` or PATH, or None.
fn tool(name: &str) -> Option<PathBuf> {
    let p = venv_tool(name);
    if p.is_absolute() {
        return Some(p);
    }
    common::missing_tool(name).is_none().then_some(p)
}

/// Runs `cmd` with a time limit (checkov can hang), via coreutils `timeout`.
fn run_limited(secs: u32, cmd: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("timeout");
    c.arg(secs.to_string()).arg(cmd).args(args).current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("run tool");
    assert_ne!(
        o.status.code(),
        Some(124),
        "{} timed out after {secs}s",
        cmd.display()
    );
    o
}

#[test]
fn terraform_validate_accepts_every_cloud_directory() {
    let Some(tf) = tool("terraform") else {
        return skip("`terraform` is not installed (scripts/ci/install-cloud.sh)");
    };
    let tmp = TempDir::new("cloud-tf");
    let rc = tmp.path().join("empty.tfrc");
    std::fs::write(&rc, "").expect("write rc");
    let rc = rc.to_string_lossy().to_string();
    let mut checked = 0;
    for pol in compile_examples(tmp.path()) {
        for target in ["aws", "gcp", "azure"] {
            let dir = pol.join(target);
            if !dir.join("main.tf.json").is_file() {
                continue;
            }
            let data = tmp.path().join(format!("tfdata-{target}"));
            let data = data.to_string_lossy().to_string();
            let env = [
                ("TF_CLI_CONFIG_FILE", rc.as_str()),
                ("TF_DATA_DIR", data.as_str()),
                ("TF_IN_AUTOMATION", "1"),
                ("CHECKPOINT_DISABLE", "1"),
            ];
            let o = run_limited(120, &tf, &["validate", "-json", "-no-color"], &dir, &env);
            let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
                panic!(
                    "{}: validate printed no JSON ({e}):\n{}",
                    dir.display(),
                    String::from_utf8_lossy(&o.stderr)
                )
            });
            let others: Vec<&Value> = v["diagnostics"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|d| d["summary"] != "Missing required provider")
                        .collect()
                })
                .unwrap_or_default();
            assert!(
                others.is_empty(),
                "{}: terraform validate found: {others:#?}",
                dir.display()
            );
            // Without provider schemas Terraform checks little more than JSON and
            // its core language, so check the references ourselves as well.
            let tf_json: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("main.tf.json")).expect("read"))
                    .expect("JSON");
            let bad = cloud_support::check_references(&tf_json);
            assert!(bad.is_empty(), "{}: {bad:?}", dir.display());
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} directories validated");
}

#[test]
fn cfn_lint_accepts_the_cloudformation_templates() {
    let Some(lint) = tool("cfn-lint") else {
        return skip("`cfn-lint` is not installed (scripts/ci/install-cloud.sh)");
    };
    let tmp = TempDir::new("cloud-cfn");
    let mut checked = 0;
    for pol in compile_examples(tmp.path()) {
        let t = pol.join("aws/template.json");
        if !t.is_file() {
            continue;
        }
        let o = run_limited(300, &lint, &[t.to_str().expect("utf-8 path")], tmp.path(), &[]);
        // The exit code is a bitmask: 2 errors, 4 warnings, 8 informational.
        let code = o.status.code().unwrap_or(-1);
        assert!(
            code == 0 || code == 8,
            "cfn-lint {} exited {code}:\n{}",
            t.display(),
            String::from_utf8_lossy(&o.stdout)
        );
        checked += 1;
    }
    assert!(checked >= 1, "no template linted");
}

/// Runs checkov on `dir` and returns its per-framework reports.
fn checkov(exe: &Path, dir: &Path, skip_checks: &str) -> Vec<Value> {
    let mut args = vec![
        "-d",
        ".",
        "--framework",
        "terraform_json",
        "cloudformation",
        "-o",
        "json",
        "--quiet",
        "--skip-download",
    ];
    if !skip_checks.is_empty() {
        args.extend(["--skip-check", skip_checks]);
    }
    let o = run_limited(
        600,
        exe,
        &args,
        dir,
        &[
            ("CHECKOV_PARALLELIZATION_TYPE", "none"),
            ("BC_SKIP_MAPPING", "TRUE"),
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let reports = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    for r in &reports {
        // checkov exits 0 on files it cannot parse: read the count instead.
        assert_eq!(
            r["summary"]["parsing_errors"], 0,
            "checkov could not parse: {r:#}"
        );
    }
    reports
}

fn failed(reports: &[Value]) -> Vec<(String, String)> {
    reports
        .iter()
        .flat_map(|r| {
            r["results"]["failed_checks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|f| {
            (
                f["check_id"].as_str().unwrap_or("").to_string(),
                f["file_path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn checkov_passes_the_examples_and_flags_ssh_from_the_internet() {
    let Some(exe) = tool("checkov") else {
        return skip("`checkov` is not installed (scripts/ci/install-cloud.sh)");
    };
    let tmp = TempDir::new("cloud-checkov");
    let good = tmp.path().join("examples");
    compile_examples(&good);
    let reports = checkov(&exe, &good, SKIPPED_CHECKS);
    let kinds: Vec<&str> = reports.iter().filter_map(|r| r["check_type"].as_str()).collect();
    assert!(
        kinds.contains(&"terraform_json") && kinds.contains(&"cloudformation"),
        "checkov read {kinds:?}"
    );
    for r in &reports {
        assert!(
            r["summary"]["passed"].as_u64().unwrap_or(0) > 0,
            "checkov ran no check: {}",
            r["summary"]
        );
    }
    assert!(
        failed(&reports).is_empty(),
        "checkov failed checks on the examples: {:?}",
        failed(&reports)
    );

    let bad = tmp.path().join("ssh");
    compile(&root().join("fixtures/cloud/ssh-from-internet.moat"), &bad);
    let f = failed(&checkov(&exe, &bad, SKIPPED_CHECKS));
    let expected = [
        ("CKV_AWS_24", "/aws/main.tf.json"),
        ("CKV_AWS_24", "/aws/template.json"),
        ("CKV_GCP_2", "/gcp/main.tf.json"),
        ("CKV_AZURE_10", "/azure/main.tf.json"),
    ];
    for (check, file) in expected {
        assert!(
            f.iter().any(|(c, p)| c == check && p.ends_with(file)),
            "checkov did not flag {check} in {file}: {f:?}"
        );
    }
}
