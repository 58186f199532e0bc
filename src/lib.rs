//! moat: a compiler for secure-zone network policy.
//!
//! The pipeline: [`load`] reads and parses the files, [`check`] resolves names,
//! runs the checks of spec §5 and lowers to the [`ir::Ir`], then a back end
//! ([`backend::emit`]) or an analysis ([`analysis`]) reads only the IR.

pub mod addr;
pub mod analysis;
pub mod backend;
pub mod check;
pub mod codes;
pub mod diag;
pub mod gen;
pub mod gitfs;
pub mod inventory;
pub mod ir;
pub mod live;
pub mod load;
pub mod lsp;
pub mod output;
pub mod ports;
pub mod sarif;
pub mod span;
pub mod syntax;

use diag::Diagnostic;
use span::SourceMap;
use std::path::PathBuf;

/// A policy after loading and checking: its sources, its IR when there were
/// no errors, and every diagnostic (errors and warnings), sorted.
#[derive(Debug)]
pub struct Checked {
    pub sources: SourceMap,
    pub ir: Option<ir::Ir>,
    pub diags: Vec<Diagnostic>,
    /// An input named on the command line could not be read (exit code 2).
    pub io_failed: bool,
}

impl Checked {
    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }
}

/// Loads `inputs` (files or directories) through `fs` and checks them as one policy.
pub fn check_paths(fs: &dyn load::Fs, inputs: &[PathBuf]) -> Checked {
    finish(load::load(fs, inputs), true)
}

/// [`check_paths`] without the policy-quality warnings W001 (unused) and
/// W002 (redundant), which cost as much as lowering the allows: for the
/// commands that do not print warnings (`query`, `diff`). Every error, and
/// so the IR, is the same.
pub fn check_paths_without_quality_warnings(fs: &dyn load::Fs, inputs: &[PathBuf]) -> Checked {
    finish(load::load(fs, inputs), false)
}

/// Checks one in-memory policy text (for tests and tools).
pub fn check_str(name: &str, text: &str) -> Checked {
    finish(load::load_str(name, text), true)
}

/// [`check_paths`], also returning the syntax trees of the files it read
/// (for tools that look at the source: the language server).
pub fn check_paths_with_syntax(
    fs: &dyn load::Fs,
    inputs: &[PathBuf],
) -> (Checked, Vec<(span::FileId, syntax::ast::File)>) {
    finish_with_syntax(load::load(fs, inputs), true)
}

fn finish(loaded: load::Loaded, quality_warnings: bool) -> Checked {
    finish_with_syntax(loaded, quality_warnings).0
}

fn finish_with_syntax(
    loaded: load::Loaded,
    quality_warnings: bool,
) -> (Checked, Vec<(span::FileId, syntax::ast::File)>) {
    let mut diags = loaded.diags;
    let ir = if diags.iter().any(Diagnostic::is_error) && loaded.files.is_empty() {
        None
    } else {
        let (ir, more) = check::check(
            &loaded.sources,
            &loaded.files,
            diags.iter().any(Diagnostic::is_error),
            quality_warnings,
        );
        diags.extend(more);
        ir
    };
    diag::sort(&mut diags);
    let ir = if diags.iter().any(Diagnostic::is_error) {
        None
    } else {
        ir
    };
    let checked = Checked {
        sources: loaded.sources,
        ir,
        diags,
        io_failed: loaded.io_failed,
    };
    (checked, loaded.files)
}

/// Checks a loaded policy against the inventory read from `paths`
/// (`--inventory`): adds the reader's errors (E030, E031) and the checks'
/// findings (E020, W007, W008) to `c.diags`, and drops the IR when there are
/// errors now, so that nothing is written. Returns the inventory when it
/// could be read.
pub fn check_inventory(c: &mut Checked, paths: &[PathBuf]) -> Option<inventory::Inventory> {
    let read = inventory::read(&mut c.sources, paths);
    let inv = match read {
        Ok((inv, warnings)) => {
            c.diags.extend(warnings);
            if let Some(ir) = &c.ir {
                c.diags.extend(inventory::check::check(ir, &inv));
            }
            Some(inv)
        }
        Err(errors) => {
            c.io_failed |= errors.iter().any(|d| d.span.is_none());
            c.diags.extend(errors);
            None
        }
    };
    diag::sort(&mut c.diags);
    if c.has_errors() {
        c.ir = None;
    }
    inv
}
