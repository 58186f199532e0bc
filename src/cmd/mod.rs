//! One module per sub-command; shared helpers for loading and printing.

pub mod audit;
pub mod check;
pub mod compile;
pub mod diff;
pub mod drift;
pub mod fmt;
pub mod graph;
pub mod import;
pub mod lsp;
pub mod matrix;
pub mod query;

use moat::diag::{self, Diagnostic};
use moat::span::SourceMap;
use moat::Checked;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::DiagFormat;

/// Exit code: success.
pub const OK: u8 = 0;
/// Exit code: the policy has errors (or the answer is "no").
pub const FAIL: u8 = 1;
/// Exit code: usage or I/O trouble.
pub const TROUBLE: u8 = 2;

/// `--all-warnings`: the human rendering shows every warning instead of the
/// first [`diag::WARNINGS_SHOWN_PER_CODE`] of each code.
pub static ALL_WARNINGS: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output. A closed pipe (`moat matrix … | head`)
/// is not an error worth a panic: the reader has what it wanted.
pub fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// The policy a data command reads, and how its diagnostics are printed (on
/// stderr: the command's `--format` is the format of its output).
#[derive(clap::Args, Debug)]
pub struct PolicyArgs {
    /// Policy files or directories; several form one policy.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// How to print diagnostics (on stderr): human or json.
    #[arg(long, default_value = "human", value_parser = stderr_format)]
    pub diagnostics: DiagFormat,
}

/// The diagnostic formats of a data command, whose stdout is its data: a
/// SARIF log belongs on stdout, so it is offered by `check` and `compile` only.
pub fn stderr_format(s: &str) -> Result<DiagFormat, String> {
    match s {
        "human" => Ok(DiagFormat::Human),
        "json" => Ok(DiagFormat::Json),
        _ => Err(format!(
            "`{s}` is not a diagnostics format of this command: use human or json \
             (SARIF logs come from `moat check` and `moat compile --format sarif`)"
        )),
    }
}

/// Loads and checks the files from disk.
pub fn load(files: &[PathBuf]) -> Checked {
    moat::check_paths(&moat::load::Disk, files)
}

/// Prints diagnostics to stderr (human) or stdout (json).
pub fn print_diags(diags: &[Diagnostic], sources: &SourceMap, format: DiagFormat) {
    match format {
        DiagFormat::Human => {
            if !diags.is_empty() {
                let per_code = if ALL_WARNINGS.load(Ordering::Relaxed) {
                    usize::MAX
                } else {
                    diag::WARNINGS_SHOWN_PER_CODE
                };
                let (shown, left_out) = diag::limit_warnings(diags, per_code);
                eprint!(
                    "{}",
                    diag::render_human(shown, sources, std::io::stderr().is_terminal())
                );
                for (code, n) in left_out {
                    eprintln!("warning[{code}]: {n} more not shown (--all-warnings shows every one, --format json lists them)");
                }
                let (e, w) = counts(diags);
                eprintln!("{}", summary(e, w));
            }
        }
        DiagFormat::Json => out(&format!("{}\n", diag::render_json(diags, sources))),
        DiagFormat::Sarif => out(&moat::sarif::render(diags, sources)),
    }
}

/// Prints diagnostics to stderr only (for commands whose stdout is data).
pub fn eprint_diags(diags: &[Diagnostic], sources: &SourceMap, format: DiagFormat) {
    match format {
        DiagFormat::Human => print_diags(diags, sources, format),
        DiagFormat::Json => eprintln!("{}", diag::render_json(diags, sources)),
        // A SARIF log is the command's report, meant to be captured: stdout.
        DiagFormat::Sarif => print_diags(diags, sources, format),
    }
}

fn counts(diags: &[Diagnostic]) -> (usize, usize) {
    let e = diags.iter().filter(|d| d.is_error()).count();
    (e, diags.len() - e)
}

fn summary(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, w: &str| {
        if n == 1 {
            format!("{n} {w}")
        } else {
            format!("{n} {w}s")
        }
    };
    format!("{}, {}", plural(errors, "error"), plural(warnings, "warning"))
}

/// Ends the life of a loaded policy without freeing it: the process is about
/// to exit, and freeing a large IR piece by piece costs 6–20% of a run
/// (docs/performance.md); the memory goes back to the system at exit.
pub fn release<T>(value: T) {
    std::mem::forget(value);
}

/// Loads and checks; on errors prints them and returns the exit code to use.
pub fn load_ok(files: &[PathBuf], format: DiagFormat) -> Result<Checked, u8> {
    load_ok_with(load(files), format)
}

/// [`load_ok`], then the policy checked against the inventory at
/// `inventory` when any is given (`--inventory`).
pub fn load_ok_inventory(
    files: &[PathBuf],
    inventory: &[PathBuf],
    format: DiagFormat,
) -> Result<Checked, u8> {
    let mut c = load(files);
    if !inventory.is_empty() {
        moat::check_inventory(&mut c, inventory);
    }
    load_ok_with(c, format)
}

/// [`load_ok`] for a policy already loaded and checked.
pub fn load_ok_with(c: Checked, format: DiagFormat) -> Result<Checked, u8> {
    if c.ir.is_none() || c.has_errors() {
        eprint_diags(&c.diags, &c.sources, format);
        return Err(if c.io_failed { TROUBLE } else { FAIL });
    }
    Ok(c)
}
