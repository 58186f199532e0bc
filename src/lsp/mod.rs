//! `moat lsp`: a Language Server Protocol server on standard input and
//! output (docs/editors.md). It reuses the loader and the checker: every
//! change re-checks the whole policy (includes followed, cells expanded);
//! changes that arrive while a check runs are applied together before the
//! next one. Names come from the syntax trees, so hover, definition,
//! references, rename and completion work while the policy has errors;
//! addresses and flows in hovers come from the IR once it checks.

pub mod complete;
pub mod edit;
pub mod hover;
pub mod index;
pub mod nav;
pub mod pos;
pub mod workspace;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as notif, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::*;
use pos::{Encoding, Lines};
use std::collections::VecDeque;
use std::path::PathBuf;
use workspace::{canonical, Doc, Workspace};

/// An error that ends the session (the connection broke).
pub type Fatal = Box<dyn std::error::Error + Send + Sync>;

/// Runs the server on stdin/stdout until the client says `exit`.
pub fn run_stdio() -> Result<(), Fatal> {
    let (conn, threads) = Connection::stdio();
    serve(&conn)?;
    drop(conn);
    threads.join()?;
    Ok(())
}

/// What the server can do, in the encoding chosen.
fn capabilities(enc: Encoding) -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(match enc {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
            open_close: Some(true),
            change: Some(TextDocumentSyncKind::INCREMENTAL),
            save: Some(TextDocumentSyncSaveOptions::Supported(true)),
            ..Default::default()
        })),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), ":".into(), ">".into(), ",".into(), "@".into()]),
            ..Default::default()
        }),
        document_formatting_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        ..Default::default()
    }
}

/// UTF-8 positions when the client offers them, else the protocol's default UTF-16.
fn encoding(params: &serde_json::Value) -> Encoding {
    let offered = params
        .pointer("/capabilities/general/positionEncodings")
        .and_then(|v| v.as_array())
        .is_some_and(|a| a.iter().any(|e| e == "utf-8"));
    if offered {
        Encoding::Utf8
    } else {
        Encoding::Utf16
    }
}

/// Where diagnostic codes are described: the `diagnosticsUrl` initialization
/// option, else the README of the source tree moat was built from, if it is there.
fn docs_base(params: &serde_json::Value) -> Option<String> {
    if let Some(u) = params
        .pointer("/initializationOptions/diagnosticsUrl")
        .and_then(|v| v.as_str())
    {
        return Some(u.to_string());
    }
    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    readme
        .is_file()
        .then(|| Url::from_file_path(&readme).ok())
        .flatten()
        .map(|u| format!("{u}#diagnostics"))
}

/// Serves one client on `conn` until `shutdown` and `exit`.
pub fn serve(conn: &Connection) -> Result<(), Fatal> {
    let (id, params) = conn.initialize_start()?;
    let enc = encoding(&params);
    let result = serde_json::json!({
        "capabilities": capabilities(enc),
        "serverInfo": { "name": "moat", "version": env!("CARGO_PKG_VERSION") },
    });
    conn.initialize_finish(id, result)?;
    let mut ws = Workspace::new(enc, docs_base(&params));
    let mut queue: VecDeque<Message> = VecDeque::new();
    loop {
        // Take everything already sent: edits typed during the last check are applied together.
        while let Ok(m) = conn.receiver.try_recv() {
            queue.push_back(m);
        }
        let msg = match queue.pop_front() {
            Some(m) => m,
            None if !ws.dirty.is_empty() => {
                publish(conn, &mut ws)?;
                continue;
            }
            None => match conn.receiver.recv() {
                Ok(m) => m,
                Err(_) => return Ok(()),
            },
        };
        match msg {
            Message::Request(r) => {
                if r.method == req::Shutdown::METHOD {
                    // Answer, then end at `exit`, or when the client goes away without sending it.
                    conn.sender.send(Message::Response(ok(r.id, ())))?;
                    let _ = conn.receiver.recv_timeout(std::time::Duration::from_secs(30));
                    return Ok(());
                }
                if !ws.dirty.is_empty() {
                    publish(conn, &mut ws)?;
                }
                let resp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(&ws, &r)))
                    .unwrap_or_else(|_| error(r.id.clone(), "internal error".into()));
                conn.sender.send(Message::Response(resp))?;
            }
            Message::Notification(n) => {
                if n.method == notif::Exit::METHOD {
                    return Ok(());
                }
                notify(&mut ws, n);
                for url in ws.forget_closed() {
                    send_diags(conn, url, vec![], None)?;
                }
            }
            Message::Response(_) => {}
        }
    }
}

