//! `moat lsp` with a real client nobody here wrote: Neovim's built-in LSP
//! client, headless, driven by tests/editor/lsp.lua on a copy of
//! tests/editor/policy/ (a file with a typo, and the file it includes).
//! Skips without `nvim` (fails under MOAT_FULL_TESTS=1); scripts/ci/install-editor.sh installs it.

mod common;

use std::process::Command;

#[test]
fn neovim_sees_diagnostics_hover_definition_completion_fixes_and_renames() {
    if let Some(why) = common::missing_tool("nvim") {
        return common::skip(&why);
    }
    let dir = common::TempDir::new("nvim");
    for f in ["main.moat", "services.moat"] {
        std::fs::copy(
            common::root().join("tests/editor/policy").join(f),
            dir.path().join(f),
        )
        .expect("copy");
    }
    let script = common::root().join("tests/editor/lsp.lua");
    let out = Command::new("nvim")
        .args(["--headless", "-u", "NONE", "-i", "NONE", "-n", "-c"])
        .arg(format!("luafile {}", script.display()))
        .env("MOAT_BIN", env!("CARGO_BIN_EXE_moat"))
        .env("MOAT_FILE", dir.path().join("main.moat"))
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .expect("run nvim");
    let stdout = String::from_utf8_lossy(&out.stdout).replace(&dir.path().display().to_string(), "DIR");
    assert!(
        out.status.success(),
        "nvim failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = "\
DIAG E002 5:18 unknown zone or service `mz.postgre`
COMPLETE postgres
COMPLETE pg,metrics,any,tcp/,udp/,sctp/,icmp,icmpv6
ACTION Replace with `mz.postgres`
FIXED allow dmz.web -> mz.postgres : pg
CLEAN
HOVER **service** `dmz.web` in demilitarised zone `dmz`
HOVER-FLOW - `internet -> dmz.web` tcp/443 (DIR/main.moat:4)
DEF services.moat 1:6
RENAME   service portal { hosts 10.10.0.5 port https tcp/443 } }
RENAME allow internet -> dmz.portal : https
RENAME allow dmz.portal -> mz.postgres : pg
DONE
";
    assert_eq!(stdout.trim_end(), want.trim_end());
}
