//! Back ends: pure functions from the IR to artefacts (file path + contents).
//! One file per target, dispatched by one `match` on [`Target`].

pub mod aws;
pub mod azure;
pub mod cloud;
pub mod gcp;
pub mod iptables;
pub mod istio;
pub mod k8s;
pub mod k8s_admin;
pub mod netfilter;
pub mod nftables;
pub mod scope;
pub mod sources;

use crate::diag::Diagnostic;
use crate::ir::Ir;

/// A compilation target (spec §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    K8s,
    Iptables,
    Nftables,
    Aws,
    Gcp,
    Azure,
    /// ClusterNetworkPolicies (guardrails); opt-in, see [`Target::OPT_IN`].
    K8sAdmin,
    /// Istio AuthorizationPolicies; opt-in, see [`Target::OPT_IN`].
    Istio,
}

impl Target {
    /// Every target, in output order.
    pub const ALL: [Target; 8] = [
        Target::K8s,
        Target::Iptables,
        Target::Nftables,
        Target::Aws,
        Target::Gcp,
        Target::Azure,
        Target::K8sAdmin,
        Target::Istio,
    ];

    /// The targets `--target all` compiles only when they are named too
    /// (`--target all,istio`): they add a layer beside the k8s target rather
    /// than enforce a site on their own.
    pub const OPT_IN: [Target; 2] = [Target::K8sAdmin, Target::Istio];

    /// The name used on the command line and as the output sub-directory.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::K8s => "k8s",
            Target::Iptables => "iptables",
            Target::Nftables => "nftables",
            Target::Aws => "aws",
            Target::Gcp => "gcp",
            Target::Azure => "azure",
            Target::K8sAdmin => "k8s-admin",
            Target::Istio => "istio",
        }
    }

    /// Parses a target name (not `all`).
    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One generated file, its path relative to the output directory (`k8s/mz.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Artefact {
    pub path: String,
    pub contents: String,
}

/// Options that change what a back end emits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmitOptions {
    /// netfilter: log dropped packets, rate-limited.
    pub log_drops: bool,
    /// Threads a back end may use for its own files (k8s serialises
    /// namespaces in parallel); 0 or 1 means one. `compile` gives the cores
    /// to a target compiled alone: with several targets, they already run
    /// side by side, and more threads only cost memory.
    pub threads: usize,
    /// k8s-admin: the allows as Admin-tier `Accept` rules too (`--admin-allows`).
    pub admin_allows: bool,
}

/// Compiles the IR for one target. Errors (E012, E013, ...) come back before
/// anything is written; the artefacts are sorted by path.
pub fn emit(target: Target, ir: &Ir, opts: &EmitOptions) -> Result<Vec<Artefact>, Vec<Diagnostic>> {
    let mut out = match target {
        Target::K8s => k8s::emit(ir, opts),
        Target::Iptables => iptables::emit(ir, opts),
        Target::Nftables => nftables::emit(ir, opts),
        Target::Aws => aws::emit(ir, opts),
        Target::Gcp => gcp::emit(ir, opts),
        Target::Azure => azure::emit(ir, opts),
        Target::K8sAdmin => k8s_admin::emit(ir, opts),
        Target::Istio => istio::emit(ir, opts),
    }?;
    out.sort();
    Ok(out)
}

/// Where a back end hands each file as soon as it is complete, so that the
/// caller can write it and free it while the rest is still being built.
pub trait Sink {
    fn put(&mut self, artefact: Artefact);
}

impl Sink for Vec<Artefact> {
    fn put(&mut self, artefact: Artefact) {
        self.push(artefact);
    }
}

/// [`emit`], handing each file to `sink` as soon as it is complete (in no
/// particular order). On errors some files may already have been handed over:
/// the caller must discard them (the output writer stages files and only
/// commits when every target succeeded).
pub fn emit_into(
    target: Target,
    ir: &Ir,
    opts: &EmitOptions,
    sink: &mut dyn Sink,
) -> Result<(), Vec<Diagnostic>> {
    match target {
        Target::K8s => k8s::emit_into(ir, opts, sink),
        Target::Iptables => iptables::emit_into(ir, opts, sink),
        Target::Nftables => nftables::emit_into(ir, opts, sink),
        Target::Aws | Target::Gcp | Target::Azure | Target::K8sAdmin | Target::Istio => {
            for a in emit(target, ir, opts)? {
                sink.put(a);
            }
            Ok(())
        }
    }
}

/// True when the target has something to enforce in this policy (spec §6 scope):
/// `--target all` compiles exactly the targets for which this holds.
pub fn in_scope(target: Target, ir: &Ir) -> bool {
    scope::has_scope(target, ir)
}

/// The warnings a target adds when it compiles: W017 for each allow whose
/// `paths`/`methods` it enforces at L4 only (every target but istio), and
/// the target's own (W005, W018, W019).
pub fn warnings(target: Target, ir: &Ir) -> Vec<Diagnostic> {
    let mut out = match target {
        Target::K8s => k8s::warnings(ir),
        Target::Istio => istio::warnings(ir),
        Target::K8sAdmin => k8s_admin::warnings(ir),
        _ => vec![],
    };
    if target != Target::Istio {
        out.extend(l4_only(target, ir));
    }
    out
}

/// W017 at each allow with `paths`/`methods` that has a flow in the target's scope.
fn l4_only(target: Target, ir: &Ir) -> Vec<Diagnostic> {
    let mut hit = std::collections::BTreeSet::new();
    for (&(from, to), flow) in &ir.flows {
        if !scope::owns(target, ir, from) && !scope::owns(target, ir, to) {
            continue;
        }
        hit.extend(
            flow.allow_ids()
                .into_iter()
                .filter(|&a| ir.allows[a].l7.is_some()),
        );
    }
    hit.into_iter()
        .filter_map(|a| {
            let l7 = ir.allows[a].l7.as_ref()?;
            Some(
                Diagnostic::warning(
                    "W017",
                    l7.span,
                    format!("target {}: `paths`/`methods` are enforced at L4 only (the allow's ports); only the istio target enforces them", target.as_str()),
                )
                .with_help("the HTTP restriction holds where the istio target is deployed too (`--target ...,istio`)"),
            )
        })
        .collect()
}
