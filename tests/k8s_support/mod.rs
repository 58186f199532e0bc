//! Support for the k8s tests: the nca topology of a policy, running nca and
//! kubernetes-validate, parsing nca's connectivity, and comparing it with
//! moat's matrix restricted to the Kubernetes atoms.
#![allow(dead_code)]

pub mod random;

use crate::common;
use moat::backend::{self, Artefact, EmitOptions, Target};
use moat::ir::{AtomId, Ir};
use moat::ports::{PortSet, Proto};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// `Some(reason)` when nca or kubernetes-validate is missing.
pub fn missing_tools() -> Option<String> {
    for t in ["nca", "kubernetes-validate"] {
        let p = common::venv_tool(t);
        if !p.is_file() && common::missing_tool(t).is_some() {
            return Some(format!("`{t}` is not installed (run scripts/ci/install-k8s.sh)"));
        }
    }
    None
}

/// The k8s artefacts of a checked policy.
pub fn emit(ir: &Ir) -> Vec<Artefact> {
    match backend::emit(Target::K8s, ir, &EmitOptions::default()) {
        Ok(a) => a,
        Err(d) => panic!("k8s emit failed: {d:#?}"),
    }
}

/// Writes artefacts under `dir`.
pub fn write(dir: &Path, artefacts: &[Artefact]) {
    for a in artefacts {
        let p = dir.join(&a.path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, &a.contents).expect("write artefact");
    }
}

/// Runs `kubernetes-validate --strict -k 1.30` on files; returns failures.
pub fn validate(files: &[std::path::PathBuf]) -> Result<(), String> {
    let out = Command::new(common::venv_tool("kubernetes-validate"))
        .args(["--strict", "-k", "1.30", "--quiet"])
        .args(files)
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && !text.contains("ERROR") {
        Ok(())
    } else {
        Err(text)
    }
}

/// One endpoint of the nca topology.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TopoPod {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub atom: AtomId,
    pub ports: Vec<(Proto, u16)>,
}

/// The topology: a pod per (service with pods, namespace), an unlabelled pod
/// per zone namespace for the zone's remainder, and for services with two or
/// more labels a "near miss" pod in each of their namespaces (one label value
/// changed), which belongs to the remainder. In a namespace a zone shares
/// (`namespace NS pods SEL`) its pods also carry the labels SEL requires,
/// and every pod is placed where the language puts it ([`place`]); a pod no
/// zone takes there is left out (tests/layouts.rs probes those).
pub fn topology(ir: &Ir) -> Vec<TopoPod> {
    let mut pods: Vec<TopoPod> = generated(ir).into_iter().filter_map(|p| place(ir, p)).collect();
    pods.sort();
    pods.dedup_by(|a, b| a.namespace == b.namespace && a.name == b.name);
    pods
}

