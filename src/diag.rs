//! Diagnostics as plain data, and their two renderings (rustc-like text, JSON).

use crate::span::{SourceMap, Span};
use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a policy: a stable code, a primary span, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// `E001`..`E0xx` or `W001`..`W0xx` (spec §5).
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Where it happened; `None` only for problems with no source (e.g. an unreadable file).
    pub span: Option<Span>,
    /// Secondary places, each with a short note ("the forbid is here").
    pub labels: Vec<(Span, String)>,
    /// How to fix it.
    pub help: Option<String>,
    /// Extra facts (names of covering allows, the shared range, ...).
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with `code` at `span`.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic::new(code, Severity::Error, Some(span), message)
    }

    /// A warning with `code` at `span`.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic::new(code, Severity::Warning, Some(span), message)
    }

    /// An error that has no position in any policy file (I/O, usage).
    pub fn error_nospan(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic::new(code, Severity::Error, None, message)
    }

    /// A warning that has no position in any policy file (a damaged cache).
    pub fn warning_nospan(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic::new(code, Severity::Warning, None, message)
    }

    fn new(code: &'static str, severity: Severity, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity,
            message: message.into(),
            span,
            labels: vec![],
            help: None,
            notes: vec![],
        }
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, note: impl Into<String>) -> Self {
        self.labels.push((span, note.into()));
        self
    }

    /// Sets the `help:` line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a `note:` line.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file, position and code, and removes exact duplicates.
pub fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| {
        let ka = (a.span.map(|s| (s.file, s.start)), a.code, &a.message);
        let kb = (b.span.map(|s| (s.file, s.start)), b.code, &b.message);
        ka.cmp(&kb)
    });
    diags.dedup();
    collapse_repeats(diags);
}

/// At most this many diagnostics with one code at one place are kept.
const MAX_AT_ONE_PLACE: usize = 3;

/// A declaration repeated by a cells block (up to 4096 cells) can yield the
/// same error once per cell, at the same span: keep the first few and note
/// how many more there were, so output stays proportional to the source.
fn collapse_repeats(diags: &mut Vec<Diagnostic>) {
    let mut out: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    let mut run = 0usize;
    let mut hidden = 0usize;
    for d in diags.drain(..) {
        let same = out
            .last()
            .is_some_and(|p: &Diagnostic| p.span == d.span && p.code == d.code && d.span.is_some());
        run = if same { run + 1 } else { 1 };
        if !same && hidden > 0 {
            note_hidden(&mut out, hidden);
            hidden = 0;
        }
        if run > MAX_AT_ONE_PLACE {
            hidden += 1;
        } else {
            out.push(d);
        }
    }
    if hidden > 0 {
        note_hidden(&mut out, hidden);
    }
    *diags = out;
}

fn note_hidden(out: &mut [Diagnostic], hidden: usize) {
    if let Some(last) = out.last_mut() {
        last.notes.push(format!(
            "{hidden} more like this at the same place (one per cell of a cells block) not shown"
        ));
    }
}

/// Warnings of one code shown in full by the human rendering before the rest
/// are only counted ([`limit_warnings`]).
pub const WARNINGS_SHOWN_PER_CODE: usize = 20;

/// The diagnostics a terminal reader gets: every error, every W004 (the
/// spec lists exemptions always, for audits), and the first `per_code`
/// warnings of each other code; plus, per code, how many were left out.
/// Rendering one diagnostic with its excerpt costs as much as checking
/// hundreds of allows, and 66,946 redundant-allow warnings (a 200,000-allow
/// random policy) are not read one by one; JSON output always has them all.
pub fn limit_warnings(
    diags: &[Diagnostic],
    per_code: usize,
) -> (Vec<&Diagnostic>, Vec<(&'static str, usize)>) {
    let mut seen: std::collections::BTreeMap<&'static str, usize> = std::collections::BTreeMap::new();
    let mut shown = Vec::with_capacity(diags.len().min(1000));
    for d in diags {
        let n = seen.entry(d.code).or_default();
        *n += 1;
        if d.is_error() || d.code == "W004" || *n <= per_code {
            shown.push(d);
        }
    }
    let left_out = seen
        .into_iter()
        .filter(|(c, n)| *c != "W004" && !c.starts_with('E') && *n > per_code)
        .map(|(c, n)| (c, n - per_code))
        .collect();
    (shown, left_out)
}

/// `text` with every invisible or bidirectional-control character replaced by
/// visible ones of the same byte length (U+FFFD, or `?` per byte), so that a
/// hostile policy cannot reorder or hide the excerpt shown to the reader
/// (Trojan Source) while every span still points at the same bytes.
fn shown(text: &str) -> String {
    use crate::syntax::text::is_invisible;
    let plain_ascii = |b: u8| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t' || b == b'\r';
    if text.bytes().all(plain_ascii) || !text.chars().any(|c| is_invisible(c) && c != '\n') {
        return text.to_string();
    }
    text.chars()
        .map(|c| match c.len_utf8() {
            _ if !is_invisible(c) || c == '\n' => c.to_string(),
            3 => '\u{FFFD}'.to_string(),
            n => "?".repeat(n),
        })
        .collect()
}

/// Renders diagnostics like rustc: header, source excerpt with carets, notes and help.
pub fn render_human<'d>(
    diags: impl IntoIterator<Item = &'d Diagnostic>,
    sources: &SourceMap,
    color: bool,
) -> String {
    use codespan_reporting::diagnostic::{Diagnostic as CsDiag, Label};
    use codespan_reporting::files::SimpleFiles;
    use codespan_reporting::term::{self, termcolor};

    let mut files = SimpleFiles::new();
    for f in sources.files() {
        files.add(shown(&f.name), shown(&f.text));
    }
    let config = term::Config::default();
    let mut buf = if color {
        termcolor::Buffer::ansi()
    } else {
        termcolor::Buffer::no_color()
    };
    for d in diags {
        let cs = match d.severity {
            Severity::Error => CsDiag::error(),
            Severity::Warning => CsDiag::warning(),
        };
        let mut labels = vec![];
        if let Some(s) = d.span {
            labels.push(Label::primary(s.file, s.start..s.end));
        }
        for (s, note) in &d.labels {
            labels.push(Label::secondary(s.file, s.start..s.end).with_message(note.clone()));
        }
        let mut notes: Vec<String> = d.notes.iter().map(|n| format!("note: {}", shown(n))).collect();
        if let Some(h) = &d.help {
            notes.push(format!("help: {}", shown(h)));
        }
        let cs = cs
            .with_code(d.code)
            .with_message(shown(&d.message))
            .with_labels(labels)
            .with_notes(notes);
        // A line too long to show (a hostile one-line file) gets the plain form with
        // its position, as does a bad span: writing into a buffer fails only then.
        if on_long_line(d, sources) || term::emit(&mut buf, &config, &files, &cs).is_err() {
            let _ = std::io::Write::write_all(&mut buf, plain(d, sources).as_bytes());
        }
    }
    String::from_utf8_lossy(buf.as_slice()).into_owned()
}

