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
    let cases = (0..12u64)
        .map(|seed| (format!("ir-seed-{seed}"), random_ir(seed)))
        .collect();
    let failures = k8s_support::prove_all(cases);
    assert!(
        failures.is_empty(),
        "nca disagrees with moat:\n{}",
        failures.join("\n")
    );
}

/// Random policies from `moat::gen`, through the parser and checker.
#[test]
fn generated_policies_match_nca() {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let mut cases = vec![];
    for seed in 0..20u64 {
        let o = moat::gen::GenOptions {
            zones: 3 + (seed % 2) as usize,
            ipv6: seed % 3 == 0,
            ..Default::default()
        };
        let text = moat::gen::random_policy(seed, &o);
        let c = moat::check_str("gen.moat", &text);
        let ir =
            c.ir.unwrap_or_else(|| panic!("seed {seed} does not check: {:#?}\n{text}", c.diags));
        assert!(!ir.flows.is_empty(), "seed {seed}: no flows");
        cases.push((format!("gen-seed-{seed}"), ir));
    }
    let failures = k8s_support::prove_all(cases);
    assert!(
        failures.is_empty(),
        "nca disagrees with moat:\n{}",
        failures.join("\n")
    );
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

/// Checks a policy text and proves its k8s output against nca.
fn prove_text(name: &str, text: &str) {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let c = moat::check_str(&format!("{name}.moat"), text);
    let ir = c.ir.unwrap_or_else(|| panic!("{:#?}", c.diags));
    let diffs = k8s_support::prove(&ir, &format!("k8s-{name}"));
    assert!(diffs.is_empty(), "nca disagrees with moat:\n{}", diffs.join("\n"));
}

#[test]
fn mixed_label_schemes_match_nca() {
    prove_text("mixed", MIXED);
}

/// A MOSIP-sized policy: Helm labels, container ports behind Services,
/// several namespaces per zone, a VM edge and the cluster DNS.
const MOSIP_LIKE: &str = r#"
policy mosiplike
zone internet : external { cidr 0.0.0.0/0 }
zone wg-peers : external { cidr 10.13.13.0/24 }
zone kube : militarised { namespace kube-system
  service dns { pods k8s-app=kube-dns  port dns udp/53  port dnstcp tcp/53 } }
zone edge : dmz { cidr 10.10.10.0/24
  service nginx { hosts 10.10.10.5  port https tcp/443 } }
zone gw : dmz { namespace istio-system
  service public   { pods app=istio-ingressgateway           port http tcp/8080 }
  service internal { pods app=istio-ingressgateway-internal  port http tcp/8080 } }
zone dmz-regproc : dmz { namespace regproc-dmz
  service group1 { pods app.kubernetes.io/name=regproc-group1, app.kubernetes.io/instance=regproc-group1  port http tcp/8081 }
  service status { pods app.kubernetes.io/name=regproc-status, app.kubernetes.io/instance=regproc-status  port http tcp/8083 } }
zone mz-app : mz { namespace idrepo, ida, kernel
  service identity { namespace idrepo  pods app.kubernetes.io/name=identity, app.kubernetes.io/instance=identity  port http tcp/8090 }
  service vid      { namespace idrepo  pods app.kubernetes.io/name=vid, app.kubernetes.io/instance=vid  port http tcp/8091 }
  service ida-auth { namespace ida  pods app.kubernetes.io/name=ida-auth, app.kubernetes.io/instance=ida-auth  port http tcp/8090 }
  service ida-otp  { namespace ida  pods app.kubernetes.io/name=ida-otp, app.kubernetes.io/instance=ida-otp  port http tcp/8092 }
  service keymgr   { namespace kernel  pods app.kubernetes.io/name=keymanager, app.kubernetes.io/instance=keymanager  port http tcp/8088 }
  service auditmgr { namespace kernel  pods app.kubernetes.io/name=auditmanager, app.kubernetes.io/instance=auditmanager  port http tcp/8081 } }
zone mz-data : mz { namespace postgres, kafka
  service pg    { namespace postgres  pods app.kubernetes.io/name=postgresql  port pg tcp/5432 }
  service kafka { namespace kafka  pods app.kubernetes.io/name=kafka  port broker tcp/9092  port ctl tcp/9093-9094 } }
allow internet -> edge.nginx : https
allow wg-peers -> edge.nginx : https
allow edge.nginx -> gw.public, gw.internal : http
allow gw.public -> dmz-regproc.group1 : http
allow gw.public -> mz-app.ida-auth : http
allow gw.internal -> mz-app.identity, mz-app.vid, dmz-regproc.status : http
allow dmz-regproc -> mz-app.keymgr : http
allow mz-app -> mz-app.keymgr, mz-app.auditmgr : http
allow mz-app.ida-auth -> mz-app.ida-otp : http
allow mz-app -> mz-data.pg : pg
allow mz-app, dmz-regproc -> mz-data.kafka : broker, ctl
allow gw, dmz-regproc, mz-app, mz-data -> kube.dns : dns, dnstcp
"#;

#[test]
fn mosip_like_policy_matches_nca() {
    prove_text("mosiplike", MOSIP_LIKE);
}

/// Address ranges reach NetworkPolicies as ipBlock prefixes (issue 12 item 5):
/// nca's connectivity, address by address, must equal the matrix, so the
/// prefixes cover exactly the range (its ends in, its neighbours out), for
/// egress to a range, ingress from one, and a range zone carved out of an
/// external zone.
const RANGES: &str = r#"
policy ranges
zone internet : external { cidr 0.0.0.0/0 }
zone lan : dmz { cidr 10.2.0.0/24, fd00:2::/64
  service nfs { hosts 10.2.0.2-10.2.0.51, fd00:2::2-fd00:2::33  port nfs tcp/2049 } }
zone office : mz { cidr 10.3.0.10-10.3.0.99 }
zone apps : dmz { namespace apps
  service api { pods app=api  port http tcp/8080  port https tcp/8443 } }
allow office -> apps.api : http
allow internet -> apps.api : https
allow apps -> lan.nfs : nfs
allow lan.nfs -> apps.api : http
"#;

#[test]
fn address_ranges_match_nca() {
    prove_text("ranges", RANGES);
}

/// Cells whose block holds addresses no zone claims (issue 17): the external
/// zone carves out the whole block, so nca's connectivity from `internet`
/// must still equal the matrix, and the unclaimed addresses reach no pod.
const CELLS: &str = r#"
policy cells
zone internet : external { cidr 0.0.0.0/0 }
cells c[1..3] in 10.0.0.0/8 each /20 {
  zone edge : demilitarised { cidr +0.0.0.0/22  namespace "{cell}-edge"
    service gw { pods app=gw  port http tcp/8080 } }
  zone app : militarised { cidr +0.0.8.0/22  namespace "{cell}-app"
    service db { pods app=db  port pg tcp/5432 } }
  allow edge.gw -> app.db : pg
}
allow internet -> c*.edge.gw : http
"#;

#[test]
fn cells_with_unclaimed_addresses_match_nca() {
    prove_text("cells", CELLS);
}
