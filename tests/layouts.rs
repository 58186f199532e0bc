//! Deployment layouts (issue 12 items 1-4) proved by their oracles: the k8s
//! output of each `fixtures/good/layout-*.moat` by IBM's
//! network-config-analyzer (nca) over a topology that has a pod for every
//! atom in every namespace it lives in, pods that mix two zones' labels,
//! pods that no zone claims, pods of unmanaged and label-chosen namespaces,
//! and a pod of a namespace no zone names; plus what the other targets must
//! (not) write for unmanaged zones, and the cross-cluster E012.
//!
//! The expected connectivity is moat's matrix, where a pair with no enforcing
//! end (both ends unmanaged, in a namespace chosen by label, or outside every
//! zone; or such a pod and an address) is open: that is what `unmanaged`
//! means. Pods that no zone claims in a shared namespace are isolated.

mod cloud_support;
mod common;
mod k8s_support;

use k8s_support::{compare, run_nca, validate, write, NcaEnd, Side, TopoPod};
use moat::addr::AddrSet;
use moat::backend::{self, k8s, Artefact, EmitOptions, Target};
use moat::ir::{Atom, AtomId, Flow, Ir, PodSelector};
use moat::ports::PortSet;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// A fixture, checked, by its path relative to the crate root.
fn ir_of(rel: &str) -> Ir {
    let c = moat::check_paths(&moat::load::Disk, &[PathBuf::from(rel)]);
    assert!(!c.has_errors(), "{rel}: {:#?}", c.diags);
    c.ir.expect("an IR")
}

fn emit(ir: &Ir, target: Target) -> Vec<Artefact> {
    backend::emit(target, ir, &EmitOptions::default()).unwrap_or_else(|d| panic!("{target:?}: {d:#?}"))
}

fn matches(sel: &PodSelector, labels: &BTreeMap<String, String>) -> bool {
    sel.equal.iter().all(|(k, v)| labels.get(k) == Some(v))
        && sel
            .not_in
            .iter()
            .all(|(k, vs)| labels.get(k).is_none_or(|v| !vs.contains(v)))
}

/// Who a pod with `labels` in namespace `ns` is, by the language's meaning:
/// the zone whose (whole or selected) hold on `ns` takes it, then the one
/// service of that zone whose labels it has, else the zone's remainder.
/// `Ok(None)`: no zone claims it. `Err`: two services select it (a bad probe).
fn owner(ir: &Ir, ns: &str, labels: &BTreeMap<String, String>) -> Result<Option<AtomId>, ()> {
    let zones: Vec<usize> = (0..ir.zones.len())
        .filter(|&z| ir.zones[z].namespaces.iter().any(|n| n == ns))
        .filter(|&z| {
            ir.layout
                .zone(z)
                .claims
                .get(ns)
                .is_none_or(|c| matches(c, labels))
        })
        .collect();
    let z = match zones.as_slice() {
        [] => return Ok(None),
        [z] => *z,
        _ => panic!("two zones take the pod {labels:?} of {ns}: the checker should have refused"),
    };
    k8s_support::owner(ir, z, ns, labels).map(Some).ok_or(())
}

/// The label sets to place in namespace `ns`: each service's and each zone's
/// own, every service's labels with every zone's claim there (mixes that a
/// selector without the claim would take), and for each claimed key a value
/// that no claim names (pods no zone may claim).
fn candidates(ir: &Ir, ns: &str) -> BTreeSet<BTreeMap<String, String>> {
    let claims: Vec<&PodSelector> = (0..ir.zones.len())
        .filter_map(|z| ir.layout.zone(z).claims.get(ns))
        .collect();
    let mut own: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    own.extend(claims.iter().map(|c| c.equal.clone()));
    let services: Vec<&BTreeMap<String, String>> = (ir.atoms.iter())
        .filter(|a| !a.pods.is_empty() && a.namespaces.iter().any(|n| n == ns))
        .map(|a| &a.pods)
        .collect();
    let mut out = BTreeSet::new();
    for base in &own {
        out.insert(base.clone());
        for s in &services {
            let mut l = base.clone();
            l.extend(s.iter().map(|(k, v)| (k.clone(), v.clone())));
            out.insert(l);
        }
    }
    for c in &claims {
        for k in c.equal.keys().chain(c.not_in.keys()) {
            out.insert(BTreeMap::from([(k.clone(), "unclaimed".to_string())]));
        }
    }
    out
}

