//! Injection-proof output: strings that travel from a policy into artefacts
//! (the policy title, reasons, waivers, site properties) are escaped or
//! rejected for every format. Each hostile string is compiled for every
//! target and compared with the same policy holding a plain word instead:
//! the artefacts must be the same files, with the same structure — the same
//! rules once comments are set aside (iptables, nftables), the same YAML and
//! JSON shape (no added key, document or resource), and no new Terraform
//! interpolation. The iptables and nftables files are also loaded with
//! `iptables-restore --test` and `nft -c -f`. A compile that refuses the
//! string with a coded diagnostic (exit 1) is fine: rejected, not injected.
//! Namespaces and pod labels cannot carry such strings at all (E018, E019).

mod common;
mod robust_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Strings that try to break out of a comment, a quoted value or a document.
const HOSTILE: &[(&str, &str)] = &[
    ("iptables newline rule", "x\n-A FORWARD -j ACCEPT"),
    ("iptables quote", "\" -j ACCEPT #"),
    ("iptables CRLF rule", "x\r\n-A FORWARD -j ACCEPT"),
    ("iptables new table", "x\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT"),
    ("iptables long comment", "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789"),
    ("nft brace", "} ; chain evil { type filter hook forward priority -1; policy accept; }"),
    ("nft quote", "x\" ; accept ; comment \""),
    ("shell and tab", "$(reboot)\t`id`"),
    ("backslashes", "a\\\"b\\\\n\\"),
    ("YAML key", "x\ninjected: true"),
    ("YAML document", "x\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: evil"),
    ("YAML flow", "{injected: true}, [1, 2]"),
    ("JSON key", "\", \"injected\": \"1"),
    ("JSON close", "\"}]}], \"resource\": {\"x\": {}}, \"y\": [{\""),
    ("Terraform interpolation", "${file(\"/etc/passwd\")}"),
    ("Terraform directive", "%{ for x in [1] }x%{ endfor }"),
    ("Terraform escaped", "$${not} %%{this}"),
    ("unicode", "zone→zone ✓ — naïve"),
];

/// The benign stand-in for the hostile strings.
const PLAIN: &str = "benign";

/// A moat string literal holding `s`.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A policy with something for every target; `text` (already quoted) is the
/// title, every reason and the waiver, and `prop` (quoted) every site property.
fn policy(text: &str, prop: &str) -> String {
    format!(
        r#"policy inj {text}
site dc : onprem
site cloud : aws {{ region {prop} vpc "vpc-0a1b2c3d" }}
site g : gcp {{ project "shop-prod" region "asia-south1" network {prop} }}
site az : azure {{ region "centralindia" resource_group {prop} }}
zone internet : external {{ cidr 0.0.0.0/0 }}
zone dmz : demilitarised @ dc {{ cidr 10.10.0.0/16 namespace dmz
  service web {{ pods app=web hosts 10.10.0.10 port https tcp/443 }} }}
zone mz : militarised @ dc {{ cidr 10.20.0.0/16 namespace mz
  service db {{ pods app=db hosts 10.20.0.10 port pg tcp/5432 }} }}
zone aw : militarised @ cloud {{ cidr 10.30.0.0/16 service app {{ hosts 10.30.0.10 port api tcp/8080 }} }}
zone gc : militarised @ g {{ cidr 10.40.0.0/16 service app {{ hosts 10.40.0.10 port api tcp/8080 }} }}
zone zz : militarised @ az {{ cidr 10.50.0.0/16 service app {{ hosts 10.50.0.10 port api tcp/8080 }} }}
allow internet -> dmz.web : https {text}
allow dmz.web -> mz.db : pg {text} exempt {text}
allow dmz.web -> aw.app, gc.app, zz.app : api {text}
allow aw.app -> gc.app, zz.app : api {text}
"#
    )
}

/// How a compile ended: artefacts by path, or the codes that refused it.
enum Outcome {
    Files(BTreeMap<String, String>),
    Rejected(Vec<String>),
}

