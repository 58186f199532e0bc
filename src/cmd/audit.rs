//! `moat audit`: the auditor's report (zones, crossings, exemptions, `any`
//! crossings, resident services, forbids with their proofs; with
//! `--inventory`, each deployed workload and its flows).

use super::{FAIL, OK, TROUBLE};
use moat::analysis::{audit, diff, html};
use std::path::PathBuf;

/// Output format of `moat audit`.
#[derive(Clone, Copy, clap::ValueEnum, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// One self-contained page: inline SVG, CSS and script, nothing fetched.
    Html,
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
    /// Write the report to FILE (all or nothing) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// html: open the report with the semantic diff against an older version
    /// of the policy (a file, a directory or `REV:PATH`, as `moat diff` reads),
    /// and highlight the crossings the change adds.
    #[arg(long, value_name = "OLD")]
    pub against: Option<String>,
    /// Kubernetes manifests of what is deployed (YAML or JSON files or
    /// directories; `CLUSTER=PATH` for one cluster of the policy, PATH alone
    /// for every cluster): check the policy against them (E020, W007, W008),
    /// and list each workload with its atom and allowed flows.
    #[arg(long, num_args = 1.., value_name = "[CLUSTER=]PATH")]
    pub inventory: Vec<PathBuf>,
}

/// Runs `moat audit`: exit 0 with the report, 1 when the policy has errors, 2 on I/O trouble.
pub fn run(args: &Args) -> u8 {
    if args.against.is_some() && args.format != Format::Html {
        eprintln!("error: --against is for --format html; for the diff alone use `moat diff OLD NEW`");
        return TROUBLE;
    }
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
    let old = match &args.against {
        None => None,
        Some(old) => {
            let side = super::diff::side("old", std::slice::from_ref(old));
            match super::diff::usable("old", side, args.policy.diagnostics) {
                Some(ir) => Some(ir),
                None => return TROUBLE,
            }
        }
    };
    let mut r = audit::report(ir);
    if let Some(inv) = &inv {
        super::eprint_diags(&c.diags, &c.sources, args.policy.diagnostics);
        r.workloads = Some(audit::workloads(ir, inv, &c.sources));
    }
    let text = match args.format {
        Format::Json => format!("{}\n", audit::to_json(&r)),
        Format::Text => audit::to_doc(&r, false),
        Format::Markdown => audit::to_doc(&r, true),
        Format::Html => {
            let d = old.as_ref().map(|o| diff::diff(o, ir));
            let against = d.as_ref().zip(args.against.as_deref());
            html::render(ir, &r, against)
        }
    };
    match &args.out {
        None => super::out(&text),
        Some(path) => {
            if let Err(e) = moat::output::write_file(path, &text) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return TROUBLE;
            }
        }
    }
    OK
}
