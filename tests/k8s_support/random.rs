//! A small seeded generator of random checked policies, built directly as IR
//! (zones with namespaces and/or ranges, services with one or two labels,
//! own namespaces and hosts, an external zone, random allows), so that the k8s
//! back end can be proved against nca independently of the parser.

use ipnet::IpNet;
use moat::addr::AddrSet;
use moat::ir::{Allow, Atom, Flow, Ir, Site, SiteKind, Zone, ZoneKind};
use moat::ports::{PortRange, PortSet, Proto};
use moat::span::Span;
use std::collections::BTreeMap;

/// splitmix64: small, seeded, good enough for test cases.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `p` percent.
    pub fn chance(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("generator CIDR")
}

/// A zone being generated, before atoms are sorted and numbered.
struct ZoneSpec {
    name: String,
    kind: ZoneKind,
    cidrs: Vec<IpNet>,
    namespaces: Vec<String>,
    services: Vec<SvcSpec>,
}

struct SvcSpec {
    name: String,
    pods: BTreeMap<String, String>,
    namespaces: Vec<String>,
    hosts: Vec<IpNet>,
    ports: BTreeMap<String, PortSet>,
}

/// A random valid policy with 3-5 zones and a few services and allows.
pub fn random_ir(seed: u64) -> Ir {
    let mut r = Rng::new(seed);
    let mut zones = vec![ZoneSpec {
        name: "internet".into(),
        kind: ZoneKind::External,
        cidrs: vec![net("0.0.0.0/0")],
        namespaces: vec![],
        services: vec![],
    }];
    let n = 2 + r.below(3);
    for i in 0..n {
        zones.push(random_zone(&mut r, i));
    }
    lower(zones, &mut r, seed)
}

fn random_zone(r: &mut Rng, i: usize) -> ZoneSpec {
    let name = format!("z{i}");
    // 0: namespaces only, 1: namespaces and a range, 2: a range only.
    let shape = if i == 0 { 0 } else { r.below(3) };
    let cidrs = if shape >= 1 {
        vec![net(&format!("10.{i}.0.0/16"))]
    } else {
        vec![]
    };
    let namespaces: Vec<String> = if shape <= 1 {
        (0..1 + r.below(2)).map(|k| format!("{name}-ns{k}")).collect()
    } else {
        vec![]
    };
    let kind = if r.chance(50) {
        ZoneKind::Demilitarised
    } else {
        ZoneKind::Militarised
    };
    let services = (0..r.below(4))
        .map(|k| random_service(r, i, k, &namespaces, !cidrs.is_empty()))
        .collect();
    ZoneSpec {
        name,
        kind,
        cidrs,
        namespaces,
        services,
    }
}

fn random_service(r: &mut Rng, zone: usize, k: usize, namespaces: &[String], has_cidr: bool) -> SvcSpec {
    let name = format!("s{k}");
    let mut pods = BTreeMap::new();
    if !namespaces.is_empty() && (!has_cidr || r.chance(75)) {
        if r.chance(25) {
            // The Helm scheme: name and instance, both the chart's name.
            pods.insert("app.kubernetes.io/name".to_string(), format!("z{zone}-{name}"));
            pods.insert(
                "app.kubernetes.io/instance".to_string(),
                format!("z{zone}-{name}"),
            );
        } else {
            pods.insert("app".to_string(), format!("z{zone}-{name}"));
        }
        if r.chance(40) {
            pods.insert("tier".to_string(), ["web", "api", "db"][r.below(3)].to_string());
        }
    }
    let own_ns = !pods.is_empty() && namespaces.len() > 1 && r.chance(50);
    let svc_ns = if own_ns {
        vec![namespaces[r.below(namespaces.len())].clone()]
    } else {
        namespaces.to_vec()
    };
    let hosts = if has_cidr && (pods.is_empty() || r.chance(40)) {
        vec![net(&format!("10.{zone}.{}.0/24", k + 1))]
    } else {
        vec![]
    };
    let port = 1000 + 10 * k as u16 + zone as u16 * 100;
    let ports = BTreeMap::from([(
        "p".to_string(),
        PortSet::range(Proto::Tcp, PortRange::new(port, port)),
    )]);
    SvcSpec {
        name,
        pods,
        namespaces: svc_ns,
        hosts,
        ports,
    }
}

fn random_ports(r: &mut Rng) -> PortSet {
    let lo = 1 + r.below(9000) as u16;
    match r.below(8) {
        0 => PortSet::any(),
        1 => PortSet::range(Proto::Udp, PortRange::new(53, 53))
            .union(&PortSet::range(Proto::Tcp, PortRange::new(53, 53))),
        2 => PortSet::range(Proto::Tcp, PortRange::new(lo, lo + 20)),
        3 => PortSet::proto(Proto::Tcp),
        4 => PortSet::range(Proto::Sctp, PortRange::new(lo, lo)),
        5 => PortSet::range(Proto::Udp, PortRange::new(lo, lo))
            .union(&PortSet::range(Proto::Tcp, PortRange::new(lo, lo))),
        _ => PortSet::range(Proto::Tcp, PortRange::new(lo, lo)),
    }
}

