//! Live state: what a deployed configuration (a ruleset dump, NetworkPolicies,
//! security groups) allows, evaluated over the policy's atoms.
//!
//! Each reader (one module per kind) parses its input and evaluates it into a
//! [`LiveMatrix`]: for every (from atom, to atom) pair, the ports the live
//! state lets through and the live rules that let them through. `moat drift`
//! compares that matrix with the policy's [`crate::ir::FlowMatrix`];
//! `moat import` turns it into allow statements.

pub mod aws;
pub mod azure;
pub mod cloud;
pub mod cover;
pub mod gcp;
pub mod k8s;
pub mod parse;

use crate::diag::Diagnostic;
use crate::ir::{AtomId, Ir};
use crate::ports::PortSet;
use crate::span::{SourceMap, Span};
use std::collections::BTreeMap;

pub mod compare;
pub mod import;
pub mod iptables;
pub mod netfilter;
pub mod nftables;
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
    /// The ports of [`LiveFlow::ports`] that pass for only part of the pair
    /// (added by drift-nf: drift needs them to report what the rest lacks;
    /// the ports every part gets are `LiveFlow::ports` minus these).
    pub ports: PortSet,
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
        LiveKind::Nftables => Some(nftables::read),
        LiveKind::Iptables => Some(iptables::read),
        LiveKind::K8s => Some(k8s::read),
        LiveKind::Aws => Some(aws::read),
        LiveKind::Gcp => Some(gcp::read),
        LiveKind::Azure => Some(azure::read),
    }
}

/// Splits `KIND:PATH` (E033 when the kind is unknown or the form is wrong).
pub fn parse_arg(arg: &str) -> Result<(LiveKind, PathBuf), Diagnostic> {
    let kinds: Vec<&str> = LiveKind::ALL.iter().map(|k| k.as_str()).collect();
    let help = format!("write --live KIND:PATH with KIND one of {}", kinds.join(", "));
    let Some((kind, path)) = arg.split_once(':') else {
        return Err(Diagnostic::error_nospan(
            "E033",
            format!(
                "`--live {arg}` names no {}",
                if LiveKind::parse(arg).is_some() {
                    "path"
                } else {
                    "kind"
                }
            ),
        )
        .with_help(help));
    };
    match LiveKind::parse(kind) {
        Some(k) if !path.is_empty() => Ok((k, PathBuf::from(path))),
        Some(_) => {
            Err(Diagnostic::error_nospan("E033", format!("`--live {arg}` names no path")).with_help(help))
        }
        None => Err(Diagnostic::error_nospan("E033", format!("unknown live kind `{kind}`")).with_help(help)),
    }
}

/// Reads every `--live KIND:PATH` into `sources` (a directory: each file in
/// it, sorted by name) and evaluates them as one live state: each kind's
/// reader evaluates its inputs together; where two kinds speak for one pair,
/// a packet must pass both. Errors: E033 (the argument, or a kind moat cannot
/// read yet), E034 (a file that cannot be read), and the readers' own.
pub fn read_all(ir: &Ir, sources: &mut SourceMap, args: &[String]) -> Evaluated {
    read_all_on(ir, sources, args, None)
}

