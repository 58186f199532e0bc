//! `moat diff` (not yet implemented).

/// Arguments of `moat diff`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inputs.
    pub files: Vec<std::path::PathBuf>,
}

/// Runs the command.
pub fn run(_args: &Args) -> u8 {
    eprintln!("moat diff: not implemented yet");
    super::TROUBLE
}
