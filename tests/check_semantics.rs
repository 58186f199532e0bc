//! The checks of spec §5 on small policies, beyond one fixture per code:
//! where each check fires and where it must not, exemptions, cell pairing,
//! interpolation, keywords as names. Includes the front-end bugs found while
//! writing the suite; they now guard the fixes.

use moat::Checked;

fn check(text: &str) -> Checked {
    moat::check_str("t.moat", text)
}

/// The diagnostics as (code, line), in order.
fn found(c: &Checked) -> Vec<(&'static str, usize)> {
    c.diags
        .iter()
        .map(|d| {
            (
                d.code,
                d.span.map_or(0, |s| c.sources.file(s.file).line_col(s.start).0),
            )
        })
        .collect()
}

fn codes(c: &Checked) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = c.diags.iter().map(|d| d.code).collect();
    v.sort_unstable();
    v
}

/// Three zones: an external one, a DMZ with a service, an MZ with two services.
const ZONES: &str = "zone i : external { cidr 0.0.0.0/0 }
zone a : dmz { cidr 10.1.0.0/16 service s { hosts 10.1.0.1 port p tcp/1-100 } }
zone b : mz { cidr 10.2.0.0/16 service t { hosts 10.2.0.1 port p tcp/50 } service u { hosts 10.2.0.2 port p tcp/60 } }
";

fn with_zones(rules: &str) -> Checked {
    check(&format!("{ZONES}{rules}"))
}

// ---- E007: allows against forbids -----------------------------------------

#[test]
fn e007_fires_when_only_part_of_an_allow_meets_a_forbid() {
    // a zone-wide range against one service and one port
    let c = with_zones("allow a -> b : tcp/1-100\nforbid a.s -> b.t : tcp/50\n");
    assert_eq!(found(&c), [("E007", 4)]);
    let d = &c.diags[0];
    assert_eq!(d.labels.len(), 1, "the forbid is pointed at");
    assert_eq!(
        c.sources.file(d.labels[0].0.file).line_col(d.labels[0].0.start).0,
        5
    );
}

#[test]
fn e007_does_not_fire_on_disjoint_ports_or_pairs() {
    let c = with_zones(
        "allow a -> b : tcp/1-49\nforbid a -> b : tcp/50-60\nallow i -> a.s : p\nforbid i -> a : udp/1-100\n",
    );
    assert!(!c.has_errors(), "{:?}", found(&c));
    let c = with_zones("allow a.s -> b.t : p\nforbid a -> b.u\n");
    assert!(!c.has_errors(), "{:?}", found(&c));
}

#[test]
fn e007_cannot_be_exempted() {
    let c = with_zones("allow a -> b : tcp/50 exempt \"waiver\"\nforbid a -> b\n");
    assert_eq!(codes(&c), ["E007", "W004"]);
}

