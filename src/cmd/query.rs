//! `moat query`: allowed or denied, and why.

use super::{load_ok, FAIL, OK, TROUBLE};
use crate::DiagFormat;
use moat::analysis::query;
use std::path::PathBuf;

/// Output formats of `moat query`.
#[derive(Clone, Copy, clap::ValueEnum, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Arguments of `moat query`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy files or directories; several form one policy.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
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
    /// How to print diagnostics (on stderr).
    #[arg(long, value_enum, default_value = "human")]
    pub diagnostics: DiagFormat,
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
    let c = match load_ok(&args.files, args.diagnostics) {
        Ok(c) => c,
        Err(_) => return TROUBLE,
    };
    let Some(ir) = &c.ir else { return TROUBLE };
    let ends = (query::endpoint(ir, &args.from), query::endpoint(ir, &args.to));
    let (from, to) = match ends {
        (Ok(f), Ok(t)) => (f, t),
        (f, t) => {
            for e in [f.err().map(|e| format!("--from: {e}")), t.err().map(|e| format!("--to: {e}"))].into_iter().flatten() {
                eprintln!("error: {e}");
            }
            return TROUBLE;
        }
    };
    let answer = query::query(ir, from, to, proto, port);
    match args.format {
        Format::Text => super::out(&query::to_text(&answer)),
        Format::Json => super::out(&format!("{}\n", serde_json::to_string_pretty(&answer).unwrap_or_default())),
    }
    let code = if answer.verdict == "allow" { OK } else { FAIL };
    super::release(c);
    code
}
