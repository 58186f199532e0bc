//! Name resolution, the checks of spec §5, and lowering to the IR.
//! One concern per module: `model` (declarations, cells), `addresses`,
//! `ports`, `rules` (endpoints and the flow matrix), `crossings` (E006, E010,
//! E011, W003, W004), `forbids` (E007), `warnings` (W001, W002), `sites` (E047).

pub mod addresses;
pub mod crossings;
pub mod dns;
pub mod forbids;
pub mod layout;
pub mod mesh;
pub mod model;
pub mod names;
pub mod ports;
pub mod ranges;
pub mod rules;
pub mod sites;
pub mod warnings;

use crate::diag::Diagnostic;
use crate::ir::{Atom, Ir, Site, Zone, ZoneKind};
use crate::span::{FileId, SourceMap};
use crate::syntax::ast;
use addresses::Range;
use model::{interp, Model, ZoneDef};
use std::collections::BTreeMap;

/// Checks the parsed files as one policy. `syntax_failed` says parsing already
/// reported errors: the checks still run on what parsed, so that every
/// independent error is reported, but no IR is returned. Returns the IR when
/// the policy has no errors, and every diagnostic.
pub fn check(
    sources: &SourceMap,
    files: &[(FileId, ast::File)],
    syntax_failed: bool,
    quality_warnings: bool,
) -> (Option<Ir>, Vec<Diagnostic>) {
    let mut diags = vec![];
    let model = model::collect(files, &mut diags);
    let mut ir = declarations(&model, &mut diags);
    let resolved = rules::build(sources, &model, &mut ir, &mut diags);
    crossings::check(&ir, &resolved, &mut diags);
    forbids::check(&ir, &mut diags);
    layout::forbids(&ir, &mut diags);
    if quality_warnings && !syntax_failed && !diags.iter().any(Diagnostic::is_error) {
        warnings::check(&ir, &model, &mut diags);
        dns::unenforceable(&ir, &model, &mut diags);
    }
    if !syntax_failed && model.zones.is_empty() && !diags.iter().any(Diagnostic::is_error) {
        if let Some((file, _)) = files.first() {
            diags.push(no_zones(*file));
        }
    }
    let ok = !syntax_failed && !diags.iter().any(Diagnostic::is_error);
    (ok.then_some(ir), diags)
}

/// W021: a policy without zones (an empty file, or only comments) allows
/// nothing and compiles to deny-everything: most likely the wrong file.
fn no_zones(file: FileId) -> Diagnostic {
    Diagnostic::warning(
        "W021",
        crate::span::Span::new(file, 0, 0),
        "the policy declares no zones: it allows nothing, and every target compiles to deny-everything",
    )
    .with_help("declare zones (`zone NAME : external|demilitarised|militarised { … }`), or check that this is the policy you meant")
}

