//! The netfilter targets' output: snapshots of every ruleset of the example
//! policies, the tools' own checks (`iptables-restore --test`, `nft -c -f`) on
//! every emitted file, the file layout, determinism, scope errors, and the
//! nftables promise that the number of rules does not grow with the flows.

mod common;
mod netfilter_support;

use moat::backend::{self, EmitOptions, Target};
use moat::gen::random_policy;
use netfilter_support::lab::Lab;
use netfilter_support::{compile, examples, ir_of, lab_unavailable, names_policy, random_options, report};
use std::collections::BTreeMap;

/// The examples that get snapshots: `policies/` and the spec's own examples
/// (other fixtures come and go with the front end's tests; the lab runs them all).
fn snapshot_examples() -> Vec<(String, moat::ir::Ir)> {
    examples()
        .into_iter()
        .filter(|(p, _)| p.starts_with("policies/") || p.starts_with("fixtures/good/spec-"))
        .collect()
}

#[test]
fn snapshots_of_example_rulesets() {
    let ex = snapshot_examples();
    assert!(!ex.is_empty(), "no example policy with a netfilter scope");
    for (name, ir) in ex {
        let stem = std::path::Path::new(&name)
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        for (path, text) in compile(&ir, false) {
            let snap = format!("{stem}__{}", path.replace('/', "__"));
            insta::assert_snapshot!(snap, text);
        }
    }
}

#[test]
fn log_drops_adds_rate_limited_logging() {
    let (_, ir) = examples().into_iter().next().expect("an example");
    let arts = compile(&ir, true);
    let ipt = &arts["iptables/gateway.v4.rules"];
    assert!(
        ipt.contains(
            "-A moat-forward -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix \"moat FORWARD drop: \""
        ),
        "{ipt}"
    );
    let nft = &arts["nftables/gateway.nft"];
    assert!(
        nft.contains("limit rate 5/minute burst 10 packets log prefix \"moat forward drop: \""),
        "{nft}"
    );
    assert!(!compile(&ir, false)["nftables/gateway.nft"].contains(" log "));
}

