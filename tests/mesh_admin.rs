//! The k8s-admin target: ClusterNetworkPolicies checked against the CRD
//! schema of network-policy-api v0.2.0, and their meaning proved by an
//! evaluator that follows the API's documented precedence
//! (kubernetes-sigs/network-policy-api@v0.2.0:apis/v1alpha2/clusternetworkpolicy_types.go,
//! `Tier`: the Admin tier, then NetworkPolicies, then the Baseline tier; in a
//! tier, lower priority first, rules in order; Accept and Deny are final,
//! Pass goes to the next tier; a NetworkPolicy that selects a pod decides;
//! nothing matched: allowed). The NetworkPolicy tier is the plain k8s
//! target's, as nca evaluates it (one run per direction, the other opened).
//! Pods get addresses of their own, so a `networks` peer matches them too.

mod common;
mod k8s_support;
mod mesh_support;

use k8s_support::{NcaEnd, Side, TopoPod};
use moat::backend::Target;
use moat::ir::{AtomId, Ir};
use moat::ports::{PortSet, Proto};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

fn checked(path: &str) -> Ir {
    let c = moat::check_paths(&moat::load::Disk, &[std::path::PathBuf::from(path)]);
    c.ir.unwrap_or_else(|| panic!("{path}: {:#?}", c.diags))
}

fn ir_of(text: &str) -> Ir {
    let c = moat::check_str("admin.moat", text);
    c.ir.unwrap_or_else(|| panic!("{:#?}", c.diags))
}

/// Forbids, an exempted crossing, a militarised zone reaching pods and
/// addresses, and an address-only zone.
const GUARDS: &str = r#"
policy guards
zone internet : external { cidr 0.0.0.0/0 }
zone partners : external { cidr 192.0.2.0/24 }
zone kube : militarised { namespace kube-system
  service dns { pods k8s-app=kube-dns  port dns udp/53  port dnstcp tcp/53 } }
zone gw : dmz { namespace gw
  service public { pods app=gw  port http tcp/8080 } }
zone app : mz { namespace ida, kernel
  service auth { namespace ida  pods app=ida-auth  port http tcp/8090 }
  service keys { namespace kernel  pods app=keymanager  port http tcp/8088  port r tcp/9000-9010 } }
zone legacy : mz { cidr 10.9.0.0/16  service db { hosts 10.9.0.5  port ora tcp/1521 } }
allow internet -> gw.public : http
allow gw.public -> app.auth : http
allow app -> app.keys : http, r
allow app.auth -> legacy.db : ora
allow app.keys -> partners : tcp/443 exempt "partner callback, waiver W-1"
allow gw, app -> kube.dns : dns, dnstcp
forbid gw -> app.keys "the gateway never reaches the keys"
forbid app.auth -> kube.dns : tcp/22
"#;