/// Lowers sites, zones and services into the IR's sorted tables, with each
/// atom's exact addresses (E004, E005, E009, E015, E016 along the way).
fn declarations(m: &Model, diags: &mut Vec<Diagnostic>) -> Ir {
    let sites: Vec<Site> = m
        .sites
        .iter()
        .map(|s| Site {
            name: s.name.clone(),
            kind: s.kind,
            props: s.props.clone(),
            span: s.span,
        })
        .collect();
    // Zones sorted by name; duplicates (already E003) keep their first declaration.
    let mut zdefs: Vec<&ZoneDef> = vec![];
    let mut seen = std::collections::BTreeSet::new();
    for z in &m.zones {
        if seen.insert(z.name.as_str()) {
            zdefs.push(z);
        }
    }
    zdefs.sort_by(|a, b| a.name.cmp(&b.name));
    let atom_names = atom_names(&zdefs);
    let atom_index: BTreeMap<&str, usize> = atom_names
        .iter()
        .enumerate()
        .map(|(i, (n, _, _))| (n.as_str(), i))
        .collect();
    let mut zones = vec![];
    let mut atoms = vec![];
    let mut ranges = vec![];
    let mut dns_decls = vec![];
    for (zi, z) in zdefs.iter().enumerate() {
        let site = sites.iter().position(|s| s.name == z.site).unwrap_or(0);
        let before = diags.len();
        let cidrs = zone_cidrs(z, diags);
        let cidrs_ok = diags.len() == before;
        let remainder = atom_index[z.name.as_str()];
        ranges.extend(cidrs.iter().map(|(net, span)| Range {
            net: *net,
            span: *span,
            zone: zi,
            atom: remainder,
            is_service: false,
        }));
        let ns_lits: Vec<&ast::Name> = z
            .decl
            .namespaces
            .iter()
            .chain(z.decl.layout.claims.iter().flat_map(|c| &c.namespaces))
            .collect();
        let namespaces: Vec<String> = ns_lits.iter().map(|n| interp(z.cell.as_ref(), &n.node)).collect();
        for (ns, lit) in namespaces.iter().zip(&ns_lits) {
            names::check_namespace(ns, lit.span, diags);
        }
        let nets: Vec<_> = cidrs.iter().map(|c| c.0).collect();
        let mut services = vec![];
        for s in &z.decl.services {
            let name = format!("{}.{}", z.name, s.name.node);
            let Some(&id) = atom_index.get(name.as_str()) else {
                continue;
            };
            if services.contains(&id) {
                continue; // duplicate service, already E003
            }
            services.push(id);
            let hosts = addr_list(z, &s.hosts, diags);
            if cidrs_ok {
                let written: Vec<_> = s
                    .hosts
                    .iter()
                    .filter(|l| ranges::is_range(&l.node.text))
                    .map(|l| (l.span, l.node.text.as_str()))
                    .collect();
                addresses::hosts_inside_zone(&z.name, &nets, &hosts, &written, z.decl.name.span, diags);
            }
            ranges.extend(hosts.iter().map(|(net, span)| Range {
                net: *net,
                span: *span,
                zone: zi,
                atom: id,
                is_service: true,
            }));
            atoms.push((id, service_atom(z, s, name, zi, &namespaces, diags)));
        }
        services.sort_unstable();
        atoms.push((remainder, remainder_atom(z, zi, &namespaces)));
        let dns_written = zone_dns(z);
        let in_cluster =
            !namespaces.is_empty() || !z.decl.layout.claims.is_empty() || !z.decl.layout.ns_labels.is_empty();
        let dns = dns::zone_names(&z.name, z.kind, in_cluster, &dns_written, diags);
        dns_decls.push((z.name.as_str(), dns_written));
        zones.push(Zone {
            name: z.name.clone(),
            kind: z.kind,
            site,
            cidrs: nets,
            namespaces,
            cell: z.cell.as_ref().map(|c| c.cell.clone()),
            services,
            remainder,
            dns,
            cidr_ranges: range_ends(&z.decl.cidrs, &cidrs),
            span: z.decl.span,
        });
    }
    let dns_decls: Vec<(&str, &[_])> = dns_decls.iter().map(|(z, n)| (*z, n.as_slice())).collect();
    dns::unique_across_zones(&dns_decls, diags);
    atoms.sort_by_key(|(i, _)| *i);
    let mut atoms: Vec<Atom> = atoms.into_iter().map(|(_, a)| a).collect();
    let layout = layout::build(m, &zdefs, &zones, &atoms, diags);
    let external: Vec<bool> = zones.iter().map(|z| z.kind == ZoneKind::External).collect();
    let names: Vec<String> = zones.iter().map(|z| z.name.clone()).collect();
    let blocks: Vec<_> = m.cells.iter().filter_map(|c| c.block).collect();
    addresses::external_in_cells(&ranges, &external, &names, &blocks, diags);
    let nets: Vec<_> = blocks.iter().map(|(b, _)| *b).collect();
    let sets = addresses::atom_addresses(&ranges, &external, &names, &nets, atoms.len(), diags);
    for (a, s) in atoms.iter_mut().zip(sets) {
        a.addrs = s;
    }
    let (name, title) = match m.policy {
        Some(p) => (p.name.node.clone(), p.title.as_ref().map(|t| t.node.clone())),
        None => ("moat".to_string(), None),
    };
    Ir {
        name,
        title,
        sites,
        zones,
        atoms,
        allows: vec![],
        forbids: vec![],
        flows: BTreeMap::new(),
        layout,
    }
}

