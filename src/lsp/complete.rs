//! Completion: names after `->`, `,` and `.`, port names after `:` (only
//! those every destination service declares), zone kinds, sites, keywords.
//! It reads the text before the cursor (the statement being typed does not
//! parse yet) and the policy's names from its last check.

use super::index::{Index, Sym};
use lsp_types::{CompletionItem, CompletionItemKind};

/// Keywords that start a top-level statement.
const TOP: &[&str] = &[
    "allow", "forbid", "zone", "site", "cluster", "cells", "include", "policy",
];
/// Keywords of a zone's body.
const ZONE: &[&str] = &[
    "cidr",
    "namespace",
    "namespaces",
    "cluster",
    "unmanaged",
    "dns",
    "service",
];
/// Keywords of a service's body.
const SERVICE: &[&str] = &["hosts", "pods", "namespace", "port", "resident", "serviceaccount"];
/// Zone kinds, canonical spellings first.
const KINDS: &[&str] = &["external", "demilitarised", "militarised", "dmz", "mz"];
const SITE_KINDS: &[&str] = &["onprem", "aws", "gcp", "azure"];
/// Port items that are not names.
const PORT_WORDS: &[&str] = &["any", "tcp/", "udp/", "sctp/", "icmp", "icmpv6"];

/// A token of the text before the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A word: name, dotted path, keyword, number, address.
    Word(String),
    Punct(&'static str),
    Str,
}

/// Splits `text` into tokens, skipping comments and string contents.
fn tokens(text: &str) -> Vec<Tok> {
    let mut out = vec![];
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(Tok::Str);
        } else if c == b'-' && b.get(i + 1) == Some(&b'>') {
            out.push(Tok::Punct("->"));
            i += 2;
        } else if let Some(p) = [":", ",", "{", "}", "@", "="]
            .into_iter()
            .find(|p| p.as_bytes()[0] == c)
        {
            out.push(Tok::Punct(p));
            i += 1;
        } else if is_word(c) {
            let s = i;
            while i < b.len() && is_word(b[i]) && !(b[i] == b'-' && b.get(i + 1) == Some(&b'>')) {
                i += 1;
            }
            out.push(Tok::Word(text[s..i].to_string()));
        } else {
            i += 1;
        }
    }
    out
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'*' | b'/' | b'+')
}

/// What may come at the cursor.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    Top,
    ZoneBody,
    ServiceBody,
    ZoneKind,
    SiteKind,
    Site,
    /// A zone or service name after `->`, `,` or a rule keyword; `path` is what comes before the last `.`.
    Endpoint {
        path: Vec<String>,
    },
    /// Port items of a rule whose destinations are these paths.
    Ports {
        dests: Vec<String>,
    },
    Nothing,
}

/// Works out what is expected at the end of `before`, the text before the cursor
/// whose last word (after any `.`) is being typed.
fn want(before: &str) -> Want {
    let typed_from = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let word = &before[typed_from..];
    let path: Vec<String> = match word.rfind('.') {
        Some(i) => word[..i].split('.').map(str::to_string).collect(),
        None => vec![],
    };
    let toks = tokens(&before[..typed_from]);
    // the statement being typed starts at the last keyword that can start one
    let starts = [
        "allow", "forbid", "zone", "service", "site", "cells", "include", "policy", "port",
    ];
    let mut depth = 0i32;
    // a block closed since the last keyword seen: that statement is complete
    let mut closed = false;
    for (k, t) in toks.iter().enumerate().rev() {
        match t {
            Tok::Punct("}") => {
                depth += 1;
                closed = true;
            }
            Tok::Punct("{") if depth > 0 => depth -= 1,
            Tok::Punct("{") => {
                // inside a block whose header starts before it
                return block_body(&toks[..k]);
            }
            Tok::Word(w) if depth == 0 && starts.contains(&w.as_str()) => {
                let prev_is_name_slot = k > 0
                    && matches!(&toks[k - 1], Tok::Word(p) if p == "zone" || p == "service" || p == "port");
                if closed {
                    closed = false;
                } else if !prev_is_name_slot {
                    return statement(w, &toks[k + 1..], path);
                }
            }
            _ => {}
        }
    }
    Want::Top
}

