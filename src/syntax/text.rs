//! Characters that must not hide in policy text: control characters and the
//! bidirectional overrides of "Trojan Source" (CVE-2021-42574).

/// The bidirectional embedding, override and isolate controls (U+202A–U+202E,
/// U+2066–U+2069) and the implicit marks (U+200E, U+200F, U+061C).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that are invisible or move text around: bidi controls, C0/C1
/// controls other than tab and carriage return, zero-width characters, line
/// and paragraph separators and the byte-order mark.
pub fn is_invisible(c: char) -> bool {
    is_bidi_control(c)
        || (c.is_control() && c != '\t' && c != '\r')
        || matches!(
            c,
            '\u{200B}'..='\u{200D}' | '\u{2028}' | '\u{2029}' | '\u{2060}' | '\u{FEFF}'
        )
}

/// What is wrong with `c` in a string (reason, waiver, title, namespace,
/// label value, site property, include path), or `None` when it may appear.
/// `next` is the character after it. Strings reach firewall comments,
/// descriptions and object names, so besides visible text only tab and the
/// line break (`\n` or `\r\n`, which back ends must escape) may appear.
pub fn forbidden_in_string(c: char, next: Option<char>) -> Option<&'static str> {
    if is_bidi_control(c) {
        Some("a bidirectional-control character")
    } else if c == '\n' || c == '\t' || (c == '\r' && next == Some('\n')) {
        None
    } else if c == '\r' || c == '\u{2028}' || c == '\u{2029}' || c == '\u{85}' {
        Some("a line break other than `\\n`")
    } else if c == '\0' {
        Some("a NUL character")
    } else if is_invisible(c) {
        Some("a control or invisible character")
    } else {
        None
    }
}

/// `s` with every invisible character written as `\u{..}`, for messages.
pub fn visible(s: &str) -> String {
    s.chars()
        .map(|c| {
            if is_invisible(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_bidi_control('\u{202E}') && is_bidi_control('\u{2066}') && !is_bidi_control('a'));
        assert_eq!(forbidden_in_string('\n', None), None);
        assert_eq!(forbidden_in_string('\r', Some('\n')), None);
        assert!(forbidden_in_string('\r', Some('x')).is_some());
        assert_eq!(forbidden_in_string('\0', None), Some("a NUL character"));
        assert!(forbidden_in_string('\u{202E}', None).is_some());
        assert!(forbidden_in_string('é', None).is_none() && forbidden_in_string('"', None).is_none());
        assert_eq!(visible("a\u{202E}b"), "a\\u{202e}b");
    }
}
