//! Which flows each target enforces (spec §6, "a flow is in scope when"), and
//! E012 for in-scope flows whose other end the target cannot address, E017 for
//! in-scope flows with an end reached by DNS names (no target built in matches names).

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

/// True when `atom` is an end that puts a flow in the target's scope. An
/// atom of an `unmanaged` zone is none for k8s and the clouds (nothing is
/// written for it there: its flows are enforced at its managed peers); the
/// netfilter targets keep it (their gateway filters every flow between
/// zones) but write no host ruleset for it ([`super::netfilter`]).
pub fn owns(target: Target, ir: &Ir, atom: AtomId) -> bool {
    let a = &ir.atoms[atom];
    let managed = !ir.is_unmanaged(atom);
    match target {
        Target::K8s | Target::K8sAdmin | Target::Istio => ir.in_k8s(atom) && managed,
        Target::Iptables | Target::Nftables => a.has_addrs() && ir.site_of(atom).kind == SiteKind::Onprem,
        Target::Aws => ir.site_of(atom).kind == SiteKind::Aws && managed,
        Target::Gcp => ir.site_of(atom).kind == SiteKind::Gcp && managed,
        Target::Azure => ir.site_of(atom).kind == SiteKind::Azure && managed,
    }
}

/// True when the target can express `peer` as the other end of a flow with
/// `owner`. A cloud names a peer at the owner's site by its group, which an
/// unmanaged peer does not have: it needs addresses.
fn can_address(target: Target, ir: &Ir, owner: AtomId, peer: AtomId) -> bool {
    let p = &ir.atoms[peer];
    match target {
        Target::K8s | Target::K8sAdmin | Target::Istio => ir.in_k8s(peer) || p.has_addrs(),
        Target::Iptables | Target::Nftables => p.has_addrs(),
        Target::Aws | Target::Gcp | Target::Azure => {
            p.has_addrs() || (ir.zone_of(peer).site == ir.zone_of(owner).site && !ir.is_unmanaged(peer))
        }
    }
}

