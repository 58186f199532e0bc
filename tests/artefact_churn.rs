//! A one-statement change to a policy changes only the artefact units that
//! enforce it: Terraform resources, Kubernetes objects, netfilter rule lines.
//! Moving or reordering statements changes no artefact at all, only each
//! target's `sources.tsv`, which maps the stable citations (`allow#…`) back
//! to `file:line`.

mod common;

use common::{moat, root, TempDir};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One unit of an artefact and its text: `file resource-address`,
/// `file kind/namespace/name`, or `file line`.
type Units = BTreeMap<String, String>;

/// The policies and the targets each is compiled for: together every target.
const POLICIES: [(&str, &str, &str, &[&str]); 3] = [
    (
        "hybrid",
        "fixtures/cloud/hybrid.moat",
        "all",
        &["aws", "azure", "gcp", "iptables", "nftables"],
    ),
    (
        "mosip",
        "policies/mosip.moat",
        "all,k8s-admin,istio",
        &["iptables", "istio", "k8s", "k8s-admin", "nftables"],
    ),
    (
        "guards",
        "fixtures/mesh/guards.moat",
        "all,k8s-admin,istio",
        &["istio", "k8s", "k8s-admin"],
    ),
];

fn compile(dir: &Path, targets: &str, policy_text: &str, out: &str) -> BTreeMap<String, String> {
    let src = dir.join("policy.moat");
    std::fs::write(&src, policy_text).expect("write the policy");
    let status = moat()
        .args(["compile", "policy.moat", "--target", targets, "--out", out])
        .current_dir(dir)
        .output()
        .expect("moat runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.join(out)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("a directory") {
            let p = e.expect("an entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir.join(out))
                    .expect("below out")
                    .display()
                    .to_string();
                files.insert(rel, std::fs::read_to_string(&p).expect("UTF-8"));
            }
        }
    }
    std::fs::remove_dir_all(dir.join(out)).expect("remove");
    files
}

fn units(files: &BTreeMap<String, String>) -> Units {
    let mut u = Units::new();
    for (file, text) in files {
        if file.ends_with("sources.tsv") {
            continue;
        }
        if file.ends_with(".json") {
            // Terraform JSON (`resource.TYPE.NAME`) or CloudFormation (`Resources.ID`).
            let v: serde_json::Value = serde_json::from_str(text).expect("JSON");
            for (typ, objs) in v["resource"].as_object().into_iter().flatten() {
                for (name, body) in objs.as_object().expect("resources") {
                    u.insert(format!("{file} {typ}.{name}"), body.to_string());
                }
            }
            for (id, body) in v["Resources"].as_object().into_iter().flatten() {
                u.insert(format!("{file} {id}"), body.to_string());
            }
            // Everything else (variables, outputs, parameters) as one unit.
            let mut rest = v.clone();
            let obj = rest.as_object_mut().expect("an object");
            obj.remove("resource");
            obj.remove("Resources");
            u.insert(format!("{file} (rest)"), rest.to_string());
        } else if file.ends_with(".yaml") {
            for doc in text.split("\n---\n") {
                let v: serde_json::Value = serde_saphyr::from_str(doc).expect("YAML");
                let key = format!(
                    "{file} {}/{}/{}",
                    v["kind"].as_str().unwrap_or("?"),
                    v["metadata"]["namespace"].as_str().unwrap_or(""),
                    v["metadata"]["name"].as_str().unwrap_or("?")
                );
                u.insert(key, doc.to_string());
            }
        } else {
            // Rule lines; an nftables set block (`\tset NAME {` to `\t}`) is one unit.
            let mut set: Option<(String, String)> = None;
            for line in text.lines() {
                if let Some((key, body)) = &mut set {
                    body.push_str(line);
                    body.push('\n');
                    if line == "\t}" {
                        let key = std::mem::take(key);
                        let body = std::mem::take(body);
                        u.insert(format!("{file} {key}"), body);
                        set = None;
                    }
                } else if line.starts_with("\tset ") {
                    set = Some((line.to_string(), String::new()));
                } else {
                    *u.entry(format!("{file} {line}")).or_default() += "+";
                }
            }
        }
    }
    u
}

/// The units that differ between `a` and `b` (changed, added or removed),
/// with their text on either side.
fn changed<'a>(a: &'a Units, b: &'a Units) -> Vec<(&'a str, String)> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let text = format!(
                "{k} {} {}",
                a.get(k).map_or("", String::as_str),
                b.get(k).map_or("", String::as_str)
            );
            (k.as_str(), text)
        })
        .collect()
}

