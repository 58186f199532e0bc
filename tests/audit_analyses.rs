//! The diff, graph and audit analyses on hand-built IRs (independent of the
//! front end): each small edit gives exactly the rows a reviewer expects.

mod audit_support;

use audit_support::{tcp, IrBuilder};
use moat::analysis::diff::{self, Flag};
use moat::analysis::{audit, graph, matrix};
use moat::ir::{Ir, ZoneKind::*};
use moat::ports::PortSet;

/// The spec's example with the militarised zone called `mz` and its database
/// service `db` at `db_host`.
fn example(mz: &str, db: &str, db_host: &str) -> IrBuilder {
    let (kernel, database) = (format!("{mz}.kernel"), format!("{mz}.{db}"));
    IrBuilder::default()
        .zone("internet", External, Some("0.0.0.0/0"), &[])
        .zone("dmz", Demilitarised, Some("10.10.0.0/16"), &["dmz"])
        .zone(mz, Militarised, Some("10.20.0.0/16"), &["mz"])
        .service(
            "dmz",
            "ingress",
            Some("10.10.0.10/32"),
            &[("app", "ingress")],
            false,
        )
        .service(mz, "kernel", Some("10.20.1.0/24"), &[("app", "kernel")], false)
        .service(mz, db, Some(db_host), &[("app", "postgres")], true)
        .allow("internet", "dmz.ingress", tcp(443, 443), None)
        .allow("dmz.ingress", &kernel, tcp(8080, 8080), None)
        .allow(&kernel, &database, tcp(5432, 5432), None)
}

fn base() -> IrBuilder {
    example("mz", "postgres", "10.20.5.10/32")
}

/// `(sign, from, to, "proto/ports")` of every changed row.
fn changes(d: &diff::Diff) -> Vec<(char, String, String, String)> {
    let f = |s: char, r: &diff::DiffRow| (s, r.row.from.clone(), r.row.to.clone(), diff::row_text(&r.row));
    d.added
        .iter()
        .map(|r| f('+', r))
        .chain(d.removed.iter().map(|r| f('-', r)))
        .collect()
}

fn c(s: char, f: &str, t: &str, p: &str) -> (char, String, String, String) {
    (s, f.into(), t.into(), p.into())
}

#[test]
fn same_policy_is_no_change() {
    let d = diff::diff(&base().build(), &base().build());
    assert!(d.is_empty());
    assert!(diff::to_text(&d).starts_with("no change"));
}

#[test]
fn adding_a_port_adds_only_that_port_and_flags_the_crossing() {
    let new = base()
        .allow("dmz.ingress", "mz.kernel", tcp(8443, 8443), None)
        .build();
    let d = diff::diff(&base().build(), &new);
    assert_eq!(changes(&d), vec![c('+', "dmz.ingress", "mz.kernel", "tcp/8443")]);
    assert_eq!(d.added[0].flags, vec![Flag::IntoMilitarised]);
    assert_eq!(d.added[0].allows, vec!["t.moat:4".to_string()]);
}

#[test]
fn widening_a_range_adds_the_difference() {
    let old = base()
        .allow("dmz.ingress", "mz.kernel", tcp(9000, 9010), None)
        .build();
    let new = base()
        .allow("dmz.ingress", "mz.kernel", tcp(9000, 9020), None)
        .build();
    let d = diff::diff(&old, &new);
    assert_eq!(
        changes(&d),
        vec![c('+', "dmz.ingress", "mz.kernel", "tcp/9011-9020")]
    );
}

#[test]
fn removing_a_service_removes_its_flows() {
    let old = base().build();
    let new = IrBuilder::default()
        .zone("internet", External, Some("0.0.0.0/0"), &[])
        .zone("dmz", Demilitarised, Some("10.10.0.0/16"), &["dmz"])
        .zone("mz", Militarised, Some("10.20.0.0/16"), &["mz"])
        .service(
            "dmz",
            "ingress",
            Some("10.10.0.10/32"),
            &[("app", "ingress")],
            false,
        )
        .service("mz", "kernel", Some("10.20.1.0/24"), &[("app", "kernel")], false)
        .allow("internet", "dmz.ingress", tcp(443, 443), None)
        .allow("dmz.ingress", "mz.kernel", tcp(8080, 8080), None)
        .build();
    let d = diff::diff(&old, &new);
    assert_eq!(changes(&d), vec![c('-', "mz.kernel", "mz.postgres", "tcp/5432")]);
    assert!(d.removed[0].flags.is_empty(), "inside one zone: no crossing");
}

