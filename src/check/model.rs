//! Declarations: sites, zones and services, with `cells` blocks expanded into
//! one zone per cell. Reports E002 (unknown kinds and sites), E003 (duplicates)
//! and E016 (cells that do not fit their block).

use super::addresses::parse_net;
use crate::diag::Diagnostic;
use crate::ir::{CellRef, SiteKind, ZoneKind};
use crate::span::Span;
use crate::syntax::ast::{self, Item};
use crate::syntax::parse::closest;
use ipnet::IpNet;
use std::collections::BTreeMap;

/// A declared site.
#[derive(Debug, Clone)]
pub struct SiteDef {
    pub name: String,
    pub kind: SiteKind,
    pub props: BTreeMap<String, String>,
    pub span: Option<Span>,
}

/// One zone instance (a zone inside a cells block yields one per cell).
#[derive(Debug, Clone)]
pub struct ZoneDef<'a> {
    pub name: String,
    pub kind: ZoneKind,
    pub site: String,
    pub decl: &'a ast::ZoneDecl,
    pub cell: Option<CellCtx>,
}

/// The cell a zone or rule instance belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellCtx {
    pub cell: CellRef,
    /// The cell's own address block.
    pub block: Option<IpNet>,
}

impl CellCtx {
    /// Replaces `{cell}` in a string of this cell.
    pub fn interpolate(&self, s: &str) -> String {
        s.replace("{cell}", &self.cell.cell)
    }
}

/// Interpolates `{cell}` when in a cell.
pub fn interp(cell: Option<&CellCtx>, s: &str) -> String {
    cell.map_or_else(|| s.to_string(), |c| c.interpolate(s))
}

/// One rule instance (a rule inside a cells block yields one per cell).
#[derive(Debug, Clone)]
pub struct RuleDef<'a> {
    pub rule: &'a ast::Rule,
    pub cell: Option<CellCtx>,
    /// Index of the statement, shared by all its cell instances (the AllowId for allows).
    pub stmt: usize,
}

/// A `cells` block: its name and cell names, in order.
#[derive(Debug, Clone)]
pub struct CellsDef {
    pub name: String,
    pub cells: Vec<String>,
    pub span: Span,
    /// The whole address block (`in CIDR`) and where it is written; `None` when
    /// it is malformed or the cells do not fit it (already E015 / E016).
    pub block: Option<(IpNet, Span)>,
}

/// Everything declared in the policy.
#[derive(Debug, Default)]
pub struct Model<'a> {
    pub policy: Option<&'a ast::PolicyDecl>,
    pub sites: Vec<SiteDef>,
    pub zones: Vec<ZoneDef<'a>>,
    pub allows: Vec<RuleDef<'a>>,
    pub forbids: Vec<RuleDef<'a>>,
    pub cells: Vec<CellsDef>,
    /// `cluster NAME @ SITE` declarations, in source order (duplicates: E003).
    pub clusters: Vec<&'a ast::ClusterDecl>,
    /// Number of allow statements (AllowIds are 0..n_allows).
    pub n_allows: usize,
    pub n_forbids: usize,
}

/// Collects the declarations of all files.
pub fn collect<'a>(files: &'a [(usize, ast::File)], diags: &mut Vec<Diagnostic>) -> Model<'a> {
    let mut m = Model::default();
    let mut site_spans: BTreeMap<String, Span> = BTreeMap::new();
    for (_, f) in files {
        for item in &f.items {
            if let Item::Site(s) = item {
                site(&mut m, s, &mut site_spans, diags);
            }
        }
    }
    if !m.sites.iter().any(|s| s.name == "default") {
        m.sites.push(SiteDef {
            name: "default".into(),
            kind: SiteKind::Onprem,
            props: BTreeMap::new(),
            span: None,
        });
    }
    m.sites.sort_by(|a, b| a.name.cmp(&b.name));
    for (_, f) in files {
        for item in &f.items {
            if let Item::Cluster(c) = item {
                super::layout::cluster(&mut m, c, diags);
            }
        }
    }
    for (_, f) in files {
        for item in &f.items {
            top_item(&mut m, item, diags);
        }
    }
    duplicates(&m, diags);
    m
}

