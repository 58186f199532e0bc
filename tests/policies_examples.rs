//! The example policies in `policies/`: each checks clean through the `moat`
//! binary, and the facts of the MOSIP reference's §7 (must-allow, must-deny)
//! hold in their canonical matrices. The facts are read off `ir.flows` by atom
//! name, and a few are also asked of `moat query`.

mod common;

use moat::backend::{scope, Target};
use moat::ir::{AtomId, Ir, SiteKind, ZoneKind};
use moat::ports::{PortRange, PortSet, Proto};
use std::path::PathBuf;

const EXAMPLES: [&str; 3] = ["mosip.moat", "mosip-cells.moat", "mosip-hybrid.moat"];

fn ir_of(name: &str) -> Ir {
    let c = moat::check_paths(&moat::load::Disk, &[common::policy(name)]);
    assert!(!c.has_errors(), "{name} has errors: {:#?}", c.diags);
    c.ir.unwrap_or_else(|| panic!("{name}: no IR"))
}

fn id(ir: &Ir, name: &str) -> AtomId {
    ir.atom_id(name).unwrap_or_else(|| panic!("no atom `{name}`"))
}

/// Is `proto/port` allowed from atom `from` to atom `to`?
fn allowed(ir: &Ir, from: &str, to: &str, proto: Proto, port: u16) -> bool {
    ir.flows
        .get(&(id(ir, from), id(ir, to)))
        .is_some_and(|f| f.ports.contains(proto, port))
}

/// Is anything at all allowed from `from` to `to`?
fn any_flow(ir: &Ir, from: &str, to: &str) -> bool {
    ir.flows.contains_key(&(id(ir, from), id(ir, to)))
}

fn tcp(ir: &Ir, from: &str, to: &str, port: u16) -> bool {
    allowed(ir, from, to, Proto::Tcp, port)
}

/// The atoms of a zone: its remainder and its services.
fn zone_atoms(ir: &Ir, zone: &str) -> Vec<AtomId> {
    let z = ir
        .zones
        .iter()
        .find(|z| z.name == zone)
        .unwrap_or_else(|| panic!("no zone `{zone}`"));
    let mut v = z.services.clone();
    v.push(z.remainder);
    v
}

fn name(ir: &Ir, a: AtomId) -> &str {
    &ir.atoms[a].name
}

// ------------------------------------------------------------ every example