/// A pod meant for its zone's atom, with the labels of the zone's share of
/// its namespace, owned by what owns it: the zone whose hold on the
/// namespace (whole, or by a selector its labels match) takes it, then
/// [`owner`]. `None` when no zone or two services take it.
fn place(ir: &Ir, mut pod: TopoPod) -> Option<TopoPod> {
    let zone = ir.atoms[pod.atom].zone;
    if let Some(c) = ir.layout.zone(zone).claims.get(&pod.namespace) {
        for (k, v) in &c.equal {
            pod.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let takes = |z: usize| {
        ir.zones[z].namespaces.contains(&pod.namespace)
            && ir.layout.zone(z).claims.get(&pod.namespace).is_none_or(|c| {
                c.equal.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
                    && c.not_in
                        .iter()
                        .all(|(k, vs)| pod.labels.get(k).is_none_or(|v| !vs.contains(v)))
            })
    };
    let zones: Vec<usize> = (0..ir.zones.len()).filter(|&z| takes(z)).collect();
    let [z] = zones[..] else { return None };
    pod.atom = owner(ir, z, &pod.namespace, &pod.labels)?;
    Some(pod)
}

/// The pods [`topology`] starts from, each meant for an atom.
fn generated(ir: &Ir) -> Vec<TopoPod> {
    let mut pods = vec![];
    for (id, a) in ir.atoms.iter().enumerate() {
        let mut ports = vec![];
        for ps in a.ports.values() {
            for (p, rs) in ps.iter() {
                if p.has_ports() {
                    ports.extend(rs.iter().map(|r| (p, r.lo)));
                }
            }
        }
        for ns in &a.namespaces {
            if a.is_remainder() {
                // several zones' remainders may share a namespace
                let shared = ir.layout.zone(a.zone).claims.contains_key(ns);
                let name = match shared {
                    true => format!("{}-remainder", a.name.replace(['.', '_'], "-")),
                    false => "remainder".into(),
                };
                pods.push(TopoPod {
                    namespace: ns.clone(),
                    name,
                    labels: BTreeMap::new(),
                    atom: id,
                    ports: vec![],
                });
            } else if !a.pods.is_empty() {
                let base = a.name.replace(['.', '_'], "-");
                pods.push(TopoPod {
                    namespace: ns.clone(),
                    name: base.clone(),
                    labels: a.pods.clone(),
                    atom: id,
                    ports: ports.clone(),
                });
                if a.pods.len() >= 2 {
                    let mut near = a.pods.clone();
                    if let Some((_, v)) = near.iter_mut().last() {
                        v.push_str("-other");
                    }
                    let rem = ir.zones[a.zone].remainder;
                    pods.push(TopoPod {
                        namespace: ns.clone(),
                        name: format!("near-{base}"),
                        labels: near,
                        atom: rem,
                        ports: vec![],
                    });
                }
            }
        }
    }
    pods.extend(mixed_pods(ir));
    pods
}

/// The atom a pod with `labels` in namespace `ns` of `zone` belongs to, by
/// the language's meaning (the one service whose labels it all has, else
/// the zone's remainder); `None` when two services select it.
pub fn owner(ir: &Ir, zone: usize, ns: &str, labels: &BTreeMap<String, String>) -> Option<AtomId> {
    let z = &ir.zones[zone];
    let hits: Vec<AtomId> = z
        .services
        .iter()
        .copied()
        .filter(|&s| {
            let a = &ir.atoms[s];
            !a.pods.is_empty()
                && a.namespaces.iter().any(|n| n == ns)
                && a.pods.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .collect();
    match hits.as_slice() {
        [] => Some(z.remainder),
        [one] => Some(*one),
        _ => None,
    }
}

/// Pods that mix two services' labels (all of one, all but the last of the
/// other), placed by [`owner`]: they tell apart selectors that agree on
/// the plain pods.
fn mixed_pods(ir: &Ir) -> Vec<TopoPod> {
    let mut out = vec![];
    for (zi, z) in ir.zones.iter().enumerate() {
        for ns in &z.namespaces {
            let here: Vec<AtomId> = z
                .services
                .iter()
                .copied()
                .filter(|&s| !ir.atoms[s].pods.is_empty() && ir.atoms[s].namespaces.contains(ns))
                .collect();
            let mut seen = BTreeSet::new();
            for &a in &here {
                for &b in &here {
                    let mut labels = ir.atoms[a].pods.clone();
                    let last = labels.keys().last().cloned();
                    if let Some(k) = last {
                        labels.remove(&k);
                    }
                    labels.extend(ir.atoms[b].pods.clone());
                    if a == b || !seen.insert(labels.clone()) {
                        continue;
                    }
                    if let Some(atom) = owner(ir, zi, ns, &labels) {
                        out.push(TopoPod {
                            namespace: ns.clone(),
                            name: format!("mix-{}", seen.len()),
                            labels,
                            atom,
                            ports: vec![],
                        });
                    }
                }
            }
        }
    }
    out
}

/// Problems with the topology itself: a pod that more than one service selects.
pub fn ambiguous_pods(ir: &Ir, pods: &[TopoPod]) -> Vec<String> {
    let mut out = vec![];
    for p in pods {
        let owners: Vec<&str> = ir
            .atoms
            .iter()
            .filter(|a| !a.is_remainder() && !a.pods.is_empty() && a.namespaces.contains(&p.namespace))
            .filter(|a| a.pods.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
            .map(|a| a.name.as_str())
            .collect();
        if owners.len() > 1 {
            out.push(format!(
                "{}/{} is selected by {}",
                p.namespace,
                p.name,
                owners.join(", ")
            ));
        }
    }
    out
}

/// The topology as Kubernetes objects (Namespaces, then Pods).
pub fn topology_yaml(ir: &Ir, pods: &[TopoPod]) -> String {
    let mut docs = vec![];
    for ns in moat::backend::k8s::namespaces(ir) {
        docs.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}}));
    }
    for p in pods {
        let ports: Vec<_> = p
            .ports
            .iter()
            .map(|(proto, port)| json!({"containerPort": port, "protocol": proto.as_str().to_uppercase()}))
            .collect();
        docs.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
            "spec": {"containers": [{"name": "main", "image": "example/app", "ports": ports}]}}));
    }
    serde_saphyr::to_string_multiple(&docs).expect("topology yaml")
}

