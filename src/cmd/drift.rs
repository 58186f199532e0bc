//! `moat drift`: what a deployed configuration allows against what the policy allows.

use super::{eprint_diags, FAIL, OK, TROUBLE};
use crate::DiagFormat;
use moat::live::{self, compare};
use std::path::PathBuf;

/// Output format of `moat drift`.
#[derive(Clone, Copy, clap::ValueEnum, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// A SARIF 2.1.0 log: each row a result, the readers' warnings too.
    Sarif,
}

/// Arguments of `moat drift`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy files or directories; several form one policy.
    #[arg(required = true, value_name = "POLICY")]
    pub files: Vec<PathBuf>,
    /// A live input, `KIND:PATH` (KIND: nftables, iptables, k8s, aws, gcp, azure;
    /// PATH a file or a directory). Repeatable: all of them are one live state.
    #[arg(long = "live", required = true, value_name = "KIND:PATH")]
    pub live: Vec<String>,
    /// Report format: `json` is `moat diff`'s `{"added": [...], "removed": [...]}`;
    /// `sarif` a SARIF 2.1.0 log for code scanning.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Kubernetes manifests of what is deployed (YAML or JSON files or
    /// directories; `CLUSTER=PATH` for one cluster of the policy, PATH alone
    /// for every cluster): evaluate `--live k8s:` on their pods instead of
    /// representative ones (the policy is checked against them first).
    #[arg(long, num_args = 1.., value_name = "[CLUSTER=]PATH")]
    pub inventory: Vec<PathBuf>,
    /// How to print diagnostics (on stderr).
    #[arg(long, value_enum, default_value = "human")]
    pub diagnostics: DiagFormat,
}

/// Runs `moat drift`: exit 0 same, 1 differ, 2 trouble (a policy with errors, unreadable live input).
pub fn run(args: &Args) -> u8 {
    let mut checked = moat::check_paths_without_quality_warnings(&moat::load::Disk, &args.files);
    let inv = if args.inventory.is_empty() {
        None
    } else {
        moat::check_inventory(&mut checked, &args.inventory)
    };
    let Some(ir) = checked.ir.take().filter(|_| !checked.has_errors()) else {
        eprint_diags(&checked.diags, &checked.sources, args.diagnostics);
        eprintln!("error: the policy does not check; nothing to compare");
        return TROUBLE;
    };
    let (m, warns) = match live::read_all_on(&ir, &mut checked.sources, &args.live, inv.as_ref()) {
        Ok(x) => x,
        Err(errs) => {
            eprint_diags(&errs, &checked.sources, args.diagnostics);
            return TROUBLE;
        }
    };
    eprint_diags(&warns, &checked.sources, args.diagnostics);
    let d = compare::compare(&ir, &m, &checked.sources);
    match args.format {
        Format::Text => super::out(&compare::to_text(&d)),
        Format::Json => super::out(&format!("{}\n", compare::to_json(&d))),
        Format::Markdown => super::out(&compare::to_markdown(&d)),
        Format::Sarif => super::out(&moat::sarif::render_drift(&ir, &m, &d, &warns, &checked.sources)),
    }
    let code = if d.is_empty() { OK } else { FAIL };
    super::release((ir, checked, m, d, inv));
    code
}
