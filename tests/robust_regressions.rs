//! Replays the fuzz regressions (`fuzz/regressions/`), the hostile corpus and
//! the seed fixtures through the fuzz harnesses (`fuzz/src/harness.rs`, the
//! same code the AFL targets run), so every crash once found stays fixed.
//! Each input must also finish quickly: several were once quadratic.

mod common;

#[allow(dead_code)]
#[path = "../fuzz/src/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn files_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::root().join(dir))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    v.sort();
    v
}

/// Runs the harnesses on `data`, failing when they take longer than `limit`.
/// A file named `parse-*` or `check-*` is a front-end regression and runs
/// through those harnesses only (some are huge for the back ends: a
/// 4096-cell policy); anything else runs through all four.
fn replay(name: &str, data: &[u8], limit: Duration) {
    let start = Instant::now();
    let file = name.rsplit('/').next().unwrap_or(name);
    harness::parse(data);
    if !file.starts_with("parse-") {
        harness::check(data);
    }
    if !file.starts_with("parse-") && !file.starts_with("check-") {
        harness::compile(data);
        harness::structured(data);
    }
    let took = start.elapsed();
    assert!(took < limit, "{name}: {took:?} (limit {limit:?})");
}

#[test]
fn fuzz_regressions_stay_fixed() {
    let files = files_in("fuzz/regressions");
    assert!(files.len() >= 4, "fuzz/regressions lost its files");
    for f in files {
        let data = std::fs::read(&f).expect("read regression");
        replay(&f.display().to_string(), &data, Duration::from_secs(20));
    }
}

#[test]
fn the_seed_corpus_passes_every_harness() {
    for dir in ["fixtures/good", "fixtures/bad", "fixtures/hostile", "policies"] {
        for f in files_in(dir) {
            let data = std::fs::read(&f).expect("read seed");
            replay(&f.display().to_string(), &data, Duration::from_secs(20));
        }
    }
}

/// The structure-aware harness on a spread of option bytes and edits:
/// unedited generated policies must check clean and compile on every target.
#[test]
fn structured_inputs_pass() {
    for seed in 0u32..300 {
        let mut data: Vec<u8> = seed.to_be_bytes().to_vec();
        data.extend((0..7).map(|i| (seed.wrapping_mul(31).wrapping_add(i * 17) % 251) as u8));
        harness::structured(&data);
        data.extend((0..(seed % 40)).map(|i| (seed.wrapping_mul(7).wrapping_add(i * 13) % 256) as u8));
        harness::structured(&data);
    }
}
