//! Editing YAML manifests as text: change one value, keep every other byte.
//!
//! Release manifests are reviewed as diffs and hashed into the release digest, so a stage that
//! sets one key must not reformat the file (reorder keys, requote strings, drop comments) the way
//! a parse-and-serialise round trip would. These helpers understand just enough block-style YAML
//! to find a mapping entry (indentation, plain and quoted keys and scalars, block scalars `|` and
//! `>`, comments, multi-document files) and splice a new value into its place.
//!
//! The main entry points are [`set_configmap_data`] (find a ConfigMap by name in a possibly
//! multi-document file and set keys of its `data:` block) and [`set_data_value`] (the same on
//! one document). A key line that was commented out (`#  baseOSExtensionsContainerImage: …`, as
//! the OKD/FCOS machine-config-operator ships it) is uncommented in place rather than added a
//! second time.

use std::fmt;
use std::ops::Range;

mod fields;
mod scalar;

pub use fields::{
    annotation, container_env, label, set_annotation, set_container_env, set_label, set_value_at,
};
use scalar::plain_safe;

pub use scalar::{double_quoted, needs_escape};

/// Why a YAML text edit could not be made. Line numbers count from 1 within the text given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlError {
    /// No document of the file is a resource of this kind and name.
    ResourceNotFound {
        /// The resource kind looked for, e.g. `ConfigMap`.
        kind: String,
        /// The `metadata.name` looked for.
        name: String,
    },
    /// The document has no top-level `data:` key.
    NoDataBlock,
    /// `data:` is not a block mapping (e.g. `data: {}`), which these helpers do not rewrite.
    DataNotABlock {
        /// The line of the `data:` key.
        line: usize,
    },
    /// The value to replace has a shape these helpers do not handle.
    Unsupported {
        /// The line of the key.
        line: usize,
        /// What is unusual.
        reason: &'static str,
    },
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ResourceNotFound { kind, name } => {
                write!(f, "no {kind} named `{name}` in the file")
            }
            Self::NoDataBlock => f.write_str("the document has no top-level `data:` block"),
            Self::DataNotABlock { line } => {
                write!(
                    f,
                    "line {line}: `data:` must be a block mapping to be edited in place"
                )
            }
            Self::Unsupported { line, reason } => write!(f, "line {line}: {reason}"),
        }
    }
}

impl std::error::Error for YamlError {}

/// What an edit did to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// The key already had the value: the text is unchanged.
    Unchanged,
    /// The key's value was replaced; `old` is the previous value (decoded when it was a one-line
    /// scalar, the raw text otherwise).
    Replaced {
        /// The previous value.
        old: String,
    },
    /// A commented-out line for the key was turned into the entry.
    Uncommented,
    /// The key was absent and was added at the end of the block.
    Added,
}

/// One line of text: `start..end` is its content without the line break, `next` is where the
/// following line starts.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    next: usize,
}

fn split_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let (end, next) = match text[start..].find('\n') {
            Some(nl) => {
                let nl = start + nl;
                let end = if nl > start && text.as_bytes()[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (text.len(), text.len()),
        };
        lines.push(Line { start, end, next });
        start = next;
    }
    lines
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    Content,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn kind_of(line: &str) -> Kind {
    let trimmed = line.trim_start_matches([' ', '\t']);
    if trimmed.is_empty() {
        Kind::Blank
    } else if trimmed.starts_with('#') {
        Kind::Comment
    } else {
        Kind::Content
    }
}

/// One `key: value` entry of a block mapping.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    /// Index of the key's line.
    line: usize,
    indent: usize,
    /// Byte offset (in the whole text) where the value starts, after `key:` and spaces.
    value_start: usize,
    /// Index of the last line that belongs to the entry (continuations, nested content, block
    /// scalar content); trailing blank and comment lines are not counted.
    last_line: usize,
    block_scalar: bool,
}

/// The entries of one block mapping, found by indentation.
#[derive(Debug, Default)]
struct Block {
    entries: Vec<Entry>,
    /// Comment lines seen in the block, outside block scalar content.
    comments: Vec<usize>,
    /// The indentation of the block's keys, once one was seen.
    child_indent: Option<usize>,
}

