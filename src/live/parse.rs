//! Reading a live input (JSON or YAML) into typed documents, with the
//! position of every object the readers need to cite, and E037/E038 with the
//! file, line and column of whatever could not be read.
//!
//! JSON is read with serde_json first, for its exact syntax errors; every
//! input is then deserialised with serde-saphyr (YAML is a superset of
//! JSON), whose [`Spanned`] gives each live rule its place in the file.

use super::LiveInput;
use crate::diag::Diagnostic;
use crate::span::{SourceMap, Span};
use serde::de::DeserializeOwned;

pub use serde_saphyr::Spanned;

/// E037: the input is not JSON or YAML at all (truncated, mistyped).
pub const E_SYNTAX: &str = "E037";
/// E038: the input is JSON or YAML, but not of the shape its kind expects.
pub const E_SHAPE: &str = "E038";
/// E039: a value inside a well-shaped input is invalid (a CIDR, a port, a protocol).
pub const E_VALUE: &str = "E039";
/// W015: a live construct moat does not evaluate; the warning says which way it was taken.
pub const W_UNMODELLED: &str = "W015";
/// W016: an atom in the target's scope that the live input gives nothing to (no pod, group, tag).
pub const W_UNPLACED: &str = "W016";

/// The span of a serde-saphyr location in `input` (one character wide).
pub fn span_at(sources: &SourceMap, input: &LiveInput, loc: &serde_saphyr::Location) -> Span {
    let file = sources.file(input.file);
    let off = loc
        .span()
        .byte_offset()
        .map(|b| b as usize)
        .unwrap_or_else(|| offset_of(&file.text, loc.line() as usize, loc.column() as usize));
    let off = off.min(file.text.len());
    Span::new(input.file, off, (off + 1).min(file.text.len()).max(off))
}

/// The byte offset of a 1-based line and column (in characters).
fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let mut off = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return off
                + l.char_indices()
                    .nth(col.saturating_sub(1))
                    .map_or(l.len(), |(b, _)| b);
        }
        off += l.len();
    }
    text.len()
}

/// The span of the start of the input (for diagnostics about a whole file).
pub fn whole(input: &LiveInput) -> Span {
    Span::new(input.file, 0, 0)
}

/// True when the input's first non-blank character opens JSON.
fn looks_json(text: &str) -> bool {
    matches!(text.trim_start().chars().next(), Some('{' | '['))
}

/// Reads every document of `input` (one for JSON; `---`-separated for YAML).
pub fn documents<T: DeserializeOwned>(
    sources: &SourceMap,
    input: &LiveInput,
    what: &str,
) -> Result<Vec<T>, Diagnostic> {
    let text = &sources.file(input.file).text;
    let kind = input.kind.as_str();
    if looks_json(text) {
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
            let off = offset_of(text, e.line(), e.column());
            let off = off.min(text.len());
            let code = if e.is_data() { E_SHAPE } else { E_SYNTAX };
            return Err(Diagnostic::error(
                code,
                Span::new(input.file, off, (off + 1).min(text.len())),
                format!("cannot read {kind} input `{}`: {e}", input.path.display()),
            )
            .with_help(format!("give the JSON that {what} prints, complete")));
        }
        return serde_saphyr::from_str::<T>(text)
            .map(|d| vec![d])
            .map_err(|e| shape_error(sources, input, &e, what));
    }
    if let Err(e) = serde_saphyr::from_multiple::<serde::de::IgnoredAny>(text) {
        return Err(located(sources, input, &e, E_SYNTAX, what));
    }
    serde_saphyr::from_multiple::<T>(text).map_err(|e| shape_error(sources, input, &e, what))
}

fn shape_error(sources: &SourceMap, input: &LiveInput, e: &serde_saphyr::Error, what: &str) -> Diagnostic {
    located(sources, input, e, E_SHAPE, what)
}

fn located(
    sources: &SourceMap,
    input: &LiveInput,
    e: &serde_saphyr::Error,
    code: &'static str,
    what: &str,
) -> Diagnostic {
    let span = e
        .location()
        .map(|l| span_at(sources, input, &l))
        .unwrap_or_else(|| whole(input));
    // serde-saphyr's message repeats the position with a snippet: the first line is the message.
    let msg = e.to_string();
    let msg = msg.lines().next().unwrap_or("").trim();
    let kind = input.kind.as_str();
    Diagnostic::error(
        code,
        span,
        format!("cannot read {kind} input `{}`: {msg}", input.path.display()),
    )
    .with_help(format!("give the output of {what}, unchanged"))
}

/// A diagnostic for an invalid value at a location in the input.
pub fn bad_value(
    sources: &SourceMap,
    input: &LiveInput,
    loc: &serde_saphyr::Location,
    message: impl Into<String>,
    help: impl Into<String>,
) -> Diagnostic {
    Diagnostic::error(E_VALUE, span_at(sources, input, loc), message).with_help(help)
}

/// A W015 warning at a location: a construct moat does not evaluate, and how it was taken.
pub fn unmodelled(
    sources: &SourceMap,
    input: &LiveInput,
    loc: &serde_saphyr::Location,
    what: impl std::fmt::Display,
    taken: &str,
) -> Diagnostic {
    Diagnostic::warning(
        W_UNMODELLED,
        span_at(sources, input, loc),
        format!("moat does not evaluate {what}; {taken}"),
    )
    .with_help("check this rule by hand; moat errs towards reporting more reachability, never less")
}

/// One W016 naming every atom in the target's scope that the live input
/// places nowhere (no pod, group, tag), and how they were evaluated.
pub fn unplaced(
    ir: &crate::ir::Ir,
    inputs: &[&LiveInput],
    atoms: impl Iterator<Item = crate::ir::AtomId>,
    lacks: &str,
    taken: &str,
) -> Option<Diagnostic> {
    let names: Vec<&str> = atoms.map(|a| ir.atoms[a].name.as_str()).collect();
    let first = inputs.first()?;
    if names.is_empty() {
        return None;
    }
    Some(
        Diagnostic::warning(
            W_UNPLACED,
            whole(first),
            format!(
                "{} atom(s) with {lacks} in the {} input: {}; {taken}",
                names.len(),
                first.kind.as_str(),
                names.join(", ")
            ),
        )
        .with_help("give the input that places them (all groups and interfaces), or ignore when they are not deployed"),
    )
}
