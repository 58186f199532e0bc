//! The netfilter targets enforced by the Linux kernel: every example policy
//! and 20 generated ones, each with its four rulesets (iptables and nftables,
//! gateway and host mode) loaded into a namespace lab and probed with real
//! TCP and UDP connections. Needs root, `ip`, `iptables-restore`, `nft` and
//! `python3`; skips with a reason otherwise (fails under MOAT_FULL_TESTS=1).

mod common;
mod netfilter_support;

use moat::backend::{self, Target};
use moat::gen::random_policy;
use moat::ports::Proto;
use netfilter_support::{
    check_policy, compile, examples, ir_of, lab_unavailable, names_policy, random_options, report, run_lab,
    Counts, Plan, Probe, TWIN,
};
use std::net::{Ipv4Addr, Ipv6Addr};

fn sum(v: &[Counts]) -> Counts {
    v.iter().fold(Counts::default(), |a, c| Counts {
        allowed: a.allowed + c.allowed,
        blocked: a.blocked + c.blocked,
    })
}

#[test]
fn lab_example_policies() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let ex = examples();
    assert!(!ex.is_empty(), "no example policy with a netfilter scope");
    let counts: Vec<Counts> = ex
        .iter()
        .map(|(name, ir)| check_policy(name, ir, 7, true))
        .collect();
    let t = sum(&counts);
    report(&format!(
        "lab examples: {} policies, {} allowed probes connected, {} forbidden probes blocked",
        ex.len(),
        t.allowed,
        t.blocked
    ));
    assert!(t.allowed > 0 && t.blocked > 0);
}

#[test]
fn lab_odd_names_and_many_ports() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let t = check_policy("names", &ir_of("names.moat", &names_policy()), 3, false);
    assert!(t.allowed >= 4 * 46 && t.blocked > 0, "{t:?}");
}

#[test]
fn lab_random_policies() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    const SEEDS: u64 = 20;
    // The lab mostly waits (probe timeouts), so more workers than cores pay off.
    const WORKERS: u64 = 4;
    let counts: Vec<Counts> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                s.spawn(move || {
                    (0..SEEDS)
                        .filter(|seed| seed % WORKERS == w)
                        .map(|seed| {
                            let text = random_policy(seed, &random_options(seed));
                            let ir = ir_of(&format!("gen{seed}.moat"), &text);
                            if !backend::in_scope(Target::Iptables, &ir) {
                                panic!("seed {seed}: no netfilter scope:\n{text}");
                            }
                            check_policy(&format!("gen{seed}"), &ir, seed, seed % 2 == 1)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("lab worker"))
            .collect()
    });
    let t = sum(&counts);
    report(&format!(
        "lab random: {SEEDS} policies, {} allowed probes connected, {} forbidden probes blocked",
        t.allowed, t.blocked
    ));
    assert!(t.allowed > 0 && t.blocked > 0);
}

