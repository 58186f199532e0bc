//! Name resolution, the checks of spec §5, and lowering to the IR.

use crate::diag::Diagnostic;
use crate::ir::Ir;
use crate::span::{FileId, SourceMap};
use crate::syntax::ast;

/// Checks the parsed files as one policy. `syntax_failed` says that parsing
/// already reported errors (checks still run on what parsed, to report all
/// independent errors). Returns the IR when the policy has no errors.
pub fn check(_sources: &SourceMap, _files: &[(FileId, ast::File)], _syntax_failed: bool) -> (Option<Ir>, Vec<Diagnostic>) {
    (Some(Ir::default()), vec![])
}