fn site(m: &mut Model, s: &ast::SiteDecl, spans: &mut BTreeMap<String, Span>, diags: &mut Vec<Diagnostic>) {
    let kind = match s.kind.node.as_str() {
        "onprem" => SiteKind::Onprem,
        "aws" => SiteKind::Aws,
        "gcp" => SiteKind::Gcp,
        "azure" => SiteKind::Azure,
        other => {
            let mut d = Diagnostic::error("E002", s.kind.span, format!("unknown site kind `{other}`"));
            d = d.with_help(match closest(other, &["onprem", "aws", "gcp", "azure"]) {
                Some(c) => format!("did you mean `{c}`? site kinds are onprem, aws, gcp, azure"),
                None => "site kinds are onprem, aws, gcp, azure".into(),
            });
            diags.push(d);
            return;
        }
    };
    if let Some(prev) = spans.get(&s.name.node) {
        diags.push(dup("site", &s.name.node, s.name.span, *prev));
        return;
    }
    spans.insert(s.name.node.clone(), s.name.span);
    super::sites::check(kind, &s.props, diags);
    let props = s
        .props
        .iter()
        .map(|(k, v)| (k.node.clone(), v.node.clone()))
        .collect();
    m.sites.push(SiteDef {
        name: s.name.node.clone(),
        kind,
        props,
        span: Some(s.span),
    });
}

/// E003 with a pointer at the first declaration.
pub fn dup(what: &str, name: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error("E003", span, format!("duplicate {what} `{name}`"))
        .with_label(first, "first declared here")
        .with_help(format!(
            "rename one of them, or merge the two declarations of `{name}`"
        ))
}

fn top_item<'a>(m: &mut Model<'a>, item: &'a Item, diags: &mut Vec<Diagnostic>) {
    match item {
        Item::Policy(p) => match m.policy {
            Some(first) => diags.push(
                dup("policy statement", &p.name.node, p.span, first.span)
                    .with_help("a policy has at most one `policy` statement"),
            ),
            None => m.policy = Some(p),
        },
        Item::Zone(z) => zone(m, z, None, diags),
        Item::Rule(r) => rule(m, r, None),
        Item::Cells(c) => cells(m, c, diags),
        Item::Include(_) | Item::Site(_) | Item::Cluster(_) => {}
    }
}

fn zone<'a>(m: &mut Model<'a>, z: &'a ast::ZoneDecl, cell: Option<CellCtx>, diags: &mut Vec<Diagnostic>) {
    let Some(kind) = ZoneKind::parse(&z.kind.node) else {
        let kinds = [
            "external",
            "demilitarised",
            "militarised",
            "dmz",
            "mz",
            "demilitarized",
            "militarized",
        ];
        let help = match closest(&z.kind.node, &kinds) {
            Some(c) => {
                format!("did you mean `{c}`? zone kinds are external, demilitarised (dmz), militarised (mz)")
            }
            None => "zone kinds are external, demilitarised (dmz), militarised (mz)".into(),
        };
        diags.push(
            Diagnostic::error(
                "E002",
                z.kind.span,
                format!("unknown zone kind `{}`", z.kind.node),
            )
            .with_help(help),
        );
        return;
    };
    let site = match &z.site {
        None => "default".to_string(),
        Some(s) if m.sites.iter().any(|d| d.name == s.node) => s.node.clone(),
        Some(s) => {
            let names: Vec<&str> = m.sites.iter().map(|d| d.name.as_str()).collect();
            let mut d = Diagnostic::error("E002", s.span, format!("unknown site `{}`", s.node));
            d = d.with_help(match closest(&s.node, &names) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("declare it first: `site {} : onprem`", s.node),
            });
            diags.push(d);
            "default".to_string()
        }
    };
    let name = match &cell {
        Some(c) => format!("{}.{}", c.cell.cell, z.name.node),
        None => z.name.node.clone(),
    };
    m.zones.push(ZoneDef {
        name,
        kind,
        site,
        decl: z,
        cell,
    });
}

fn rule<'a>(m: &mut Model<'a>, r: &'a ast::Rule, cell: Option<CellCtx>) {
    // Instances of one statement share its index: callers pass cell instances in a row.
    let (list, counter) = match r.kind {
        ast::RuleKind::Allow => (&mut m.allows, &mut m.n_allows),
        ast::RuleKind::Forbid => (&mut m.forbids, &mut m.n_forbids),
    };
    let stmt = match list.last() {
        Some(last) if std::ptr::eq(last.rule, r) => last.stmt,
        _ => {
            *counter += 1;
            *counter - 1
        }
    };
    list.push(RuleDef { rule: r, cell, stmt });
}