/// One namespace of the topology: name and labels.
type Namespace = (String, BTreeMap<String, String>);

/// The topology of one cluster's view, and the model to compare nca with:
/// the view plus the pseudo-atoms `(unclaimed)`, `(outsider)` and
/// `(elsewhere)` (every address no atom has), with the open pairs added.
fn topology(view: &Ir) -> (Vec<Namespace>, Vec<TopoPod>, Ir, Ends) {
    let mut m = view.clone();
    let n = view.atoms.len();
    let pseudo = |name: &str, addrs: AddrSet| Atom {
        name: name.into(),
        zone: 0,
        service: Some(name.into()),
        addrs,
        namespaces: vec![],
        pods: BTreeMap::new(),
        ports: BTreeMap::new(),
        resident: false,
        service_account: None,
        span: Default::default(),
    };
    let taken: Vec<ipnet::IpNet> = view.atoms.iter().flat_map(|a| a.addrs.prefixes()).collect();
    let all = vec!["0.0.0.0/0".parse().expect("v4"), "::/0".parse().expect("v6")];
    let (unclaimed, outsider) = (n, n + 1);
    m.atoms.push(pseudo("(unclaimed)", AddrSet::default()));
    m.atoms.push(pseudo("(outsider)", AddrSet::default()));
    m.atoms.push(pseudo("(elsewhere)", AddrSet::new(all, taken))); // n + 2
    let managed = k8s::namespaces(view);
    let mut namespaces: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut pods = vec![];
    let place = |ns: &str, labels: BTreeMap<String, String>, atom: AtomId, pods: &mut Vec<TopoPod>| {
        let i = pods.iter().filter(|p: &&TopoPod| p.namespace == ns).count();
        pods.push(TopoPod {
            namespace: ns.into(),
            name: format!("p{i}"),
            labels,
            atom,
            ports: vec![],
        });
    };
    for z in &view.zones {
        for ns in &z.namespaces {
            namespaces.entry(ns.clone()).or_default();
        }
    }
    for ns in namespaces.keys().cloned().collect::<Vec<_>>() {
        for labels in candidates(view, &ns) {
            match owner(view, &ns, &labels) {
                Ok(Some(a)) => place(&ns, labels, a, &mut pods),
                Ok(None) if managed.contains(&ns) => place(&ns, labels, unclaimed, &mut pods),
                Ok(None) => place(&ns, labels, outsider, &mut pods),
                Err(()) => {}
            }
        }
    }
    for (zi, z) in view.zones.iter().enumerate() {
        let nl = &view.layout.zone(zi).ns_labels;
        if nl.is_empty() {
            continue;
        }
        let ns = format!("labelled-{}", z.name);
        namespaces.insert(ns.clone(), nl.clone());
        for &a in z.services.iter().chain([&z.remainder]) {
            place(&ns, view.atoms[a].pods.clone(), a, &mut pods);
        }
    }
    namespaces.insert("outsider".into(), BTreeMap::new());
    place("outsider", BTreeMap::new(), outsider, &mut pods);
    for (ns, labels) in namespaces.iter_mut() {
        labels.insert("kubernetes.io/metadata.name".into(), ns.clone());
    }
    // An end enforces when moat writes policies for its pods.
    let enforcing: BTreeSet<AtomId> = (0..n)
        .filter(|&a| view.atoms[a].has_namespaces() && !view.is_unmanaged(a))
        .chain([unclaimed])
        .collect();
    let pod_atoms: BTreeSet<AtomId> = pods.iter().map(|p| p.atom).collect();
    let addr_atoms: Vec<AtomId> = (0..m.atoms.len())
        .filter(|&a| m.atoms[a].has_addrs() && !k8s::select::selects_pods(&m, a))
        .collect();
    let ends = pod_atoms.iter().copied().chain(addr_atoms).collect();
    let e = Ends {
        enforcing,
        pod_atoms,
        ends,
    };
    (namespaces.into_iter().collect(), pods, m, e)
}

