//! The kernel as the oracle for the netfilter targets: compile a policy, build
//! a namespace lab with one host per atom, load each of the four rulesets
//! (iptables and nftables, gateway mode on the router, host mode on the atom
//! hosts) and check that every allowed matrix row connects (TCP and UDP, first
//! and last port of every range), that as many sampled forbidden cases are
//! blocked, and that replies come back (each probe waits for its echo).

#![allow(dead_code)]

pub mod lab;

use crate::common;
use lab::{run_bounded, Lab};
use moat::addr::AddrSet;
use moat::backend::{self, scope, Artefact, EmitOptions, Target};
use moat::gen::GenOptions;
use moat::ir::{AtomId, Ir, SiteKind, ZoneKind};
use moat::ports::Proto;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long a probe waits for its echo before it counts as blocked.
const PROBE_TIMEOUT: f64 = 1.0;

/// `Some(reason)` when the lab cannot run here (not root, or a tool is missing).
pub fn lab_unavailable() -> Option<String> {
    common::missing_root().or_else(|| {
        [
            "ip",
            "nsenter",
            "iptables-restore",
            "ip6tables-restore",
            "nft",
            "python3",
        ]
        .iter()
        .find_map(|t| common::missing_tool(t))
    })
}

/// Checks and lowers a policy text, panicking with the diagnostics when it fails.
pub fn ir_of(name: &str, text: &str) -> Ir {
    let c = moat::check_str(name, text);
    match c.ir {
        Some(ir) => ir,
        None => panic!("{name} does not check: {:#?}", c.diags),
    }
}

/// Both netfilter targets' artefacts, by path.
pub fn compile(ir: &Ir, log_drops: bool) -> BTreeMap<String, String> {
    let opts = EmitOptions {
        log_drops,
        ..EmitOptions::default()
    };
    let mut out = BTreeMap::new();
    for t in [Target::Iptables, Target::Nftables] {
        let arts: Vec<Artefact> =
            backend::emit(t, ir, &opts).unwrap_or_else(|d| panic!("{} does not compile: {d:#?}", t.as_str()));
        out.extend(arts.into_iter().map(|a| (a.path, a.contents)));
    }
    out
}

/// One connection attempt.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Probe {
    pub from: AtomId,
    pub to: AtomId,
    pub v6: bool,
    pub proto: Proto,
    pub port: u16,
}

/// Which ruleset is loaded where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    IptablesGateway,
    NftablesGateway,
    IptablesHost,
    NftablesHost,
}

impl Setup {
    pub const ALL: [Setup; 4] = [
        Setup::IptablesGateway,
        Setup::NftablesGateway,
        Setup::IptablesHost,
        Setup::NftablesHost,
    ];

    fn name(self) -> &'static str {
        match self {
            Setup::IptablesGateway => "iptables gateway",
            Setup::NftablesGateway => "nftables gateway",
            Setup::IptablesHost => "iptables host",
            Setup::NftablesHost => "nftables host",
        }
    }

    fn host(self) -> bool {
        matches!(self, Setup::IptablesHost | Setup::NftablesHost)
    }
}

/// Probe counts of one lab run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub allowed: usize,
    pub blocked: usize,
}

/// Key of an atom's second host, which probes the atom's flows to itself.
pub const TWIN: usize = 1 << 20;

/// The lab host a probe starts from: the atom's own, or its twin for a flow to itself.
pub fn src_key(p: &Probe) -> usize {
    if p.from == p.to {
        p.from + TWIN
    } else {
        p.from
    }
}

/// What to test, derived from the IR (the front end's matrix is the reference).
pub struct Plan {
    /// Lab hosts: (key, IPv4, IPv6); the key is the atom id, or atom id + [`TWIN`].
    pub hosts: Vec<(usize, Option<Ipv4Addr>, Option<Ipv6Addr>)>,
    pub allowed: Vec<Probe>,
    /// Forbidden cases for gateway mode (an end the target owns) and host mode
    /// (an end on a host that installs a ruleset).
    pub forbidden_gateway: Vec<Probe>,
    pub forbidden_host: Vec<Probe>,
    /// Allowed (row, family) cases not probed: sctp, or no lab address for an end.
    pub unprobed: usize,
}

