//! The parser: recursive descent over `&str`, with nom recognising the
//! lexemes. Spans are recovered from slice offsets. A syntax error (E001) in
//! one statement is reported and the parser resumes at the next statement,
//! so every independent syntax error is reported in one run.
//! The grammar is `grammar/moat.ebnf`; each function names its production.

use super::ast::*;
use crate::diag::Diagnostic;
use crate::span::{FileId, Span, Spanned};
use nom::bytes::complete::{take_while, take_while1};
use nom::character::complete::satisfy;
use nom::combinator::recognize;
use nom::sequence::pair;
use nom::{IResult, Parser as _};

/// Keywords that start a top-level statement (used to resume after an error).
const TOP_KEYWORDS: [&str; 8] = [
    "policy", "include", "site", "zone", "allow", "forbid", "cells", "cluster",
];

/// The statements of a zone body (the layout ones are `cluster`, `namespaces`, `unmanaged`).
const ZONE_KEYWORDS: [&str; 7] = [
    "cidr",
    "namespace",
    "namespaces",
    "cluster",
    "unmanaged",
    "dns",
    "service",
];

/// Parses one file into its syntax tree and the syntax errors found.
pub fn parse_file(text: &str, file: FileId) -> (File, Vec<Diagnostic>) {
    let mut p = Parser {
        src: text,
        pos: 0,
        end: 0,
        file,
        comments: vec![],
        diags: vec![],
    };
    if p.src.starts_with('\u{feff}') {
        p.pos = '\u{feff}'.len_utf8();
    }
    let items = p.items(None);
    let mut comments = std::mem::take(&mut p.comments);
    comments.sort_by_key(|c| c.span.start);
    comments.dedup_by_key(|c| c.span.start);
    (File { items, comments }, p.diags)
}

/// A syntax error: where, and what was expected there.
struct PErr {
    pos: usize,
    expected: String,
    help: Option<String>,
}

type PResult<T> = Result<T, PErr>;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// End of the last token consumed (spans never include trailing blanks).
    end: usize,
    file: FileId,
    comments: Vec<Spanned<String>>,
    diags: Vec<Diagnostic>,
}

fn ident_lexeme(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        satisfy(|c| c.is_ascii_lowercase()),
        take_while(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'),
    ))
    .parse(i)
}

fn digits_lexeme(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_digit()).parse(i)
}

/// Characters an address or CIDR may contain (validated later, E015).
fn addr_lexeme(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_hexdigit() || c == '.' || c == ':' || c == '/').parse(i)
}

fn label_key_lexeme(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-' | '_')).parse(i)
}

