//! `moat diff`: the semantic difference of two policies' matrices.
//!
//! Each side is one or more inputs: a file, a directory, or `REV:PATH` read
//! from git. `moat diff OLD NEW` takes one input per side; `--old` and `--new`
//! (repeatable) add more. All inputs of one side come from the same place
//! (the working tree, or one revision).

use super::{eprint_diags, FAIL, OK, TROUBLE};
use crate::DiagFormat;
use moat::analysis::diff;
use moat::gitfs::GitFs;
use moat::ir::Ir;
use std::path::PathBuf;

/// Output format of `moat diff`.
#[derive(Clone, Copy, clap::ValueEnum, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// Arguments of `moat diff`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The old policy: a file, a directory or `REV:PATH` (e.g. `origin/main:policies`).
    #[arg(value_name = "OLD")]
    pub old_pos: Option<String>,
    /// The new policy, in the same forms.
    #[arg(value_name = "NEW")]
    pub new_pos: Option<String>,
    /// One more input of the old policy (repeatable).
    #[arg(long = "old", value_name = "INPUT")]
    pub old: Vec<String>,
    /// One more input of the new policy (repeatable).
    #[arg(long = "new", value_name = "INPUT")]
    pub new: Vec<String>,
    /// Report format: `json` is spec §6's `{"added": [...], "removed": [...]}`.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// How to print diagnostics (on stderr).
    #[arg(long, value_enum, default_value = "human")]
    pub diagnostics: DiagFormat,
}

/// Runs `moat diff`: exit 0 same, 1 different, 2 trouble (unreadable input or a policy with errors).
pub fn run(args: &Args) -> u8 {
    let old: Vec<String> = args.old_pos.iter().chain(&args.old).cloned().collect();
    let new: Vec<String> = args.new_pos.iter().chain(&args.new).cloned().collect();
    if old.is_empty() || new.is_empty() {
        eprintln!("error: moat diff needs an old and a new policy: `moat diff OLD NEW` (or --old/--new)");
        return TROUBLE;
    }
    let (Some(a), Some(b)) = (side("old", &old, args.diagnostics), side("new", &new, args.diagnostics)) else {
        return TROUBLE;
    };
    let d = diff::diff(&a, &b);
    match args.format {
        Format::Text => super::out(&diff::to_text(&d)),
        Format::Json => super::out(&format!("{}\n", diff::to_json(&d))),
        Format::Markdown => super::out(&diff::to_markdown(&d, &a, &b)),
    }
    if d.is_empty() { OK } else { FAIL }
}

/// Loads and checks one side; prints why not and returns `None` on trouble.
fn side(which: &str, inputs: &[String], format: DiagFormat) -> Option<Ir> {
    let revs: Vec<Option<(&str, &str)>> = inputs.iter().map(|i| GitFs::split_arg(i)).collect();
    let checked = match revs.first().copied().flatten() {
        None if revs.iter().all(Option::is_none) => {
            moat::check_paths(&moat::load::Disk, &inputs.iter().map(PathBuf::from).collect::<Vec<_>>())
        }
        Some((rev, _)) if revs.iter().all(|r| r.is_some_and(|(r2, _)| r2 == rev)) => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let fs = match GitFs::open(&cwd, rev) {
                Ok(fs) => fs,
                Err(e) => {
                    eprintln!("error: {which} side: `{rev}` is not a git revision here: {e}");
                    return None;
                }
            };
            let paths: Vec<PathBuf> = revs.iter().flatten().map(|(_, p)| fs.root_path(p.as_ref())).collect();
            moat::check_paths(&fs, &paths)
        }
        _ => {
            eprintln!("error: {which} side mixes inputs from the working tree and from git revisions; use one place per side");
            return None;
        }
    };
    if checked.ir.is_none() || checked.has_errors() {
        eprint_diags(&checked.diags, &checked.sources, format);
        eprintln!("error: the {which} policy does not check; nothing to compare");
        return None;
    }
    checked.ir
}
