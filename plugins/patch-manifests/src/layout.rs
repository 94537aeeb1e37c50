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

/// A text edit: replace `[start, end)` by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// Where the replaced text starts.
    pub start: usize,
    /// Where it ends.
    pub end: usize,
    /// The new text.
    pub text: String,
}

/// The edits that turn `old` into `new` in the text of the node `root`, or why the document
/// has to be written whole. `text` is the whole file's text (the spans index it).
pub fn edits(text: &str, root: &Node, old: &Value, new: &Value) -> Read<Vec<Edit>> {
    let mut out = Vec::new();
    let mut differ = Differ {
        text,
        edits: &mut out,
    };
    match differ.node(root, old, new) {
        Ok(()) => Ok(out),
        Err(Redo(why)) => Err(Unsupported(why)),
    }
}

/// Asks the caller to write the whole entry or item again (the reason is for the log).
struct Redo(String);

fn redo<T>(why: impl Into<String>) -> Result<T, Redo> {
    Err(Redo(why.into()))
}

struct Differ<'a> {
    text: &'a str,
    edits: &'a mut Vec<Edit>,
}

impl Differ<'_> {
    fn push(&mut self, start: usize, end: usize, text: String) {
        self.edits.push(replace(self.text, start, end, text));
    }

    /// The edits for one node; on [`Redo`], none of them (the caller writes the node again).
    fn node(&mut self, node: &Node, old: &Value, new: &Value) -> Result<(), Redo> {
        let mark = self.edits.len();
        let result = self.node_edits(node, old, new);
        if result.is_err() {
            self.edits.truncate(mark);
        }
        result
    }

    fn node_edits(&mut self, node: &Node, old: &Value, new: &Value) -> Result<(), Redo> {
        if old == new {
            return Ok(());
        }
        match (node, old, new) {
            (
                Node::Map {
                    col,
                    inline,
                    entries,
                },
                Value::Mapping(old),
                Value::Mapping(new),
            ) if !new.is_empty() => self.map(*col, *inline, entries, old, new),
            (Node::Seq { col, items }, Value::Sequence(old), Value::Sequence(new))
                if !new.is_empty() =>
            {
                self.seq(*col, items, old, new)
            }
            (Node::Scalar { start, end }, old, new) if is_scalar(old) && is_scalar(new) => {
                let original = &self.text[*start..*end];
                let Some(replacement) = scalar_text(original, new) else {
                    return redo("a scalar that needs a block");
                };
                self.push(*start, *end, replacement);
                Ok(())
            }
            (Node::Flow { start, end }, _, new) if new.is_sequence() || new.is_mapping() => {
                let quoted = self.text[*start..*end].contains('"');
                let Some(replacement) = flow_text(new, quoted) else {
                    return redo("a flow collection holding what flow style cannot");
                };
                self.push(*start, *end, replacement);
                Ok(())
            }
            _ => redo("a change of type or a block scalar"),
        }
    }

    fn map(
        &mut self,
        col: usize,
        inline: bool,
        entries: &[Entry],
        old: &Mapping,
        new: &Mapping,
    ) -> Result<(), Redo> {
        // The tree must be the value's: same keys in the same order.
        if entries.len() != old.len() || entries.iter().zip(old.keys()).any(|(e, k)| &e.key != k) {
            return redo("the text's keys differ from the parsed ones");
        }
        // Kept keys must keep their order, and new keys come after them.
        let kept: Vec<&Value> = new.keys().filter(|k| old.contains_key(*k)).collect();
        let old_kept: Vec<&Value> = old.keys().filter(|k| new.contains_key(*k)).collect();
        if kept != old_kept {
            return redo("keys reordered");
        }
        let first_new = new.keys().position(|k| !old.contains_key(k));
        if let Some(first_new) = first_new
            && new.keys().skip(first_new).any(|k| old.contains_key(k))
        {
            return redo("a new key before kept ones");
        }
        if inline && !new.contains_key(&entries[0].key) {
            return redo("the first key of a list item removed");
        }
        for entry in entries {
            let Some(old_value) = old.get(&entry.key) else {
                continue;
            };
            match new.get(&entry.key) {
                None => self.push(entry.line_start, entry.end, String::new()),
                Some(new_value) if new_value != old_value => {
                    if let Err(Redo(_)) = self.node(&entry.value, old_value, new_value) {
                        let mut one = Mapping::new();
                        one.insert(entry.key.clone(), new_value.clone());
                        let text = emit::mapping_text(&one, col, true).map_err(Redo)?;
                        self.push(entry.key_start, entry.end, text);
                    }
                }
                Some(_) => {}
            }
        }
        let added: Mapping = new
            .iter()
            .filter(|(k, _)| !old.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !added.is_empty() {
            let at = entries.last().map_or(0, |e| e.end);
            let text = emit::mapping_text(&added, col, false).map_err(Redo)?;
            self.push(at, at, text);
        }
        Ok(())
    }

    fn seq(
        &mut self,
        col: usize,
        items: &[Item],
        old: &[Value],
        new: &[Value],
    ) -> Result<(), Redo> {
        if items.len() != old.len() {
            return redo("the text's list differs from the parsed one");
        }
        let pairs = align(old, new);
        for (k, &(old_at, new_at)) in pairs.iter().enumerate() {
            match (old_at, new_at) {
                (Some(o), Some(n)) => {
                    if old[o] != new[n]
                        && let Err(Redo(_)) = self.node(&items[o].value, &old[o], &new[n])
                    {
                        let text = emit::sequence_text(&new[n..=n], col, true).map_err(Redo)?;
                        self.push(items[o].dash, items[o].end, text);
                    }
                }
                (Some(o), None) => {
                    if items[o].inline {
                        return redo("the first item of a nested list removed");
                    }
                    self.push(items[o].line_start, items[o].end, String::new());
                }
                (None, Some(n)) => {
                    // Before the next old item still there, or after the last one.
                    let at = match pairs[k..].iter().find_map(|&(o, _)| o) {
                        Some(o) if items[o].inline => {
                            return redo("an item inserted before a nested list's first");
                        }
                        Some(o) => items[o].line_start,
                        None => items.last().map_or(0, |item| item.end),
                    };
                    let text = emit::sequence_text(&new[n..=n], col, false).map_err(Redo)?;
                    self.push(at, at, text);
                }
                (None, None) => {}
            }
        }
        Ok(())
    }
}

