//! `moat lsp` at the protocol level: a client drives the server over an
//! in-memory connection (the same messages an editor sends on stdio) and
//! checks what a user would see: diagnostics with codes and related places,
//! hover, definition, references, completion, rename across files,
//! formatting, outline and quick fixes. Plus the checker on half-typed text.

mod common;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// A client talking to a server thread.
struct Client {
    conn: Connection,
    server: Option<std::thread::JoinHandle<()>>,
    next: i32,
    /// publishDiagnostics received, latest per URI.
    diags: std::collections::BTreeMap<String, Value>,
}

impl Client {
    fn start(init_options: Value) -> Client {
        let (server, client) = Connection::memory();
        let handle = std::thread::spawn(move || {
            moat::lsp::serve(&server).expect("server ran");
        });
        let mut c = Client {
            conn: client,
            server: Some(handle),
            next: 0,
            diags: Default::default(),
        };
        let init = c.request(
            "initialize",
            json!({ "capabilities": { "general": { "positionEncodings": ["utf-8", "utf-16"] } },
                    "initializationOptions": init_options }),
        );
        assert_eq!(init["capabilities"]["positionEncoding"], "utf-8", "{init}");
        c.notify("initialized", json!({}));
        c
    }

    fn notify(&self, method: &str, params: Value) {
        let n = Notification::new(method.into(), params);
        self.conn.sender.send(Message::Notification(n)).expect("send");
    }

    /// Sends a request and returns its result, recording notifications meanwhile.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = RequestId::from(self.next);
        let r = Request::new(id.clone(), method.into(), params);
        self.conn.sender.send(Message::Request(r)).expect("send");
        loop {
            match self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(60))
                .expect("an answer")
            {
                Message::Response(resp) if resp.id == id => {
                    if let Some(e) = resp.error {
                        return json!({ "error": e.message });
                    }
                    return resp.result.unwrap_or(Value::Null);
                }
                Message::Notification(n) => self.record(n),
                _ => {}
            }
        }
    }

    fn record(&mut self, n: Notification) {
        if n.method == "textDocument/publishDiagnostics" {
            let uri = n.params["uri"].as_str().unwrap_or_default().to_string();
            self.diags.insert(uri, n.params["diagnostics"].clone());
        }
    }

    /// Waits until diagnostics for `uri` arrived (after the last change).
    fn diagnostics(&mut self, uri: &str) -> Value {
        self.diags.remove(uri);
        self.published(uri)
    }

    /// The diagnostics last published for `uri`, waiting for the first ones.
    fn published(&mut self, uri: &str) -> Value {
        loop {
            if let Some(d) = self.diags.get(uri) {
                return d.clone();
            }
            let m = self.conn.receiver.recv_timeout(Duration::from_secs(60));
            if let Message::Notification(n) = m.expect("diagnostics") {
                self.record(n);
            }
        }
    }

    fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "moat", "version": 1, "text": text } }),
        );
    }

    fn at(&mut self, method: &str, uri: &str, line: u32, character: u32, extra: Value) -> Value {
        let mut p =
            json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } });
        if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        self.request(method, p)
    }

    fn stop(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert!(r.is_null(), "{r}");
        self.notify("exit", Value::Null);
        if let Some(h) = self.server.take() {
            h.join().expect("server thread ended cleanly");
        }
    }
}

const MAIN: &str = r#"include "services.moat"
zone dmz : demilitarised { cidr 10.10.0.0/16
  service web { hosts 10.10.0.5 port https tcp/443 } }
allow internet -> dmz.web : https
allow dmz.web -> mz.postgre : pg
"#;

const SERVICES: &str = r#"zone internet : external { cidr 0.0.0.0/0 }
zone mz : militarised { cidr 10.20.0.0/16
  service postgres { hosts 10.20.5.10 port pg tcp/5432 port metrics tcp/9187 } }
"#;

fn uri(p: &Path) -> String {
    url::Url::from_file_path(p).expect("absolute path").to_string()
}

/// (line, character) of the `n`-th occurrence of `needle` in `text`, plus `skip` characters.
fn find(text: &str, needle: &str, n: usize, skip: u32) -> (u32, u32) {
    let at = text
        .match_indices(needle)
        .nth(n)
        .map(|(i, _)| i)
        .expect("needle in text");
    let line = text[..at].matches('\n').count() as u32;
    let col = (at - text[..at].rfind('\n').map_or(0, |i| i + 1)) as u32;
    (line, col + skip)
}

