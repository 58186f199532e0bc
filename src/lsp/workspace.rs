//! The open documents, the policies they belong to, and each policy's
//! latest check: diagnostics, syntax trees, names and (when the policy has
//! no errors) its IR.

use super::index::Index;
use super::pos::{Encoding, Lines};
use crate::diag::{Diagnostic, Severity};
use crate::load::{Disk, Fs};
use crate::span::FileId;
use crate::syntax::ast;
use crate::Checked;
use lsp_types::{
    CodeDescription, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Url,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// An open document.
#[derive(Debug, Clone)]
pub struct Doc {
    pub text: String,
    pub version: i32,
}

/// One policy (a root file and everything it includes), checked.
#[derive(Debug)]
pub struct Analysis {
    pub root: PathBuf,
    pub checked: Checked,
    pub files: Vec<(FileId, ast::File)>,
    /// The names, built at the first request after a check (a keystroke's
    /// diagnostics do not wait for it).
    index: std::sync::OnceLock<Index>,
    /// Per file id, its canonical path.
    pub paths: Vec<PathBuf>,
    /// Per file id, where its lines start.
    pub line_starts: Vec<Vec<usize>>,
}

impl Analysis {
    /// The policy's names.
    pub fn index(&self) -> &Index {
        self.index
            .get_or_init(|| Index::build(&self.files, &|id| self.paths.get(id).cloned()))
    }

    /// The file id of `path` (canonical) in this policy.
    pub fn file_id(&self, path: &Path) -> Option<FileId> {
        self.paths.iter().position(|p| p == path)
    }

    /// The text of file `id`.
    pub fn text(&self, id: FileId) -> &str {
        &self.checked.sources.file(id).text
    }

    /// The URL of file `id`.
    pub fn url(&self, id: FileId) -> Option<Url> {
        Url::from_file_path(&self.paths[id]).ok()
    }

    /// Position conversion for file `id`.
    pub fn lines(&self, id: FileId, enc: Encoding) -> Lines<'_> {
        Lines::with_starts(self.text(id), &self.line_starts[id], enc)
    }

    /// An LSP location of a span.
    pub fn location(&self, span: crate::span::Span, enc: Encoding) -> Option<Location> {
        let lines = self.lines(span.file, enc);
        Some(Location::new(
            self.url(span.file)?,
            lines.range(span.start, span.end),
        ))
    }
}

/// The documents and policies the server knows.
#[derive(Debug)]
pub struct Workspace {
    pub enc: Encoding,
    pub docs: BTreeMap<PathBuf, Doc>,
    /// Checked policies by root path.
    pub analyses: BTreeMap<PathBuf, Analysis>,
    /// Roots to check again before the next answer.
    pub dirty: BTreeSet<PathBuf>,
    /// Files diagnostics were last published for.
    pub published: BTreeSet<PathBuf>,
    /// Where a diagnostic code's description is; `{code}` in it becomes the code (`e002`).
    pub docs_base: Option<String>,
}

/// The canonical form of a path (the path itself when it does not exist on disk).
pub fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The file system seen through the open documents: an edited, unsaved text wins over the disk.
struct Overlay<'a>(&'a BTreeMap<PathBuf, Doc>);

impl Fs for Overlay<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.0.get(&canonical(path)) {
            Some(d) => Ok(d.text.as_bytes().to_vec()),
            None => Disk.read(path),
        }
    }

    fn moat_files_in(&self, path: &Path) -> Option<Vec<PathBuf>> {
        Disk.moat_files_in(path)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        canonical(path)
    }
}

impl Workspace {
    /// An empty workspace.
    pub fn new(enc: Encoding, docs_base: Option<String>) -> Self {
        Workspace {
            enc,
            docs: BTreeMap::new(),
            analyses: BTreeMap::new(),
            dirty: BTreeSet::new(),
            published: BTreeSet::new(),
            docs_base,
        }
    }

    /// The policy `path` belongs to: one already checked that has it, else
    /// one in its directory (or the parent) that includes it, else its own.
    pub fn root_of(&self, path: &Path) -> PathBuf {
        if let Some(a) = self.analyses.values().find(|a| a.paths.iter().any(|p| p == path)) {
            return a.root.clone();
        }
        includer(path).unwrap_or_else(|| path.to_path_buf())
    }

    /// The analysis that holds `path`, and its file id there.
    pub fn analysis_of(&self, path: &Path) -> Option<(&Analysis, FileId)> {
        let root = self.root_of(path);
        let a = self.analyses.get(&root)?;
        Some((a, a.file_id(path)?))
    }

    /// Marks every policy that reads `path` for a new check.
    pub fn touch(&mut self, path: &Path) {
        let mut any = false;
        for a in self.analyses.values() {
            if a.paths.iter().any(|p| p == path) {
                self.dirty.insert(a.root.clone());
                any = true;
            }
        }
        if !any {
            self.dirty.insert(self.root_of(path));
        }
    }