/// Pairs the items of two lists: equal items by a longest common subsequence, and between
/// those, items of the same identity (`name`, or the first key's scalar value) or, failing
/// that, in order. Unpaired old items are removed, unpaired new items inserted. In the order
/// of the new list, removals where they were.
fn align(old: &[Value], new: &[Value]) -> Vec<(Option<usize>, Option<usize>)> {
    let (n, m) = (old.len(), new.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut pairs = Vec::new();
    let (mut i, mut j) = (0, 0);
    let (mut gap_old, mut gap_new) = (Vec::new(), Vec::new());
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            pair_gap(old, new, &mut gap_old, &mut gap_new, &mut pairs);
            pairs.push((Some(i), Some(j)));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            gap_new.push(j);
            j += 1;
        } else {
            gap_old.push(i);
            i += 1;
        }
    }
    pair_gap(old, new, &mut gap_old, &mut gap_new, &mut pairs);
    pairs
}

fn pair_gap(
    old: &[Value],
    new: &[Value],
    gap_old: &mut Vec<usize>,
    gap_new: &mut Vec<usize>,
    pairs: &mut Vec<(Option<usize>, Option<usize>)>,
) {
    let mut partner: Vec<Option<usize>> = vec![None; gap_new.len()];
    let mut used = vec![false; gap_old.len()];
    for (k, &j) in gap_new.iter().enumerate() {
        if let Some(id) = identity(&new[j]) {
            let found = gap_old
                .iter()
                .enumerate()
                .find(|&(l, &i)| !used[l] && identity(&old[i]).as_ref() == Some(&id));
            if let Some((l, &i)) = found {
                used[l] = true;
                partner[k] = Some(i);
            }
        }
    }
    if gap_old.len() == gap_new.len() {
        // As many on both sides: what identity did not pair, pair in order.
        let mut free = gap_old
            .iter()
            .enumerate()
            .filter(|&(l, _)| !used[l])
            .map(|(_, &i)| i)
            .collect::<Vec<_>>()
            .into_iter();
        for p in &mut partner {
            if p.is_none() {
                *p = free.next();
            }
        }
    }
    // Pairs must keep the order of both lists: drop those that would cross an earlier one.
    let mut last = None;
    for p in &mut partner {
        if let Some(i) = *p {
            if last.is_some_and(|l| i <= l) {
                *p = None;
            } else {
                last = Some(i);
            }
        }
    }
    let paired: Vec<usize> = partner.iter().flatten().copied().collect();
    for &i in gap_old.iter() {
        if !paired.contains(&i) {
            pairs.push((Some(i), None));
        }
    }
    for (k, &j) in gap_new.iter().enumerate() {
        pairs.push((partner[k], Some(j)));
    }
    gap_old.clear();
    gap_new.clear();
}