/// Address ranges are enforced exactly (issue 12 item 5): in both families,
/// hosts at both ends of a range and one inside it connect, both ways, and hosts just outside it
/// (one below the first address, one above the last, in the same zone) are
/// blocked, by all four rulesets. Lab hosts are keyed by atom id, plus
/// `2 * TWIN` (and `4 * TWIN`) for a zone's further hosts.
#[test]
fn lab_address_ranges() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let ir = ir_of(
        "ranges.moat",
        "zone lan : dmz { cidr 10.2.0.0/24, fd00:2::/64\n\
           service nfs { hosts 10.2.0.2-10.2.0.51, fd00:2::2-fd00:2::33 port nfs tcp/2049 } }\n\
         zone office : mz { cidr 10.3.0.10-10.3.0.99, fd00:3::10-fd00:3::99 }\n\
         allow office -> lan.nfs : nfs\n\
         allow lan.nfs -> office : tcp/22\n",
    );
    let id = |n: &str| ir.atom_id(n).expect("atom");
    let (lan, nfs, office) = (id("lan"), id("lan.nfs"), id("office"));
    let second = |a: usize| a + 2 * TWIN;
    let host = |key: usize, v4: &str, v6: &str| {
        let v4: Ipv4Addr = v4.parse().expect("v4");
        let v6: Ipv6Addr = v6.parse().expect("v6");
        (key, Some(v4), Some(v6))
    };
    let hosts = vec![
        host(office, "10.3.0.10", "fd00:3::10"),
        host(second(office), "10.3.0.99", "fd00:3::99"),
        host(nfs, "10.2.0.2", "fd00:2::2"),
        host(second(nfs), "10.2.0.51", "fd00:2::33"),
        host(nfs + 4 * TWIN, "10.2.0.27", "fd00:2::1a"),
        host(lan, "10.2.0.1", "fd00:2::1"),
        host(second(lan), "10.2.0.52", "fd00:2::34"),
    ];
    let probes = |from: &[usize], to: &[usize], port: u16| {
        let mut v = vec![];
        for (&f, &t, v6) in from
            .iter()
            .flat_map(|f| to.iter().flat_map(move |t| [(f, t, false), (f, t, true)]))
        {
            v.push(Probe {
                from: f,
                to: t,
                v6,
                proto: Proto::Tcp,
                port,
            });
        }
        v
    };
    let (offices, ends, outside) = (
        [office, second(office)],
        [nfs, second(nfs), nfs + 4 * TWIN],
        [lan, second(lan)],
    );
    let mut allowed = probes(&offices, &ends, 2049);
    allowed.extend(probes(&ends, &offices, 22));
    let mut forbidden = probes(&offices, &outside, 2049);
    forbidden.extend(probes(&outside, &offices, 22));
    let plan = Plan {
        hosts,
        allowed,
        forbidden_gateway: forbidden.clone(),
        forbidden_host: forbidden,
        unprobed: 0,
    };
    let arts = compile(&ir, false);
    let nft = &arts["nftables/gateway.nft"];
    assert!(
        nft.contains("10.2.0.2-10.2.0.51") && nft.contains("fd00:3::10-fd00:3::99"),
        "{nft}"
    );
    let ipt = &arts["iptables/gateway.v4.rules"];
    assert!(ipt.contains("--dst-range 10.2.0.2-10.2.0.51"), "{ipt}");
    let counts = run_lab("ranges", &ir, &arts, &plan);
    let t = sum(&counts.iter().map(|(_, c)| *c).collect::<Vec<_>>());
    report(&format!(
        "lab ranges: {} probes at the ends and the middle of ranges connected, {} just outside blocked over 4 rulesets",
        t.allowed, t.blocked
    ));
    assert_eq!((t.allowed, t.blocked), (4 * 24, 4 * 16));
}

/// Runs `argv` in network namespace `ns` and returns its standard output.
fn output_in(ns: &str, argv: &[&str]) -> String {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .args(argv)
        .output()
        .expect("run nsenter");
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The gateway rulesets manage only their own chains (iptables) or table
/// (nftables): loaded twice on a firewall that has its own hardening, as
/// docs/netfilter.md says, they keep its INPUT rule and policy, and the
/// FORWARD jump is there once.
#[test]
fn lab_gateway_rulesets_keep_the_firewalls_own_rules() {
    use netfilter_support::{lab::Lab, load_commands, Setup};
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let text =
        std::fs::read_to_string(common::root().join("fixtures/good/spec-example.moat")).expect("fixture");
    let arts = netfilter_support::compile(&ir_of("spec-example.moat", &text), false);
    let dir = common::TempDir::new("nf-keep");
    for (path, contents) in &arts {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, contents).expect("write artefact");
    }
    let lab = Lab::new(&[(0, Some("10.10.0.10".parse().expect("ip")), None)]);
    let ns = lab.router.clone();
    let sh = |cmd: &str| netfilter_support::lab::in_ns(&ns, &cmd.split(' ').collect::<Vec<_>>());
    // iptables: the firewall's own hardening, then the gateway file, twice
    sh("iptables -A INPUT -p tcp --dport 2222 -m comment --comment hardening -j DROP");
    sh("iptables -P INPUT DROP");
    let file = dir.path().join("iptables/gateway.v4.rules");
    for _ in 0..2 {
        for (i, c) in load_commands(Setup::IptablesGateway, "iptables-restore", &file)
            .iter()
            .enumerate()
        {
            // the FORWARD jump is installed once, as the file's header says
            if i == 0 || !output_in(&ns, &["iptables", "-S", "FORWARD"]).contains("-j moat-forward") {
                sh(c);
            }
        }
    }
    let saved = output_in(&ns, &["iptables-save", "-t", "filter"]);
    assert!(
        saved.contains(":INPUT DROP"),
        "the INPUT policy was reset:\n{saved}"
    );
    assert!(
        saved.contains("-A INPUT -p tcp -m tcp --dport 2222 -m comment --comment hardening -j DROP"),
        "{saved}"
    );
    assert_eq!(saved.matches("-A FORWARD -j moat-forward").count(), 1, "{saved}");
    assert_eq!(
        saved
            .matches("-A moat-forward -m conntrack --ctstate INVALID -j DROP")
            .count(),
        1,
        "reloaded, not appended:\n{saved}"
    );
    // nftables: another table survives loading table inet moat, twice
    sh("nft add table inet hardening");
    sh("nft add chain inet hardening input { type filter hook input priority 0 ; policy drop ; }");
    sh("nft add rule inet hardening input tcp dport 22 accept");
    let nft = dir.path().join("nftables/gateway.nft");
    for _ in 0..2 {
        sh(&format!("nft -f {}", nft.display()));
    }
    let ruleset = output_in(&ns, &["nft", "list", "ruleset"]);
    assert!(
        ruleset.contains("table inet hardening") && ruleset.contains("tcp dport 22 accept"),
        "{ruleset}"
    );
    assert!(ruleset.contains("table inet moat"), "{ruleset}");
    assert!(
        output_in(&ns, &["iptables-save", "-t", "filter"]).contains("--comment hardening"),
        "nft -f wiped the iptables rules"
    );
}

