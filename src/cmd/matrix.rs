//! `moat matrix`: the canonical allowed-flow matrix.

use super::{load_ok, OK};
use clap::ValueEnum;
use moat::analysis::matrix;

/// Output formats of `moat matrix`.
#[derive(Clone, Copy, ValueEnum, Debug)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Arguments of `moat matrix`.
#[derive(clap::Args, Debug)]
#[command(after_help = super::exit_help::REPORT)]
pub struct Args {
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Runs `moat matrix`.
pub fn run(args: &Args) -> u8 {
    let c = match load_ok(&args.policy.files, args.policy.diagnostics) {
        Ok(c) => c,
        Err(code) => return code,
    };
    super::eprint_diags(&c.diags, &c.sources, args.policy.diagnostics);
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