fn labels(items: &Value) -> Vec<String> {
    let list = items
        .as_array()
        .cloned()
        .or_else(|| items["items"].as_array().cloned())
        .unwrap_or_default();
    list.iter()
        .filter_map(|i| i["label"].as_str().map(str::to_string))
        .collect()
}

fn setup() -> (common::TempDir, String, String) {
    let dir = common::TempDir::new("lsp");
    std::fs::write(dir.path().join("main.moat"), MAIN).expect("write");
    std::fs::write(dir.path().join("services.moat"), SERVICES).expect("write");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    (
        dir,
        uri(&root.join("main.moat")),
        uri(&root.join("services.moat")),
    )
}

#[test]
fn a_session_from_typo_to_fix() {
    let (_dir, main, services) = setup();
    let mut c = Client::start(json!({ "diagnosticsUrl": "https://example.org/moat/diagnostics#{code}" }));
    c.open(&main, MAIN);
    // diagnostics: the typo, with its code, its description and the help in the message
    let d = c.diagnostics(&main);
    let d = d.as_array().cloned().unwrap_or_default();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["code"], "E002");
    assert_eq!(
        d[0]["codeDescription"]["href"],
        "https://example.org/moat/diagnostics#e002"
    );
    assert!(
        d[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("did you mean `mz.postgres`?"),
        "{d:?}"
    );
    let (l, ch) = find(MAIN, "mz.postgre", 0, 0);
    assert_eq!(d[0]["range"]["start"], json!({ "line": l, "character": ch }));
    // the included file got its (empty) diagnostics too: it is part of the policy
    assert_eq!(c.published(&services), json!([]));

    // the quick fix writes the suggestion
    let actions = c.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": main }, "range": d[0]["range"], "context": { "diagnostics": d } }),
    );
    let edit = &actions[0]["edit"]["changes"][&main][0];
    assert_eq!(edit["newText"], "mz.postgres", "{actions}");
    assert_eq!(edit["range"], d[0]["range"]);

    // definition of a name declared in the included file
    let (l, ch) = find(MAIN, "internet", 0, 2);
    let def = c.at("textDocument/definition", &main, l, ch, json!({}));
    assert_eq!(def[0]["uri"], services.as_str(), "{def}");
    assert_eq!(def[0]["range"]["start"], json!({ "line": 0, "character": 5 }));
    // definition of an include is the file
    let def = c.at("textDocument/definition", &main, 0, 12, json!({}));
    assert_eq!(def[0]["uri"], services.as_str(), "{def}");

    // completion: after `->`, after `.`, and the destination's own port names after `:`
    let fixed = MAIN.replace("mz.postgre ", "mz.postgres ");
    let typing = format!("{fixed}allow dmz.web -> mz.");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main, "version": 2 }, "contentChanges": [{ "text": typing }] }),
    );
    let (l, ch) = (
        typing.matches('\n').count() as u32,
        "allow dmz.web -> mz.".len() as u32,
    );
    let items = labels(&c.at("textDocument/completion", &main, l, ch, json!({})));
    assert_eq!(items, ["postgres"]);
    let items = labels(&c.at("textDocument/completion", &main, l, ch - 3, json!({})));
    for want in ["dmz", "internet", "mz"] {
        assert!(items.contains(&want.to_string()), "{items:?}");
    }
    let typing = format!("{fixed}allow dmz.web -> mz.postgres : ");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main, "version": 3 }, "contentChanges": [{ "text": typing }] }),
    );
    let ch = "allow dmz.web -> mz.postgres : ".len() as u32;
    let items = labels(&c.at("textDocument/completion", &main, l, ch, json!({})));
    assert_eq!(items[..2], ["pg".to_string(), "metrics".to_string()], "{items:?}");
    assert!(
        !items.contains(&"https".to_string()),
        "only the destination's ports: {items:?}"
    );

    // an incremental change that fixes the typo: the diagnostics clear
    let (l0, c0) = find(MAIN, "mz.postgre", 0, 10);
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main, "version": 4 }, "contentChanges": [
            { "text": MAIN },
            { "range": { "start": { "line": l0, "character": c0 }, "end": { "line": l0, "character": c0 } }, "text": "s" }
        ] }),
    );
    assert_eq!(c.diagnostics(&main), json!([]));

    // hover on a service: kind, ports, addresses and the flows reaching it
    let (l, ch) = find(&fixed, "dmz.web", 0, 5);
    let h = c.at("textDocument/hover", &main, l, ch, json!({}));
    let text = h["contents"]["value"].as_str().unwrap_or_default().to_string();
    for want in [
        "**service** `dmz.web`",
        "demilitarised",
        "port `https` tcp/443",
        "10.10.0.5/32",
        "`internet -> dmz.web` tcp/443",
    ] {
        assert!(text.contains(want), "missing {want:?} in hover:\n{text}");
    }
    // hover on a port name: its declaration
    let (l, ch) = find(&fixed, ": pg", 0, 2);
    let h = c.at("textDocument/hover", &main, l, ch, json!({}));
    let text = h["contents"]["value"].as_str().unwrap_or_default();
    assert!(text.contains("`pg` = `tcp/5432`"), "{h}");
    // and the flows that use it (the port's ports of each flow to the service)
    assert!(text.contains("`dmz.web -> mz.postgres` tcp/5432"), "{h}");

    // references of `mz` across both files, declaration included
    let (l, ch) = find(&fixed, "mz.postgres", 0, 0);
    let refs = c.at(
        "textDocument/references",
        &main,
        l,
        ch,
        json!({ "context": { "includeDeclaration": true } }),
    );
    let uris: Vec<&str> = refs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    assert_eq!(uris, [services.as_str(), main.as_str()], "{refs}");

    // rename the service across files
    let (l, ch) = find(&fixed, "mz.postgres", 0, 4);
    let prep = c.at("textDocument/prepareRename", &main, l, ch, json!({}));
    assert_eq!(prep["start"]["character"], 20, "{prep}");
    let e = c.at("textDocument/rename", &main, l, ch, json!({ "newName": "db" }));
    assert_eq!(e["changes"][&main].as_array().map(Vec::len), Some(1), "{e}");
    assert_eq!(e["changes"][&services][0]["newText"], "db", "{e}");
    let bad = c.at(
        "textDocument/rename",
        &main,
        l,
        ch,
        json!({ "newName": "Bad Name" }),
    );
    assert!(
        bad["error"].as_str().is_some_and(|m| m.contains("not a name")),
        "{bad}"
    );

    // the outline and formatting
    let syms = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": services } }),
    );
    assert_eq!(syms[1]["name"], "mz");
    assert_eq!(syms[1]["children"][0]["name"], "postgres");
    assert_eq!(syms[1]["children"][0]["children"][1]["name"], "metrics");
    let f = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": main }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    let formatted = f[0]["newText"].as_str().unwrap_or_default();
    assert_eq!(
        Ok(formatted.to_string()),
        moat::syntax::fmt::format(&fixed).map_err(|_| ())
    );
    assert!(
        formatted.contains("zone dmz : demilitarised {\n  cidr 10.10.0.0/16\n"),
        "{formatted}"
    );
    c.stop();
}

