//! A position-aware reading of YAML manifests, so that a patched document is written back by
//! editing its text where it changed, not by writing it again.
//!
//! [`read`] reads the block subset manifests use (block maps and lists, lists at their key's
//! indentation or deeper, plain, quoted and literal/folded scalars, flow collections, comments,
//! `---` and `...` markers) into a tree of nodes with their byte spans; values are not decoded
//! here (serde_yaml does that), only located. Anchors, aliases, tags, complex keys and
//! directives are not read: a document using them is re-written whole when it changes.
//!
//! [`edits`] compares a document's value before and after the patch and turns the differences
//! into text edits at the changed nodes: a scalar replaced in place (keeping its quoting style),
//! a map entry or list item removed or inserted (with the siblings' indentation), a flow
//! collection written again on its line in flow style, and, where a node cannot be edited in
//! place (a literal or folded block, a change of type), that entry or item written again in
//! block style. Comments, blank lines, quoting and layout of
//! everything else stay as they were.

use serde_yaml::{Mapping, Value};

use crate::emit;

/// Why a part of the text cannot be read or edited in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

type Read<T> = Result<T, Unsupported>;

fn unsupported<T>(why: impl Into<String>) -> Read<T> {
    Err(Unsupported(why.into()))
}

/// One line of the text: `[start, end)` without the line break, `next` the start of the next
/// line.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

/// A node of a document, located in the text.
#[derive(Debug, Clone)]
pub enum Node {
    /// A block map whose keys stand at column `col`; `inline` when the first key follows a
    /// `- ` on the same line.
    Map {
        /// The keys' column.
        col: usize,
        /// Whether the first entry follows `- ` on its line.
        inline: bool,
        /// The entries in order.
        entries: Vec<Entry>,
    },
    /// A block list whose `-` stand at column `col`.
    Seq {
        /// The dashes' column.
        col: usize,
        /// The items in order.
        items: Vec<Item>,
    },
    /// A plain or quoted scalar: `[start, end)` is its text, quotes included.
    Scalar {
        /// Where the text starts.
        start: usize,
        /// Where it ends.
        end: usize,
    },
    /// A flow collection (`[…]`, `{…}`): `[start, end)` is its text, brackets included; written
    /// again on one line when it changes.
    Flow {
        /// Where the text starts.
        start: usize,
        /// Where it ends.
        end: usize,
    },
    /// A literal or folded block scalar: its entry or item is written again when it changes.
    Opaque,
    /// Nothing after `key:` or `-`: a null.
    Empty,
}

/// A block map entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key, decoded.
    pub key: Value,
    /// Where the key's text starts.
    pub key_start: usize,
    /// Where the key's line starts.
    pub line_start: usize,
    /// The value.
    pub value: Node,
    /// The start of the line after the entry's last line of content.
    pub end: usize,
}

/// A block list item.
#[derive(Debug, Clone)]
pub struct Item {
    /// Where the `-` is.
    pub dash: usize,
    /// Where the `-`'s line starts.
    pub line_start: usize,
    /// Whether something precedes the `-` on its line (`- - a`).
    pub inline: bool,
    /// The value.
    pub value: Node,
    /// The start of the line after the item's last line of content.
    pub end: usize,
}

/// One document of a file: its content's span (from its first line of content to the line
/// after its last) and its tree; `None` when the document is empty (comments only).
#[derive(Debug, Clone)]
pub struct Document {
    /// Where the document's first line of content starts (after any `---` line and comments).
    pub start: usize,
    /// The start of the line after its last line of content.
    pub end: usize,
    /// The root node, or why the document could not be read.
    pub root: Read<Node>,
    /// The segment of text the document is in (between markers), to parse it on its own.
    pub segment: (usize, usize),
}

/// Reads a YAML stream into its documents, empty ones included (they have no content).
pub fn read(text: &str) -> Read<Vec<Document>> {
    let lines = split_lines(text);
    let mut segments = Vec::new();
    let mut seg_start_line = 0;
    for (i, line) in lines.iter().enumerate() {
        let content = &text[line.start..line.end];
        if content.starts_with('%') {
            return unsupported("a `%` directive");
        }
        let Some(rest) = content
            .strip_prefix("---")
            .or_else(|| content.strip_prefix("..."))
        else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            continue;
        }
        if !is_blank(rest) {
            return unsupported("content on a document marker line");
        }
        segments.push((seg_start_line, i));
        seg_start_line = i + 1;
    }
    segments.push((seg_start_line, lines.len()));
    let reader = Reader { text, lines };
    Ok(segments
        .into_iter()
        .map(|(from, to)| reader.document(from, to))
        .collect())
}

