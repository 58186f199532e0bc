//! `moat import`: allow statements reproducing a live state over a policy's zones.

use super::{eprint_diags, FAIL, OK, TROUBLE};
use crate::DiagFormat;
use moat::diag::Diagnostic;
use moat::live::{self, import};
use std::path::PathBuf;

/// Arguments of `moat import`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Live inputs, `KIND:PATH` (KIND: nftables, iptables, ...); all of them are one live state.
    #[arg(required = true, value_name = "KIND:PATH")]
    pub live: Vec<String>,
    /// The policy whose zones and services the allows name (its allows, if any, are ignored).
    #[arg(long, required = true, value_name = "ZONES.moat")]
    pub zones: PathBuf,
    /// Write the allows here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Kubernetes manifests of what is deployed (YAML or JSON files or
    /// directories; `CLUSTER=PATH` for one cluster of the policy, PATH alone
    /// for every cluster): evaluate `k8s:` inputs on their pods instead of
    /// representative ones (the zones are checked against them first).
    #[arg(long, num_args = 1.., value_name = "[CLUSTER=]PATH")]
    pub inventory: Vec<PathBuf>,
    /// How to print diagnostics (on stderr).
    #[arg(long, value_enum, default_value = "human")]
    pub diagnostics: DiagFormat,
}

/// Runs `moat import`: exit 0 when every live flow is imported and the result
/// checks, 1 when some flow cannot be expressed (W014) or the result does
/// not check, 2 trouble.
pub fn run(args: &Args) -> u8 {
    let mut checked =
        moat::check_paths_without_quality_warnings(&moat::load::Disk, std::slice::from_ref(&args.zones));
    let inv = if args.inventory.is_empty() {
        None
    } else {
        moat::check_inventory(&mut checked, &args.inventory)
    };
    let Some(ir) = checked.ir.take().filter(|_| !checked.has_errors()) else {
        eprint_diags(&checked.diags, &checked.sources, args.diagnostics);
        eprintln!("error: the zones policy does not check");
        return TROUBLE;
    };
    let (m, mut warns) = match live::read_all_on(&ir, &mut checked.sources, &args.live, inv.as_ref()) {
        Ok(x) => x,
        Err(errs) => {
            eprint_diags(&errs, &checked.sources, args.diagnostics);
            return TROUBLE;
        }
    };
    let k8s = args
        .live
        .iter()
        .any(|a| live::parse_arg(a).is_ok_and(|(k, _)| k == live::LiveKind::K8s));
    let imp = import::import(&ir, &m, &checked.sources, k8s);
    warns.extend(imp.warnings.iter().cloned());
    let header = format!(
        "allows imported by moat from {} over the zones of {}",
        args.live.join(" "),
        args.zones.display()
    );
    let text = import::to_source(&imp, &header, &mut warns, &ir);
    let zones_text = std::fs::read_to_string(&args.zones).unwrap_or_default();
    let combined = moat::check_str(
        &args.zones.display().to_string(),
        &format!("{zones_text}\n{text}"),
    );
    let bad_check = combined.has_errors();
    if bad_check {
        eprint_diags(&combined.diags, &combined.sources, args.diagnostics);
        eprintln!("error: the imported allows, appended to the zones, do not check (see above)");
    }
    moat::diag::sort(&mut warns);
    eprint_diags(&warns, &checked.sources, args.diagnostics);
    match &args.out {
        None => super::out(&text),
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                let d = Diagnostic::error_nospan("E036", format!("cannot write {}: {e}", path.display()))
                    .with_help("check that the directory exists and is writable");
                eprint_diags(&[d], &checked.sources, args.diagnostics);
                return TROUBLE;
            }
        }
    }
    let lossy = warns.iter().any(|w| w.code == "W014");
    let code = if bad_check || lossy { FAIL } else { OK };
    super::release((ir, checked, m));
    code
}
