//! Writes a random valid policy to stdout: `gen SEED ZONES CIDRS_PER_ZONE ALLOWS [sites]`,
//! where `sites` is a comma list of onprem,aws,gcp,azure (default: the onprem default site).

use moat::gen::{random_policy, GenOptions};
use moat::ir::SiteKind;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let sites = args.get(4).map_or(vec![], |s| {
        s.split(',')
            .filter_map(|k| match k {
                "onprem" => Some(SiteKind::Onprem),
                "aws" => Some(SiteKind::Aws),
                "gcp" => Some(SiteKind::Gcp),
                "azure" => Some(SiteKind::Azure),
                _ => None,
            })
            .collect()
    });
    let o = GenOptions {
        zones: num(1, 200),
        cidrs_per_zone: num(2, 4),
        allows: num(3, 2000),
        sites,
        ..GenOptions::default()
    };
    print!("{}", random_policy(num(0, 1) as u64, &o));
}
