//! Writes the benchmark policy of issue 7 (see docs/performance.md) into a directory:
//!
//! ```text
//! cargo run --release --example benchgen -- OUT_DIR [--seed S] [--zones Z] [--cidrs C]
//!     [--services S] [--port-groups P] [--allows N] [--mutate PCT] [--hybrid] [--aerleon]
//! ```
//!
//! OUT_DIR/policy.moat, OUT_DIR/query.txt (`FROM TO PORT FROM_ADDR TO_ADDR` of one allowed flow),
//! and with `--aerleon` OUT_DIR/aerleon/{def/NETWORK.net, def/SERVICES.svc,
//! pol/iptables.pol, pol/k8s.pol}.

use moat::gen::bench::{generate, Shape};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut s = Shape::default();
    let mut aerleon = false;
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            let v = args.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: `{v}` is not a number"))
        };
        match a.as_str() {
            "--seed" => s.seed = num("--seed")? as u64,
            "--zones" => s.zones = num("--zones")?,
            "--cidrs" => s.cidrs = num("--cidrs")?,
            "--services" => s.services = num("--services")?,
            "--port-groups" => s.port_groups = num("--port-groups")?,
            "--allows" => s.allows = num("--allows")?,
            "--mutate" => s.mutate_percent = num("--mutate")?,
            "--aerleon" => aerleon = true,
            "--hybrid" => s.hybrid = true,
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => out = Some(a),
        }
    }
    let out = out.ok_or("usage: benchgen OUT_DIR [--seed S] [--zones Z] [--cidrs C] [--services S] [--port-groups P] [--allows N] [--mutate PCT] [--hybrid] [--aerleon]")?;
    let out = Path::new(&out);
    let g = generate(&s);
    let write = |rel: &str, text: &str| -> Result<(), String> {
        let p = out.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write("policy.moat", &g.moat)?;
    write(
        "query.txt",
        &format!(
            "{} {} {} {} {}\n",
            g.query.0, g.query.1, g.query.2, g.query_addrs.0, g.query_addrs.1
        ),
    )?;
    if aerleon {
        write("aerleon/def/NETWORK.net", &g.networks)?;
        write("aerleon/def/SERVICES.svc", &g.services)?;
        write("aerleon/pol/iptables.pol", &g.iptables_pol)?;
        write("aerleon/pol/k8s.pol", &g.k8s_pol)?;
    }
    Ok(())
}
