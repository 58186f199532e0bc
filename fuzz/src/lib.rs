//! The fuzz harnesses, shared with `tests/robust_regressions.rs` (which
//! includes `harness.rs` by path, so every crash input replays in CI).

#[path = "harness.rs"]
pub mod harness;
