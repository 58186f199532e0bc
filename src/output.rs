//! Writing artefacts: all or nothing.

use crate::backend::Artefact;
use std::io;
use std::path::Path;

/// Writes `artefacts` below `dir`, replacing each target's sub-directory as a whole.
pub fn write_all(dir: &Path, artefacts: &[Artefact]) -> io::Result<()> {
    for a in artefacts {
        let p = dir.join(&a.path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, &a.contents)?;
    }
    Ok(())
}