#[test]
fn every_example_checks_clean_with_the_binary() {
    for ex in EXAMPLES {
        let out = common::moat()
            .arg("check")
            .arg("--deny-warnings")
            .arg(common::policy(ex))
            .output()
            .expect("run moat");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{ex}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = common::moat()
            .args(["check", "--format", "json"])
            .arg(common::policy(ex))
            .output()
            .expect("run moat");
        assert_eq!(json.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON array");
        assert_eq!(v, serde_json::json!([]), "{ex}: findings in JSON output");
    }
}

#[test]
fn all_three_examples_together_are_rejected_as_duplicates() {
    // They are three alternative deployments, not one policy: declaring the same
    // zones twice is E003. Guard that the CLI reports it rather than merging them.
    let mut cmd = common::moat();
    cmd.args(["check", "--format", "json"]);
    for ex in EXAMPLES {
        cmd.arg(common::policy(ex));
    }
    let out = cmd.output().expect("run moat");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    assert!(v
        .as_array()
        .is_some_and(|a| a.iter().any(|d| d["code"] == "E003")));
}

/// Every target whose scope is not empty can express every in-scope flow (no
/// E012): namespaces and addresses are where the back ends need them.
#[test]
fn every_example_is_enforceable_by_every_target_in_scope() {
    let mut in_scope = vec![];
    for ex in EXAMPLES {
        let ir = ir_of(ex);
        for t in Target::ALL {
            if !scope::has_scope(t, &ir) {
                continue;
            }
            match scope::flows(t, &ir) {
                Ok(flows) => {
                    assert!(
                        !flows.is_empty(),
                        "{ex}: target {} in scope but no flows",
                        t.as_str()
                    );
                    in_scope.push((ex, t));
                }
                Err(d) => panic!(
                    "{ex}: target {}: {:#?}",
                    t.as_str(),
                    d.iter().map(|d| &d.message).collect::<Vec<_>>()
                ),
            }
        }
    }
    assert!(in_scope.contains(&("mosip.moat", Target::K8s)));
    assert!(in_scope.contains(&("mosip.moat", Target::Iptables)));
    assert!(in_scope.contains(&("mosip-cells.moat", Target::Nftables)));
    assert!(in_scope.contains(&("mosip-hybrid.moat", Target::Aws)));
}

#[test]
fn every_allow_and_forbid_has_a_reason_citing_the_reference() {
    for ex in EXAMPLES {
        let ir = ir_of(ex);
        for a in &ir.allows {
            let r = a
                .reason
                .as_deref()
                .unwrap_or_else(|| panic!("{ex}: allow at {} has no reason", a.loc));
            assert!(!r.trim().is_empty(), "{ex}: empty reason at {}", a.loc);
            assert!(a.exempt.is_none(), "{ex}: unexpected exemption at {}", a.loc);
        }
        for f in &ir.forbids {
            assert!(f.reason.is_some(), "{ex}: forbid at {} has no reason", f.loc);
        }
        let cited = ir
            .allows
            .iter()
            .filter(|a| a.reason.as_deref().is_some_and(|r| r.starts_with('F')))
            .count();
        assert!(
            cited * 10 >= ir.allows.len() * 7,
            "{ex}: only {cited} of {} allows cite a reference flow",
            ir.allows.len()
        );
    }
}

/// Built-in rule E006, as a property of the matrix: nothing external reaches
/// anything militarised directly, or the reverse.
#[test]
fn no_example_crosses_external_and_militarised_directly() {
    for ex in EXAMPLES {
        let ir = ir_of(ex);
        for &(f, t) in ir.flows.keys() {
            let (kf, kt) = (ir.zone_of(f).kind, ir.zone_of(t).kind);
            let bad = matches!(
                (kf, kt),
                (ZoneKind::External, ZoneKind::Militarised) | (ZoneKind::Militarised, ZoneKind::External)
            );
            assert!(!bad, "{ex}: {} -> {}", name(&ir, f), name(&ir, t));
        }
    }
}

/// Kubernetes egress is default-deny in the output: every atom with
/// namespaces must reach a CoreDNS on udp/53 and tcp/53.
#[test]
fn every_namespace_reaches_dns() {
    for ex in EXAMPLES {
        let ir = ir_of(ex);
        let dns: Vec<AtomId> = ir
            .atoms
            .iter()
            .enumerate()
            .filter(|(_, a)| a.name.ends_with(".coredns"))
            .map(|(i, _)| i)
            .collect();
        assert!(!dns.is_empty(), "{ex}: no CoreDNS");
        for (i, a) in ir.atoms.iter().enumerate() {
            if !a.has_namespaces() || dns.contains(&i) {
                continue;
            }
            let ok = dns.iter().any(|&d| {
                ir.flows
                    .get(&(i, d))
                    .is_some_and(|f| f.ports.contains(Proto::Udp, 53) && f.ports.contains(Proto::Tcp, 53))
            });
            assert!(ok, "{ex}: `{}` cannot resolve names", a.name);
        }
    }
}

// ------------------------------------------------------------ mosip.moat (§7)

#[test]
fn mosip_must_allow() {
    let ir = ir_of("mosip.moat");
    assert!(tcp(&ir, "internet", "dmz-edge.nginx-public", 443));
    assert!(tcp(&ir, "partners", "dmz-edge.nginx-public", 443));
    assert!(tcp(&ir, "dmz-edge.nginx-public", "mz-nodes.nodes", 30080));
    // WireGuard packets come from the peers' public addresses.
    assert!(allowed(&ir, "internet", "dmz-edge.bastion", Proto::Udp, 51820));
    for p in [443, 5432, 61616] {
        assert!(
            tcp(&ir, "dmz-edge.bastion", "dmz-edge.nginx-internal", p),
            "bastion -> nginx internal {p}"
        );
    }
    assert!(tcp(&ir, "abis-zone.abis", "dmz-edge.nginx-internal", 61616));
    assert!(tcp(&ir, "mz-app.regproc-group3", "mz-data.activemq", 61616));
    assert!(tcp(&ir, "mz-app.keymanager", "hsm.softhsm-kernel", 5666));
    for ida in ["mz-app.ida-auth", "mz-app.ida-internal", "mz-app.ida-otp"] {
        assert!(tcp(&ir, ida, "hsm.softhsm-ida", 5666), "{ida} -> softhsm-ida");
    }
    for g in [
        "group2",
        "group3",
        "group4",
        "group5",
        "group6",
        "group7",
        "workflow",
        "trans",
        "notifier",
        "reprocess",
    ] {
        assert!(
            tcp(&ir, &format!("mz-app.regproc-{g}"), "mz-data.kafka", 9092),
            "regproc-{g} -> kafka"
        );
    }
    for s in [
        "packetmanager",
        "datashare",
        "identity",
        "prereg-application",
        "resident",
        "regproc-group6",
    ] {
        assert!(
            tcp(&ir, &format!("mz-app.{s}"), "mz-data.minio", 9000),
            "{s} -> minio"
        );
    }
    // websub callbacks, on each subscriber's container port.
    for (s, p) in [
        ("ida-auth", 8090),
        ("ida-internal", 8093),
        ("ida-otp", 8092),
        ("print", 8088),
        ("resident", 8099),
        ("credentialrequest", 8094),
    ] {
        assert!(
            tcp(&ir, "mz-app.websub", &format!("mz-app.{s}"), p),
            "websub -> {s}:{p}"
        );
    }
    assert!(tcp(
        &ir,
        "mz-app.regproc-group6",
        "dmz-pktserver.regproc-pktserver",
        8082
    ));
    // Every MOSIP namespace -> config-server 51000 and Keycloak 8080.
    for a in zone_atoms(&ir, "mz-app") {
        let n = name(&ir, a).to_string();
        assert!(
            tcp(&ir, &n, "mz-app.config-server", 51000),
            "{n} -> config-server"
        );
        assert!(tcp(&ir, &n, "mz-data.keycloak", 8080), "{n} -> keycloak");
    }
}

#[test]
fn mosip_postgres_only_from_db_owners() {
    let ir = ir_of("mosip.moat");
    let pg = id(&ir, "mz-data.postgres");
    let sources: Vec<&str> = ir
        .flows
        .keys()
        .filter(|(_, t)| *t == pg)
        .map(|(f, _)| name(&ir, *f))
        .collect();
    for owner in [
        "mz-app.masterdata",
        "mz-app.keymanager",
        "mz-app.identity",
        "mz-app.ida-auth",
        "mz-app.prereg-application",
        "mz-app.resident",
        "mz-app.regproc-group5",
        "dmz-receiver.regproc-group1",
    ] {
        assert!(sources.contains(&owner), "{owner} must reach postgres");
    }
    for not_owner in [
        "mz-app.prereg-ui",
        "mz-app.admin-ui",
        "mz-app.websub",
        "mz-app.print",
        "mz-app.config-server",
        "dmz-camel.regproc-camel",
        "mz-app",
    ] {
        assert!(
            !sources.contains(&not_owner),
            "{not_owner} must not reach postgres"
        );
    }
}

#[test]
fn mosip_must_deny() {
    let ir = ir_of("mosip.moat");
    // internet -> {activemq, postgres, minio, kafka, keycloak, admin, pmp, rancher}: nothing at all.
    for to in [
        "mz-data.activemq",
        "mz-data.postgres",
        "mz-data.minio",
        "mz-data.kafka",
        "mz-data.keycloak",
        "mz-app.admin-service",
        "mz-app.admin-ui",
        "mz-app.pmp-ui",
        "observation.rancher",
        "mz-ingress.internal-gw",
        "dmz-edge.nginx-internal",
    ] {
        assert!(!any_flow(&ir, "internet", to), "internet -> {to}");
    }
    // partners reach only the public Nginx.
    let partners = id(&ir, "partners");
    for &(f, t) in ir.flows.keys() {
        if f == partners {
            assert_eq!(name(&ir, t), "dmz-edge.nginx-public");
        }
    }
    // ABIS reaches only activemq and the datashare API, both through the internal Nginx.
    let abis = id(&ir, "abis-zone.abis");
    let tcp_port = |p: u16| PortSet::range(Proto::Tcp, PortRange::new(p, p));
    let abis_ports = tcp_port(443).union(&tcp_port(61616));
    for (&(f, t), flow) in &ir.flows {
        if f == abis {
            assert_eq!(name(&ir, t), "dmz-edge.nginx-internal");
            assert!(
                flow.ports.is_subset(&abis_ports),
                "ABIS -> nginx-internal on {:?}",
                flow.ports.rows()
            );
        }
    }
    // Only keymanager and IDA (with their key-generation Jobs) reach the HSM,
    // each its own partition.
    for &(f, t) in ir.flows.keys() {
        match name(&ir, t) {
            "hsm.softhsm-kernel" => assert!(
                ["mz-app.keymanager", "mz-app.kernel-keygen"].contains(&name(&ir, f)),
                "{} -> softhsm-kernel",
                name(&ir, f)
            ),
            "hsm.softhsm-ida" => assert!(
                name(&ir, f).starts_with("mz-app.ida-"),
                "{} -> softhsm-ida",
                name(&ir, f)
            ),
            "hsm" => panic!("{} -> the hsm zone's remainder", name(&ir, f)),
            _ => {}
        }
    }
    // DMZ regproc pods never reach idrepo, ida (but ida-internal) or minio directly.
    let dmz: Vec<AtomId> = ["dmz-receiver", "dmz-pktserver", "dmz-status", "dmz-camel"]
        .iter()
        .flat_map(|z| zone_atoms(&ir, z))
        .collect();
    for from in dmz {
        for to in [
            "mz-app.identity",
            "mz-app.vid",
            "mz-app.credential",
            "mz-app.credentialrequest",
            "mz-app.ida-auth",
            "mz-app.ida-otp",
            "mz-data.minio",
        ] {
            assert!(!any_flow(&ir, name(&ir, from), to), "{} -> {to}", name(&ir, from));
        }
    }
    assert!(tcp(
        &ir,
        "dmz-receiver.regproc-group1",
        "mz-app.ida-internal",
        8093
    ));
    // The public Nginx never reaches the internal gateway's NodePorts.
    for p in [31080, 31432, 31616, 30900] {
        assert!(!tcp(&ir, "dmz-edge.nginx-public", "mz-nodes.nodes", p));
    }
}

#[test]
fn mosip_query_answers_reference_facts() {
    let q = |from: &str, to: &str, port: &str| {
        common::moat()
            .arg("query")
            .arg(common::policy("mosip.moat"))
            .args(["--from", from, "--to", to, "--port", port])
            .output()
            .expect("run moat query")
    };
    let out = q("mz-app.keymanager", "hsm.softhsm-kernel", "tcp/5666");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("allow"), "{text}");
    assert!(text.contains("F26"), "{text}");
    // An IP address is placed in its atom: 8.8.8.8 is the internet, 10.42.80.5 is softhsm-kernel.
    let out = q("8.8.8.8", "10.42.80.5", "tcp/5666");
    assert_eq!(out.status.code(), Some(1));
    let out = q("internet", "mz-data.postgres", "tcp/5432");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("deny") && text.contains("over WireGuard only"),
        "{text}"
    );
}