impl Plan {
    /// Plans the probes of a policy; `seed` drives the sampling of forbidden cases.
    pub fn new(ir: &Ir, seed: u64) -> Plan {
        let flows = scope::flows(Target::Iptables, ir).expect("in-scope flows");
        let to_self: BTreeSet<AtomId> = flows
            .iter()
            .filter(|(f, t, _)| f == t)
            .map(|(f, _, _)| *f)
            .collect();
        let mut hosts = vec![];
        for (a, atom) in ir.atoms.iter().enumerate() {
            let (v4, v6) = (pick_v4(&atom.addrs, None), pick_v6(&atom.addrs, None));
            if v4.is_none() && v6.is_none() {
                continue;
            }
            hosts.push((a, v4, v6));
            let (t4, t6) = (
                v4.and_then(|x| pick_v4(&atom.addrs, Some(x))),
                v6.and_then(|x| pick_v6(&atom.addrs, Some(x))),
            );
            if to_self.contains(&a) && (t4.is_some() || t6.is_some()) {
                hosts.push((a + TWIN, t4, t6));
            }
        }
        let fams: BTreeMap<usize, (bool, bool)> = hosts
            .iter()
            .map(|(k, v4, v6)| (*k, (v4.is_some(), v6.is_some())))
            .collect();
        let pair_fams = |from: AtomId, to: AtomId| -> Vec<bool> {
            let src = if from == to { from + TWIN } else { from };
            match (fams.get(&src), fams.get(&to)) {
                (Some(x), Some(y)) => [(x.0 && y.0, false), (x.1 && y.1, true)]
                    .into_iter()
                    .filter(|f| f.0)
                    .map(|f| f.1)
                    .collect(),
                _ => vec![],
            }
        };
        let mut allowed = BTreeSet::new();
        let mut unprobed = 0;
        for (from, to, flow) in &flows {
            let fs = pair_fams(*from, *to);
            if fs.is_empty() {
                unprobed += flow.ports.iter().count();
            }
            for &v6 in &fs {
                for (proto, port) in cases(&flow.ports, v6) {
                    match proto {
                        Proto::Sctp => unprobed += 1,
                        _ => {
                            allowed.insert(Probe {
                                from: *from,
                                to: *to,
                                v6,
                                proto,
                                port,
                            });
                        }
                    }
                }
            }
        }
        let allowed: Vec<Probe> = allowed.into_iter().collect();
        let owned = |a: AtomId| scope::owns(Target::Iptables, ir, a);
        // host mode: external and unmanaged zones' hosts get no ruleset
        let guarded = |a: AtomId| owned(a) && ir.zone_of(a).kind != ZoneKind::External && !ir.is_unmanaged(a);
        let atoms: Vec<AtomId> = hosts.iter().map(|h| h.0).filter(|k| *k < TWIN).collect();
        let sample = |keep: &dyn Fn(AtomId) -> bool| {
            forbidden(
                ir,
                &allowed,
                &atoms,
                &pair_fams,
                &|p: &Probe| keep(p.from) || keep(p.to),
                seed,
            )
        };
        let forbidden_gateway = sample(&owned);
        let forbidden_host = sample(&guarded);
        Plan {
            hosts,
            allowed,
            forbidden_gateway,
            forbidden_host,
            unprobed,
        }
    }
}

