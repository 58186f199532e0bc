//! `docs/architecture.md` keeps up with the code: it names every module of
//! the library, every back end and every live reader, and its picture is the
//! rendering of `docs/architecture.dot`.

mod common;

use common::{missing_tool, root, skip};
use std::process::Command;

fn doc() -> String {
    std::fs::read_to_string(root().join("docs/architecture.md")).expect("docs/architecture.md")
}

/// The `pub mod NAME;` lines of a module file.
fn modules_of(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(file)).expect("a source file");
    text.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn every_library_module_is_described() {
    let doc = doc();
    let missing: Vec<String> = modules_of("src/lib.rs")
        .into_iter()
        .filter(|m| {
            !doc.contains(&format!("`{m}`"))
                && !doc.contains(&format!("{m}.rs"))
                && !doc.contains(&format!("{m}/"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not describe: {missing:?}"
    );
}

#[test]
fn every_back_end_and_live_reader_is_named() {
    let doc = doc();
    for (file, what) in [
        ("src/backend/mod.rs", "back-end module"),
        ("src/live/mod.rs", "live module"),
    ] {
        for m in modules_of(file) {
            assert!(
                doc.contains(&format!("`{m}.rs`")) || doc.contains(&format!("`{m}/`")),
                "docs/architecture.md does not name the {what} `{m}`"
            );
        }
    }
}

#[test]
fn the_picture_is_the_dot_file_rendered() {
    if let Some(why) = missing_tool("dot") {
        return skip(&why);
    }
    let out = Command::new("bash")
        .arg(root().join("scripts/architecture-svg.sh"))
        .env("ARCH_SVG_STDOUT", "1")
        .output()
        .expect("scripts/architecture-svg.sh runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let committed =
        std::fs::read_to_string(root().join("docs/architecture.svg")).expect("docs/architecture.svg");
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "docs/architecture.svg is not the rendering of docs/architecture.dot: run scripts/architecture-svg.sh"
    );
}