// ------------------------------------------------------------ mosip-cells.moat

fn cell_of(ir: &Ir, a: AtomId) -> Option<String> {
    ir.zone_of(a).cell.as_ref().map(|c| c.cell.clone())
}

#[test]
fn cells_are_isolated_and_pair_with_themselves() {
    let ir = ir_of("mosip-cells.moat");
    let cells: std::collections::BTreeSet<String> = ir
        .zones
        .iter()
        .filter_map(|z| z.cell.as_ref().map(|c| c.cell.clone()))
        .collect();
    assert!(cells.len() >= 2, "{cells:?}");
    for &(f, t) in ir.flows.keys() {
        if let (Some(a), Some(b)) = (cell_of(&ir, f), cell_of(&ir, t)) {
            assert_eq!(a, b, "{} -> {}", name(&ir, f), name(&ir, t));
        }
    }
    for c in &cells {
        // cell*. pairing: each uploader reaches its own packet server.
        assert!(tcp(
            &ir,
            &format!("{c}.mz.regproc-group6"),
            &format!("{c}.dmz-pktserver.regproc-pktserver"),
            8082
        ));
        assert!(tcp(
            &ir,
            &format!("{c}.dmz-camel.regproc-camel"),
            &format!("{c}.mz.regproc-group2"),
            8090
        ));
        assert!(tcp(
            &ir,
            "mz-ingress.internal-gw",
            &format!("{c}.dmz-receiver.regproc-group1"),
            8081
        ));
        // Shared resources.
        assert!(tcp(
            &ir,
            &format!("{c}.mz.keymanager"),
            "shared.softhsm-kernel",
            5666
        ));
        assert!(tcp(
            &ir,
            &format!("{c}.mz.regproc-group3"),
            "shared.activemq",
            61616
        ));
        assert!(tcp(&ir, &format!("{c}.mz.identity"), "shared.postgres", 5432));
        assert!(tcp(
            &ir,
            &format!("{c}.dmz-receiver.regproc-group1"),
            "shared.postgres",
            5432
        ));
        // The DMZ half never reaches keys, object stores, the ABIS queue or ABIS.
        for zone in [
            "dmz-receiver",
            "dmz-pktserver",
            "dmz-status",
            "dmz-camel",
            "dmz-iam",
        ] {
            for from in zone_atoms(&ir, &format!("{c}.{zone}")) {
                for to in [
                    "shared.softhsm-kernel",
                    "shared.softhsm-ida",
                    "shared.minio",
                    "shared.activemq",
                    "abis.mock-abis",
                ] {
                    assert!(!any_flow(&ir, name(&ir, from), to), "{} -> {to}", name(&ir, from));
                }
            }
        }
    }
    assert!(tcp(&ir, "abis.mock-abis", "shared.activemq", 61616));
    assert!(!any_flow(&ir, "abis.mock-abis", "cell1.mz.regproc-group3"));
}

