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

/// The exit codes each sub-command's `--help` lists (README "Command line").
/// The contract: 0 success, 1 the answer is "no" (the policy has errors, a
/// query is denied, a diff differs, `--check` finds changes), 2 usage (a bad
/// argument, E045, E046) or I/O trouble. Syntax errors are policy errors: 1.
pub mod exit_help {
    /// `moat check`.
    pub const CHECK: &str = "`check` runs the language checks. What a target cannot express or warns about (E012,\nE013, E017, and W005: a Kubernetes namespace that can reach no DNS) is found by\n`moat compile --target ...`, for the targets it compiles.\n\nExit codes:\n  0  no errors (warnings do not fail)\n  1  the policy has errors (or warnings, with --deny-warnings)\n  2  usage error, or an input cannot be read";
    /// `moat compile`.
    pub const COMPILE: &str = "Exit codes:\n  0  artefacts written or listed (with --check: no drift)\n  1  the policy has errors, a target cannot express it, or --check found drift\n  2  usage error (unknown target, E045 --out is a file, E046 a target with nothing to enforce), or I/O trouble";
    /// `moat matrix`, `graph`, `audit`.
    pub const REPORT: &str =
        "Exit codes:\n  0  printed\n  1  the policy has errors\n  2  usage error, or an input cannot be read";
    /// `moat query`.
    pub const QUERY: &str = "Exit codes:\n  0  allowed (for every address, when --from or --to is a prefix)\n  1  denied (for some address)\n  2  usage error, an unknown endpoint, an input cannot be read, or the policy has errors";
    /// `moat diff`.
    pub const DIFF: &str = "Example (one policy of this repository against the same file on main):\n  moat diff origin/main:policies/mosip.moat policies/mosip.moat\n\nA directory is one policy made of all its files: `policies/` holds three independent\npolicies, so name one file (or --old/--new for the files of one policy).\n\nExit codes:\n  0  the two policies allow the same flows\n  1  they differ\n  2  usage error, an input cannot be read, or a side has errors";
    /// `moat fmt`.
    pub const FMT: &str = "Exit codes:\n  0  formatted (with --check: nothing to change)\n  1  a file has syntax errors (not formatted), or --check found files to change\n  2  usage error, or a file cannot be read or written";
}

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

/// Prints one diagnostic that has no source (a damaged cache) on stderr, in
/// `format`, without the closing summary line.
pub fn eprint_note(d: Diagnostic, format: DiagFormat) {
    let sources = SourceMap::new();
    let one = [d];
    match format {
        DiagFormat::Human => eprint!(
            "{}",
            diag::render_human(&one, &sources, std::io::stderr().is_terminal())
        ),
        // a note outside the command's findings: plain JSON on stderr, also for sarif
        DiagFormat::Json | DiagFormat::Sarif => eprintln!("{}", diag::render_json(&one, &sources)),
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

/// [`load_ok`] for a policy already loaded and checked.
pub fn load_ok_with(c: Checked, format: DiagFormat) -> Result<Checked, u8> {
    if c.ir.is_none() || c.has_errors() {
        eprint_diags(&c.diags, &c.sources, format);
        return Err(if c.io_failed { TROUBLE } else { FAIL });
    }
    Ok(c)
}