/// Whether the rest of a line holds nothing but blanks and maybe a comment.
fn is_blank(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches([' ', '\t']);
    trimmed.is_empty() || trimmed.starts_with('#')
}

fn split_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let (end, next) = match text[start..].find('\n') {
            Some(at) => (start + at, start + at + 1),
            None => (text.len(), text.len()),
        };
        let end = if text[start..end].ends_with('\r') {
            end - 1
        } else {
            end
        };
        lines.push(Line { start, end, next });
        start = next;
    }
    lines
}

struct Reader<'a> {
    text: &'a str,
    lines: Vec<Line>,
}

impl Reader<'_> {
    fn document(&self, from: usize, to: usize) -> Document {
        let seg_start = self.lines.get(from).map_or(self.text.len(), |l| l.start);
        let seg_end = self.lines.get(to).map_or(self.text.len(), |l| l.start);
        let segment = (seg_start, seg_end);
        let Some(first) = self.next_content(from, to) else {
            return Document {
                start: seg_end,
                end: seg_end,
                root: unsupported("empty document"),
                segment,
            };
        };
        let start = self.lines[first].start;
        let col = match self.indent(first) {
            Ok(col) => col,
            Err(e) => {
                return Document {
                    start,
                    end: seg_end,
                    root: Err(e),
                    segment,
                };
            }
        };
        let (root, end) = match self.node(first, col, None, to) {
            Ok((node, last)) => match self.next_content(last + 1, to) {
                None => (Ok(node), self.lines[last].next),
                Some(_) => (
                    unsupported("content after the document's root node"),
                    seg_end,
                ),
            },
            Err(e) => (Err(e), seg_end),
        };
        Document {
            start,
            end,
            root,
            segment,
        }
    }

    fn line(&self, i: usize) -> &str {
        let line = self.lines[i];
        &self.text[line.start..line.end]
    }

    /// The first line at or after `i` (before `to`) that is neither blank nor a comment.
    fn next_content(&self, i: usize, to: usize) -> Option<usize> {
        (i..to).find(|&j| !is_blank(self.line(j)))
    }

    /// The indentation of a line of content (spaces only).
    fn indent(&self, i: usize) -> Read<usize> {
        let line = self.line(i);
        let indent = line.len() - line.trim_start_matches(' ').len();
        if line[indent..].starts_with('\t') {
            return unsupported("a tab in indentation");
        }
        Ok(indent)
    }

    /// The line holding byte offset `at`.
    fn line_of(&self, at: usize) -> usize {
        self.lines
            .partition_point(|line| line.next <= at)
            .min(self.lines.len().saturating_sub(1))
    }

    /// The node starting on line `i` at byte column `col` (relative to the line), inside a
    /// parent whose entries or items stand at column `parent` (`None` at the root), with the
    /// segment ending before line `to`. Returns it and its last line of content.
    fn node(&self, i: usize, col: usize, parent: Option<usize>, to: usize) -> Read<(Node, usize)> {
        let rest = &self.line(i)[col..];
        if is_dash(rest) {
            return self.seq(i, col, to);
        }
        if self.key(i, col)?.is_some() {
            return self.map(i, col, to);
        }
        self.scalar(i, col, parent, to)
    }

    fn seq(&self, first: usize, col: usize, to: usize) -> Read<(Node, usize)> {
        let mut items = Vec::new();
        let mut i = first;
        let mut last;
        loop {
            let line = self.lines[i];
            let dash = line.start + col;
            let after = &self.line(i)[col + 1..];
            let spaces = after.len() - after.trim_start_matches(' ').len();
            let (value, item_last) = if is_blank(after) {
                self.below(i, col, to, false)?
            } else {
                self.node(i, col + 1 + spaces, Some(col), to)?
            };
            last = item_last;
            items.push(Item {
                dash,
                line_start: line.start,
                inline: i == first && !self.line(i)[..col].trim().is_empty(),
                value,
                end: self.lines[last].next,
            });
            let Some(next) = self.next_content(last + 1, to) else {
                break;
            };
            let indent = self.indent(next)?;
            if indent < col || (indent == col && !is_dash(&self.line(next)[col..])) {
                break;
            }
            if indent > col {
                return unsupported("a list item indented deeper than its siblings");
            }
            i = next;
        }
        Ok((Node::Seq { col, items }, last))
    }

    fn map(&self, first: usize, col: usize, to: usize) -> Read<(Node, usize)> {
        let mut entries = Vec::new();
        let mut i = first;
        let mut last;
        loop {
            let Some((key, value_col)) = self.key(i, col)? else {
                return unsupported("a line in a map that is not a `key:`");
            };
            let line = self.lines[i];
            let after = &self.line(i)[value_col..];
            let (value, entry_last) = if is_blank(after) {
                self.below(i, col, to, true)?
            } else {
                self.scalar(i, value_col, Some(col), to)?
            };
            last = entry_last;
            entries.push(Entry {
                key,
                key_start: line.start + col,
                line_start: line.start,
                value,
                end: self.lines[last].next,
            });
            let Some(next) = self.next_content(last + 1, to) else {
                break;
            };
            let indent = self.indent(next)?;
            if indent < col {
                break;
            }
            if indent > col {
                return unsupported("a map entry indented deeper than its siblings");
            }
            if is_dash(&self.line(next)[col..]) {
                break;
            }
            i = next;
        }
        let inline = !self.line(first)[..col].trim().is_empty();
        Ok((
            Node::Map {
                col,
                inline,
                entries,
            },
            last,
        ))
    }

    /// The value under a `key:` or `-` with nothing after it on line `i`: a block node on the
    /// next lines, indented deeper than `col` (or, under a key, a list at the key's column), or
    /// nothing.
    fn below(&self, i: usize, col: usize, to: usize, key: bool) -> Read<(Node, usize)> {
        let Some(next) = self.next_content(i + 1, to) else {
            return Ok((Node::Empty, i));
        };
        let indent = self.indent(next)?;
        if indent > col || (key && indent == col && is_dash(&self.line(next)[col..])) {
            self.node(next, indent, Some(col), to)
        } else {
            Ok((Node::Empty, i))
        }
    }

    /// A key at column `col` of line `i`: the decoded key and the column its value starts at.
    fn key(&self, i: usize, col: usize) -> Read<Option<(Value, usize)>> {
        let line = self.line(i);
        let rest = &line[col..];
        let key_end = if rest.starts_with(['"', '\'']) {
            let Some(len) = quoted_len(rest) else {
                return Ok(None);
            };
            let after = &rest[len..];
            let spaces = after.len() - after.trim_start_matches(' ').len();
            if after[spaces..].starts_with(':') && is_value_sep(&after[spaces + 1..]) {
                len
            } else {
                return Ok(None);
            }
        } else {
            if rest.starts_with(['[', '{', '|', '>', '#', '%', '@', '`']) {
                return Ok(None);
            }
            if rest.starts_with(['?', '&', '*', '!']) {
                return unsupported("a complex key, an anchor, an alias or a tag");
            }
            let mut found = None;
            for (at, c) in rest.char_indices() {
                if c == '#' && at > 0 && rest[..at].ends_with([' ', '\t']) {
                    break;
                }
                if c == ':' && is_value_sep(&rest[at + 1..]) {
                    found = Some(at);
                    break;
                }
            }
            let Some(at) = found else {
                return Ok(None);
            };
            at
        };
        let key_text = rest[..key_end].trim_end();
        let key: Value = serde_yaml::from_str(key_text)
            .map_err(|e| Unsupported(format!("a key that cannot be read alone: {e}")))?;
        if key.is_mapping() || key.is_sequence() {
            return unsupported("a key that is a collection");
        }
        let colon = rest[key_end..].find(':').map_or(key_end, |at| key_end + at);
        let after = &rest[colon + 1..];
        let spaces = after.len() - after.trim_start_matches([' ', '\t']).len();
        Ok(Some((key, col + colon + 1 + spaces)))
    }

    /// A scalar or flow collection starting at column `col` of line `i` (after `key: ` or `- `),
    /// in a parent at column `parent`.
    fn scalar(
        &self,
        i: usize,
        col: usize,
        parent: Option<usize>,
        to: usize,
    ) -> Read<(Node, usize)> {
        let line = self.lines[i];
        let rest = &self.line(i)[col..];
        let start = line.start + col;
        let parent_col = parent.map_or(-1, |p| isize::try_from(p).unwrap_or(isize::MAX));
        if rest.starts_with(['&', '*', '!', '?', '%', '@', '`']) {
            return unsupported("an anchor, an alias or a tag");
        }
        if rest.starts_with(['|', '>']) {
            if !is_blank(
                rest[1..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '+'),
            ) {
                return unsupported("a block scalar header");
            }
            // Its lines: the following ones indented deeper than the parent, or blank.
            let mut last = i;
            for j in i + 1..to {
                let text = self.line(j);
                let indent = text.len() - text.trim_start_matches(' ').len();
                if text.trim().is_empty() {
                    continue;
                }
                if isize::try_from(indent).unwrap_or(isize::MAX) > parent_col {
                    last = j;
                } else {
                    break;
                }
            }
            return Ok((Node::Opaque, last));
        }
        let (end, opaque) = if rest.starts_with(['"', '\'']) {
            let Some(len) = quoted_len(&self.text[start..]) else {
                return unsupported("an unterminated quoted string");
            };
            (start + len, false)
        } else if rest.starts_with(['[', '{']) {
            let Some(len) = flow_len(&self.text[start..]) else {
                return unsupported("an unterminated flow collection");
            };
            (start + len, true)
        } else {
            // A plain scalar: to the end of the line or a comment; more lines indented deeper
            // continue it.
            let mut end = start + plain_len(rest);
            let mut last = i;
            for j in i + 1..to {
                let text = self.line(j);
                if is_blank(text) {
                    break;
                }
                let indent = self.indent(j)?;
                if isize::try_from(indent).unwrap_or(isize::MAX) <= parent_col {
                    break;
                }
                last = j;
                end = self.lines[j].start + indent + plain_len(&text[indent..]);
            }
            return Ok((Node::Scalar { start, end }, last));
        };
        let last = self.line_of(end.saturating_sub(1));
        let tail = &self.text[end..self.lines[last].end];
        if !is_blank(tail) {
            return unsupported("text after a quoted scalar or flow collection");
        }
        if opaque {
            Ok((Node::Flow { start, end }, last))
        } else {
            Ok((Node::Scalar { start, end }, last))
        }
    }
}

