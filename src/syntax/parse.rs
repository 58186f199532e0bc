//! The parser (nom over &str).

use super::ast;
use crate::diag::Diagnostic;
use crate::span::FileId;

/// Parses one file.
pub fn parse_file(_text: &str, _file: FileId) -> (ast::File, Vec<Diagnostic>) {
    (ast::File::default(), vec![])
}
