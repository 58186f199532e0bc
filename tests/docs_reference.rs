//! The language reference `docs/language.md` is complete and self-contained:
//! every diagnostic code the source can report has a row in its table (and in
//! the README's), the table is sorted, every subcommand of `moat --help` is
//! documented, and neither page points outside the repository.

mod common;

use common::{moat, root};
use std::collections::BTreeSet;
use std::path::Path;

/// Every `"E0nn"` / `"W0nn"` string literal in the Rust sources under `dir`.
fn codes_in_source(dir: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            codes_in_source(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).expect("read source");
            let b = text.as_bytes();
            for i in 0..b.len().saturating_sub(5) {
                let lit = &b[i..i + 6];
                if lit[0] == b'"'
                    && matches!(lit[1], b'E' | b'W')
                    && lit[2..5].iter().all(u8::is_ascii_digit)
                    && lit[5] == b'"'
                {
                    out.insert(String::from_utf8_lossy(&lit[1..5]).into_owned());
                }
            }
        }
    }
}

/// The codes of the rows `| E0nn | ...` of a Markdown table, in order.
fn table_codes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next())
        .filter(|c| {
            c.len() == 4 && matches!(&c[..1], "E" | "W") && c[1..].bytes().all(|b| b.is_ascii_digit())
        })
        .map(str::to_string)
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_code_in_the_source_is_documented() {
    let mut used = BTreeSet::new();
    codes_in_source(&root().join("src"), &mut used);
    assert!(used.len() > 20, "found only {used:?}");
    for page in ["docs/language.md", "README.md"] {
        let rows: BTreeSet<String> = table_codes(&read(page)).into_iter().collect();
        let missing: Vec<&String> = used.difference(&rows).collect();
        assert!(missing.is_empty(), "{page} has no table row for {missing:?}");
    }
}

#[test]
fn the_reference_table_is_sorted_and_has_each_code_once() {
    let codes = table_codes(&read("docs/language.md"));
    let mut sorted = codes.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        codes, sorted,
        "docs/language.md's diagnostics table is not sorted, or repeats a code"
    );
}

#[test]
fn every_subcommand_is_in_the_reference() {
    let out = moat().arg("--help").output().expect("run moat --help");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc = read("docs/language.md");
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 8, "{help}");
    for c in commands {
        assert!(
            doc.contains(&format!("`moat {c} ")),
            "docs/language.md does not document `moat {c}`"
        );
    }
}

#[test]
fn the_docs_point_inside_the_repository() {
    for page in ["docs/language.md", "README.md"] {
        let text = read(page);
        for bad in ["../shared", "shared folder", "spec/language.md", "spec §"] {
            assert!(
                !text.contains(bad),
                "{page} refers outside the repository: `{bad}`"
            );
        }
    }
}
