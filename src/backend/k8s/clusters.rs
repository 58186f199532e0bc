//! Several clusters (`cluster NAME @ SITE`): a NetworkPolicy selects pods of
//! its own cluster only, so a flow between two clusters is enforced by
//! addresses (`ipBlock`) at each end, and is E012 when an end it must name
//! has no addresses.

use crate::backend::Artefact;
use crate::diag::Diagnostic;
use crate::ir::{AtomId, ClusterId, Ir};

/// The cluster of an atom's namespaces, if it has any.
fn cluster_of(ir: &Ir, atom: AtomId) -> Option<ClusterId> {
    ir.layout.zone(ir.atoms[atom].zone).cluster
}

/// E012 at each allow with a flow between two clusters whose managed end
/// must name a peer (of the other cluster) that has no addresses.
pub fn cross_cluster_errors(ir: &Ir) -> Vec<Diagnostic> {
    let mut out = vec![];
    for (&(from, to), flow) in &ir.flows {
        if !ir.in_k8s(from) || !ir.in_k8s(to) || cluster_of(ir, from) == cluster_of(ir, to) {
            continue;
        }
        for (end, peer) in [(from, to), (to, from)] {
            if ir.is_unmanaged(end) || ir.atoms[peer].has_addrs() {
                continue;
            }
            let name = |a: AtomId| cluster_of(ir, a).map_or("?", |c| ir.layout.clusters[c].name.as_str());
            let (e, p) = (&ir.atoms[end], &ir.atoms[peer]);
            out.extend(flow.allow_ids().into_iter().map(|id| {
                Diagnostic::error(
                    "E012",
                    ir.allows[id].span,
                    format!(
                        "target k8s cannot express the flow between `{}` (cluster `{}`) and `{}` (cluster `{}`): a NetworkPolicy selects pods of its own cluster only, and `{}` has no addresses",
                        e.name,
                        name(end),
                        p.name,
                        name(peer),
                        p.name
                    ),
                )
                .with_label(p.span, format!("`{}` is declared here", p.name))
                .with_help(format!(
                    "give `{}` addresses its pods are reached by from the other cluster (`hosts` on the service, e.g. its ingress or node addresses, or `cidr` on its zone), so both ends can use an ipBlock",
                    p.name
                ))
            }));
        }
    }
    crate::diag::sort(&mut out);
    out
}

/// The policy as cluster `c` sees it: the zones of other clusters keep their
/// addresses but lose their namespaces, pod selectors and claims, so they
/// are peers by address only and get no files here.
pub fn view(ir: &Ir, c: ClusterId) -> Ir {
    let mut v = ir.clone();
    let foreign: Vec<bool> = (0..ir.zones.len())
        .map(|z| ir.layout.zone(z).cluster != Some(c))
        .collect();
    for (z, zone) in v.zones.iter_mut().enumerate() {
        if foreign[z] {
            zone.namespaces.clear();
            if let Some(l) = v.layout.zones.get_mut(z) {
                l.claims.clear();
                l.ns_labels.clear();
            }
        }
    }
    for a in &mut v.atoms {
        if foreign[a.zone] {
            a.namespaces.clear();
            a.pods.clear();
        }
    }
    v
}

/// A k8s-family target's files: `one` on the whole policy into `target/`
/// without clusters, else on each cluster's [`view`] into
/// `target/<cluster>/`, every cluster's errors together.
pub fn per_cluster(
    ir: &Ir,
    target: &str,
    one: impl Fn(&Ir, &str) -> Result<Vec<Artefact>, Vec<Diagnostic>>,
) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    if ir.layout.clusters.is_empty() {
        return one(ir, target);
    }
    let mut out = vec![];
    let mut errs = vec![];
    for (c, cluster) in ir.layout.clusters.iter().enumerate() {
        match one(&view(ir, c), &format!("{target}/{}", cluster.name)) {
            Ok(files) => out.extend(files),
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        crate::diag::sort(&mut errs);
        errs.dedup();
        Err(errs)
    }
}