#[test]
fn a_forbid_may_name_ports_the_destination_does_not_expose() {
    // A forbid is an invariant: "nobody reaches the database on ssh" is
    // meaningful exactly because the database does not expose ssh.
    let c = with_zones("allow a.s -> b.t : p\nforbid a -> b.t : tcp/22 \"no ssh\"\nforbid a -> b.u : icmp\n");
    let errors: Vec<_> = found(&c)
        .into_iter()
        .filter(|(code, _)| code.starts_with('E'))
        .collect();
    assert_eq!(
        errors,
        [],
        "{:?}",
        c.diags.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    assert!(c.ir.is_some());
}

// ---- E006, E010, E011 and their exemptions (W004) --------------------------

#[test]
fn crossings_fire_for_zones_and_services_in_both_directions() {
    let c = with_zones(
        "allow i -> b : tcp/80\nallow b.t -> i : tcp/443\nallow i -> a.s : p\nallow a.s -> b.t : p\n",
    );
    assert_eq!(found(&c), [("E006", 4), ("E006", 5)]);
}

#[test]
fn an_exemption_waives_a_crossing_and_is_reported() {
    let c = with_zones("allow i -> b.t : p exempt \"CAB-1\"\nallow a -> b.u : p\n");
    assert_eq!(found(&c), [("W004", 4)]);
    assert!(
        c.diags[0].notes.iter().any(|n| n.contains("E006")),
        "{:?}",
        c.diags[0].notes
    );
    assert!(c.ir.is_some());
    // an exemption that waives nothing is still reported
    let c = with_zones(
        "allow a.s -> b.t : p exempt \"not needed\"\nallow a -> b.u : p\nallow i -> a : tcp/443\n",
    );
    assert_eq!(found(&c), [("W004", 4)]);
}

const RESIDENT: &str = "site blr : onprem
site cloud : aws { region \"ap-south-1\" }
zone web : dmz @ cloud { cidr 10.10.0.0/16 }
zone api : dmz @ blr { cidr 10.11.0.0/16 }
zone data : mz @ blr { cidr 10.20.0.0/16 service db { hosts 10.20.0.5 port pg tcp/5432 resident } }
";

#[test]
fn residency_in_both_directions_and_its_exemption() {
    let c = check(&format!(
        "{RESIDENT}allow web -> data.db : pg\nallow data.db -> web : tcp/443\nallow api -> data.db : pg\n"
    ));
    assert_eq!(found(&c), [("E010", 6), ("E010", 7)]);
    let c = check(&format!(
        "{RESIDENT}allow web -> data.db : pg exempt \"DPA-7\"\nallow api -> data.db : pg\n"
    ));
    assert_eq!(codes(&c), ["W004"]);
    assert!(c.diags[0].notes.iter().any(|n| n.contains("E010")));
}

#[test]
fn a_resident_service_at_a_cloud_site_is_e010() {
    let zone = "site c : gcp\nzone x : mz @ c { cidr 10.0.0.0/16 service db { hosts 10.0.0.1 port p tcp/1 resident } }\n";
    assert_eq!(found(&check(zone)), [("E010", 2)]);
    // and a flow with it is a second finding, at the allow
    assert_eq!(
        found(&check(&format!("{zone}allow x -> x.db : p\n"))),
        [("E010", 2), ("E010", 3)]
    );
}

const CELLS: &str = "cells c[1..3] in 10.64.0.0/12 each /16 {
  zone a : mz { cidr +0.0.0.0/17 namespace \"{cell}-a\" service w { hosts +0.0.0.1 pods app=w port p tcp/1 } }
  zone e : dmz { cidr +0.0.128.0/17 service g { hosts +0.0.128.1 port p tcp/2 } }
  allow e.g -> a.w : p
}
cells d[1..2] in 10.80.0.0/12 each /16 { zone a : mz { cidr +0.0.0.0/16 service w { hosts +0.0.0.1 port p tcp/1 } } }
zone shared : mz { cidr 10.63.0.0/24 }
";

#[test]
fn cells_pair_up_only_when_both_sides_use_the_same_block() {
    // paired: no E011, and no cross-cell flow in the matrix
    let c = check(&format!(
        "{CELLS}allow c*.a.w -> c*.a : tcp/9\nallow d*.a -> shared : tcp/9\nallow shared -> d*.a.w : p\n"
    ));
    assert!(!c.has_errors(), "{:?}", found(&c));
    let ir = c.ir.expect("an IR");
    for &(f, t) in ir.flows.keys() {
        let (zf, zt) = (ir.zone_of(f), ir.zone_of(t));
        if let (Some(cf), Some(ct)) = (&zf.cell, &zt.cell) {
            assert_eq!(cf, ct, "{} -> {}", ir.atoms[f].name, ir.atoms[t].name);
        }
    }
    // the block's own allow is repeated in every cell
    for i in 1..=3 {
        assert!(ir.flows.contains_key(&(
            ir.atom_id(&format!("c{i}.e.g")).expect("g"),
            ir.atom_id(&format!("c{i}.a.w")).expect("w")
        )));
    }
    // different blocks, or one side naming a single cell: E011
    assert_eq!(
        codes(&check(&format!("{CELLS}allow c*.a.w -> d*.a.w : p\n"))),
        ["E011"]
    );
    assert_eq!(
        codes(&check(&format!("{CELLS}allow c*.a -> c2.a.w : p\n"))),
        ["E011"]
    );
    assert_eq!(
        codes(&check(&format!("{CELLS}allow c1.a -> c2.a.w : p\n"))),
        ["E011"]
    );
    // waived by an exemption
    assert_eq!(codes(&check(&format!("{CELLS}allow c1.a -> c2.a.w : p exempt \"migration\"\nallow c*.a -> shared : tcp/9\nallow d*.a -> shared : tcp/9\n"))), ["W004"]);
}

#[test]
fn cell_interpolation_and_relative_addresses() {
    let c = check(&format!(
        "{CELLS}allow c*.a -> shared : tcp/9\nallow d*.a -> shared : tcp/9\n"
    ));
    let ir = c.ir.expect("an IR");
    let w = &ir.atoms[ir.atom_id("c3.a.w").expect("c3.a.w")];
    assert_eq!(w.namespaces, ["c3-a"]);
    assert!(w.addrs.contains("10.66.0.1".parse().expect("ip")));
    let e = &ir.atoms[ir.atom_id("c2.e").expect("c2.e")];
    assert!(e.addrs.contains("10.65.200.1".parse().expect("ip")));
    assert!(!e.addrs.contains("10.65.0.200".parse().expect("ip")));
}

// ---- warnings -------------------------------------------------------------

#[test]
fn w002_reports_the_later_of_two_identical_allows_and_not_partial_overlaps() {
    let c =
        with_zones("allow i -> a.s : p\nallow a -> b.t : p\nallow a -> b.t : tcp/50\nallow a -> b.u : p\n");
    assert_eq!(found(&c), [("W002", 6)]);
    let c = with_zones("allow i -> a.s : tcp/1-60\nallow i -> a.s : tcp/50-100\nallow a -> b : tcp/50-60\n");
    assert_eq!(found(&c), []);
}

#[test]
fn w003_fires_for_the_cross_zone_part_of_an_allow_only() {
    assert_eq!(
        codes(&with_zones("allow i -> a.s : p\nallow a, b -> a : any\n")),
        ["W003"]
    );
    assert_eq!(
        codes(&with_zones(
            "allow i -> a.s : p\nallow a -> b.t : p\nallow b -> b.u : any\nallow a -> a : any\n"
        )),
        Vec::<&str>::new()
    );
}

#[test]
fn whole_policy_warnings_wait_for_errors_to_be_fixed() {
    // W001 (zone b unused) is not reported while there is an error; W003 is
    // about one allow, and is
    let c = with_zones("allow i -> a : any\nallow a -> nowhere : tcp/1\n");
    assert_eq!(codes(&c), ["E002", "W003"]);
    assert_eq!(codes(&with_zones("allow i -> a : any\n")), ["W001", "W003"]);
}

// ---- parsing oddities the spec allows ---------------------------------------

#[test]
fn keywords_are_names_where_a_name_is_expected() {
    let c = check(
        "site cloud : gcp { region \"asia-south1\" network \"vpc-1\" }
zone core : militarized @ cloud { namespace \"core-ns\", other
  service resident { pods app.kubernetes.io/name=\"resident\", tier=web port core tcp/8080 port allow tcp/9090 }
  service zone { pods app=zone namespace other port service udp/53 } }
zone edge : demilitarized { namespace edge }
allow edge -> core.resident : core, allow \"a \\\"quoted\\\" reason
spanning lines \\\\ ok\"
allow edge -> core.zone : service
",
    );
    assert_eq!(found(&c), []);
    let ir = c.ir.expect("an IR");
    assert_eq!(
        ir.allows[0].reason.as_deref(),
        Some("a \"quoted\" reason\nspanning lines \\ ok")
    );
    let r = &ir.atoms[ir.atom_id("core.resident").expect("core.resident")];
    assert_eq!(
        r.pods.get("app.kubernetes.io/name").map(String::as_str),
        Some("resident")
    );
    assert_eq!(r.namespaces, ["core-ns", "other"]);
    assert_eq!(
        ir.atoms[ir.atom_id("core.zone").expect("core.zone")].namespaces,
        ["other"]
    );
    let rows = moat::analysis::matrix::rows(&ir);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].ports.as_deref(), Some("8080,9090"));
}

#[test]
fn e001_reports_independent_errors_and_still_checks_the_rest() {
    // two syntax errors, and an unknown name in an intact statement between them
    let c = check("zone a : mz { cidr 10.0.0.0/8 }\nallow a -> : tcp/1\nallow a -> nowhere : tcp/1\nallow a a : tcp/1\n");
    let f = found(&c);
    assert_eq!(
        f.iter()
            .filter(|(code, _)| *code == "E001")
            .map(|(_, l)| *l)
            .collect::<Vec<_>>(),
        [2, 4]
    );
    assert!(c.ir.is_none());
}

#[test]
fn a_syntax_error_inside_a_zone_does_not_make_its_names_unknown() {
    let c = check(
        "zone mz : militarised { cidr 10.20.0.0/16
  service kernel { hosts 10.20.0.1 port api tcp/8080 }
  service broken { hosts 10.20.0.2 port api tcp/ }
}
allow mz -> mz.kernel : api
",
    );
    assert_eq!(
        found(&c),
        [("E001", 3)],
        "{:?}",
        c.diags.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
}

#[test]
fn hosts_partly_outside_their_zone_are_e005_only() {
    let c = check(
        "zone a : mz { cidr 10.0.0.0/25 service s { hosts 10.0.0.0/24 port p tcp/1 } }\nallow a -> a.s : p\n",
    );
    assert_eq!(
        codes(&c),
        ["E005"],
        "{:?}",
        c.diags.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
}

#[test]
fn hosts_outside_their_zone_that_meet_another_zone_are_both_e005_and_e004() {
    let c = check("zone a : mz { cidr 10.0.0.0/25 service s { hosts 10.0.0.200 port p tcp/1 } }\nzone b : mz { cidr 10.0.0.128/25 }\nallow b -> a.s : p\n");
    assert!(codes(&c).contains(&"E005"), "{:?}", found(&c));
}

#[test]
fn a_service_namespace_must_be_one_of_its_zones() {
    let c = check(
        "zone a : mz { namespace a service s { namespace b pods x=y port p tcp/1 } }\nallow a -> a.s : p\n",
    );
    assert_eq!(codes(&c), ["E002"]);
    let c = check("zone a : mz { namespace a, b service s { namespace b pods x=y port p tcp/1 } }\nallow a -> a.s : p\n");
    assert_eq!(found(&c), []);
    let ir = c.ir.expect("an IR");
    assert_eq!(ir.atoms[ir.atom_id("a.s").expect("a.s")].namespaces, ["b"]);
    assert_eq!(ir.atoms[ir.atom_id("a").expect("a")].namespaces, ["a", "b"]);
}

#[test]
fn inside_a_cell_names_resolve_to_the_cell_first_then_top_level() {
    let c = check(
        "zone mz : mz { cidr 10.0.0.0/16 }
zone shared : mz { cidr 10.1.0.0/16 }
cells c[1..2] in 10.64.0.0/12 each /16 {
  zone mz : mz { cidr +0.0.0.0/16 namespace \"{cell}-mz\"
    service w { pods app=\"{cell}-w\" hosts +0.0.0.5 port p tcp/1 } }
  allow mz -> shared : tcp/5
  allow shared -> mz.w : p
}
allow mz -> shared : tcp/6
",
    );
    assert_eq!(found(&c), []);
    let ir = c.ir.expect("an IR");
    let rows: Vec<String> = moat::analysis::matrix::rows(&ir)
        .iter()
        .map(|r| format!("{} {} {}", r.from, r.to, r.ports.as_deref().unwrap_or("-")))
        .collect();
    assert_eq!(
        rows,
        [
            "c1.mz shared 5",
            "c1.mz.w shared 5",
            "c2.mz shared 5",
            "c2.mz.w shared 5",
            "mz shared 6",
            "shared c1.mz.w 1",
            "shared c2.mz.w 1"
        ]
    );
    let w = &ir.atoms[ir.atom_id("c2.mz.w").expect("c2.mz.w")];
    assert_eq!(w.pods.get("app").map(String::as_str), Some("c2-w"));
    assert_eq!(w.namespaces, ["c2-mz"]);
}

#[test]
fn overlaps_are_reported_per_pair_of_zones() {
    let c = check("zone a : mz { cidr 10.0.0.0/8 }\nzone b : mz { cidr 10.1.0.0/16 }\nzone c : mz { cidr 10.1.2.0/24 }\n");
    assert_eq!(codes(&c), ["E004", "E004", "E004"]);
    // an external zone may hold others, even another external zone
    let c = check("zone i : external { cidr 0.0.0.0/0 }\nzone p : external { cidr 192.0.2.0/24 }\nzone d : dmz { cidr 10.0.0.0/16 }\nallow i, p -> d : tcp/443\n");
    assert_eq!(found(&c), []);
    let ir = c.ir.expect("an IR");
    assert_eq!(
        ir.atom_for_ip("192.0.2.7".parse().expect("ip"))
            .map(|a| ir.atoms[a].name.as_str()),
        Some("p")
    );
}
