//! The netfilter targets enforced by the Linux kernel: every example policy
//! and 20 generated ones, each with its four rulesets (iptables and nftables,
//! gateway and host mode) loaded into a namespace lab and probed with real
//! TCP and UDP connections. Needs root, `ip`, `iptables-restore`, `nft` and
//! `python3`; skips with a reason otherwise (fails under MOAT_FULL_TESTS=1).

mod common;
mod netfilter_support;

use moat::backend::{self, Target};
use moat::gen::{random_policy, GenOptions};
use moat::ir::{Ir, SiteKind};
use netfilter_support::{check_policy, ir_of, lab_unavailable, Counts};

/// The example policies (`policies/`, `fixtures/good/`) that compile for netfilter
/// (a non-empty scope, no E012).
pub fn examples() -> Vec<(String, Ir)> {
    let mut paths = vec![];
    for dir in ["policies", "fixtures/good"] {
        let Ok(rd) = std::fs::read_dir(common::root().join(dir)) else { continue };
        paths.extend(rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "moat")));
    }
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let c = moat::check_paths(&moat::load::Disk, std::slice::from_ref(&p));
            let ir = c.ir?;
            let compiles = backend::in_scope(Target::Iptables, &ir)
                && backend::emit(Target::Iptables, &ir, &Default::default()).is_ok();
            compiles.then(|| (p.file_name().expect("name").to_string_lossy().into_owned(), ir))
        })
        .collect()
}

/// Small random policies: 3 zones, up to 2 services each, 6 allows; IPv6 on even
/// seeds, a cloud site on every third (so some flows leave netfilter's scope).
pub fn random_options(seed: u64) -> GenOptions {
    GenOptions {
        zones: 3,
        max_services: 2,
        allows: 6,
        ipv6: seed % 2 == 0,
        icmp: true,
        namespaces: false,
        sites: if seed % 3 == 0 { vec![SiteKind::Onprem, SiteKind::Aws] } else { vec![] },
        ..GenOptions::default()
    }
}

fn sum(v: &[Counts]) -> Counts {
    v.iter().fold(Counts::default(), |a, c| Counts { allowed: a.allowed + c.allowed, blocked: a.blocked + c.blocked })
}

#[test]
fn lab_example_policies() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let ex = examples();
    assert!(!ex.is_empty(), "no example policy with a netfilter scope");
    let counts: Vec<Counts> = ex.iter().map(|(name, ir)| check_policy(name, ir, 7, true)).collect();
    let t = sum(&counts);
    eprintln!("lab examples: {} policies, {} allowed probes connected, {} forbidden probes blocked", ex.len(), t.allowed, t.blocked);
    assert!(t.allowed > 0 && t.blocked > 0);
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
        workers.into_iter().flat_map(|w| w.join().expect("lab worker")).collect()
    });
    let t = sum(&counts);
    eprintln!("lab random: {SEEDS} policies, {} allowed probes connected, {} forbidden probes blocked", t.allowed, t.blocked);
    assert!(t.allowed > 0 && t.blocked > 0);
}
