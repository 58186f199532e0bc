//! A lab of network namespaces: a router joined to one namespace per atom by a
//! veth pair, IPv4 and IPv6, routes both ways. Names are unique per run
//! (`mnf-<pid>-<n>-...`); the [`Lab`] guard removes them when dropped (also on
//! panic), and every new lab first sweeps namespaces left by dead test runs.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Prefix of every namespace the lab creates.
const PREFIX: &str = "mnf-";
/// The router's address on every link (never an atom's: link-local is excluded).
const ROUTER_V4: &str = "169.254.0.1";
const ROUTER_V6: &str = "fe80::1";

/// One namespace standing for an atom: a host with at most one address per family.
#[derive(Debug, Clone)]
pub struct Host {
    pub ns: String,
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
}

impl Host {
    /// Its address in one family.
    pub fn addr(&self, v6: bool) -> Option<IpAddr> {
        if v6 {
            self.v6.map(IpAddr::V6)
        } else {
            self.v4.map(IpAddr::V4)
        }
    }
}

/// The namespaces of one lab; dropping it kills its servers and deletes them.
pub struct Lab {
    pub router: String,
    /// Per key (the atom id), its host.
    pub hosts: BTreeMap<usize, Host>,
    names: Vec<String>,
    children: Vec<Child>,
}

impl Lab {
    /// Builds the router and one host per `(key, v4, v6)`.
    pub fn new(hosts: &[(usize, Option<Ipv4Addr>, Option<Ipv6Addr>)]) -> Lab {
        static N: AtomicUsize = AtomicUsize::new(0);
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_stale);
        let tag = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let router = format!("{tag}-r");
        let mut lab = Lab {
            router: router.clone(),
            hosts: BTreeMap::new(),
            names: vec![],
            children: vec![],
        };
        lab.add_ns(&router);
        batch(&router, "link set lo up\n");
        run(&[
            "ip",
            "netns",
            "exec",
            &router,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ]);
        let mut router_batch = String::new();
        for (i, (key, v4, v6)) in hosts.iter().enumerate() {
            let ns = format!("{tag}-{i}");
            lab.add_ns(&ns);
            let peer = format!("v{i}");
            run(&[
                "ip", "link", "add", "a0", "netns", &ns, "type", "veth", "peer", "name", &peer, "netns",
                &router,
            ]);
            let mut b = String::from("link set lo up\nlink set a0 addrgenmode none\nlink set a0 up\n");
            router_batch.push_str(&format!("link set {peer} addrgenmode none\nlink set {peer} up\n"));
            if let Some(a) = v4 {
                b.push_str(&format!("addr add {a}/32 dev a0\nroute add {ROUTER_V4} dev a0\nroute add default via {ROUTER_V4} dev a0\n"));
                router_batch.push_str(&format!(
                    "addr add {ROUTER_V4}/32 dev {peer}\nroute add {a}/32 dev {peer}\n"
                ));
            }
            if let Some(a) = v6 {
                b.push_str(&format!(
                    "addr add fe80::2/64 dev a0 nodad\naddr add {a}/128 dev a0 nodad\n"
                ));
                b.push_str(&format!("route add ::/0 via {ROUTER_V6} dev a0\n"));
                router_batch.push_str(&format!(
                    "addr add {ROUTER_V6}/64 dev {peer} nodad\nroute add {a}/128 dev {peer}\n"
                ));
            }
            batch(&ns, &b);
            lab.hosts.insert(*key, Host { ns, v4: *v4, v6: *v6 });
        }
        batch(&router, &router_batch);
        lab
    }

    fn add_ns(&mut self, ns: &str) {
        run(&["ip", "netns", "add", ns]);
        self.names.push(ns.to_string());
    }

    /// Starts a process (in the test's own namespace) that the lab kills when dropped.
    pub fn spawn(&mut self, argv: &[String]) -> &mut Child {
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn lab process");
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }

    /// Removes every netfilter rule inside `ns` (iptables-nft tables included).
    pub fn flush(&self, ns: &str) {
        in_ns(ns, &["nft", "flush", "ruleset"]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in self.names.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Deletes `mnf-<pid>-...` namespaces whose test process is gone.
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// Runs a command inside network namespace `ns` (only the network namespace:
/// `nsenter --net` is lighter than `ip netns exec`, which also remounts /sys).
pub fn in_ns(ns: &str, argv: &[&str]) {
    let net = format!("--net=/run/netns/{ns}");
    let mut full = vec!["nsenter", net.as_str()];
    full.extend_from_slice(argv);
    run(&full);
}

/// Runs `f` on every item, four threads at a time (loading rules into many namespaces).
pub fn in_parallel<T: Sync>(items: &[T], f: impl Fn(&T) + Sync) {
    let chunk = items.len().div_ceil(4).max(1);
    std::thread::scope(|s| {
        for part in items.chunks(chunk) {
            let f = &f;
            s.spawn(move || part.iter().for_each(f));
        }
    });
}

/// Runs a command and panics with its stderr when it fails.
pub fn run(argv: &[&str]) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `ip -batch -` inside `ns`.
fn batch(ns: &str, cmds: &str) {
    let mut c = Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ip -batch");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(cmds.as_bytes())
        .expect("write batch");
    let out = c.wait_with_output().expect("ip -batch");
    assert!(
        out.status.success(),
        "ip -n {ns} -batch failed: {}\n{cmds}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command with `input` on stdin, killing it after `limit`; its stdout.
pub fn run_bounded(mut cmd: Command, input: &str, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let out = reader.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        Err(format!("exit {status}: {err}"))
    }
}