/// Writes `files` into a temporary directory and runs the tools' checks on each,
/// inside a fresh network namespace; returns how many files were checked.
fn tool_check(files: &BTreeMap<String, String>, label: &str) -> usize {
    let dir = common::TempDir::new("netfilter-check");
    let lab = Lab::new(&[]);
    let mut n = 0;
    for (path, text) in files {
        let p = dir.path().join(path.replace('/', "_"));
        std::fs::write(&p, text).expect("write");
        let p = p.display().to_string();
        let argv: Vec<&str> = if path.ends_with(".v4.rules") {
            vec!["iptables-restore", "--test", &p]
        } else if path.ends_with(".v6.rules") {
            vec!["ip6tables-restore", "--test", &p]
        } else {
            vec!["nft", "-c", "-f", &p]
        };
        let out = in_ns(&lab.router, &argv);
        assert!(
            out.status.success(),
            "{label}: `{}` rejects {path}: {}\n{text}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        n += 1;
    }
    n
}

/// Runs `argv` inside network namespace `ns`.
fn in_ns(ns: &str, argv: &[&str]) -> std::process::Output {
    std::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .args(argv)
        .output()
        .expect("run in namespace")
}

#[test]
fn nft_file_reloads_over_a_previous_version_in_one_transaction() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let policy = |svc: &str| {
        let text = format!(
            "zone a : mz {{ cidr 10.1.0.0/24 service {svc} {{ hosts 10.1.0.5 port p tcp/80 }} }}\n\
             zone b : mz {{ cidr 10.2.0.0/24 }}\nallow b -> a.{svc} : p\n"
        );
        compile(&ir_of("r.moat", &text), false)["nftables/gateway.nft"].clone()
    };
    let dir = common::TempDir::new("netfilter-reload");
    let lab = Lab::new(&[]);
    let load = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        let out = in_ns(&lab.router, &["nft", "-f", &p.display().to_string()]);
        assert!(
            out.status.success(),
            "nft -f {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    load("old.nft", &policy("old"));
    load("old-again.nft", &policy("old"));
    load("new.nft", &policy("new"));
    let listed =
        String::from_utf8_lossy(&in_ns(&lab.router, &["nft", "list", "ruleset"]).stdout).into_owned();
    assert!(
        listed.contains("to a.new") && !listed.contains("a.old"),
        "{listed}"
    );
    assert_eq!(listed.matches("table inet moat").count(), 1, "{listed}");
    // A file that fails half-way changes nothing: the transaction is all or nothing.
    let broken = policy("newer").replace("policy drop;", "policy drop;\n\t\tno-such-statement");
    let p = dir.path().join("broken.nft");
    std::fs::write(&p, broken).expect("write");
    assert!(!in_ns(&lab.router, &["nft", "-f", &p.display().to_string()])
        .status
        .success());
    let after = String::from_utf8_lossy(&in_ns(&lab.router, &["nft", "list", "ruleset"]).stdout).into_owned();
    assert_eq!(after, listed);
}

#[test]
fn iptables_restore_noflush_replaces_a_previous_version() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let rules = |zone: &str| {
        let text = format!("zone {zone} : mz {{ cidr 10.1.0.0/24 }}\nzone b : mz {{ cidr 10.2.0.0/24 }}\nallow b -> {zone} : tcp/80\n");
        compile(&ir_of("r.moat", &text), false)["iptables/gateway.v4.rules"].clone()
    };
    let dir = common::TempDir::new("netfilter-restore");
    let lab = Lab::new(&[]);
    for (name, zone) in [("old.rules", "old"), ("new.rules", "new")] {
        let p = dir.path().join(name);
        std::fs::write(&p, rules(zone)).expect("write");
        let out = in_ns(
            &lab.router,
            &["iptables-restore", "--noflush", &p.display().to_string()],
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let saved =
        String::from_utf8_lossy(&in_ns(&lab.router, &["iptables-save", "-t", "filter"]).stdout).into_owned();
    // the entry chain now dispatches to the new pair only (the old pair's
    // chain stays behind, unreferenced: --noflush never deletes a chain)
    assert!(
        saved.contains("-j b>new") && !saved.contains("-j b>old"),
        "{saved}"
    );
    assert_eq!(
        saved
            .matches("-A moat-forward -m conntrack --ctstate INVALID -j DROP")
            .count(),
        1,
        "{saved}"
    );
    assert!(
        saved.contains("-A moat-forward -m comment --comment \"routed traffic no allow covers\" -j DROP"),
        "{saved}"
    );
}

#[test]
fn tools_accept_every_emitted_file() {
    if let Some(why) = lab_unavailable() {
        return common::skip(&why);
    }
    let mut n = 0;
    for (name, ir) in examples() {
        for log in [false, true] {
            n += tool_check(&compile(&ir, log), &name);
        }
    }
    for seed in 0..20 {
        let ir = ir_of(
            &format!("gen{seed}.moat"),
            &random_policy(seed, &random_options(seed)),
        );
        n += tool_check(&compile(&ir, seed % 2 == 1), &format!("gen{seed}"));
    }
    let names = ir_of("names.moat", &names_policy());
    let files = compile(&names, true);
    // 20 single ports and 3 ranges (26 slots): two multiport rules per address pair.
    assert!(files["iptables/gateway.v4.rules"]
        .contains("--dports 100,102,104,106,108,110,112,114,116,118,120,122,124,126,128 "));
    assert!(
        files["iptables/gateway.v4.rules"].contains(":zones1>0 - [0:0]"),
        "{}",
        files["iptables/gateway.v4.rules"]
    );
    n += tool_check(&files, "names.moat");
    report(&format!(
        "iptables-restore --test, ip6tables-restore --test and nft -c -f accepted {n} files"
    ));
    assert!(n > 40);
}

#[test]
fn layout_follows_the_spec() {
    let ir = ir_of(
        "layout.moat",
        "zone internet : external { cidr 0.0.0.0/0, ::/0 }\n\
         zone dmz : dmz { cidr 10.1.0.0/16, fd00:1::/64 service web { hosts 10.1.0.10, fd00:1::10 port https tcp/443 } }\n\
         cells cell[1..2] in 10.64.0.0/12 each /16 {\n\
           zone mz : mz { cidr +0.0.0.0/17 service api { hosts +0.0.0.5 port http tcp/8080 } }\n\
         }\n\
         allow internet -> dmz.web : https\n\
         allow dmz.web -> cell*.mz.api : http\n",
    );
    let paths: Vec<String> = compile(&ir, false).into_keys().collect();
    assert_eq!(
        paths,
        [
            "iptables/gateway.v4.rules",
            "iptables/gateway.v6.rules",
            "iptables/host-cell1.mz.v4.rules",
            "iptables/host-cell2.mz.v4.rules",
            "iptables/host-dmz.v4.rules",
            "iptables/host-dmz.v6.rules",
            "nftables/gateway.nft",
            "nftables/host-cell1.mz.nft",
            "nftables/host-cell2.mz.nft",
            "nftables/host-dmz.nft",
        ]
    );
}

#[test]
fn output_is_deterministic() {
    for seed in 0..10 {
        let text = random_policy(seed, &random_options(seed));
        let a = compile(&ir_of("a.moat", &text), true);
        let b = compile(&ir_of("a.moat", &text), true);
        assert_eq!(a, b, "seed {seed}");
    }
}

/// Counts the rules (non-declaration lines) inside the chains of an nft file.
fn nft_rules(text: &str) -> usize {
    let mut in_chain = false;
    let mut n = 0;
    for line in text.lines().map(str::trim) {
        if line.starts_with("chain ") {
            in_chain = true;
        } else if line == "}" {
            in_chain = false;
        } else if in_chain && !line.starts_with("type ") {
            n += 1;
        }
    }
    n
}

#[test]
fn nft_rules_do_not_grow_with_flows() {
    let policy = |allows: usize| {
        let mut s = String::from("zone a : mz { cidr 10.1.0.0/24 }\nzone b : mz { cidr 10.2.0.0/24 }\n");
        for i in 0..allows {
            s.push_str(&format!(
                "allow a -> b : tcp/{}, udp/{}-{}\n",
                1000 + 10 * i,
                2000 + 10 * i,
                2005 + 10 * i
            ));
        }
        let arts =
            backend::emit(Target::Nftables, &ir_of("g.moat", &s), &EmitOptions::default()).expect("compiles");
        let gw = arts
            .into_iter()
            .find(|a| a.path == "nftables/gateway.nft")
            .expect("gateway");
        (
            nft_rules(&gw.contents),
            gw.contents.matches(" comment \"to b: ").count(),
        )
    };
    let (one, one_elems) = policy(1);
    let (many, many_elems) = policy(30);
    assert_eq!(one, many, "rules grew with the flows");
    assert_eq!(
        (one_elems, many_elems),
        (2, 60),
        "every port range is one set element"
    );
}

#[test]
fn carve_outs_stay_compact() {
    // internet = ::/0 minus three /64s, each zone's remainder a /64 minus one host:
    // as prefix lists that would expand to about 12,000 ip6tables rules.
    let ir = ir_of(
        "carve.moat",
        "zone internet : external { cidr 0.0.0.0/0, ::/0 }\n\
         zone dmz : dmz { cidr 10.1.0.0/24, fd00:1::/64 service web { hosts 10.1.0.10, fd00:1::10 port https tcp/443 } }\n\
         zone mz : mz { cidr 10.2.0.0/24, fd00:2::/64 service db { hosts fd00:2::5 port pg tcp/5432 } }\n\
         zone ops : mz { cidr 10.3.0.0/24, fd00:3::/64 }\n\
         allow internet -> dmz : tcp/80, tcp/443\nallow dmz -> mz : tcp/22\nallow ops -> mz : tcp/22\n",
    );
    let arts = compile(&ir, false);
    let v6 = &arts["iptables/gateway.v6.rules"];
    let rules = v6.lines().filter(|l| l.starts_with("-A ")).count();
    assert!(rules < 40, "{rules} rules:\n{v6}");
    assert!(
        v6.contains("-m iprange --src-range ::-fd00:0:ffff:ffff:ffff:ffff:ffff:ffff"),
        "{v6}"
    );
    assert!(arts["nftables/gateway.nft"].contains("fd00:1:0:1::-fd00:1:ffff:ffff:ffff:ffff:ffff:ffff,"));
}

#[test]
fn iptables_remainders_cost_one_rule_per_match() {
    // Each zone's remainder is its /22 minus a service host: two ranges. Matched
    // by address, remainder -> remainder took four `-m iprange` rules; classified
    // (the jump brings dmz -> mz packets, the services RETURN first) it takes one
    // rule without addresses.
    let ir = ir_of(
        "classify.moat",
        "zone dmz : dmz { cidr 10.1.0.0/22 service web { hosts 10.1.0.10 port https tcp/443 } }\n\
         zone mz : mz { cidr 10.2.0.0/22 service db { hosts 10.2.0.20 port pg tcp/5432 } }\n\
         allow dmz -> mz : tcp/22\n",
    );
    let arts = compile(&ir, false);
    let v4 = &arts["iptables/gateway.v4.rules"];
    let rules: Vec<&str> = v4.lines().filter(|l| l.starts_with("-A dmz>mz ")).collect();
    let accepts: Vec<&str> = rules
        .iter()
        .copied()
        .filter(|l| l.ends_with("-j ACCEPT"))
        .collect();
    assert_eq!(accepts.len(), 4, "one rule per atom pair:\n{v4}");
    assert!(!v4.contains("iprange"), "{v4}");
    assert!(
        accepts
            .iter()
            .any(|l| l
                .starts_with("-A dmz>mz -p tcp --dport 22 -m comment --comment \"dmz -> mz tcp/22: allow#")),
        "{v4}"
    );
    // the services leave before the remainders' rules: web as a source, db as a destination twice
    let returns: Vec<&str> = rules
        .iter()
        .copied()
        .filter(|l| l.ends_with("-j RETURN"))
        .collect();
    assert_eq!(
        returns,
        [
            "-A dmz>mz -s 10.1.0.10/32 -d 10.2.0.20/32 -m comment --comment \"mz.db is not mz's remainder\" -j RETURN",
            "-A dmz>mz -s 10.1.0.10/32 -m comment --comment \"dmz.web is not dmz's remainder\" -j RETURN",
            "-A dmz>mz -d 10.2.0.20/32 -m comment --comment \"mz.db is not mz's remainder\" -j RETURN",
        ],
        "{v4}"
    );
    assert!(
        v4.contains("-A moat-forward -s 10.1.0.0/22 -d 10.2.0.0/22 -m comment"),
        "{v4}"
    );
}

#[test]
fn addressless_peer_is_e012_and_namespace_only_flows_are_out_of_scope() {
    let ir = ir_of(
        "scope.moat",
        "zone a : mz { cidr 10.1.0.0/24 }\n\
         zone b : mz { namespace b }\n\
         zone c : mz { namespace c }\n\
         allow b -> c : tcp/80\n",
    );
    let ok = compile(&ir, false);
    assert_eq!(
        ok.keys().collect::<Vec<_>>(),
        ["iptables/host-a.v4.rules", "nftables/host-a.nft"]
    );
    assert!(
        ok.values()
            .all(|t| !t.contains("b>c") && !t.contains("_c ") && t.contains("0 allowed flow(s)")),
        "{ok:#?}"
    );
    let bad = ir_of(
        "scope.moat",
        "zone a : mz { cidr 10.1.0.0/24 }\nzone b : mz { namespace b }\nallow a -> b : tcp/80\n",
    );
    for t in [Target::Iptables, Target::Nftables] {
        let errs = backend::emit(t, &bad, &EmitOptions::default()).expect_err("b has no addresses");
        assert!(
            errs.iter().all(|d| d.code == "E012") && !errs.is_empty(),
            "{errs:#?}"
        );
    }
}

#[test]
fn cli_writes_both_targets() {
    let out = common::TempDir::new("netfilter-cli");
    let status = common::moat()
        .args([
            "compile",
            "fixtures/good/spec-example.moat",
            "--target",
            "iptables,nftables",
            "--log-drops",
            "--out",
        ])
        .arg(out.path())
        .current_dir(common::root())
        .status()
        .expect("run moat");
    assert!(status.success());
    for f in [
        "iptables/gateway.v4.rules",
        "iptables/host-mz.v4.rules",
        "nftables/gateway.nft",
        "nftables/host-mz.nft",
    ] {
        let text = std::fs::read_to_string(out.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(
            text.contains("policy `mosip`") && text.contains("allow#"),
            "{f}:\n{text}"
        );
    }
    // The citations resolve to the policy's lines in each target's sources table.
    for t in ["iptables", "nftables"] {
        let table = std::fs::read_to_string(out.path().join(t).join("sources.tsv")).expect("sources.tsv");
        assert!(table.contains("fixtures/good/spec-example.moat:"), "{table}");
    }
}
