//! `DIR/<target>/sources.tsv`: where each artefact's rules come from.
//!
//! Artefacts cite allows by their stable identity (`allow#` and ten hex
//! digits, [`crate::ir::cite`]), not by `file:line`, so that a change to one
//! statement changes only the rules that enforce it. This table maps the
//! identities back: for every artefact file, each allow it cites, with the
//! statement's `file:line` and text. Moving statements changes this file
//! alone. The k8s-admin target's denies cite forbids the same way
//! (`forbid#`, [`crate::ir::forbid_cite`]): their rows are in the same column.
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
/// The prefix of a forbid's citation (the k8s-admin target's denies).
const FORBID_PREFIX: &str = "forbid#";
/// Hex digits after the prefix.
const DIGITS: usize = 10;

/// Passes artefacts on to `inner` and records which allows each one cites.
pub struct Recorder<'a, S: Sink> {
    inner: S,
    ids: &'a HashMap<&'a str, Vec<AllowId>>,
    cited: BTreeMap<String, BTreeSet<AllowId>>,
    /// The forbids (`forbid#...`, by the k8s-admin target) each file cites.
    forbids: BTreeMap<String, BTreeSet<String>>,
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
            forbids: BTreeMap::new(),
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
        for (file, cites) in &self.forbids {
            for f in ir.forbids.iter().filter(|f| cites.contains(&f.cite)) {
                let text: Vec<&str> = sources.snippet(f.span).split_whitespace().collect();
                s.push_str(&format!("{file}\t{}\t{}\t{}\n", f.cite, f.loc, text.join(" ")));
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
        let text = artefact.contents.as_str();
        let found: BTreeSet<AllowId> = cites_in(text, PREFIX)
            .filter_map(|c| self.ids.get(c))
            .flatten()
            .copied()
            .collect();
        let forbids: BTreeSet<String> = cites_in(text, FORBID_PREFIX).map(str::to_string).collect();
        let file = artefact
            .path
            .split_once('/')
            .map_or(artefact.path.as_str(), |(_, f)| f);
        if !forbids.is_empty() {
            self.forbids.entry(file.to_string()).or_default().extend(forbids);
        }
        if !found.is_empty() {
            self.cited.entry(file.to_string()).or_default().extend(found);
        }
        self.inner.put(artefact);
    }
}

/// Every citation `prefix` + [`DIGITS`] hex digits in `text`, in order.
fn cites_in<'t>(text: &'t str, prefix: &'t str) -> impl Iterator<Item = &'t str> + 't {
    text.match_indices(prefix).filter_map(move |(i, _)| {
        let cite = text.get(i..i + prefix.len() + DIGITS)?;
        cite[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then_some(cite)
    })
}
