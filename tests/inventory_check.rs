//! `--inventory`: the checks E020, W007, W008 on small policies and
//! inventories, including zones that share a namespace (`namespace NS pods
//! SEL`), the audit's workload section, and inventories per cluster
//! (`--inventory CLUSTER=PATH`).

mod common;

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

/// Two clusters, each with its own `kube-system`; `kernel` only on-prem.
const TWO_CLUSTERS: &str = "
site dc : onprem
site aws : aws { region \"ap-south-1\"  vpc \"vpc-0a1b2c3d4e5f60789\" }
cluster onprem @ dc
cluster cloud @ aws
zone kube-dc : militarised @ dc { namespace kube-system
  service dns { pods k8s-app=kube-dns port dns udp/53 } }
zone kube-aws : militarised @ aws { namespace kube-system
  service dns { pods k8s-app=kube-dns port dns udp/53 } }
zone mz : militarised @ dc { namespace kernel
  service auth { pods app=auth port http tcp/9191 } }
zone front : dmz @ aws { namespace kernel
  service auth { pods app=auth port http tcp/9191 } }
allow mz.auth -> kube-dc.dns : dns
allow front.auth -> kube-aws.dns : dns
allow front.auth -> mz.auth : http
";

/// `moat check` of `policy` with `--inventory ARG` for each of `args`
/// (`{dir}` is the temp dir holding `onprem.yaml` and `cloud.yaml`): exit code and stderr.
fn check_clusters(policy: &str, args: &[&str]) -> (i32, String) {
    let dir = common::TempDir::new("inv-clusters");
    let dns = deployment(
        "kube-system",
        "coredns",
        "k8s-app: kube-dns",
        "{containerPort: 53, protocol: UDP}",
    );
    let auth = deployment("kernel", "authmanager", "app: auth", "{containerPort: 9191}");
    let extra = deployment("kube-system", "metrics-server", "k8s-app: metrics-server", "");
    std::fs::write(dir.path().join("onprem.yaml"), [dns.clone(), auth].concat()).expect("write");
    std::fs::write(dir.path().join("cloud.yaml"), [dns, extra].concat()).expect("write");
    std::fs::write(dir.path().join("p.moat"), policy).expect("write");
    let mut cmd = common::moat();
    cmd.arg("check").arg(dir.path().join("p.moat"));
    for a in args {
        cmd.arg("--inventory")
            .arg(a.replace("{dir}", &dir.path().display().to_string()));
    }
    let out = cmd.output().expect("moat runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_cluster_is_checked_against_its_own_inventory() {
    let (code, err) = check_clusters(
        TWO_CLUSTERS,
        &["onprem={dir}/onprem.yaml", "cloud={dir}/cloud.yaml"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("service `front.auth` selects no workload of the inventory: no pod in namespace kernel of cluster `cloud` has app=auth"),
        "kernel exists on-prem only: {err}"
    );
    assert!(
        !err.contains("did you mean namespace `kernel`"),
        "the help names namespaces of the zone's own cluster only: {err}"
    );
    assert!(
        err.contains(
            "Deployment `kube-system/metrics-server` of cluster `cloud` is in no service of zone `kube-aws`"
        ),
        "the cloud's extra workload is named with its cluster: {err}"
    );
    assert!(
        !err.contains("`mz.auth` selects no workload"),
        "on-prem kernel is found: {err}"
    );
    assert!(!err.contains("`kube-dc.dns` selects no workload"), "{err}");
    assert!(
        !err.contains("of cluster `onprem`"),
        "on-prem has nothing left over: {err}"
    );
}

#[test]
fn a_bare_path_stands_for_every_cluster() {
    let (code, err) = check_clusters(TWO_CLUSTERS, &["{dir}/onprem.yaml"]);
    assert!(
        !err.contains("E020"),
        "untagged kernel and kube-system serve both clusters: {err}"
    );
    assert!(!err.contains("of cluster"), "no cluster to name: {err}");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_undeclared_cluster_is_e062() {
    let (code, err) = check_clusters(TWO_CLUSTERS, &["onprim={dir}/onprem.yaml"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("E062"), "{err}");
    assert!(
        err.contains("names cluster `onprim`, which the policy does not declare"),
        "{err}"
    );
    assert!(err.contains("did you mean `--inventory onprem=PATH`?"), "{err}");
}
