//! The k8s target without external tools: diagnostics (E012, E013, E017,
//! W005), ports, names, determinism, and the CLI layout.

mod common;
mod k8s_support;

use moat::backend::{self, EmitOptions, Target};
use moat::diag::Diagnostic;
use moat::ir::Ir;

fn ir_of(text: &str) -> Ir {
    let c = moat::check_str("t.moat", text);
    c.ir.unwrap_or_else(|| panic!("policy does not check: {:#?}", c.diags))
}

fn emit_err(text: &str) -> Vec<Diagnostic> {
    match backend::emit(Target::K8s, &ir_of(text), &EmitOptions::default()) {
        Ok(a) => panic!("expected errors, got {} artefacts", a.len()),
        Err(d) => d,
    }
}

fn yaml(text: &str, ns: &str) -> String {
    let artefacts = k8s_support::emit(&ir_of(text));
    let path = format!("k8s/{ns}.yaml");
    artefacts
        .into_iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .contents
}

/// Line (1-based) of a diagnostic in `text`.
fn line(text: &str, d: &Diagnostic) -> usize {
    let s = d.span.expect("span");
    text[..s.start].matches('\n').count() + 1
}

const DNS: &str = "zone kube : militarised { namespace kube-system
  service dns { pods k8s-app=kube-dns port dns udp/53 } }
";

#[test]
fn icmp_on_a_pod_flow_is_e017_at_the_allow() {
    let text = format!(
        "{DNS}zone a : mz {{ namespace a service web {{ pods app=web port http tcp/80 }} }}
zone b : mz {{ namespace b }}
allow a.web -> b : icmp, tcp/443
allow a -> kube.dns : dns
"
    );
    let errs = emit_err(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].code, "E017");
    assert_eq!(line(&text, &errs[0]), 5);
    assert!(errs[0].message.contains("icmp"), "{}", errs[0].message);
}

#[test]
fn any_covers_icmp_without_error() {
    let text = "zone a : mz { namespace a }\nallow a -> a : any\n";
    let y = yaml(text, "a");
    assert!(!y.contains("ports:"), "any must leave ports out:\n{y}");
}

#[test]
fn pods_in_a_zone_without_namespace_is_e012() {
    let text = "zone a : mz { namespace a }
zone b : mz { cidr 10.2.0.0/16 service p { pods app=p hosts 10.2.0.1 port x tcp/1 } }
allow a -> b.p : x
";
    let errs = emit_err(text);
    assert!(
        errs.iter().all(|d| d.code == "E012") && !errs.is_empty(),
        "{errs:#?}"
    );
    assert!(errs[0].message.contains("no `namespace`"), "{}", errs[0].message);
    assert_eq!(line(text, &errs[0]), 3);
}

#[test]
fn endpoint_without_namespace_or_addresses_is_e012() {
    let text = "zone a : mz { namespace a }
zone b : mz { service p { pods app=p port x tcp/1 } }
allow a -> b.p : x
";
    let errs = emit_err(text);
    assert_eq!(errs.len(), 1, "one E012, not one per cause: {errs:#?}");
    assert_eq!(errs[0].code, "E012");
}

#[test]
fn w005_judges_each_cluster_on_its_own() {
    // `app` exists in both clusters; only cluster a's reaches a resolver. A
    // name-only check would take a's DNS flow for b's namespace too.
    let text = "site dc : onprem
cluster a @ dc
cluster b @ dc
zone kube-a : mz @ dc { cluster a  cidr 10.1.0.0/24  namespace kube-system  service dns { pods k8s-app=kube-dns hosts 10.1.0.10 port dns udp/53 } }
zone app-a : mz @ dc { cluster a  cidr 10.1.1.0/24  namespace app }
zone app-b : mz @ dc { cluster b  cidr 10.2.1.0/24  namespace app }
allow app-a -> kube-a.dns : dns
allow app-a -> app-b : tcp/80
";
    let ir = ir_of(text);
    let warned: Vec<String> = backend::k8s::warnings(&ir)
        .iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    assert!(
        warned
            .iter()
            .any(|w| w.starts_with("W005 cluster `b`, namespace `app`")),
        "{warned:#?}"
    );
    assert!(
        !warned.iter().any(|w| w.contains("cluster `a`, namespace `app`")),
        "{warned:#?}"
    );
}