fn cells<'a>(m: &mut Model<'a>, c: &'a ast::CellsDecl, diags: &mut Vec<Diagnostic>) {
    let (Ok(lo), Ok(hi)) = (c.lo.node.parse::<u32>(), c.hi.node.parse::<u32>()) else {
        diags.push(
            Diagnostic::error(
                "E016",
                c.lo.span.to(c.hi.span),
                "cell numbers must be whole numbers below 4294967296",
            )
            .with_help("write the range as `[1..4]`"),
        );
        return;
    };
    if lo > hi || hi - lo >= 4096 {
        diags.push(
            Diagnostic::error(
                "E016",
                c.lo.span.to(c.hi.span),
                format!("the cell range {lo}..{hi} is empty or larger than 4096 cells"),
            )
            .with_help("write the range as `[LO..HI]` with LO ≤ HI"),
        );
        return;
    }
    let count = hi - lo + 1;
    let blocks = cell_blocks(c, count, diags);
    let names: Vec<String> = (lo..=hi).map(|i| format!("{}{i}", c.name.node)).collect();
    m.cells.push(CellsDef {
        name: c.name.node.clone(),
        cells: names.clone(),
        span: c.span,
        block: blocks
            .as_ref()
            .and_then(|_| parse_net(&c.block.node.text).ok())
            .map(|b| (b, c.block.span)),
    });
    for item in &c.items {
        for (i, cell) in names.iter().enumerate() {
            let ctx = CellCtx {
                cell: CellRef {
                    block: c.name.node.clone(),
                    cell: cell.clone(),
                },
                block: blocks.as_ref().map(|b| b[i]),
            };
            match item {
                Item::Zone(z) => zone(m, z, Some(ctx), diags),
                Item::Rule(r) => rule(m, r, Some(ctx)),
                _ => {}
            }
        }
    }
}

/// The cells' blocks: the (i-LO)-th /each of the block, or E016 / E015.
fn cell_blocks(c: &ast::CellsDecl, count: u32, diags: &mut Vec<Diagnostic>) -> Option<Vec<IpNet>> {
    let block = match parse_net(&c.block.node.text) {
        Ok(n) => n,
        Err(msg) => {
            diags.push(
                Diagnostic::error("E015", c.block.span, msg)
                    .with_help("write the block as a CIDR such as `10.64.0.0/12`"),
            );
            return None;
        }
    };
    let each: u8 = match c.each.node.parse() {
        Ok(e) if e >= block.prefix_len() && e <= block.max_prefix_len() => e,
        _ => {
            diags.push(
                Diagnostic::error(
                    "E016",
                    c.each.span,
                    format!(
                        "each cell's prefix /{} does not fit the block {block}",
                        c.each.node
                    ),
                )
                .with_help(format!(
                    "use a length between /{} and /{}",
                    block.prefix_len(),
                    block.max_prefix_len()
                )),
            );
            return None;
        }
    };
    let available = u32::from(each - block.prefix_len()).min(31);
    if each - block.prefix_len() < 32 && u64::from(count) > (1u64 << available) {
        diags.push(
            Diagnostic::error(
                "E016",
                c.span,
                format!(
                    "{count} cells of /{each} do not fit in {block} (room for {})",
                    1u64 << available
                ),
            )
            .with_label(c.block.span, "the block")
            .with_help("use a larger block, a longer prefix for each cell, or fewer cells"),
        );
        return None;
    }
    let subnets: Vec<IpNet> = block.subnets(each).ok()?.take(count as usize).collect();
    Some(subnets)
}

/// E003 for zones with the same full name and services with the same name in one zone.
fn duplicates(m: &Model, diags: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    for z in &m.zones {
        if let Some(first) = seen.get(z.name.as_str()) {
            if *first != z.decl.name.span {
                diags.push(dup("zone", &z.name, z.decl.name.span, *first));
            }
            continue;
        }
        seen.insert(&z.name, z.decl.name.span);
        if z.cell.as_ref().is_some_and(|c| {
            c.cell.cell
                != m.cells
                    .iter()
                    .find(|d| d.name == c.cell.block)
                    .and_then(|d| d.cells.first())
                    .cloned()
                    .unwrap_or_default()
        }) {
            continue; // report service duplicates once, for the first cell
        }
        let mut svc: BTreeMap<&str, Span> = BTreeMap::new();
        for s in &z.decl.services {
            match svc.get(s.name.node.as_str()) {
                Some(first) => diags.push(dup(
                    "service",
                    &format!("{}.{}", z.name, s.name.node),
                    s.name.span,
                    *first,
                )),
                None => {
                    svc.insert(&s.name.node, s.name.span);
                }
            }
            let mut ports: BTreeMap<&str, Span> = BTreeMap::new();
            for p in &s.ports {
                match ports.get(p.name.node.as_str()) {
                    Some(first) => diags.push(dup("port", &p.name.node, p.name.span, *first)),
                    None => {
                        ports.insert(&p.name.node, p.name.span);
                    }
                }
            }
        }
    }
}