/// The target of a unit (its key starts with the target's directory).
fn target(key: &str) -> &str {
    key.split('/').next().unwrap_or(key)
}

/// Per target: units changed / units in total, e.g. `aws 3/62, gcp 1/13`.
fn figures(changed: &[(&str, String)], base: &Units) -> String {
    let mut total: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for k in base.keys() {
        total.entry(target(k)).or_default().1 += 1;
    }
    for (k, _) in changed {
        total.entry(target(k)).or_default().0 += 1;
    }
    let v: Vec<String> = total.iter().map(|(t, (c, n))| format!("{t} {c}/{n}")).collect();
    v.join(", ")
}

/// The citation of the allow statement `stmt` (moat's own hash of its text).
fn cite(stmt: &str) -> String {
    moat::ir::cite(stmt)
}

/// The zones named by the endpoints of an allow statement.
fn zones_of(stmt: &str) -> Vec<String> {
    let head = stmt
        .split(" : ")
        .next()
        .unwrap_or(stmt)
        .trim_start_matches("allow ");
    head.split([',', '>'])
        .map(|e| e.trim().trim_end_matches('-').trim())
        .filter(|e| !e.is_empty())
        .map(|e| e.split('.').next().unwrap_or(e).to_string())
        .collect()
}

/// The lines that hold a whole allow statement (the next line does not continue it).
fn allow_lines(text: &str) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    (0..lines.len())
        .filter(|&i| {
            let l = lines[i];
            let continued = lines
                .get(i + 1)
                .is_some_and(|n| n.starts_with(char::is_whitespace) && !n.trim().is_empty());
            l.starts_with("allow ") && l.contains(" -> ") && l.contains(" : ") && !continued
        })
        .collect()
}

fn with_lines(text: &str, f: impl FnOnce(&mut Vec<String>)) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    f(&mut lines);
    lines.join("\n") + "\n"
}

/// Every citation in the artefacts resolves, through `sources.tsv`, to the
/// line where that statement starts.
fn sources_resolve(files: &BTreeMap<String, String>, policy: &str) {
    let lines: Vec<&str> = policy.lines().collect();
    let mut tables = 0;
    for (file, text) in files {
        let Some(dir) = file.strip_suffix("/sources.tsv") else {
            continue;
        };
        tables += 1;
        for row in text.lines().skip(2) {
            let cols: Vec<&str> = row.split('\t').collect();
            assert_eq!(cols.len(), 4, "{file}: {row}");
            let artefact = &files[&format!("{dir}/{}", cols[0])];
            assert!(
                artefact.contains(cols[1]),
                "{file}: {} does not cite {}",
                cols[0],
                cols[1]
            );
            let line: usize = cols[2]
                .rsplit(':')
                .next()
                .expect("file:line")
                .parse()
                .expect("a line");
            let statement = lines[line - 1];
            let want = if statement.starts_with("forbid") {
                moat::ir::forbid_cite(cols[3])
            } else {
                assert!(
                    statement.starts_with("allow"),
                    "{file}: {} is no allow or forbid",
                    cols[2]
                );
                cite(cols[3])
            };
            assert_eq!(want, cols[1], "{file}: the citation is the hash of the statement");
        }
    }
    assert!(tables > 0, "no sources.tsv written");
}