#[test]
fn w005_when_a_namespace_reaches_no_port_53() {
    let text = format!(
        "{DNS}zone a : mz {{ namespace a }}
zone b : mz {{ namespace b }}
allow a -> kube.dns : dns
allow a -> b : tcp/80
"
    );
    let ir = ir_of(&text);
    let warned: Vec<String> = backend::k8s::warnings(&ir)
        .iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    assert!(
        warned.iter().any(|w| w.starts_with("W005") && w.contains("`b`")),
        "{warned:#?}"
    );
    assert!(
        !warned.iter().any(|w| w.contains("`kube-system`")),
        "the resolver's own namespace: {warned:#?}"
    );
    assert!(!warned.iter().any(|w| w.contains("`a`")), "{warned:#?}");
}

#[test]
fn ports_ranges_and_whole_protocols() {
    let text = "zone a : mz { namespace a }
zone b : mz { namespace b }
allow a -> b : tcp/8000-8100, udp/53, sctp, tcp/443
";
    let y = yaml(text, "a");
    for want in [
        "port: 443",
        "port: 8000\n      endPort: 8100",
        "protocol: UDP\n      port: 53",
        "- protocol: SCTP\n",
    ] {
        assert!(y.contains(want), "missing `{want}` in:\n{y}");
    }
}

#[test]
fn remainder_excludes_every_service_of_its_namespace() {
    let text = "zone a : mz { namespace a
  service x { pods app=api, tier=web port p tcp/1 }
  service y { pods app=db port p tcp/2 } }
zone b : mz { namespace b }
allow a -> b : tcp/9
allow a.x -> b : tcp/10
";
    let y = yaml(text, "a");
    // (app NotIn [api, db]) OR (app = api AND tier NotIn [web]).
    assert!(y.contains("values:\n      - api\n      - db"), "{y}");
    assert!(
        y.contains(
            "    matchLabels:\n      app: api\n    matchExpressions:\n    - key: tier\n      operator: NotIn"
        ),
        "{y}"
    );
    assert_eq!(y.matches("moat.io/atom: a (zone").count(), 2, "{y}");
}

#[test]
fn too_many_remainder_selectors_is_e013() {
    let mut text = String::from("zone a : mz { namespace a\n");
    for i in 0..6 {
        // Labels that share no key need 2^6 selectors.
        text.push_str(&format!(
            "  service s{i} {{ pods a{i}=x, b{i}=x port p tcp/{} }}\n",
            i + 1
        ));
    }
    text.push_str("}\nzone b : mz { namespace b }\nallow a -> b : tcp/9\n");
    let errs = emit_err(&text);
    assert!(
        errs.iter()
            .any(|d| d.code == "E013" && d.message.contains("selectors")),
        "{errs:#?}"
    );
}

#[test]
fn names_are_short_unique_dns_labels_and_output_is_deterministic() {
    let long = "a".repeat(70);
    let text = format!(
        "zone z : mz {{ namespace z service {long} {{ pods app=l port p tcp/1 }} service s_1 {{ pods app=s port p tcp/2 }} }}
allow z -> z : tcp/3
allow z.{long} -> z : tcp/4
"
    );
    let ir = ir_of(&text);
    let a = k8s_support::emit(&ir);
    assert_eq!(a, k8s_support::emit(&ir), "same input, same output");
    let y = &a[0].contents;
    let names: Vec<&str> = y.lines().filter_map(|l| l.strip_prefix("  name: ")).collect();
    assert_eq!(
        names.len(),
        5,
        "default deny, zone-wide, remainder and two services: {y}"
    );
    let mut uniq = names.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), names.len(), "{names:?}");
    for n in names {
        assert!(
            n.len() <= 63
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{n}"
        );
    }
}

