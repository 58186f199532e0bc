//! What a user's pipeline runs: the hooks of `.pre-commit-hooks.yaml` under
//! the real `pre-commit` (from PyPI), and the pull-request workflow of
//! `docs/ci/moat-diff-comment.yml`, its steps' scripts run as GitHub's runner
//! runs them (`bash -eo pipefail`).

mod common;

use common::{moat, root, skip, venv_tool, TempDir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SHOP: &str =
    "zone web : demilitarised { namespace web\n  service ui { pods app=ui port http tcp/8080 } }\n\
zone app : militarised { namespace app service api { pods app=api port http tcp/8080 } }\n\
allow web.ui -> app.api : http \"the UI calls the API\"\n";

/// `PATH` with the built `moat` first.
fn path_with_moat() -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_moat"));
    let dir = bin.parent().expect("a parent directory").to_path_buf();
    let rest = std::env::var("PATH").unwrap_or_default();
    format!("{}:{rest}", dir.display())
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=moat test",
            "-c",
            "user.email=test@moat.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the command runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("well-formed output")
        .trim()
        .to_string()
}

/// A git repository at `dir` with the shop policy, canonically laid out, committed.
fn policy_repo(dir: &Path) {
    std::fs::create_dir_all(dir.join("policies")).expect("file I/O");
    let policy = dir.join("policies/shop.moat");
    std::fs::write(&policy, SHOP).expect("file I/O");
    assert!(moat()
        .arg("fmt")
        .arg(&policy)
        .status()
        .expect("the command runs")
        .success());
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "shop"]);
}

fn pre_commit(repo: &Path, home: &Path) -> Output {
    Command::new(venv_tool("pre-commit"))
        .args(["run", "--all-files", "--color", "never"])
        .current_dir(repo)
        .env("PATH", path_with_moat())
        .env("PRE_COMMIT_HOME", home)
        .output()
        .expect("the command runs")
}

/// The line pre-commit prints for hook `name`, ending in Passed or Failed.
fn verdict(out: &str, name: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(name) && (l.ends_with("Passed") || l.ends_with("Failed")))
        .unwrap_or_else(|| panic!("no result line for `{name}` in:\n{out}"))
        .rsplit('.')
        .next()
        .expect("a result line")
        .to_string()
}

#[test]
fn the_pre_commit_hooks_pass_a_clean_repository_and_catch_each_kind_of_mistake() {
    let pre_commit_bin = venv_tool("pre-commit");
    if Command::new(&pre_commit_bin).arg("--version").output().is_err() {
        return skip("`pre-commit` is not installed (scripts/ci/install-ci.sh)");
    }
    let tmp = TempDir::new("pre-commit");
    // The hook repository: this repository's hook definitions, byte for byte.
    let hooks = tmp.path().join("hooks");
    std::fs::create_dir_all(&hooks).expect("file I/O");
    std::fs::copy(
        root().join(".pre-commit-hooks.yaml"),
        hooks.join(".pre-commit-hooks.yaml"),
    )
    .expect("file I/O");
    git(&hooks, &["init", "-q"]);
    git(&hooks, &["add", "-A"]);
    git(&hooks, &["commit", "-q", "-m", "hooks"]);
    let rev = git(&hooks, &["rev-parse", "HEAD"]);

    let user = tmp.path().join("user");
    policy_repo(&user);
    let compiled = moat()
        .args(["compile", "--target", "k8s", "--out", "out", "policies/shop.moat"])
        .current_dir(&user)
        .status()
        .expect("the command runs");
    assert!(compiled.success());
    let config = format!(
        "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: moat-fmt\n      - id: moat-check\n        \
         args: [policies/shop.moat]\n      - id: moat-compile-check\n        \
         args: [--target, k8s, --out, out, policies/shop.moat]\n",
        hooks.display()
    );
    std::fs::write(user.join(".pre-commit-config.yaml"), config).expect("file I/O");
    git(&user, &["add", "-A"]);
    git(&user, &["commit", "-q", "-m", "artefacts and hooks"]);
    let home = tmp.path().join("cache");

    let out = pre_commit(&user, &home);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for hook in [
        "moat fmt --check",
        "moat check --deny-warnings",
        "moat compile --check",
    ] {
        assert_eq!(verdict(&text, hook), "Passed", "{text}");
    }

    // A layout change within a line (artefacts cite lines): fmt fails, the
    // policy still checks and compiles the same.
    let policy = user.join("policies/shop.moat");
    let canonical = std::fs::read_to_string(&policy).expect("file I/O");
    std::fs::write(
        &policy,
        canonical.replace("allow web.ui -> app.api", "allow   web.ui  ->  app.api"),
    )
    .expect("file I/O");
    git(&user, &["add", "-A"]);
    let out = pre_commit(&user, &home);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success());
    assert_eq!(verdict(&text, "moat fmt --check"), "Failed", "{text}");
    assert!(text.contains("policies/shop.moat"), "{text}");
    assert_eq!(verdict(&text, "moat check --deny-warnings"), "Passed", "{text}");
    assert_eq!(verdict(&text, "moat compile --check"), "Passed", "{text}");

    // A new flow without recompiling: the artefacts are stale; an unused
    // service is a warning the check hook denies.
    let mut changed = SHOP.to_string();
    changed.push_str("allow app.api -> web.ui : tcp/8080 \"callbacks\"\n");
    changed = changed.replace(
        "service api {",
        "service spare { pods app=spare port http tcp/9090 }\n  service api {",
    );
    std::fs::write(&policy, changed).expect("file I/O");
    assert!(moat()
        .arg("fmt")
        .arg(&policy)
        .status()
        .expect("the command runs")
        .success());
    git(&user, &["add", "-A"]);
    let out = pre_commit(&user, &home);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(verdict(&text, "moat fmt --check"), "Passed", "{text}");
    assert_eq!(verdict(&text, "moat check --deny-warnings"), "Failed", "{text}");
    assert!(text.contains("W001"), "{text}");
    assert_eq!(verdict(&text, "moat compile --check"), "Failed", "{text}");
}