#[test]
fn a_cross_cell_allow_is_rejected() {
    let path = common::policy("mosip-cells.moat");
    let text = std::fs::read_to_string(&path).expect("read policy");
    let broken = format!("{text}\nallow cell1.mz.identity -> cell2.mz.identity : http \"cross-cell\"\n");
    let c = moat::check_str("cells-broken.moat", &broken);
    let codes: Vec<&str> = c.diags.iter().filter(|d| d.is_error()).map(|d| d.code).collect();
    assert_eq!(codes, vec!["E011"]);
}

// ------------------------------------------------------------ mosip-hybrid.moat

#[test]
fn hybrid_keeps_resident_services_on_premise() {
    let ir = ir_of("mosip-hybrid.moat");
    let site = |a: AtomId| ir.site_of(a).kind;
    let residents: Vec<&str> = ir
        .atoms
        .iter()
        .filter(|a| a.resident)
        .map(|a| a.name.as_str())
        .collect();
    for r in [
        "dc-app.identity",
        "dc-app.vid",
        "dc-app.credential",
        "dc-app.keymanager",
        "dc-app.packetmanager",
        "dc-app.datashare",
        "dc-hsm.softhsm-kernel",
        "abis-zone.mock-abis",
        "dc-data.postgres",
        "dc-data.minio",
    ] {
        assert!(residents.contains(&r), "{r} should be resident");
    }
    assert!(ir
        .sites
        .iter()
        .any(|s| s.kind == SiteKind::Aws && s.props.get("region").map(String::as_str) == Some("ap-south-1")));
    for &(f, t) in ir.flows.keys() {
        for (r, other) in [(f, t), (t, f)] {
            if ir.atoms[r].resident {
                assert_eq!(site(r), SiteKind::Onprem, "{}", name(&ir, r));
                assert_eq!(
                    site(other),
                    SiteKind::Onprem,
                    "{} <-> {}",
                    name(&ir, r),
                    name(&ir, other)
                );
            }
        }
    }
    // Cloud -> on-prem: only the API gateway and the ABIS queue.
    let crossings = ["dc-edge.api-gw", "dc-data.activemq"];
    for &(f, t) in ir.flows.keys() {
        let on_prem_dc = ir.site_of(t).name == "blr-dc";
        if site(f) == SiteKind::Aws && on_prem_dc {
            assert!(
                crossings.contains(&name(&ir, t)),
                "{} -> {}",
                name(&ir, f),
                name(&ir, t)
            );
        }
    }
    assert!(tcp(&ir, "cloud-app.resident", "dc-edge.api-gw", 443));
    assert!(tcp(&ir, "dc-edge.api-gw", "dc-app.identity", 8090));
    assert!(tcp(
        &ir,
        "cloud-regproc.regproc-group3",
        "dc-data.activemq",
        61616
    ));
    assert!(tcp(&ir, "abis-zone.mock-abis", "dc-data.activemq", 61616));
    assert!(tcp(&ir, "dc-app.keymanager", "dc-hsm.softhsm-kernel", 5666));
    assert!(tcp(&ir, "cloud-app.ida", "cloud-hsm.softhsm-ida", 5666));
    assert!(
        tcp(&ir, "cloud-app.resident", "cloud-app.kernel", 8096),
        "resident -> ridgenerator (named port per chart)"
    );
    assert!(!any_flow(&ir, "cloud-app.resident", "dc-app.identity"));
}

