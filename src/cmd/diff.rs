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
use moat::Checked;
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
    /// Report format: `json` is `{"added": [...], "removed": [...]}` (docs/language.md §7).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// How to print diagnostics (on stderr): human or json.
    #[arg(long, default_value = "human", value_parser = super::stderr_format)]
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
    // The two sides load and check on two threads; their messages are
    // printed afterwards, old side first, so the output stays deterministic.
    let (a, b) = std::thread::scope(|s| {
        let old_side = s.spawn(|| side("old", &old));
        let new_side = side("new", &new);
        (
            old_side
                .join()
                .unwrap_or_else(|_| Err(vec!["error: the old side could not be loaded".into()])),
            new_side,
        )
    });
    let (Some(a), Some(b)) = (
        usable("old", a, args.diagnostics),
        usable("new", b, args.diagnostics),
    ) else {
        return TROUBLE;
    };
    let d = diff::diff(&a, &b);
    match args.format {
        Format::Text => super::out(&diff::to_text(&d)),
        Format::Json => super::out(&format!("{}\n", diff::to_json(&d))),
        Format::Markdown => super::out(&diff::to_markdown(&d, &a, &b)),
    }
    let code = if d.is_empty() { OK } else { FAIL };
    super::release((a, b, d));
    code
}

/// The IR of a side that loaded and checked; otherwise prints why not.
pub(super) fn usable(which: &str, side: Result<Checked, Vec<String>>, format: DiagFormat) -> Option<Ir> {
    match side {
        Err(messages) => {
            for m in messages {
                eprintln!("{m}");
            }
            None
        }
        Ok(checked) if checked.ir.is_none() || checked.has_errors() => {
            eprint_diags(&checked.diags, &checked.sources, format);
            eprintln!("error: the {which} policy does not check; nothing to compare");
            None
        }
        Ok(mut checked) => {
            let ir = checked.ir.take();
            super::release(checked);
            ir
        }
    }
}

/// Loads and checks one side; on trouble, the messages to print (the checked
/// policy itself when it has errors, so that its diagnostics can be printed).
pub(super) fn side(which: &str, inputs: &[String]) -> Result<Checked, Vec<String>> {
    let revs: Vec<Option<(&str, &str)>> = inputs.iter().map(|i| GitFs::split_arg(i)).collect();
    let checked = match revs.first().copied().flatten() {
        None if revs.iter().all(Option::is_none) => {
            moat::check_paths_without_quality_warnings(&moat::load::Disk, &inputs.iter().map(PathBuf::from).collect::<Vec<_>>())
        }
        Some((rev, _)) if revs.iter().all(|r| r.is_some_and(|(r2, _)| r2 == rev)) => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let fs = match GitFs::open(&cwd, rev) {
                Ok(fs) => fs,
                Err(e) => return Err(vec![format!("error: {which} side: `{rev}` is not a git revision here: {e}")]),
            };
            let paths: Vec<PathBuf> = revs.iter().flatten().map(|(_, p)| fs.root_path(p.as_ref())).collect();
            moat::check_paths_without_quality_warnings(&fs, &paths)
        }
        _ => {
            return Err(vec![format!(
                "error: {which} side mixes inputs from the working tree and from git revisions; use one place per side"
            )])
        }
    };
    Ok(checked)
}