/// The workflow's steps, by id or name.
fn workflow_step(workflow: &Value, key: &str) -> Value {
    workflow["jobs"]["diff"]["steps"]
        .as_array()
        .expect("an array")
        .iter()
        .find(|s| s["id"] == key || s["name"] == key)
        .unwrap_or_else(|| panic!("no step `{key}`"))
        .clone()
}

fn run_step(step: &Value, dir: &Path, env: &[(&str, String)], path: &str) -> Output {
    let script = step["run"].as_str().expect("a string");
    Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("the command runs")
}

#[test]
fn the_pull_request_workflow_posts_the_semantic_diff() {
    let text = std::fs::read_to_string(root().join("docs/ci/moat-diff-comment.yml")).expect("file I/O");
    let workflow: Value = serde_saphyr::from_str(&text).expect("well-formed output");
    assert_eq!(workflow["permissions"]["pull-requests"], "write");
    let checkout = &workflow["jobs"]["diff"]["steps"][0];
    assert_eq!(
        checkout["with"]["fetch-depth"], 0,
        "the base commit must be fetched"
    );
    let policy = workflow["jobs"]["diff"]["env"]["POLICY"]
        .as_str()
        .expect("a string")
        .to_string();
    assert_eq!(policy, "policies/shop.moat");

    let tmp = TempDir::new("workflow");
    let repo = tmp.path().join("repo");
    policy_repo(&repo);
    let base = git(&repo, &["rev-parse", "HEAD"]);
    // The pull request: the API may now call back into the UI.
    let mut changed = std::fs::read_to_string(repo.join(&policy)).expect("file I/O");
    changed.push_str("allow app.api -> web.ui : tcp/8080 \"callbacks\"\n");
    std::fs::write(repo.join(&policy), changed).expect("file I/O");
    git(&repo, &["commit", "-q", "-am", "callbacks"]);

    // `gh` is GitHub's CLI; here a stand-in records what it would post.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("file I/O");
    let gh = bin.join("gh");
    std::fs::write(&gh, "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$GH_ARGS\"\n").expect("file I/O");
    Command::new("chmod")
        .arg("+x")
        .arg(&gh)
        .status()
        .expect("the command runs");
    let output = tmp.path().join("github-output");
    let env = vec![
        ("POLICY", policy.clone()),
        ("BASE_SHA", base.clone()),
        ("GITHUB_OUTPUT", output.display().to_string()),
    ];
    let out = run_step(&workflow_step(&workflow, "diff"), &repo, &env, &path_with_moat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(repo.join("moat-diff.md")).expect("file I/O");
    assert!(
        md.contains("app.api") && md.contains("web.ui") && md.contains("8080"),
        "{md}"
    );
    assert!(std::fs::read_to_string(&output)
        .expect("file I/O")
        .contains("changed=1"));

    let args_file = tmp.path().join("gh-args");
    let mut env = env.clone();
    env.push(("PR", "7".into()));
    env.push(("GH_ARGS", args_file.display().to_string()));
    let path = format!("{}:{}", bin.display(), path_with_moat());
    let out = run_step(&workflow_step(&workflow, "comment"), &repo, &env, &path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let posted = std::fs::read_to_string(&args_file).expect("file I/O");
    assert_eq!(posted, "pr\ncomment\n7\n--body-file\nmoat-diff.md\n");

    // A pull request that changes no flow says so; one that breaks the policy fails the job.
    git(&repo, &["reset", "-q", "--hard", &base]);
    let out = run_step(&workflow_step(&workflow, "diff"), &repo, &env, &path_with_moat());
    assert!(out.status.success());
    assert!(std::fs::read_to_string(repo.join("moat-diff.md"))
        .expect("file I/O")
        .contains("same flows"));
    std::fs::write(repo.join(&policy), "zone broken : militarised {\n").expect("file I/O");
    let out = run_step(&workflow_step(&workflow, "diff"), &repo, &env, &path_with_moat());
    assert_eq!(out.status.code(), Some(2));
}
