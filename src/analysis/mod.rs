//! Analyses over the IR: the matrix, queries, diffs.

pub mod matrix;
pub mod query;