/// Scans lines `from..to` as the block mapping nested under a key indented by `parent_indent`
/// (`None` for the top level of a document); stops at the first line indented no deeper than the
/// parent.
fn scan_block(text: &str, lines: &[Line], from: usize, to: usize, parent: Option<usize>) -> Block {
    let mut block = Block::default();
    for (i, line) in lines.iter().enumerate().take(to).skip(from) {
        let s = &text[line.start..line.end];
        let kind = kind_of(s);
        if kind == Kind::Blank {
            continue;
        }
        let indent = indent_of(s);
        if let Some(current) = block.entries.last_mut()
            && current.block_scalar
            && indent > current.indent
        {
            current.last_line = i;
            continue;
        }
        if kind == Kind::Comment {
            block.comments.push(i);
            continue;
        }
        if parent.is_some_and(|parent| indent <= parent) {
            break;
        }
        let child = *block.child_indent.get_or_insert(indent);
        if indent < child {
            break;
        }
        if indent > child {
            if let Some(current) = block.entries.last_mut() {
                current.last_line = i;
            }
            continue;
        }
        match parse_key(&s[indent..]) {
            Some((key, value_offset)) => {
                let value_start = line.start + indent + value_offset;
                let value = &text[value_start..line.end];
                block.entries.push(Entry {
                    key,
                    line: i,
                    indent,
                    value_start,
                    last_line: i,
                    block_scalar: value.starts_with('|') || value.starts_with('>'),
                });
            }
            // A sequence item (`- x`) at the key's own indentation belongs to the entry above.
            None => {
                if let Some(current) = block.entries.last_mut() {
                    current.last_line = i;
                }
            }
        }
    }
    block
}

/// Splits `key: rest` into the key (unquoted) and the offset of the value in `content`.
fn parse_key(content: &str) -> Option<(String, usize)> {
    if content == "-" || content.starts_with("- ") || content.starts_with('#') {
        return None;
    }
    let (key, after_key) = match content.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let len = quoted_len(content, quote)?;
            (unquote(&content[..len]), len)
        }
        // `find_key_colon` only accepts a colon followed by a space or the end: `a:b` is a
        // plain scalar, not a key.
        _ => {
            let colon = find_key_colon(content)?;
            (content[..colon].trim_end().to_string(), colon)
        }
    };
    if key.is_empty() {
        return None;
    }
    let rest = &content[after_key..];
    let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let after_colon = rest[spaces..].strip_prefix(':')?;
    let value_skip = after_colon.len() - after_colon.trim_start_matches([' ', '\t']).len();
    Some((key, after_key + spaces + 1 + value_skip))
}

/// The position of the `:` that ends a plain key: the first one followed by a space or the end.
fn find_key_colon(content: &str) -> Option<usize> {
    let bytes = content.as_bytes();
    (0..bytes.len()).find(|&i| {
        bytes[i] == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t')
    })
}