/// Every atom name (zone remainders and services), sorted: index = AtomId.
fn atom_names(zones: &[&ZoneDef]) -> Vec<(String, usize, Option<String>)> {
    let mut v = vec![];
    for (zi, z) in zones.iter().enumerate() {
        v.push((z.name.clone(), zi, None));
        for s in &z.decl.services {
            v.push((
                format!("{}.{}", z.name, s.name.node),
                zi,
                Some(s.name.node.clone()),
            ));
        }
    }
    v.sort();
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

/// The (first, last) addresses of each range literal among `lits`, from its prefixes in `nets`.
fn range_ends(
    lits: &[crate::span::Spanned<ast::AddrLit>],
    nets: &[(ipnet::IpNet, crate::span::Span)],
) -> Vec<(std::net::IpAddr, std::net::IpAddr)> {
    lits.iter()
        .filter(|l| ranges::is_range(&l.node.text))
        .filter_map(|l| {
            let mut of = nets.iter().filter(|(_, s)| *s == l.span).map(|(n, _)| n);
            let first = of.next()?;
            Some((first.network(), of.next_back().unwrap_or(first).broadcast()))
        })
        .collect()
}

/// The zone's DNS names as written (`{cell}` interpolated), with their spans.
fn zone_dns(z: &ZoneDef) -> Vec<(String, crate::span::Span)> {
    z.decl
        .dns
        .iter()
        .map(|n| (interp(z.cell.as_ref(), &n.node), n.span))
        .collect()
}

fn zone_cidrs(z: &ZoneDef, diags: &mut Vec<Diagnostic>) -> Vec<(ipnet::IpNet, crate::span::Span)> {
    addr_list(z, &z.decl.cidrs, diags)
}

/// Parses a list of addresses in a zone's context (E015, E016).
fn addr_list(
    z: &ZoneDef,
    lits: &[crate::span::Spanned<ast::AddrLit>],
    diags: &mut Vec<Diagnostic>,
) -> Vec<(ipnet::IpNet, crate::span::Span)> {
    let mut out = vec![];
    for lit in lits {
        if ranges::is_range(&lit.node.text) {
            range_lit(z, lit, &mut out, diags);
            continue;
        }
        let parsed = if lit.node.relative {
            match z.cell.as_ref().map(|c| c.block) {
                None => Err((
                    "E016",
                    format!(
                        "`+{}` is relative, but zone `{}` is not in a cells block",
                        lit.node.text, z.name
                    ),
                )),
                Some(None) => continue, // the block itself is invalid, already reported
                Some(Some(block)) => addresses::parse_relative(&lit.node.text, block),
            }
        } else {
            addresses::parse_net(&lit.node.text).map_err(|m| ("E015", m))
        };
        match parsed {
            Ok(net) => out.push((net, lit.span)),
            Err((code, msg)) => {
                let help = if code == "E016" {
                    "keep relative addresses inside the cell's block"
                } else {
                    "write an address such as `10.0.0.7`, or a CIDR with no host bits such as `10.0.0.0/16`"
                };
                diags.push(Diagnostic::error(code, lit.span, msg).with_help(help));
            }
        }
    }
    // A cells block repeats one declaration per cell: report each address error once.
    out
}

/// Appends the prefixes of one address range `FIRST-LAST` (E015, E016, E026, E027).
fn range_lit(
    z: &ZoneDef,
    lit: &crate::span::Spanned<ast::AddrLit>,
    out: &mut Vec<(ipnet::IpNet, crate::span::Span)>,
    diags: &mut Vec<Diagnostic>,
) {
    let block = match (lit.node.relative, z.cell.as_ref().map(|c| c.block)) {
        (false, _) => None,
        (true, Some(Some(block))) => Some(block),
        (true, Some(None)) => return, // the block itself is invalid, already reported
        (true, None) => {
            diags.push(
                Diagnostic::error(
                    "E016",
                    lit.span,
                    format!(
                        "`+{}` is relative, but zone `{}` is not in a cells block",
                        lit.node.text, z.name
                    ),
                )
                .with_help("keep relative addresses inside the cell's block"),
            );
            return;
        }
    };
    match ranges::parse_range(&lit.node.text, block, lit.span) {
        Ok(nets) => out.extend(nets.into_iter().map(|n| (n, lit.span))),
        Err(d) => diags.push(d),
    }
}

fn service_atom(
    z: &ZoneDef,
    s: &ast::ServiceDecl,
    name: String,
    zone: usize,
    zone_ns: &[String],
    diags: &mut Vec<Diagnostic>,
) -> Atom {
    let cell = z.cell.as_ref();
    let mut namespaces = vec![];
    for n in &s.namespaces {
        let ns = interp(cell, &n.node);
        if zone_ns.contains(&ns) {
            namespaces.push(ns);
        } else {
            let cands: Vec<&str> = zone_ns.iter().map(String::as_str).collect();
            let help = match crate::syntax::parse::closest(&ns, &cands) {
                Some(c) => format!("did you mean `{c}`?"),
                None if cands.is_empty() => format!(
                    "zone `{}` declares no namespace; add `namespace {ns}` to the zone",
                    z.name
                ),
                None => format!("the zone's namespaces are: {}", cands.join(", ")),
            };
            diags.push(
                Diagnostic::error(
                    "E002",
                    n.span,
                    format!("namespace `{ns}` is not one of zone `{}`'s", z.name),
                )
                .with_help(help),
            );
        }
    }
    if s.namespaces.is_empty() {
        namespaces = zone_ns.to_vec();
    }
    namespaces.sort();
    namespaces.dedup();
    if let Some(sa) = &s.service_account {
        mesh::check_service_account(&interp(cell, &sa.node), sa.span, diags);
    }
    for l in &s.pods {
        names::check_label(&l.node.key, &interp(cell, &l.node.value), l.span, diags);
    }
    let mut ports = BTreeMap::new();
    for p in &s.ports {
        match ports::declared_port(&p.spec) {
            Ok(set) => {
                ports.entry(p.name.node.clone()).or_insert(set);
            }
            Err(d) => diags.push(d),
        }
    }
    Atom {
        name,
        zone,
        service: Some(s.name.node.clone()),
        addrs: Default::default(),
        namespaces,
        pods: s
            .pods
            .iter()
            .map(|l| (l.node.key.clone(), interp(cell, &l.node.value)))
            .collect(),
        ports,
        resident: s.resident.is_some(),
        service_account: s.service_account.as_ref().map(|n| interp(cell, &n.node)),
        span: s.span,
    }
}

fn remainder_atom(z: &ZoneDef, zone: usize, namespaces: &[String]) -> Atom {
    Atom {
        name: z.name.clone(),
        zone,
        service: None,
        addrs: Default::default(),
        namespaces: {
            let mut n = namespaces.to_vec();
            n.sort();
            n.dedup();
            n
        },
        pods: BTreeMap::new(),
        ports: BTreeMap::new(),
        resident: false,
        service_account: None,
        span: z.decl.span,
    }
}
