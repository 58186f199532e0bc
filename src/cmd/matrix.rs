//! `moat matrix`: the canonical allowed-flow matrix.

use super::{load_ok, OK};
use crate::DiagFormat;
use clap::ValueEnum;
use moat::analysis::matrix;
use std::path::PathBuf;

/// Output formats of `moat matrix`.
#[derive(Clone, Copy, ValueEnum, Debug)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Arguments of `moat matrix`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy files or directories; several form one policy.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// How to print diagnostics (on stderr).
    #[arg(long, value_enum, default_value = "human")]
    pub diagnostics: DiagFormat,
}

/// Runs `moat matrix`.
pub fn run(args: &Args) -> u8 {
    let c = match load_ok(&args.files, args.diagnostics) {
        Ok(c) => c,
        Err(code) => return code,
    };
    super::eprint_diags(&c.diags, &c.sources, args.diagnostics);
    let Some(ir) = &c.ir else { return super::FAIL };
    let rows = matrix::rows(ir);
    match args.format {
        Format::Table => super::out(&matrix::to_table(&rows)),
        Format::Json => super::out(&format!("{}\n", matrix::to_json(&rows))),
        Format::Csv => super::out(&matrix::to_csv(&rows)),
    }
    super::release((rows, c));
    OK
}
