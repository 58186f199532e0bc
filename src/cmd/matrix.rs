//! `moat compile`: check, then write artefacts.

/// Arguments of `moat compile`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inputs.
    pub files: Vec<std::path::PathBuf>,
}

/// Runs the command.
pub fn run(_args: &Args) -> u8 {
    super::TROUBLE
}
