//! Forbids are invariants: no allow may intersect one (E007), and no
//! exemption lifts that.

use crate::diag::Diagnostic;
use crate::ir::Ir;
use std::collections::BTreeSet;

/// E007 for every (allow, forbid) pair that intersect, pointing at both.
pub fn check(ir: &Ir, diags: &mut Vec<Diagnostic>) {
    for forbid in &ir.forbids {
        let mut reported = BTreeSet::new();
        for (f, t, ports) in &forbid.pairs {
            let Some(flow) = ir.flows.get(&(*f, *t)) else {
                continue;
            };
            if flow.ports.intersect(ports).is_empty() {
                continue;
            }
            for (allow, contributed) in &flow.by {
                let shared = contributed.intersect(ports);
                if shared.is_empty() || !reported.insert(*allow) {
                    continue;
                }
                let a = &ir.allows[*allow];
                let why = forbid
                    .reason
                    .as_deref()
                    .map(|r| format!(": \"{r}\""))
                    .unwrap_or_default();
                diags.push(
                    Diagnostic::error("E007", a.span, format!("this allow lets `{}` reach `{}` on {shared}, which a forbid rules out{why}", ir.atoms[*f].name, ir.atoms[*t].name))
                        .with_label(forbid.span, format!("forbidden here ({})", forbid.loc))
                        .with_help("narrow the allow (endpoints or ports) so it no longer meets the forbid; forbids cannot be exempted"),
                );
            }
        }
    }
}
