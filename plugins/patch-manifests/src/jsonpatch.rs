//! RFC 6902 JSON patch (with RFC 6901 JSON pointers) over parsed manifests.
//!
//! Operations apply in order to one document; the first that fails stops the patch and the
//! document is left as it was (the caller works on a copy). Map keys keep their order: `add` or
//! `replace` of an existing key keeps its place, a new key goes last, `remove` leaves the others
//! in order; values no operation touches keep their YAML form (tags, non-string keys, `.inf`), so
//! the layout-preserving writer ([`crate::layout`]) edits only the changed lines.
//!
//! Not the `json-patch` crate (5.0.0, tried for issue 15), which works on `serde_json::Value`:
//! its `remove` (and so `move`) uses `Map::remove`, which moves the map's last key into the hole
//! (`preserve_order`) or sorts every key (without it), so the writer rewrites the whole
//! document; the conversion to JSON turns `.inf` into `null`, a key `1` into `"1"` and a tagged
//! value into a map; its `test` finds `1` and `1.0` different (RFC 6902 §4.6 says equal); its
//! errors say `path is invalid` where these say which key or index is missing; and the plugin
//! grew from 507,344 to 564,906 bytes. The tests `remove_keeps_the_order_of_the_other_keys`,
//! `untouched_yaml_values_keep_their_form`, `test_op` and the error assertions pin these.

use std::fmt;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

/// An operation's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Adds a map key or inserts into a list (`-` appends).
    Add,
    /// Removes a map key or a list item.
    Remove,
    /// Replaces an existing value.
    Replace,
    /// Removes the value at `from` and adds it at `path`.
    Move,
    /// Adds a copy of the value at `from` at `path`.
    Copy,
    /// Fails unless the value at `path` equals `value`.
    Test,
}

impl Op {
    /// The name as written in a patch.
    pub fn name(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
            Self::Move => "move",
            Self::Copy => "copy",
            Self::Test => "test",
        }
    }

    /// Whether the operation takes a `value`.
    pub fn takes_value(self) -> bool {
        matches!(self, Self::Add | Self::Replace | Self::Test)
    }

    /// Whether the operation takes a `from`.
    pub fn takes_from(self) -> bool {
        matches!(self, Self::Move | Self::Copy)
    }
}

/// One operation of a JSON patch, as the config gives it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// What to do.
    pub op: Op,
    /// Where, as a JSON pointer (`/spec/replicas`, `""` for the whole document).
    pub path: String,
    /// The value for `add`, `replace` and `test`. `Some(Null)` is an explicit `null`.
    #[serde(default, deserialize_with = "present")]
    pub value: Option<Value>,
    /// The source pointer for `move` and `copy`.
    #[serde(default)]
    pub from: Option<String>,
}

/// Deserializes a field that is present, even as `null`, as `Some`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl fmt::Display for Operation {
    /// `replace /spec/x`, `move /a to /b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "\"\""
        } else {
            &self.path
        };
        match &self.from {
            Some(from) if self.op.takes_from() => {
                write!(f, "{} {from} to {path}", self.op.name())
            }
            _ => write!(f, "{} {path}", self.op.name()),
        }
    }
}

impl Operation {
    /// Checks the operation's shape: pointers well formed, `value` and `from` where needed and
    /// only there.
    pub fn check(&self) -> Result<(), String> {
        parse_pointer(&self.path).map_err(|e| format!("`path`: {e}"))?;
        let op = self.op.name();
        match (&self.value, self.op.takes_value()) {
            (None, true) => return Err(format!("`{op}` needs a `value`")),
            (Some(_), false) => return Err(format!("`{op}` takes no `value`")),
            _ => {}
        }
        match (&self.from, self.op.takes_from()) {
            (None, true) => return Err(format!("`{op}` needs a `from`")),
            (Some(_), false) => return Err(format!("`{op}` takes no `from`")),
            (Some(from), true) => {
                parse_pointer(from).map_err(|e| format!("`from`: {e}"))?;
            }
            (None, false) => {}
        }
        if self.op == Op::Remove && self.path.is_empty() {
            return Err("`remove` cannot remove the whole document".into());
        }
        Ok(())
    }

    /// Applies the operation to `doc`.
    pub fn apply(&self, doc: &mut Value) -> Result<(), String> {
        let path = parse_pointer(&self.path)?;
        let value = || self.value.clone().unwrap_or(Value::Null);
        match self.op {
            Op::Add => add(doc, &path, value()),
            Op::Remove => remove(doc, &path).map(drop),
            Op::Replace => {
                let target = get_mut(doc, &path)?;
                *target = value();
                Ok(())
            }
            Op::Move => {
                let from = parse_pointer(self.from.as_deref().unwrap_or_default())?;
                if from == path {
                    // Still has to exist.
                    return get_mut(doc, &from).map(drop);
                }
                if path.len() > from.len() && path[..from.len()] == from[..] {
                    return Err("cannot move a value into one of its own children".into());
                }
                let moved = remove(doc, &from)?;
                add(doc, &path, moved)
            }
            Op::Copy => {
                let from = parse_pointer(self.from.as_deref().unwrap_or_default())?;
                let copied = get_mut(doc, &from)?.clone();
                add(doc, &path, copied)
            }
            Op::Test => {
                let found = get_mut(doc, &path)?;
                let expected = value();
                if equal(found, &expected) {
                    Ok(())
                } else {
                    Err(format!(
                        "test failed: the value is {}, expected {}",
                        short(found),
                        short(&expected)
                    ))
                }
            }
        }
    }
}

