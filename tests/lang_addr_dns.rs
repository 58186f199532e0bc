//! Address ranges and DNS-name peers (issue 12 items 5 and 6) as a user sees
//! them: `fmt` keeps both, `check` warns (W011) about DNS zones in flows, the matrix and `query` treat a range as its exact
//! addresses and a DNS name as its zone, `audit` lists the names, and every
//! one of the six targets refuses a flow to a DNS-name zone with E017 (one per
//! allow, naming the target and why), writing nothing.

mod common;

use common::{moat, root};
use moat::backend::{self, EmitOptions, Target};

const DNS: &str = "fixtures/layouts/dns.moat";
const RANGES: &str = "fixtures/layouts/ranges.moat";

fn checked(path: &str) -> moat::Checked {
    let c = moat::check_paths(&moat::load::Disk, &[std::path::PathBuf::from(path)]);
    assert!(!c.has_errors(), "{path}: {:?}", c.diags);
    c
}

#[test]
fn every_target_refuses_dns_peers_with_e017() {
    let c = checked(DNS);
    let ir = c.ir.as_ref().expect("IR");
    let mut all = vec![];
    for t in Target::ALL {
        assert!(backend::in_scope(t, ir), "{} has no scope in {DNS}", t.as_str());
        let diags = backend::emit(t, ir, &EmitOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{} compiled a flow to a DNS name", t.as_str()));
        assert!(
            diags.iter().all(|d| d.code == "E017"),
            "{}: {diags:?}",
            t.as_str()
        );
        // netfilter and k8s: `prereg.ui -> google`; each cloud: `web, api, ops -> smtp`
        assert_eq!(diags.len(), 1, "{}: one E017 per allow: {diags:?}", t.as_str());
        for d in &diags {
            let text = format!("{} {}", d.message, d.notes.join(" "));
            assert!(text.contains(&format!("target {}", t.as_str())), "{text}");
            assert!(text.contains("DNS names"), "{text}");
            assert!(d.help.is_some(), "E017 without a fix: {d:?}");
        }
        all.extend(diags);
    }
    moat::diag::sort(&mut all);
    insta::assert_snapshot!(
        "dns_peers_e017",
        moat::diag::render_human(&all, &c.sources, false)
    );
}

#[test]
fn compile_writes_nothing_for_a_dns_peer() {
    let out = common::TempDir::new("dns-out");
    let dir = out.path().join("out");
    let o = moat()
        .current_dir(root())
        .args(["compile", DNS, "--target", "k8s", "--out"])
        .arg(&dir)
        .output()
        .expect("run moat");
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[E017]"));
    assert!(!dir.join("k8s").exists(), "artefacts written despite E017");
}

#[test]
fn query_audit_and_matrix_show_dns_zones() {
    let run = |args: &[&str]| {
        let o = moat().current_dir(root()).args(args).output().expect("run moat");
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (code, out) = run(&[
        "query",
        DNS,
        "--from",
        "10.2.0.10",
        "--to",
        "WWW.gstatic.com.",
        "--port",
        "tcp/443",
    ]);
    assert_eq!((code, out.lines().next()), (Some(0), Some("allow")), "{out}");
    assert!(out.contains("prereg.ui -> google"), "{out}");
    let (code, out) = run(&[
        "query",
        DNS,
        "--from",
        "prereg",
        "--to",
        "smtp.example.org",
        "--port",
        "tcp/587",
    ]);
    assert_eq!((code, out.lines().next()), (Some(1), Some("deny")), "{out}");
    let o = moat()
        .current_dir(root())
        .args(["check", "--format", "json", DNS])
        .output()
        .expect("run moat");
    let diags: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check --format json");
    let codes: Vec<&str> = diags
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(
        (o.status.code(), codes),
        (Some(0), vec!["W011", "W011"]),
        "check warns once per DNS zone"
    );
    let (_, out) = run(&["audit", DNS]);
    assert!(out.contains("dns www.google.com, www.gstatic.com"), "{out}");
    let (_, out) = run(&["graph", DNS, "--format", "mermaid"]);
    assert!(
        out.contains("google<br/>dns www.google.com, www.gstatic.com"),
        "{out}"
    );
    let (_, out) = run(&["matrix", DNS, "--format", "csv"]);
    assert!(out.contains("prereg.ui,google,tcp,443"), "{out}");
}

#[test]
fn a_range_is_its_exact_addresses_in_the_matrix_and_query() {
    let c = checked(RANGES);
    let ir = c.ir.expect("IR");
    let nfs = ir.atom_id("lan.nfs").expect("lan.nfs");
    let lan = ir.atom_id("lan").expect("lan");
    for (ip, atom) in [
        ("10.2.0.1", lan),
        ("10.2.0.2", nfs),
        ("10.2.0.51", nfs),
        ("10.2.0.52", lan),
        ("fd00:2::33", nfs),
        ("fd00:2::34", lan),
    ] {
        assert_eq!(ir.atom_for_ip(ip.parse().expect("ip")), Some(atom), "{ip}");
    }
    assert_eq!(
        ir.atom_for_ip("10.3.0.9".parse().expect("ip")),
        None,
        "office starts at .10"
    );
    let sum: u128 = ir.atoms[nfs]
        .addrs
        .family(false)
        .prefixes()
        .iter()
        .map(|n| 1u128 << (32 - n.prefix_len()))
        .sum();
    assert_eq!(sum, 50, "10.2.0.2-10.2.0.51 is 50 addresses");
    let o = moat()
        .current_dir(root())
        .args(["audit", RANGES])
        .output()
        .expect("run moat");
    let audit = String::from_utf8_lossy(&o.stdout);
    let office = audit.lines().find(|l| l.contains(" office ")).unwrap_or_default();
    assert!(
        office.contains("10.3.0.10-10.3.0.99") && !office.contains("/31"),
        "the audit shows the range as written: {office}"
    );
}

#[test]
fn fmt_keeps_ranges_and_dns_names() {
    let src = "zone g : external { dns \"a.example\" ,\"b.example\" }\nzone l : dmz { cidr 10.0.0.0/24\n  service s { hosts 10.0.0.2 - 10.0.0.9 port p tcp/1 } }\nallow l -> l.s : p\n";
    let out = moat::syntax::fmt::format(src).expect("formats");
    assert!(out.contains("dns \"a.example\", \"b.example\""), "{out}");
    assert!(out.contains("hosts 10.0.0.2-10.0.0.9"), "{out}");
    assert_eq!(moat::syntax::fmt::format(&out).expect("formats again"), out);
    for f in [DNS, RANGES] {
        let text = std::fs::read_to_string(root().join(f)).expect("read fixture");
        assert_eq!(
            moat::syntax::fmt::format(&text).expect("formats"),
            text,
            "{f} is not fmt-clean"
        );
    }
}

#[test]
fn ranges_and_names_in_cells_are_per_cell() {
    let text = r#"
cells cell[1..2] in 10.64.0.0/12 each /16 {
  zone lan : dmz { cidr +0.0.0.0/24
    service nfs { hosts +0.0.0.2-0.0.0.51 port nfs tcp/2049 } }
  zone mail : external { dns "smtp.{cell}.example.org" }
  allow lan -> lan.nfs : nfs
  allow lan.nfs -> mail : tcp/25
}
"#;
    let c = moat::check_str("cells.moat", text);
    let ir = c.ir.unwrap_or_else(|| panic!("{:?}", c.diags));
    let nfs2 = ir.atom_id("cell2.lan.nfs").expect("cell2.lan.nfs");
    for (ip, inside) in [
        ("10.65.0.2", true),
        ("10.65.0.51", true),
        ("10.65.0.52", false),
        ("10.64.0.2", false),
    ] {
        assert_eq!(
            ir.atoms[nfs2].addrs.contains(ip.parse().expect("ip")),
            inside,
            "{ip}"
        );
    }
    let mail2 = ir
        .zones
        .iter()
        .find(|z| z.name == "cell2.mail")
        .expect("cell2.mail");
    assert_eq!(mail2.dns, ["smtp.cell2.example.org"]);
    // a relative range leaving its cell, and a name repeated in every cell
    let bad = "cells cell[1..2] in 10.64.0.0/12 each /16 {\n  zone lan : dmz { cidr +0.0.0.0/24\n    service nfs { hosts +0.0.0.2-0.1.0.0 port nfs tcp/2049 } }\n  zone mail : external { dns \"smtp.example.org\" }\n  allow lan.nfs -> mail : tcp/25\n}\n";
    let codes: Vec<&str> = moat::check_str("bad.moat", bad)
        .diags
        .iter()
        .map(|d| d.code)
        .collect();
    assert!(codes.contains(&"E016") && codes.contains(&"E029"), "{codes:?}");
}

#[test]
fn odd_ranges_and_names_give_diagnostics_not_panics() {
    let cases: [(&str, &str); 10] = [
        ("hosts 10.0.0.1-", "E001"),
        ("hosts 10.0.0.1--10.0.0.2", "E001"),
        ("hosts 10.0.0.1-10.0.0.2-10.0.0.3", "E001"),
        ("hosts +0.0.0.1-0.0.0.2", "E016"),
        ("hosts 10.0.0.1-10.0.0.300", "E015"),
        ("hosts 10.0.0.0/8-10.0.0.1", "E027"),
        ("hosts ::-::", ""),
        ("hosts 0.0.0.0-255.255.255.255", ""),
        ("hosts ::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", ""),
        ("hosts 10.0.0.9 - 10.0.0.1", "E026"),
    ];
    for (stmt, code) in cases {
        let text = format!("zone z : dmz {{ cidr 0.0.0.0/0, ::/0 service s {{ {stmt} port p tcp/1 }} }}\nallow z -> z.s : p\n");
        let c = moat::check_str("odd.moat", &text);
        let codes: Vec<&str> = c.diags.iter().filter(|d| d.is_error()).map(|d| d.code).collect();
        if code.is_empty() {
            assert!(c.ir.is_some() && codes.is_empty(), "{stmt}: {codes:?}");
        } else {
            assert!(codes.contains(&code), "{stmt}: {codes:?}");
        }
    }
    for name in [
        "\u{202e}evil.example",
        "a\"b.example",
        "",
        ".",
        "*.*.example",
        "x.example..",
        "-.example",
    ] {
        let text = format!("zone g : external {{ dns \"{}\" }}\n", name.replace('"', "\\\""));
        let c = moat::check_str("odd.moat", &text);
        assert!(c.diags.iter().any(|d| d.is_error()), "{name:?} accepted");
    }
}

/// Random disjoint ranges as services of one zone: every address of the zone
/// belongs to the service whose range holds it, else to the zone's remainder,
/// and every target in scope compiles the policy.
#[test]
fn random_ranges_place_every_address_exactly() {
    let mut seed = 0x5eed_u64;
    let mut next = move |n: u32| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as u32) % n
    };
    for round in 0..20 {
        // cut 10.9.0.0/22 (1024 addresses) at random points into ranges
        let mut cuts: Vec<u32> = (0..6).map(|_| next(1024)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut spans = vec![];
        for w in cuts.windows(2) {
            if next(3) > 0 {
                spans.push((w[0], w[1] - 1)); // some gaps stay with the remainder
            }
        }
        let ip = |o: u32| std::net::Ipv4Addr::from(0x0a09_0000 + o);
        let mut text = String::from("zone z : dmz { cidr 10.9.0.0/22\n");
        for (i, (a, b)) in spans.iter().enumerate() {
            text.push_str(&format!(
                "  service s{i} {{ hosts {}-{} port p tcp/80 }}\n",
                ip(*a),
                ip(*b)
            ));
        }
        text.push_str("}\nzone c : mz { cidr 10.8.0.0/24 }\nallow c -> z : tcp/80\n");
        let c = moat::check_str("rand.moat", &text);
        let ir =
            c.ir.unwrap_or_else(|| panic!("round {round}: {:?}\n{text}", c.diags));
        for o in 0..1024 {
            let want = spans
                .iter()
                .position(|(a, b)| *a <= o && o <= *b)
                .map_or("z".to_string(), |i| format!("z.s{i}"));
            let got = ir
                .atom_for_ip(std::net::IpAddr::V4(ip(o)))
                .map(|a| ir.atoms[a].name.clone());
            assert_eq!(
                got.as_deref(),
                Some(want.as_str()),
                "round {round}, {}:\n{text}",
                ip(o)
            );
        }
        for t in [Target::Iptables, Target::Nftables] {
            assert!(
                backend::emit(t, &ir, &EmitOptions::default()).is_ok(),
                "{}:\n{text}",
                t.as_str()
            );
        }
    }
}