#[test]
fn every_rule_has_peers_and_every_policy_cites_allows() {
    for seed in 0..30u64 {
        let ir = k8s_support::random::random_ir(seed);
        for a in k8s_support::emit(&ir) {
            let y = &a.contents;
            assert!(
                !y.contains("from: []") && !y.contains("to: []"),
                "seed {seed}:\n{y}"
            );
            let policies = y.matches("kind: NetworkPolicy").count();
            let cited = y.matches("moat.io/allows: ").count();
            assert_eq!(
                cited + 1,
                policies,
                "seed {seed}: every policy but the default deny cites allows:\n{y}"
            );
            assert!(y.starts_with("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: moat-default-deny\n"));
        }
    }
}

#[test]
fn compile_writes_one_file_per_namespace() {
    let dir = common::TempDir::new("k8s-cli");
    let src = dir.path().join("p.moat");
    std::fs::write(
        &src,
        format!(
            "{DNS}zone a : dmz {{ namespace a, a2 }}\nzone b : dmz {{ namespace b }}\nallow a -> kube.dns : dns\nallow b -> a : tcp/80\n"
        ),
    )
    .expect("write");
    let out = dir.path().join("out");
    let res = common::moat()
        .arg("compile")
        .arg(&src)
        .args(["--target", "k8s", "--out"])
        .arg(&out)
        .output()
        .expect("run moat");
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let mut files: Vec<String> = std::fs::read_dir(out.join("k8s"))
        .expect("k8s dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    // One file per namespace, and the table of where each rule comes from.
    assert_eq!(
        files,
        ["a.yaml", "a2.yaml", "b.yaml", "kube-system.yaml", "sources.tsv"]
    );
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(stderr.matches("W005").count(), 1, "{stderr}");
    assert!(
        stderr.contains("namespace `b`: egress"),
        "W005 for b only:\n{stderr}"
    );
}

#[test]
fn a_whole_zone_is_one_rule_with_every_pod_of_its_namespaces() {
    let text = "zone a : mz { namespace a, a2
  service x { pods app=api port p tcp/1 }
  service y { pods app=db port p tcp/2 } }
zone b : mz { namespace b }
allow a -> b : tcp/9
";
    let y = yaml(text, "b");
    let cite = moat::ir::cite("allow a -> b : tcp/9");
    assert!(
        y.contains(&format!("ingress from zone a (every member) tcp/9: {cite}")),
        "{y}"
    );
    let rule = "  - from:\n    - namespaceSelector:\n        matchExpressions:\n        - key: kubernetes.io/metadata.name\n          operator: In\n          values:\n          - a\n          - a2\n      podSelector: {}\n    ports:";
    assert!(y.contains(rule), "{y}");
    assert_eq!(y.matches("- from:").count(), 1, "{y}");
}

#[test]
fn a_shared_label_scheme_needs_one_selector_per_service() {
    let mut text = String::from("zone a : mz { namespace a\n");
    for i in 0..12 {
        text.push_str(&format!(
            "  service s{i} {{ pods app.kubernetes.io/name=s{i}, app.kubernetes.io/instance=s{i} port p tcp/{} }}\n",
            i + 1
        ));
    }
    text.push_str("}\nzone b : mz { namespace b }\nallow a -> b : tcp/9\nallow b -> a : tcp/9\nallow a.s0 -> b : tcp/10\n");
    let y = yaml(&text, "a");
    assert_eq!(y.matches("moat.io/atom: a (zone").count(), 13, "{y}");
}