/// The length of a quoted scalar starting at `s[0]`, closing quote included; `None` if it is not
/// closed on this line.
fn quoted_len(s: &str, quote: char) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            ('"', b'\\') => i += 2,
            ('"', b'"') => return Some(i + 1),
            ('\'', b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            ('\'', b'\'') => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Decodes a one-line scalar as written (plain, `'single'` or `"double"` quoted).
fn unquote(s: &str) -> String {
    if let Some(inner) = s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(c @ ('x' | 'u' | 'U')) => {
                let len = match c {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(len).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    None => {
                        out.push('\\');
                        out.push(c);
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// How a scalar value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Empty,
    Plain,
    Single,
    Double,
    Block,
}

/// The style of the value starting `rest` and the length of its text on this line (without a
/// trailing comment or spaces); `closed` is false for a quoted scalar that goes on to the next
/// lines.
fn value_span(rest: &str) -> (Style, usize, bool) {
    match rest.chars().next() {
        None | Some('#') => (Style::Empty, 0, true),
        Some('"') => match quoted_len(rest, '"') {
            Some(len) => (Style::Double, len, true),
            None => (Style::Double, rest.trim_end().len(), false),
        },
        Some('\'') => match quoted_len(rest, '\'') {
            Some(len) => (Style::Single, len, true),
            None => (Style::Single, rest.trim_end().len(), false),
        },
        Some('|' | '>') => (Style::Block, plain_len(rest), true),
        Some(_) => (Style::Plain, plain_len(rest), true),
    }
}

/// The length of a plain value: up to a ` #` comment, trailing spaces dropped.
fn plain_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let end = (1..bytes.len())
        .find(|&i| bytes[i] == b'#' && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t'))
        .unwrap_or(bytes.len());
    rest[..end].trim_end().len()
}

/// Writes `value` in `style` where that is possible, double-quoted otherwise.
fn render(value: &str, style: Style) -> String {
    match style {
        Style::Single if !value.chars().any(needs_escape) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        Style::Plain | Style::Empty | Style::Block if plain_safe(value) => value.to_string(),
        _ => double_quoted(value),
    }
}

/// Writes `value` as a YAML scalar: plain when that reads back as the same string, otherwise
/// double-quoted (so `""`, `"true"`, `"4.17"` and values with `: ` stay strings).
pub fn scalar(value: &str) -> String {
    render(value, Style::Plain)
}

/// The byte ranges of the documents of a (possibly multi-document) YAML file, without their
/// `---` / `...` marker lines; documents holding only blanks and comments are left out.
pub fn documents(text: &str) -> Vec<Range<usize>> {
    let lines = split_lines(text);
    let mut documents = Vec::new();
    let mut start = 0;
    let mut has_content = false;
    for line in &lines {
        let s = &text[line.start..line.end];
        let marker = s == "---" || s.starts_with("--- ") || s.starts_with("---\t") || s == "...";
        if marker {
            if has_content {
                documents.push(start..line.start);
            }
            start = line.next;
            has_content = false;
        } else if kind_of(s) == Kind::Content {
            has_content = true;
        }
    }
    if has_content {
        documents.push(start..text.len());
    }
    documents
}

/// The scalar at a path of block-mapping keys in one document, e.g. `["metadata", "name"]`;
/// `None` if a key is missing or the value is not a one-line scalar.
pub fn scalar_at(document: &str, path: &[&str]) -> Option<String> {
    let lines = split_lines(document);
    let (last, parents) = path.split_last()?;
    let mut block = scan_block(document, &lines, 0, lines.len(), None);
    for key in parents {
        let entry = block.entries.iter().find(|e| e.key == *key)?;
        let (from, indent) = (entry.line + 1, entry.indent);
        block = scan_block(document, &lines, from, lines.len(), Some(indent));
    }
    let entry = block.entries.iter().find(|e| e.key == *last)?;
    let rest = &document[entry.value_start..lines[entry.line].end];
    match value_span(rest) {
        (Style::Plain | Style::Single | Style::Double, len, true)
            if entry.last_line == entry.line =>
        {
            Some(unquote(&rest[..len]))
        }
        _ => None,
    }
}

/// The first document of `text` that is a resource of `kind` with `metadata.name` `name`.
pub fn find_resource(text: &str, kind: &str, name: &str) -> Option<Range<usize>> {
    documents(text).into_iter().find(|range| {
        let document = &text[range.clone()];
        scalar_at(document, &["kind"]).as_deref() == Some(kind)
            && scalar_at(document, &["metadata", "name"]).as_deref() == Some(name)
    })
}

/// Sets `key` to the string `value` in the top-level `data:` block of one YAML document (a
/// ConfigMap or Secret), changing only that entry's text.
///
/// An existing entry keeps its quoting style where the new value allows it; a commented-out
/// entry for the key is uncommented in place; otherwise the entry is added after the block's
/// last entry, with the block's indentation.
pub fn set_data_value(document: &str, key: &str, value: &str) -> Result<(String, Edit), YamlError> {
    let lines = split_lines(document);
    let top = scan_block(document, &lines, 0, lines.len(), None);
    let data = top
        .entries
        .iter()
        .find(|e| e.key == "data")
        .ok_or(YamlError::NoDataBlock)?;
    let data_rest = &document[data.value_start..lines[data.line].end];
    if value_span(data_rest).0 != Style::Empty {
        return Err(YamlError::DataNotABlock {
            line: data.line + 1,
        });
    }
    set_in_block(document, &lines, data, key, value)
}

/// Replaces `document[range]` by `with`.
fn splice(document: &str, range: Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(document.len() + with.len());
    out.push_str(&document[..range.start]);
    out.push_str(with);
    out.push_str(&document[range.end..]);
    out
}

/// Sets `key` to `value` in the block mapping nested under the entry `parent`: the work of
/// [`set_data_value`] once the `data:` entry is found.
fn set_in_block(
    document: &str,
    lines: &[Line],
    parent: &Entry,
    key: &str,
    value: &str,
) -> Result<(String, Edit), YamlError> {
    let data = parent;
    let block = scan_block(
        document,
        lines,
        data.line + 1,
        lines.len(),
        Some(data.indent),
    );
    let splice = |range: Range<usize>, with: &str| self::splice(document, range, with);

    if let Some(entry) = block.entries.iter().find(|e| e.key == key) {
        let line = lines[entry.line];
        let rest = &document[entry.value_start..line.end];
        let (style, len, closed) = value_span(rest);
        let multi_line = entry.last_line > entry.line;
        if !closed && !multi_line {
            return Err(YamlError::Unsupported {
                line: entry.line + 1,
                reason: "the quoted value is not closed",
            });
        }
        let end = if multi_line {
            lines[entry.last_line].end
        } else {
            entry.value_start + len
        };
        let old_text = &document[entry.value_start..end];
        let old = if multi_line || style == Style::Block {
            old_text.to_string()
        } else {
            unquote(old_text)
        };
        if !multi_line && !matches!(style, Style::Block | Style::Empty) && old == value {
            return Ok((document.to_string(), Edit::Unchanged));
        }
        let mut new_text = render(value, style);
        if style == Style::Empty && entry.value_start < line.end {
            // `key: # comment`: keep a space between the new value and the comment.
            new_text.push(' ');
        }
        if entry.value_start == line.end && !document[..line.end].ends_with(' ') {
            // `key:` at the end of the line: the usual single space after the colon.
            new_text.insert(0, ' ');
        }
        return Ok((
            splice(entry.value_start..end, &new_text),
            Edit::Replaced { old },
        ));
    }

    let indent = " ".repeat(block.child_indent.unwrap_or(data.indent + 2));
    let commented = block.comments.iter().find_map(|&i| {
        let s = &document[lines[i].start..lines[i].end];
        let uncommented = s.trim_start().trim_start_matches('#').trim_start();
        let (found, value_offset) = parse_key(uncommented)?;
        (found == key).then_some((i, uncommented, value_offset))
    });
    if let Some((i, uncommented, value_offset)) = commented {
        let (style, _, _) = value_span(&uncommented[value_offset..]);
        let key_text = uncommented[..value_offset].trim_end();
        let new_line = format!("{indent}{key_text} {}", render(value, style));
        return Ok((
            splice(lines[i].start..lines[i].end, &new_line),
            Edit::Uncommented,
        ));
    }

    let newline = if document.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let entry_line = format!("{indent}{}: {}", render_key(key), scalar(value));
    let after = block
        .entries
        .last()
        .map_or(data.line, |entry| entry.last_line);
    let at = lines[after].next;
    let inserted = if at == lines[after].end {
        // The last line has no line break: add one before the new entry, none after it.
        format!("{newline}{entry_line}")
    } else {
        format!("{entry_line}{newline}")
    };
    Ok((splice(at..at, &inserted), Edit::Added))
}

/// A mapping key, quoted only if it has to be.
fn render_key(key: &str) -> String {
    if key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        && !key.starts_with(['-', '.'])
        && !key.is_empty()
    {
        key.to_string()
    } else {
        double_quoted(key)
    }
}

/// Finds the ConfigMap `name` in `text` (which may hold several documents) and sets the given
/// `data` keys, in order, leaving every other byte of the file as it was.
///
/// Returns the new text and what happened to each key.
pub fn set_configmap_data(
    text: &str,
    name: &str,
    values: &[(&str, &str)],
) -> Result<(String, Vec<(String, Edit)>), YamlError> {
    let range =
        find_resource(text, "ConfigMap", name).ok_or_else(|| YamlError::ResourceNotFound {
            kind: "ConfigMap".into(),
            name: name.into(),
        })?;
    let mut document = text[range.clone()].to_string();
    let mut edits = Vec::with_capacity(values.len());
    for (key, value) in values {
        let (edited, edit) = set_data_value(&document, key, value)?;
        document = edited;
        edits.push((key.to_string(), edit));
    }
    let mut out = String::with_capacity(text.len() + document.len());
    out.push_str(&text[..range.start]);
    out.push_str(&document);
    out.push_str(&text[range.end..]);
    Ok((out, edits))
}

#[cfg(test)]
mod tests;