    /// Checks the dirty policies; returns the diagnostics to publish, per file.
    pub fn recheck(&mut self) -> Vec<(Url, Vec<lsp_types::Diagnostic>, Option<i32>)> {
        let mut out = vec![];
        for root in std::mem::take(&mut self.dirty) {
            let a = analyse(&self.docs, &root);
            let mut by_file: BTreeMap<FileId, Vec<lsp_types::Diagnostic>> =
                (0..a.paths.len()).map(|i| (i, vec![])).collect();
            for d in &a.checked.diags {
                let file = d.span.map_or(0, |s| s.file);
                if file < a.paths.len() {
                    by_file.entry(file).or_default().push(self.to_lsp(&a, d));
                }
            }
            let old: BTreeSet<PathBuf> = self
                .analyses
                .get(&root)
                .map(|o| o.paths.iter().cloned().collect())
                .unwrap_or_default();
            for gone in old.difference(&a.paths.iter().cloned().collect()) {
                if let Ok(u) = Url::from_file_path(gone) {
                    out.push((u, vec![], None));
                }
            }
            for (fid, ds) in by_file {
                let Some(url) = a.url(fid) else { continue };
                self.published.insert(a.paths[fid].clone());
                out.push((url, ds, self.docs.get(&a.paths[fid]).map(|d| d.version)));
            }
            if let Some(old) = self.analyses.insert(root, a) {
                // freeing a large policy's trees and IR costs tens of milliseconds: not on the answer's path
                std::thread::spawn(move || drop(old));
            }
        }
        out
    }

    /// Forgets the policies no open document belongs to; returns the files whose diagnostics to clear.
    pub fn forget_closed(&mut self) -> Vec<Url> {
        let open: BTreeSet<&PathBuf> = self.docs.keys().collect();
        let gone: Vec<PathBuf> = self
            .analyses
            .values()
            .filter(|a| !a.paths.iter().any(|p| open.contains(p)))
            .map(|a| a.root.clone())
            .collect();
        let mut cleared = vec![];
        for root in gone {
            if let Some(a) = self.analyses.remove(&root) {
                for p in a.paths {
                    if self.published.remove(&p) {
                        cleared.extend(Url::from_file_path(&p).ok());
                    }
                }
            }
        }
        cleared
    }

    /// One moat diagnostic in LSP form: code, code description, help and notes, related places.
    pub fn to_lsp(&self, a: &Analysis, d: &Diagnostic) -> lsp_types::Diagnostic {
        let file = d.span.map_or(0, |s| s.file);
        let lines = a.lines(file, self.enc);
        let range = d
            .span
            .map_or_else(|| lines.range(0, 0), |s| lines.range(s.start, s.end));
        let mut message = d.message.clone();
        for n in &d.notes {
            message.push_str(&format!("\nnote: {n}"));
        }
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .labels
            .iter()
            .filter_map(|(s, note)| {
                Some(DiagnosticRelatedInformation {
                    location: a.location(*s, self.enc)?,
                    message: note.clone(),
                })
            })
            .collect();
        let href = self
            .docs_base
            .as_ref()
            .and_then(|b| Url::parse(&b.replace("{code}", &d.code.to_lowercase())).ok());
        lsp_types::Diagnostic {
            range,
            severity: Some(match d.severity {
                Severity::Error => DiagnosticSeverity::ERROR,
                Severity::Warning => DiagnosticSeverity::WARNING,
            }),
            code: Some(NumberOrString::String(d.code.to_string())),
            code_description: href.map(|href| CodeDescription { href }),
            source: Some("moat".into()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            tags: None,
            data: None,
        }
    }
}

/// Loads and checks the policy rooted at `root`, open documents over the disk.
/// The checker never panics on user input (tests/lsp_protocol.rs cuts policies
/// at every statement to make sure); a panic here would still be a bug, and is
/// caught so that one bad keystroke does not end the editor's session.
pub fn analyse(docs: &BTreeMap<PathBuf, Doc>, root: &Path) -> Analysis {
    let fs = Overlay(docs);
    let inputs = [root.to_path_buf()];
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::check_paths_with_syntax(&fs, &inputs)
    }));
    let (checked, files) = run.unwrap_or_else(|_| {
        let mut sources = crate::span::SourceMap::new();
        let text = docs.get(root).map(|d| d.text.clone()).unwrap_or_default();
        sources.add(root.display().to_string(), Some(root), text);
        let d = Diagnostic::error(
            "E001",
            crate::span::Span::new(0, 0, 0),
            "internal error: moat's checker failed on this text",
        )
        .with_help("please report this policy to moat's maintainers");
        (
            Checked {
                sources,
                ir: None,
                diags: vec![d],
                io_failed: false,
            },
            vec![],
        )
    });
    let paths: Vec<PathBuf> = checked
        .sources
        .files()
        .iter()
        .map(|f| f.path.as_deref().map_or_else(|| root.to_path_buf(), canonical))
        .collect();
    let line_starts = checked
        .sources
        .files()
        .iter()
        .map(|f| super::pos::line_starts(&f.text))
        .collect();
    Analysis {
        root: root.to_path_buf(),
        checked,
        files,
        index: std::sync::OnceLock::new(),
        paths,
        line_starts,
    }
}

/// A `.moat` file in `path`'s directory or its parent whose includes reach `path`.
fn includer(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let dir = path.parent()?;
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let Ok(rd) = std::fs::read_dir(d) else { continue };
        let mut candidates: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "moat") && p != path)
            .collect();
        candidates.sort();
        for c in candidates {
            let Ok(text) = std::fs::read_to_string(&c) else {
                continue;
            };
            if !text.contains("include") || !text.contains(name) {
                continue;
            }
            let loaded = crate::load::load(&Disk, std::slice::from_ref(&c));
            if loaded
                .sources
                .files()
                .iter()
                .any(|f| f.path.as_deref().map(canonical).as_deref() == Some(path))
            {
                return Some(canonical(&c));
            }
        }
    }
    None
}
