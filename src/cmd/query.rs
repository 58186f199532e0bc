//! `moat query`: allowed or denied, and why.

use super::{load_ok_with, FAIL, OK, TROUBLE};
use moat::analysis::query::{PortArg, Side};
use moat::analysis::{cache, query, query_artefacts};
use moat::diag::Diagnostic;
use moat::ir::Ir;
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
    /// Source: an atom (`mz.kernel`, or a zone for its remainder), an IP
    /// address, or a prefix (`10.1.0.0/16`: answered for every address in it,
    /// saying where the answer differs).
    #[arg(long)]
    pub from: String,
    /// Destination: an atom, an IP address or a prefix.
    #[arg(long)]
    pub to: String,
    /// The port: `tcp/5432`, `udp/53`, `icmp`, or a port name the destination
    /// declares (`https`).
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
    /// A directory `moat compile --out` wrote: also list, for each allow of
    /// the answer, the artefacts that enforce it (from DIR/<target>/sources.tsv).
    #[arg(long, value_name = "DIR")]
    pub artefacts: Option<PathBuf>,
}

/// Runs `moat query`: exit 0 allowed, 1 denied, 2 trouble.
pub fn run(args: &Args) -> u8 {
    let port = match query::port_arg(&args.port) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --port: {e}");
            return TROUBLE;
        }
    };
    let table = match args.artefacts.as_deref().map(query_artefacts::read).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --artefacts: {e}");
            return TROUBLE;
        }
    };
    if let Some(path) = &args.cache {
        match cache::open(path, &moat::load::Disk, &args.policy.files) {
            Ok(Some(mut cached)) => {
                let (from, to) = match sides(&cached.ir, args) {
                    Ok(ends) => ends,
                    Err(code) => return code,
                };
                match load_pairs(&mut cached, &from, &to) {
                    Ok(()) => return answer(&cached.ir, &from, &to, &port, args, &table),
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
    let code = match sides(ir, args) {
        Ok((from, to)) => answer(ir, &from, &to, &port, args, &table),
        Err(code) => code,
    };
    super::release(c);
    code
}

/// Loads from the cache the flow of every pair of atoms the query asks about.
fn load_pairs(cached: &mut cache::Cached, from: &Side, to: &Side) -> std::io::Result<()> {
    for (f, _) in from.atoms() {
        for (t, _) in to.atoms() {
            cached.load_flow(f, t)?;
        }
    }
    Ok(())
}

/// W020: the `--cache` file is not a moat query cache, or is damaged.
fn damaged_cache(path: &std::path::Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::warning_nospan(
        "W020",
        format!(
            "the query cache {} is damaged or unreadable ({e}); checking the policy and rebuilding it",
            path.display()
        ),
    )
    .with_help("nothing to do if this is the cache moat wrote; otherwise point --cache at a file of its own")
}

/// `--from` and `--to` resolved, or the exit code after saying why not.
fn sides(ir: &Ir, args: &Args) -> Result<(Side, Side), u8> {
    match (query::side(ir, &args.from), query::side(ir, &args.to)) {
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

/// Prints the answer; exit 0 allowed (for every address of a prefix), 1 denied.
fn answer(
    ir: &Ir,
    from: &Side,
    to: &Side,
    port: &PortArg,
    args: &Args,
    table: &Option<query_artefacts::Table>,
) -> u8 {
    let enforced =
        |allows: Vec<(String, String)>| table.as_ref().map(|t| query_artefacts::enforced(t, &allows));
    let (verdict, text, json) = match (from, to) {
        (Side::Atom(f), Side::Atom(t)) => {
            let (proto, p) = match query::resolve_port(ir, *t, port) {
                Ok(pp) => pp,
                Err(e) => return port_error(&e),
            };
            let a = query::query(ir, *f, *t, proto, p);
            let e = enforced(cited(&a.allows));
            (
                a.verdict,
                with_artefacts(query::to_text(&a), args, &e),
                pretty(&a, e.as_deref()),
            )
        }
        _ => {
            let r = match query::query_range(ir, from, to, |t| query::resolve_port(ir, t, port)) {
                Ok(r) => r,
                Err(e) => return port_error(&e),
            };
            let mut allows = vec![];
            for c in r.parts.iter().flat_map(|p| cited(&p.answer.allows)) {
                if !allows.contains(&c) {
                    allows.push(c);
                }
            }
            let e = enforced(allows);
            (
                r.verdict,
                with_artefacts(query::range_to_text(&r), args, &e),
                pretty(&r, e.as_deref()),
            )
        }
    };
    super::out(&match args.format {
        Format::Text => text,
        Format::Json => json,
    });
    if verdict == "allow" {
        OK
    } else {
        FAIL
    }
}

/// The text answer, followed by the artefacts enforcing its allows when asked for.
fn with_artefacts(text: String, args: &Args, enforced: &Option<Vec<query_artefacts::Enforced>>) -> String {
    match (enforced, &args.artefacts) {
        (Some(e), Some(dir)) => text + &query_artefacts::to_text(dir, e),
        _ => text,
    }
}

/// The (citation, location) of each allow cited in an answer.
fn cited(allows: &[query::Cite]) -> Vec<(String, String)> {
    allows
        .iter()
        .filter_map(|c| c.cite.clone().map(|id| (id, c.loc.clone())))
        .collect()
}

fn port_error(e: &str) -> u8 {
    eprintln!("error: --port: {e}");
    TROUBLE
}

/// An answer as pretty JSON, with `enforced_by` when `--artefacts` was given, and a final newline.
fn pretty(v: &impl serde::Serialize, enforced: Option<&[query_artefacts::Enforced]>) -> String {
    #[derive(serde::Serialize)]
    struct WithArtefacts<'a, T: serde::Serialize> {
        #[serde(flatten)]
        answer: &'a T,
        #[serde(skip_serializing_if = "Option::is_none")]
        enforced_by: Option<&'a [query_artefacts::Enforced]>,
    }
    let v = WithArtefacts {
        answer: v,
        enforced_by: enforced,
    };
    format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
}
