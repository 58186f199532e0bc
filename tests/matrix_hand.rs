//! A hand-checked matrix: `fixtures/good/hand-matrix.moat` uses every port
//! form, named ports resolving per destination, zone and service endpoints,
//! zone remainders, cells with paired and one-sided `cell*`, and an external
//! zone carved out by the others. Its expected matrix below was derived by
//! hand from the policy (spec §3, §4), not copied from moat's output.

use moat::analysis::matrix::{rows, Row};
use moat::ir::Ir;
use std::net::IpAddr;
use std::path::PathBuf;

const FIXTURE: &str = "fixtures/good/hand-matrix.moat";

fn checked() -> moat::Checked {
    moat::check_paths(&moat::load::Disk, &[PathBuf::from(FIXTURE)])
}

fn ir() -> Ir {
    let c = checked();
    let errors: Vec<String> = c
        .diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    c.ir.expect("an IR")
}

/// (from, to, protocol, ports) with `-` for null ports.
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    // allow cell*.app.worker -> shared.hsm : pkcs11 (one-sided: every cell)
    ("cell1.app.worker", "shared.hsm", "tcp", "5666"),
    // allow cell*.edge.gw -> cell*.app.worker : http (paired, no cell1 -> cell2)
    ("cell1.edge.gw", "cell1.app.worker", "tcp", "8080"),
    ("cell2.app.worker", "shared.hsm", "tcp", "5666"),
    ("cell2.edge.gw", "cell2.app.worker", "tcp", "8080"),
    // allow dmz -> dmz.web : alt — the zone is its remainder and every service, web itself included
    ("dmz", "dmz.web", "tcp", "8000-8010"),
    ("dmz.api", "dmz.web", "tcp", "8000-8010"),
    // allow dmz.api -> mz.db : sig
    ("dmz.api", "mz.db", "sctp", "2905"),
    ("dmz.web", "dmz.web", "tcp", "8000-8010"),
    // allow dmz.web -> mz.db : pg, tcp/5432 (the same port twice: one entry)
    ("dmz.web", "mz.db", "tcp", "5432"),
    // allow internet -> cell*.edge.gw : http
    ("internet", "cell1.edge.gw", "tcp", "8080"),
    ("internet", "cell2.edge.gw", "tcp", "8080"),
    // allow internet -> dmz.web, dmz.api : http — 8083 on api, 8088 on web
    ("internet", "dmz.api", "tcp", "8083"),
    ("internet", "dmz.web", "tcp", "8088"),
    // allow mz.db -> ops : icmpv6, udp/53, udp/54-60 (adjacent ranges merge)
    ("mz.db", "ops", "icmpv6", "-"),
    ("mz.db", "ops", "udp", "53-60"),
    // allow ops -> mz : tcp/80, tcp/81-90, udp/1000-1010, udp/1005-1020, icmp
    // allow ops -> mz : tcp/91-95 — to the remainder and to the service
    ("ops", "mz", "icmp", "-"),
    ("ops", "mz", "tcp", "80-95"),
    ("ops", "mz", "udp", "1000-1020"),
    ("ops", "mz.db", "icmp", "-"),
    ("ops", "mz.db", "tcp", "80-95"),
    ("ops", "mz.db", "udp", "1000-1020"),
    // allow ops -> ops : any, and tcp/22 absorbed by it
    ("ops", "ops", "any", "-"),
    // allow ops -> shared : tcp — a bare protocol is 1-65535, not any
    ("ops", "shared", "tcp", "1-65535"),
    ("ops", "shared.hsm", "tcp", "1-65535"),
];

fn expected_rows() -> Vec<Row> {
    EXPECTED
        .iter()
        .map(|&(f, t, p, ports)| Row {
            from: f.into(),
            to: t.into(),
            protocol: p.into(),
            ports: (ports != "-").then(|| ports.to_string()),
        })
        .collect()
}