/// One side of an nca connectivity line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NcaEnd {
    Pod(String, String),
    /// Inclusive address ranges, v4 mapped into the low 2^32 of u128 with a family flag.
    Ranges(Vec<(bool, u128, u128)>),
}

/// Runs nca on `dir` (topology + policies) and returns its connectivity lines.
pub fn run_nca(dir: &Path) -> Vec<(NcaEnd, NcaEnd, PortSet)> {
    let out = dir.join("nca-out.txt");
    let _ = std::fs::remove_file(&out);
    let res = Command::new(common::venv_tool("nca"))
        .arg("--connectivity")
        .arg("-r")
        .arg(format!("{}/", dir.join("in").display()))
        .args(["-o", "txt_no_fw_rules", "--print_ipv6", "-f"])
        .arg(&out)
        .output()
        .expect("run nca");
    let text = std::fs::read_to_string(&out).unwrap_or_else(|_| {
        panic!(
            "nca wrote no output: {}\n{}",
            String::from_utf8_lossy(&res.stdout),
            String::from_utf8_lossy(&res.stderr)
        )
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_line(l).unwrap_or_else(|| panic!("cannot parse nca line: {l}")))
        .collect()
}

fn parse_line(line: &str) -> Option<(NcaEnd, NcaEnd, PortSet)> {
    let (src, rest) = line.split_once(" => ")?;
    let (dst, conns) = rest.split_once(" : ")?;
    Some((
        parse_end(src.trim())?,
        parse_end(dst.trim())?,
        crate::common::nca_conns(conns.trim())?,
    ))
}

pub fn parse_end(s: &str) -> Option<NcaEnd> {
    if let Some(pod) = s.strip_suffix("[Pod]") {
        let (ns, name) = pod.split_once('/')?;
        return Some(NcaEnd::Pod(ns.to_string(), name.to_string()));
    }
    let mut v = vec![];
    for part in s.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (std::net::IpAddr, std::net::IpAddr) =
            (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
        v.push((lo.is_ipv6(), ip_num(lo), ip_num(hi)));
    }
    Some(NcaEnd::Ranges(v))
}

/// An address as a number.
pub fn ip_num(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
        std::net::IpAddr::V6(a) => u128::from(a),
    }
}

/// A pod of the topology, by namespace and name.
type PodKey = (String, String);

/// One address-range fact from nca: pod, atom, direction, range, connections.
type RangeFact = (bool, u128, u128, PortSet);

/// Compares nca's connectivity with moat's matrix. Returns one line per difference.
pub fn compare(ir: &Ir, pods: &[TopoPod], lines: &[(NcaEnd, NcaEnd, PortSet)], side: Side) -> Vec<String> {
    compare_on(ir, pods, lines, side, &PortSet::any())
}

