//! The netfilter targets enforced by the Linux kernel: every example policy
//! and 20 generated ones, each with its four rulesets (iptables and nftables,
//! gateway and host mode) loaded into a namespace lab and probed with real
//! TCP and UDP connections. Needs root, `ip`, `iptables-restore`, `nft` and
//! `python3`; skips with a reason otherwise (fails under MOAT_FULL_TESTS=1).

mod common;
mod netfilter_support;

use moat::backend::{self, Target};
use moat::gen::random_policy;
use netfilter_support::{
    check_policy, examples, ir_of, lab_unavailable, names_policy, random_options, report, Counts,
};

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