fn compile(text: &str) -> Outcome {
    let t = common::TempDir::new("injection");
    let file = t.path().join("p.moat");
    std::fs::write(&file, text).expect("write policy");
    let dir = t.path().join("out");
    let mut c = common::moat();
    c.arg("compile")
        .arg(&file)
        .args(["--target", "all", "--format", "json", "--out"])
        .arg(&dir);
    let r = robust_support::run(c, Duration::from_secs(60));
    match r.code() {
        0 => Outcome::Files(read_tree(&dir)),
        1 => {
            // `compile --format json` prints one document on stdout; its
            // `diagnostics` are the array of `check --format json`.
            let codes = serde_json::from_str::<serde_json::Value>(&r.stdout)
                .ok()
                .and_then(|v| {
                    v["diagnostics"].as_array().map(|a| {
                        a.iter()
                            .filter(|d| d["severity"] == "error")
                            .filter_map(|d| d["code"].as_str().map(str::to_string))
                            .collect()
                    })
                })
                .unwrap_or_default();
            Outcome::Rejected(codes)
        }
        c => panic!("moat compile exited {c}: {}", r.stderr),
    }
}

fn read_tree(dir: &Path) -> BTreeMap<String, String> {
    robust_support::tree(dir)
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

/// A netfilter line with every quoted string (the comments: `--comment "..."`,
/// `comment "..."`, honouring backslash escapes) blanked, or `None` for a
/// comment line.
fn without_comment(line: &str) -> Option<String> {
    let l = line.trim();
    if l.is_empty() || l.starts_with('#') {
        return None;
    }
    let mut out = String::new();
    let mut chars = l.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        out.push_str("\"<C>\"");
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => break,
                _ => {}
            }
        }
    }
    Some(out)
}

/// A JSON or YAML value with every string replaced by its kind, so that
/// only structure is compared.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as V;
    match v {
        V::String(_) => V::String("<s>".into()),
        V::Array(a) => V::Array(a.iter().map(shape).collect()),
        V::Object(m) => V::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        other => other.clone(),
    }
}

/// Unescaped Terraform template sequences (`${`, `%{` not doubled).
fn interpolations(s: &str) -> usize {
    let b = s.as_bytes();
    (1..b.len())
        .filter(|&i| {
            b[i] == b'{' && (b[i - 1] == b'$' || b[i - 1] == b'%') && (i < 2 || b[i - 2] != b[i - 1])
        })
        .count()
}

/// What is wrong with `got` compared with the benign `base`, per file.
fn compare(base: &BTreeMap<String, String>, got: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = vec![];
    if base.keys().ne(got.keys()) {
        problems.push(format!(
            "files differ: {:?} vs {:?}",
            base.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>()
        ));
        return problems;
    }
    for (path, b) in base {
        let g = &got[path];
        if path.ends_with(".rules") || path.ends_with(".nft") {
            let bl: Vec<String> = b.lines().filter_map(without_comment).collect();
            let gl: Vec<String> = g.lines().filter_map(without_comment).collect();
            if bl != gl {
                let extra: Vec<&String> = gl.iter().filter(|l| !bl.contains(l)).take(3).collect();
                problems.push(format!(
                    "{path}: {} rule lines instead of {}; new: {extra:?}",
                    gl.len(),
                    bl.len()
                ));
            }
            let (tool, args): (&str, &[&str]) = if path.ends_with(".nft") {
                ("nft", &["-c", "-f"])
            } else if path.contains(".v6.") {
                ("ip6tables-restore", &["--test"])
            } else {
                ("iptables-restore", &["--test"])
            };
            if let Err(e) = load(tool, args, g) {
                problems.push(format!("{path}: {e}"));
            }
        } else if path.ends_with(".yaml") || path.ends_with(".yml") {
            let parse = |t: &str| {
                serde_saphyr::from_multiple::<serde_json::Value>(t)
                    .map(|d| d.iter().map(shape).collect::<Vec<_>>())
            };
            match (parse(b), parse(g)) {
                (Ok(x), Ok(y)) if x == y => {}
                (Ok(x), Ok(y)) => problems.push(format!(
                    "{path}: YAML structure changed ({} vs {} documents)",
                    x.len(),
                    y.len()
                )),
                (_, Err(e)) => problems.push(format!("{path}: no longer valid YAML: {e}")),
                (Err(e), _) => problems.push(format!("{path}: the benign output is not YAML: {e}")),
            }
        } else if path.ends_with(".json") {
            match (
                serde_json::from_str::<serde_json::Value>(b),
                serde_json::from_str::<serde_json::Value>(g),
            ) {
                (Ok(x), Ok(y)) if shape(&x) == shape(&y) => {}
                (Ok(_), Ok(_)) => problems.push(format!("{path}: JSON structure changed")),
                (_, Err(e)) => problems.push(format!("{path}: no longer valid JSON: {e}")),
                (Err(e), _) => problems.push(format!("{path}: the benign output is not JSON: {e}")),
            }
            if path.contains(".tf.") && interpolations(g) != interpolations(b) {
                problems.push(format!(
                    "{path}: {} Terraform interpolations instead of {}",
                    interpolations(g),
                    interpolations(b)
                ));
            }
        } else if b.lines().count() != g.lines().count() {
            problems.push(format!(
                "{path}: {} lines instead of {}",
                g.lines().count(),
                b.lines().count()
            ));
        }
    }
    problems
}

