//! The iptables target (not yet implemented: emits nothing).

use super::{Artefact, EmitOptions};
use crate::diag::Diagnostic;
use crate::ir::Ir;

/// Compiles the policy to iptables artefacts.
pub fn emit(_ir: &Ir, _opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    Ok(vec![])
}
