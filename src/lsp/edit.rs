//! Formatting (`moat fmt`) and code actions: each diagnostic whose help
//! suggests a name ("did you mean `mz.postgres`?") gets a quick fix that
//! writes it in place of the span.

use super::pos::{Encoding, Lines};
use lsp_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Diagnostic, TextEdit, Url, WorkspaceEdit};
use std::collections::HashMap;

/// The edit that puts the whole document in the canonical layout; `None`
/// when it has syntax errors (nothing is formatted then) or is already formatted.
pub fn format(text: &str, enc: Encoding) -> Option<Vec<TextEdit>> {
    let formatted = crate::syntax::fmt::format(text).ok()?;
    if formatted == text {
        return Some(vec![]);
    }
    let lines = Lines::new(text, enc);
    Some(vec![TextEdit::new(lines.range(0, text.len()), formatted)])
}

/// The name a diagnostic's help (or message) suggests: the `X` of "did you mean `X`?".
pub fn suggestion(message: &str) -> Option<&str> {
    let at = message.find("did you mean `")? + "did you mean `".len();
    let rest = &message[at..];
    let end = rest.find('`')?;
    Some(&rest[..end]).filter(|s| !s.is_empty())
}

/// The bytes a suggestion replaces: the word the diagnostic starts at (a
/// syntax error may point at its first character only); for a suggested cell
/// wildcard `cell*` only the first segment of the path.
pub fn fix_range(text: &str, start: usize, end: usize, suggestion: &str) -> (usize, usize) {
    let word = |c: char| c.is_ascii_alphanumeric() || "_-.*/:+".contains(c);
    let rest = text.get(start..).unwrap_or("");
    let len = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
    if len == 0 {
        return (start, end);
    }
    if suggestion.ends_with('*') {
        return (start, start + rest[..len].find('.').unwrap_or(len));
    }
    (start, start + len)
}

/// Quick fixes for the diagnostics the client sent (those of the requested range) in document `text`.
pub fn actions(url: &Url, text: &str, enc: Encoding, diags: &[Diagnostic]) -> Vec<CodeActionOrCommand> {
    let lines = Lines::new(text, enc);
    let mut out = vec![];
    for d in diags {
        if d.source.as_deref() != Some("moat") {
            continue;
        }
        let Some(s) = suggestion(&d.message) else { continue };
        let (a, b) = fix_range(text, lines.offset(d.range.start), lines.offset(d.range.end), s);
        let edit = TextEdit::new(lines.range(a, b), s.to_string());
        let changes = HashMap::from([(url.clone(), vec![edit])]);
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: format!("Replace with `{s}`"),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![d.clone()]),
            edit: Some(WorkspaceEdit {
                changes: Some(changes),
                ..Default::default()
            }),
            is_preferred: Some(true),
            ..Default::default()
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suggestion_is_the_quoted_name() {
        assert_eq!(
            suggestion("unknown zone or service `mz.postgre`\nhelp: did you mean `mz.postgres`?"),
            Some("mz.postgres")
        );
        assert_eq!(suggestion("help: did you mean `cell*`?"), Some("cell*"));
        assert_eq!(suggestion("help: declare it"), None);
        let t = "allow cel*.dmz -> mz.postgre : tcp/1";
        assert_eq!(fix_range(t, 6, 14, "cell*"), (6, 10));
        assert_eq!(fix_range(t, 18, 28, "mz.postgres"), (18, 28));
        assert_eq!(fix_range("alow x", 0, 1, "allow"), (0, 4));
    }
}
