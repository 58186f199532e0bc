//! The benchmark policy shape of issue 7 (docs/performance.md): `zones` zones
//! of `cidrs` /24 CIDRs each, `services` services (spread round robin over the
//! zones, one host each) whose exposed ports are one of `port_groups` port
//! groups (one protocol, 1–3 port ranges), and `allows` allows between random
//! zones and services. The same shape is written as an Aerleon policy
//! (network and service definitions, one `iptables` and one `k8s` filter), so
//! both tools are timed on the same flows. Deterministic for a seed.
//!
//! `mutate_percent` replaces that share of the allows (every k-th one) by
//! other random allows: two texts of one seed, with 0 and 1, are the two
//! versions `moat diff` is benchmarked on.

use std::fmt::Write as _;

/// The shape of a benchmark policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub seed: u64,
    pub zones: usize,
    pub cidrs: usize,
    pub services: usize,
    pub port_groups: usize,
    pub allows: usize,
    /// Percentage (0–100) of allows replaced by other random allows.
    pub mutate_percent: usize,
    /// Spread the zones round robin over four sites (onprem, aws, gcp,
    /// azure) so that the cloud targets have a scope; otherwise every zone is
    /// at the default onprem site (the Aerleon comparison).
    pub hybrid: bool,
}

impl Default for Shape {
    /// The shape: 200 zones × 4 CIDRs, 200 services, 50 port groups, 2,000 allows.
    fn default() -> Self {
        Shape {
            seed: 1,
            zones: 200,
            cidrs: 4,
            services: 200,
            port_groups: 50,
            allows: 2000,
            mutate_percent: 0,
            hybrid: false,
        }
    }
}

/// The generated texts.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The moat policy.
    pub moat: String,
    /// Aerleon `def/NETWORK.net`.
    pub networks: String,
    /// Aerleon `def/SERVICES.svc`.
    pub services: String,
    /// Aerleon `pol/iptables.pol`: one `iptables FORWARD DROP` filter.
    pub iptables_pol: String,
    /// Aerleon `pol/k8s.pol`: one `k8s` (ingress) filter.
    pub k8s_pol: String,
    /// A query that the policy allows: (from, to, port spec).
    pub query: (String, String, String),
    /// The same query's source and destination as addresses (for `aclcheck`).
    pub query_addrs: (String, String),
}

use super::Rng;

struct Group {
    proto: &'static str,
    ranges: Vec<(u16, u16)>,
}

/// An endpoint: zone index, and service index when it is a service.
type Endpoint = (usize, Option<usize>);