/// Inside `{` of a zone, service, site or cells block.
fn block_body(header: &[Tok]) -> Want {
    let kw = header.iter().rev().find_map(|t| match t {
        Tok::Word(w) if ["zone", "service", "site", "cells"].contains(&w.as_str()) => Some(w.as_str()),
        _ => None,
    });
    match kw {
        Some("zone") => Want::ZoneBody,
        Some("service") => Want::ServiceBody,
        Some("cells") => Want::Top,
        _ => Want::Nothing,
    }
}

fn statement(kw: &str, rest: &[Tok], path: Vec<String>) -> Want {
    match kw {
        "allow" | "forbid" => {
            let arrow = rest.iter().position(|t| *t == Tok::Punct("->"));
            let colon = rest.iter().position(|t| *t == Tok::Punct(":"));
            match (arrow, colon) {
                (Some(a), Some(c)) if c > a => {
                    if rest[c..].contains(&Tok::Str) {
                        return Want::Nothing;
                    }
                    let dests = rest[a + 1..c]
                        .iter()
                        .filter_map(|t| match t {
                            Tok::Word(w) => Some(w.clone()),
                            _ => None,
                        })
                        .collect();
                    Want::Ports { dests }
                }
                _ if ends_after_endpoint(rest) => Want::Nothing,
                _ => Want::Endpoint { path },
            }
        }
        "zone" => {
            let at = rest.iter().position(|t| *t == Tok::Punct("@"));
            let colon = rest.iter().position(|t| *t == Tok::Punct(":"));
            match (colon, at) {
                (_, Some(a)) if rest.len() == a + 1 => Want::Site,
                (Some(c), None) if rest.len() == c + 1 => Want::ZoneKind,
                _ => Want::Nothing,
            }
        }
        "site" if rest.last() == Some(&Tok::Punct(":")) => Want::SiteKind,
        _ => Want::Nothing,
    }
}

/// True when the last token is a complete endpoint (the cursor is after a space following it).
fn ends_after_endpoint(rest: &[Tok]) -> bool {
    matches!(rest.last(), Some(Tok::Word(_)))
}

/// The completion items at the end of `before` (the text before the cursor),
/// `block` being the cells block the cursor is in, if any.
pub fn complete(ix: &Index, before: &str) -> Vec<CompletionItem> {
    match want(before) {
        Want::Top => words(TOP, CompletionItemKind::KEYWORD),
        Want::ZoneBody => words(ZONE, CompletionItemKind::KEYWORD),
        Want::ServiceBody => words(SERVICE, CompletionItemKind::KEYWORD),
        Want::ZoneKind => words(KINDS, CompletionItemKind::ENUM_MEMBER),
        Want::SiteKind => words(SITE_KINDS, CompletionItemKind::ENUM_MEMBER),
        Want::Site => {
            let mut v: Vec<&str> = ix.sites.keys().map(String::as_str).collect();
            v.push("default");
            v.sort_unstable();
            v.dedup();
            words(&v, CompletionItemKind::MODULE)
        }
        Want::Endpoint { path } => endpoints(ix, &path),
        Want::Ports { dests } => ports(ix, &dests),
        Want::Nothing => vec![],
    }
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<String>) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail,
        ..Default::default()
    }
}

fn words(ws: &[&str], kind: CompletionItemKind) -> Vec<CompletionItem> {
    ws.iter().map(|w| item(w, kind, None)).collect()
}

/// What a dotted path names, trying the top level and then each cells block.
fn resolve_any(ix: &Index, segs: &[String]) -> Option<Sym> {
    let try_in = |b: Option<&str>| ix.resolve(segs, b).last().cloned().flatten();
    try_in(None).or_else(|| ix.cells.keys().find_map(|b| try_in(Some(b))))
}