/// The flows in the target's scope, in matrix order, or E012 at each allow
/// that produces an in-scope flow with an end the target cannot address.
pub fn flows(target: Target, ir: &Ir) -> Result<Vec<(AtomId, AtomId, &Flow)>, Vec<Diagnostic>> {
    let mut out = vec![];
    let mut errs = vec![];
    // per allow: its first flow with a DNS-name end, and how many it has
    let mut dns_flows: std::collections::BTreeMap<usize, (AtomId, AtomId, usize)> = Default::default();
    for (&(from, to), flow) in &ir.flows {
        let (of, ot) = (owns(target, ir, from), owns(target, ir, to));
        if !of && !ot {
            continue;
        }
        if let Some(peer) = [to, from].into_iter().find(|a| !ir.zone_of(*a).dns.is_empty()) {
            let owner = if peer == to { from } else { to };
            for id in flow.allow_ids() {
                dns_flows.entry(id).or_insert((owner, peer, 0)).2 += 1;
            }
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
    errs.extend(
        dns_flows
            .into_iter()
            .map(|(id, (owner, peer, n))| dns_peer(target, ir, id, owner, peer, n)),
    );
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
        Target::K8s | Target::K8sAdmin | Target::Istio => "a namespace or addresses",
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

/// E048 (istio): a source whose zone chooses its namespaces by label. An
/// AuthorizationPolicy names a source by namespace name or by principal
/// (`cluster.local/ns/<ns>/sa/<sa>`, a name too): neither can say "the
/// namespaces with these labels".
pub fn e048_labelled_source(ir: &Ir, atom: AtomId) -> Diagnostic {
    let a = &ir.atoms[atom];
    let zone = ir.zone_of(atom);
    Diagnostic::error(
        "E048",
        zone.span,
        format!(
            "target istio cannot name `{}` as a source: `{}` chooses its namespaces by label, and an AuthorizationPolicy names source namespaces (and service accounts) by namespace name only",
            a.name, zone.name
        ),
    )
    .with_help(format!(
        "name the namespaces of `{}` (`namespace NS, ...`) to compile istio, or leave its flows to the k8s target (which selects them by label)",
        zone.name
    ))
}

/// E048 (istio): the members of a zone in a namespace it shares that are in
/// none of its services. A workload selector (and a source) cannot say
/// "these pods less those": only `matchLabels`, and namespaces whole.
pub fn e048_shared_remainder(ir: &Ir, atom: AtomId, ns: &str) -> Diagnostic {
    let zone = ir.zone_of(atom);
    Diagnostic::error(
        "E048",
        zone.span,
        format!(
            "target istio cannot select the members of `{}` in namespace `{ns}`, which it shares with other zones by pod selector: a workload selector has `matchLabels` only, and a source names namespaces whole",
            zone.name
        ),
    )
    .with_help(format!(
        "allow the flows to and from the services of `{}` by name (each with `serviceaccount`), or leave them to the k8s target, which selects the shared namespace's pods exactly",
        zone.name
    ))
}

/// E048 (istio): a service in a namespace its zone holds with a `!=`
/// selector, which a workload selector (`matchLabels` only) cannot write.
pub fn e048_not_in(ir: &Ir, service: AtomId, ns: &str) -> Diagnostic {
    let zone = ir.zone_of(service);
    Diagnostic::error(
        "E048",
        zone.span,
        format!(
            "target istio cannot select `{}` in namespace `{ns}`: `{}` holds its share of it with `!=`, and a workload selector has `matchLabels` only",
            ir.atoms[service].name, zone.name
        ),
    )
    .with_help(format!(
        "select the share of `{}` with `key=value` (label its pods, e.g. `namespace {ns} pods k=v`), or leave it to the k8s target (which writes `NotIn`)",
        zone.name
    ))
}

/// What each target would need to enforce a DNS-name peer (docs/language.md, "DNS names").
fn dns_reason(target: Target) -> &'static str {
    match target {
        Target::K8s => "a NetworkPolicy peer is a pod, a namespace or an ipBlock, never a name",
        Target::Iptables | Target::Nftables => {
            "netfilter matches addresses; names resolved when the rules load go stale as the peer's addresses change"
        }
        Target::Aws => "a security group rule names CIDRs, prefix lists or security groups, never a DNS name",
        Target::Gcp => "a VPC firewall rule names source and destination ranges, never a DNS name",
        Target::Azure => "a network security group rule names prefixes or service tags, never a DNS name",
        Target::K8sAdmin => {
            "moat writes no `domainNames` egress peers (a ClusterNetworkPolicy v1alpha2 field that not every implementation supports)"
        }
        Target::Istio => {
            "an AuthorizationPolicy matches the sources of requests to a workload; names of external destinations need a ServiceEntry and an egress gateway, which moat does not write"
        }
    }
}

/// E017 at an allow with `flows` in-scope flows to or from a DNS-name zone; names the first.
fn dns_peer(target: Target, ir: &Ir, allow: usize, owner: AtomId, peer: AtomId, flows: usize) -> Diagnostic {
    let (o, p) = (&ir.atoms[owner], &ir.atoms[peer]);
    let zone = ir.zone_of(peer);
    let mut d = Diagnostic::error(
        "E017",
        ir.allows[allow].span,
        format!(
            "target {} cannot express the flow between `{}` and `{}`: `{}` is reached by DNS names ({})",
            target.as_str(),
            o.name,
            p.name,
            zone.name,
            zone.dns.join(", ")
        ),
    )
    .with_label(zone.span, format!("`{}` names its DNS peers here", zone.name))
    .with_note(format!("{}: {}", target.as_str(), dns_reason(target)));
    if flows > 1 {
        d = d.with_note(format!("and {} more such flow(s) of this allow", flows - 1));
    }
    d
    .with_note("none of moat's targets (k8s, iptables, nftables, aws, gcp, azure, k8s-admin, istio) can enforce DNS names; an egress proxy or a service mesh (e.g. an Istio ServiceEntry) can")
    .with_help(format!(
        "give `{}` the peer's addresses with `cidr` if they are fixed, or narrow the allow so this target's zones do not reach it",
        zone.name
    ))
}