/// Generates the policy of `s` in both languages.
pub fn generate(s: &Shape) -> Generated {
    let zones = s.zones.max(1);
    let cidrs = s.cidrs.max(1);
    let mut rng = Rng(s.seed);
    let groups: Vec<Group> = (0..s.port_groups.max(1))
        .map(|g| {
            let proto = if rng.below(5) == 0 { "udp" } else { "tcp" };
            // disjoint ranges inside one 1000-port block per group
            let base = 1024 + 1000 * (g % 60) as u16;
            let n = 1 + rng.below(3);
            let ranges = (0..n)
                .map(|i| {
                    let lo = base + 300 * i as u16 + rng.below(200) as u16;
                    let hi = if rng.below(3) == 0 {
                        lo + rng.below(50) as u16
                    } else {
                        lo
                    };
                    (lo, hi)
                })
                .collect();
            Group { proto, ranges }
        })
        .collect();
    // service j: zone j % zones, port group j % groups
    let svc_zone = |j: usize| j % zones;
    let svc_group = |j: usize| j % groups.len();
    let svc_host = |j: usize| {
        let k = svc_zone(j) * cidrs + (j / zones) / 240;
        format!("10.{}.{}.{}", k >> 8, k & 255, 10 + (j / zones) % 240)
    };
    let zone_cidrs = |z: usize| -> Vec<String> {
        (0..cidrs)
            .map(|c| {
                let k = z * cidrs + c;
                format!("10.{}.{}.0/24", k >> 8, k & 255)
            })
            .collect()
    };

    let mut moat = format!("# moat::gen::bench {s:?}\npolicy bench{}\n\n", s.seed);
    let mut networks = String::from("# moat::gen::bench networks\n");
    const SITES: [&str; 4] = ["dc", "aws1", "gcp1", "az1"];
    if s.hybrid {
        moat.push_str(concat!(
            "site dc   : onprem\n",
            "site aws1 : aws   { region \"ap-south-1\" vpc \"vpc-0abc1234\" }\n",
            "site gcp1 : gcp   { project \"moat-bench\" region \"asia-south1\" network \"bench-vpc\" }\n",
            "site az1  : azure { region \"centralindia\" resource_group \"bench-rg\" }\n\n",
        ));
    }
    for z in 0..zones {
        let kind = if z % 2 == 0 {
            "demilitarised"
        } else {
            "militarised"
        };
        let site = if s.hybrid {
            format!(" @ {}", SITES[z % SITES.len()])
        } else {
            String::new()
        };
        let _ = writeln!(
            moat,
            "zone z{z} : {kind}{site} {{\n  cidr {}\n  namespace z{z}",
            zone_cidrs(z).join(", ")
        );
        let _ = writeln!(networks, "Z{z} = {}", zone_cidrs(z).join("\n      "));
        let mut j = z;
        while j < s.services {
            let g = &groups[svc_group(j)];
            let ports: Vec<String> = g
                .ranges
                .iter()
                .enumerate()
                .map(|(i, r)| format!("port r{i} {}", spec(g.proto, *r)))
                .collect();
            let _ = writeln!(
                moat,
                "  service s{j} {{ pods app=s{j} hosts {} {} }}",
                svc_host(j),
                ports.join(" ")
            );
            let _ = writeln!(networks, "Z{z}_S{j} = {}/32", svc_host(j));
            j += zones;
        }
        moat.push_str("}\n");
    }
    moat.push('\n');
    let mut services = String::from("# moat::gen::bench port groups\n");
    for (i, g) in groups.iter().enumerate() {
        let specs: Vec<String> = g
            .ranges
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    format!("{lo}/{}", g.proto)
                } else {
                    format!("{lo}-{hi}/{}", g.proto)
                }
            })
            .collect();
        let _ = writeln!(services, "PG{i} = {}", specs.join("\n      "));
    }

    let header_ipt = "header {\n  comment:: \"moat::gen::bench\"\n  target:: iptables FORWARD DROP\n}\n";
    let header_k8s = "header {\n  comment:: \"moat::gen::bench\"\n  target:: k8s\n}\n";
    let mut iptables_pol = String::from(header_ipt);
    let mut k8s_pol = String::from(header_k8s);
    let mut mutant = Rng(s.seed ^ 0x5EED_D1FF);
    let every = if s.mutate_percent == 0 {
        usize::MAX
    } else {
        (100 / s.mutate_percent.min(100)).max(1)
    };
    let mut query = None;
    let mut query_addrs = (String::new(), String::new());
    // an address of the endpoint's atom: the service's host, or `.1` of the
    // zone's first CIDR (services start at `.10`)
    let addr = |(z, sv): Endpoint| match sv {
        Some(j) => svc_host(j),
        None => {
            let k = z * cidrs;
            format!("10.{}.{}.1", k >> 8, k & 255)
        }
    };
    let pick = |rng: &mut Rng| -> Endpoint {
        if s.services > 0 && rng.below(2) == 0 {
            let j = rng.below(s.services);
            (svc_zone(j), Some(j))
        } else {
            (rng.below(zones), None)
        }
    };
    for i in 0..s.allows {
        let mut a = (pick(&mut rng), pick(&mut rng), rng.below(groups.len()));
        if i % every == every - 1 {
            a = (pick(&mut mutant), pick(&mut mutant), mutant.below(groups.len()));
        }
        let (from, to, random_group) = a;
        let g = match to.1 {
            Some(j) => svc_group(j),
            None => random_group,
        };
        let group = &groups[g];
        let ports: Vec<String> = group.ranges.iter().map(|r| spec(group.proto, *r)).collect();
        let _ = writeln!(
            moat,
            "allow {} -> {} : {}",
            moat_name(from),
            moat_name(to),
            ports.join(", ")
        );
        let _ = writeln!(
            iptables_pol,
            "term t{i} {{\n  source-address:: {}\n  destination-address:: {}\n  destination-port:: PG{g}\n  protocol:: {}\n  action:: accept\n}}",
            aerleon_name(from),
            aerleon_name(to),
            group.proto
        );
        // Aerleon's k8s filter is ingress-only with `podSelector: {}`: it cannot
        // select the destination, so a term carries the source and the ports.
        let _ = writeln!(
            k8s_pol,
            "term t{i} {{\n  source-address:: {}\n  destination-port:: PG{g}\n  protocol:: {}\n  action:: accept\n}}",
            aerleon_name(from),
            group.proto
        );
        if query.is_none() {
            let port = group.ranges[0].0;
            // a zone endpoint names its remainder atom, which every zone allow reaches
            query = Some((moat_name(from), moat_name(to), format!("{}/{port}", group.proto)));
            query_addrs = (addr(from), addr(to));
        }
    }
    let query = query.unwrap_or_else(|| ("z0".into(), "z0".into(), "tcp/1".into()));
    Generated {
        moat,
        networks,
        services,
        iptables_pol,
        k8s_pol,
        query,
        query_addrs,
    }
}

