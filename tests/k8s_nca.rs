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
    let cases = (0..25u64).map(|seed| (format!("ir-seed-{seed}"), random_ir(seed))).collect();
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
    for seed in 0..24u64 {
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
