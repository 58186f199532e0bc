//! Helpers for the robustness tests: run `moat` with a time limit (a hang is
//! a failure, not a stuck suite) and measure its peak memory.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a finished `moat` run left behind.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub secs: f64,
}

impl Run {
    /// The exit code; a death by signal (a crash) fails the calling test.
    pub fn code(&self) -> i32 {
        match self.status.code() {
            Some(101) => panic!("moat panicked:\n{}", self.stderr),
            Some(c) if c > 128 => panic!("moat died of signal {} (exit {c}):\n{}", c - 128, self.stderr),
            Some(c) => c,
            None => panic!(
                "moat was killed by a signal ({:?}):\n{}",
                self.status, self.stderr
            ),
        }
    }
}

/// Runs `cmd`, killing it and failing the test after `limit`.
pub fn run(mut cmd: Command, limit: Duration) -> Run {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn moat");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = vec![];
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = vec![];
        let _ = err.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("moat did not finish within {limit:?} (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    Run {
        status,
        stdout,
        stderr,
        secs,
    }
}

/// `moat ARGS` under `/usr/bin/time -f %M`: the run and its peak resident
/// set in KiB, or `None` for the latter when GNU time is not installed.
pub fn run_measured(args: &[&str], cwd: &Path, limit: Duration) -> (Run, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        let mut c = super::common::moat();
        c.args(args).current_dir(cwd);
        return (run(c, limit), None);
    }
    let rss_file = cwd.join(".peak-rss");
    let mut c = Command::new(time);
    c.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .current_dir(cwd);
    let r = run(c, limit);
    let rss = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    (r, rss)
}

/// A diagnostic as (code, line, column).
pub type Found = (String, Option<u64>, Option<u64>);

/// The diagnostics of `moat check --format json` output.
pub fn diags(json: &str) -> Vec<Found> {
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json:.500}"));
    v.as_array()
        .expect("a JSON array")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or("?").to_string(),
                d["line"].as_u64(),
                d["column"].as_u64(),
            )
        })
        .collect()
}

/// Every file below `dir` with its contents, by path relative to `dir`.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(dir)
                    .expect("below dir")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}
