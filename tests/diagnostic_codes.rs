//! The registry of diagnostic codes (`moat::codes`) is complete: every code
//! the source reports has an entry, and the README's table says what the
//! registry says, row for row.

mod common;

use common::root;
use std::collections::BTreeSet;

/// Every `"E0NN"`/`"W0NN"` string literal in `src/`.
fn codes_in_source() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).expect("a readable directory") {
            let p = e.expect("a readable directory").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("codes.rs") {
                let text = std::fs::read_to_string(&p).expect("file I/O");
                let b = text.as_bytes();
                for i in 0..b.len().saturating_sub(5) {
                    let lit = &b[i..i + 6];
                    if lit[0] == b'"'
                        && (lit[1] == b'E' || lit[1] == b'W')
                        && lit[2..5].iter().all(u8::is_ascii_digit)
                        && lit[5] == b'"'
                    {
                        found.insert(String::from_utf8(lit[1..5].to_vec()).expect("well-formed output"));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_code_the_source_reports_is_in_the_registry() {
    let registry: BTreeSet<&str> = moat::codes::CODES.iter().map(|c| c.code).collect();
    let missing: Vec<String> = codes_in_source()
        .into_iter()
        .filter(|c| !registry.contains(c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "codes used in src/ but not in src/codes.rs: {missing:?}"
    );
}

#[test]
fn the_readme_table_is_the_registry() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("file I/O");
    let rows: Vec<(String, String)> = readme
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() == 4
                && cells[1].len() == 4
                && (cells[1].starts_with('E') || cells[1].starts_with('W'))
                && cells[1][1..].bytes().all(|b| b.is_ascii_digit()))
            .then(|| (cells[1].to_string(), cells[2].to_string()))
        })
        .collect();
    let registry: Vec<(String, String)> = moat::codes::CODES
        .iter()
        .map(|c| (c.code.to_string(), c.meaning.to_string()))
        .collect();
    assert_eq!(
        rows, registry,
        "README.md's diagnostics table and src/codes.rs differ"
    );
}
