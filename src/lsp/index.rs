//! Every name of a policy, where it is declared and where it is used: the
//! zones, services, port names, sites, cells and includes of all its files,
//! read from the syntax trees (so it exists even when the policy has errors).

use crate::span::{FileId, Span, Spanned};
use crate::syntax::ast::{self, EndpointPath, Item, PortItem};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A named thing of the policy. Zones, services and ports declared in a
/// `cells` block carry the block's name: `dmz` of `cells cell[1..4]` is one
/// declaration, reached as `cell2.dmz` or `cell*.dmz`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sym {
    Site(String),
    /// A Kubernetes cluster (`cluster NAME @ SITE`, issue 12).
    Cluster(String),
    /// A `cells` block, by name (`cell`).
    Cells(String),
    /// One cell of a block: (block, cell name such as `cell2`).
    Cell(String, String),
    /// (cells block, zone)
    Zone(Option<String>, String),
    /// (cells block, zone, service)
    Service(Option<String>, String, String),
    /// (cells block, zone, service, port name)
    Port(Option<String>, String, String, String),
    /// A file named by an `include`, as the loader would open it.
    File(PathBuf),
}

impl Sym {
    /// The name as a policy writes it (`mz.kernel`, `cell*.dmz`, `https`).
    pub fn display(&self) -> String {
        let z = |b: &Option<String>, z: &str| match b {
            Some(b) => format!("{b}*.{z}"),
            None => z.to_string(),
        };
        match self {
            Sym::Site(s) | Sym::Cluster(s) | Sym::Cells(s) => s.clone(),
            Sym::Cell(_, c) => c.clone(),
            Sym::Zone(b, n) => z(b, n),
            Sym::Service(b, n, s) => format!("{}.{s}", z(b, n)),
            Sym::Port(b, n, s, p) => format!("{}.{s}:{p}", z(b, n)),
            Sym::File(p) => p.display().to_string(),
        }
    }
}

/// One place a name appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub span: Span,
    pub sym: Sym,
    /// True at the declaration, false at a use.
    pub decl: bool,
}

/// A service as declared.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub name: Spanned<String>,
    pub decl: ast::ServiceDecl,
}

/// A zone as declared.
#[derive(Debug, Clone)]
pub struct ZoneInfo {
    pub decl: ast::ZoneDecl,
    pub block: Option<String>,
}

/// A cells block as declared.
#[derive(Debug, Clone)]
pub struct CellsInfo {
    pub name: Spanned<String>,
    pub lo: u32,
    pub hi: u32,
    pub block: String,
    pub each: String,
}

impl CellsInfo {
    /// The names of its cells (`cell1`..`cell4`), at most 4096.
    pub fn cell_names(&self) -> Vec<String> {
        if self.lo > self.hi || self.hi - self.lo >= 4096 {
            return vec![];
        }
        (self.lo..=self.hi)
            .map(|i| format!("{}{i}", self.name.node))
            .collect()
    }

    /// True when `cell` is one of its cells.
    pub fn has_cell(&self, cell: &str) -> bool {
        cell.strip_prefix(self.name.node.as_str())
            .and_then(|n| {
                if n.starts_with('0') && n.len() > 1 {
                    None
                } else {
                    n.parse::<u32>().ok()
                }
            })
            .is_some_and(|n| n >= self.lo && n <= self.hi)
    }
}

/// The names of a whole policy.
#[derive(Debug, Default)]
pub struct Index {
    /// Every occurrence, sorted by file and position.
    pub occurrences: Vec<Occurrence>,
    /// Zones by (cells block, name); the first declaration of a duplicate.
    pub zones: BTreeMap<(Option<String>, String), ZoneInfo>,
    pub sites: BTreeMap<String, Span>,
    pub cells: BTreeMap<String, CellsInfo>,
    /// Includes: (file, the path string's span, the file it names).
    pub includes: Vec<(FileId, Span, PathBuf)>,
}

impl Index {
    /// Indexes the parsed files of one policy. `path_of` gives a file's path on disk.
    pub fn build(files: &[(FileId, ast::File)], path_of: &dyn Fn(FileId) -> Option<PathBuf>) -> Index {
        let mut ix = Index::default();
        for (fid, f) in files {
            for item in &f.items {
                ix.declare(*fid, item, None, path_of);
            }
        }
        for (_, f) in files {
            for item in &f.items {
                ix.uses(item, None);
            }
        }
        ix.occurrences
            .sort_by_key(|o| (o.span.file, o.span.start, o.span.end));
        ix
    }

