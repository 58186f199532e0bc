//! `moat audit`: the auditor's report (zones, crossings, exemptions, `any`
//! crossings, resident services, forbids with their proofs).

use super::{load_ok, FAIL, OK};
use moat::analysis::audit;

/// Output format of `moat audit`.
#[derive(Clone, Copy, clap::ValueEnum, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// Arguments of `moat audit`.
#[derive(clap::Args, Debug)]
#[command(after_help = super::exit_help::REPORT)]
pub struct Args {
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs `moat audit`: exit 0 with the report, 1 when the policy has errors, 2 on I/O trouble.
pub fn run(args: &Args) -> u8 {
    let c = match load_ok(&args.policy.files, args.policy.diagnostics) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(ir) = c.ir.as_ref() else { return FAIL };
    let r = audit::report(ir);
    match args.format {
        Format::Json => super::out(&format!("{}\n", audit::to_json(&r))),
        Format::Text => super::out(&audit::to_doc(&r, false)),
        Format::Markdown => super::out(&audit::to_doc(&r, true)),
    }
    OK
}
