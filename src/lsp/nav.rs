//! Go to definition, find references, rename, and the document outline.

use super::index::{Occurrence, Sym};
use super::pos::{Encoding, Lines};
use super::workspace::Analysis;
use crate::span::FileId;
use crate::syntax::ast::{self, Item};
use lsp_types::{DocumentSymbol, Location, Position, Range, SymbolKind, TextEdit, Url, WorkspaceEdit};
use std::collections::HashMap;

/// The symbols under byte `pos` of `file`.
pub fn syms_at(a: &Analysis, file: FileId, pos: usize) -> Vec<Sym> {
    let mut v: Vec<Sym> = a
        .index()
        .at(file, pos)
        .into_iter()
        .map(|o| o.sym.clone())
        .collect();
    v.dedup();
    v
}

/// Where the names under the cursor are declared (an include: the file it names).
pub fn definition(a: &Analysis, file: FileId, pos: usize, enc: Encoding) -> Vec<Location> {
    let mut out = vec![];
    for sym in syms_at(a, file, pos) {
        if let Sym::File(p) = &sym {
            out.extend(
                Url::from_file_path(p)
                    .ok()
                    .map(|u| Location::new(u, Range::default())),
            );
            continue;
        }
        if let Sym::Cell(b, _) = &sym {
            out.extend(decls(a, &Sym::Cells(b.clone()), enc));
            continue;
        }
        out.extend(decls(a, &sym, enc));
    }
    out
}

fn decls(a: &Analysis, sym: &Sym, enc: Encoding) -> Vec<Location> {
    a.index()
        .of(sym)
        .filter(|o| o.decl)
        .filter_map(|o| a.location(o.span, enc))
        .collect()
}

/// Every use (and, if asked, the declaration) of the names under the cursor.
pub fn references(a: &Analysis, file: FileId, pos: usize, with_decl: bool, enc: Encoding) -> Vec<Location> {
    let mut out = vec![];
    for sym in syms_at(a, file, pos) {
        let sym = match sym {
            Sym::Cell(b, _) => Sym::Cells(b),
            s => s,
        };
        if let Sym::File(p) = &sym {
            // the includes that name this file
            for (f, span, target) in &a.index().includes {
                if target == p {
                    out.extend(a.location(crate::span::Span::new(*f, span.start, span.end), enc));
                }
            }
            continue;
        }
        out.extend(
            a.index()
                .of(&sym)
                .filter(|o| with_decl || !o.decl)
                .filter_map(|o| a.location(o.span, enc)),
        );
    }
    out
}

/// The zone or service under the cursor, when it can be renamed, and the range of its name there.
pub fn prepare_rename(a: &Analysis, file: FileId, pos: usize) -> Option<(&Occurrence, Sym)> {
    a.index()
        .at(file, pos)
        .into_iter()
        .find(|o| matches!(o.sym, Sym::Zone(..) | Sym::Service(..)))
        .map(|o| (o, o.sym.clone()))
}

/// Renames a zone or service in every file of the policy: its declaration and every use.
pub fn rename(
    a: &Analysis,
    file: FileId,
    pos: usize,
    new: &str,
    enc: Encoding,
) -> Result<WorkspaceEdit, String> {
    let Some((_, sym)) = prepare_rename(a, file, pos) else {
        return Err("only a zone or a service can be renamed".into());
    };
    if !valid_ident(new) {
        return Err(format!(
            "`{new}` is not a name: start with a lower-case letter, then letters, digits, `_` or `-`"
        ));
    }
    let taken = match &sym {
        Sym::Zone(b, _) => a.index().zones.contains_key(&(b.clone(), new.to_string())),
        Sym::Service(b, z, _) => a
            .index()
            .zones
            .get(&(b.clone(), z.clone()))
            .is_some_and(|zi| zi.decl.services.iter().any(|s| s.name.node == new)),
        _ => false,
    };
    if taken {
        return Err(format!("`{new}` is already declared there"));
    }
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    for o in a.index().of(&sym) {
        let Some(url) = a.url(o.span.file) else { continue };
        let lines = a.lines(o.span.file, enc);
        changes.entry(url).or_default().push(TextEdit::new(
            lines.range(o.span.start, o.span.end),
            new.to_string(),
        ));
    }
    for edits in changes.values_mut() {
        edits.sort_by_key(|e| (e.range.start.line, e.range.start.character));
        edits.dedup();
    }
    Ok(WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    })
}

