//! Source positions: the files of one policy and byte spans into them.

use std::path::{Path, PathBuf};

/// Index of a file in the [`SourceMap`].
pub type FileId = usize;

/// A byte range `start..end` in one source file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// A span covering `start..end` of `file`.
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }

    /// The smallest span covering both `self` and `other` (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A value together with the place in the source it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps `node` with its `span`.
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }
}

/// One loaded source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in diagnostics (the path as given, or `REV:PATH`).
    pub name: String,
    /// The path used to resolve relative includes, if the file lives on disk.
    pub path: Option<PathBuf>,
    /// The name artefacts cite (`file:line`): the path relative to the
    /// policy's root (README "Source references"), whatever the spelling on
    /// the command line and the working directory. `None`: [`Self::name`].
    pub origin: Option<String>,
    pub text: String,
    line_starts: Vec<usize>,
    /// (byte offset, characters before it) about every [`MARK_EVERY`] bytes,
    /// so that a column on a very long line costs no more than a short one.
    char_marks: Vec<(usize, usize)>,
}

/// Distance in bytes between two entries of `SourceFile::char_marks`.
const MARK_EVERY: usize = 4096;

/// Every about `MARK_EVERY` bytes of `text`, its byte offset and the number of characters before it.
fn char_marks(text: &str) -> Vec<(usize, usize)> {
    if text.is_ascii() {
        // one byte per character: the marks are known without walking the text
        return (0..text.len().max(1))
            .step_by(MARK_EVERY)
            .map(|b| (b, b))
            .collect();
    }
    let mut marks = vec![(0, 0)];
    let mut next = MARK_EVERY;
    for (chars, (byte, _)) in text.char_indices().enumerate() {
        if byte >= next {
            marks.push((byte, chars));
            next = byte + MARK_EVERY;
        }
    }
    marks
}

impl SourceFile {
    /// 1-based line of byte offset `pos` (a binary search; no column counting).
    pub fn line(&self, pos: usize) -> usize {
        let pos = pos.min(self.text.len());
        self.line_starts.partition_point(|s| *s <= pos).max(1)
    }

    /// 1-based line and column (in characters) of byte offset `pos`.
    pub fn line_col(&self, pos: usize) -> (usize, usize) {
        let pos = pos.min(self.text.len());
        let line = match self.line_starts.binary_search(&pos) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = match (self.char_index(start), self.char_index(pos)) {
            (Some(a), Some(b)) => b - a,
            _ => pos - start,
        };
        (line + 1, col + 1)
    }

    /// The byte range of the line that holds byte `pos`, without its line break.
    pub fn line_range(&self, pos: usize) -> std::ops::Range<usize> {
        let pos = pos.min(self.text.len());
        let line = self.line_starts.partition_point(|s| *s <= pos).saturating_sub(1);
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |n| n.saturating_sub(1));
        start..end.max(start)
    }

    /// The number of characters before byte `pos` (`None` inside a character).
    fn char_index(&self, pos: usize) -> Option<usize> {
        let i = self
            .char_marks
            .partition_point(|(b, _)| *b <= pos)
            .saturating_sub(1);
        let (byte, chars) = self.char_marks.get(i).copied().unwrap_or((0, 0));
        self.text.get(byte..pos).map(|s| chars + s.chars().count())
    }
}

/// All files of one policy, addressed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty source map.
    pub fn new() -> Self {
        SourceMap::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, path: Option<&Path>, text: String) -> FileId {
        let mut line_starts = Vec::with_capacity(text.len() / 32 + 1);
        line_starts.push(0);
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        self.files.push(SourceFile {
            name: name.into(),
            path: path.map(Path::to_path_buf),
            origin: None,
            char_marks: char_marks(&text),
            text,
            line_starts,
        });
        self.files.len() - 1
    }

    /// The file with id `id`.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    /// All files, in the order they were added.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// Sets the name artefacts cite for file `id` ([`SourceFile::origin`]).
    pub fn set_origin(&mut self, id: FileId, origin: String) {
        if let Some(f) = self.files.get_mut(id) {
            f.origin = Some(origin);
        }
    }

    /// `file:line` of a span, the form every artefact uses to point back at
    /// the policy; the file is named relative to the policy's root.
    pub fn location(&self, span: Span) -> String {
        let f = self.file(span.file);
        let name = f.origin.as_deref().unwrap_or(&f.name);
        // called once per allow: plain pushes, not the formatting machinery
        let line = f.line(span.start).to_string();
        let mut loc = String::with_capacity(name.len() + 1 + line.len());
        loc.push_str(name);
        loc.push(':');
        loc.push_str(&line);
        loc
    }

    /// The source text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.file(span.file).text.get(span.start..span.end).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_agrees_with_line_col_everywhere() {
        let mut map = SourceMap::default();
        let id = map.add("t.moat", None, "a\n\nzone é {\r\n  x }\nlast".to_string());
        let f = map.file(id);
        for pos in 0..=f.text.len() + 3 {
            if f.text.is_char_boundary(pos.min(f.text.len())) {
                assert_eq!(f.line(pos), f.line_col(pos).0, "at byte {pos}");
            }
        }
    }
}