/// The hybrid checked against both clusters' inventories, each as its own
/// cluster: every selector selects, every port is declared, every workload
/// is in a service.
#[test]
fn hybrid_checks_clean_against_each_clusters_inventory() {
    let inv = |c: &str| {
        let path = common::root().join(format!("fixtures/inventory/mosip-hybrid-{c}-1.2.0.1.yaml"));
        format!("{c}-cluster={}", path.display())
    };
    let out = common::moat()
        .args(["check", "--deny-warnings"])
        .arg(common::policy("mosip-hybrid.moat"))
        .args(["--inventory", &inv("onprem"), "--inventory", &inv("cloud")])
        .output()
        .expect("run moat");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("no findings"), "{err}");
    // Each inventory is its cluster's: swapped, the selectors find nothing.
    let swapped = common::moat()
        .args(["check"])
        .arg(common::policy("mosip-hybrid.moat"))
        .args([
            "--inventory",
            &inv("onprem").replacen("onprem-cluster", "cloud-cluster", 1),
        ])
        .args([
            "--inventory",
            &inv("cloud").replacen("cloud-cluster", "onprem-cluster", 1),
        ])
        .output()
        .expect("run moat");
    let err = String::from_utf8_lossy(&swapped.stderr);
    assert_eq!(swapped.status.code(), Some(1), "{err}");
    assert!(
        err.contains("service `dc-app.identity` selects no workload of the inventory: no pod in namespace idrepo of cluster `onprem-cluster`"),
        "{err}"
    );
}

