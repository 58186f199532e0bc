//! `moat fmt`: the canonical layout of a policy file, printed from its syntax
//! tree, with every comment kept.
//!
//! Layout: two-space indentation; one statement per line; single spaces
//! between tokens and `, ` in lists; zone kinds in their canonical spelling
//! (`dmz` becomes `demilitarised`); inside a zone `cluster`, `cidr`,
//! `namespace`, each `namespace ... pods` line, `namespaces`, `unmanaged`,
//! then the services; inside a service `namespace`, `pods`, `hosts`, the
//! ports, `resident`, `serviceaccount`; in an allow the ports, then `paths`,
//! then `methods`. The author's block layout is kept: a zone without
//! services or a service written on one line stays on one line (however
//! wide: formatting never moves a statement to another line), and a block
//! written over several lines keeps one declaration per line.
//! Top-level statements keep their order; a blank line from the source is
//! kept (at most one), and blocks spanning lines are set off by blank lines.
//!
//! Comments: a comment that follows code on its line stays at the end of
//! that code's line (aligned with those of adjacent lines); a comment on its own line stays above the statement that
//! follows it (or above the closing `}` of its block, or at the end of the
//! file). Formatting is idempotent and does not change the policy's meaning.

use super::ast::*;
use super::parse;
use crate::diag::Diagnostic;
use crate::ir::ZoneKind;
use crate::span::{Span, Spanned};

/// The canonical layout of `text`, or its syntax errors (then nothing is formatted).
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    let (file, diags) = parse::parse_file(text, 0);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    let mut f = Fmt {
        src: text,
        units: vec![],
    };
    let nodes: Vec<Node> = file.items.iter().map(|i| f.item(i)).collect();
    let footer = f.attach(&file.comments);
    let mut out = Out::default();
    f.render_list(&nodes, 0, &mut out);
    for (c, blank) in footer {
        out.blank_if(blank);
        out.line(0, &format!("#{c}"));
    }
    Ok(align_trailing(&out.s, &out.trailing_at))
}

/// Aligns the trailing comments of adjacent lines (same indentation) to one
/// column, as authors do by hand: two spaces after the longest code.
fn align_trailing(s: &str, at: &[usize]) -> String {
    let mut lines: Vec<(String, Option<String>)> = vec![];
    let mut pos = 0;
    let mut marks = at.iter().peekable();
    for line in s.split_inclusive('\n') {
        let end = pos + line.len();
        match marks.peek() {
            Some(&&m) if m >= pos && m < end => {
                marks.next();
                let (code, comment) = line.split_at(m - pos);
                lines.push((code.to_string(), Some(comment.trim_start().to_string())));
            }
            _ => lines.push((line.to_string(), None)),
        }
        pos = end;
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < lines.len() {
        let Some(_) = &lines[i].1 else {
            out.push_str(&lines[i].0);
            i += 1;
            continue;
        };
        let mut j = i;
        while j < lines.len() && lines[j].1.is_some() && indent(&lines[j].0) == indent(&lines[i].0) {
            j += 1;
        }
        let width = lines[i..j]
            .iter()
            .map(|(c, _)| c.chars().count())
            .max()
            .unwrap_or(0);
        for (code, comment) in &lines[i..j] {
            let pad = width - code.chars().count() + 2;
            out.push_str(&format!(
                "{code}{}{}",
                " ".repeat(pad),
                comment.as_deref().unwrap_or("")
            ));
        }
        i = j;
    }
    out
}

/// One printed line of code, with the source positions it stands for.
#[derive(Default)]
struct Unit {
    text: String,
    anchors: Vec<Span>,
    /// Own-line comments above it, each with "a blank line came before it".
    leading: Vec<(String, bool)>,
    trailing: Option<String>,
    /// A blank line came before it in the source.
    blank: bool,
}

enum Node {
    Leaf(usize),
    /// `header {` body `}`; `inline` when it may be written on one line.
    Block {
        header: usize,
        body: Vec<Node>,
        close: usize,
        inline: bool,
    },
}

struct Fmt<'a> {
    src: &'a str,
    units: Vec<Unit>,
}

