//! `moat audit`: the auditor's report (zones, crossings, exemptions, `any`
//! crossings, resident services, forbids with their proofs).

use super::{FAIL, OK};
use moat::analysis::audit;
use std::path::PathBuf;

/// Output format of `moat audit`.
#[derive(Clone, Copy, clap::ValueEnum, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// Arguments of `moat audit`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Kubernetes manifests of what is deployed (YAML or JSON files or
    /// directories): check the policy against them (E020, W007, W008),
    /// and list each workload with its atom and allowed flows.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub inventory: Vec<PathBuf>,
}

/// Runs `moat audit`: exit 0 with the report, 1 when the policy has errors, 2 on I/O trouble.
pub fn run(args: &Args) -> u8 {
    let mut c = super::load(&args.policy.files);
    let inv = if args.inventory.is_empty() {
        None
    } else {
        moat::check_inventory(&mut c, &args.inventory)
    };
    let c = match super::load_ok_with(c, args.policy.diagnostics) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(ir) = c.ir.as_ref() else { return FAIL };
    let mut r = audit::report(ir);
    if let Some(inv) = &inv {
        super::eprint_diags(&c.diags, &c.sources, args.policy.diagnostics);
        r.workloads = Some(audit::workloads(ir, inv, &c.sources));
    }
    match args.format {
        Format::Json => super::out(&format!("{}\n", audit::to_json(&r))),
        Format::Text => super::out(&audit::to_doc(&r, false)),
        Format::Markdown => super::out(&audit::to_doc(&r, true)),
    }
    OK
}
