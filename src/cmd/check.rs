//! `moat check`: parse and check, print diagnostics.

use super::{load, print_diags, FAIL, OK, TROUBLE};
use crate::DiagFormat;
use std::path::PathBuf;

/// Arguments of `moat check`.
#[derive(clap::Args, Debug)]
#[command(after_help = super::exit_help::CHECK)]
pub struct Args {
    /// Policy files or directories; several form one policy.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value = "human")]
    pub format: DiagFormat,
    /// Treat warnings as errors (exit 1 when there are any).
    #[arg(long)]
    pub deny_warnings: bool,
    /// Kubernetes manifests of what is deployed (YAML or JSON files or
    /// directories; `CLUSTER=PATH` for one cluster of the policy, PATH alone
    /// for every cluster): check the policy against them (E020, W007, W008).
    #[arg(long, num_args = 1.., value_name = "[CLUSTER=]PATH")]
    pub inventory: Vec<PathBuf>,
}

/// Runs `moat check`.
pub fn run(args: &Args) -> u8 {
    let mut c = load(&args.files);
    if !args.inventory.is_empty() {
        moat::check_inventory(&mut c, &args.inventory);
    }
    print_diags(&c.diags, &c.sources, args.format);
    let code = verdict(args, &c);
    super::release(c);
    code
}

fn verdict(args: &Args, c: &moat::Checked) -> u8 {
    if c.io_failed {
        TROUBLE
    } else if c.has_errors() || (args.deny_warnings && !c.diags.is_empty()) {
        FAIL
    } else {
        if args.format == DiagFormat::Human && c.diags.is_empty() {
            eprintln!("ok: {} file(s), no findings", c.sources.files().len());
        }
        OK
    }
}
