//! `moat query`: allowed or denied, and why.

use super::{load_ok_with, FAIL, OK, TROUBLE};
use moat::analysis::{cache, query};
use moat::diag::Diagnostic;
use moat::ir::{AtomId, Ir};
use moat::ports::Proto;
use std::path::PathBuf;

/// Output formats of `moat query`.
#[derive(Clone, Copy, clap::ValueEnum, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Arguments of `moat query`.
#[derive(clap::Args, Debug)]
#[command(after_help = super::exit_help::QUERY)]
pub struct Args {
    #[command(flatten)]
    pub policy: super::PolicyArgs,
    /// Source: an atom (`mz.kernel`, or a zone for its remainder) or an IP address.
    #[arg(long)]
    pub from: String,
    /// Destination: an atom or an IP address.
    #[arg(long)]
    pub to: String,
    /// The port: `tcp/5432`, `udp/53`, `icmp`.
    #[arg(long)]
    pub port: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Keep the checked policy in FILE and answer later queries on the same,
    /// unchanged inputs from it, without checking again (rebuilt when any
    /// input changed).
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
}

/// Runs `moat query`: exit 0 allowed, 1 denied, 2 trouble.
pub fn run(args: &Args) -> u8 {
    let (proto, port) = match query::port_spec(&args.port) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --port: {e}");
            return TROUBLE;
        }
    };
    if let Some(path) = &args.cache {
        match cache::open(path, &moat::load::Disk, &args.policy.files) {
            Ok(Some(mut cached)) => {
                let (from, to) = match endpoints(&cached.ir, args) {
                    Ok(ends) => ends,
                    Err(code) => return code,
                };
                match cached.load_flow(from, to) {
                    Ok(()) => return answer(&cached.ir, from, to, (proto, port), args.format),
                    Err(e) => super::eprint_note(damaged_cache(path, &e), args.policy.diagnostics),
                }
            }
            Ok(None) => {} // missing, or built from other inputs: check and rebuild
            Err(e) => super::eprint_note(damaged_cache(path, &e), args.policy.diagnostics),
        }
    }
    let c = match load_ok_with(
        moat::check_paths_without_quality_warnings(&moat::load::Disk, &args.policy.files),
        args.policy.diagnostics,
    ) {
        Ok(c) => c,
        Err(_) => return TROUBLE,
    };
    let Some(ir) = &c.ir else { return TROUBLE };
    if let Some(path) = &args.cache {
        if let Err(e) = cache::write(path, &moat::load::Disk, &args.policy.files, &c.sources, ir) {
            let d = Diagnostic::warning_nospan(
                "W022",
                format!("cannot write the query cache {}: {e}", path.display()),
            )
            .with_help("the answer is right; point --cache at a writable place to make later queries fast");
            super::eprint_note(d, args.policy.diagnostics);
        }
    }
    let code = match endpoints(ir, args) {
        Ok((from, to)) => answer(ir, from, to, (proto, port), args.format),
        Err(code) => code,
    };
    super::release(c);
    code
}

/// W020: the `--cache` file is not a moat query cache, or is damaged.
fn damaged_cache(path: &std::path::Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::warning_nospan(
        "W020",
        format!("the query cache {} is damaged or unreadable ({e}); checking the policy and rebuilding it", path.display()),
    )
    .with_help("nothing to do if this is the cache moat wrote; otherwise point --cache at a file of its own")
}

/// `--from` and `--to` resolved, or the exit code after saying why not.
fn endpoints(ir: &Ir, args: &Args) -> Result<(AtomId, AtomId), u8> {
    match (query::endpoint(ir, &args.from), query::endpoint(ir, &args.to)) {
        (Ok(f), Ok(t)) => Ok((f, t)),
        (f, t) => {
            for e in [
                f.err().map(|e| format!("--from: {e}")),
                t.err().map(|e| format!("--to: {e}")),
            ]
            .into_iter()
            .flatten()
            {
                eprintln!("error: {e}");
            }
            Err(TROUBLE)
        }
    }
}

/// Prints the answer; exit 0 allowed, 1 denied.
fn answer(ir: &Ir, from: AtomId, to: AtomId, (proto, port): (Proto, u16), format: Format) -> u8 {
    let answer = query::query(ir, from, to, proto, port);
    match format {
        Format::Text => super::out(&query::to_text(&answer)),
        Format::Json => super::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        )),
    }
    if answer.verdict == "allow" {
        OK
    } else {
        FAIL
    }
}
