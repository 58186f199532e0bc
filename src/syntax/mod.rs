//! The surface language: syntax tree and parser.

pub mod ast;
pub mod parse;
pub mod text;