/// Which atoms of a topology enforce, have pods, or are ends at all.
struct Ends {
    enforcing: BTreeSet<AtomId>,
    pod_atoms: BTreeSet<AtomId>,
    ends: Vec<AtomId>,
}

/// The connectivity nca must find: the matrix, except that a pair is open
/// when no end that the run checks enforces (both sides: neither end; with
/// egress opened: the destination; with ingress opened: the source).
fn expected(m: &Ir, e: &Ends, side: Side) -> Ir {
    let mut x = m.clone();
    let enf = |a: AtomId| e.enforcing.contains(&a);
    for &a in &e.pod_atoms {
        for &b in &e.ends {
            for (s, d) in [(a, b), (b, a)] {
                let open = match side {
                    Side::Both => !enf(s) && !enf(d),
                    Side::Ingress => !enf(d),
                    Side::Egress => !enf(s),
                };
                if open {
                    let any = Flow {
                        ports: PortSet::any(),
                        by: vec![],
                    };
                    x.flows.insert((s, d), any);
                }
            }
        }
    }
    x
}

/// A policy per managed namespace that opens one side (as the k8s harness
/// does), so that the other side's rules are checked alone.
fn open_side(view: &Ir, side: Side) -> String {
    let (ty, key) = if side == Side::Ingress {
        ("Egress", "egress")
    } else {
        ("Ingress", "ingress")
    };
    let docs: Vec<_> = k8s::namespaces(view)
        .into_iter()
        .map(|ns| {
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "test-open", "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": [ty], key: [{}]}})
        })
        .collect();
    serde_saphyr::to_string_multiple(&docs).expect("open-side yaml")
}

fn topology_yaml(namespaces: &[Namespace], pods: &[TopoPod]) -> String {
    let mut docs = vec![];
    for (ns, labels) in namespaces {
        docs.push(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}}),
        );
    }
    for p in pods {
        docs.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
            "spec": {"containers": [{"name": "main", "image": "example/app"}]}}));
    }
    serde_saphyr::to_string_multiple(&docs).expect("topology yaml")
}

/// The policy as each of its clusters sees it (itself when it names none).
fn views(ir: &Ir) -> Vec<(String, Ir)> {
    if ir.layout.clusters.is_empty() {
        return vec![("".into(), ir.clone())];
    }
    (ir.layout.clusters.iter().enumerate())
        .map(|(c, cl)| (cl.name.clone(), k8s::clusters::view(ir, c)))
        .collect()
}

/// Emits, validates and runs nca on each cluster's files and topology;
/// returns the differences from the matrix. Each cluster's files are exactly
/// what its view compiles to.
fn prove(rel: &str) -> Vec<String> {
    prove_with(rel, |_| {}, &[Side::Both, Side::Ingress, Side::Egress])
}