fn spec(proto: &str, (lo, hi): (u16, u16)) -> String {
    if lo == hi {
        format!("{proto}/{lo}")
    } else {
        format!("{proto}/{lo}-{hi}")
    }
}

fn moat_name((z, s): Endpoint) -> String {
    match s {
        Some(j) => format!("z{z}.s{j}"),
        None => format!("z{z}"),
    }
}

fn aerleon_name((z, s): Endpoint) -> String {
    match s {
        Some(j) => format!("Z{z}_S{j}"),
        None => format!("Z{z}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_policies_check_without_errors_and_are_deterministic() {
        let s = Shape {
            zones: 12,
            cidrs: 2,
            services: 20,
            port_groups: 7,
            allows: 300,
            ..Shape::default()
        };
        let g = generate(&s);
        assert_eq!(g.moat, generate(&s).moat);
        let c = crate::check_str("bench.moat", &g.moat);
        let errors: Vec<String> = c
            .diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{} {}", d.code, d.message))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(g.iptables_pol.matches("term t").count(), 300);
        assert_eq!(g.k8s_pol.matches("term t").count(), 300);
        assert_eq!(g.moat.matches("\nallow ").count(), 300);
        let h = generate(&Shape { hybrid: true, ..s });
        let c = crate::check_str("hybrid.moat", &h.moat);
        assert!(
            !c.has_errors(),
            "{:?}",
            c.diags
                .iter()
                .filter(|d| d.is_error())
                .map(|d| &d.message)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn one_percent_mutation_changes_one_allow_in_a_hundred() {
        let s = Shape {
            zones: 10,
            services: 10,
            allows: 1000,
            ..Shape::default()
        };
        let a = generate(&s).moat;
        let b = generate(&Shape {
            mutate_percent: 1,
            ..s
        })
        .moat;
        let (la, lb): (Vec<&str>, Vec<&str>) = (
            a.lines().filter(|l| l.starts_with("allow")).collect(),
            b.lines().filter(|l| l.starts_with("allow")).collect(),
        );
        let differ = la.iter().zip(&lb).filter(|(x, y)| x != y).count();
        assert!((1..=10).contains(&differ), "{differ} allows differ");
    }
}