#[test]
fn related_locations_point_at_the_forbid() {
    let dir = common::TempDir::new("lsp-e007");
    let path = std::fs::canonicalize(dir.path()).expect("dir").join("p.moat");
    let text = std::fs::read_to_string(common::root().join("fixtures/bad/E007-allow-meets-forbid.moat"))
        .expect("fixture");
    std::fs::write(&path, &text).expect("write");
    let u = uri(&path);
    let mut c = Client::start(Value::Null);
    c.open(&u, &text);
    let d = c.diagnostics(&u);
    let e007 = d
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["code"] == "E007")
        .cloned()
        .expect("E007");
    let rel = &e007["relatedInformation"][0];
    assert_eq!(rel["location"]["uri"], u.as_str());
    let (l, _) = find(&text, "forbid dmz", 0, 0);
    assert_eq!(rel["location"]["range"]["start"]["line"], l, "{e007}");
    c.stop();
}

#[test]
fn cells_names_resolve_to_their_block() {
    let path = std::fs::canonicalize(common::root().join("fixtures/good/spec-cells.moat")).expect("fixture");
    let text = std::fs::read_to_string(&path).expect("read");
    let u = uri(&path);
    let mut c = Client::start(Value::Null);
    c.open(&u, &text);
    assert_eq!(c.diagnostics(&u), json!([]));
    // `cell*.dmz.regproc` -> the `regproc` declared in the block's `dmz`
    let (l, ch) = find(&text, "cell*.dmz.regproc", 0, 11);
    let def = c.at("textDocument/definition", &u, l, ch, json!({}));
    let (dl, dc) = find(&text, "service regproc", 0, 8);
    assert_eq!(
        def[0]["range"]["start"],
        json!({ "line": dl, "character": dc }),
        "{def}"
    );
    let h = c.at("textDocument/hover", &u, l, ch, json!({}));
    let h = h["contents"]["value"].as_str().unwrap_or_default();
    assert!(
        h.contains("`cell1.dmz.regproc`") && h.contains("… and 1 more cells"),
        "{h}"
    );
    // completion after `cell*.` offers the block's zones
    let items = labels(&c.at("textDocument/completion", &u, l, ch - 5, json!({})));
    assert_eq!(items, ["dmz", "mz"]);
    c.stop();
}