/// Checks a ruleset with the real tool without loading it (in a throw-away
/// network namespace). Missing tool or root: skip (fail under MOAT_FULL_TESTS).
fn load(tool: &str, args: &[&str], text: &str) -> Result<(), String> {
    if let Some(why) = common::missing_tool(tool).or_else(common::missing_root) {
        common::skip(&why);
        return Ok(());
    }
    let t = common::TempDir::new("injection-load");
    let file = t.path().join("rules");
    std::fs::write(&file, text).expect("write rules");
    let out = std::process::Command::new("unshare")
        .arg("--net")
        .arg(tool)
        .args(args)
        .arg(&file)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{tool} {args:?} rejects it: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The targets an artefact path belongs to.
fn target_of(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

fn run_cases(where_: &str, make: impl Fn(&str) -> String) {
    let base = match compile(&make(&quoted(PLAIN))) {
        Outcome::Files(f) => f,
        Outcome::Rejected(c) => panic!("the benign policy is rejected: {c:?}"),
    };
    if base.is_empty() {
        return common::skip("the back ends emit nothing yet");
    }
    let mut problems = vec![];
    let mut summary = vec![];
    for (name, s) in HOSTILE {
        match compile(&make(&quoted(s))) {
            Outcome::Rejected(codes) => summary.push(format!("{where_} / {name}: rejected {codes:?}")),
            Outcome::Files(got) => {
                let found = compare(&base, &got);
                let mut bad: BTreeMap<&str, usize> = BTreeMap::new();
                for p in &found {
                    *bad.entry(target_of(p)).or_default() += 1;
                }
                summary.push(format!(
                    "{where_} / {name}: {}",
                    if found.is_empty() {
                        "escaped".to_string()
                    } else {
                        format!("INJECTED in {:?}", bad.keys().collect::<Vec<_>>())
                    }
                ));
                problems.extend(found.into_iter().map(|p| format!("{where_} / {name}: {p}")));
            }
        }
    }
    eprintln!("{}", summary.join("\n"));
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn hostile_titles_reasons_and_waivers_add_nothing() {
    run_cases("title/reason/waiver", |q| policy(q, "\"prop-1\""));
}

#[test]
fn hostile_site_properties_add_nothing() {
    run_cases("site property", |q| policy("\"t\"", q));
}

/// Namespaces and labels become object names and selectors: hostile text
/// there is refused before any back end runs.
#[test]
fn hostile_namespaces_and_labels_are_rejected() {
    for (name, s) in HOSTILE {
        for (where_, text) in [
            (
                "namespace",
                format!(
                    "zone k : militarised {{ namespace {} service s {{ pods app=x }} }}\n",
                    quoted(s)
                ),
            ),
            (
                "label value",
                format!(
                    "zone k : militarised {{ namespace k service s {{ pods app={} }} }}\n",
                    quoted(s)
                ),
            ),
        ] {
            match compile(&text) {
                Outcome::Rejected(codes) => assert!(
                    codes.iter().all(|c| c == "E018" || c == "E019"),
                    "{where_} / {name}: {codes:?}"
                ),
                Outcome::Files(f) => panic!("{where_} / {name}: accepted, wrote {:?}", f.keys()),
            }
        }
    }
}