#[test]
fn a_namespace_of_two_zones_is_e012() {
    let text = "zone a : mz { namespace shared }\nzone b : mz { namespace shared }\nallow a -> b : tcp/1\n";
    let errs = emit_err(text);
    assert!(
        errs.iter()
            .any(|d| d.code == "E012" && d.message.contains("`shared` belongs to zones")),
        "{errs:#?}"
    );
}

/// A label selector term, evaluated on a pod's labels.
fn term_matches(
    t: &moat::backend::k8s::select::PodTerm,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    t.equal.iter().all(|(k, v)| labels.get(k) == Some(v))
        && t.not_in
            .iter()
            .all(|(k, vs)| labels.get(k).is_none_or(|v| !vs.contains(v)))
}

/// Every atom's selectors pick exactly its pods among the topology's (plain,
/// near-miss and mixed pods), by the language's meaning: a remainder selector
/// catches no service's pod and misses none of its own.
#[test]
fn selectors_pick_exactly_the_atoms_pods() {
    let mut irs: Vec<Ir> = (0..40).map(k8s_support::random::random_ir).collect();
    for seed in 0..20 {
        irs.push(ir_of(&moat::gen::random_policy(
            seed,
            &moat::gen::GenOptions::default(),
        )));
    }
    let mut checked = 0;
    for (i, ir) in irs.iter().enumerate() {
        let pods = k8s_support::topology(ir);
        for (atom, a) in ir.atoms.iter().enumerate() {
            let groups = moat::backend::k8s::select::pod_groups(ir, atom).expect("few selectors");
            for p in &pods {
                let Some(owner) = k8s_support::owner(ir, a.zone, &p.namespace, &p.labels) else {
                    continue;
                };
                if ir.atoms[owner].zone != a.zone || !ir.zones[a.zone].namespaces.contains(&p.namespace) {
                    continue;
                }
                let picked = groups.iter().any(|g| {
                    g.namespaces.contains(&p.namespace) && g.terms.iter().any(|t| term_matches(t, &p.labels))
                });
                assert_eq!(
                    picked,
                    owner == atom,
                    "case {i}: {} selectors on pod {}/{} {:?} (owner {})",
                    a.name,
                    p.namespace,
                    p.name,
                    p.labels,
                    ir.atoms[owner].name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} checks");
}

/// The README example (docs/kubernetes.md).
const SHOP: &str = r#"policy shop
zone internet : external { cidr 0.0.0.0/0 }
zone kube : militarised { namespace kube-system
  service dns { pods k8s-app=kube-dns  port dns udp/53 } }
zone web : dmz { namespace web
  service front { pods app=front  port http tcp/8080 } }
zone data : mz { namespace data
  service pg { pods app=postgres  port pg tcp/5432 } }
allow internet  -> web.front : http  "public shop"
allow web.front -> data.pg   : pg
allow web, data -> kube.dns  : dns
"#;

#[test]
fn readme_example_snapshot() {
    let c = moat::check_str("shop.moat", SHOP);
    let ir = c.ir.unwrap_or_else(|| panic!("{:#?}", c.diags));
    let text: String = k8s_support::emit(&ir)
        .iter()
        .map(|a| format!("==> {} <==\n{}\n", a.path, a.contents))
        .collect();
    insta::assert_snapshot!("k8s_shop", text);
}

/// The namespaces' files are serialised on several threads when `compile`
/// has cores to spare: the output must not depend on how many.
#[test]
fn the_output_does_not_depend_on_the_number_of_threads() {
    let text = std::fs::read_to_string(common::root().join("policies/mosip.moat")).expect("mosip policy");
    let ir = ir_of(&text);
    let with = |threads: usize| {
        backend::emit(
            Target::K8s,
            &ir,
            &EmitOptions {
                threads,
                ..EmitOptions::default()
            },
        )
        .expect("emits")
    };
    let one = with(1);
    assert!(one.len() > 10, "{} files", one.len());
    for threads in [2, 3, 8] {
        assert_eq!(with(threads), one, "{threads} threads");
    }
}
