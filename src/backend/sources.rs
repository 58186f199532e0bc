//! `DIR/<target>/sources.tsv`: where each artefact's rules come from.
//!
//! Artefacts cite allows by their stable identity (`allow#` and ten hex
//! digits, [`crate::ir::cite`]), not by `file:line`, so that a change to one
//! statement changes only the rules that enforce it. This table maps the
//! identities back: for every artefact file, each allow it cites, with the
//! statement's `file:line` and text. Moving statements changes this file
//! alone.
//!
//! It is tab-separated text, not JSON, on purpose: `kubectl apply -f DIR/k8s/`
//! reads every `.json` and `.yaml` file of a directory as manifests, and a
//! line per citation diffs well in review.

use super::{Artefact, Sink};
use crate::ir::{AllowId, Ir};
use crate::span::SourceMap;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The file name of the table in each target's directory.
pub const FILE: &str = "sources.tsv";

/// The prefix of every citation in artefacts.
const PREFIX: &str = "allow#";
/// Hex digits after the prefix.
const DIGITS: usize = 10;

/// Passes artefacts on to `inner` and records which allows each one cites.
pub struct Recorder<'a, S: Sink> {
    inner: S,
    ids: &'a HashMap<&'a str, Vec<AllowId>>,
    cited: BTreeMap<String, BTreeSet<AllowId>>,
}

/// The allows of `ir` by citation (a citation names several allows only when
/// their statements are the same text).
pub fn citations(ir: &Ir) -> HashMap<&str, Vec<AllowId>> {
    let mut ids: HashMap<&str, Vec<AllowId>> = HashMap::with_capacity(ir.allows.len());
    for (i, a) in ir.allows.iter().enumerate() {
        ids.entry(a.cite.as_str()).or_default().push(i);
    }
    ids
}

impl<'a, S: Sink> Recorder<'a, S> {
    pub fn new(inner: S, ids: &'a HashMap<&'a str, Vec<AllowId>>) -> Self {
        Recorder {
            inner,
            ids,
            cited: BTreeMap::new(),
        }
    }

    /// The table for the target whose directory is `dir`, handed to the
    /// inner sink like any artefact; returns the inner sink.
    pub fn finish(mut self, ir: &Ir, sources: &SourceMap, dir: &str) -> S {
        let mut s = format!(
            "# moat: the allows each artefact of policy `{}` cites ({dir}/), and where they are\nfile\tallow\tlocation\tstatement\n",
            ir.name
        );
        for (file, allows) in &self.cited {
            for &a in allows {
                let allow = &ir.allows[a];
                let text: Vec<&str> = sources.snippet(allow.span).split_whitespace().collect();
                s.push_str(&format!(
                    "{file}\t{}\t{}\t{}\n",
                    allow.cite,
                    allow.loc,
                    text.join(" ")
                ));
            }
        }
        self.inner.put(Artefact {
            path: format!("{dir}/{FILE}"),
            contents: s,
        });
        self.inner
    }
}

impl<S: Sink> Sink for Recorder<'_, S> {
    fn put(&mut self, artefact: Artefact) {
        let mut found = BTreeSet::new();
        let text = artefact.contents.as_str();
        let mut rest = text;
        while let Some(i) = rest.find(PREFIX) {
            let tail = &rest[i + PREFIX.len()..];
            let hex = tail.get(..DIGITS).unwrap_or("");
            if hex.len() == DIGITS && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                let cite = &rest[i..i + PREFIX.len() + DIGITS];
                if let Some(ids) = self.ids.get(cite) {
                    found.extend(ids.iter().copied());
                }
            }
            rest = &rest[i + PREFIX.len()..];
        }
        if !found.is_empty() {
            let file = artefact
                .path
                .split_once('/')
                .map_or(artefact.path.as_str(), |(_, f)| f);
            self.cited.entry(file.to_string()).or_default().extend(found);
        }
        self.inner.put(artefact);
    }
}