/// A policy's objects (every YAML document of every file), parsed.
fn objects(ir: &Ir, admin_allows: bool) -> Vec<Value> {
    let files = mesh_support::emit(Target::K8sAdmin, ir, admin_allows).unwrap_or_else(|e| panic!("{e:#?}"));
    files
        .iter()
        .flat_map(|f| {
            f.contents
                .split("\n---\n")
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|d| serde_saphyr::from_str(&d).expect("yaml"))
        .collect()
}

/// One endpoint: a pod of the topology (with an address of its own) or a
/// sample address of an address-only atom.
#[derive(Debug, Clone)]
struct End {
    atom: AtomId,
    pod: Option<TopoPod>,
    ip: IpAddr,
}

/// The endpoints: every topology pod (addresses from 10.244.0.0/16, which
/// must belong to no zone but an external one) and an address of every
/// address-only atom.
fn endpoints(ir: &Ir) -> Vec<End> {
    let mut out = vec![];
    for (i, p) in k8s_support::topology(ir).into_iter().enumerate() {
        let ip: IpAddr = format!("10.244.{}.{}", i / 250, i % 250 + 1).parse().expect("ip");
        if let Some(a) = ir.atom_for_ip(ip) {
            assert_eq!(
                ir.zone_of(a).kind,
                moat::ir::ZoneKind::External,
                "pod address {ip} is in {}",
                ir.atoms[a].name
            );
        }
        out.push(End {
            atom: p.atom,
            pod: Some(p),
            ip,
        });
    }
    for a in 0..ir.atoms.len() {
        if ir.atoms[a].has_addrs() && !moat::backend::k8s::select::selects_pods(ir, a) {
            let net = ir.atoms[a].addrs.prefixes()[0];
            let ip = net.hosts().next().unwrap_or(net.addr());
            assert_eq!(ir.atom_for_ip(ip), Some(a), "sample {ip} of {}", ir.atoms[a].name);
            out.push(End {
                atom: a,
                pod: None,
                ip,
            });
        }
    }
    out
}

/// The probes of a pair of atoms: every port bound of its flow and forbids,
/// either side of each, and a few fixed ports.
fn probes(ir: &Ir, from: AtomId, to: AtomId) -> Vec<(Proto, u16)> {
    let mut out = BTreeSet::from([
        (Proto::Tcp, 1),
        (Proto::Udp, 65535),
        (Proto::Sctp, 7),
        (Proto::Tcp, 8080),
    ]);
    let forbids = ir
        .forbids
        .iter()
        .flat_map(|f| f.pairs.iter().filter(|p| (p.0, p.1) == (from, to)).map(|p| &p.2));
    let sets = ir
        .flows
        .get(&(from, to))
        .map(|f| &f.ports)
        .into_iter()
        .chain(forbids);
    for ps in sets {
        for (p, rs) in ps.iter() {
            if moat::backend::k8s::protocol_name(p).is_some() {
                for r in rs {
                    for port in [r.lo.saturating_sub(1).max(1), r.lo, r.hi, r.hi.saturating_add(1)] {
                        out.insert((p, port));
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

fn selects(sel: &Value, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = sel["matchLabels"].as_object().is_none_or(|m| {
        m.iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
    });
    let exprs_ok = sel["matchExpressions"].as_array().is_none_or(|es| {
        es.iter().all(|e| {
            let v = labels.get(e["key"].as_str().unwrap_or_default());
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e["operator"].as_str() {
                Some("In") => v.is_some_and(|v| values.contains(&v.as_str())),
                Some("NotIn") => v.is_none_or(|v| !values.contains(&v.as_str())),
                Some("Exists") => v.is_some(),
                Some("DoesNotExist") => v.is_none(),
                other => panic!("operator {other:?}"),
            }
        })
    });
    labels_ok && exprs_ok
}

fn ns_labels(ns: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("kubernetes.io/metadata.name".to_string(), ns.to_string())])
}

/// True when a `pods` selector (namespaceSelector AND podSelector) selects the pod.
fn pods_match(sel: &Value, pod: &TopoPod) -> bool {
    selects(&sel["namespaceSelector"], &ns_labels(&pod.namespace))
        && selects(&sel["podSelector"], &pod.labels)
}

fn subject_matches(subject: &Value, pod: &TopoPod) -> bool {
    if !subject["namespaces"].is_null() {
        return selects(&subject["namespaces"], &ns_labels(&pod.namespace));
    }
    pods_match(&subject["pods"], pod)
}

fn peer_matches(peer: &Value, end: &End) -> bool {
    if let Some(nets) = peer["networks"].as_array() {
        return nets.iter().any(|n| {
            n.as_str()
                .and_then(|s| s.parse::<ipnet::IpNet>().ok())
                .is_some_and(|n| n.contains(&end.ip))
        });
    }
    let Some(pod) = &end.pod else { return false };
    if !peer["namespaces"].is_null() {
        return selects(&peer["namespaces"], &ns_labels(&pod.namespace));
    }
    pods_match(&peer["pods"], pod)
}

fn protocol_matches(protocols: &Value, proto: Proto, port: u16) -> bool {
    let Some(list) = protocols.as_array() else {
        return true;
    };
    let key = match proto {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
        _ => "sctp",
    };
    list.iter().any(|p| {
        let d = &p[key]["destinationPort"];
        if p[key].is_null() {
            return false;
        }
        match (d["number"].as_u64(), &d["range"]) {
            (Some(n), _) => n == u64::from(port),
            (None, r) => {
                r["start"].as_u64().unwrap_or(u64::MAX) <= u64::from(port)
                    && u64::from(port) <= r["end"].as_u64().unwrap_or(0)
            }
        }
    })
}

/// A tier's decision for one direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accept,
    Deny,
    Pass,
    NoMatch,
}

/// The first matching rule of the tier's objects (by priority, then rule
/// order) for `me` (the subject pod) and `other` in direction `egress`.
fn tier(
    objects: &[Value],
    tier: &str,
    me: &TopoPod,
    other: &End,
    egress: bool,
    proto: Proto,
    port: u16,
) -> Verdict {
    let mine = subjects_of(objects, tier, me);
    let priorities: Vec<u64> = mine
        .iter()
        .filter_map(|o| o["spec"]["priority"].as_u64())
        .collect();
    let (dir, peers) = if egress {
        ("egress", "to")
    } else {
        ("ingress", "from")
    };
    for o in mine.iter() {
        for rule in o["spec"][dir].as_array().into_iter().flatten() {
            let hit = rule[peers]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| peer_matches(p, other))
                && protocol_matches(&rule["protocols"], proto, port);
            if hit {
                // Two objects of one priority matching one connection would be ambiguous.
                let p = o["spec"]["priority"].as_u64();
                assert_eq!(
                    priorities.iter().filter(|q| Some(**q) == p).count(),
                    1,
                    "ambiguous priority {p:?} for {me:?}"
                );
                return match rule["action"].as_str() {
                    Some("Accept") => Verdict::Accept,
                    Some("Deny") => Verdict::Deny,
                    Some("Pass") => Verdict::Pass,
                    a => panic!("action {a:?}"),
                };
            }
        }
    }
    Verdict::NoMatch
}

/// (objects, tier, pod namespace, pod name).
type SubjectKey = (usize, String, String, String);

/// An nca fact about a pod and address ranges: namespace, name, egress?, ranges, connections.
type RangeFact = (String, String, bool, Vec<(bool, u128, u128)>, PortSet);

thread_local! {
    /// The objects of a tier whose subject selects a pod, by priority (memo).
    static SUBJECTS: std::cell::RefCell<BTreeMap<SubjectKey, std::rc::Rc<Vec<Value>>>> = Default::default();
}

fn subjects_of(objects: &[Value], tier: &str, me: &TopoPod) -> std::rc::Rc<Vec<Value>> {
    let key = (
        objects.as_ptr() as usize + objects.len(),
        tier.to_string(),
        me.namespace.clone(),
        me.name.clone(),
    );
    SUBJECTS.with(|m| {
        m.borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let mut mine: Vec<Value> = objects
                    .iter()
                    .filter(|o| o["spec"]["tier"] == tier && subject_matches(&o["spec"]["subject"], me))
                    .cloned()
                    .collect();
                mine.sort_by_key(|o| o["spec"]["priority"].as_u64());
                std::rc::Rc::new(mine)
            })
            .clone()
    })
}

/// The NetworkPolicy tier: `None` when no NetworkPolicy selects the pod,
/// else whether it allows this direction.
type NpTier<'a> = &'a dyn Fn(&TopoPod, &End, bool, Proto, u16) -> Option<bool>;

/// One direction, through the tiers.
fn direction(
    objects: &[Value],
    np: NpTier,
    me: &TopoPod,
    other: &End,
    egress: bool,
    proto: Proto,
    port: u16,
) -> bool {
    match tier(objects, "Admin", me, other, egress, proto, port) {
        Verdict::Accept => return true,
        Verdict::Deny => return false,
        Verdict::Pass | Verdict::NoMatch => {}
    }
    if let Some(allowed) = np(me, other, egress, proto, port) {
        return allowed;
    }
    !matches!(
        tier(objects, "Baseline", me, other, egress, proto, port),
        Verdict::Deny
    )
}

/// A connection: allowed out of the source and into the destination.
fn allowed(objects: &[Value], np: NpTier, src: &End, dst: &End, proto: Proto, port: u16) -> bool {
    let out = src
        .pod
        .as_ref()
        .is_none_or(|p| direction(objects, np, p, dst, true, proto, port));
    let inn = dst
        .pod
        .as_ref()
        .is_none_or(|p| direction(objects, np, p, src, false, proto, port));
    out && inn
}

/// nca's verdicts on the k8s target, one direction at a time (the other
/// opened): (pod, egress?) -> the other end's pod or ranges, with ports.
struct NcaTier {
    pairs: BTreeMap<(String, String, String, String, bool), PortSet>,
    ranges: Vec<RangeFact>,
    managed: BTreeSet<String>,
}

impl NcaTier {
    fn run(ir: &Ir) -> NcaTier {
        let files = k8s_support::emit(ir);
        let tmp = common::TempDir::new("admin-nca");
        let input = tmp.path().join("in");
        k8s_support::write(&input, &files);
        let pods = k8s_support::topology(ir);
        std::fs::write(input.join("topology.yaml"), k8s_support::topology_yaml(ir, &pods)).expect("topology");
        let mut t = NcaTier {
            pairs: BTreeMap::new(),
            ranges: vec![],
            managed: moat::backend::k8s::namespaces(ir),
        };
        for side in [Side::Ingress, Side::Egress] {
            std::fs::write(input.join("open.yaml"), k8s_support::open_side(ir, side)).expect("open side");
            let egress = side == Side::Egress;
            for (s, d, c) in k8s_support::run_nca(tmp.path()) {
                match (s, d) {
                    (NcaEnd::Pod(a, b), NcaEnd::Pod(x, y)) => {
                        let key = if egress {
                            (a, b, x, y, true)
                        } else {
                            (x, y, a, b, false)
                        };
                        t.pairs.entry(key).or_default().union_with(&c);
                    }
                    (NcaEnd::Pod(a, b), NcaEnd::Ranges(r)) if egress => t.ranges.push((a, b, true, r, c)),
                    (NcaEnd::Ranges(r), NcaEnd::Pod(a, b)) if !egress => t.ranges.push((a, b, false, r, c)),
                    _ => {}
                }
            }
        }
        t
    }

    fn verdict(&self, me: &TopoPod, other: &End, egress: bool, proto: Proto, port: u16) -> Option<bool> {
        if !self.managed.contains(&me.namespace) {
            return None;
        }
        let ports = match &other.pod {
            Some(o) => self
                .pairs
                .get(&(
                    me.namespace.clone(),
                    me.name.clone(),
                    o.namespace.clone(),
                    o.name.clone(),
                    egress,
                ))
                .cloned()
                .unwrap_or_default(),
            None => {
                let n = k8s_support::ip_num(other.ip);
                let mut got = PortSet::empty();
                for (ns, name, e, rs, c) in &self.ranges {
                    let hit = rs
                        .iter()
                        .any(|&(v6, lo, hi)| v6 == other.ip.is_ipv6() && lo <= n && n <= hi);
                    if *ns == me.namespace && *name == me.name && *e == egress && hit {
                        got.union_with(c);
                    }
                }
                got
            }
        };
        Some(ports.contains(proto, port))
    }
}

/// Every connection between the endpoints (one end a pod) on every probe:
/// `check(src, dst, proto, port, allowed, in the matrix)` returns a problem.
fn sweep(
    ir: &Ir,
    objects: &[Value],
    np: NpTier,
    check: &dyn Fn(&End, &End, bool, bool) -> Option<String>,
) -> Vec<String> {
    SUBJECTS.with(|m| m.borrow_mut().clear());
    let ends = endpoints(ir);
    let mut out = vec![];
    for s in &ends {
        for d in &ends {
            if s.pod.is_none() && d.pod.is_none() || std::ptr::eq(s, d) {
                continue;
            }
            // An unmanaged zone's flows are enforced only at its managed
            // peers: with no managed pod at the other end, not in Kubernetes.
            let unmanaged = |e: &End| ir.is_unmanaged(e.atom);
            let managed_pod = |e: &End| e.pod.is_some() && !unmanaged(e);
            if (unmanaged(s) && !managed_pod(d)) || (unmanaged(d) && !managed_pod(s)) {
                continue;
            }
            for (proto, port) in probes(ir, s.atom, d.atom) {
                let got = allowed(objects, np, s, d, proto, port);
                let want = ir
                    .flows
                    .get(&(s.atom, d.atom))
                    .is_some_and(|f| f.ports.contains(proto, port));
                if let Some(p) = check(s, d, got, want) {
                    out.push(format!(
                        "{} ({:?}) -> {} ({:?}) {}/{port}: {p}",
                        ir.atoms[s.atom].name,
                        s.pod.as_ref().map(|p| &p.name),
                        ir.atoms[d.atom].name,
                        d.pod.as_ref().map(|p| &p.name),
                        proto.as_str()
                    ));
                }
            }
        }
    }
    out.truncate(20);
    out
}

fn forbidden(ir: &Ir, s: &End, d: &End) -> bool {
    use moat::ir::ZoneKind::{External, Militarised};
    let kinds = (ir.zone_of(s.atom).kind, ir.zone_of(d.atom).kind);
    let crossing = matches!(kinds, (External, Militarised) | (Militarised, External));
    let forbid = ir
        .forbids
        .iter()
        .any(|f| f.pairs.iter().any(|(a, b, _)| (*a, *b) == (s.atom, d.atom)));
    crossing || forbid
}

/// The cases of the semantic tests: GUARDS, the MOSIP example (its DMZ
/// stages share `regproc` with the MZ), the shared-namespace fixtures and
/// random policies (the other examples are schema-checked only: their sweeps
/// take minutes in a debug build).
fn cases() -> Vec<(String, Ir)> {
    let mut out = vec![("guards".to_string(), ir_of(GUARDS))];
    out.extend(
        mesh_support::examples()
            .into_iter()
            .filter(|(n, _)| n.ends_with("/mosip.moat")),
    );
    for f in [
        "fixtures/mesh/shared.moat",
        "fixtures/good/layout-shared-namespace.moat",
    ] {
        out.push((f.to_string(), checked(f)));
    }
    // Each cluster of a policy with two (its directory is the output for
    // this view: tests/mesh_layouts.rs).
    let clusters = checked("fixtures/good/layout-clusters.moat");
    for (c, cluster) in clusters.layout.clusters.iter().enumerate() {
        out.push((
            format!("cluster-{}", cluster.name),
            mesh_support::cluster_view(&clusters, c),
        ));
    }
    out.extend((0..3u64).map(|s| (format!("random-{s}"), k8s_support::random::random_ir(s))));
    out
}

/// With the k8s target beside it, the three tiers give exactly the matrix:
/// the Admin tier denies nothing the policy allows (its passes come before
/// the `networks` denies that also match pod addresses) and allows nothing more.
#[test]
fn admin_then_networkpolicies_then_baseline_give_the_matrix() {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let mut failures = vec![];
    for (name, ir) in cases() {
        let objects = objects(&ir, false);
        let nca = NcaTier::run(&ir);
        let np = |me: &TopoPod, o: &End, e: bool, p: Proto, port: u16| nca.verdict(me, o, e, p, port);
        let diffs = sweep(&ir, &objects, &np, &|_, _, got, want| {
            (got != want).then(|| format!("got {got}, matrix {want}"))
        });
        if !diffs.is_empty() {
            failures.push(format!("{name}:\n  {}", diffs.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What namespace owners cannot undo: with their NetworkPolicies deleted, or
/// replaced by one allowing everything, no forbid and no crossing the policy
/// does not allow gets through, and without them nothing leaves a pod
/// (ingress from addresses is the k8s target's alone: W019).
#[test]
fn namespace_owners_cannot_open_forbids_or_crossings() {
    let mut failures = vec![];
    for (name, ir) in cases() {
        let objects = objects(&ir, false);
        let none = |_: &TopoPod, _: &End, _: bool, _: Proto, _: u16| None;
        let open = |_: &TopoPod, _: &End, _: bool, _: Proto, _: u16| Some(true);
        let d = sweep(&ir, &objects, &none, &|s, _, got, _| {
            (got && s.pod.is_some()).then(|| "allowed without any NetworkPolicy".into())
        });
        let e = sweep(&ir, &objects, &open, &|s, d, got, want| {
            // Ingress from addresses is beyond the Admin tier (W019).
            let guarded = forbidden(&ir, s, d) && s.pod.is_some();
            (got && !want && guarded)
                .then(|| "forbidden or crossing, allowed by an open NetworkPolicy".into())
        });
        for (what, list) in [("no NetworkPolicy", d), ("open NetworkPolicy", e)] {
            if !list.is_empty() {
                failures.push(format!("{name} ({what}):\n  {}", list.join("\n  ")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `--admin-allows`: without any NetworkPolicy, the Admin tier's accepts and
/// the Baseline tier give the matrix for every connection out of a pod.
#[test]
fn admin_allows_without_networkpolicies_give_the_matrix_out_of_pods() {
    let mut failures = vec![];
    for (name, ir) in cases() {
        let objects = objects(&ir, true);
        let none = |_: &TopoPod, _: &End, _: bool, _: Proto, _: u16| None;
        let d = sweep(&ir, &objects, &none, &|s, _, got, want| {
            (s.pod.is_some() && got != want).then(|| format!("got {got}, matrix {want}"))
        });
        if !d.is_empty() {
            failures.push(format!("{name}:\n  {}", d.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_object_matches_the_cluster_network_policy_schema() {
    if let Some(why) = mesh_support::missing_python() {
        return common::skip(&why);
    }
    let mut cases = cases();
    cases.extend(mesh_support::examples());
    for path in [
        "fixtures/mesh/shared.moat",
        "fixtures/good/layout-shared-namespace.moat",
    ] {
        cases.push((path.to_string(), checked(path)));
    }
    // One validator run over every case's files, each under its own directory.
    let mut all = vec![];
    for (i, (name, ir)) in cases.iter().enumerate() {
        for admin_allows in [false, true] {
            let files = mesh_support::emit(Target::K8sAdmin, ir, admin_allows)
                .unwrap_or_else(|e| panic!("{name}: {e:#?}"));
            all.extend(files.into_iter().map(|mut f| {
                f.path = format!("{i}-{admin_allows}/{}", f.path);
                f
            }));
        }
    }
    let tmp = common::TempDir::new("admin-schema");
    if let Err(e) = mesh_support::validate(Target::K8sAdmin, tmp.path(), &all) {
        panic!("k8s-admin output fails the CRD schema:\n{e}");
    }
}

/// More than 25 peers or rules: split over rules and objects whose
/// priorities keep the order; never more than the API's limits.
#[test]
fn limits_are_respected_by_splitting() {
    let mut text =
        String::from("zone internet : external { cidr 0.0.0.0/0 }\nzone app : mz { namespace app\n");
    for i in 0..40 {
        text.push_str(&format!(
            "  service s{i} {{ pods app=s{i}  port http tcp/{} }}\n",
            8000 + i
        ));
    }
    text.push_str("}\n");
    for i in 0..40 {
        text.push_str(&format!("allow app.s0 -> app.s{i} : tcp/{}\n", 8000 + i));
    }
    let ir = ir_of(&text);
    let objects = objects(&ir, false);
    let s0: Vec<&Value> = objects
        .iter()
        .filter(|o| o["metadata"]["annotations"]["moat.io/atom"] == "app.s0")
        .collect();
    assert!(
        s0.len() >= 2,
        "app.s0's 40 passes and its crossing deny need two objects"
    );
    let mut priorities: Vec<u64> = s0.iter().filter_map(|o| o["spec"]["priority"].as_u64()).collect();
    priorities.dedup();
    assert_eq!(priorities.len(), s0.len(), "each part its own priority");
    for o in &objects {
        for dir in ["ingress", "egress"] {
            let rules = o["spec"][dir].as_array().map_or(0, Vec::len);
            assert!(rules <= 25, "{} has {rules} {dir} rules", o["metadata"]["name"]);
        }
    }
    // The semantics survive the split.
    let none = |_: &TopoPod, _: &End, _: bool, _: Proto, _: u16| Some(true);
    let d = sweep(&ir, &objects, &none, &|s, d, got, want| {
        (s.pod.is_some() && d.pod.is_none() && got != want).then(|| format!("got {got}, matrix {want}"))
    });
    assert!(d.is_empty(), "{d:#?}");
}