/// Sorts, numbers and links the zones' atoms, then draws and expands allows.
fn lower(specs: Vec<ZoneSpec>, r: &mut Rng, seed: u64) -> Ir {
    let mut atoms: Vec<Atom> = vec![];
    let all_cidrs: Vec<IpNet> = specs.iter().skip(1).flat_map(|z| z.cidrs.clone()).collect();
    for (zi, z) in specs.iter().enumerate() {
        let mut holes: Vec<IpNet> = z.services.iter().flat_map(|s| s.hosts.clone()).collect();
        if z.kind == ZoneKind::External {
            holes.extend(all_cidrs.iter().copied());
        }
        let addrs = if z.cidrs.is_empty() {
            AddrSet::default()
        } else {
            AddrSet::new(z.cidrs.clone(), holes)
        };
        atoms.push(atom(
            z.name.clone(),
            zi,
            None,
            addrs,
            z.namespaces.clone(),
            BTreeMap::new(),
            BTreeMap::new(),
        ));
        for s in &z.services {
            let addrs = AddrSet::new(s.hosts.clone(), vec![]);
            atoms.push(atom(
                format!("{}.{}", z.name, s.name),
                zi,
                Some(s.name.clone()),
                addrs,
                s.namespaces.clone(),
                s.pods.clone(),
                s.ports.clone(),
            ));
        }
    }
    atoms.sort_by(|a, b| a.name.cmp(&b.name));
    let zones: Vec<Zone> = specs
        .iter()
        .enumerate()
        .map(|(zi, z)| Zone {
            name: z.name.clone(),
            kind: z.kind,
            site: 0,
            cidrs: z.cidrs.clone(),
            namespaces: z.namespaces.clone(),
            cell: None,
            services: atoms
                .iter()
                .enumerate()
                .filter(|(_, a)| a.zone == zi && !a.is_remainder())
                .map(|(i, _)| i)
                .collect(),
            remainder: atoms
                .iter()
                .position(|a| a.zone == zi && a.is_remainder())
                .expect("remainder"),
            dns: vec![],
            cidr_ranges: vec![],
            span: Span::default(),
        })
        .collect();
    let mut ir = Ir {
        name: format!("rand{seed}"),
        title: None,
        sites: vec![Site {
            name: "default".into(),
            kind: SiteKind::Onprem,
            props: BTreeMap::new(),
            span: None,
        }],
        zones,
        atoms,
        allows: vec![],
        forbids: vec![],
        flows: BTreeMap::new(),
        layout: Default::default(),
    };
    for _ in 0..3 + r.below(5) {
        add_allow(&mut ir, r);
    }
    ir
}

fn atom(
    name: String,
    zone: usize,
    service: Option<String>,
    addrs: AddrSet,
    namespaces: Vec<String>,
    pods: BTreeMap<String, String>,
    ports: BTreeMap<String, PortSet>,
) -> Atom {
    // Every service runs as its own service account (its mesh identity).
    let service_account = service.as_ref().map(|_| name.replace(['.', '_'], "-"));
    Atom {
        name,
        zone,
        service,
        addrs,
        namespaces,
        pods,
        ports,
        resident: false,
        service_account,
        span: Span::default(),
    }
}

/// A random endpoint: a zone (all its atoms) or one service.
fn endpoint(ir: &Ir, r: &mut Rng) -> Vec<usize> {
    let z = &ir.zones[r.below(ir.zones.len())];
    if z.services.is_empty() || r.chance(40) {
        let mut v = z.services.clone();
        v.push(z.remainder);
        v
    } else {
        vec![z.services[r.below(z.services.len())]]
    }
}

fn add_allow(ir: &mut Ir, r: &mut Rng) {
    let from = endpoint(ir, r);
    let to = endpoint(ir, r);
    let ports = random_ports(r);
    let id = ir.allows.len();
    ir.allows.push(Allow {
        span: Span::default(),
        loc: format!("rand.moat:{}", id + 1),
        cite: moat::ir::cite(&format!("rand.moat allow {id}")),
        reason: None,
        exempt: None,
        l7: None,
    });
    for &f in &from {
        for &t in &to {
            let flow: &mut Flow = ir.flows.entry((f, t)).or_default();
            flow.ports.union_with(&ports);
            flow.by.push((id, ports.clone()));
        }
    }
}
