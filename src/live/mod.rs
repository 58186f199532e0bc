//! Live state: what a deployed configuration (a ruleset dump, NetworkPolicies,
//! security groups) allows, evaluated over the policy's atoms.
//!
//! Each reader (one module per kind) parses its input and evaluates it into a
//! [`LiveMatrix`]: for every (from atom, to atom) pair, the ports the live
//! state lets through and the live rules that let them through. `moat drift`
//! compares that matrix with the policy's [`crate::ir::FlowMatrix`];
//! `moat import` turns it into allow statements.

use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir};
use crate::ports::PortSet;
use crate::span::{SourceMap, Span};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The kinds of live input, as written before the `:` of `--live KIND:PATH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LiveKind {
    Nftables,
    Iptables,
    K8s,
    Aws,
    Gcp,
    Azure,
}

impl LiveKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [LiveKind; 6] = [
        LiveKind::Nftables,
        LiveKind::Iptables,
        LiveKind::K8s,
        LiveKind::Aws,
        LiveKind::Gcp,
        LiveKind::Azure,
    ];

    /// The word of `--live KIND:PATH`.
    pub fn as_str(self) -> &'static str {
        match self {
            LiveKind::Nftables => "nftables",
            LiveKind::Iptables => "iptables",
            LiveKind::K8s => "k8s",
            LiveKind::Aws => "aws",
            LiveKind::Gcp => "gcp",
            LiveKind::Azure => "azure",
        }
    }

    /// Parses the word of `--live KIND:PATH`.
    pub fn parse(s: &str) -> Option<LiveKind> {
        LiveKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One live input file, read into the source map so that diagnostics about it
/// carry its file, line and column like any policy diagnostic.
#[derive(Debug, Clone)]
pub struct LiveInput {
    pub kind: LiveKind,
    /// The path as the user gave it.
    pub path: PathBuf,
    /// The file's id in the [`SourceMap`] the readers were given.
    pub file: crate::span::FileId,
}

/// Where a live rule stands: a span in a live input (file and line), and an
/// object name where the input has one (a NetworkPolicy, a security group rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveRule {
    /// The rule's text in the input (or the object's span).
    pub span: Span,
    /// `namespace/name` of a NetworkPolicy, a security group id and rule index, ...
    pub object: Option<String>,
    /// A one-line rendering of the rule, for the drift report.
    pub text: String,
}

/// What the live state allows from one atom to another.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveFlow {
    /// Every port and protocol let through for at least part of the pair.
    pub ports: PortSet,
    /// Each live rule's contribution, in input order.
    pub by: Vec<(LiveRule, PortSet)>,
    /// Set when a rule covers only part of the atoms' addresses: the addresses
    /// (from side, to side) it does cover, as prefixes or ranges in text.
    pub partial: Option<Partial>,
}

/// The part of a pair of atoms that a live rule covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Partial {
    pub from: Vec<String>,
    pub to: Vec<String>,
}

/// The live state's reachability: (from atom, to atom) -> what is let through.
///
/// Scope convention (drift relies on it): every pair the live input speaks for
/// has an entry, also when nothing passes (empty `ports`: the live state blocks
/// it); a pair with no entry is outside what the input configures, and drift
/// does not compare it (a host ruleset says nothing about other hosts' flows).
pub type LiveMatrix = BTreeMap<(AtomId, AtomId), LiveFlow>;

/// What a reader gives back: the matrix and its warnings (constructs it could
/// not evaluate, and which way it treated them), or errors (input it could not read).
pub type Evaluated = Result<(LiveMatrix, Vec<Diagnostic>), Vec<Diagnostic>>;

/// The signature every reader module offers: evaluate all the inputs of its
/// kind together (several `--live` arguments of one kind are one live state).
pub type Reader = fn(ir: &Ir, sources: &SourceMap, inputs: &[&LiveInput]) -> Evaluated;

/// The reader for a kind, or `None` for a kind moat cannot read yet (drift and
/// import then stop with a coded error naming the kind). Each reader module
/// adds its arm here.
pub fn reader(kind: LiveKind) -> Option<Reader> {
    match kind {
        LiveKind::Nftables
        | LiveKind::Iptables
        | LiveKind::K8s
        | LiveKind::Aws
        | LiveKind::Gcp
        | LiveKind::Azure => None,
    }
}