/// [`prove`], with the files compiled from the policy as `break_it` leaves it
/// (the expectation stays the policy's), on the given sides.
fn prove_with(rel: &str, break_it: fn(&mut Ir), sides: &[Side]) -> Vec<String> {
    let ir = ir_of(rel);
    let mut broken = ir.clone();
    break_it(&mut broken);
    let all = emit(&broken, Target::K8s);
    let broken_views = views(&broken);
    let mut diffs = vec![];
    let mut seen = 0;
    for (i, (cluster, view)) in views(&ir).into_iter().enumerate() {
        let files: Vec<Artefact> = emit(&broken_views[i].1, Target::K8s);
        let dir = if cluster.is_empty() {
            "k8s/".to_string()
        } else {
            format!("k8s/{cluster}/")
        };
        assert!(
            files.iter().all(|f| f.path.starts_with(&dir) && all.contains(f)),
            "{rel}: cluster `{cluster}` compiles to other files than the policy's"
        );
        seen += files.len();
        let (namespaces, pods, model, ends) = topology(&view);
        let tmp = common::TempDir::new(&format!("layouts-{}", cluster.replace('/', "-")));
        let input = tmp.path().join("in");
        write(&input, &files);
        let paths: Vec<PathBuf> = files.iter().map(|a| input.join(&a.path)).collect();
        if let Err(e) = validate(&paths) {
            diffs.push(format!("{rel} {cluster}: kubernetes-validate: {e}"));
            continue;
        }
        std::fs::write(input.join("topology.yaml"), topology_yaml(&namespaces, &pods)).expect("write");
        let mut found = vec![];
        for &side in sides {
            let _ = std::fs::remove_file(input.join("open.yaml"));
            if side != Side::Both {
                std::fs::write(input.join("open.yaml"), open_side(&view, side)).expect("write");
            }
            let lines = run_nca(tmp.path());
            assert!(
                lines
                    .iter()
                    .any(|(s, d, _)| matches!((s, d), (NcaEnd::Pod(..), NcaEnd::Pod(..)))),
                "{rel} {cluster}: nca reports no pod-to-pod connectivity"
            );
            let want = expected(&model, &ends, side);
            found.extend(
                compare(&want, &pods, &lines, side)
                    .into_iter()
                    .map(|d| format!("{side:?}: {d}")),
            );
        }
        if !found.is_empty() {
            for f in &files {
                eprintln!("==> {} <==\n{}", f.path, f.contents);
            }
            eprintln!("==> topology <==\n{}", topology_yaml(&namespaces, &pods));
        }
        diffs.extend(found.into_iter().map(|d| format!("{rel} {cluster}: {d}")));
    }
    assert_eq!(
        seen,
        all.len(),
        "{rel}: the clusters' files are not the policy's files"
    );
    diffs
}

fn prove_fixture(rel: &str) {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let diffs = prove(rel);
    assert!(diffs.is_empty(), "nca disagrees with moat:\n{}", diffs.join("\n"));
}

#[test]
fn shared_namespace_matches_nca() {
    prove_fixture("fixtures/good/layout-shared-namespace.moat");
}

#[test]
fn clusters_match_nca() {
    prove_fixture("fixtures/good/layout-clusters.moat");
}

#[test]
fn unmanaged_zones_match_nca() {
    prove_fixture("fixtures/good/layout-unmanaged.moat");
}

#[test]
fn namespaces_by_label_match_nca() {
    prove_fixture("fixtures/good/layout-namespace-labels.moat");
}

/// Unclaimed pods (W009) are isolated: the proof above places them; here a
/// policy where some certainly exist is proved the same way.
#[test]
fn unclaimed_pods_are_isolated_by_nca() {
    prove_fixture("fixtures/bad/W009-unclaimed-pods.moat");
}

/// The proof is not vacuous: files compiled with other zone selectors on
/// `regproc`, with the unmanaged zones managed, or with other namespace
/// labels, are caught.
#[test]
fn the_proof_notices_broken_layouts() {
    if let Some(why) = k8s_support::missing_tools() {
        return common::skip(&why);
    }
    let swapped = prove_with(
        "fixtures/good/layout-shared-namespace.moat",
        |ir| {
            for c in ir.layout.zones.iter_mut().flat_map(|z| z.claims.values_mut()) {
                c.equal.values_mut().for_each(|v| *v = "mz".into());
            }
        },
        &[Side::Both],
    );
    assert!(!swapped.is_empty(), "zone selectors changed, yet nca agrees");
    let managed = prove_with(
        "fixtures/good/layout-unmanaged.moat",
        |ir| {
            for z in &mut ir.layout.zones {
                z.unmanaged = false;
            }
        },
        &[Side::Both],
    );
    assert!(!managed.is_empty(), "kube-system locked down, yet nca agrees");
    let labels = prove_with(
        "fixtures/good/layout-namespace-labels.moat",
        |ir| {
            for z in &mut ir.layout.zones {
                z.ns_labels.insert("team".into(), "other".into());
            }
        },
        &[Side::Both],
    );
    assert!(!labels.is_empty(), "namespace labels changed, yet nca agrees");
}

