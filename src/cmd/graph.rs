//! `moat graph`: draw zones, services and allowed flows (Graphviz DOT or Mermaid).

use super::{load_ok, FAIL, OK};
use moat::analysis::graph;

/// Output format of `moat graph`.
#[derive(Clone, Copy, clap::ValueEnum, Debug)]
pub enum Format {
    Dot,
    Mermaid,
}

/// Arguments of `moat graph`.
#[derive(clap::Args, Debug)]
#[command(after_help = super::exit_help::REPORT)]
pub struct Args {
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    /// `dot` for Graphviz (`moat graph p.moat | dot -Tsvg > p.svg`), `mermaid` for Markdown.
    #[arg(long, value_enum, default_value = "dot")]
    pub format: Format,
}

/// Runs `moat graph`.
pub fn run(args: &Args) -> u8 {
    let c = match load_ok(&args.policy.files, args.policy.diagnostics) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(ir) = c.ir.as_ref() else { return FAIL };
    let format = match args.format {
        Format::Dot => graph::Format::Dot,
        Format::Mermaid => graph::Format::Mermaid,
    };
    super::out(&graph::render(ir, format));
    OK
}