#[test]
fn hybrid_direct_cloud_call_to_a_resident_service_is_rejected() {
    let dir = common::TempDir::new("hybrid-e010");
    let extra: PathBuf = dir.path().join("extra.moat");
    std::fs::write(
        &extra,
        "allow cloud-app.resident -> dc-app.identity : http \"direct\"\n",
    )
    .expect("write");
    let out = common::moat()
        .args(["check", "--format", "json"])
        .arg(common::policy("mosip-hybrid.moat"))
        .arg(&extra)
        .output()
        .expect("run moat");
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    let codes: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert!(codes.contains(&"E010"), "{codes:?}");
    // The forbid "cloud -> on-prem only through the gateway" catches it too.
    assert!(codes.contains(&"E007"), "{codes:?}");
}

// ------------------------------------------------------------ matrix shape

#[test]
fn mosip_matrix_json_has_the_spec_shape() {
    let out = common::moat()
        .arg("matrix")
        .arg(common::policy("mosip.moat"))
        .args(["--format", "json"])
        .output()
        .expect("run moat matrix");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rows = v["flows"].as_array().expect("flows array");
    assert!(rows.len() > 900, "{} rows", rows.len());
    let key = |r: &serde_json::Value| {
        (
            r["from"].as_str().map(String::from),
            r["to"].as_str().map(String::from),
            r["protocol"].as_str().map(String::from),
        )
    };
    for w in rows.windows(2) {
        assert!(
            key(&w[0]) < key(&w[1]),
            "rows not sorted/unique: {} then {}",
            w[0],
            w[1]
        );
    }
    for r in rows {
        let o = r.as_object().expect("row object");
        for k in ["from", "to", "protocol", "ports"] {
            assert!(o.contains_key(k), "row without `{k}`: {r}");
        }
    }
    let row = |from: &str, to: &str, proto: &str| {
        rows.iter()
            .find(|r| r["from"] == from && r["to"] == to && r["protocol"] == proto)
            .cloned()
    };
    assert_eq!(
        row("internet", "dmz-edge.nginx-public", "tcp").map(|r| r["ports"].clone()),
        Some(serde_json::json!("443"))
    );
    assert_eq!(
        row("dmz-edge.bastion", "dmz-edge.nginx-internal", "tcp").map(|r| r["ports"].clone()),
        Some(serde_json::json!("22,443,5432,61616"))
    );
    assert_eq!(
        row("mz-nodes.nodes", "mz-nodes.nodes", "tcp").map(|r| r["ports"].clone()),
        Some(serde_json::json!("2376,2379-2380,6443,10250-10252,10256"))
    );
}

