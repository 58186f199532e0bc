//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when `MOAT_FULL_TESTS=1`: a test that would skip must fail instead.
pub fn full_tests() -> bool {
    std::env::var("MOAT_FULL_TESTS").is_ok_and(|v| v == "1")
}

/// Skips the calling test with a printed reason, or panics under `MOAT_FULL_TESTS=1`.
/// Use as `if let Some(why) = missing(...) { return skip(&why); }`.
///
/// The reason is written to the process's standard error directly, not with
/// `eprintln!`: libtest captures the print macros of a passing test, so a
/// skip would be invisible under plain `cargo test`; a write to the stream
/// itself is not captured.
pub fn skip(reason: &str) {
    use std::io::Write;
    if full_tests() {
        panic!("MOAT_FULL_TESTS=1 but this test would skip: {reason}");
    }
    let name = std::thread::current().name().unwrap_or("a test").to_string();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "SKIPPED: {name}: {reason}");
}

/// `Some(reason)` when `tool` is not on PATH.
pub fn missing_tool(tool: &str) -> Option<String> {
    let found =
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
    (!found).then(|| format!("`{tool}` is not installed"))
}

/// `Some(reason)` when not running as root.
pub fn missing_root() -> Option<String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    (uid.as_deref() != Some("0")).then(|| "needs root (network namespaces, netfilter)".to_string())
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.venv/bin` tool `name` if the project's virtualenv has it, else `name` (from PATH).
pub fn venv_tool(name: &str) -> PathBuf {
    let p = root().join(".venv/bin").join(name);
    if p.is_file() {
        p
    } else {
        PathBuf::from(name)
    }
}

/// The built `moat` binary.
pub fn moat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_moat"))
}

/// A policy from `policies/`.
pub fn policy(name: &str) -> PathBuf {
    root().join("policies").join(name)
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/moat-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "moat-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// nca's connection text (`All connections`, `{protocols:TCP,dst_ports:80,8000-8100}`)
/// as a port set; `None` when it is not in that form.
pub fn nca_conns(s: &str) -> Option<moat::ports::PortSet> {
    use moat::ports::{PortRange, PortSet, Proto};
    if s == "All connections" {
        return Some(PortSet::any());
    }
    let body = s.strip_prefix("{protocols:")?.strip_suffix('}')?;
    let (protos, ports) = match body.split_once(",dst_ports:") {
        Some((p, d)) => (p, Some(d)),
        None => (body, None),
    };
    let mut out = PortSet::empty();
    for p in protos.split(',') {
        let proto = Proto::parse(&p.trim().to_lowercase())?;
        match ports {
            None => out.union_with(&PortSet::proto(proto)),
            Some(d) => {
                for r in d.split(',') {
                    let (lo, hi) = r.split_once('-').unwrap_or((r, r));
                    out.union_with(&PortSet::range(
                        proto,
                        PortRange::new(lo.trim().parse().ok()?, hi.trim().parse().ok()?),
                    ));
                }
            }
        }
    }
    Some(out)
}
