//! `moat audit` (not yet implemented).

/// Arguments of `moat audit`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inputs.
    pub files: Vec<std::path::PathBuf>,
}

/// Runs the command.
pub fn run(_args: &Args) -> u8 {
    eprintln!("moat audit: not implemented yet");
    super::TROUBLE
}
