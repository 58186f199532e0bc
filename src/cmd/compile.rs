//! `moat compile`: check, then write artefacts for the chosen targets.

use super::{eprint_diags, FAIL, OK, TROUBLE};
use crate::DiagFormat;
use moat::backend::{self, Artefact, EmitOptions, Target};
use moat::diag::Diagnostic;
use std::path::PathBuf;

/// Arguments of `moat compile`.
#[derive(clap::Args, Debug)]
#[command(after_help = super::exit_help::COMPILE)]
pub struct Args {
    /// Policy files or directories; several form one policy.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Targets, comma-separated: k8s, iptables, nftables, aws, gcp, azure, or all.
    #[arg(long, short, value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Output directory; without it the artefacts are listed on stdout.
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 1 listing the files under DIR that differ from, are
    /// missing from or are extra to what the policy compiles to (drift check).
    #[arg(long, requires = "out")]
    pub check: bool,
    /// netfilter targets: log dropped packets (rate-limited).
    #[arg(long)]
    pub log_drops: bool,
    /// human: diagnostics and notes on stderr. json: one JSON document on
    /// stdout (`diagnostics`, `targets`, `skipped`, then `wrote`, `drift` or,
    /// without --out, `files`; `errors`; `exit`) and nothing on stderr.
    /// sarif: a SARIF log on stdout (needs --out, since without it the
    /// artefacts go to stdout).
    #[arg(long, value_enum, default_value = "human")]
    pub format: DiagFormat,
    /// k8s-admin: compile the allows as Admin-tier Accept rules too, rather
    /// than leave them to the namespaced NetworkPolicies of the k8s target.
    #[arg(long)]
    pub admin_allows: bool,
    /// Kubernetes manifests of what is deployed (YAML or JSON files or
    /// directories; `CLUSTER=PATH` for one cluster of the policy, PATH alone
    /// for every cluster): check the policy against them (E020, W007, W008).
    #[arg(long, num_args = 1.., value_name = "[CLUSTER=]PATH")]
    pub inventory: Vec<PathBuf>,
}

/// Runs `moat compile`.
pub fn run(args: &Args) -> u8 {
    if args.format == DiagFormat::Sarif && args.out.is_none() {
        eprintln!("error: --format sarif writes the log to stdout: give --out DIR for the artefacts");
        return TROUBLE;
    }
    let mut report = Report::new(args.format);
    let targets = match parse_targets(&args.target) {
        Ok(t) => t,
        Err(msg) => {
            report.error(&msg);
            return report.finish(TROUBLE);
        }
    };
    let usage: Vec<Diagnostic> = args.out.as_deref().and_then(out_is_a_file).into_iter().collect();
    let mut c = super::load(&args.files);
    if !args.inventory.is_empty() {
        moat::check_inventory(&mut c, &args.inventory);
    }
    if c.ir.is_none() || c.has_errors() || !usage.is_empty() {
        let trouble = c.io_failed || !usage.is_empty();
        c.diags.extend(usage);
        report.diagnostics(&c.diags, &c.sources);
        return report.finish(if trouble { TROUBLE } else { FAIL });
    }
    let Some(ir) = c.ir.as_ref() else { return FAIL };
    let all = targets.is_none();
    // `all` is every target in scope, except the opt-in ones (k8s-admin,
    // istio) unless they are named beside it.
    let (targets, skipped): (Vec<Target>, Vec<Target>) = match targets {
        Some(t) => (t, vec![]),
        None => Target::ALL
            .into_iter()
            .filter(|t| !Target::OPT_IN.contains(t) || args.target.iter().any(|n| n == t.as_str()))
            .partition(|t| backend::in_scope(*t, ir)),
    };
    let mut diags = c.diags.clone();
    let (queue, idle): (Vec<Target>, Vec<Target>) =
        targets.iter().partition(|t| all || backend::in_scope(**t, ir));
    if !idle.is_empty() {
        diags.extend(idle.into_iter().map(nothing_to_enforce));
        moat::diag::sort(&mut diags);
        report.diagnostics(&diags, &c.sources);
        return report.finish(TROUBLE);
    }
    let mut failed = false;
    // A target compiled alone gets every core; several already share them.
    let threads = if queue.len() == 1 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    };
    let opts = EmitOptions {
        log_drops: args.log_drops,
        threads,
        admin_allows: args.admin_allows,
    };
    let ids = backend::sources::citations(ir);
    let mut sink = Sink::new(args);
    std::thread::scope(|s| {
        let results = emit_in_parallel(s, ir, &c.sources, &ids, &opts, &queue);
        for msg in results {
            match msg {
                Emitted::File(t, artefact) if !failed => sink.take(t, artefact, &mut report),
                Emitted::File(..) => {} // a target failed: nothing will be written
                Emitted::Done(Ok(warnings)) => diags.extend(warnings),
                Emitted::Done(Err(errors)) => {
                    failed = true;
                    diags.extend(errors);
                }
            }
        }
    });
    moat::diag::sort(&mut diags);
    report.diagnostics(&diags, &c.sources);
    report.targets(&queue, &skipped);
    if failed {
        return report.finish(FAIL);
    }
    let names: Vec<&str> = targets.iter().map(|t| t.as_str()).collect();
    let code = sink.finish(args, &names, &targets, &mut report);
    super::release(c);
    report.finish(code)
}