fn check_policy(name: &str, policy: &str, targets: &str, dirs: &[&str]) {
    let tmp = TempDir::new("churn");
    let base = compile(tmp.path(), targets, policy, "base");
    sources_resolve(&base, policy);
    let base_units = units(&base);
    let written: Vec<&str> = base_units
        .keys()
        .map(|k| target(k))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(written, dirs, "{name}: the targets compiled");
    eprintln!("{name}: units per target: {}", figures(&[], &base_units));
    let allows = allow_lines(policy);
    assert!(allows.len() >= 4, "{name}: too few one-line allows to test with");

    // Moving every statement down (a comment block above them) and swapping
    // two statements change no artefact; sources.tsv follows the lines.
    let moved = with_lines(policy, |l| {
        l.insert(allows[0], "# a comment block\n# of three lines\n#".to_string());
    });
    let moved_files = compile(tmp.path(), targets, &moved, "moved");
    assert_eq!(
        changed(&base_units, &units(&moved_files)).len(),
        0,
        "{name}: moving statements changed artefacts"
    );
    assert_ne!(
        moved_files
            .iter()
            .filter(|(f, _)| f.ends_with("sources.tsv"))
            .count(),
        0
    );
    sources_resolve(&moved_files, &moved);
    let swapped = with_lines(policy, |l| l.swap(allows[1], allows[2]));
    let swapped_files = compile(tmp.path(), targets, &swapped, "swapped");
    let swapped_units = units(&swapped_files);
    let c = changed(&base_units, &swapped_units);
    assert!(
        c.is_empty(),
        "{name}: reordering statements changed artefacts: {c:#?}"
    );
    sources_resolve(&swapped_files, &swapped);
    eprintln!(
        "{name}: moving and reordering statements: per target: {}",
        figures(&c, &base_units)
    );

    // Removing one statement changes only units that cited it (or that cite
    // nothing: a chain or set no other flow needs any more).
    for &at in [
        allows[0],
        allows[allows.len() / 2],
        *allows.last().expect("allows"),
    ]
    .iter()
    {
        let stmt = policy.lines().nth(at).expect("the line").to_string();
        let gone = cite(&stmt);
        let removed = with_lines(policy, |l| {
            l.remove(at);
        });
        let diff_units = units(&compile(tmp.path(), targets, &removed, "removed"));
        let c = changed(&base_units, &diff_units);
        let (citing, structural): (Vec<_>, Vec<_>) = c.iter().partition(|(_, t)| t.contains(&gone));
        let stray: Vec<&&(&str, String)> = structural.iter().filter(|(_, t)| t.contains("allow#")).collect();
        assert!(
            stray.is_empty(),
            "{name}: removing `{stmt}` changed units that do not cite it: {stray:#?}"
        );
        let zones = zones_of(&stmt);
        let unrelated: Vec<_> = structural
            .iter()
            // A comment or a lone brace (a chain that is no longer needed).
            .filter(|(k, _)| {
                !k.split_once(' ')
                    .is_some_and(|(_, u)| u.starts_with('#') || u.trim() == "}")
            })
            .filter(|(_, t)| !zones.iter().any(|z| t.contains(z.as_str())))
            .collect();
        assert!(
            unrelated.is_empty(),
            "{name}: removing `{stmt}` changed unrelated units: {unrelated:#?}"
        );
        eprintln!(
            "{name}: removing `{stmt}`: {} unit(s) changed, {} structural; per target: {}",
            citing.len(),
            structural.len(),
            figures(&c, &base_units)
        );
    }

    // Adding one statement (one allow's source with another's destination
    // and ports: the first such new flow that checks without a finding)
    // changes only units that cite it.
    let split = |at: usize| {
        let line = policy.lines().nth(at).expect("a line");
        let (head, ports) = line.split_once(" : ").expect("allow A -> B : PORTS");
        let (from, to) = head
            .trim_start_matches("allow ")
            .split_once(" -> ")
            .expect("A -> B");
        let ports = ports.split('"').next().unwrap_or(ports).trim().to_string();
        (from.trim().to_string(), to.trim().to_string(), ports)
    };
    let (added_stmt, added) = allows
        .iter()
        .flat_map(|&i| allows.iter().map(move |&j| (i, j)))
        .filter(|(i, j)| i != j)
        .find_map(|(i, j)| {
            let (from, _, _) = split(i);
            let (_, to, ports) = split(j);
            let stmt = format!("allow {from} -> {to} : {ports} \"one more flow\"");
            let text = with_lines(policy, |l| l.insert(allows[1], stmt.clone()));
            let before = moat::check_str("policy.moat", policy).diags.len();
            let c = moat::check_str("policy.moat", &text);
            (c.ir.is_some() && c.diags.len() == before).then_some((stmt, text))
        })
        .expect("some new flow checks");
    let new_cite = cite(&added_stmt);
    let added_units = units(&compile(tmp.path(), targets, &added, "added"));
    let c = changed(&base_units, &added_units);
    assert!(!c.is_empty(), "{name}: the new flow changed nothing");
    let stray: Vec<&(&str, String)> = c
        .iter()
        .filter(|(_, t)| !t.contains(&new_cite) && t.contains("allow#"))
        .collect();
    assert!(
        stray.is_empty(),
        "{name}: adding `{added_stmt}` changed units that do not cite it: {stray:#?}"
    );
    eprintln!(
        "{name}: adding `{added_stmt}`: {} unit(s) changed of {}; per target: {}",
        c.len(),
        base_units.len(),
        figures(&c, &base_units)
    );
}

#[test]
fn one_statement_changes_only_what_enforces_it() {
    for (name, path, targets, dirs) in POLICIES {
        let text = std::fs::read_to_string(root().join(path)).expect("the policy");
        check_policy(name, &text, targets, dirs);
    }
}