#[test]
fn the_matrix_is_the_hand_written_one() {
    let got = rows(&ir());
    let want = expected_rows();
    let show = |rs: &[Row]| {
        rs.iter()
            .map(|r| format!("{} {} {} {:?}", r.from, r.to, r.protocol, r.ports))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(got, want, "\ngot:\n{}\nwant:\n{}", show(&got), show(&want));
}

#[test]
fn the_only_finding_is_the_absorbed_allow() {
    let c = checked();
    let found: Vec<(String, usize)> = c
        .diags
        .iter()
        .map(|d| {
            (
                d.code.to_string(),
                d.span.map_or(0, |s| c.sources.file(s.file).line_col(s.start).0),
            )
        })
        .collect();
    assert_eq!(found, [("W002".to_string(), 45)]);
}

#[test]
fn flows_remember_the_allows_that_made_them() {
    let ir = ir();
    let locs = |from: &str, to: &str| -> Vec<String> {
        let key = (
            ir.atom_id(from).expect("from atom"),
            ir.atom_id(to).expect("to atom"),
        );
        let flow = ir
            .flows
            .get(&key)
            .unwrap_or_else(|| panic!("no flow {from} -> {to}"));
        flow.allow_ids()
            .into_iter()
            .map(|a| ir.allows[a].loc.clone())
            .collect()
    };
    let at = |lines: &[usize]| lines.iter().map(|l| format!("{FIXTURE}:{l}")).collect::<Vec<_>>();
    assert_eq!(locs("ops", "mz.db"), at(&[41, 42]));
    assert_eq!(locs("ops", "ops"), at(&[44, 45]));
    assert_eq!(locs("internet", "dmz.api"), at(&[37]));
    assert_eq!(locs("cell2.edge.gw", "cell2.app.worker"), at(&[47]));
    assert_eq!(locs("cell1.app.worker", "shared.hsm"), at(&[48]));
}

#[test]
fn atoms_are_every_service_and_every_zone_remainder() {
    let ir = ir();
    let names: Vec<&str> = ir.atoms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cell1.app",
            "cell1.app.worker",
            "cell1.edge",
            "cell1.edge.gw",
            "cell2.app",
            "cell2.app.worker",
            "cell2.edge",
            "cell2.edge.gw",
            "dmz",
            "dmz.api",
            "dmz.web",
            "internet",
            "mz",
            "mz.db",
            "ops",
            "shared",
            "shared.hsm",
        ]
    );
}

#[test]
fn addresses_land_in_the_most_specific_atom_and_internet_is_carved_out() {
    let ir = ir();
    let at = |ip: &str| -> Option<String> {
        let ip: IpAddr = ip.parse().expect("an address");
        ir.atom_for_ip(ip).map(|a| ir.atoms[a].name.clone())
    };
    let cases = [
        ("8.8.8.8", "internet"),
        ("10.9.255.255", "internet"),
        ("10.10.0.10", "dmz.web"),
        ("10.10.0.20", "dmz.api"),
        ("10.10.0.21", "dmz"),
        ("10.20.0.5", "mz.db"),
        ("10.20.200.1", "mz"),
        ("10.30.0.255", "ops"),
        ("10.30.1.0", "internet"),
        ("10.63.0.10", "shared.hsm"),
        // cell i owns the (i-1)-th /16 of 10.64.0.0/12: app the lower half, edge the upper
        ("10.64.0.10", "cell1.app.worker"),
        ("10.64.0.11", "cell1.app"),
        ("10.64.128.10", "cell1.edge.gw"),
        ("10.65.0.10", "cell2.app.worker"),
        ("10.65.200.1", "cell2.edge"),
    ];
    for (ip, atom) in cases {
        assert_eq!(at(ip).as_deref(), Some(atom), "{ip}");
    }
    // beyond the two cells the block still belongs to the cells as a whole
    // (the external zone's carve-out removes the whole block): nobody's
    assert_eq!(at("10.66.0.10"), None, "10.66.0.10 lies in the cells block");
    // each address is in exactly one atom
    for (ip, _) in cases {
        let ip: IpAddr = ip.parse().expect("an address");
        let holders: Vec<&str> = ir
            .atoms
            .iter()
            .filter(|a| a.addrs.contains(ip))
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(holders.len(), 1, "{ip} is in {holders:?}");
    }
    // the internet's exact prefixes overlap no other zone's range
    let internet = &ir.atoms[ir.atom_id("internet").expect("internet")];
    let others: Vec<ipnet::IpNet> = ir
        .zones
        .iter()
        .filter(|z| z.name != "internet")
        .flat_map(|z| z.cidrs.clone())
        .collect();
    assert_eq!(others.len(), 8);
    for p in internet.addrs.prefixes() {
        for o in &others {
            assert!(!moat::addr::overlaps(&p, o), "internet prefix {p} overlaps {o}");
        }
    }
}