/// What `compile` tells its user besides the artefacts: in human mode lines
/// on stderr as they come; with `--format json` one JSON document on stdout
/// at the end (`diagnostics`, `targets`, `skipped`, then `wrote`, `drift`,
/// `files` or `error`), and nothing else on either stream.
struct Report {
    format: DiagFormat,
    json: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Report {
    fn new(format: DiagFormat) -> Report {
        Report {
            format,
            json: (format == DiagFormat::Json).then(serde_json::Map::new),
        }
    }

    fn set(&mut self, key: &str, value: serde_json::Value) {
        if let Some(doc) = &mut self.json {
            doc.insert(key.to_string(), value);
        }
    }

    /// A failure that stops the command (usage, I/O), without a position.
    fn error(&mut self, msg: &str) {
        match &mut self.json {
            None => eprintln!("error: {msg}"),
            Some(doc) => {
                let errors = doc.entry("errors").or_insert_with(|| serde_json::json!([]));
                if let Some(list) = errors.as_array_mut() {
                    list.push(serde_json::Value::String(msg.to_string()));
                }
            }
        }
    }

    fn diagnostics(&mut self, diags: &[moat::diag::Diagnostic], sources: &moat::span::SourceMap) {
        match &mut self.json {
            None => eprint_diags(diags, sources, self.format),
            Some(_) => {
                let value = serde_json::from_str(&moat::diag::render_json(diags, sources))
                    .unwrap_or(serde_json::Value::Null);
                self.set("diagnostics", value);
            }
        }
    }

    /// The targets compiled, and those `all` skipped with the reason.
    fn targets(&mut self, compiled: &[Target], skipped: &[Target]) {
        if self.json.is_none() {
            for t in skipped {
                eprintln!("note: --target all skips {}: {}", t.as_str(), scope_hint(*t));
            }
            return;
        }
        let names: Vec<&str> = compiled.iter().map(|t| t.as_str()).collect();
        self.set("targets", serde_json::json!(names));
        let skipped: Vec<_> = skipped
            .iter()
            .map(|t| serde_json::json!({ "target": t.as_str(), "reason": scope_hint(*t) }))
            .collect();
        self.set("skipped", serde_json::Value::Array(skipped));
    }

    /// A closing human line (`wrote 8 file(s) to out`), or its JSON field.
    fn summary(&mut self, human: &str, key: &str, value: serde_json::Value) {
        if self.json.is_none() {
            eprintln!("{human}");
        }
        self.set(key, value);
    }

    fn finish(self, code: u8) -> u8 {
        if let Some(mut doc) = self.json {
            doc.insert("exit".to_string(), serde_json::json!(code));
            let text = serde_json::to_string_pretty(&serde_json::Value::Object(doc)).unwrap_or_default();
            super::out(&format!("{text}\n"));
        }
        code
    }
}

/// What the emitting threads report: each file as soon as it is complete,
/// then the end of a target with its warnings, or its errors.
enum Emitted {
    File(Target, Artefact),
    Done(Result<Vec<moat::diag::Diagnostic>, Vec<moat::diag::Diagnostic>>),
}

/// A back end's files, sent to the writing thread one by one.
struct ToWriter<'a> {
    target: Target,
    tx: &'a std::sync::mpsc::Sender<Emitted>,
}

impl backend::Sink for ToWriter<'_> {
    fn put(&mut self, artefact: Artefact) {
        let _ = self.tx.send(Emitted::File(self.target, artefact));
    }
}