#[test]
fn a_new_zone_with_an_external_flow_is_flagged() {
    let new = base()
        .zone("partners", External, Some("198.51.100.0/24"), &[])
        .allow("partners", "mz.kernel", tcp(8080, 8080), Some("ida partners"))
        .build();
    let d = diff::diff(&base().build(), &new);
    assert_eq!(changes(&d), vec![c('+', "partners", "mz.kernel", "tcp/8080")]);
    assert_eq!(d.added[0].flags, vec![Flag::IntoMilitarised, Flag::FromExternal]);
    assert!(diff::summary(&d).contains("1 opens a path into a militarised zone"));
}

#[test]
fn a_rename_with_identical_addresses_is_no_change() {
    let renamed = example("core", "db", "10.20.5.10/32").build();
    let d = diff::diff(&base().build(), &renamed);
    assert!(d.is_empty(), "{}", diff::to_text(&d));
    assert_eq!(
        d.renamed,
        vec![
            ("mz".into(), "core".into()),
            ("mz.kernel".into(), "core.kernel".into()),
            ("mz.postgres".into(), "core.db".into())
        ]
    );
}

#[test]
fn a_rename_that_also_moves_addresses_is_a_change() {
    let moved = example("mz", "db", "10.20.5.11/32").build();
    let d = diff::diff(&base().build(), &moved);
    assert!(d.renamed.is_empty());
    assert_eq!(
        changes(&d),
        vec![
            c('+', "mz.kernel", "mz.db", "tcp/5432"),
            c('-', "mz.kernel", "mz.postgres", "tcp/5432")
        ]
    );
}

fn roundtrip(a: &Ir, b: &Ir) {
    let d = diff::diff(a, b);
    let applied = diff::apply(&diff::named_matrix(&matrix::rows(a)), &d);
    assert_eq!(applied, diff::named_matrix(&matrix::rows(b)));
    let back = diff::diff(b, a);
    let rows = |v: &[diff::DiffRow]| v.iter().map(|r| r.row.clone()).collect::<Vec<_>>();
    assert_eq!(rows(&back.added), rows(&d.removed));
    assert_eq!(rows(&back.removed), rows(&d.added));
}

#[test]
fn any_minus_a_port_round_trips() {
    let a = base()
        .allow("mz.kernel", "dmz.ingress", PortSet::any(), None)
        .build();
    let b = base()
        .allow(
            "mz.kernel",
            "dmz.ingress",
            PortSet::any().subtract(&tcp(22, 22)),
            None,
        )
        .build();
    let d = diff::diff(&a, &b);
    assert_eq!(changes(&d), vec![c('-', "mz.kernel", "dmz.ingress", "tcp/22")]);
    roundtrip(&a, &b);
    roundtrip(&b, &a);
}

#[test]
fn markdown_has_summary_table_and_mermaid() {
    let new = base()
        .allow("internet", "mz.kernel", tcp(8080, 8080), Some("pilot"))
        .build();
    let md = diff::to_markdown(&diff::diff(&base().build(), &new), &base().build(), &new);
    assert!(md.contains("| added | `internet` | `mz.kernel` | `tcp/8080` | **into-militarised** **from-external** | t.moat:4 |"), "{md}");
    assert!(md.contains("```mermaid\nflowchart LR\n"));
    assert!(md.contains("==>|\"+ tcp/8080\"|"));
}

