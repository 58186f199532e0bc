//! Analyses over the IR: the matrix, queries, diffs.

pub mod audit;
pub mod cache;
pub mod diff;
pub mod graph;
pub mod html;
pub mod matrix;
pub mod query;
pub mod query_artefacts;