/// A cells block belongs to its cells as a whole (issue 17): `internet`
/// carves out the whole block, so addresses of the block that no zone claims
/// (between a cell's zones, and past the last cell) reach no cell, while
/// `internet` still reaches every cell's gateway, by all four rulesets.
#[test]
fn lab_cells_block_unclaimed_addresses_reach_nothing() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let ir = ir_of(
        "cells.moat",
        "zone internet : external { cidr 0.0.0.0/0 }\n\
         cells c[1..3] in 10.0.0.0/8 each /20 {\n\
           zone edge : demilitarised { cidr +0.0.0.0/22\n\
             service gw { hosts +0.0.0.10 port http tcp/8080 } }\n\
           zone app : militarised { cidr +0.0.8.0/22\n\
             service db { hosts +0.0.8.20 port pg tcp/5432 } }\n\
           allow edge.gw -> app.db : pg\n\
         }\n\
         allow internet -> c*.edge.gw : http\n",
    );
    let id = |n: &str| ir.atom_id(n).expect("atom");
    let (internet, gw1, gw3, db1) = (
        id("internet"),
        id("c1.edge.gw"),
        id("c3.edge.gw"),
        id("c1.app.db"),
    );
    // Unclaimed hosts sit with `internet`'s key (no host ruleset of their own).
    let (between, past) = (internet + 2 * TWIN, internet + 4 * TWIN);
    let host = |key: usize, v4: &str| (key, Some(v4.parse::<Ipv4Addr>().expect("v4")), None);
    let hosts = vec![
        host(internet, "192.0.2.1"),
        host(between, "10.0.4.5"),
        host(past, "10.0.48.5"),
        host(gw1, "10.0.0.10"),
        host(gw3, "10.0.32.10"),
        host(db1, "10.0.8.20"),
    ];
    let probe = |from: usize, to: usize, port: u16| Probe {
        from,
        to,
        v6: false,
        proto: Proto::Tcp,
        port,
    };
    let allowed = vec![
        probe(internet, gw1, 8080),
        probe(internet, gw3, 8080),
        probe(gw1, db1, 5432),
    ];
    let forbidden = vec![
        probe(between, gw1, 8080),
        probe(between, gw3, 8080),
        probe(past, gw1, 8080),
        probe(past, gw3, 8080),
        probe(between, db1, 5432),
        probe(internet, db1, 5432),
    ];
    let plan = Plan {
        hosts,
        allowed,
        forbidden_gateway: forbidden.clone(),
        forbidden_host: forbidden,
        unprobed: 0,
    };
    let arts = compile(&ir, false);
    let counts = run_lab("cells", &ir, &arts, &plan);
    let t = sum(&counts.iter().map(|(_, c)| *c).collect::<Vec<_>>());
    report(&format!(
        "lab cells: {} allowed probes connected, {} forbidden ones (mostly from unclaimed block addresses) blocked over 4 rulesets",
        t.allowed, t.blocked
    ));
    assert_eq!((t.allowed, t.blocked), (4 * 3, 4 * 6));
}
