//! `moat compile`: check, then write artefacts for the chosen targets.

use super::{eprint_diags, load_ok, FAIL, OK, TROUBLE};
use crate::DiagFormat;
use moat::backend::{self, Artefact, EmitOptions, Target};
use std::path::PathBuf;

/// Arguments of `moat compile`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy files or directories; several form one policy.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Targets, comma-separated: k8s, iptables, nftables, aws, gcp, azure, or all.
    #[arg(long, short, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Output directory; without it the artefacts are listed on stdout.
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 1 listing the files under DIR that differ from, are
    /// missing from or are extra to what the policy compiles to (drift check).
    #[arg(long, requires = "out")]
    pub check: bool,
    /// netfilter targets: log dropped packets (rate-limited).
    #[arg(long)]
    pub log_drops: bool,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value = "human")]
    pub format: DiagFormat,
}

/// Runs `moat compile`.
pub fn run(args: &Args) -> u8 {
    let targets = match parse_targets(&args.target) {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("error: {msg}");
            return TROUBLE;
        }
    };
    let c = match load_ok(&args.files, args.format) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let Some(ir) = c.ir.as_ref() else { return FAIL };
    let all = targets.is_none();
    let targets = targets.unwrap_or_else(|| Target::ALL.into_iter().filter(|t| backend::in_scope(*t, ir)).collect());
    let opts = EmitOptions { log_drops: args.log_drops };
    let mut diags = c.diags.clone();
    let mut artefacts: Vec<Artefact> = vec![];
    let mut failed = false;
    for t in &targets {
        if !all && !backend::in_scope(*t, ir) {
            eprintln!("error: target {} has nothing to enforce: {}", t.as_str(), scope_hint(*t));
            failed = true;
            continue;
        }
        match backend::emit(*t, ir, &opts) {
            Ok(a) => {
                artefacts.extend(a);
                if *t == Target::K8s {
                    diags.extend(backend::k8s::warnings(ir));
                }
            }
            Err(d) => {
                failed = true;
                diags.extend(d);
            }
        }
    }
    moat::diag::sort(&mut diags);
    eprint_diags(&diags, &c.sources, args.format);
    if failed {
        return FAIL;
    }
    if args.check {
        return check_drift(args, &targets, &artefacts);
    }
    let names: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
    write(args, &names, &artefacts)
}

/// `--check`: compares the artefacts with the files committed under DIR, in
/// the sub-directories of the compiled targets (every target's with `all`).
fn check_drift(args: &Args, targets: &[Target], artefacts: &[Artefact]) -> u8 {
    let Some(dir) = &args.out else { return TROUBLE };
    let all = args.target.iter().any(|t| t == "all");
    let owned: Vec<Target> = if all { Target::ALL.to_vec() } else { targets.to_vec() };
    let mut on_disk = std::collections::BTreeSet::new();
    for t in &owned {
        list_files(dir, std::path::Path::new(t.as_str()), &mut on_disk);
    }
    let mut drift = vec![];
    for a in artefacts {
        match std::fs::read(dir.join(&a.path)) {
            Ok(bytes) if bytes == a.contents.as_bytes() => {}
            Ok(_) => drift.push(format!("differs: {}", a.path)),
            Err(_) => drift.push(format!("missing: {}", a.path)),
        }
        on_disk.remove(&a.path);
    }
    drift.extend(on_disk.into_iter().map(|p| format!("extra:   {p}")));
    if drift.is_empty() {
        eprintln!("ok: the {} file(s) under {} are what the policy compiles to", artefacts.len(), dir.display());
        return OK;
    }
    for d in &drift {
        super::out(&format!("{d}\n"));
    }
    eprintln!("error: {} file(s) under {} drifted from the policy (run without --check to rewrite them)", drift.len(), dir.display());
    FAIL
}

/// Adds the files below `dir/rel` (paths relative to `dir`, `/`-separated).
fn list_files(dir: &std::path::Path, rel: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir.join(rel)) else { return };
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        if e.path().is_dir() {
            list_files(dir, &r, out);
        } else {
            out.insert(r.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
        }
    }
}

fn write(args: &Args, targets: &[&str], artefacts: &[Artefact]) -> u8 {
    let Some(dir) = &args.out else {
        for a in artefacts {
            super::out(&format!("==> {} <==\n{}\n", a.path, a.contents));
        }
        return OK;
    };
    match moat::output::write_targets(dir, targets, artefacts) {
        Ok(()) => {
            eprintln!("wrote {} file(s) to {}", artefacts.len(), dir.display());
            OK
        }
        Err(e) => {
            eprintln!("error: cannot write to {}: {e}", dir.display());
            TROUBLE
        }
    }
}

/// `None` means `all`.
fn parse_targets(names: &[String]) -> Result<Option<Vec<Target>>, String> {
    if names.iter().any(|n| n == "all") {
        return Ok(None);
    }
    let mut out = vec![];
    for n in names {
        match Target::parse(n) {
            Some(t) if !out.contains(&t) => out.push(t),
            Some(_) => {}
            None => return Err(format!("unknown target `{n}` (expected k8s, iptables, nftables, aws, gcp, azure or all)")),
        }
    }
    out.sort();
    Ok(Some(out))
}

fn scope_hint(t: Target) -> &'static str {
    match t {
        Target::K8s => "no zone or service has a Kubernetes namespace",
        Target::Iptables | Target::Nftables => "no zone with addresses is at an onprem site",
        Target::Aws => "no zone is at a site of kind aws (`site NAME : aws`)",
        Target::Gcp => "no zone is at a site of kind gcp (`site NAME : gcp`)",
        Target::Azure => "no zone is at a site of kind azure (`site NAME : azure`)",
    }
}