/// True for a name of the language (`ident` of grammar/moat.ebnf).
pub fn valid_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '_' || x == '-')
}

/// The outline of one file: sites, zones with their services and ports, cells blocks.
pub fn symbols(a: &Analysis, file: FileId, enc: Encoding) -> Vec<DocumentSymbol> {
    let Some((_, f)) = a.files.iter().find(|(id, _)| *id == file) else {
        return vec![];
    };
    let lines = a.lines(file, enc);
    f.items.iter().filter_map(|i| item_symbol(i, &lines)).collect()
}

#[allow(deprecated)] // DocumentSymbol::deprecated must be written out
fn sym(
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    range: Range,
    sel: Range,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range,
        selection_range: sel,
        children: (!children.is_empty()).then_some(children),
    }
}

fn item_symbol(item: &Item, l: &Lines) -> Option<DocumentSymbol> {
    let r = |s: crate::span::Span| l.range(s.start, s.end);
    Some(match item {
        Item::Policy(p) => sym(
            p.name.node.clone(),
            p.title.as_ref().map(|t| t.node.clone()),
            SymbolKind::PACKAGE,
            r(p.span),
            r(p.name.span),
            vec![],
        ),
        Item::Include(i) => sym(
            i.path.node.clone(),
            Some("include".into()),
            SymbolKind::FILE,
            r(i.span),
            r(i.path.span),
            vec![],
        ),
        Item::Site(s) => sym(
            s.name.node.clone(),
            Some(s.kind.node.clone()),
            SymbolKind::NAMESPACE,
            r(s.span),
            r(s.name.span),
            vec![],
        ),
        Item::Cluster(c) => sym(
            c.name.node.clone(),
            Some(format!("cluster @ {}", c.site.node)),
            SymbolKind::NAMESPACE,
            r(c.span),
            r(c.name.span),
            vec![],
        ),
        Item::Zone(z) => zone_symbol(z, l),
        Item::Cells(c) => {
            let children = c.items.iter().filter_map(|i| item_symbol(i, l)).collect();
            let detail = format!(
                "[{}..{}] in {} each /{}",
                c.lo.node, c.hi.node, c.block.node.text, c.each.node
            );
            sym(
                c.name.node.clone(),
                Some(detail),
                SymbolKind::ARRAY,
                r(c.span),
                r(c.name.span),
                children,
            )
        }
        Item::Rule(_) => return None,
    })
}

fn zone_symbol(z: &ast::ZoneDecl, l: &Lines) -> DocumentSymbol {
    let r = |s: crate::span::Span| l.range(s.start, s.end);
    let services = z
        .services
        .iter()
        .map(|s| {
            let ports = s
                .ports
                .iter()
                .map(|p| {
                    sym(
                        p.name.node.clone(),
                        Some(super::hover::port_text(&p.spec.node)),
                        SymbolKind::CONSTANT,
                        r(p.span),
                        r(p.name.span),
                        vec![],
                    )
                })
                .collect();
            sym(
                s.name.node.clone(),
                Some("service".into()),
                SymbolKind::CLASS,
                r(s.span),
                r(s.name.span),
                ports,
            )
        })
        .collect();
    sym(
        z.name.node.clone(),
        Some(z.kind.node.clone()),
        SymbolKind::MODULE,
        r(z.span),
        r(z.name.span),
        services,
    )
}

/// The position at the start of a file.
pub fn file_start() -> Position {
    Position::new(0, 0)
}
