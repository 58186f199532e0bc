//! The language reference `docs/language.md` is complete and self-contained:
//! its diagnostics table is the registry of every code (`src/codes.rs`), every
//! subcommand of `moat --help` is documented, and neither it nor the README
//! points outside the repository.

mod common;

use common::{moat, root};

/// The diagnostics table the reference must hold: one row per code of the
/// registry (`src/codes.rs`), in its order, with its meaning and fix.
fn registry_table() -> String {
    let mut t = String::from("| code | meaning | typical fix |\n| --- | --- | --- |\n");
    for c in moat::codes::CODES {
        t.push_str(&format!("| {} | {} | {} |\n", c.code, c.meaning, c.fix));
    }
    t
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The reference's table is the registry, row for row (the registry is
/// itself tested complete against `src/` by `diagnostic_codes.rs`), so every
/// code moat can report is documented with its meaning and fix.
#[test]
fn the_reference_table_is_the_registry() {
    let doc = read("docs/language.md");
    let want = registry_table();
    assert!(
        doc.contains(&want),
        "docs/language.md's diagnostics table differs from src/codes.rs; it should read:\n{want}"
    );
    assert!(moat::codes::CODES.len() > 20);
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