/// [`compare`] for a run of nca that looks at the ports of `within` only
/// (TCP for istio): a pair no end enforces is open on those.
pub fn compare_on(
    ir: &Ir,
    pods: &[TopoPod],
    lines: &[(NcaEnd, NcaEnd, PortSet)],
    side: Side,
    within: &PortSet,
) -> Vec<String> {
    // With one side opened, only the lines whose pod end is on the other side are the policies' doing.
    let keep = |src: &NcaEnd, dst: &NcaEnd| match side {
        Side::Both => true,
        Side::Ingress => matches!(dst, NcaEnd::Pod(..)),
        Side::Egress => matches!(src, NcaEnd::Pod(..)),
    };
    let lines: Vec<&(NcaEnd, NcaEnd, PortSet)> = lines.iter().filter(|(s, d, _)| keep(s, d)).collect();
    let mut diffs = vec![];
    let pod_atom: BTreeMap<PodKey, AtomId> = pods
        .iter()
        .map(|p| ((p.namespace.clone(), p.name.clone()), p.atom))
        .collect();
    // Atoms reached by address: those with addresses and no pods (an atom with pods is reached through them only).
    let addr_atoms: Vec<AtomId> = (0..ir.atoms.len())
        .filter(|&a| ir.atoms[a].has_addrs() && !moat::backend::k8s::select::selects_pods(ir, a))
        .collect();
    let mut pod_pairs: BTreeMap<(PodKey, PodKey), PortSet> = BTreeMap::new();
    // (pod, pod is the source?) -> facts about address ranges.
    let mut ranged: BTreeMap<(PodKey, bool), Vec<RangeFact>> = BTreeMap::new();
    for &(src, dst, conns) in &lines {
        match (src, dst) {
            (NcaEnd::Pod(a, b), NcaEnd::Pod(c, d)) => {
                pod_pairs
                    .entry(((a.clone(), b.clone()), (c.clone(), d.clone())))
                    .or_default()
                    .union_with(conns);
            }
            (NcaEnd::Pod(a, b), NcaEnd::Ranges(rs)) | (NcaEnd::Ranges(rs), NcaEnd::Pod(a, b)) => {
                let out = matches!(src, NcaEnd::Pod(..));
                let e = ranged.entry(((a.clone(), b.clone()), out)).or_default();
                e.extend(rs.iter().map(|&(f, lo, hi)| (f, lo, hi, conns.clone())));
                for &(f, lo, hi) in rs {
                    let hit = addr_atoms.iter().any(|&x| {
                        intervals(ir, x)
                            .iter()
                            .any(|&(g, l, h)| g == f && l <= hi && lo <= h)
                    });
                    if !hit {
                        diffs.push(format!("nca range {lo}-{hi} (v6: {f}) belongs to no atom"));
                    }
                }
            }
            _ => diffs.push(format!("nca line between two address ranges: {src:?} => {dst:?}")),
        }
    }
    for (p, q) in pod_pairs.keys() {
        if !pod_atom.contains_key(p) || !pod_atom.contains_key(q) {
            diffs.push(format!("nca reports a pod outside the topology: {p:?} => {q:?}"));
        }
    }
    // An `unmanaged` zone's pods get no policy of their own: a flow is
    // enforced at its other end only, and a flow with neither end enforced
    // (both unmanaged, or an unmanaged pod and an address) is open.
    let pod_atom_ids: BTreeSet<AtomId> = pods.iter().map(|p| p.atom).collect();
    let want = |a: AtomId, b: AtomId| {
        let at_source = pod_atom_ids.contains(&a) && !ir.is_unmanaged(a) && side != Side::Ingress;
        let at_dest = pod_atom_ids.contains(&b) && !ir.is_unmanaged(b) && side != Side::Egress;
        if !(ir.is_unmanaged(a) || ir.is_unmanaged(b)) || at_source || at_dest {
            ir.flows.get(&(a, b)).map(|f| f.ports.clone()).unwrap_or_default()
        } else {
            within.clone()
        }
    };
    for (pk, &pa) in &pod_atom {
        for (qk, &qa) in &pod_atom {
            if pk == qk {
                continue;
            }
            let got = pod_pairs
                .get(&(pk.clone(), qk.clone()))
                .cloned()
                .unwrap_or_default();
            let w = want(pa, qa);
            if got != w {
                diffs.push(format!(
                    "{pk:?} ({}) => {qk:?} ({}): nca {got}, moat {w}",
                    ir.atoms[pa].name, ir.atoms[qa].name
                ));
            }
        }
        let dirs: &[bool] = match side {
            Side::Both => &[true, false],
            Side::Ingress => &[false],
            Side::Egress => &[true],
        };
        for &out in dirs {
            let facts = ranged.get(&(pk.clone(), out)).cloned().unwrap_or_default();
            for &x in &addr_atoms {
                let w = if out { want(pa, x) } else { want(x, pa) };
                for iv in intervals(ir, x) {
                    for (lo, got) in segments(iv, &facts) {
                        if got != w {
                            let (f, t) = if out {
                                (&ir.atoms[pa].name, &ir.atoms[x].name)
                            } else {
                                (&ir.atoms[x].name, &ir.atoms[pa].name)
                            };
                            diffs.push(format!("{f} => {t} via pod {pk:?}, addresses from {lo} (v6: {}): nca {got}, moat {w}", iv.0));
                        }
                    }
                }
            }
        }
    }
    diffs
}

/// Splits the interval at every boundary of the facts, and unions the
/// connections nca reports for each piece: (piece start, connections).
fn segments(iv: (bool, u128, u128), facts: &[RangeFact]) -> Vec<(u128, PortSet)> {
    let (fam, lo, hi) = iv;
    let mut cuts: BTreeSet<u128> = BTreeSet::from([lo]);
    for (f, a, b, _) in facts {
        if *f == fam {
            if *a > lo && *a <= hi {
                cuts.insert(*a);
            }
            if *b >= lo && *b < hi {
                cuts.insert(*b + 1);
            }
        }
    }
    cuts.into_iter()
        .map(|p| {
            let mut got = PortSet::empty();
            for (f, a, b, c) in facts {
                if *f == fam && *a <= p && p <= *b {
                    got.union_with(c);
                }
            }
            (p, got)
        })
        .collect()
}

