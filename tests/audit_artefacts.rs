//! `moat query --artefacts DIR`: the compiled files that enforce the allows
//! of an answer, read from the `sources.tsv` each target's directory holds
//! after `moat compile --out DIR`.

mod common;

use common::{moat, root, TempDir};
use serde_json::Value;

fn query(dir: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = moat()
        .arg("query")
        .arg(root().join("fixtures/cloud/hybrid.moat"))
        .args([
            "--from",
            "edge.lb",
            "--to",
            "app.api",
            "--port",
            "tcp/8080",
            "--artefacts",
        ])
        .arg(dir)
        .args(extra)
        .output()
        .expect("moat runs");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("UTF-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn query_lists_the_artefacts_that_enforce_each_allow() {
    let tmp = TempDir::new("query-artefacts");
    let out = tmp.path().join("fw");
    let status = moat()
        .arg("compile")
        .arg(root().join("fixtures/cloud/hybrid.moat"))
        .args(["--target", "all", "--out"])
        .arg(&out)
        .output()
        .expect("moat runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let (code, json, err) = query(&out, &["--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["verdict"], "allow");
    let enforced = v["enforced_by"].as_array().expect("enforced_by with --artefacts");
    assert_eq!(enforced.len(), 1, "{json}");
    let e = &enforced[0];
    let cite = e["allow"].as_str().expect("a citation");
    assert!(cite.starts_with("allow#"), "{cite}");
    assert!(
        e["location"]
            .as_str()
            .expect("a location")
            .ends_with("hybrid.moat:40"),
        "{e}"
    );
    let files = e["artefacts"].as_array().expect("artefacts");
    let targets: Vec<&str> = files
        .iter()
        .map(|f| f["target"].as_str().expect("a target"))
        .collect();
    // edge is in AWS, app in GCP: both clouds enforce the flow.
    for t in ["aws", "gcp"] {
        assert!(targets.contains(&t), "{t} missing: {json}");
    }
    // Every file listed exists and cites the allow; no other file does.
    let mut citing = 0;
    for f in files {
        let path = out
            .join(f["target"].as_str().expect("a target"))
            .join(f["file"].as_str().expect("a file"));
        let text = std::fs::read_to_string(&path).expect("the listed artefact exists");
        assert!(text.contains(cite), "{} does not cite {cite}", path.display());
        citing += 1;
    }
    let mut all = 0;
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("a directory") {
            let p = entry.expect("an entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("sources.tsv")
                && std::fs::read_to_string(&p).is_ok_and(|t| t.contains(cite))
            {
                all += 1;
            }
        }
    }
    assert_eq!(citing, all, "every artefact citing the allow is listed");

    // Text: the answer, then a line per allow with its artefacts.
    let (code, text, _) = query(&out, &[]);
    assert_eq!(code, Some(0));
    assert!(text.starts_with("allow\n"), "{text}");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(cite))
        .unwrap_or_else(|| panic!("no line for {cite}: {text}"));
    assert!(line.contains("aws/") && line.contains("gcp/"), "{line}");

    // Without --artefacts the JSON answer has no enforced_by.
    let plain = moat()
        .arg("query")
        .arg(root().join("fixtures/cloud/hybrid.moat"))
        .args([
            "--from", "edge.lb", "--to", "app.api", "--port", "tcp/8080", "--format", "json",
        ])
        .output()
        .expect("moat runs");
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("enforced_by"));

    // A directory moat did not write is trouble, and says what to do.
    let (code, _, err) = query(tmp.path(), &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("sources.tsv") && err.contains("moat compile --out"),
        "{err}"
    );
}
