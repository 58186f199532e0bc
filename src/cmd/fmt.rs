//! `moat fmt`: rewrite policy files in the canonical layout, or with
//! `--check` list the files that are not in it.

use super::{print_diags, FAIL, OK, TROUBLE};
use crate::DiagFormat;
use moat::load::Fs;
use moat::span::SourceMap;
use moat::syntax::fmt;
use std::path::{Path, PathBuf};

/// Arguments of `moat fmt`.
#[derive(clap::Args, Debug)]
#[command(after_help = super::exit_help::FMT)]
pub struct Args {
    /// Policy files, or directories (every `.moat` file below them); `-` reads
    /// standard input and writes the formatted text to standard output.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write nothing; list the files whose layout differs and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
    /// How to print diagnostics (syntax errors): human or json.
    #[arg(long, default_value = "human", value_parser = super::stderr_format)]
    pub diagnostics: DiagFormat,
}

/// Runs `moat fmt`: 0 when done (or, with `--check`, nothing to change), 1 when
/// a file has syntax errors or `--check` finds files to change, 2 when a file
/// cannot be read or written.
pub fn run(args: &Args) -> u8 {
    let mut files = vec![];
    for f in &args.files {
        if f.as_os_str() == "-" {
            files.push(f.clone());
            continue;
        }
        match moat::load::Disk.moat_files_in(f) {
            Some(list) => files.extend(list),
            None => files.push(f.clone()),
        }
    }
    let (mut trouble, mut syntax) = (false, false);
    let mut changed = 0usize;
    for f in &files {
        match one(f, args) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(Failure::Io) => trouble = true,
            Err(Failure::Syntax) => syntax = true,
        }
    }
    if trouble {
        TROUBLE
    } else if syntax {
        FAIL
    } else if args.check && changed > 0 {
        eprintln!("{changed} file(s) not in the canonical layout; run `moat fmt` on them");
        FAIL
    } else {
        OK
    }
}

/// Why a file was not formatted: exit 1 for syntax errors (as `check`), 2 for I/O.
enum Failure {
    Syntax,
    Io,
}

/// Formats standard input to standard output (`moat fmt -`), as rustfmt and
/// gofmt do; with `--check` prints nothing but `<stdin>` when it would change.
fn stdin(args: &Args) -> Result<bool, Failure> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
        eprintln!("error: cannot read standard input: {e}");
        Failure::Io
    })?;
    let formatted = formatted(Path::new("<stdin>"), &text, args)?;
    if args.check {
        if formatted != text {
            super::out("<stdin>\n");
        }
    } else {
        super::out(&formatted);
    }
    Ok(formatted != text)
}

/// The text in the canonical layout (without a byte-order mark), or its
/// syntax errors printed.
fn formatted(path: &Path, text: &str, args: &Args) -> Result<String, Failure> {
    let text = moat::load::without_bom(text);
    match fmt::format(text) {
        Ok(t) => Ok(t),
        Err(diags) => {
            let mut sources = SourceMap::new();
            let id = sources.add(path.display().to_string(), Some(path), text.to_string());
            let diags: Vec<_> = diags
                .into_iter()
                .map(|mut d| {
                    d.span = d.span.map(|s| moat::span::Span::new(id, s.start, s.end));
                    d
                })
                .collect();
            print_diags(&diags, &sources, args.diagnostics);
            eprintln!("error: {} has syntax errors; not formatted", path.display());
            Err(Failure::Syntax)
        }
    }
}

/// Formats one file; `Ok(true)` when its layout changed (or would change).
fn one(path: &Path, args: &Args) -> Result<bool, Failure> {
    if path.as_os_str() == "-" {
        return stdin(args);
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        Failure::Io
    })?;
    let formatted = formatted(path, &text, args)?;
    if formatted == text {
        return Ok(false);
    }
    if args.check {
        super::out(&format!("{}\n", path.display()));
        return Ok(true);
    }
    let tmp = path.with_extension("moat.fmt-tmp");
    std::fs::write(&tmp, &formatted)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            eprintln!("error: cannot write {}: {e}", path.display());
            Failure::Io
        })?;
    eprintln!("formatted {}", path.display());
    Ok(true)
}
