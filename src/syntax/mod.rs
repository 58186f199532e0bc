//! The surface language: syntax tree and parser.

pub mod ast;
pub mod fmt;
pub mod parse;
pub mod text;
