//! Reading policy files: command-line inputs, directories and `include`s (E014),
//! into one [`SourceMap`] and one syntax tree per file.

use crate::diag::Diagnostic;
use crate::span::{FileId, SourceMap, Span};
use crate::syntax::{ast, parse};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// Where policy text comes from: the working tree, or a git revision.
pub trait Fs {
    /// The file's bytes.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The `.moat` files below `path` if it is a directory (sorted), else `None`.
    fn moat_files_in(&self, path: &Path) -> Option<Vec<PathBuf>>;
    /// A stable identity for cycle detection (canonical path on disk).
    fn identity(&self, path: &Path) -> PathBuf;
    /// How a path is shown in diagnostics.
    fn display(&self, path: &Path) -> String {
        path.display().to_string()
    }
    /// The policy's root for the first input, when artefacts should cite
    /// files relative to it; `None` cites them as [`Fs::display`] shows them.
    fn root(&self, _first_input: &Path) -> Option<PathBuf> {
        None
    }
}

/// The policy's root on disk: the top of the git work tree that holds the
/// first input (the nearest directory above it with a `.git`), or else the
/// directory of the first input (a directory input: itself). Canonical.
pub fn policy_root(first_input: &Path) -> Option<PathBuf> {
    let canon = std::fs::canonicalize(first_input).ok()?;
    let start = if canon.is_dir() {
        canon.clone()
    } else {
        canon.parent()?.to_path_buf()
    };
    let git = start.ancestors().find(|d| d.join(".git").exists());
    Some(git.unwrap_or(&start).to_path_buf())
}

/// `path` (canonical) relative to `root`, `/`-separated, with `..` steps
/// when it lies outside.
pub fn relative_to(root: &Path, path: &Path) -> String {
    let (r, p): (Vec<_>, Vec<_>) = (root.components().collect(), path.components().collect());
    let common = r.iter().zip(&p).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n("..".to_string(), r.len() - common);
    let downs = p[common..]
        .iter()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    ups.chain(downs).collect::<Vec<_>>().join("/")
}

/// The ordinary file system.
pub struct Disk;

impl Fs for Disk {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        if path.is_dir() {
            return Err(io::Error::other("is a directory"));
        }
        // Only regular files: a device or FIFO (`/dev/zero`, `/dev/stdin`) would never end.
        if std::fs::metadata(path)?.is_file() {
            std::fs::read(path)
        } else {
            Err(io::Error::other("not a regular file"))
        }
    }

    fn moat_files_in(&self, path: &Path) -> Option<Vec<PathBuf>> {
        if !path.is_dir() {
            return None;
        }
        let mut out = vec![];
        let mut stack = vec![path.to_path_buf()];
        // Each directory once, by canonical path: a symlink back up the tree is no endless walk.
        let mut visited = BTreeSet::new();
        while let Some(dir) = stack.pop() {
            if !visited.insert(std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) {
                continue;
            }
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "moat") {
                    out.push(p);
                }
            }
        }
        out.sort();
        Some(out)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }

    fn root(&self, first_input: &Path) -> Option<PathBuf> {
        policy_root(first_input)
    }
}

/// All files of one policy, parsed.
#[derive(Debug, Default)]
pub struct Loaded {
    pub sources: SourceMap,
    pub files: Vec<(FileId, ast::File)>,
    pub diags: Vec<Diagnostic>,
    /// True when an input named on the command line could not be read (exit 2).
    pub io_failed: bool,
}

/// Loads the inputs (files or directories) and everything they include.
pub fn load(fs: &dyn Fs, inputs: &[PathBuf]) -> Loaded {
    let mut l = Loader {
        fs,
        out: Loaded::default(),
        seen: BTreeSet::new(),
        stack: vec![],
        root: inputs.first().and_then(|i| fs.root(i)),
    };
    for input in inputs {
        match fs.moat_files_in(input) {
            Some(files) if files.is_empty() => {
                l.out.diags.push(Diagnostic::error_nospan(
                    "E014",
                    format!("no .moat files in directory `{}`", fs.display(input)),
                ));
                l.out.io_failed = true;
            }
            Some(files) => files.iter().for_each(|f| l.file(f, None)),
            None => l.file(input, None),
        }
    }
    l.out
}

