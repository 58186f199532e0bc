//! Byte offsets of moat's spans to and from LSP positions (line and
//! character, the character counted in UTF-8 bytes or UTF-16 code units, as
//! negotiated with the client).

use lsp_types::{Position, Range};
use std::borrow::Cow;

/// How the client counts characters in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// The starts of the lines of one text, for position conversion.
#[derive(Debug, Clone)]
pub struct Lines<'t> {
    text: &'t str,
    starts: Cow<'t, [usize]>,
    enc: Encoding,
}

/// The byte offsets where the lines of `text` start.
pub fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        text.bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i + 1),
    );
    starts
}

impl<'t> Lines<'t> {
    /// Indexes `text`.
    pub fn new(text: &'t str, enc: Encoding) -> Self {
        Lines {
            text,
            starts: Cow::Owned(line_starts(text)),
            enc,
        }
    }

    /// `text` with its [`line_starts`] already computed.
    pub fn with_starts(text: &'t str, starts: &'t [usize], enc: Encoding) -> Self {
        Lines {
            text,
            starts: Cow::Borrowed(starts),
            enc,
        }
    }

    /// The LSP position of byte offset `pos` (clamped to the text, and back to a character boundary).
    pub fn position(&self, pos: usize) -> Position {
        let mut pos = pos.min(self.text.len());
        while !self.text.is_char_boundary(pos) {
            pos -= 1;
        }
        let line = self.starts.partition_point(|s| *s <= pos) - 1;
        let piece = &self.text[self.starts[line]..pos];
        let character = match self.enc {
            Encoding::Utf8 => piece.len(),
            Encoding::Utf16 => piece.encode_utf16().count(),
        };
        Position::new(line as u32, character as u32)
    }

    /// The LSP range of bytes `start..end`.
    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.position(start), self.position(end))
    }

    /// The byte offset of an LSP position (past the end of a line: its end).
    pub fn offset(&self, p: Position) -> usize {
        let Some(&start) = self.starts.get(p.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(p.line as usize + 1)
            .map_or(self.text.len(), |e| e - 1);
        let line = &self.text[start..end];
        let want = p.character as usize;
        let mut units = 0;
        for (i, c) in line.char_indices() {
            if units >= want {
                return start + i;
            }
            units += match self.enc {
                Encoding::Utf8 => c.len_utf8(),
                Encoding::Utf16 => c.len_utf16(),
            };
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_in_both_encodings() {
        let text = "zone é {\n  \u{1F600} x\n";
        for enc in [Encoding::Utf8, Encoding::Utf16] {
            let l = Lines::new(text, enc);
            for (i, _) in text.char_indices() {
                assert_eq!(l.offset(l.position(i)), i, "{enc:?} at {i}");
            }
        }
        let l = Lines::new(text, Encoding::Utf16);
        assert_eq!(l.position(text.find('x').unwrap_or(0)), Position::new(1, 5));
        let l = Lines::new(text, Encoding::Utf8);
        assert_eq!(l.position(text.find('x').unwrap_or(0)), Position::new(1, 7));
    }
}