/// Emits the targets on up to as many threads as there are cores (the back
/// ends are pure functions of the IR), handing each file over as soon as it
/// is ready, so that it can be written and freed while the rest is built.
fn emit_in_parallel<'s, 'e: 's>(
    s: &'s std::thread::Scope<'s, 'e>,
    ir: &'e moat::ir::Ir,
    sources: &'e moat::span::SourceMap,
    ids: &'e std::collections::HashMap<&'e str, Vec<moat::ir::AllowId>>,
    opts: &'e EmitOptions,
    queue: &'e [Target],
) -> std::sync::mpsc::Receiver<Emitted> {
    let (tx, rx) = std::sync::mpsc::channel();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(queue.len())
        .max(1);
    for _ in 0..workers {
        let (tx, next) = (tx.clone(), next.clone());
        s.spawn(move || loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&t) = queue.get(i) else { break };
            let mut sink = backend::sources::Recorder::new(ToWriter { target: t, tx: &tx }, ids);
            let result = backend::emit_into(t, ir, opts, &mut sink).map(|()| {
                sink.finish(ir, sources, t.as_str());
                backend::warnings(t, ir)
            });
            if tx.send(Emitted::Done(result)).is_err() {
                break;
            }
        });
    }
    rx
}

/// Where the artefacts go: staged below `--out`, compared with it
/// (`--check`), or kept for stdout (printed in target order at the end).
struct Sink {
    dir: Option<PathBuf>,
    writer: Option<moat::output::Writer>,
    drift: Option<Drift>,
    stdout: Vec<(Target, Artefact)>,
    count: usize,
    broken: bool,
}

impl Sink {
    fn new(args: &Args) -> Sink {
        let (writer, drift) = match &args.out {
            Some(_) if args.check => (None, Some(Drift::default())),
            Some(dir) => (Some(moat::output::Writer::new(dir)), None),
            None => (None, None),
        };
        Sink {
            dir: args.out.clone(),
            writer,
            drift,
            stdout: vec![],
            count: 0,
            broken: false,
        }
    }

    /// One file: staged, compared, or kept for stdout. After a failed write
    /// the rest are only counted (the commit will not happen).
    fn take(&mut self, t: Target, artefact: Artefact, report: &mut Report) {
        self.count += 1;
        let one = std::slice::from_ref(&artefact);
        let failed = match (&mut self.writer, &mut self.drift, &self.dir) {
            _ if self.broken => None,
            (Some(w), _, Some(dir)) => w
                .stage(one)
                .err()
                .map(|e| format!("cannot write to {}: {e}", dir.display())),
            (None, Some(d), Some(dir)) => {
                d.compare(dir, one);
                None
            }
            _ => {
                self.stdout.push((t, artefact));
                None
            }
        };
        if let Some(msg) = failed {
            report.error(&msg);
            self.broken = true;
        }
    }

    fn finish(self, args: &Args, names: &[&str], targets: &[Target], report: &mut Report) -> u8 {
        if self.broken {
            return TROUBLE;
        }
        let Some(dir) = &args.out else {
            let mut all = self.stdout;
            all.sort();
            if report.json.is_some() {
                let files: Vec<_> = all
                    .iter()
                    .map(|(_, a)| serde_json::json!({ "path": a.path, "contents": a.contents }))
                    .collect();
                report.set("files", serde_json::Value::Array(files));
            } else {
                for (_, a) in &all {
                    super::out(&format!("==> {} <==\n{}\n", a.path, a.contents));
                }
            }
            return OK;
        };
        if let Some(d) = self.drift {
            return d.report(args, dir, targets, report);
        }
        let Some(w) = self.writer else { return TROUBLE };
        match w.commit(names) {
            Ok(()) => {
                report.summary(
                    &format!("wrote {} file(s) to {}", self.count, dir.display()),
                    "wrote",
                    serde_json::json!({ "files": self.count, "dir": dir.display().to_string() }),
                );
                OK
            }
            Err(e) => {
                report.error(&format!("cannot write to {}: {e}", dir.display()));
                TROUBLE
            }
        }
    }
}

/// `--check`: the artefacts compared with the files committed under DIR.
#[derive(Default)]
struct Drift {
    lines: Vec<String>,
    compared: std::collections::BTreeSet<String>,
}

impl Drift {
    fn compare(&mut self, dir: &std::path::Path, artefacts: &[Artefact]) {
        for a in artefacts {
            match std::fs::read(dir.join(&a.path)) {
                Ok(bytes) if bytes == a.contents.as_bytes() => {}
                Ok(_) => self.lines.push(format!("differs: {}", a.path)),
                Err(_) => self.lines.push(format!("missing: {}", a.path)),
            }
            self.compared.insert(a.path.clone());
        }
    }