fn paths(a: &[Artefact]) -> Vec<&str> {
    a.iter().map(|a| a.path.as_str()).collect()
}

#[test]
fn clusters_write_one_directory_each() {
    let ir = ir_of("fixtures/good/layout-clusters.moat");
    let files = emit(&ir, Target::K8s);
    assert_eq!(
        paths(&files),
        [
            "k8s/dmz-k8s/regproc.yaml",
            "k8s/mz-k8s/kafka.yaml",
            "k8s/mz-k8s/regproc.yaml"
        ]
    );
    // the same namespace in two clusters is two namespaces, each with its own policies
    let dmz = &files[0].contents;
    let mz = &files[2].contents;
    assert!(dmz.contains("moat-dmz-pktserver") && !dmz.contains("moat-mz-workflow"));
    assert!(mz.contains("moat-mz-workflow") && !mz.contains("moat-dmz-pktserver"));
    // a peer in the other cluster is named by its addresses only
    assert!(dmz.contains("cidr: 10.20.20.100/32") && !dmz.contains("regproc-workflow"));
    assert!(mz.contains("cidr: 10.20.20.199/32") && !mz.contains("regproc-pktserver"));
    // deterministic
    assert_eq!(files, emit(&ir, Target::K8s));
}

#[test]
fn cross_cluster_flow_without_addresses_is_e012_with_a_hint() {
    let text = "site s : onprem\ncluster a @ s\ncluster b @ s\n\
        zone x : mz @ s { cluster a  namespace x  service p { pods app=p  port h tcp/80 } }\n\
        zone y : mz @ s { cluster b  cidr 10.0.0.0/24  namespace y  service q { pods app=q  hosts 10.0.0.1  port h tcp/80 } }\n\
        allow x.p -> y.q : h\n";
    let c = moat::check_str("cc.moat", text);
    let ir = c.ir.unwrap_or_else(|| panic!("{:#?}", c.diags));
    let errs = backend::emit(Target::K8s, &ir, &EmitOptions::default()).expect_err("E012");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert_eq!(e.code, "E012");
    assert!(
        e.message.contains("cluster `a`") && e.message.contains("`x.p` has no addresses"),
        "{}",
        e.message
    );
    let span = e.span.expect("a span");
    assert_eq!(&text[span.start..span.end], "allow x.p -> y.q : h");
    assert!(e.help.as_deref().is_some_and(|h| h.contains("hosts")), "{e:?}");
}

#[test]
fn unmanaged_zones_get_nothing_of_their_own() {
    let ir = ir_of("fixtures/good/layout-unmanaged.moat");
    // k8s: no default deny, no policy in kube-system; the DNS is a peer
    let k = emit(&ir, Target::K8s);
    assert_eq!(paths(&k), ["k8s/keymanager.yaml"]);
    assert!(k[0].contents.contains("k8s-app: kube-dns"));
    // netfilter: a gateway and mz's host ruleset, none for kube or observation
    for (t, ext) in [(Target::Iptables, ".v4.rules"), (Target::Nftables, ".nft")] {
        let p = emit(&ir, t);
        let dir = t.as_str();
        assert_eq!(
            paths(&p),
            [format!("{dir}/gateway{ext}"), format!("{dir}/host-mz{ext}")],
            "{dir}"
        );
        // the gateway still carries every flow of the unmanaged zones
        assert!(p[0].contents.contains("10.10.50.10"), "{dir}");
    }
    // aws: groups for the managed zone only; abis is named by its addresses
    let aws = emit(&ir, Target::Aws);
    let tf = &aws
        .iter()
        .find(|a| a.path == "aws/main.tf.json")
        .expect("main.tf.json")
        .contents;
    assert!(tf.contains("handler__app") && !tf.contains("abis__mq\""), "{tf}");
    assert!(tf.contains("10.30.1.5/32"));
}