/// The (protocol, port) cases that probe an allowed port set in one family: the
/// first and last port of every tcp/udp range, one echo for icmp (IPv4) and
/// icmpv6 (IPv6), and for `any` tcp and udp ports 1 and 65535 plus the echo.
/// Sctp comes back as one case the caller counts as not probed.
fn cases(ports: &moat::ports::PortSet, v6: bool) -> Vec<(Proto, u16)> {
    let echo = if v6 { Proto::Icmpv6 } else { Proto::Icmp };
    let mut out = vec![];
    for (proto, ranges) in ports.iter() {
        match proto {
            Proto::Tcp | Proto::Udp => out.extend(ranges.iter().flat_map(|r| [(proto, r.lo), (proto, r.hi)])),
            Proto::Sctp => out.push((Proto::Sctp, 0)),
            Proto::Icmp | Proto::Icmpv6 if proto == echo => out.push((proto, 0)),
            Proto::Icmp | Proto::Icmpv6 => {}
            Proto::Other => {
                out.extend(
                    [Proto::Tcp, Proto::Udp]
                        .into_iter()
                        .flat_map(|p| [(p, 1), (p, 65535)]),
                );
                out.push((echo, 0));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// True when the IR allows the probe.
fn allows(ir: &Ir, p: &Probe) -> bool {
    ir.flows
        .get(&(p.from, p.to))
        .is_some_and(|f| f.ports.contains(p.proto, p.port))
}

/// Forbidden probes: every port next to an allowed range, some reversed
/// allowed flows, then random pairs and ports until there are at least as many
/// as allowed probes; all pass `keep`.
fn forbidden(
    ir: &Ir,
    allowed: &[Probe],
    hosts: &[AtomId],
    fams: &dyn Fn(AtomId, AtomId) -> Vec<bool>,
    keep: &dyn Fn(&Probe) -> bool,
    seed: u64,
) -> Vec<Probe> {
    let want = allowed.len().max(4);
    let mut rng = Rng(seed ^ 0x6e66);
    let ok = |p: &Probe| keep(p) && !allows(ir, p) && p.from != p.to && fams(p.from, p.to).contains(&p.v6);
    let mut out: BTreeSet<Probe> = BTreeSet::new();
    let mut reversed: Vec<Probe> = vec![];
    for p in allowed {
        reversed.push(Probe {
            from: p.to,
            to: p.from,
            ..p.clone()
        });
        let ported = matches!(p.proto, Proto::Tcp | Proto::Udp);
        for q in [p.port.checked_sub(1), p.port.checked_add(1)]
            .into_iter()
            .flatten()
            .filter(|q| ported && *q > 0)
        {
            out.insert(Probe { port: q, ..p.clone() });
        }
    }
    out.retain(|p| ok(p));
    reversed.retain(|p| ok(p));
    reversed.sort();
    reversed.dedup();
    while !reversed.is_empty() && out.len() < want.div_ceil(2) + want / 4 {
        let i = rng.below(reversed.len());
        out.insert(reversed.swap_remove(i));
    }
    let ports: Vec<u16> = allowed.iter().map(|p| p.port).filter(|p| *p > 0).collect();
    let mut tries = 0;
    while out.len() < want && tries < want * 50 && hosts.len() > 1 {
        tries += 1;
        let (from, to) = (hosts[rng.below(hosts.len())], hosts[rng.below(hosts.len())]);
        let fs = fams(from, to);
        if fs.is_empty() {
            continue;
        }
        let v6 = fs[rng.below(fs.len())];
        let (proto, port) = match rng.below(5) {
            0 => (if v6 { Proto::Icmpv6 } else { Proto::Icmp }, 0),
            1 | 2 => (Proto::Tcp, 0),
            _ => (Proto::Udp, 0),
        };
        let port = match proto {
            Proto::Tcp | Proto::Udp if !ports.is_empty() && rng.below(2) == 0 => {
                ports[rng.below(ports.len())]
            }
            Proto::Tcp | Proto::Udp => 1 + rng.below(65535) as u16,
            _ => port,
        };
        let p = Probe {
            from,
            to,
            v6,
            proto,
            port,
        };
        if ok(&p) {
            out.insert(p);
        }
    }
    let short = want.saturating_sub(out.len());
    out.extend(reversed.into_iter().take(short));
    out.into_iter().collect()
}

/// Runs the plan against all four rulesets; returns the counts per setup, or panics
/// listing every probe whose outcome differs from the policy.
pub fn run_lab(name: &str, ir: &Ir, arts: &BTreeMap<String, String>, plan: &Plan) -> Vec<(Setup, Counts)> {
    let dir = common::TempDir::new("netfilter-lab");
    for (path, text) in arts {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write artefact");
    }
    let t0 = std::time::Instant::now();
    let mut lab = Lab::new(&plan.hosts);
    start_servers(&mut lab, plan);
    let setup_time = t0.elapsed();
    let mut failures = vec![];
    let mut out = vec![];
    for setup in Setup::ALL {
        let forbidden = if setup.host() {
            &plan.forbidden_host
        } else {
            &plan.forbidden_gateway
        };
        let t1 = std::time::Instant::now();
        let loaded = load(&lab, ir, dir.path(), setup);
        let results = probe_all(&lab, plan.allowed.iter().chain(forbidden.iter()));
        let mut counts = Counts::default();
        for (i, p) in plan.allowed.iter().chain(forbidden.iter()).enumerate() {
            let want = if i < plan.allowed.len() { "open" } else { "blocked" };
            let got = results.get(&i).map(String::as_str).unwrap_or("no result");
            if got == want {
                if want == "open" {
                    counts.allowed += 1
                } else {
                    counts.blocked += 1
                }
            } else {
                failures.push(format!(
                    "{name}: {}: {} should be {want}, was {got}",
                    setup.name(),
                    describe(ir, &lab, p)
                ));
            }
        }
        eprintln!(
            "lab {name}: {:<16} {:>3} allowed probes connected, {:>3} forbidden probes blocked ({} host(s) with rules; lab {:.1}s, probes {:.1}s)",
            setup.name(),
            counts.allowed,
            counts.blocked,
            loaded.len(),
            setup_time.as_secs_f64(),
            t1.elapsed().as_secs_f64()
        );
        lab::in_parallel(&loaded, |ns| lab.flush(ns));
        out.push((setup, counts));
    }
    assert!(
        failures.is_empty(),
        "{} probe(s) disagree with the policy:\n{}",
        failures.len(),
        failures.join("\n")
    );
    out
}

fn describe(ir: &Ir, lab: &Lab, p: &Probe) -> String {
    let addr = |k: usize| {
        lab.hosts
            .get(&k)
            .and_then(|h| h.addr(p.v6))
            .map(|x| x.to_string())
            .unwrap_or_default()
    };
    let what = if p.proto.has_ports() {
        format!("{}/{}", p.proto, p.port)
    } else {
        format!("{} echo", p.proto)
    };
    format!(
        "{} ({}) -> {} ({}) {what}",
        ir.atoms[p.from % TWIN].name,
        addr(src_key(p)),
        ir.atoms[p.to % TWIN].name,
        addr(p.to)
    )
}

/// The echo server: one process for the whole lab, listening in every
/// destination host's namespace on every port probed there.
fn start_servers(lab: &mut Lab, plan: &Plan) {
    let mut specs: BTreeMap<AtomId, BTreeSet<String>> = BTreeMap::new();
    for p in plan
        .allowed
        .iter()
        .chain(&plan.forbidden_gateway)
        .chain(&plan.forbidden_host)
    {
        if p.proto.has_ports() {
            specs
                .entry(p.to)
                .or_default()
                .insert(format!("{}/{}", p.proto, p.port));
        }
    }
    let config: Vec<serde_json::Value> = specs
        .into_iter()
        .map(|(atom, specs)| {
            let host = &lab.hosts[&atom];
            let addrs: Vec<String> = host
                .v4
                .map(|a| a.to_string())
                .into_iter()
                .chain(host.v6.map(|a| a.to_string()))
                .collect();
            serde_json::json!([host.ns, addrs, specs])
        })
        .collect();
    let child = lab.spawn(&[python(), probe_script(), "serve".to_string()]);
    let mut stdin = child.stdin.as_ref().expect("server stdin");
    writeln!(stdin, "{}", serde_json::Value::Array(config)).expect("configure the echo server");
    let out = child.stdout.take().expect("server stdout");
    let mut line = String::new();
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .expect("server ready line");
    assert_eq!(line.trim(), "ready", "the echo server did not start");
}

/// The Python interpreter itself (`sys.executable`), resolved once: launchers
/// such as pyenv shims cost half a second per start, and the lab starts many.
fn python() -> String {
    static PY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PY.get_or_init(|| {
        Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "python3".to_string())
    })
    .clone()
}

fn probe_script() -> String {
    common::root()
        .join("tests/netfilter_support/probe.py")
        .display()
        .to_string()
}

/// Loads one setup's files, several namespaces at a time; returns the namespaces that got rules.
fn load(lab: &Lab, ir: &Ir, dir: &Path, setup: Setup) -> Vec<String> {
    let mut targets: Vec<(String, String)> = vec![];
    if setup.host() {
        for (key, host) in &lab.hosts {
            targets.push((host.ns.clone(), format!("host-{}", ir.zone_of(key % TWIN).name)));
        }
    } else {
        targets.push((lab.router.clone(), "gateway".to_string()));
    }
    let mut jobs: Vec<(String, Vec<String>)> = vec![];
    for (ns, stem) in targets {
        let files: Vec<(&str, std::path::PathBuf)> = match setup {
            Setup::IptablesGateway | Setup::IptablesHost => vec![
                ("iptables-restore", dir.join(format!("iptables/{stem}.v4.rules"))),
                ("ip6tables-restore", dir.join(format!("iptables/{stem}.v6.rules"))),
            ],
            _ => vec![("nft -f", dir.join(format!("nftables/{stem}.nft")))],
        };
        let cmds: Vec<String> = files
            .into_iter()
            .filter(|f| f.1.is_file())
            .map(|(t, f)| format!("{t} {}", f.display()))
            .collect();
        if !cmds.is_empty() {
            jobs.push((ns, cmds));
        }
    }
    lab::in_parallel(&jobs, |(ns, cmds)| {
        for c in cmds {
            lab::in_ns(ns, &c.split(' ').collect::<Vec<_>>());
        }
    });
    jobs.into_iter().map(|(ns, _)| ns).collect()
}

/// Runs the probes, all at once from one client process; results by index.
fn probe_all<'p>(lab: &Lab, probes: impl Iterator<Item = &'p Probe>) -> BTreeMap<usize, String> {
    let mut list = vec![];
    for (i, p) in probes.enumerate() {
        let (src, dst) = (&lab.hosts[&src_key(p)], &lab.hosts[&p.to]);
        let (Some(s), Some(d)) = (src.addr(p.v6), dst.addr(p.v6)) else {
            continue;
        };
        list.push(serde_json::json!([
            i,
            src.ns,
            p.proto.as_str(),
            s.to_string(),
            d.to_string(),
            p.port
        ]));
    }
    // The client runs up to 800 probes at once; blocked ones take the whole timeout.
    let rounds = list.len().div_ceil(800).max(1) as f64;
    let limit = Duration::from_secs_f64(PROBE_TIMEOUT * 3.0 * rounds + 10.0);
    let mut cmd = Command::new(python());
    cmd.args([probe_script(), "probe".to_string(), PROBE_TIMEOUT.to_string()]);
    let text = run_bounded(cmd, &serde_json::Value::Array(list).to_string(), limit)
        .unwrap_or_else(|e| panic!("probe client: {e}"));
    let map: BTreeMap<String, String> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad probe output {text:?}: {e}"));
    map.into_iter()
        .filter_map(|(k, v)| k.parse::<usize>().ok().map(|k| (k, v)))
        .collect()
}

/// Addresses a lab host must not use (unroutable, loopback, link-local, multicast).
const BANNED_V4: [(u32, u32); 4] = [
    (0x0000_0000, 0x00ff_ffff),
    (0x7f00_0000, 0x7fff_ffff),
    (0xa9fe_0000, 0xa9fe_ffff),
    (0xe000_0000, 0xffff_ffff),
];

/// An address of the set usable in the lab other than `not`: the lowest of its
/// prefixes past the network address, skipping unroutable ranges.
pub fn pick_v4(addrs: &AddrSet, not: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
    let mut banned: Vec<(u128, u128)> = BANNED_V4.iter().map(|(a, b)| (*a as u128, *b as u128)).collect();
    banned.extend(not.map(|a| (u32::from(a) as u128, u32::from(a) as u128)));
    addrs
        .family(false)
        .prefixes()
        .into_iter()
        .find_map(|n| match n {
            ipnet::IpNet::V4(n) => {
                let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                first_free(lo as u128, hi as u128, n.prefix_len() < 31, &banned)
                    .map(|x| Ipv4Addr::from(x as u32))
            }
            _ => None,
        })
        .filter(|a| addrs.contains(IpAddr::V4(*a)))
}

/// IPv6 counterpart of [`pick_v4`] (skips `::/8`, `fe80::/10`, `ff00::/8`).
pub fn pick_v6(addrs: &AddrSet, not: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
    let mut banned: Vec<(u128, u128)> = vec![
        (0, (1u128 << 120) - 1),
        (0xfe80u128 << 112, (0xfec0u128 << 112) - 1),
        (0xff00u128 << 112, u128::MAX),
    ];
    banned.extend(not.map(|a| (u128::from(a), u128::from(a))));
    addrs
        .family(true)
        .prefixes()
        .into_iter()
        .find_map(|n| match n {
            ipnet::IpNet::V6(n) => {
                let (lo, hi) = (u128::from(n.network()), u128::from(n.broadcast()));
                first_free(lo, hi, n.prefix_len() < 127, &banned).map(Ipv6Addr::from)
            }
            _ => None,
        })
        .filter(|a| addrs.contains(IpAddr::V6(*a)))
}

/// The lowest address in `lo..=hi` (past the network address when `skip_net`) outside `banned`.
fn first_free(lo: u128, hi: u128, skip_net: bool, banned: &[(u128, u128)]) -> Option<u128> {
    let mut c = if skip_net { lo + 1 } else { lo };
    while c <= hi {
        match banned.iter().find(|(a, b)| *a <= c && c <= *b) {
            Some((_, b)) => c = b.checked_add(1)?,
            None => return Some(c),
        }
    }
    None
}

/// The example policies (`policies/`, `fixtures/good/`) that compile for netfilter
/// (a non-empty scope, no E012), by relative path.
pub fn examples() -> Vec<(String, Ir)> {
    static EXAMPLES: std::sync::OnceLock<Vec<(String, Ir)>> = std::sync::OnceLock::new();
    EXAMPLES.get_or_init(load_examples).clone()
}

fn load_examples() -> Vec<(String, Ir)> {
    // Relative paths, so that the `file:line` in the artefacts do not depend on the checkout.
    let mut paths = vec![];
    for dir in ["policies", "fixtures/good"] {
        let Ok(rd) = std::fs::read_dir(common::root().join(dir)) else {
            continue;
        };
        paths.extend(
            rd.filter_map(Result::ok)
                .map(|e| Path::new(dir).join(e.file_name()))
                .filter(|p| p.extension().is_some_and(|x| x == "moat")),
        );
    }
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let c = moat::check_paths(&moat::load::Disk, std::slice::from_ref(&p));
            let why = match &c.ir {
                None => Some("does not check".to_string()),
                Some(ir) if !backend::in_scope(Target::Iptables, ir) => {
                    Some("no netfilter scope".to_string())
                }
                Some(ir) => backend::emit(Target::Iptables, ir, &Default::default())
                    .err()
                    .map(|d| {
                        format!(
                            "{} error(s) {} for netfilter",
                            d.len(),
                            d.first().map_or("", |d| d.code)
                        )
                    }),
            };
            match why {
                Some(why) => {
                    report(&format!("netfilter examples: {} left out: {why}", p.display()));
                    None
                }
                None => c.ir.map(|ir| (p.display().to_string(), ir)),
            }
        })
        .collect()
}