#[test]
fn audit_lists_exemptions_any_crossings_residents_and_proves_forbids() {
    let mut ir = base()
        .allow(
            "internet",
            "mz.kernel",
            tcp(8080, 8080),
            Some("pilot, expires 2027"),
        )
        .allow("dmz", "mz", PortSet::any(), None)
        .build();
    let id = |n: &str| ir.atom_id(n).expect("atom");
    let (dmz, pg, kernel) = (id("dmz.ingress"), id("mz.postgres"), id("mz.kernel"));
    ir.forbids.push(moat::ir::Forbid {
        span: Default::default(),
        loc: "t.moat:9".into(),
        cite: String::new(),
        reason: Some("only the kernel talks to the database".into()),
        pairs: vec![(dmz, pg, PortSet::any()), (dmz, kernel, tcp(5432, 5432))],
    });
    let r = audit::report(&ir);
    assert_eq!(r.exemptions.len(), 1);
    assert_eq!(r.exemptions[0].waiver, "pilot, expires 2027");
    assert_eq!(
        r.any_port_crossings
            .iter()
            .map(|p| (p.from.as_str(), p.to.as_str()))
            .collect::<Vec<_>>(),
        vec![("dmz", "mz")]
    );
    assert_eq!(r.resident_services[0].service, "mz.postgres");
    assert_eq!(r.resident_services[0].reached_by[0].from, "mz.kernel");
    let f = &r.forbids[0];
    assert!(f.holds);
    assert_eq!(f.pairs_checked, 2);
    assert_eq!(
        f.pairs_with_flows.len(),
        1,
        "dmz.ingress -> mz.kernel carries tcp/8080"
    );
    let text = audit::to_doc(&r, false);
    assert!(text.contains("holds"), "{text}");
    let md = audit::to_doc(&r, true);
    assert!(md.contains("## Exemptions (W004)"));
}

#[test]
fn graph_styles_kinds_and_highlights_exemptions() {
    let ir = base()
        .allow("internet", "mz.kernel", tcp(8080, 8080), Some("pilot"))
        .build();
    let dot = graph::to_dot(&ir);
    assert!(dot.contains("subgraph cluster_"));
    assert!(
        dot.contains("\"internet\" -> \"mz.kernel\" [label=\"tcp/8080\\nexempt\", color=\"#d00000\""),
        "{dot}"
    );
    assert!(dot.contains("peripheries=2"), "resident service marked");
    let mm = graph::to_mermaid(&ir);
    assert!(mm.contains("linkStyle"));
}

#[test]
fn graphviz_accepts_the_dot() {
    #[path = "common/mod.rs"]
    mod common;
    if let Some(why) = common::missing_tool("dot") {
        return common::skip(&why);
    }
    let ir = base()
        .allow(
            "internet",
            "mz.kernel",
            tcp(8080, 8080),
            Some("a \"quoted\" waiver"),
        )
        .build();
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run dot");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(graph::to_dot(&ir).as_bytes())
        .expect("write dot");
    let out = child.wait_with_output().expect("dot output");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

#[test]
fn a_zone_of_another_kind_is_a_change_even_with_the_same_flows() {
    let old = base().build();
    let mut new = base().build();
    let dmz = new.zones.iter().position(|z| z.name == "dmz").expect("dmz");
    new.zones[dmz].kind = Militarised;
    let d = diff::diff(&old, &new);
    assert!(d.added.is_empty() && d.removed.is_empty());
    assert_eq!(
        d.reclassified,
        vec![("dmz".to_string(), Demilitarised, Militarised)]
    );
    assert!(!d.is_empty());
    assert!(diff::to_text(&d).contains("zone dmz is now militarised (was demilitarised)"));
}

#[test]
fn graph_draws_a_fan_over_a_whole_zone_once() {
    // Every member of dmz (ingress and the rest) -> mz.postgres on one port:
    // one edge out of the dmz cluster. mz.kernel -> every member of mz: a note.
    let ir = base()
        .allow("dmz.ingress", "mz.postgres", tcp(9000, 9000), None)
        .allow("dmz", "mz.postgres", tcp(9000, 9000), None)
        .allow("internet", "mz", tcp(7000, 7000), None)
        .allow("internet", "mz.postgres", tcp(7000, 7000), None)
        .allow("internet", "mz.kernel", tcp(7000, 7000), None)
        .build();
    let dot = graph::to_dot(&ir);
    assert!(dot.contains("compound=true"));
    assert!(
        dot.contains("\"dmz.ingress\" -> \"mz.postgres\" [label=\"tcp/9000\", ltail=cluster_0];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"internet\" -> \"mz.kernel\" [label=\"tcp/7000\", lhead=cluster_2];"),
        "{dot}"
    );
    assert_eq!(
        dot.matches("-> \"mz.postgres\"").count(),
        2,
        "the dmz fan once, plus kernel -> postgres: {dot}"
    );
}