/// Parses one in-memory text as a whole policy (includes are not followed).
pub fn load_str(name: &str, text: &str) -> Loaded {
    let mut out = Loaded::default();
    let text = without_bom(text);
    let id = out.sources.add(name, None, text.to_string());
    let (file, diags) = parse::parse_file(text, id);
    out.files.push((id, file));
    out.diags.extend(diags);
    out
}

/// The UTF-8 byte-order mark, which some editors put at the start of a file.
pub const BOM: &str = "\u{feff}";

/// `text` without a leading byte-order mark.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

struct Loader<'a> {
    fs: &'a dyn Fs,
    out: Loaded,
    seen: BTreeSet<PathBuf>,
    /// The include chain being loaded: (identity, name as given).
    stack: Vec<(PathBuf, String)>,
    /// What artefacts cite files relative to ([`Fs::root`]).
    root: Option<PathBuf>,
}

impl Loader<'_> {
    /// Loads `path`; `from` is the include statement that named it, if any.
    fn file(&mut self, path: &Path, from: Option<Span>) {
        let id = self.fs.identity(path);
        if let Some(at) = self.stack.iter().position(|(p, _)| *p == id) {
            let span = from.unwrap_or_default();
            let mut chain: Vec<String> = self.stack[at..].iter().map(|(_, n)| n.clone()).collect();
            chain.push(self.fs.display(path));
            self.out.diags.push(
                Diagnostic::error("E014", span, format!("include cycle: {}", chain.join(" -> "))).with_help(
                    "remove one of the includes; a file may include another only once along a chain",
                ),
            );
            return;
        }
        if !self.seen.insert(id.clone()) {
            return; // already loaded through another path: one policy, one copy
        }
        let bytes = match self.fs.read(path) {
            Ok(b) => b,
            Err(e) => return self.unreadable(path, from, &e),
        };
        // A UTF-8 byte-order mark is not part of the text: dropped before
        // anything counts columns or shows a line.
        let bytes = match bytes.strip_prefix(BOM.as_bytes()) {
            Some(rest) => rest.to_vec(),
            None => bytes,
        };
        let (text, utf8_err) = match String::from_utf8(bytes) {
            Ok(t) => (t, None),
            Err(e) => {
                let pos = e.utf8_error().valid_up_to();
                (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(pos))
            }
        };
        let fid = self.out.sources.add(self.fs.display(path), Some(path), text);
        if let Some(root) = &self.root {
            self.out.sources.set_origin(fid, relative_to(root, &id));
        }
        if let Some(pos) = utf8_err {
            self.out.diags.push(
                Diagnostic::error(
                    "E001",
                    Span::new(fid, pos, pos + 1),
                    "the file is not valid UTF-8",
                )
                .with_help("save the policy as UTF-8 text"),
            );
            return;
        }
        let text = self.out.sources.file(fid).text.clone();
        let (file, diags) = parse::parse_file(&text, fid);
        self.out.diags.extend(diags);
        self.stack.push((id, self.fs.display(path)));
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for item in &file.items {
            if let ast::Item::Include(inc) = item {
                if !inc.path.node.ends_with(".moat") {
                    // Never read an arbitrary file (`/etc/shadow`) whose lines would show up in diagnostics.
                    self.out.diags.push(
                        Diagnostic::error(
                            "E014",
                            inc.path.span,
                            format!(
                                "include: `{}` is not a .moat file",
                                crate::syntax::text::visible(&inc.path.node)
                            ),
                        )
                        .with_help(
                            "include policy files only, by a path ending in `.moat` relative to this file",
                        ),
                    );
                    continue;
                }
                self.file(&dir.join(&inc.path.node), Some(inc.path.span));
            }
        }
        self.stack.pop();
        self.out.files.push((fid, file));
    }

    fn unreadable(&mut self, path: &Path, from: Option<Span>, e: &io::Error) {
        let msg = format!("cannot read `{}`: {e}", self.fs.display(path));
        match from {
            Some(span) => self.out.diags.push(
                Diagnostic::error("E014", span, format!("include: {msg}"))
                    .with_help("the path is relative to the including file; check its spelling"),
            ),
            None => {
                self.out.io_failed = true;
                self.out.diags.push(Diagnostic::error_nospan("E014", msg));
            }
        }
    }
}
