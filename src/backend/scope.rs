//! Which flows each target enforces (spec §6, "a flow is in scope when"), and
//! E012 for in-scope flows whose other end the target cannot address.

use super::Target;
use crate::diag::Diagnostic;
use crate::ir::{AtomId, Flow, Ir, SiteKind, ZoneKind};

/// True when the target owns at least one atom of a zone that is not
/// external, so it has something to protect. An external zone alone (the
/// `internet`, at the implicit onprem site) puts no firewall in scope: it is
/// the other end of the flows, not what the firewall stands in front of.
pub fn has_scope(target: Target, ir: &Ir) -> bool {
    (0..ir.atoms.len()).any(|a| owns(target, ir, a) && ir.zone_of(a).kind != ZoneKind::External)
}

/// True when `atom` is an end that puts a flow in the target's scope.
pub fn owns(target: Target, ir: &Ir, atom: AtomId) -> bool {
    let a = &ir.atoms[atom];
    match target {
        Target::K8s => a.has_namespaces(),
        Target::Iptables | Target::Nftables => a.has_addrs() && ir.site_of(atom).kind == SiteKind::Onprem,
        Target::Aws => ir.site_of(atom).kind == SiteKind::Aws,
        Target::Gcp => ir.site_of(atom).kind == SiteKind::Gcp,
        Target::Azure => ir.site_of(atom).kind == SiteKind::Azure,
    }
}

/// True when the target can express `peer` as the other end of a flow with `owner`.
fn can_address(target: Target, ir: &Ir, owner: AtomId, peer: AtomId) -> bool {
    let p = &ir.atoms[peer];
    match target {
        Target::K8s => p.has_namespaces() || p.has_addrs(),
        Target::Iptables | Target::Nftables => p.has_addrs(),
        Target::Aws | Target::Gcp | Target::Azure => {
            p.has_addrs() || ir.zone_of(peer).site == ir.zone_of(owner).site
        }
    }
}

/// The flows in the target's scope, in matrix order, or E012 at each allow
/// that produces an in-scope flow with an end the target cannot address.
pub fn flows(target: Target, ir: &Ir) -> Result<Vec<(AtomId, AtomId, &Flow)>, Vec<Diagnostic>> {
    let mut out = vec![];
    let mut errs = vec![];
    for (&(from, to), flow) in &ir.flows {
        let (of, ot) = (owns(target, ir, from), owns(target, ir, to));
        if !of && !ot {
            continue;
        }
        let ok = (!of || can_address(target, ir, from, to)) && (!ot || can_address(target, ir, to, from));
        if ok {
            out.push((from, to, flow));
            continue;
        }
        let (owner, peer) = if of && !can_address(target, ir, from, to) {
            (from, to)
        } else {
            (to, from)
        };
        for id in flow.allow_ids() {
            errs.push(e012(target, ir, id, owner, peer));
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        crate::diag::sort(&mut errs);
        Err(errs)
    }
}

fn e012(target: Target, ir: &Ir, allow: usize, owner: AtomId, peer: AtomId) -> Diagnostic {
    let (o, p) = (&ir.atoms[owner], &ir.atoms[peer]);
    let need = match target {
        Target::K8s => "a namespace or addresses",
        Target::Iptables | Target::Nftables => "addresses (`cidr` on its zone or `hosts` on the service)",
        _ => "addresses, or a zone at the same site",
    };
    Diagnostic::error(
        "E012",
        ir.allows[allow].span,
        format!(
            "target {} cannot express the flow between `{}` and `{}`: `{}` lacks {}",
            target.as_str(),
            o.name,
            p.name,
            p.name,
            need
        ),
    )
    .with_label(p.span, format!("`{}` is declared here", p.name))
    .with_help(e012_help(target, ir, owner, peer, need))
}

/// The E012 help for the case at hand: a pod-only peer seen from a Linux
/// firewall that is in scope only because of an external zone is enforced by
/// Kubernetes alone; otherwise the peer needs the mapping.
fn e012_help(target: Target, ir: &Ir, owner: AtomId, peer: AtomId, need: &str) -> String {
    let p = &ir.atoms[peer];
    let netfilter = matches!(target, Target::Iptables | Target::Nftables);
    if netfilter && p.has_namespaces() && !p.has_addrs() {
        let via = if ir.zone_of(owner).kind == ZoneKind::External {
            format!(
                " (the firewall is in scope only through the external zone `{}`)",
                ir.zone_of(owner).name
            )
        } else {
            String::new()
        };
        return format!(
            "`{}` has pods but no addresses, so only Kubernetes can enforce this flow{via}: compile with \
             `--target k8s` (or `all`, which skips what it cannot enforce), or give `{}` {need} if a Linux firewall \
             must enforce it too",
            p.name, p.name
        );
    }
    format!(
        "give `{}` {need}, or narrow the allow so it does not reach it",
        p.name
    )
}