/// Re-checks what changed and publishes its diagnostics.
fn publish(conn: &Connection, ws: &mut Workspace) -> Result<(), Fatal> {
    for (url, diags, version) in ws.recheck() {
        send_diags(conn, url, diags, version)?;
    }
    Ok(())
}

fn send_diags(
    conn: &Connection,
    uri: Url,
    diagnostics: Vec<Diagnostic>,
    version: Option<i32>,
) -> Result<(), Fatal> {
    let params = PublishDiagnosticsParams {
        uri,
        diagnostics,
        version,
    };
    let n = Notification::new(notif::PublishDiagnostics::METHOD.into(), params);
    conn.sender.send(Message::Notification(n))?;
    Ok(())
}

fn path_of(uri: &Url) -> Option<PathBuf> {
    uri.to_file_path().ok().map(|p| canonical(&p))
}

/// Applies a document notification to the workspace.
fn notify(ws: &mut Workspace, n: Notification) {
    match n.method.as_str() {
        notif::DidOpenTextDocument::METHOD => {
            let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                return;
            };
            let Some(path) = path_of(&p.text_document.uri) else {
                return;
            };
            ws.docs.insert(
                path.clone(),
                Doc {
                    text: p.text_document.text,
                    version: p.text_document.version,
                },
            );
            ws.touch(&path);
        }
        notif::DidChangeTextDocument::METHOD => {
            let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                return;
            };
            let Some(path) = path_of(&p.text_document.uri) else {
                return;
            };
            let enc = ws.enc;
            let Some(doc) = ws.docs.get_mut(&path) else { return };
            for c in p.content_changes {
                apply(&mut doc.text, c, enc);
            }
            doc.version = p.text_document.version;
            ws.touch(&path);
        }
        notif::DidSaveTextDocument::METHOD => {
            let Ok(p) = serde_json::from_value::<DidSaveTextDocumentParams>(n.params) else {
                return;
            };
            if let Some(path) = path_of(&p.text_document.uri) {
                ws.touch(&path);
            }
        }
        notif::DidCloseTextDocument::METHOD => {
            let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                return;
            };
            if let Some(path) = path_of(&p.text_document.uri) {
                ws.docs.remove(&path);
                // the disk's version of the file counts again for the policies that read it
                ws.touch(&path);
                ws.dirty.retain(|r| {
                    ws.docs.contains_key(r)
                        || ws
                            .analyses
                            .get(r)
                            .is_some_and(|a| a.paths.iter().any(|p| ws.docs.contains_key(p)))
                });
            }
        }
        _ => {}
    }
}

/// Applies one change (a range, or the whole text) to a document.
pub fn apply(text: &mut String, c: TextDocumentContentChangeEvent, enc: Encoding) {
    match c.range {
        None => *text = c.text,
        Some(r) => {
            let lines = Lines::new(text, enc);
            let (a, b) = (lines.offset(r.start), lines.offset(r.end));
            let (a, b) = (a.min(b), a.max(b));
            text.replace_range(a..b, &c.text);
        }
    }
}

fn error(id: RequestId, message: String) -> Response {
    Response::new_err(id, ErrorCode::InternalError as i32, message)
}

fn ok<T: serde::Serialize>(id: RequestId, v: T) -> Response {
    Response::new_ok(id, v)
}