/// Prefixes of the MOSIP policy cut at 150 token boundaries (as typed, half
/// a statement at a time) check without a panic, and the server's analysis,
/// completion and hovers run on them.
#[test]
fn half_typed_policies_never_panic() {
    let text = std::fs::read_to_string(common::policy("mosip.moat")).expect("policy");
    let mut cuts: Vec<usize> = text
        .match_indices(['\n', ' ', '.', ':', '{'])
        .map(|(i, _)| i)
        .collect();
    cuts.dedup();
    let step = (cuts.len() / 150).max(1);
    let mut checked = 0;
    for &cut in cuts.iter().step_by(step) {
        let prefix = &text[..cut];
        let result = std::panic::catch_unwind(|| {
            let c = moat::check_str("cut.moat", prefix);
            // the server's own work on the same text: its names, completion and hovers
            let path = std::path::PathBuf::from("/nonexistent-moat-lsp-test/cut.moat");
            let doc = moat::lsp::workspace::Doc {
                text: prefix.to_string(),
                version: 1,
            };
            let docs = std::collections::BTreeMap::from([(path.clone(), doc)]);
            let a = moat::lsp::workspace::analyse(&docs, &path);
            let _ = moat::lsp::complete::complete(a.index(), prefix);
            for at in (0..prefix.len()).step_by(997) {
                let _ = moat::lsp::hover::hover(&a, 0, at);
            }
            c.diags.len()
        });
        assert!(
            result.is_ok(),
            "the checker panicked on the first {cut} bytes of mosip.moat"
        );
        checked += 1;
    }
    assert!(checked >= 100, "{checked}");
}

#[test]
fn a_zone_s_cluster_goes_to_its_declaration() {
    let path =
        std::fs::canonicalize(common::root().join("fixtures/good/layout-clusters.moat")).expect("fixture");
    let text = std::fs::read_to_string(&path).expect("read");
    let u = uri(&path);
    let mut c = Client::start(Value::Null);
    c.open(&u, &text);
    assert_eq!(c.diagnostics(&u), json!([]));
    let (l, ch) = find(&text, "  cluster mz-k8s", 0, 12);
    let def = c.at("textDocument/definition", &u, l, ch, json!({}));
    let (dl, dc) = find(&text, "cluster mz-k8s @", 0, 8);
    assert_eq!(
        def[0]["range"]["start"],
        json!({ "line": dl, "character": dc }),
        "{def}"
    );
    let refs = c.at(
        "textDocument/references",
        &u,
        dl,
        dc + 1,
        json!({ "context": { "includeDeclaration": false } }),
    );
    assert_eq!(refs.as_array().map(Vec::len), Some(2), "{refs}");
    let h = c.at("textDocument/hover", &u, l, ch, json!({}));
    assert!(
        h["contents"]["value"]
            .as_str()
            .unwrap_or_default()
            .starts_with("**cluster** `mz-k8s`"),
        "{h}"
    );
    c.stop();
}
