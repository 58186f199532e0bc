//! `moat lsp`: the language server, on standard input and output (docs/editors.md).

use super::{OK, TROUBLE};

/// Arguments of `moat lsp` (none but `--stdio`, which editors pass by habit).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Talk LSP on standard input and output (the only transport; accepted for editors that pass it).
    #[arg(long)]
    pub stdio: bool,
}

/// Serves one editor session; 0 after a clean `shutdown`/`exit`, 2 when the connection broke.
pub fn run(_args: &Args) -> u8 {
    match moat::lsp::run_stdio() {
        Ok(()) => OK,
        Err(e) => {
            eprintln!("moat lsp: {e}");
            TROUBLE
        }
    }
}