    fn declare(
        &mut self,
        fid: FileId,
        item: &Item,
        block: Option<&str>,
        path_of: &dyn Fn(FileId) -> Option<PathBuf>,
    ) {
        match item {
            Item::Site(s) => {
                self.sites.entry(s.name.node.clone()).or_insert(s.name.span);
                self.decl(s.name.span, Sym::Site(s.name.node.clone()));
            }
            Item::Cluster(c) => {
                self.decl(c.name.span, Sym::Cluster(c.name.node.clone()));
                self.occurrences.push(Occurrence {
                    span: c.site.span,
                    sym: Sym::Site(c.site.node.clone()),
                    decl: false,
                });
            }
            Item::Include(inc) => {
                let dir = path_of(fid)
                    .and_then(|p| p.parent().map(PathBuf::from))
                    .unwrap_or_default();
                let target = dir.join(&inc.path.node);
                let target = std::fs::canonicalize(&target).unwrap_or(target);
                self.includes.push((fid, inc.path.span, target.clone()));
                self.occurrences.push(Occurrence {
                    span: inc.path.span,
                    sym: Sym::File(target),
                    decl: false,
                });
            }
            Item::Zone(z) => self.zone(z, block),
            Item::Cells(c) => {
                let info = CellsInfo {
                    name: c.name.clone(),
                    lo: c.lo.node.parse().unwrap_or(1),
                    hi: c.hi.node.parse().unwrap_or(0),
                    block: c.block.node.text.clone(),
                    each: c.each.node.clone(),
                };
                self.cells.entry(c.name.node.clone()).or_insert(info);
                self.decl(c.name.span, Sym::Cells(c.name.node.clone()));
                for i in &c.items {
                    self.declare(fid, i, Some(&c.name.node), path_of);
                }
            }
            Item::Policy(_) | Item::Rule(_) => {}
        }
    }

    fn zone(&mut self, z: &ast::ZoneDecl, block: Option<&str>) {
        let b = block.map(str::to_string);
        let zname = z.name.node.clone();
        self.decl(z.name.span, Sym::Zone(b.clone(), zname.clone()));
        for s in &z.services {
            self.decl(
                s.name.span,
                Sym::Service(b.clone(), zname.clone(), s.name.node.clone()),
            );
            for p in &s.ports {
                let sym = Sym::Port(b.clone(), zname.clone(), s.name.node.clone(), p.name.node.clone());
                self.decl(p.name.span, sym);
            }
        }
        if let Some(c) = &z.layout.cluster {
            self.occurrences.push(Occurrence {
                span: c.span,
                sym: Sym::Cluster(c.node.clone()),
                decl: false,
            });
        }
        if let Some(site) = &z.site {
            self.occurrences.push(Occurrence {
                span: site.span,
                sym: Sym::Site(site.node.clone()),
                decl: false,
            });
        }
        self.zones.entry((b.clone(), zname)).or_insert_with(|| ZoneInfo {
            decl: z.clone(),
            block: b,
        });
    }

    fn decl(&mut self, span: Span, sym: Sym) {
        self.occurrences.push(Occurrence {
            span,
            sym,
            decl: true,
        });
    }

    fn uses(&mut self, item: &Item, block: Option<&str>) {
        match item {
            Item::Rule(r) => {
                for ep in r.from.iter() {
                    let _ = self.endpoint(ep, block);
                }
                let mut dests = vec![];
                for ep in r.to.iter() {
                    dests.extend(self.endpoint(ep, block));
                }
                for p in r.ports.iter().flatten() {
                    if let PortItem::Named(n) = &p.node {
                        for sym in self.ports_named(&dests, n) {
                            self.occurrences.push(Occurrence {
                                span: p.span,
                                sym,
                                decl: false,
                            });
                        }
                    }
                }
            }
            Item::Cells(c) => c.items.iter().for_each(|i| self.uses(i, Some(&c.name.node))),
            _ => {}
        }
    }