/// The reference tokens of a JSON pointer (`~1` is `/`, `~0` is `~`).
pub fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(format!(
            "`{pointer}` is not a JSON pointer: it must be empty or start with `/`"
        ));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match (c, c == '~') {
                    (_, false) => out.push(c),
                    (_, true) => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(format!(
                                "`{pointer}` is not a JSON pointer: `~` must be followed by `0` or `1`"
                            ));
                        }
                    },
                }
            }
            Ok(out)
        })
        .collect()
}

/// Where `tokens` point, for messages: `` `/spec/list` ``, or `the document`.
fn pointer_of(tokens: &[String]) -> String {
    if tokens.is_empty() {
        return "the document".to_string();
    }
    let mut out = String::from("`");
    for token in tokens {
        out.push('/');
        out.push_str(&token.replace('~', "~0").replace('/', "~1"));
    }
    out.push('`');
    out
}

/// A list index: digits without leading zeros, below `len` (or equal to it when `end_ok`, and
/// `-` for that position).
fn index(token: &str, len: usize, end_ok: bool, parent: &[String]) -> Result<usize, String> {
    if token == "-" && end_ok {
        return Ok(len);
    }
    let digits = !token.is_empty() && token.chars().all(|c| c.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return Err(format!(
            "path not found: {} is a list and `{token}` is not an index",
            pointer_of(parent)
        ));
    }
    let at: usize = token
        .parse()
        .map_err(|_| format!("path not found: index {token} is out of range"))?;
    let last = if end_ok { len } else { len.saturating_sub(1) };
    if at > last || (!end_ok && len == 0) {
        return Err(format!(
            "path not found: index {at} is out of range ({} has {len} items)",
            pointer_of(parent)
        ));
    }
    Ok(at)
}

/// The value at `path`.
fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut current = doc;
    for (depth, token) in path.iter().enumerate() {
        let parent = &path[..depth];
        current = match current {
            Value::Mapping(map) => map.get_mut(token.as_str()).ok_or_else(|| {
                format!(
                    "path not found: {} has no key `{token}`",
                    pointer_of(parent)
                )
            })?,
            Value::Sequence(items) => {
                let at = index(token, items.len(), false, parent)?;
                &mut items[at]
            }
            Value::Tagged(tagged) => {
                // A tag does not change where a value is: look inside.
                return get_mut(&mut tagged.value, &path[depth..]);
            }
            _ => {
                return Err(format!(
                    "path not found: {} is a scalar, not a map or a list",
                    pointer_of(parent)
                ));
            }
        };
    }
    Ok(current)
}

fn split(path: &[String]) -> Option<(&String, &[String])> {
    path.split_last()
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent_path)) = split(path) else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent_path)? {
        Value::Mapping(map) => {
            map.insert(Value::String(last.clone()), value);
            Ok(())
        }
        Value::Sequence(items) => {
            let at = index(last, items.len(), true, parent_path)?;
            items.insert(at, value);
            Ok(())
        }
        Value::Null => {
            // Nothing to add into: report it as a missing parent.
            Err(format!(
                "path not found: {} is null, not a map or a list",
                pointer_of(parent_path)
            ))
        }
        _ => Err(format!(
            "path not found: {} is a scalar, not a map or a list",
            pointer_of(parent_path)
        )),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, String> {
    let Some((last, parent_path)) = split(path) else {
        return Err("cannot remove the whole document".into());
    };
    match get_mut(doc, parent_path)? {
        Value::Mapping(map) => map.shift_remove(last.as_str()).ok_or_else(|| {
            format!(
                "path not found: {} has no key `{last}`",
                pointer_of(parent_path)
            )
        }),
        Value::Sequence(items) => {
            let at = index(last, items.len(), false, parent_path)?;
            Ok(items.remove(at))
        }
        _ => Err(format!(
            "path not found: {} is a scalar, not a map or a list",
            pointer_of(parent_path)
        )),
    }
}

/// JSON equality (RFC 6902 §4.6): numbers compare by value (`1` equals `1.0`), maps regardless
/// of key order, lists item by item.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => x == y,
                    _ => false,
                },
            }
        }
        (Value::Sequence(x), Value::Sequence(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Mapping(x), Value::Mapping(y)) => mapping_equal(x, y),
        (Value::Tagged(x), Value::Tagged(y)) => x.tag == y.tag && equal(&x.value, &y.value),
        (x, y) => x == y,
    }
}

fn mapping_equal(x: &Mapping, y: &Mapping) -> bool {
    x.len() == y.len()
        && x.iter()
            .all(|(key, value)| y.get(key).is_some_and(|other| equal(value, other)))
}

/// A value in one line of JSON, cut short, for messages.
pub fn short(value: &Value) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"));
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests;