/// Small random policies: 3 zones, up to 2 services each, 6 allows; IPv6 on even
/// seeds, a cloud site on every third (so some flows leave netfilter's scope).
pub fn random_options(seed: u64) -> GenOptions {
    GenOptions {
        zones: 3,
        max_services: 2,
        allows: 6,
        ipv6: seed.is_multiple_of(2),
        icmp: true,
        namespaces: false,
        sites: if seed.is_multiple_of(3) {
            vec![SiteKind::Onprem, SiteKind::Aws]
        } else {
            vec![]
        },
        ..GenOptions::default()
    }
}

/// A policy with dashes, underscores, a zone name past iptables' 28-character
/// chain-name limit, IPv6 on one side only, and 20 ports plus 3 ranges in one
/// allow (more than one `multiport` match holds).
pub fn names_policy() -> String {
    let ports: Vec<String> = (0..20)
        .map(|i| format!("tcp/{}", 100 + 2 * i))
        .chain((0..3).map(|i| format!("tcp/{}-{}", 200 + 10 * i, 205 + 10 * i)))
        .collect();
    "zone dmz-edge_1 : dmz { cidr 10.1.0.0/24 service web-front_2 { hosts 10.1.0.10 port https tcp/443 } }\n\
     zone a-rather-long-militarised-zone : mz { cidr 10.2.0.0/24, fd00:2::/64 }\n\
     allow dmz-edge_1.web-front_2 -> a-rather-long-militarised-zone : tcp/22, udp/1-65535, sctp/9\n\
     allow a-rather-long-militarised-zone -> dmz-edge_1 : PORTS\n"
        .replace("PORTS", &ports.join(", "))
}

/// Prints a summary line past the test harness's output capture, so that the
/// probe counts show in every `cargo test` log, not only when a test fails.
pub fn report(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// splitmix64, for seeded sampling.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Compiles, plans and runs one policy in the lab; prints and returns the totals.
pub fn check_policy(name: &str, ir: &Ir, seed: u64, log_drops: bool) -> Counts {
    let arts = compile(ir, log_drops);
    let plan = Plan::new(ir, seed);
    assert!(
        !plan.allowed.is_empty() || ir.flows.is_empty() || plan.unprobed > 0,
        "{name}: nothing to probe"
    );
    let counts = run_lab(name, ir, &arts, &plan);
    let total = counts.iter().fold(Counts::default(), |a, (_, c)| Counts {
        allowed: a.allowed + c.allowed,
        blocked: a.blocked + c.blocked,
    });
    report(&format!(
        "lab {name}: {} allowed probes connected, {} forbidden probes blocked over 4 rulesets; {} allowed case(s) not probed (sctp, or no second lab address for a flow to itself)",
        total.allowed, total.blocked, plan.unprobed
    ));
    total
}