    /// Records the names an endpoint uses; returns what it resolves to (a zone or service).
    fn endpoint(&mut self, ep: &Spanned<EndpointPath>, block: Option<&str>) -> Option<Sym> {
        let found = self.resolve(&ep.node.segments, block);
        let mut at = ep.span.start;
        let mut last = None;
        for (seg, sym) in ep.node.segments.iter().zip(found) {
            let span = Span::new(ep.span.file, at, at + seg.len());
            at += seg.len() + 1;
            if let Some(sym) = sym {
                self.occurrences.push(Occurrence {
                    span,
                    sym: sym.clone(),
                    decl: false,
                });
                last = Some(sym);
            } else {
                last = None;
            }
        }
        last.filter(|s| matches!(s, Sym::Zone(..) | Sym::Service(..)))
    }

    /// What each segment of a dotted path names, seen from a rule in `block` (if in a cells block).
    pub fn resolve(&self, segs: &[String], block: Option<&str>) -> Vec<Option<Sym>> {
        let mut out = vec![];
        let Some(first) = segs.first() else { return out };
        let (zone_block, rest) = if let Some(b) = first.strip_suffix('*') {
            out.push(self.cells.contains_key(b).then(|| Sym::Cells(b.to_string())));
            (Some(b.to_string()), &segs[1..])
        } else if let Some(c) = self.cells.values().find(|c| c.has_cell(first)) {
            out.push(Some(Sym::Cell(c.name.node.clone(), first.clone())));
            (Some(c.name.node.clone()), &segs[1..])
        } else {
            let b = block
                .filter(|b| self.zones.contains_key(&(Some(b.to_string()), first.clone())))
                .map(str::to_string);
            (b, segs)
        };
        let Some(z) = rest.first() else { return out };
        let key = (zone_block.clone(), z.clone());
        let Some(zi) = self.zones.get(&key) else {
            out.resize(segs.len(), None);
            return out;
        };
        out.push(Some(Sym::Zone(zone_block.clone(), z.clone())));
        if let Some(s) = rest.get(1) {
            let has = zi.decl.services.iter().any(|d| d.name.node == *s);
            out.push(has.then(|| Sym::Service(zone_block.clone(), z.clone(), s.clone())));
        }
        out.resize(segs.len(), None);
        out
    }

    /// The port declarations named `name` among the destinations (a zone: each of its services).
    fn ports_named(&self, dests: &[Sym], name: &str) -> Vec<Sym> {
        let mut out = vec![];
        for d in dests {
            for (b, z, s, decl) in self.services_of(d) {
                if decl.ports.iter().any(|p| p.name.node == name) {
                    out.push(Sym::Port(
                        b.clone(),
                        z.to_string(),
                        s.to_string(),
                        name.to_string(),
                    ));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The services a zone or service symbol stands for, with their declarations.
    pub fn services_of<'a>(
        &'a self,
        sym: &Sym,
    ) -> Vec<(Option<String>, &'a str, &'a str, &'a ast::ServiceDecl)> {
        let (b, z, only) = match sym {
            Sym::Zone(b, z) => (b, z, None),
            Sym::Service(b, z, s) => (b, z, Some(s)),
            _ => return vec![],
        };
        let Some(zi) = self.zones.get(&(b.clone(), z.clone())) else {
            return vec![];
        };
        zi.decl
            .services
            .iter()
            .filter(|s| only.is_none_or(|o| *o == s.name.node))
            .map(|s| (b.clone(), zi.decl.name.node.as_str(), s.name.node.as_str(), s))
            .collect()
    }

    /// The occurrences covering byte `pos` of `file` (several for a port name used by several services).
    pub fn at(&self, file: FileId, pos: usize) -> Vec<&Occurrence> {
        let upto = self
            .occurrences
            .partition_point(|o| (o.span.file, o.span.start) <= (file, pos));
        let mut out: Vec<&Occurrence> = self.occurrences[..upto]
            .iter()
            .rev()
            .take_while(|o| o.span.file == file && o.span.end >= pos)
            .collect();
        out.reverse();
        out
    }

    /// Every occurrence of `sym`, declarations first.
    pub fn of<'a>(&'a self, sym: &'a Sym) -> impl Iterator<Item = &'a Occurrence> + 'a {
        let decls = self.occurrences.iter().filter(move |o| o.decl && o.sym == *sym);
        decls.chain(self.occurrences.iter().filter(move |o| !o.decl && o.sym == *sym))
    }
}
