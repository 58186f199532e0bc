//! Helpers for the audit tests: a small builder of hand-made IRs (so the
//! analyses are tested independently of the front end), port-set shorthands,
//! and running the `moat` binary.
#![allow(dead_code)]

use moat::addr::AddrSet;
use moat::ir::{Allow, Atom, Flow, Ir, Site, SiteKind, Zone, ZoneKind};
use moat::ports::{PortRange, PortSet, Proto};
use moat::span::Span;
use std::collections::BTreeMap;

/// `tcp/lo-hi`.
pub fn tcp(lo: u16, hi: u16) -> PortSet {
    PortSet::range(Proto::Tcp, PortRange::new(lo, hi))
}

/// A zone to be built: name, kind, cidr, namespaces.
struct ZoneSpec {
    name: String,
    kind: ZoneKind,
    cidr: Option<String>,
    ns: Vec<String>,
}

/// (zone, service, hosts, pods, resident)
type ServiceSpec = (String, String, Option<String>, Vec<(String, String)>, bool);

/// Builds an [`Ir`] from names; atom ids and remainders are worked out in [`IrBuilder::build`].
#[derive(Default)]
pub struct IrBuilder {
    zones: Vec<ZoneSpec>,
    services: Vec<ServiceSpec>,
    /// (from atom, to atom, ports, exempt)
    allows: Vec<(String, String, PortSet, Option<String>)>,
}

impl IrBuilder {
    /// A zone with an optional cidr and namespaces.
    pub fn zone(mut self, name: &str, kind: ZoneKind, cidr: Option<&str>, ns: &[&str]) -> Self {
        self.zones.push(ZoneSpec {
            name: name.into(),
            kind,
            cidr: cidr.map(Into::into),
            ns: ns.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    /// A service `zone.name` with optional hosts and pod labels.
    pub fn service(
        mut self,
        zone: &str,
        name: &str,
        hosts: Option<&str>,
        pods: &[(&str, &str)],
        resident: bool,
    ) -> Self {
        let pods = pods.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.services
            .push((zone.into(), name.into(), hosts.map(Into::into), pods, resident));
        self
    }

    /// One allow between two atoms (one line of `t.moat` each, in order).
    pub fn allow(mut self, from: &str, to: &str, ports: PortSet, exempt: Option<&str>) -> Self {
        self.allows
            .push((from.into(), to.into(), ports, exempt.map(Into::into)));
        self
    }

    /// The IR.
    pub fn build(self) -> Ir {
        let net = |s: &str| s.parse::<ipnet::IpNet>().expect("test cidr");
        let mut zones = self.zones;
        zones.sort_by(|a, b| a.name.cmp(&b.name));
        let mut atoms: Vec<Atom> = vec![];
        for (zi, z) in zones.iter().enumerate() {
            let hosts: Vec<ipnet::IpNet> = self
                .services
                .iter()
                .filter(|s| s.0 == z.name)
                .filter_map(|s| s.2.as_deref().map(net))
                .collect();
            let addrs = z
                .cidr
                .as_deref()
                .map_or_else(AddrSet::default, |c| AddrSet::new(vec![net(c)], hosts));
            atoms.push(atom(
                &z.name,
                zi,
                None,
                addrs,
                z.ns.clone(),
                BTreeMap::new(),
                false,
            ));
        }
        for (zone, name, hosts, pods, resident) in &self.services {
            let zi = zones.iter().position(|z| &z.name == zone).expect("service zone");
            let addrs = hosts
                .as_deref()
                .map_or_else(AddrSet::default, |h| AddrSet::new(vec![net(h)], vec![]));
            let pods = pods.iter().cloned().collect();
            atoms.push(atom(
                &format!("{zone}.{name}"),
                zi,
                Some(name.clone()),
                addrs,
                zones[zi].ns.clone(),
                pods,
                *resident,
            ));
        }
        atoms.sort_by(|a, b| a.name.cmp(&b.name));
        let id = |n: &str| {
            atoms
                .iter()
                .position(|a| a.name == n)
                .unwrap_or_else(|| panic!("no atom {n}"))
        };
        let ir_zones = zones
            .iter()
            .enumerate()
            .map(|(zi, z)| Zone {
                name: z.name.clone(),
                kind: z.kind,
                site: 0,
                cidrs: z.cidr.iter().map(|c| net(c)).collect(),
                namespaces: z.ns.clone(),
                cell: None,
                services: (0..atoms.len())
                    .filter(|&a| atoms[a].zone == zi && atoms[a].service.is_some())
                    .collect(),
                remainder: id(&z.name),
                dns: vec![],
                cidr_ranges: vec![],
                span: Span::default(),
            })
            .collect();
        let mut flows: BTreeMap<(usize, usize), Flow> = BTreeMap::new();
        let mut allows = vec![];
        for (i, (f, t, p, exempt)) in self.allows.iter().enumerate() {
            allows.push(Allow {
                span: Span::default(),
                loc: format!("t.moat:{}", i + 1),
                cite: moat::ir::cite(&format!("t.moat allow {i}")),
                reason: None,
                exempt: exempt.clone(),
                l7: None,
            });
            let flow = flows.entry((id(f), id(t))).or_default();
            flow.ports.union_with(p);
            flow.by.push((i, p.clone()));
        }
        let sites = vec![Site {
            name: "default".into(),
            kind: SiteKind::Onprem,
            props: BTreeMap::new(),
            span: None,
        }];
        Ir {
            name: "t".into(),
            title: None,
            sites,
            zones: ir_zones,
            atoms,
            allows,
            forbids: vec![],
            flows,
            layout: Default::default(),
        }
    }
}

fn atom(
    name: &str,
    zone: usize,
    service: Option<String>,
    addrs: AddrSet,
    namespaces: Vec<String>,
    pods: BTreeMap<String, String>,
    resident: bool,
) -> Atom {
    Atom {
        name: name.into(),
        zone,
        service,
        addrs,
        namespaces,
        pods,
        ports: BTreeMap::new(),
        resident,
        service_account: None,
        span: Span::default(),
    }
}
