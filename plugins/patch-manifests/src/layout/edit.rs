//! The edit side of [`super`]: the differences between a document's value before and after the
//! patch, as text edits at the changed nodes, and applying them.

use super::*;

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
pub(super) fn align(old: &[Value], new: &[Value]) -> Vec<(Option<usize>, Option<usize>)> {
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

pub(super) fn is_scalar(value: &Value) -> bool {
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