/// An atom's addresses as inclusive numeric intervals, per family.
fn intervals(ir: &Ir, atom: AtomId) -> Vec<(bool, u128, u128)> {
    ir.atoms[atom]
        .addrs
        .prefixes()
        .iter()
        .map(|n| {
            (
                matches!(n, ipnet::IpNet::V6(_)),
                ip_num(n.network()),
                ip_num(n.broadcast()),
            )
        })
        .collect()
}

/// Which side of the policies a run checks: both, or one with the other opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Both,
    /// Every egress allowed: the ingress rules alone must give the matrix.
    Ingress,
    /// Every ingress allowed: the egress rules alone must give the matrix.
    Egress,
}

/// A policy per namespace that allows all of the other side (`ingress: [{}]`
/// or `egress: [{}]`), so that one side's rules are checked on their own (a
/// mistake on one side is otherwise hidden by the other side's rule).
pub fn open_side(ir: &Ir, side: Side) -> String {
    let (ty, key) = if side == Side::Ingress {
        ("Egress", "egress")
    } else {
        ("Ingress", "ingress")
    };
    let docs: Vec<_> = moat::backend::k8s::namespaces(ir)
        .into_iter()
        .map(|ns| {
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "test-open", "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": [ty], key: [{}]}})
        })
        .collect();
    serde_saphyr::to_string_multiple(&docs).expect("open-side yaml")
}

/// The whole proof for one policy: emit, validate, build the topology, run
/// nca on both sides together and on each side alone, compare. Returns the
/// differences (empty when nca agrees with moat).
pub fn prove(ir: &Ir, tag: &str) -> Vec<String> {
    let artefacts = emit(ir);
    let tmp = common::TempDir::new(tag);
    let input = tmp.path().join("in");
    write(&input, &artefacts);
    let files: Vec<_> = artefacts.iter().map(|a| input.join(&a.path)).collect();
    if let Err(e) = validate(&files) {
        return vec![format!("kubernetes-validate failed: {e}")];
    }
    let pods = topology(ir);
    let mut diffs = ambiguous_pods(ir, &pods);
    std::fs::write(input.join("topology.yaml"), topology_yaml(ir, &pods)).expect("write topology");
    for side in [Side::Both, Side::Ingress, Side::Egress] {
        let _ = std::fs::remove_file(input.join("open.yaml"));
        if side != Side::Both {
            std::fs::write(input.join("open.yaml"), open_side(ir, side)).expect("write open side");
        }
        let lines = run_nca(tmp.path());
        let allowed_pairs = pods
            .iter()
            .flat_map(|p| pods.iter().map(move |q| (p, q)))
            .filter(|(p, q)| p != q && ir.flows.contains_key(&(p.atom, q.atom)))
            .count();
        if allowed_pairs > 0 && lines.is_empty() {
            diffs.push(format!("{side:?}: nca reports no connectivity at all"));
        }
        diffs.extend(
            compare(ir, &pods, &lines, side)
                .into_iter()
                .map(|d| format!("{side:?}: {d}")),
        );
    }
    if !diffs.is_empty() {
        for a in &artefacts {
            eprintln!("==> {} <==\n{}", a.path, a.contents);
        }
        eprintln!("==> topology <==\n{}", topology_yaml(ir, &pods));
    }
    diffs
}

/// Runs `prove` for many cases on a few threads (nca mostly waits), and
/// returns the failures as `name: differences`.
pub fn prove_all(cases: Vec<(String, Ir)>) -> Vec<String> {
    let cases = std::sync::Mutex::new(cases);
    let failures = std::sync::Mutex::new(vec![]);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let Some((name, ir)) = cases.lock().expect("lock").pop() else {
                    break;
                };
                let diffs = prove(&ir, &format!("k8s-{name}"));
                if !diffs.is_empty() {
                    failures
                        .lock()
                        .expect("lock")
                        .push(format!("{name}:\n  {}", diffs.join("\n  ")));
                }
            });
        }
    });
    let mut f = failures.into_inner().expect("lock");
    f.sort();
    f
}