/// Whether a line's rest starts a list item (`-` then a blank or the end).
fn is_dash(rest: &str) -> bool {
    rest.strip_prefix('-')
        .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t']))
}

/// Whether what follows a `:` makes it a key's (a blank or the end of the line).
fn is_value_sep(after: &str) -> bool {
    after.is_empty() || after.starts_with([' ', '\t'])
}

/// The length of the quoted scalar at the start of `text`, quotes included.
fn quoted_len(text: &str) -> Option<usize> {
    let quote = text.chars().next()?;
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        if quote == '"' && c == '\\' {
            chars.next();
        } else if c == quote {
            if quote == '\'' && chars.peek().is_some_and(|&(_, next)| next == '\'') {
                chars.next();
                continue;
            }
            return Some(at + 1);
        }
    }
    None
}

/// The length of the flow collection at the start of `text`, brackets included.
fn flow_len(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let c = rest.chars().next()?;
        match c {
            '"' | '\'' => {
                at += quoted_len(rest)?;
                continue;
            }
            '[' | '{' => depth += 1,
            ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            '#' if text[..at].ends_with([' ', '\t', '\n']) => return None,
            _ => {}
        }
        at += c.len_utf8();
    }
    None
}

/// The length of a plain scalar on one line: up to a comment, blanks trimmed.
fn plain_len(rest: &str) -> usize {
    let mut end = rest.len();
    for (at, c) in rest.char_indices() {
        if c == '#' && at > 0 && rest[..at].ends_with([' ', '\t']) {
            end = at;
            break;
        }
    }
    rest[..end].trim_end_matches([' ', '\t']).len()
}

#[cfg(test)]
mod tests;

mod edit;
pub use edit::{apply, edits, replace};
