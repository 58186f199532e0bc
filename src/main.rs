//! The `moat` command line: parse arguments, call the library, print, exit.

mod cmd;

/// mimalloc: about a third less CPU than glibc malloc on large policies (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// moat: compile secure-zone network policy to firewalls, and explain it.
#[derive(Parser)]
#[command(name = "moat", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Show every warning; by default the human output shows the first 20 of
    /// each code (all errors and every W004 exemption always) and counts the rest.
    #[arg(long, global = true)]
    all_warnings: bool,
}

/// How diagnostics are printed.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum DiagFormat {
    Human,
    Json,
    /// A SARIF 2.1.0 log on stdout, for code-scanning services (check, compile).
    Sarif,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check a policy. Exit 0 ok, 1 errors (or warnings with --deny-warnings), 2 usage or I/O.
    Check(cmd::check::Args),
    /// Check, then write firewall artefacts for the given targets.
    Compile(cmd::compile::Args),
    /// Print the canonical allowed-flow matrix.
    Matrix(cmd::matrix::Args),
    /// Is a flow allowed, and by which allow? Exit 0 allowed, 1 denied, 2 trouble.
    Query(cmd::query::Args),
    /// Semantic diff of two policies' matrices. Exit 0 same, 1 differ, 2 trouble.
    Diff(cmd::diff::Args),
    /// Compare a deployed configuration's reachability with the policy's. Exit 0 same, 1 differ, 2 trouble.
    Drift(cmd::drift::Args),
    /// Write allow statements reproducing a live configuration over a policy's zones. Exit 0 all imported, 1 some not, 2 trouble.
    Import(cmd::import::Args),
    /// Rewrite policies in the canonical layout (or, with --check, report files that differ).
    Fmt(cmd::fmt::Args),
    /// Draw zones, services and allowed flows (Graphviz DOT or Mermaid).
    Graph(cmd::graph::Args),
    /// The audit report: crossings, exemptions, resident services, forbids and their proofs.
    Audit(cmd::audit::Args),
    /// The language server for editors (LSP on stdin/stdout; docs/editors.md).
    Lsp(cmd::lsp::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cmd::ALL_WARNINGS.store(cli.all_warnings, std::sync::atomic::Ordering::Relaxed);
    let code = match cli.command {
        Command::Check(a) => cmd::check::run(&a),
        Command::Compile(a) => cmd::compile::run(&a),
        Command::Matrix(a) => cmd::matrix::run(&a),
        Command::Query(a) => cmd::query::run(&a),
        Command::Diff(a) => cmd::diff::run(&a),
        Command::Drift(a) => cmd::drift::run(&a),
        Command::Import(a) => cmd::import::run(&a),
        Command::Fmt(a) => cmd::fmt::run(&a),
        Command::Graph(a) => cmd::graph::run(&a),
        Command::Audit(a) => cmd::audit::run(&a),
        Command::Lsp(a) => cmd::lsp::run(&a),
    };
    ExitCode::from(code)
}
