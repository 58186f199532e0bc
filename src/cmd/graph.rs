//! `moat graph` (not yet implemented).

/// Arguments of `moat graph`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inputs.
    pub files: Vec<std::path::PathBuf>,
}

/// Runs the command.
pub fn run(_args: &Args) -> u8 {
    eprintln!("moat graph: not implemented yet");
    super::TROUBLE
}