    /// Adds the extra files, in the sub-directories of the compiled targets
    /// (every target's with `all`), and reports.
    fn report(mut self, args: &Args, dir: &std::path::Path, targets: &[Target], report: &mut Report) -> u8 {
        let all = args.target.iter().any(|t| t == "all");
        let owned: Vec<Target> = if all {
            let named = |t: &Target| args.target.iter().any(|n| n == t.as_str());
            Target::ALL
                .into_iter()
                .filter(|t| !Target::OPT_IN.contains(t) || named(t))
                .collect()
        } else {
            targets.to_vec()
        };
        let mut on_disk = std::collections::BTreeSet::new();
        for t in &owned {
            list_files(dir, std::path::Path::new(t.as_str()), &mut on_disk);
        }
        let extra = on_disk
            .difference(&self.compared)
            .map(|p| format!("extra:   {p}"))
            .collect::<Vec<_>>();
        let mut drift = std::mem::take(&mut self.lines);
        drift.sort_by(|a, b| a[9..].cmp(&b[9..]));
        drift.extend(extra);
        if drift.is_empty() {
            report.summary(
                &format!(
                    "ok: the {} file(s) under {} are what the policy compiles to",
                    self.compared.len(),
                    dir.display()
                ),
                "drift",
                serde_json::json!([]),
            );
            return OK;
        }
        if report.json.is_none() {
            for d in &drift {
                super::out(&format!("{d}\n"));
            }
        }
        let rows: Vec<_> = drift
            .iter()
            .map(|d| {
                let (change, path) = d.split_once(':').unwrap_or((d, ""));
                serde_json::json!({ "change": change, "path": path.trim_start() })
            })
            .collect();
        report.summary(
            &format!(
                "error: {} file(s) under {} drifted from the policy (run without --check to rewrite them)",
                drift.len(),
                dir.display()
            ),
            "drift",
            serde_json::Value::Array(rows),
        );
        FAIL
    }
}

/// Adds the files below `dir/rel` (paths relative to `dir`, `/`-separated).
fn list_files(dir: &std::path::Path, rel: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir.join(rel)) else {
        return;
    };
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        if e.path().is_dir() {
            list_files(dir, &r, out);
        } else {
            out.insert(
                r.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
}

/// E046: a target named on the command line has nothing to enforce (a usage error).
fn nothing_to_enforce(t: Target) -> Diagnostic {
    Diagnostic::error_nospan(
        "E046",
        format!("target {} has nothing to enforce: {}", t.as_str(), scope_hint(t)),
    )
    .with_help(format!(
        "leave `{}` out of --target, or use `--target all`, which compiles only the targets the policy can be enforced by",
        t.as_str()
    ))
}

/// E045 when `--out` names something that exists and is not a directory.
fn out_is_a_file(dir: &std::path::Path) -> Option<Diagnostic> {
    let meta = std::fs::metadata(dir).ok()?;
    (!meta.is_dir()).then(|| {
        Diagnostic::error_nospan(
            "E045",
            format!("--out {} exists and is not a directory", dir.display()),
        )
        .with_help(format!(
            "--out names the directory the target sub-directories (k8s/, iptables/, ...) go in: \
             name a directory, e.g. `--out {}.d`, or remove the file",
            dir.display()
        ))
    })
}

/// The target names, for messages.
const TARGET_LIST: &str = "k8s, iptables, nftables, aws, gcp, azure, k8s-admin, istio or all";

/// `None` means `all`.
fn parse_targets(names: &[String]) -> Result<Option<Vec<Target>>, String> {
    if names.iter().any(|n| n == "all") {
        // Opt-in targets named beside `all` are checked by name here.
        return match names.iter().find(|n| *n != "all" && Target::parse(n).is_none()) {
            Some(n) => Err(format!("unknown target `{n}` (expected {})", TARGET_LIST)),
            None => Ok(None),
        };
    }
    let mut out = vec![];
    for n in names {
        match Target::parse(n) {
            Some(t) if !out.contains(&t) => out.push(t),
            Some(_) => {}
            None => return Err(format!("unknown target `{n}` (expected {})", TARGET_LIST)),
        }
    }
    out.sort();
    Ok(Some(out))
}

fn scope_hint(t: Target) -> &'static str {
    match t {
        Target::K8s => "no zone or service has a Kubernetes namespace",
        Target::Iptables | Target::Nftables => {
            "no zone other than an external one has addresses at an onprem site (a zone without `@SITE` is at the implicit onprem site)"
        }
        Target::Aws => "no zone is at a site of kind aws (`site NAME : aws`)",
        Target::Gcp => "no zone is at a site of kind gcp (`site NAME : gcp`)",
        Target::Azure => "no zone is at a site of kind azure (`site NAME : azure`)",
        Target::K8sAdmin | Target::Istio => "no zone or service has a Kubernetes namespace",
    }
}