/// What makes a list item the same item after a change: its `name`, or else its first key and
/// that key's scalar value.
fn identity(item: &Value) -> Option<(Value, Value)> {
    let map = item.as_mapping()?;
    if let Some(name) = map.get("name").filter(|v| is_scalar(v)) {
        return Some((Value::from("name"), name.clone()));
    }
    let (key, value) = map.iter().next()?;
    is_scalar(value).then(|| (key.clone(), value.clone()))
}

fn is_scalar(value: &Value) -> bool {
    matches!(
        value,
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)
    )
}

/// The new text of a scalar whose text was `original`, in the same quoting style where the
/// value allows it; `None` when it needs a block (several lines).
fn scalar_text(original: &str, new: &Value) -> Option<String> {
    match new {
        Value::String(s) => {
            if s.contains('\n') {
                return None;
            }
            if original.starts_with('"') {
                Some(emit::double_quoted(s))
            } else if original.starts_with('\'') && !s.chars().any(char::is_control) {
                Some(format!("'{}'", s.replace('\'', "''")))
            } else {
                Some(emit::inline_string(s))
            }
        }
        Value::Null if original.is_empty() || original == "~" => Some(original.to_string()),
        Value::Null | Value::Bool(_) | Value::Number(_) => Some(emit::plain_scalar(new)),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
    }
}

/// The edit replacing `[start, end)` of `text` by `new` (block text ending with a line break),
/// keeping a file without a final line break so.
pub fn replace(text: &str, start: usize, end: usize, new: String) -> Edit {
    let at_end_without_break = end == text.len() && !text.ends_with('\n');
    let new = if !at_end_without_break {
        new
    } else if start == end && start > 0 {
        format!("\n{}", new.strip_suffix('\n').unwrap_or(&new))
    } else {
        new.strip_suffix('\n').unwrap_or(&new).to_string()
    };
    Edit {
        start,
        end,
        text: new,
    }
}

/// A value in flow style on one line (`["a", "b"]`, `{a: 1}`), strings double-quoted when
/// `quoted` (the original used double quotes) or when they need it; `None` for what flow style
/// on one line cannot hold (tags, strings of several lines).
fn flow_text(value: &Value, quoted: bool) -> Option<String> {
    match value {
        Value::Sequence(items) => {
            let items: Option<Vec<String>> = items.iter().map(|v| flow_text(v, quoted)).collect();
            Some(format!("[{}]", items?.join(", ")))
        }
        Value::Mapping(map) => {
            let entries: Option<Vec<String>> = map
                .iter()
                .map(|(k, v)| {
                    let key = flow_text(k, quoted).filter(|_| is_scalar(k))?;
                    Some(format!("{key}: {}", flow_text(v, quoted)?))
                })
                .collect();
            Some(format!("{{{}}}", entries?.join(", ")))
        }
        Value::String(s) if s.contains('\n') => None,
        Value::String(s) => {
            let plain = emit::inline_string(s);
            if quoted || plain.contains([',', '[', ']', '{', '}']) {
                Some(emit::double_quoted(s))
            } else {
                Some(plain)
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Some(emit::plain_scalar(value)),
        Value::Tagged(_) => None,
    }
}

/// Applies edits (sorted by position, not overlapping) to `text`.
pub fn apply(text: &str, mut edits: Vec<Edit>) -> Read<String> {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for edit in edits {
        if edit.start < at || edit.end < edit.start || edit.end > text.len() {
            return unsupported("overlapping edits");
        }
        out.push_str(&text[at..edit.start]);
        out.push_str(&edit.text);
        at = edit.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

#[cfg(test)]
mod tests;
