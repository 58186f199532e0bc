//! Kubernetes name rules for namespaces and pod labels (E018). The checker
//! enforces them for every policy, since a namespace or label exists only to
//! be written into Kubernetes objects, and the API server rejects what breaks
//! them; checking here points at the policy line instead of a failed apply.

use crate::diag::Diagnostic;
use crate::span::Span;

/// Longest DNS label (RFC 1123): namespace names, label names and values.
pub const MAX_LABEL: usize = 63;
/// Longest DNS subdomain: the prefix of a label key.
pub const MAX_SUBDOMAIN: usize = 253;

/// Why `s` is not an RFC 1123 DNS label (a namespace name), if it is not.
pub fn dns_label_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("is empty".into());
    }
    if s.len() > MAX_LABEL {
        return Some(format!(
            "is {} bytes long, over the limit of {MAX_LABEL}",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!(
            "contains `{}`; only a-z, 0-9 and `-` are allowed",
            c.escape_debug()
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some("starts or ends with `-`".into());
    }
    None
}

/// Why `s` is not a DNS subdomain (a label key's prefix), if it is not.
pub fn dns_subdomain_problem(s: &str) -> Option<String> {
    if s.len() > MAX_SUBDOMAIN {
        return Some(format!(
            "prefix is {} bytes long, over the limit of {MAX_SUBDOMAIN}",
            s.len()
        ));
    }
    s.split('.').find_map(|part| {
        let problem = if part.is_empty() {
            Some("has an empty part".to_string())
        } else {
            dns_label_problem(part)
        };
        problem.map(|p| format!("prefix part `{part}` {p}"))
    })
}

/// Why `s` is not a label name or non-empty label value, if it is not:
/// at most 63 of `[A-Za-z0-9._-]`, beginning and ending with a letter or digit.
fn label_name_problem(s: &str) -> Option<String> {
    if s.len() > MAX_LABEL {
        return Some(format!(
            "is {} bytes long, over the limit of {MAX_LABEL}",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!(
            "contains `{}`; only letters, digits, `-`, `_` and `.` are allowed",
            c.escape_debug()
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(s.chars().next()) || !edge_ok(s.chars().last()) {
        return Some("must begin and end with a letter or digit".into());
    }
    None
}

/// Why `key` is not a Kubernetes label key (`[prefix/]name`), if it is not.
pub fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if name.contains('/') {
        return Some("has more than one `/`".into());
    }
    if let Some(p) = prefix.and_then(dns_subdomain_problem) {
        return Some(p);
    }
    label_name_problem(name).map(|p| format!("name `{name}` {p}"))
}

/// Why `value` is not a Kubernetes label value, if it is not (empty is fine).
pub fn label_value_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        label_name_problem(value)
    }
}

/// E018 when the namespace `ns` (after `{cell}` interpolation) is not a DNS label.
pub fn check_namespace(ns: &str, span: Span, diags: &mut Vec<Diagnostic>) {
    if let Some(p) = dns_label_problem(ns) {
        diags.push(
            Diagnostic::error("E018", span, format!("namespace `{}` is not a valid Kubernetes name: it {p}", ns.escape_debug()))
                .with_help("a namespace is a DNS label: at most 63 of a-z, 0-9 and `-`, starting and ending with a letter or digit"),
        );
    }
}

/// E018 when a pod label's key or value breaks the Kubernetes label syntax.
pub fn check_label(key: &str, value: &str, span: Span, diags: &mut Vec<Diagnostic>) {
    let problem = label_key_problem(key)
        .map(|p| format!("label key `{}` {p}", key.escape_debug()))
        .or_else(|| {
            label_value_problem(value).map(|p| format!("label value `{}` {p}", value.escape_debug()))
        });
    if let Some(p) = problem {
        diags.push(
            Diagnostic::error("E018", span, format!("pod label is not valid for Kubernetes: {p}"))
                .with_help("label keys are `[prefix/]name` (prefix a DNS subdomain of at most 253, name at most 63 characters); values at most 63 of [A-Za-z0-9._-], starting and ending with a letter or digit"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert!(dns_label_problem(&"a".repeat(63)).is_none());
        assert!(dns_label_problem(&"a".repeat(64)).is_some());
        assert!(dns_label_problem("cell1-dmz").is_none());
        assert!(dns_label_problem("cell1_dmz").is_some());
        assert!(dns_label_problem("d\u{0435}v").is_some()); // Cyrillic e
        assert!(label_key_problem("app.kubernetes.io/name").is_none());
        let prefix = format!("{}a", format!("{}.", "a".repeat(62)).repeat(4)); // 253 bytes
        assert!(label_key_problem(&format!("{prefix}/{}", "n".repeat(63))).is_none());
        assert!(label_key_problem(&format!("{prefix}a/n")).is_some());
        assert!(label_key_problem(&format!("{}/n", "a".repeat(64))).is_some());
        assert!(label_key_problem(&"n".repeat(64)).is_some());
        assert!(label_key_problem("a/b/c").is_some());
        assert!(label_value_problem("").is_none() && label_value_problem("-x").is_some());
        assert!(
            label_value_problem(&"v".repeat(63)).is_none() && label_value_problem(&"v".repeat(64)).is_some()
        );
    }
}