impl Fmt<'_> {
    fn unit(&mut self, text: String, anchors: Vec<Span>) -> usize {
        let blank = anchors
            .iter()
            .map(|a| a.start)
            .min()
            .is_some_and(|p| blank_before(self.src, p));
        self.units.push(Unit {
            text,
            anchors,
            blank,
            ..Unit::default()
        });
        self.units.len() - 1
    }

    fn close(&mut self, span: Span) -> usize {
        let at = Span::new(span.file, span.end.saturating_sub(1), span.end);
        self.units.push(Unit {
            text: "}".into(),
            anchors: vec![at],
            ..Unit::default()
        });
        self.units.len() - 1
    }

    fn item(&mut self, item: &Item) -> Node {
        match item {
            Item::Policy(p) => {
                let title = p
                    .title
                    .as_ref()
                    .map_or_else(String::new, |t| format!(" {}", string(&t.node)));
                let anchors = [
                    Some(kw(p.span)),
                    Some(p.name.span),
                    p.title.as_ref().map(|t| t.span),
                ]
                .into_iter()
                .flatten()
                .collect();
                Node::Leaf(self.unit(format!("policy {}{title}", p.name.node), anchors))
            }
            Item::Include(i) => Node::Leaf(self.unit(
                format!("include {}", string(&i.path.node)),
                vec![kw(i.span), i.path.span],
            )),
            Item::Site(s) => Node::Leaf(self.site(s)),
            Item::Zone(z) => self.zone(z),
            Item::Rule(r) => Node::Leaf(self.rule(r)),
            Item::Cells(c) => self.cells(c),
            Item::Cluster(c) => Node::Leaf(self.unit(
                format!("cluster {} @ {}", c.name.node, c.site.node),
                vec![kw(c.span), c.name.span, c.site.span],
            )),
        }
    }

    fn site(&mut self, s: &SiteDecl) -> usize {
        let mut text = format!("site {} : {}", s.name.node, s.kind.node);
        let mut anchors = vec![kw(s.span), s.name.span, s.kind.span];
        if !s.props.is_empty() {
            let props: Vec<String> = s
                .props
                .iter()
                .map(|(k, v)| format!("{} {}", k.node, string(&v.node)))
                .collect();
            text.push_str(&format!(" {{ {} }}", props.join("  ")));
            anchors.extend(s.props.iter().flat_map(|(k, v)| [k.span, v.span]));
            anchors.push(Span::new(s.span.file, s.span.end.saturating_sub(1), s.span.end));
        }
        self.unit(text, anchors)
    }

    fn zone(&mut self, z: &ZoneDecl) -> Node {
        let kind =
            ZoneKind::parse(&z.kind.node).map_or_else(|| z.kind.node.clone(), |k| k.as_str().to_string());
        let site = z
            .site
            .as_ref()
            .map_or_else(String::new, |s| format!(" @ {}", s.node));
        let mut anchors = vec![kw(z.span), z.name.span, z.kind.span];
        anchors.extend(z.site.as_ref().map(|s| s.span));
        let header = self.unit(format!("zone {} : {kind}{site}", z.name.node), anchors);
        let mut body = vec![];
        if let Some(c) = &z.layout.cluster {
            body.push(Node::Leaf(self.unit(format!("cluster {}", c.node), vec![c.span])));
        }
        if !z.cidrs.is_empty() {
            let list: Vec<String> = z.cidrs.iter().map(|a| addr(&a.node)).collect();
            body.push(Node::Leaf(self.unit(
                format!("cidr {}", list.join(", ")),
                z.cidrs.iter().map(|a| a.span).collect(),
            )));
        }
        if !z.namespaces.is_empty() {
            body.push(Node::Leaf(self.namespaces(&z.namespaces)));
        }
        if !z.dns.is_empty() {
            body.push(Node::Leaf(self.dns(&z.dns)));
        }
        self.layout(&z.layout, &mut body);
        body.extend(z.services.iter().map(|s| self.service(s)));
        // The author's block layout is kept: a block written over several
        // lines stays so (one declaration per line).
        let inline = z.services.is_empty() && same_line(self.src, z.span.start, z.span.end);
        Node::Block {
            header,
            body,
            close: self.close(z.span),
            inline,
        }
    }

    fn dns(&mut self, names: &[Name]) -> usize {
        let list: Vec<String> = names.iter().map(|n| string(&n.node)).collect();
        self.unit(
            format!("dns {}", list.join(", ")),
            names.iter().map(|n| n.span).collect(),
        )
    }

    /// The layout statements after `namespace`: each claim, `namespaces`, `unmanaged`.
    fn layout(&mut self, l: &ZoneLayoutDecl, body: &mut Vec<Node>) {
        for c in &l.claims {
            let names: Vec<String> = c.namespaces.iter().map(|n| ns_name(&n.node)).collect();
            let pods: Vec<String> = c.pods.iter().map(|m| pod_match(&m.node)).collect();
            let mut anchors: Vec<Span> = c.namespaces.iter().map(|n| n.span).collect();
            anchors.extend(c.pods.iter().map(|m| m.span));
            body.push(Node::Leaf(self.unit(
                format!("namespace {} pods {}", names.join(", "), pods.join(", ")),
                anchors,
            )));
        }
        if !l.ns_labels.is_empty() {
            let list: Vec<String> = l.ns_labels.iter().map(|x| label(&x.node)).collect();
            body.push(Node::Leaf(self.unit(
                format!("namespaces {}", list.join(", ")),
                l.ns_labels.iter().map(|x| x.span).collect(),
            )));
        }
        if let Some(u) = l.unmanaged {
            body.push(Node::Leaf(self.unit("unmanaged".into(), vec![u])));
        }
    }

    fn namespaces(&mut self, ns: &[Name]) -> usize {
        let list: Vec<String> = ns.iter().map(|n| ns_name(&n.node)).collect();
        self.unit(
            format!("namespace {}", list.join(", ")),
            ns.iter().map(|n| n.span).collect(),
        )
    }

    fn service(&mut self, s: &ServiceDecl) -> Node {
        let header = self.unit(format!("service {}", s.name.node), vec![kw(s.span), s.name.span]);
        let mut body = vec![];
        if !s.namespaces.is_empty() {
            body.push(Node::Leaf(self.namespaces(&s.namespaces)));
        }
        if !s.pods.is_empty() {
            let list: Vec<String> = s.pods.iter().map(|l| label(&l.node)).collect();
            body.push(Node::Leaf(self.unit(
                format!("pods {}", list.join(", ")),
                s.pods.iter().map(|l| l.span).collect(),
            )));
        }
        if !s.hosts.is_empty() {
            let list: Vec<String> = s.hosts.iter().map(|a| addr(&a.node)).collect();
            body.push(Node::Leaf(self.unit(
                format!("hosts {}", list.join(", ")),
                s.hosts.iter().map(|a| a.span).collect(),
            )));
        }
        for p in &s.ports {
            body.push(Node::Leaf(self.unit(
                format!("port {} {}", p.name.node, port_item(&p.spec.node)),
                vec![p.span],
            )));
        }
        if let Some(r) = s.resident {
            body.push(Node::Leaf(self.unit("resident".into(), vec![r])));
        }
        if let Some(sa) = &s.service_account {
            body.push(Node::Leaf(
                self.unit(format!("serviceaccount {}", ns_name(&sa.node)), vec![sa.span]),
            ));
        }
        Node::Block {
            header,
            body,
            close: self.close(s.span),
            inline: same_line(self.src, s.span.start, s.span.end),
        }
    }

    fn rule(&mut self, r: &Rule) -> usize {
        let eps = |v: &[Spanned<EndpointPath>]| {
            v.iter()
                .map(|e| e.node.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!(
            "{} {} -> {}",
            if r.kind == RuleKind::Allow {
                "allow"
            } else {
                "forbid"
            },
            eps(&r.from),
            eps(&r.to)
        );
        let mut anchors: Vec<Span> = std::iter::once(kw(r.span))
            .chain(r.from.iter().chain(&r.to).map(|e| e.span))
            .collect();
        if let Some(ports) = &r.ports {
            let list: Vec<String> = ports.iter().map(|p| port_item(&p.node)).collect();
            text.push_str(&format!(" : {}", list.join(", ")));
            anchors.extend(ports.iter().map(|p| p.span));
        }
        if let Some(l7) = &r.l7 {
            if !l7.paths.is_empty() {
                let list: Vec<String> = l7.paths.iter().map(|p| string(&p.node)).collect();
                text.push_str(&format!(" paths {}", list.join(", ")));
                anchors.extend(l7.paths.iter().map(|p| p.span));
            }
            if !l7.methods.is_empty() {
                let list: Vec<&str> = l7.methods.iter().map(|m| m.node.as_str()).collect();
                text.push_str(&format!(" methods {}", list.join(", ")));
                anchors.extend(l7.methods.iter().map(|m| m.span));
            }
        }
        if let Some(reason) = &r.reason {
            text.push_str(&format!(" {}", string(&reason.node)));
            anchors.push(reason.span);
        }
        if let Some(w) = &r.exempt {
            text.push_str(&format!(" exempt {}", string(&w.node)));
            anchors.push(w.span);
        }
        self.unit(text, anchors)
    }

    fn cells(&mut self, c: &CellsDecl) -> Node {
        let text = format!(
            "cells {}[{}..{}] in {} each /{}",
            c.name.node,
            c.lo.node,
            c.hi.node,
            addr(&c.block.node),
            c.each.node
        );
        let header = self.unit(
            text,
            vec![
                kw(c.span),
                c.name.span,
                c.lo.span,
                c.hi.span,
                c.block.span,
                c.each.span,
            ],
        );
        let body = c.items.iter().map(|i| self.item(i)).collect();
        Node::Block {
            header,
            body,
            close: self.close(c.span),
            inline: false,
        }
    }

    /// Gives every comment to a unit (trailing or leading); returns the
    /// comments left for the end of the file.
    fn attach(&mut self, comments: &[Spanned<String>]) -> Vec<(String, bool)> {
        let mut anchors: Vec<(Span, usize)> = self
            .units
            .iter()
            .enumerate()
            .flat_map(|(i, u)| u.anchors.iter().map(move |a| (*a, i)))
            .collect();
        anchors.sort_by_key(|(a, _)| (a.start, a.end));
        let mut footer = vec![];
        for c in comments {
            let text = c.node.clone();
            let before = anchors
                .iter()
                .filter(|(a, _)| a.end <= c.span.start)
                .max_by_key(|(a, _)| a.end);
            if let Some((_, owner)) =
                before.filter(|(a, _)| same_line(self.src, a.end.saturating_sub(1), c.span.start))
            {
                let u = &mut self.units[*owner];
                if let Some(old) = u.trailing.replace(text) {
                    u.leading.push((old, false));
                }
                continue;
            }
            let blank = blank_before(self.src, c.span.start);
            match anchors.iter().find(|(a, _)| a.start >= c.span.end) {
                Some((_, owner)) => self.units[*owner].leading.push((text, blank)),
                None => footer.push((text, blank)),
            }
        }
        footer
    }

    /// True when a block must span lines: a comment inside it, a nested
    /// block, or a line too wide.
    fn one_line(&self, node: &Node) -> Option<String> {
        let Node::Block {
            header,
            body,
            close,
            inline: true,
        } = node
        else {
            return None;
        };
        let (h, c) = (&self.units[*header], &self.units[*close]);
        if h.trailing.is_some() || !c.leading.is_empty() {
            return None;
        }
        let mut parts = vec![h.text.clone(), "{".into()];
        for n in body {
            let Node::Leaf(i) = n else { return None };
            let u = &self.units[*i];
            if !u.leading.is_empty() || u.trailing.is_some() {
                return None;
            }
            parts.push(u.text.clone());
        }
        parts.push("}".into());
        // The author wrote the block on one line: it stays one line, however
        // wide, so that formatting never moves a statement to another line.
        Some(parts.join(" "))
    }

    fn render_list(&self, nodes: &[Node], indent: usize, out: &mut Out) {
        let mut prev_multi = false;
        for (k, n) in nodes.iter().enumerate() {
            let one = self.one_line(n);
            let multi = matches!(n, Node::Block { .. }) && one.is_none();
            let force = indent == 0 && k > 0 && (multi || prev_multi);
            out.at_start = k == 0;
            match (n, one) {
                (Node::Leaf(i), _) => self.render_unit(*i, None, indent, force, out),
                (Node::Block { header, close, .. }, Some(line)) => {
                    self.render_unit(*header, Some(&line), indent, force, out);
                    out.append_trailing(&self.units[*close].trailing);
                }
                (
                    Node::Block {
                        header, body, close, ..
                    },
                    None,
                ) => {
                    let h = &self.units[*header];
                    self.render_unit(*header, Some(&format!("{} {{", h.text)), indent, force, out);
                    self.render_list(body, indent + 1, out);
                    out.at_start = false;
                    self.render_unit_at(*close, None, (indent + 1, indent), false, out);
                }
            }
            prev_multi = multi;
        }
    }

    fn render_unit(&self, i: usize, text: Option<&str>, indent: usize, force_blank: bool, out: &mut Out) {
        self.render_unit_at(i, text, (indent, indent), force_blank, out);
    }

    /// Like `render_unit`, with the leading comments at `indents.0` and the code at `indents.1`.
    fn render_unit_at(
        &self,
        i: usize,
        text: Option<&str>,
        indents: (usize, usize),
        force_blank: bool,
        out: &mut Out,
    ) {
        let indent = indents.1;
        let u = &self.units[i];
        let mut force = force_blank;
        for (c, blank) in &u.leading {
            out.blank_if(*blank || force);
            force = false;
            out.line(indents.0, &format!("#{c}"));
        }
        out.blank_if(u.blank || force);
        out.line(indent, text.unwrap_or(&u.text));
        out.append_trailing(&u.trailing);
    }
}

/// The output being built, tracking where blank lines may go.
#[derive(Default)]
struct Out {
    s: String,
    /// At the start of a block (or file): no blank line here.
    at_start: bool,
    /// Byte offsets of `  #` on lines that end with a trailing comment.
    trailing_at: Vec<usize>,
}

impl Out {
    fn blank_if(&mut self, want: bool) {
        if want && !self.at_start && !self.s.is_empty() && !self.s.ends_with("\n\n") {
            self.s.push('\n');
        }
    }

    fn line(&mut self, indent: usize, text: &str) {
        self.s.push_str(&"  ".repeat(indent));
        self.s.push_str(text);
        self.s.push('\n');
        self.at_start = false;
    }

    fn append_trailing(&mut self, c: &Option<String>) {
        if let Some(c) = c {
            self.s.pop();
            self.trailing_at.push(self.s.len());
            self.s.push_str(&format!("  #{c}\n"));
        }
    }
}

/// The first byte of a statement: its keyword.
fn kw(span: Span) -> Span {
    Span::new(span.file, span.start, span.start + 1)
}

/// True when the whitespace before `pos` holds an empty line (and something precedes it).
fn blank_before(src: &str, pos: usize) -> bool {
    let before = src.get(..pos).unwrap_or("");
    let trimmed = before.trim_end();
    !trimmed.is_empty() && before[trimmed.len()..].matches('\n').count() >= 2
}

fn same_line(src: &str, a: usize, b: usize) -> bool {
    let (lo, hi) = (a.min(b), a.max(b));
    !src.get(lo..hi).unwrap_or("\n").contains('\n')
}

/// A string literal with `"` and `\` escaped.
fn string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_lowercase())
        && cs.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn ns_name(s: &str) -> String {
    if is_ident(s) {
        s.to_string()
    } else {
        string(s)
    }
}

