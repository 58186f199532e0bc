//! Diagnostics as a SARIF 2.1.0 log, the format code-scanning services
//! (GitHub, GitLab, Azure DevOps) ingest.
//!
//! One run, tool `moat`; a rule per code that occurs, with the code's meaning
//! as its short description and its usual fix as help; a result per
//! diagnostic with its region (1-based lines and columns counted in Unicode
//! code points, as `columnKind` says) and the diagnostic's labels as related
//! locations. File URIs are the names moat shows for the files, relative to
//! the directory moat ran in unless they were given as absolute paths.

use crate::codes;
use crate::diag::{Diagnostic, Severity};
use crate::span::{SourceMap, Span};
use serde_json::{json, Value};
use std::collections::BTreeMap;

mod drift;

pub use drift::render_drift;

/// The SARIF log of `diags`, pretty-printed, ending in a newline.
pub fn render(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let mut log = Log::default();
    log.diagnostics(diags, sources);
    log.finish()
}

/// A log being built: its rules (by id, in order of first use) and results.
#[derive(Default)]
struct Log {
    rule_index: BTreeMap<String, usize>,
    rules: Vec<Value>,
    results: Vec<Value>,
}

impl Log {
    /// The index of rule `id`, adding it (built by `make`) on first use.
    fn rule(&mut self, id: &str, make: impl FnOnce() -> Value) -> usize {
        if let Some(&i) = self.rule_index.get(id) {
            return i;
        }
        let i = self.rules.len();
        self.rule_index.insert(id.to_string(), i);
        self.rules.push(make());
        i
    }

    /// Adds a result per diagnostic, and a rule per code.
    fn diagnostics(&mut self, diags: &[Diagnostic], sources: &SourceMap) {
        for d in diags {
            let i = self.rule(d.code, || rule(d.code));
            self.results.push(result(d, i, sources));
        }
    }

    /// The log, pretty-printed, ending in a newline.
    fn finish(self) -> String {
        let log = json!({
            "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "moat",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": self.rules,
                }},
                "columnKind": "unicodeCodePoints",
                "results": self.results,
            }],
        });
        let mut s = serde_json::to_string_pretty(&log).expect("a JSON value always serialises");
        s.push('\n');
        s
    }
}

fn rule(code: &str) -> Value {
    let (meaning, fix) = match codes::info(code) {
        Some(i) => (i.meaning, i.fix),
        None => ("moat diagnostic", "See the message."),
    };
    let level = if code.starts_with('E') { "error" } else { "warning" };
    json!({
        "id": code,
        "name": code,
        "shortDescription": {"text": meaning},
        "fullDescription": {"text": format!("{code}: {meaning}")},
        "help": {"text": format!("{fix} (docs/language.md lists every code.)")},
        "defaultConfiguration": {"level": level},
    })
}

fn result(d: &Diagnostic, rule_index: usize, sources: &SourceMap) -> Value {
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut text = d.message.clone();
    for n in &d.notes {
        text.push_str("\nnote: ");
        text.push_str(n);
    }
    if let Some(h) = &d.help {
        text.push_str("\nhelp: ");
        text.push_str(h);
    }
    let mut r = json!({
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": level,
        "message": {"text": text},
    });
    if let Some(span) = d.span {
        r["locations"] = json!([{"physicalLocation": physical(span, sources)}]);
    }
    if !d.labels.is_empty() {
        let related: Vec<Value> = d
            .labels
            .iter()
            .enumerate()
            .map(|(i, (span, note))| {
                json!({
                    "id": i,
                    "physicalLocation": physical(*span, sources),
                    "message": {"text": note},
                })
            })
            .collect();
        r["relatedLocations"] = Value::Array(related);
    }
    r
}

fn physical(span: Span, sources: &SourceMap) -> Value {
    let f = sources.file(span.file);
    let (start_line, start_column) = f.line_col(span.start);
    let (end_line, end_column) = f.line_col(span.end.max(span.start));
    // An empty span (end of file, a missing token) still needs a region of
    // at least one column to be shown by viewers.
    let end_column = if (end_line, end_column) == (start_line, start_column) {
        start_column + 1
    } else {
        end_column
    };
    json!({
        "artifactLocation": {"uri": uri(&f.name)},
        "region": {
            "startLine": start_line,
            "startColumn": start_column,
            "endLine": end_line,
            "endColumn": end_column,
        },
    })
}

/// A file name as a URI reference: `/` separators, and the characters a URI
/// reference cannot hold percent-encoded.
fn uri(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            b'\\' => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if name.starts_with('/') {
        format!("file://{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::uri;

    #[test]
    fn uris_are_relative_references_or_file_uris() {
        assert_eq!(uri("policies/mosip.moat"), "policies/mosip.moat");
        assert_eq!(uri("my policy.moat"), "my%20policy.moat");
        assert_eq!(uri("/abs/x.moat"), "file:///abs/x.moat");
        assert_eq!(uri("ü.moat"), "%C3%BC.moat");
    }
}