/// The cloud read-back evaluator on the unmanaged fixture with its cloud site
/// as each of aws, gcp and azure: the managed groups enforce every flow of
/// the unmanaged zone exactly, and the unmanaged zone has no group.
#[test]
fn unmanaged_zones_in_every_cloud_are_enforced_exactly() {
    let text =
        std::fs::read_to_string(common::root().join("fixtures/good/layout-unmanaged.moat")).expect("read");
    let aws = r#"site cloud : aws { region "ap-south-1"  vpc "vpc-0a1b2c3d" }"#;
    assert!(text.contains(aws));
    for (t, site) in [
        (Target::Aws, aws),
        (
            Target::Gcp,
            r#"site cloud : gcp { project "shop-prod" region "asia-south1" network "n" }"#,
        ),
        (
            Target::Azure,
            r#"site cloud : azure { region "centralindia" resource_group "rg" }"#,
        ),
    ] {
        let ir = moat::check_str("u.moat", &text.replace(aws, site))
            .ir
            .expect("checks");
        let problems = cloud_support::verify(&ir, t).unwrap_or_else(|d| panic!("{t:?}: {d:#?}"));
        assert!(problems.is_empty(), "{t:?}:\n{}", problems.join("\n"));
        let out: String = emit(&ir, t).iter().map(|a| a.contents.as_str()).collect();
        // a group, tag or ASG is named after its atom; the unmanaged atoms have none
        let named = |n: &str| out.contains(&format!("\"{n}\""));
        assert!(
            ["handler__app", "handler.app", "handler_app"]
                .iter()
                .any(|n| named(n)),
            "{t:?}"
        );
        assert!(
            !["abis", "abis__mq", "abis.mq", "abis_mq"]
                .iter()
                .any(|n| named(n)),
            "{t:?}"
        );
    }
}

#[test]
fn audit_lists_unmanaged_zones() {
    let ir = ir_of("fixtures/good/layout-unmanaged.moat");
    let r = moat::analysis::audit::report(&ir);
    let names: Vec<&str> = r.unmanaged.iter().map(|u| u.zone.as_str()).collect();
    assert_eq!(names, ["abis", "kube", "observation"]);
    let text = moat::analysis::audit::to_doc(&r, false);
    assert!(
        text.contains("Unmanaged zones") && text.contains("mz -> observation.rancher tcp/443"),
        "{text}"
    );
}

#[test]
fn layouts_round_trip_through_fmt() {
    for rel in [
        "fixtures/good/layout-shared-namespace.moat",
        "fixtures/good/layout-clusters.moat",
        "fixtures/good/layout-unmanaged.moat",
        "fixtures/good/layout-namespace-labels.moat",
    ] {
        let text = std::fs::read_to_string(common::root().join(rel)).expect("read");
        let once = moat::syntax::fmt::format(&text).expect("formats");
        assert_eq!(moat::syntax::fmt::format(&once).expect("formats"), once, "{rel}");
        let (a, b) = (moat::check_str("a.moat", &text), moat::check_str("a.moat", &once));
        let (a, b) = (a.ir.expect("checks"), b.ir.expect("checks"));
        assert_eq!(a.layout, b.layout, "{rel}");
        assert_eq!(
            a.flows.keys().collect::<Vec<_>>(),
            b.flows.keys().collect::<Vec<_>>(),
            "{rel}"
        );
    }
}