fn label(l: &Label) -> String {
    let bare = !l.value.is_empty()
        && l.value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    format!(
        "{}={}",
        l.key,
        if bare { l.value.clone() } else { string(&l.value) }
    )
}

fn pod_match(m: &PodMatch) -> String {
    let l = label(&Label {
        key: m.key.clone(),
        value: m.value.clone(),
    });
    if m.negated {
        l.replacen('=', "!=", 1)
    } else {
        l
    }
}

fn addr(a: &AddrLit) -> String {
    format!("{}{}", if a.relative { "+" } else { "" }, a.text)
}

fn port_item(p: &PortItem) -> String {
    match p {
        PortItem::Any => "any".into(),
        PortItem::Proto(p) | PortItem::Named(p) => p.clone(),
        PortItem::Port(p, n) => format!("{p}/{n}"),
        PortItem::Range(p, lo, hi) => format!("{p}/{lo}-{hi}"),
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    fn fmt(s: &str) -> String {
        format(s).unwrap_or_else(|d| panic!("{d:?}"))
    }

    #[test]
    fn canonical_layout_keeps_comments() {
        let src = "# head\npolicy p   \"T\"\nzone mz:mz{namespace mz # ns\n service k { port api tcp/80 pods app=k } # after k\n # before close\n}\nallow mz.k ->mz.k:api # why\n# tail\n";
        let out = fmt(src);
        assert_eq!(
            out,
            "# head\npolicy p \"T\"\n\nzone mz : militarised {\n  namespace mz                              # ns\n  service k { pods app=k port api tcp/80 }  # after k\n  # before close\n}\n\nallow mz.k -> mz.k : api  # why\n# tail\n"
        );
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn layout_statements_have_one_place() {
        // A block written over several lines: one declaration per line, in their place.
        let src = "cluster c@s\nzone d:dmz{\nunmanaged namespaces team=a,x=\"y z\" namespace r pods k!=v,app=b cluster c namespace w}\n";
        let out = fmt(src);
        assert_eq!(
            out,
            "cluster c @ s\n\nzone d : demilitarised {\n  cluster c\n  namespace w\n  namespace r pods k!=v, app=b\n  namespaces team=a, x=\"y z\"\n  unmanaged\n}\n"
        );
        assert_eq!(fmt(&out), out);
        assert_eq!(
            fmt("zone k:mz{namespace a unmanaged}\n"),
            "zone k : militarised { namespace a unmanaged }\n"
        );
    }
}
