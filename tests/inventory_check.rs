//! `--inventory`: the checks E020, W007, W008 on small policies and
//! inventories, including zones that share a namespace (`namespace NS pods
//! SEL`), and the audit's workload section.

use moat::inventory::{self, check};

/// The codes and messages of checking `policy` against `manifests`.
fn findings(policy: &str, manifests: &str) -> Vec<(String, String)> {
    let mut c = moat::check_str("p.moat", policy);
    assert!(!c.has_errors(), "policy errors: {:?}", c.diags);
    let ir = c.ir.take().expect("an IR");
    let inv = inventory::read_str(&mut c.sources, "inv.yaml", manifests).expect("inventory reads");
    let mut d = check::check(&ir, &inv);
    moat::diag::sort(&mut d);
    d.into_iter().map(|d| (d.code.to_string(), d.message)).collect()
}

fn deployment(ns: &str, name: &str, labels: &str, ports: &str) -> String {
    format!(
        "---\nkind: Deployment\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  template:\n    metadata: {{labels: {{{labels}}}}}\n    spec: {{containers: [{{name: c, ports: [{ports}]}}]}}\n"
    )
}

const SHARED: &str = "
zone dmz : demilitarised {
  namespace regproc pods stage=dmz
  service group1 { pods app=group1 port http tcp/8081 }
}
zone mz : militarised {
  namespace regproc pods stage=mz
  service group2 { pods app=group2 port http tcp/8090 }
}
allow dmz.group1 -> mz.group2 : http
";

#[test]
fn shared_namespaces_are_split_by_the_zones_selectors() {
    let inv = [
        deployment(
            "regproc",
            "group1",
            "app: group1, stage: dmz",
            "{containerPort: 8081}",
        ),
        deployment(
            "regproc",
            "group2",
            "app: group2, stage: mz",
            "{containerPort: 8090}",
        ),
        deployment("regproc", "camel", "app: camel, stage: dmz", ""),
        deployment("regproc", "stray", "app: stray", ""),
    ]
    .concat();
    let got = findings(SHARED, &inv);
    assert_eq!(
        got,
        vec![
            ("W008".into(), "Deployment `regproc/camel` is in no service of zone `dmz`: only the zone's own flows reach it".into()),
            ("W008".into(), "pods of namespace `regproc` are in no zone: no zone's selector there matches them, so their namespace's default deny isolates them".into()),
        ]
    );
}

#[test]
fn a_selector_of_the_wrong_zone_is_e020() {
    // group2's pods carry stage=dmz: they belong to dmz, so mz.group2 selects nothing
    let inv = [
        deployment("regproc", "group1", "app: group1, stage: dmz", ""),
        deployment("regproc", "group2", "app: group2, stage: dmz", ""),
    ]
    .concat();
    let got = findings(SHARED, &inv);
    assert_eq!(got.iter().filter(|(c, _)| c == "E020").count(), 1, "{got:?}");
    assert!(got[0].1.contains("mz.group2"), "{got:?}");
}

#[test]
fn named_ports_are_listed_and_declared_ports_count() {
    let policy = "
zone mz : militarised {
  namespace kafka
  service kafka { pods app=kafka port broker tcp/9092 port internal tcp/9093 }
  service ui { pods app=ui port http tcp/8080 }
}
allow mz.kafka -> mz.kafka : broker, internal
allow mz.ui -> mz.kafka : broker
";
    let inv = [
        deployment(
            "kafka",
            "kafka",
            "app: kafka",
            "{containerPort: 9092, name: kafka-client}",
        ),
        deployment("kafka", "ui", "app: ui", ""),
    ]
    .concat();
    let got = findings(policy, &inv);
    assert_eq!(
        got,
        vec![(
            "W007".into(),
            "port `internal` (tcp/9093) of service `mz.kafka` is no container port of the pods it selects"
                .into()
        )],
        "ui declares no ports: not judged"
    );
}

#[test]
fn workloads_map_to_atoms_for_the_audit() {
    let mut c = moat::check_str("p.moat", SHARED);
    let ir = c.ir.take().expect("an IR");
    let inv = inventory::read_str(
        &mut c.sources,
        "inv.yaml",
        &[
            deployment("regproc", "group1", "app: group1, stage: dmz", ""),
            deployment("elsewhere", "x", "app: x", ""),
        ]
        .concat(),
    )
    .expect("reads");
    let ws = moat::analysis::audit::workloads(&ir, &inv, &c.sources);
    assert_eq!(ws[0].atom.as_deref(), Some("dmz.group1"));
    assert_eq!(ws[0].outbound.len(), 1);
    assert_eq!(ws[0].outbound[0].to, "mz.group2");
    assert_eq!(ws[0].source, "inv.yaml:3");
    assert_eq!(ws[1].atom, None);
}