fn label_value_lexeme(i: &str) -> IResult<&str, &str> {
    take_while(|c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).parse(i)
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn span(&self, start: usize) -> Span {
        Span::new(self.file, start, self.end.max(start))
    }

    /// Moves past `n` bytes of the current token.
    fn advance(&mut self, n: usize) {
        self.pos += n;
        self.end = self.pos;
    }

    fn err<T>(&self, expected: impl Into<String>) -> PResult<T> {
        Err(PErr {
            pos: self.pos,
            expected: expected.into(),
            help: None,
        })
    }

    /// Skips whitespace and comments, recording the comments.
    fn ws(&mut self) {
        // most calls find a token right here
        if self
            .src
            .as_bytes()
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_graphic() && *b != b'#')
        {
            return;
        }
        loop {
            // ASCII blanks first (the common case), then any Unicode white space
            let blanks = self
                .rest()
                .bytes()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .count();
            self.pos += blanks;
            let rest = self.rest();
            let trimmed = if rest
                .as_bytes()
                .first()
                .is_some_and(|b| b.is_ascii() && !char::from(*b).is_whitespace())
            {
                rest
            } else {
                rest.trim_start()
            };
            self.pos += rest.len() - trimmed.len();
            if !trimmed.starts_with('#') {
                return;
            }
            let end = trimmed.find('\n').unwrap_or(trimmed.len());
            let start = self.pos;
            self.pos += end;
            let text = trimmed[1..end].trim_end_matches('\r').to_string();
            self.warn_hidden_in_comment(start, &trimmed[..end]);
            self.comments
                .push(Spanned::new(text, Span::new(self.file, start, self.pos)));
        }
    }

    /// Runs a nom lexeme recogniser at the current position (after whitespace).
    fn lex(&mut self, f: fn(&str) -> IResult<&str, &str>) -> Option<Spanned<String>> {
        self.ws();
        let rest = self.rest();
        let (after, got) = f(rest).ok()?;
        let start = self.pos;
        self.advance(rest.len() - after.len());
        Some(Spanned::new(got.to_string(), self.span(start)))
    }

    /// The identifier at the current position, without consuming it.
    fn peek_ident(&mut self) -> Option<&'a str> {
        self.ws();
        ident_lexeme(self.rest()).ok().map(|(_, s)| s)
    }

    fn peek_char(&mut self) -> Option<char> {
        self.ws();
        self.rest().chars().next()
    }

    /// Consumes `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        if self.peek_char() == Some(c) {
            self.advance(c.len_utf8());
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        self.ws();
        if self.rest().starts_with(s) {
            self.advance(s.len());
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> PResult<()> {
        if self.eat(c) {
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// Consumes the keyword `kw` if it comes next (as a whole identifier).
    fn keyword(&mut self, kw: &str) -> bool {
        if self.peek_ident() == Some(kw) {
            self.advance(kw.len());
            true
        } else {
            false
        }
    }

    /// ident = [a-z] [a-z0-9_-]*
    fn ident(&mut self, what: &str) -> PResult<Name> {
        self.ws();
        if let Some(c) = self.rest().chars().next() {
            if c.is_alphabetic() && !c.is_ascii_lowercase() {
                let help = if c.is_ascii_uppercase() {
                    "names are lower case: [a-z][a-z0-9_-]*".to_string()
                } else {
                    format!(
                        "`{c}` (U+{:04X}) is not an ASCII letter; names are [a-z][a-z0-9_-]*",
                        c as u32
                    )
                };
                return Err(PErr {
                    pos: self.pos,
                    expected: what.to_string(),
                    help: Some(help),
                });
            }
        }
        let Some(n) = self.lex(ident_lexeme) else {
            return self.err(what);
        };
        if let Some(c) = self
            .src
            .get(self.pos..)
            .and_then(|r| r.chars().next())
            .filter(|c| !c.is_ascii() && (c.is_alphanumeric() || crate::syntax::text::is_invisible(*c)))
        {
            let help = format!(
                "`{}` (U+{:04X}) is not an ASCII letter; names are [a-z][a-z0-9_-]* (a look-alike letter?)",
                c.escape_debug(),
                c as u32
            );
            return Err(PErr {
                pos: self.pos,
                expected: format!("{what} of ASCII letters, digits, `_` and `-`"),
                help: Some(help),
            });
        }
        Ok(n)
    }

    /// W006 for each bidirectional-control or invisible character in a comment at `start`.
    fn warn_hidden_in_comment(&mut self, start: usize, comment: &str) {
        for (i, c) in comment
            .char_indices()
            .filter(|(_, c)| crate::syntax::text::is_invisible(*c))
        {
            let at = start + i;
            self.diags.push(
                Diagnostic::warning("W006", Span::new(self.file, at, at + c.len_utf8()), format!("comment contains an invisible or bidirectional-control character (U+{:04X})", c as u32))
                    .with_help("bidirectional overrides can make the source read differently from what it means (Trojan Source); remove it"),
            );
        }
    }

    /// string = '"' { char | '\"' | '\\' } '"'
    fn string(&mut self, what: &str) -> PResult<Name> {
        self.ws();
        let start = self.pos;
        if !self.rest().starts_with('"') {
            return self.err(what);
        }
        let mut out = String::new();
        let mut hidden = vec![];
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.advance(i + 1);
                    self.diags.append(&mut hidden);
                    return Ok(Spanned::new(out, self.span(start)));
                }
                '\\' => match chars.next() {
                    Some((_, '"')) => out.push('"'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((j, other)) => {
                        return Err(PErr {
                            pos: start + j,
                            expected: format!("`\\\"` or `\\\\` (unknown escape `\\{other}`)"),
                            help: Some("only \\\" and \\\\ are escapes in moat strings".into()),
                        })
                    }
                    None => break,
                },
                _ => {
                    if let Some(what) = crate::syntax::text::forbidden_in_string(
                        c,
                        self.src
                            .get(start + i + c.len_utf8()..)
                            .and_then(|r| r.chars().next()),
                    ) {
                        let at = start + i;
                        hidden.push(
                            Diagnostic::error("E019", Span::new(self.file, at, at + c.len_utf8()), format!("a string may not contain {what} (U+{:04X})", c as u32))
                                .with_help("a string holds visible text, tabs and line breaks only: strings end up in firewall rules, comments and descriptions"),
                        );
                    }
                    out.push(c)
                }
            }
        }
        Err(PErr {
            pos: start,
            expected: "a closing `\"`".into(),
            help: Some("this string is never closed".into()),
        })
    }

    /// name_or_string = ident | string   (namespace names)
    fn ident_or_string(&mut self, what: &str) -> PResult<Name> {
        if self.peek_char() == Some('"') {
            self.string(what)
        } else {
            self.ident(what)
        }
    }

    fn number(&mut self, what: &str) -> PResult<Name> {
        match self.lex(digits_lexeme) {
            Some(n) => Ok(n),
            None => self.err(what),
        }
    }

    /// items = { item } ; inside a cells block, up to the closing brace
    fn items(&mut self, closing: Option<char>) -> Vec<Item> {
        let mut items = vec![];
        loop {
            self.ws();
            if self.rest().is_empty() {
                return items;
            }
            if closing.is_some_and(|c| self.rest().starts_with(c)) {
                return items;
            }
            let start = self.pos;
            match self.item(closing.is_some()) {
                Ok(item) => items.push(item),
                Err(e) => {
                    self.report(e);
                    self.recover(start, closing.is_some());
                }
            }
        }
    }

    fn report(&mut self, e: PErr) {
        let found = match self.src.get(e.pos..).and_then(|r| r.chars().next()) {
            None => "end of file".to_string(),
            Some(_) => {
                let rest = &self.src[e.pos..];
                let tok: String = rest.chars().take_while(|c| !c.is_whitespace()).take(20).collect();
                let tok = if tok.is_empty() {
                    rest.chars().take(1).collect()
                } else {
                    tok
                };
                format!("`{}`", crate::syntax::text::visible(&tok))
            }
        };
        let len = self
            .src
            .get(e.pos..)
            .and_then(|r| r.chars().next())
            .map_or(0, char::len_utf8);
        let mut d = Diagnostic::error(
            "E001",
            Span::new(self.file, e.pos, e.pos + len),
            format!("syntax error: expected {}, found {found}", e.expected),
        );
        if let Some(h) = e.help {
            d = d.with_help(h);
        }
        self.diags.push(d);
    }

    /// After an error in the statement that began at `start`, skips to the
    /// next statement keyword outside that statement's braces.
    fn recover(&mut self, start: usize, in_cells: bool) {
        let mut depth: i64 = 0;
        let mut i = start;
        let bytes = self.src.as_bytes();
        let mut first = true;
        while i < bytes.len() {
            match bytes[i] {
                b'#' | b'"' => {
                    i = skip_comment_or_string(self.src, i);
                    continue;
                }
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth < 0 && in_cells {
                        self.pos = i; // the cells block's closing brace
                        return;
                    }
                }
                c if c.is_ascii_lowercase() && (i == 0 || !is_word_byte(bytes[i - 1])) => {
                    let word_end = i + self.src[i..].bytes().take_while(|b| is_word_byte(*b)).count();
                    let word = &self.src[i..word_end];
                    // (a keyword right after a line break starts a line: no need to look further back)
                    if !first
                        && TOP_KEYWORDS.contains(&word)
                        && (depth <= 0 || (!in_cells && i > 0 && bytes[i - 1] == b'\n'))
                    {
                        self.pos = i;
                        return;
                    }
                    first = false;
                    i = word_end;
                    continue;
                }
                _ => {}
            }
            if !bytes[i].is_ascii_whitespace() {
                first = false;
            }
            i += 1;
        }
        self.pos = self.src.len();
    }

    /// item = policy | include | site | zone | rule | cells
    fn item(&mut self, in_cells: bool) -> PResult<Item> {
        self.ws();
        let start = self.pos;
        let Some(kw) = self.peek_ident() else {
            return self.err(if in_cells {
                "`zone`, `allow`, `forbid` or `}`"
            } else {
                "a statement (`policy`, `include`, `site`, `cluster`, `zone`, `allow`, `forbid` or `cells`)"
            });
        };
        let allowed: &[&str] = if in_cells {
            &["zone", "allow", "forbid"]
        } else {
            &TOP_KEYWORDS
        };
        if !allowed.contains(&kw) {
            let what = if in_cells {
                "`zone`, `allow`, `forbid` or `}` inside a cells block"
            } else {
                "a statement keyword"
            };
            let mut e = PErr {
                pos: self.pos,
                expected: what.into(),
                help: None,
            };
            if let Some(s) = closest(kw, allowed) {
                e.help = Some(format!("did you mean `{s}`?"));
            }
            return Err(e);
        }
        self.advance(kw.len());
        Ok(match kw {
            "policy" => Item::Policy(Box::new(self.policy(start)?)),
            "include" => Item::Include(Include {
                path: self.string("a quoted file path")?,
                span: self.span(start),
            }),
            "site" => Item::Site(Box::new(self.site(start)?)),
            "zone" => Item::Zone(Box::new(self.zone(start)?)),
            "allow" => Item::Rule(self.rule(start, RuleKind::Allow)?),
            "forbid" => Item::Rule(self.rule(start, RuleKind::Forbid)?),
            "cluster" => Item::Cluster(Box::new(self.cluster(start)?)),
            _ => Item::Cells(Box::new(self.cells(start)?)),
        })
    }

    /// policy = "policy" ident [ string ]
    fn policy(&mut self, start: usize) -> PResult<PolicyDecl> {
        let name = self.ident("a policy name")?;
        let title = if self.peek_char() == Some('"') {
            Some(self.string("a title")?)
        } else {
            None
        };
        Ok(PolicyDecl {
            name,
            title,
            span: self.span(start),
        })
    }

    /// site = "site" ident ":" ident [ "{" { ident string } "}" ]
    fn site(&mut self, start: usize) -> PResult<SiteDecl> {
        let name = self.ident("a site name")?;
        self.expect(':', "`:` and the site kind (onprem, aws, gcp, azure)")?;
        let kind = self.ident("a site kind (onprem, aws, gcp, azure)")?;
        let mut props = vec![];
        if self.eat('{') {
            while !self.eat('}') {
                let key = self.ident("a site property such as `region`, or `}`")?;
                let value = self.string("a quoted value")?;
                props.push((key, value));
            }
        }
        Ok(SiteDecl {
            name,
            kind,
            props,
            span: self.span(start),
        })
    }

    /// zone = "zone" ident ":" ident [ "@" ident ] "{" { zone_stmt } "}"
    fn zone(&mut self, start: usize) -> PResult<ZoneDecl> {
        let name = self.ident("a zone name")?;
        self.expect(
            ':',
            "`:` and the zone kind (external, demilitarised, militarised)",
        )?;
        let kind = self.ident("a zone kind (external, demilitarised, militarised)")?;
        let site = if self.eat('@') {
            Some(self.ident("a site name")?)
        } else {
            None
        };
        self.expect('{', "`{` to open the zone body")?;
        let mut z = ZoneDecl {
            name,
            kind,
            site,
            cidrs: vec![],
            namespaces: vec![],
            services: vec![],
            dns: vec![],
            layout: ZoneLayoutDecl::default(),
            span: Span::default(),
        };
        while !self.eat('}') {
            self.block_stmt(|p| p.zone_stmt(&mut z), &ZONE_KEYWORDS, "zone")?;
        }
        z.span = self.span(start);
        Ok(z)
    }

    /// zone_stmt = "cidr" addr_list | "namespace" ns_list [ "pods" pod_match_list ]
    ///           | dns | layout_stmt | service
    fn zone_stmt(&mut self, z: &mut ZoneDecl) -> PResult<()> {
        let start = self.pos;
        if self.keyword("dns") {
            z.dns.extend(self.dns_names()?);
        } else if self.keyword("cidr") {
            z.cidrs.extend(self.list(Self::addr)?);
        } else if self.keyword("namespace") {
            let names = self.list(|p| p.ident_or_string("a namespace name"))?;
            if self.keyword("pods") {
                let pods = self.list(Self::pod_match)?;
                z.layout.claims.push(NsClaim {
                    namespaces: names,
                    pods,
                    span: self.span(start),
                });
            } else {
                z.namespaces.extend(names);
            }
        } else if self.keyword("service") {
            let s = self.service(start)?;
            z.services.push(s);
        } else if !self.layout_stmt(start, &mut z.layout)? {
            return self.keyword_error(
                &ZONE_KEYWORDS,
                "`cidr`, `namespace`, `namespaces`, `cluster`, `unmanaged`, `dns`, `service` or `}`",
            );
        }
        Ok(())
    }

    /// dns = "dns" string { "," string }   (the DNS names of an external zone; checked later, E028)
    fn dns_names(&mut self) -> PResult<Vec<Name>> {
        self.list(|p| {
            if p.peek_char() == Some('"') {
                p.string("a DNS name in quotes")
            } else {
                Err(PErr {
                    pos: p.pos,
                    expected: "a DNS name in quotes".into(),
                    help: Some("write DNS names as strings: `dns \"www.example.org\"`".into()),
                })
            }
        })
    }

    /// layout_stmt = "cluster" ident | "namespaces" label_list | "unmanaged"
    /// (issue 12); false when none of them comes next.
    fn layout_stmt(&mut self, start: usize, l: &mut ZoneLayoutDecl) -> PResult<bool> {
        if self.keyword("cluster") {
            l.cluster = Some(self.ident("a cluster name")?);
        } else if self.keyword("namespaces") {
            l.ns_labels.extend(self.list(Self::label)?);
        } else if self.keyword("unmanaged") {
            l.unmanaged = Some(self.span(start));
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// cluster = "cluster" ident "@" ident
    fn cluster(&mut self, start: usize) -> PResult<ClusterDecl> {
        let name = self.ident("a cluster name")?;
        self.expect('@', "`@` and the site the cluster runs at")?;
        let site = self.ident("a site name")?;
        Ok(ClusterDecl {
            name,
            site,
            span: self.span(start),
        })
    }

    /// Parses one statement of a block; on a syntax error reports it and skips
    /// to the block's next statement keyword or closing brace, so that the
    /// block (and its names) survives and later errors are reported too.
    fn block_stmt(
        &mut self,
        stmt: impl FnOnce(&mut Self) -> PResult<()>,
        keywords: &[&str],
        block: &str,
    ) -> PResult<()> {
        self.ws();
        if self.rest().is_empty() {
            return self.err(format!("`}}` to close the {block}"));
        }
        let at = self.pos;
        if let Err(e) = stmt(self) {
            let from = e.pos.max(at);
            self.report(e);
            self.skip_in_block(from, keywords);
            if self.pos <= at {
                let n = self.rest().chars().next().map_or(0, char::len_utf8);
                self.pos += n;
            }
        }
        Ok(())
    }

    /// Moves to the next `keywords` word or `}` at this block's depth.
    fn skip_in_block(&mut self, from: usize, keywords: &[&str]) {
        let bytes = self.src.as_bytes();
        let (mut i, mut depth) = (from, 0i64);
        while i < bytes.len() {
            match bytes[i] {
                b'#' | b'"' => {
                    i = skip_comment_or_string(self.src, i);
                    continue;
                }
                b'{' => depth += 1,
                b'}' if depth == 0 => break,
                b'}' => depth -= 1,
                c if c.is_ascii_lowercase() && (i == 0 || !is_word_byte(bytes[i - 1])) => {
                    let end = i + self.src[i..].bytes().take_while(|b| is_word_byte(*b)).count();
                    if depth == 0 && i > from && keywords.contains(&&self.src[i..end]) {
                        break;
                    }
                    i = end;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        self.pos = i.min(self.src.len());
    }

    fn keyword_error<T>(&mut self, kws: &[&str], what: &str) -> PResult<T> {
        let help = self
            .peek_ident()
            .and_then(|w| closest(w, kws))
            .map(|s| format!("did you mean `{s}`?"));
        Err(PErr {
            pos: self.pos,
            expected: what.into(),
            help,
        })
    }

    /// service = "service" ident "{" { service_stmt } "}"
    fn service(&mut self, start: usize) -> PResult<ServiceDecl> {
        let name = self.ident("a service name")?;
        self.expect('{', "`{` to open the service body")?;
        let mut s = ServiceDecl {
            name,
            hosts: vec![],
            pods: vec![],
            namespaces: vec![],
            ports: vec![],
            resident: None,
            service_account: None,
            span: Span::default(),
        };
        while !self.eat('}') {
            self.block_stmt(
                |p| p.service_stmt(&mut s),
                &["hosts", "pods", "namespace", "port", "resident", "serviceaccount"],
                "service",
            )?;
        }
        s.span = self.span(start);
        Ok(s)
    }

    /// service_stmt = "hosts" addr_list | "pods" label_list | "namespace" ns_list
    ///              | "port" ident port_item | "resident"
    fn service_stmt(&mut self, s: &mut ServiceDecl) -> PResult<()> {
        let start = self.pos;
        if self.keyword("hosts") {
            s.hosts.extend(self.list(Self::addr)?);
        } else if self.keyword("pods") {
            s.pods.extend(self.list(Self::label)?);
        } else if self.keyword("namespace") {
            s.namespaces
                .extend(self.list(|p| p.ident_or_string("a namespace name"))?);
        } else if self.keyword("port") {
            let name = self.ident("a port name")?;
            let spec = self.port_item()?;
            s.ports.push(PortDecl {
                name,
                spec,
                span: self.span(start),
            });
        } else if self.keyword("resident") {
            s.resident = Some(self.span(start));
        } else if self.keyword("serviceaccount") {
            s.service_account = Some(self.ident_or_string("a service account name")?);
        } else {
            return self.keyword_error(
                &["hosts", "pods", "namespace", "port", "resident", "serviceaccount"],
                "`hosts`, `pods`, `namespace`, `port`, `resident`, `serviceaccount` or `}`",
            );
        }
        Ok(())
    }

    /// list(x) = x { "," x }
    fn list<T>(&mut self, mut f: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        let mut out = vec![f(self)?];
        while self.eat(',') {
            out.push(f(self)?);
        }
        Ok(out)
    }

    /// addr = [ "+" ] addr_chars [ "-" addr_chars ]   (an address, a CIDR, or a range FIRST-LAST)
    fn addr(&mut self) -> PResult<Spanned<AddrLit>> {
        self.ws();
        let start = self.pos;
        let relative = self.eat_str("+");
        let Some(t) = self.lex(addr_lexeme) else {
            return self.err("an IPv4 or IPv6 address or CIDR");
        };
        let mut text = t.node;
        if let Some(last) = self.range_end()? {
            text = format!("{text}-{last}");
        }
        Ok(Spanned::new(AddrLit { text, relative }, self.span(start)))
    }

    /// The `- LAST` of an address range `FIRST-LAST`, if one follows (blanks allowed around `-`).
    fn range_end(&mut self) -> PResult<Option<String>> {
        let save = (self.pos, self.end);
        if !self.eat_str("-") {
            return Ok(None);
        }
        if self.rest().starts_with('>') {
            (self.pos, self.end) = save; // `->` is no range
            return Ok(None);
        }
        match self.lex(addr_lexeme) {
            Some(last) => Ok(Some(last.node)),
            None => Err(PErr {
                pos: self.pos,
                expected: "the last address of the range after `-`".into(),
                help: Some("an address range is written `10.0.0.2-10.0.0.51`".into()),
            }),
        }
    }

    /// label = label_key "=" ( label_value | string )
    fn label(&mut self) -> PResult<Spanned<Label>> {
        let m = self.key_value(false)?;
        let PodMatch { key, value, .. } = m.node;
        Ok(Spanned::new(Label { key, value }, m.span))
    }

    /// pod_match = label_key ( "=" | "!=" ) ( label_value | string )
    fn pod_match(&mut self) -> PResult<Spanned<PodMatch>> {
        self.key_value(true)
    }

    /// A label `key=value`, or with `negation` also `key!=value`.
    fn key_value(&mut self, negation: bool) -> PResult<Spanned<PodMatch>> {
        self.ws();
        let start = self.pos;
        let Some(key) = self.lex(label_key_lexeme) else {
            return self.err(if negation {
                "a pod label `key=value` or `key!=value`"
            } else {
                "a pod label `key=value`"
            });
        };
        let negated = negation && self.eat_str("!=");
        if !negated && !self.eat_str("=") {
            return self.err(if negation {
                "`=` or `!=` and the label value"
            } else {
                "`=` and the label value"
            });
        }
        let value = if self.rest().starts_with('"') {
            self.string("a label value")?.node
        } else {
            self.lex(label_value_lexeme).map(|v| v.node).unwrap_or_default()
        };
        Ok(Spanned::new(
            PodMatch {
                key: key.node,
                value,
                negated,
            },
            self.span(start),
        ))
    }

    /// port_item = "any" | proto [ "/" digits [ "-" digits ] ] | ident
    fn port_item(&mut self) -> PResult<Spanned<PortItem>> {
        self.ws();
        let start = self.pos;
        let word = self.ident("a port: `any`, `tcp/443`, `udp/1000-2000`, `icmp` or a port name")?;
        let is_proto = crate::ports::Proto::parse(&word.node).is_some();
        let item = if word.node == "any" {
            PortItem::Any
        } else if is_proto && self.eat_str("/") {
            let lo = self.number("a port number after `/`")?;
            if self.eat_str("-") {
                let hi = self.number("the last port of the range")?;
                PortItem::Range(word.node, lo.node, hi.node)
            } else {
                PortItem::Port(word.node, lo.node)
            }
        } else if is_proto {
            PortItem::Proto(word.node)
        } else {
            PortItem::Named(word.node)
        };
        Ok(Spanned::new(item, self.span(start)))
    }

    /// rule = ("allow" | "forbid") endpoints "->" endpoints [ ":" port_list ]
    ///        [ string ] [ "exempt" string ]
    fn rule(&mut self, start: usize, kind: RuleKind) -> PResult<Rule> {
        let from = self.list(Self::endpoint)?;
        if !self.eat_str("->") {
            return self.err("`->` between the sources and the destinations");
        }
        let to = self.list(Self::endpoint)?;
        let ports = if self.eat(':') {
            Some(self.list(Self::port_item)?)
        } else if kind == RuleKind::Allow {
            return Err(PErr {
                pos: self.pos,
                expected: "`:` and the ports".into(),
                help: Some("an allow names its ports, e.g. `: tcp/443` or `: any`".into()),
            });
        } else {
            None
        };
        let l7 = self.l7()?;
        if l7.is_some() && kind == RuleKind::Forbid {
            return Err(PErr {
                pos: self.pos,
                expected: "the next statement".into(),
                help: Some("`paths` and `methods` narrow an allow; a forbid rules out whole ports".into()),
            });
        }
        let reason = if self.peek_char() == Some('"') {
            Some(self.string("a reason")?)
        } else {
            None
        };
        let exempt = if self.keyword("exempt") {
            Some(self.string("the waiver text in quotes")?)
        } else {
            None
        };
        if exempt.is_some() && kind == RuleKind::Forbid {
            return Err(PErr {
                pos: self.pos,
                expected: "the next statement".into(),
                help: Some("a forbid cannot be exempted".into()),
            });
        }
        Ok(Rule {
            kind,
            from,
            to,
            ports,
            reason,
            exempt,
            l7,
            span: self.span(start),
        })
    }

    /// l7 = { "paths" string { "," string } | "methods" method { "," method } }
    fn l7(&mut self) -> PResult<Option<L7Decl>> {
        let mut l7: Option<L7Decl> = None;
        loop {
            self.ws();
            let start = self.pos;
            let paths = if self.keyword("paths") {
                true
            } else if self.keyword("methods") {
                false
            } else {
                break;
            };
            let d = l7.get_or_insert_with(|| L7Decl {
                span: self.span(start),
                ..L7Decl::default()
            });
            if paths {
                let list = self.list(|p| p.string("a request path in quotes, e.g. \"/v1/*\""))?;
                d.paths.extend(list);
            } else {
                let list = self.list(Self::method)?;
                d.methods.extend(list);
            }
            d.span = self.span(d.span.start);
        }
        Ok(l7)
    }

    /// method = upper { upper }   (an HTTP method: GET, POST, ...)
    fn method(&mut self) -> PResult<Name> {
        self.ws();
        let start = self.pos;
        let n = self.rest().bytes().take_while(u8::is_ascii_uppercase).count();
        if n == 0 {
            return Err(PErr {
                pos: self.pos,
                expected: "an HTTP method in capitals (GET, POST, ...)".into(),
                help: Some("methods are written as HTTP spells them: `methods GET, POST`".into()),
            });
        }
        let name = self.rest()[..n].to_string();
        self.advance(n);
        Ok(Spanned::new(name, self.span(start)))
    }

    /// endpoint = segment { "." segment } ; segment = ident [ "*" ] (only the first may have "*")
    fn endpoint(&mut self) -> PResult<Spanned<EndpointPath>> {
        self.ws();
        let start = self.pos;
        let mut segments = vec![];
        loop {
            let mut seg = self.ident("a zone or service name")?.node;
            if segments.is_empty() && self.rest().starts_with('*') {
                self.advance(1);
                seg.push('*');
            }
            segments.push(seg);
            if !self.rest().starts_with('.') {
                break;
            }
            self.advance(1);
        }
        Ok(Spanned::new(EndpointPath { segments }, self.span(start)))
    }

    /// cells = "cells" ident "[" digits ".." digits "]" "in" addr "each" "/" digits "{" items "}"
    fn cells(&mut self, start: usize) -> PResult<CellsDecl> {
        let name = self.ident("the cells' name prefix")?;
        self.expect('[', "`[LO..HI]` after the cells' name")?;
        let lo = self.number("the first cell number")?;
        if !self.eat_str("..") {
            return self.err("`..` between the first and last cell number");
        }
        let hi = self.number("the last cell number")?;
        self.expect(']', "`]`")?;
        if !self.keyword("in") {
            return self.err("`in` and the cells' address block");
        }
        let block = self.addr()?;
        if !self.keyword("each") {
            return self.err("`each /LEN`");
        }
        self.expect('/', "`/` and the prefix length of each cell")?;
        let each = self.number("the prefix length of each cell")?;
        self.expect('{', "`{` to open the cells block")?;
        let items = self.items(Some('}'));
        self.expect('}', "`}` to close the cells block")?;
        Ok(CellsDecl {
            name,
            lo,
            hi,
            block,
            each,
            items,
            span: self.span(start),
        })
    }
}

/// The position after the comment or string that starts at `i` (used when
/// skipping to resume after an error, so braces and keywords inside them are ignored).
fn skip_comment_or_string(src: &str, i: usize) -> usize {
    let bytes = src.as_bytes();
    if bytes[i] == b'#' {
        return i + src[i..].find('\n').unwrap_or(src.len() - i);
    }
    let mut j = i + 1;
    while j < bytes.len() && bytes[j] != b'"' {
        j += if bytes[j] == b'\\' { 2 } else { 1 };
    }
    j + 1
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Most names a suggestion is looked for among.
const MAX_SUGGESTION_CANDIDATES: usize = 2000;

/// The candidate closest to `word` by edit distance, if it is close enough.
pub fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = |c: &str| (c.len() / 3).max(1) + usize::from(c.len() > 6);
    // The distance is at least the difference in length: skip those that cannot
    // be close, and give up on a suggestion rather than compare with tens of
    // thousands of names (a cells block repeats every unknown name per cell).
    let near: Vec<&'c str> = candidates
        .iter()
        .copied()
        .filter(|c| c.len().abs_diff(word.len()) <= limit(c))
        .take(MAX_SUGGESTION_CANDIDATES + 1)
        .collect();
    if near.len() > MAX_SUGGESTION_CANDIDATES || word.len() > 200 {
        return None;
    }
    near.into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= limit(c))
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance between two strings.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
