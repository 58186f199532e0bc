//! The k8s target proved by IBM's network-config-analyzer: for random
//! policies and the example policies, nca's connectivity over a topology of
//! one pod per service (plus remainder pods) equals moat's matrix.

mod common;
mod k8s_support;

use k8s_support::random::random_ir;

/// Random policies built as IR (independent of the parser).
#[test]
fn random_ir_policies_match_nca() {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let cases = (0..20u64).map(|seed| (format!("ir-seed-{seed}"), random_ir(seed))).collect();
    let failures = k8s_support::prove_all(cases);
    assert!(failures.is_empty(), "nca disagrees with moat:\n{}", failures.join("\n"));
}

#[test]
#[ignore]
fn debug_dump() {
    let seed: u64 = std::env::var("SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let ir = random_ir(seed);
    for a in k8s_support::emit(&ir) {
        println!("==> {} <==\n{}", a.path, a.contents);
    }
    let pods = k8s_support::topology(&ir);
    let tmp = common::TempDir::new("dbg");
    let input = tmp.path().join("in");
    k8s_support::write(&input, &k8s_support::emit(&ir));
    std::fs::write(input.join("topology.yaml"), k8s_support::topology_yaml(&ir, &pods)).expect("w");
    for l in k8s_support::run_nca(tmp.path()) {
        println!("{l:?}");
    }
    for ((f, t), fl) in &ir.flows {
        println!("{} -> {}: {}", ir.atoms[*f].name, ir.atoms[*t].name, fl.ports);
    }
}

/// Random policies from `moat::gen`, through the parser and checker.
#[test]
fn generated_policies_match_nca() {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let mut cases = vec![];
    for seed in 0..20u64 {
        let o = moat::gen::GenOptions { zones: 3 + (seed % 2) as usize, ipv6: seed % 3 == 0, ..Default::default() };
        let text = moat::gen::random_policy(seed, &o);
        let c = moat::check_str("gen.moat", &text);
        let ir = c.ir.unwrap_or_else(|| panic!("seed {seed} does not check: {:#?}\n{text}", c.diags));
        assert!(!ir.flows.is_empty(), "seed {seed}: no flows");
        cases.push((format!("gen-seed-{seed}"), ir));
    }
    let failures = k8s_support::prove_all(cases);
    assert!(failures.is_empty(), "nca disagrees with moat:\n{}", failures.join("\n"));
}

/// Mixed label schemes in one namespace, own namespaces, hosts-only services,
/// an external zone and an address-only zone, through the parser.
const MIXED: &str = r#"
policy mixed
zone internet : external { cidr 0.0.0.0/0, ::/0 }
zone kube : militarised { namespace kube-system
  service dns { pods k8s-app=kube-dns port dns udp/53 port dnstcp tcp/53 } }
zone a : dmz { cidr 10.1.0.0/16, fd00:1::/64  namespace a, a2
  service x { pods app=x, tier=web  hosts 10.1.0.10  port https tcp/8443 }
  service n { pods app.kubernetes.io/name=n, app.kubernetes.io/instance=n  port api tcp/8080 }
  service m { namespace a2  pods app=m  port api tcp/9000-9010 }
  service vm { hosts 10.1.0.20, fd00:1::20  port ssh tcp/22 }
}
zone b : mz { namespace b
  service q { pods app=q, app.kubernetes.io/name=n  port pg tcp/5432 port s sctp/3868 } }
zone legacy : mz { cidr 10.9.0.0/16  service db { hosts 10.9.0.5 port ora tcp/1521 } }
allow internet -> a.x : https
allow a -> kube.dns : dns, dnstcp
allow b -> kube.dns : dns
allow a.x -> a.n : api
allow a -> b.q : pg
allow a.n -> b.q : s
allow b -> a : tcp/7000-7100, udp/7000
allow a.vm -> a.m : api
allow b.q -> legacy.db : ora
allow a -> a : tcp/1
"#;

#[test]
fn mixed_label_schemes_match_nca() {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let c = moat::check_str("mixed.moat", MIXED);
    let ir = c.ir.unwrap_or_else(|| panic!("{:#?}", c.diags));
    let diffs = k8s_support::prove(&ir, "k8s-mixed");
    assert!(diffs.is_empty(), "nca disagrees with moat:\n{}", diffs.join("\n"));
}
