//! Re-check latency of `moat lsp` (docs/editors.md): the time from a
//! keystroke's `didChange` to the `publishDiagnostics` of that version, for
//! policies/mosip.moat and a generated 20,000-allow policy (the shape of
//! docs/performance.md). Each edit types or deletes one character in a
//! comment at the end of the file (an incremental change), as an editor
//! sends it; the server re-checks the whole policy each time.
//!
//! ```text
//! cargo bench --bench lsp_latency            # MOAT_LSP_BENCH_RUNS=N edits per policy (default 200 / 40)
//! ```

/// The allocator of the `moat` binary (src/main.rs), so the figures are those of `moat lsp`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let runs = |default: usize| {
        std::env::var("MOAT_LSP_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let dir = root.join("target/lsp-bench");
    let _ = std::fs::create_dir_all(&dir);
    let big = dir.join("allows-20000.moat");
    let shape = moat::gen::bench::Shape {
        allows: 20_000,
        ..Default::default()
    };
    if let Err(e) = std::fs::write(&big, moat::gen::bench::generate(&shape).moat) {
        eprintln!("cannot write {}: {e}", big.display());
        return;
    }
    println!(
        "| policy | size | edits | p50 ms | p99 ms | max ms | hover p50 ms | `check_paths` alone p50 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, path, n) in [
        ("policies/mosip.moat", root.join("policies/mosip.moat"), runs(200)),
        ("20,000 allows (generated)", big, runs(40)),
    ] {
        measure(name, &path, n);
    }
}

fn measure(name: &str, path: &Path, n: usize) {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let uri = url::Url::from_file_path(&path)
        .map(|u| u.to_string())
        .unwrap_or_default();
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || {
        let _ = moat::lsp::serve(&server);
    });
    let send = |m: Message| client.sender.send(m).expect("send");
    send(Message::Request(Request::new(
        RequestId::from(1),
        "initialize".into(),
        json!({ "capabilities": { "general": { "positionEncodings": ["utf-8"] } } }),
    )));
    wait(&client, |m| matches!(m, Message::Response(_)));
    send(note("initialized", json!({})));
    let text = format!("{text}\n# ");
    let last_line = text.matches('\n').count();
    send(note(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "moat", "version": 0, "text": text } }),
    ));
    wait_diags(&client, &uri, 0);
    let mut times = vec![];
    for v in 1..=n as i32 {
        // odd versions type `x` after `# `, even ones delete it
        let change = if v % 2 == 1 {
            json!({ "range": range(last_line, 2, 2), "text": "x" })
        } else {
            json!({ "range": range(last_line, 2, 3), "text": "" })
        };
        let t = Instant::now();
        send(note(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": v }, "contentChanges": [change] }),
        ));
        wait_diags(&client, &uri, v);
        times.push(t.elapsed());
    }
    // hover on the first zone name (`zone NAME`)
    let mut hovers = vec![];
    let (hl, hc) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.starts_with("zone ").then_some((i, 6)))
        .unwrap_or((0, 0));
    for i in 0..20 {
        let t = Instant::now();
        send(Message::Request(Request::new(
            RequestId::from(100 + i),
            "textDocument/hover".into(),
            json!({ "textDocument": { "uri": uri }, "position": { "line": hl, "character": hc } }),
        )));
        wait(&client, |m| matches!(m, Message::Response(_)));
        hovers.push(t.elapsed());
    }
    send(Message::Request(Request::new(
        RequestId::from(9),
        "shutdown".into(),
        json!(null),
    )));
    wait(&client, |m| matches!(m, Message::Response(_)));
    send(note("exit", json!(null)));
    let _ = thread.join();
    // the same policy checked by the library alone, as `moat check` does: the server's own cost is the difference
    let mut alone = vec![];
    for _ in 0..n.min(20) {
        let t = Instant::now();
        let c = moat::check_paths(&moat::load::Disk, std::slice::from_ref(&path));
        alone.push(t.elapsed());
        drop(c);
    }
    times.sort();
    hovers.sort();
    alone.sort();
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "| {name} | {} KB, {} lines | {n} | {} | {} | {} | {} | {} |",
        text.len() / 1024,
        last_line + 1,
        ms(pct(&times, 0.5)),
        ms(pct(&times, 0.99)),
        ms(times[times.len() - 1]),
        ms(pct(&hovers, 0.5)),
        ms(pct(&alone, 0.5)),
    );
}

fn note(method: &str, params: serde_json::Value) -> Message {
    Message::Notification(Notification::new(method.into(), params))
}

fn range(line: usize, from: usize, to: usize) -> serde_json::Value {
    json!({ "start": { "line": line, "character": from }, "end": { "line": line, "character": to } })
}

fn wait(c: &Connection, done: impl Fn(&Message) -> bool) {
    loop {
        let m = c
            .receiver
            .recv_timeout(Duration::from_secs(120))
            .expect("the server answers");
        if done(&m) {
            return;
        }
    }
}

fn wait_diags(c: &Connection, uri: &str, version: i32) {
    wait(c, |m| {
        matches!(m, Message::Notification(n) if n.method == "textDocument/publishDiagnostics"
            && n.params["uri"] == uri && n.params["version"] == version)
    });
}