/// The query transcripts in docs/policies.md are what moat prints today.
#[test]
fn docs_query_transcripts_are_current() {
    let doc =
        std::fs::read_to_string(common::root().join("docs/policies.md")).expect("read docs/policies.md");
    for (from, to, port) in [
        ("mz-app.keymanager", "hsm.softhsm-kernel", "tcp/5666"),
        ("internet", "mz-data.postgres", "tcp/5432"),
    ] {
        let out = common::moat()
            .current_dir(common::root())
            .args([
                "query",
                "policies/mosip.moat",
                "--from",
                from,
                "--to",
                to,
                "--port",
                port,
            ])
            .output()
            .expect("run moat query");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            doc.contains(text.trim_end()),
            "docs/policies.md is stale; moat now prints:\n{text}"
        );
    }
}

/// `moat compile --target all` succeeds for every example: no E012 (a missing
/// namespace or address) and no E013 (a target limit such as AWS's 60 rules
/// per security group).
#[test]
fn every_example_compiles_for_all_targets() {
    for ex in EXAMPLES {
        let dir = common::TempDir::new("policies-compile");
        let out = common::moat()
            .arg("compile")
            .arg(common::policy(ex))
            .args(["--target", "all", "--out"])
            .arg(dir.path())
            .output()
            .expect("run moat compile");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{ex}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