/// Answers one request from the latest check.
fn answer(ws: &Workspace, r: &Request) -> Response {
    let id = r.id.clone();
    let params = r.params.clone();
    macro_rules! parse {
        ($t:ty) => {
            match serde_json::from_value::<$t>(params) {
                Ok(p) => p,
                Err(e) => return Response::new_err(id, ErrorCode::InvalidParams as i32, e.to_string()),
            }
        };
    }
    // The analysis of the document at a position, and the byte offset of that position.
    let at = |tdp: &TextDocumentPositionParams| {
        let path = path_of(&tdp.text_document.uri)?;
        let (a, fid) = ws.analysis_of(&path)?;
        let off = a.lines(fid, ws.enc).offset(tdp.position);
        Some((a, fid, off))
    };
    match r.method.as_str() {
        req::HoverRequest::METHOD => {
            let p = parse!(HoverParams);
            let h = at(&p.text_document_position_params).and_then(|(a, f, o)| {
                let text = hover::hover(a, f, o)?;
                let occ = a.index().at(f, o).first().map(|x| x.span)?;
                let range = a.lines(f, ws.enc).range(occ.start, occ.end);
                Some(Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: text,
                    }),
                    range: Some(range),
                })
            });
            ok(id, h)
        }
        req::GotoDefinition::METHOD => {
            let p = parse!(GotoDefinitionParams);
            let locs = at(&p.text_document_position_params)
                .map(|(a, f, o)| nav::definition(a, f, o, ws.enc))
                .unwrap_or_default();
            ok(id, GotoDefinitionResponse::Array(locs))
        }
        req::References::METHOD => {
            let p = parse!(ReferenceParams);
            let locs = at(&p.text_document_position)
                .map(|(a, f, o)| nav::references(a, f, o, p.context.include_declaration, ws.enc))
                .unwrap_or_default();
            ok(id, locs)
        }
        req::PrepareRenameRequest::METHOD => {
            let p = parse!(TextDocumentPositionParams);
            let r = at(&p).and_then(|(a, f, o)| {
                let (occ, _) = nav::prepare_rename(a, f, o)?;
                Some(PrepareRenameResponse::Range(
                    a.lines(f, ws.enc).range(occ.span.start, occ.span.end),
                ))
            });
            ok(id, r)
        }
        req::Rename::METHOD => {
            let p = parse!(RenameParams);
            match at(&p.text_document_position) {
                None => ok(id, None::<WorkspaceEdit>),
                Some((a, f, o)) => match nav::rename(a, f, o, &p.new_name, ws.enc) {
                    Ok(e) => ok(id, e),
                    Err(m) => Response::new_err(id, ErrorCode::InvalidParams as i32, m),
                },
            }
        }
        req::Completion::METHOD => {
            let p = parse!(CompletionParams);
            let tdp = &p.text_document_position;
            let items = path_of(&tdp.text_document.uri)
                .and_then(|path| {
                    let text = ws.docs.get(&path).map(|d| d.text.as_str())?;
                    let off = Lines::new(text, ws.enc).offset(tdp.position);
                    let (a, _) = ws.analysis_of(&path)?;
                    Some(complete::complete(a.index(), text.get(..off)?))
                })
                .unwrap_or_default();
            ok(id, CompletionResponse::Array(items))
        }
        req::Formatting::METHOD => {
            let p = parse!(DocumentFormattingParams);
            let edits = path_of(&p.text_document.uri)
                .and_then(|path| ws.docs.get(&path))
                .and_then(|d| edit::format(&d.text, ws.enc));
            ok(id, edits)
        }
        req::DocumentSymbolRequest::METHOD => {
            let p = parse!(DocumentSymbolParams);
            let syms = path_of(&p.text_document.uri)
                .and_then(|path| ws.analysis_of(&path).map(|(a, f)| nav::symbols(a, f, ws.enc)))
                .unwrap_or_default();
            ok(id, DocumentSymbolResponse::Nested(syms))
        }
        req::CodeActionRequest::METHOD => {
            let p = parse!(CodeActionParams);
            let actions = path_of(&p.text_document.uri)
                .and_then(|path| ws.docs.get(&path))
                .map(|d| edit::actions(&p.text_document.uri, &d.text, ws.enc, &p.context.diagnostics))
                .unwrap_or_default();
            ok(id, actions)
        }
        _ => Response::new_err(
            id,
            ErrorCode::MethodNotFound as i32,
            format!("unsupported request {}", r.method),
        ),
    }
}
