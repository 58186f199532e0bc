//! The mesh syntax: `serviceaccount NAME` (E042) and an allow's `paths` (E041)
//! and `methods` (E040), checked and lowered into the IR.

use super::model::{interp, CellCtx};
use crate::diag::Diagnostic;
use crate::ir::L7;
use crate::span::Span;
use crate::syntax::ast::L7Decl;

/// The HTTP methods an allow may name (RFC 9110 and PATCH, RFC 5789).
pub const METHODS: [&str; 9] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
];

/// E042 when a service account is no valid Kubernetes name (a DNS subdomain).
pub fn check_service_account(name: &str, span: Span, diags: &mut Vec<Diagnostic>) {
    if let Some(p) = super::names::dns_subdomain_problem(name) {
        diags.push(
            Diagnostic::error("E042", span, format!("service account `{}` is not a valid Kubernetes name: {p}", name.escape_debug()))
                .with_help("a service account name is at most 253 lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit"),
        );
    }
}

/// The allow's L7 part, lowered (`{cell}` interpolated, methods sorted), or
/// E040/E041 for each bad method and path.
pub fn lower(decl: &L7Decl, cell: Option<&CellCtx>, diags: &mut Vec<Diagnostic>) -> Option<L7> {
    let before = diags.len();
    let mut paths = vec![];
    for p in &decl.paths {
        let path = interp(cell, &p.node);
        match path_problem(&path) {
            Some(why) => diags.push(
                Diagnostic::error("E041", p.span, format!("path `{}` {why}", path.escape_debug()))
                    .with_help("write an exact path (`/v1/status`), a prefix (`/v1/*`), a suffix (`*/swagger-ui.html`) or `*`"),
            ),
            None => paths.push(path),
        }
    }
    let mut methods = vec![];
    for m in &decl.methods {
        if METHODS.contains(&m.node.as_str()) {
            methods.push(m.node.clone());
            continue;
        }
        let help = match crate::syntax::parse::closest(&m.node, &METHODS) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("the methods are {}", METHODS.join(", ")),
        };
        diags.push(
            Diagnostic::error("E040", m.span, format!("`{}` is not an HTTP method", m.node)).with_help(help),
        );
    }
    if diags.len() > before {
        return None;
    }
    paths.sort();
    paths.dedup();
    methods.sort();
    methods.dedup();
    Some(L7 {
        paths,
        methods,
        span: decl.span,
    })
}

/// Why a path is not one Istio can match, if it is not.
fn path_problem(p: &str) -> Option<&'static str> {
    let body = p.strip_prefix('*').or_else(|| p.strip_suffix('*')).unwrap_or(p);
    if p.is_empty() {
        Some("is empty")
    } else if body.contains('*') {
        Some("has a `*` that is not its first or last character (Istio matches exact paths, prefixes and suffixes only)")
    } else if !p.starts_with('/') && !p.starts_with('*') {
        Some("does not start with `/`")
    } else if p.chars().any(|c| !c.is_ascii_graphic() || matches!(c, '?' | '#')) {
        Some("holds a space, a query (`?`), a fragment (`#`) or a character that is not printable ASCII")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_istio_can_match() {
        for ok in ["/", "/v1/status", "/v1/*", "*/swagger-ui.html", "*"] {
            assert_eq!(path_problem(ok), None, "{ok}");
        }
        for bad in ["", "v1", "/a/*/b", "/a b", "/a?x=1", "**x*"] {
            assert!(path_problem(bad).is_some(), "{bad}");
        }
    }
}