/// Longest source line shown in an excerpt, in bytes.
const MAX_EXCERPT_LINE: usize = 1000;

/// True when a label of `d` sits on a line longer than [`MAX_EXCERPT_LINE`].
fn on_long_line(d: &Diagnostic, sources: &SourceMap) -> bool {
    d.span.iter().chain(d.labels.iter().map(|(s, _)| s)).any(|s| {
        let f = sources.file(s.file);
        f.line_range(s.start).len() > MAX_EXCERPT_LINE || f.line_range(s.end).len() > MAX_EXCERPT_LINE
    })
}

/// `error[E001]: message`, its position, notes and help, without an excerpt.
fn plain(d: &Diagnostic, sources: &SourceMap) -> String {
    let mut out = format!("{}[{}]: {}\n", sev_word(d), d.code, shown(&d.message));
    if let Some(s) = d.span {
        let f = sources.file(s.file);
        let (line, col) = f.line_col(s.start);
        out.push_str(&format!(
            "  --> {}:{line}:{col} (line too long to show)\n",
            shown(&f.name)
        ));
    }
    for n in &d.notes {
        out.push_str(&format!("  = note: {}\n", shown(n)));
    }
    if let Some(h) = &d.help {
        out.push_str(&format!("  = help: {}\n", shown(h)));
    }
    out.push('\n');
    out
}

fn sev_word(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The JSON form of one diagnostic (spec §6, with extra fields).
#[derive(Serialize)]
struct JsonDiag<'a> {
    code: &'a str,
    severity: Severity,
    message: &'a str,
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: &'a Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related: Vec<JsonRelated<'a>>,
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    message: &'a str,
}

/// Renders diagnostics as one JSON array (spec §6).
pub fn render_json(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let items: Vec<JsonDiag> = diags
        .iter()
        .map(|d| {
            let (file, start, end) = match d.span {
                Some(s) => {
                    let f = sources.file(s.file);
                    (
                        Some(f.name.as_str()),
                        Some(f.line_col(s.start)),
                        Some(f.line_col(s.end)),
                    )
                }
                None => (None, None, None),
            };
            let related = d
                .labels
                .iter()
                .map(|(s, m)| {
                    let f = sources.file(s.file);
                    let (line, column) = f.line_col(s.start);
                    JsonRelated {
                        file: &f.name,
                        line,
                        column,
                        message: m,
                    }
                })
                .collect();
            JsonDiag {
                code: d.code,
                severity: d.severity,
                message: &d.message,
                file,
                line: start.map(|p| p.0),
                column: start.map(|p| p.1),
                end_line: end.map(|p| p.0),
                end_column: end.map(|p| p.1),
                help: d.help.as_deref(),
                notes: &d.notes,
                related,
            }
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(code: &'static str, start: usize) -> Diagnostic {
        let span = Span::new(0, start, start + 1);
        if code.starts_with('E') {
            Diagnostic::error(code, span, "e")
        } else {
            Diagnostic::warning(code, span, "w")
        }
    }

    #[test]
    fn the_warning_limit_keeps_errors_and_exemptions_and_counts_the_rest() {
        let mut diags = vec![];
        for i in 0..5 {
            diags.extend([at("E002", i), at("W001", i), at("W002", i), at("W004", i)]);
        }
        diags.push(at("W003", 9));
        let (shown, left_out) = limit_warnings(&diags, 2);
        let count = |c: &str| shown.iter().filter(|d| d.code == c).count();
        assert_eq!(
            (
                count("E002"),
                count("W001"),
                count("W002"),
                count("W003"),
                count("W004")
            ),
            (5, 2, 2, 1, 5)
        );
        assert_eq!(left_out, vec![("W001", 3), ("W002", 3)]);
        let firsts: Vec<usize> = shown
            .iter()
            .filter(|d| d.code == "W001")
            .filter_map(|d| d.span.map(|s| s.start))
            .collect();
        assert_eq!(firsts, vec![0, 1], "the first ones in order are shown");
    }
}