fn endpoints(ix: &Index, path: &[String]) -> Vec<CompletionItem> {
    if path.is_empty() {
        let mut v = vec![];
        for ((b, z), zi) in &ix.zones {
            let detail = Some(format!("zone : {}", zi.decl.kind.node));
            match b {
                None => v.push(item(z, CompletionItemKind::MODULE, detail)),
                // a zone of a cells block, as seen from a rule inside the block
                Some(b) => v.push(item(
                    z,
                    CompletionItemKind::MODULE,
                    Some(format!("zone of cells `{b}`")),
                )),
            }
        }
        for (b, c) in &ix.cells {
            v.push(item(
                &format!("{b}*"),
                CompletionItemKind::FOLDER,
                Some("every cell".into()),
            ));
            for name in c.cell_names().iter().take(64) {
                v.push(item(
                    name,
                    CompletionItemKind::FOLDER,
                    Some(format!("cell of `{b}`")),
                ));
            }
        }
        v.sort_by(|a, b| a.label.cmp(&b.label));
        v.dedup_by(|a, b| a.label == b.label);
        return v;
    }
    match resolve_any(ix, path) {
        Some(Sym::Cells(b) | Sym::Cell(b, _)) => ix
            .zones
            .iter()
            .filter(|((bb, _), _)| bb.as_deref() == Some(b.as_str()))
            .map(|((_, z), zi)| {
                item(
                    z,
                    CompletionItemKind::MODULE,
                    Some(format!("zone : {}", zi.decl.kind.node)),
                )
            })
            .collect(),
        Some(sym @ Sym::Zone(..)) => ix
            .services_of(&sym)
            .into_iter()
            .map(|(_, _, s, d)| {
                let ports: Vec<&str> = d.ports.iter().map(|p| p.name.node.as_str()).collect();
                item(
                    s,
                    CompletionItemKind::CLASS,
                    Some(format!("service; ports {}", ports.join(", "))),
                )
            })
            .collect(),
        _ => vec![],
    }
}

/// The port names every destination declares (a zone destination takes none), then the other port words.
fn ports(ix: &Index, dests: &[String]) -> Vec<CompletionItem> {
    let mut common: Option<Vec<(String, String)>> = None;
    for d in dests {
        let segs: Vec<String> = d.split('.').map(str::to_string).collect();
        let names: Vec<(String, String)> = match resolve_any(ix, &segs) {
            Some(sym @ Sym::Service(..)) => ix
                .services_of(&sym)
                .into_iter()
                .flat_map(|(_, _, _, s)| {
                    s.ports
                        .iter()
                        .map(|p| (p.name.node.clone(), super::hover::port_text(&p.spec.node)))
                })
                .collect(),
            _ => vec![],
        };
        common = Some(match common {
            None => names,
            Some(c) => c
                .into_iter()
                .filter(|(n, _)| names.iter().any(|(m, _)| m == n))
                .collect(),
        });
    }
    let mut v: Vec<CompletionItem> = common
        .unwrap_or_default()
        .into_iter()
        .map(|(n, spec)| item(&n, CompletionItemKind::CONSTANT, Some(spec)))
        .collect();
    v.extend(words(PORT_WORDS, CompletionItemKind::KEYWORD));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_is_read_from_the_text_before_the_cursor() {
        assert_eq!(want("zone a : external { cidr 1.0.0.0/8 }\n"), Want::Top);
        assert_eq!(want("allow a -> "), Want::Endpoint { path: vec![] });
        assert_eq!(
            want("allow a -> mz.k"),
            Want::Endpoint {
                path: vec!["mz".into()]
            }
        );
        assert_eq!(
            want("allow a, cell*."),
            Want::Endpoint {
                path: vec!["cell*".into()]
            }
        );
        assert_eq!(
            want("allow a -> mz.kernel, b : "),
            Want::Ports {
                dests: vec!["mz.kernel".into(), "b".into()]
            }
        );
        assert_eq!(want("allow a -> b : tcp/1 \"why\" "), Want::Nothing);
        assert_eq!(want("zone a : "), Want::ZoneKind);
        assert_eq!(want("zone a : mz @ "), Want::Site);
        assert_eq!(want("zone a : mz {\n  cidr 1.0.0.0/8\n  "), Want::ZoneBody);
        assert_eq!(want("zone a : mz {\n  service x {\n po"), Want::ServiceBody);
        assert_eq!(
            want("zone a : mz { service x { port http tcp/80 } }\nal"),
            Want::Top
        );
        assert_eq!(
            want("cells cell[1..2] in 10.0.0.0/8 each /16 {\n  allow "),
            Want::Endpoint { path: vec![] }
        );
        assert_eq!(want("# allow -> \n"), Want::Top);
        assert_eq!(want("# § é\nallow a -> "), Want::Endpoint { path: vec![] });
        assert_eq!(
            want("zone a : mz {\n  service x { port http tcp/80 }\n  "),
            Want::ZoneBody
        );
    }
}