/// [`read_all`], with the k8s inputs evaluated on the pods of `inventory`
/// when there is one (`--inventory`), instead of the input's Pod objects or
/// representative pods.
pub fn read_all_on(
    ir: &Ir,
    sources: &mut SourceMap,
    args: &[String],
    inventory: Option<&crate::inventory::Inventory>,
) -> Evaluated {
    let mut errs = vec![];
    let mut inputs: Vec<LiveInput> = vec![];
    for arg in args {
        let (kind, path) = match parse_arg(arg) {
            Ok(x) => x,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        if reader(kind).is_none() {
            errs.push(
                Diagnostic::error_nospan(
                    "E033",
                    format!("moat cannot read live `{}` state yet", kind.as_str()),
                )
                .with_help("readers exist for: ".to_string() + &readable().join(", ")),
            );
            continue;
        }
        for file in files_of(&path, kind) {
            match std::fs::read(&file).map(String::from_utf8) {
                Ok(Ok(text)) => {
                    let id = sources.add(file.display().to_string(), Some(&file), text);
                    inputs.push(LiveInput {
                        kind,
                        path: file,
                        file: id,
                    });
                }
                Ok(Err(_)) => errs.push(
                    Diagnostic::error_nospan(
                        "E034",
                        format!("live input {} is not UTF-8 text", file.display()),
                    )
                    .with_help("give the text the tool printed (iptables-save, nft -j list ruleset, ...)"),
                ),
                Err(e) => errs.push(
                    Diagnostic::error_nospan(
                        "E034",
                        format!("cannot read live input {}: {e}", file.display()),
                    )
                    .with_help("check the path after KIND:"),
                ),
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut merged: Option<LiveMatrix> = None;
    let mut warns = vec![];
    for kind in LiveKind::ALL {
        let mine: Vec<&LiveInput> = inputs.iter().filter(|i| i.kind == kind).collect();
        let Some(read) = reader(kind).filter(|_| !mine.is_empty()) else {
            continue;
        };
        let got = match inventory {
            Some(inv) if kind == LiveKind::K8s => k8s::read_inventory(ir, sources, &mine, inv),
            _ => read(ir, sources, &mine),
        };
        match got {
            Ok((m, w)) => {
                warns.extend(w);
                merged = Some(match merged {
                    None => m,
                    Some(prev) => merge(prev, m),
                });
            }
            Err(e) => errs.extend(e),
        }
    }
    if !errs.is_empty() {
        crate::diag::sort(&mut errs);
        return Err(errs);
    }
    crate::diag::sort(&mut warns);
    Ok((merged.unwrap_or_default(), warns))
}

/// The kinds with a reader.
fn readable() -> Vec<&'static str> {
    LiveKind::ALL
        .into_iter()
        .filter(|k| reader(*k).is_some())
        .map(LiveKind::as_str)
        .collect()
}

/// Which files of a directory a kind reads (by extension; a file without one too).
fn wanted(kind: LiveKind, p: &std::path::Path) -> bool {
    let ext = p.extension().map(|e| e.to_string_lossy().to_lowercase());
    let Some(ext) = ext else { return true };
    let list: &[&str] = match kind {
        LiveKind::Iptables => &["rules", "save", "txt", "v4", "v6", "ipset", "iptables"],
        LiveKind::Nftables => &["nft", "json", "txt", "ruleset"],
        _ => &["yaml", "yml", "json", "tf", "tfstate"],
    };
    list.contains(&ext.as_str())
}

/// A path's files: itself, or the files of a directory (recursively) that the
/// kind reads ([`wanted`]: moat's own `sources.tsv` beside the rules is not one), sorted.
fn files_of(path: &std::path::Path, kind: LiveKind) -> Vec<PathBuf> {
    if !path.is_dir() {
        return vec![path.to_path_buf()];
    }
    let mut out = vec![];
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if wanted(kind, &p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Two kinds' matrices as one live state: a pair both speak for passes what both let through.
pub(crate) fn merge(mut a: LiveMatrix, b: LiveMatrix) -> LiveMatrix {
    for (k, fb) in b {
        match a.get_mut(&k) {
            None => {
                a.insert(k, fb);
            }
            Some(fa) => {
                let ports = fa.ports.intersect(&fb.ports);
                fa.by.extend(fb.by);
                fa.by.retain(|(_, p)| p.intersects(&ports));
                fa.partial = match (fa.partial.take(), fb.partial) {
                    (None, None) => None,
                    (x, y) => {
                        let mut p = x.or(y.clone()).unwrap_or_default();
                        if let Some(y) = y {
                            p.ports.union_with(&y.ports);
                        }
                        p.ports = p.ports.intersect(&ports);
                        (!p.ports.is_empty()).then_some(p)
                    }
                };
                fa.ports = ports;
            }
        }
    }
    a
}
