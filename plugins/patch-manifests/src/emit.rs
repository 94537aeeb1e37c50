//! A deterministic YAML writer for patched manifests.
//!
//! What a patch adds or changes where the text cannot be edited in place (new map entries and
//! list items, values in flow collections, documents the position-aware reader does not read;
//! see [`crate::layout`]) is written here: block style, two-space
//! indentation, list items at the indentation of their key (as `kubectl` and kustomize write
//! them), mapping keys in the order they have in the value (the input's order; new keys last).
//! The same value always gives the same bytes.
//!
//! Strings are written plain only when every YAML 1.1 and 1.2 reader takes them back as the same
//! string: Kubernetes reads manifests with a YAML 1.1 parser, to which `yes`, `on`, `y`, `0755`,
//! `1:20` and `2024-01-01` are not strings. Other strings are double-quoted (with escapes where
//! needed); strings of several lines use a literal block (`|`) when that keeps every byte.

// The SDK's quoting, so a value is escaped the same whichever helper writes it.
pub use compose_plugin_sdk::yaml::double_quoted;
use compose_plugin_sdk::yaml::needs_escape;
use serde_yaml::{Mapping, Value};

/// Writes one document (no `---` marker), ending with a line break.
pub fn document(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    match value {
        Value::Mapping(map) if !map.is_empty() => mapping(map, 0, false, &mut out)?,
        Value::Sequence(seq) if !seq.is_empty() => sequence(seq, 0, false, &mut out)?,
        other => {
            // A scalar document: write it as a map value would be, without the leading space.
            let mut line = String::new();
            after_indicator(other, 0, 2, &mut line)?;
            out.push_str(line.trim_start_matches(' '));
        }
    }
    Ok(out)
}

/// The entries of a non-empty mapping as block text at `indent`, each line ending with a line
/// break; the first line without its indentation when `inline_first` (it follows text already on
/// its line, such as `- `, or replaces an entry from its key on).
pub fn mapping_text(map: &Mapping, indent: usize, inline_first: bool) -> Result<String, String> {
    let mut out = String::new();
    mapping(map, indent, inline_first, &mut out)?;
    Ok(out)
}

/// The items of a non-empty list as block text, one `- ` per item at `indent`; the first without
/// its indentation when `inline_first`.
pub fn sequence_text(seq: &[Value], indent: usize, inline_first: bool) -> Result<String, String> {
    let mut out = String::new();
    sequence(seq, indent, inline_first, &mut out)?;
    Ok(out)
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// The entries of a non-empty mapping, one per line at `indent`; the first line's indentation is
/// left out when `inline_first` (the mapping is a list item and follows `- `).
fn mapping(
    map: &Mapping,
    indent: usize,
    inline_first: bool,
    out: &mut String,
) -> Result<(), String> {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        out.push_str(&key_text(key)?);
        out.push(':');
        // Lists under a key stay at the key's indentation; maps and block strings go deeper.
        let list_indent = indent;
        let child_indent = indent + 2;
        match value {
            Value::Sequence(seq) if !seq.is_empty() => {
                out.push('\n');
                sequence(seq, list_indent, false, out)?;
            }
            other => after_indicator(other, child_indent, child_indent, out)?,
        }
    }
    Ok(())
}

/// The items of a non-empty list, one `- ` per item at `indent`.
fn sequence(
    seq: &[Value],
    indent: usize,
    inline_first: bool,
    out: &mut String,
) -> Result<(), String> {
    for (i, item) in seq.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        out.push('-');
        match item {
            Value::Mapping(map) if !map.is_empty() => {
                out.push(' ');
                mapping(map, indent + 2, true, out)?;
            }
            Value::Sequence(inner) if !inner.is_empty() => {
                out.push(' ');
                sequence(inner, indent + 2, true, out)?;
            }
            other => after_indicator(other, indent + 2, indent + 2, out)?,
        }
    }
    Ok(())
}

/// What follows `key:` or `-`: ` scalar\n`, or a line break and a nested block. `block_indent`
/// is where a nested map, list or literal block goes.
fn after_indicator(
    value: &Value,
    block_indent: usize,
    text_indent: usize,
    out: &mut String,
) -> Result<(), String> {
    match value {
        Value::Mapping(map) if !map.is_empty() => {
            out.push('\n');
            mapping(map, block_indent, false, out)
        }
        Value::Sequence(seq) if !seq.is_empty() => {
            out.push('\n');
            sequence(seq, block_indent, false, out)
        }
        Value::Mapping(_) => {
            out.push_str(" {}\n");
            Ok(())
        }
        Value::Sequence(_) => {
            out.push_str(" []\n");
            Ok(())
        }
        Value::String(s) => {
            match literal_block(s, text_indent) {
                Some(block) => {
                    out.push(' ');
                    out.push_str(&block);
                }
                None => {
                    out.push(' ');
                    out.push_str(&inline_string(s));
                    out.push('\n');
                }
            }
            Ok(())
        }
        Value::Tagged(tagged) => {
            out.push(' ');
            out.push_str(&tagged.tag.to_string());
            after_indicator(&tagged.value, block_indent, text_indent, out)
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {
            out.push(' ');
            out.push_str(&plain_scalar(value));
            out.push('\n');
            Ok(())
        }
    }
}

/// `null`, `true`/`false` or a number, as YAML writes them.
pub fn plain_scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// A mapping key: a string (quoted if it has to be), a number, a boolean or null.
fn key_text(key: &Value) -> Result<String, String> {
    match key {
        Value::String(s) => Ok(inline_string(s)),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(plain_scalar(key)),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => {
            Err("a mapping key that is a list, a map or tagged cannot be written back".to_string())
        }
    }
}

/// A string on one line: plain when that reads back as the same string, else double-quoted (the
/// quoting OpenShift's manifests use, so a patched file differs from its source only where it
/// has to).
pub fn inline_string(s: &str) -> String {
    if plain_safe(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

/// A string of several lines as a literal block (`|`, `|-` or `|+` and the lines at `indent`),
/// when that keeps every character: no escapes needed, no line ending in blanks, and a first line
/// that neither is empty nor starts with a blank (which would need an indentation indicator).
fn literal_block(s: &str, indent: usize) -> Option<String> {
    if !s.contains('\n') || s.starts_with([' ', '\t', '\n']) {
        return None;
    }
    if s.chars().any(|c| c != '\n' && c != '\t' && needs_escape(c)) {
        return None;
    }
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    if body.lines().any(|line| line.ends_with([' ', '\t'])) {
        return None;
    }
    let chomp = match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(chomp);
    out.push('\n');
    for line in body.split('\n') {
        if !line.is_empty() {
            pad(&mut out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    // `|+` keeps the blank lines after the text: one per line break beyond the first.
    for _ in 1..trailing {
        out.push('\n');
    }
    Some(out)
}

/// Whether `s` may be written as a plain scalar: it reads back as this string in YAML 1.1 and
/// 1.2 (the check errs on the side of quoting).
fn plain_safe(s: &str) -> bool {
    if s.is_empty() || s.starts_with(' ') || s.ends_with(' ') {
        return false;
    }
    if s.starts_with([
        '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
    ]) || s.starts_with("...")
        || s.starts_with("---")
    {
        return false;
    }
    // `-` starts a plain scalar only when something other than a blank follows (`--v=2`).
    if s.starts_with('-') && (s.len() == 1 || s[1..].starts_with(' ')) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    // Only the plain space among the blanks, and nothing that would need an escape.
    if s.chars()
        .any(|c| c != ' ' && (c.is_whitespace() || needs_escape(c)))
    {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null"
            | "~"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "<<"
            | "="
            | ".inf"
            | "+.inf"
            | "-.inf"
            | ".nan"
    ) {
        return false;
    }
    // Numbers (decimal, hex, octal, binary, base 60, with `_`), floats and timestamps.
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let numeric_start = unsigned.starts_with(|c: char| c.is_ascii_digit())
        || (unsigned.starts_with('.') && unsigned[1..].starts_with(|c: char| c.is_ascii_digit()));
    let numeric_chars = |c: char| c.is_ascii_hexdigit() || "xXoObB._:+-tTzZ ".contains(c);
    !(numeric_start && s.chars().all(numeric_chars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn line_separators_are_escaped_by_the_sdk_quoting() {
        let value = parse("k: \"a\\u2028b\\u2029c\\ufeffd\"\n");
        let text = document(&value).unwrap();
        assert_eq!(text, "k: \"a\\u2028b\\u2029c\\ufeffd\"\n");
        assert_eq!(parse(&text), value);
    }

    #[test]
    fn block_style_kubectl_layout() {
        let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: foo
  labels:
    app.kubernetes.io/name: foo
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: a
        image: quay.io/x@sha256:ab
        args:
        - --v=2
        env:
        - name: A
          value: b
      - name: b
        ports: []
        resources: {}
      matrix:
      - - 1
        - 2
      - []
";
        assert_eq!(document(&parse(text)).unwrap(), text);
    }

    #[test]
    fn strings_that_yaml_1_1_would_misread_are_quoted() {
        for s in [
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "true",
            "null",
            "~",
            "",
            "0755",
            "1.0",
            "1e3",
            "0x1F",
            "1:20",
            "2024-01-01",
            "+1",
            "-1",
            "-.5",
            ".5",
            ".inf",
            "-.inf",
            "<<",
            "-",
            "- x",
            "---x",
            "a: b",
            "a #b",
            " lead",
            "trail ",
            "@x",
            "*x",
            "...",
        ] {
            let out = inline_string(s);
            assert!(out.starts_with('"'), "{s:?} -> {out}");
            assert_eq!(serde_yaml::from_str::<String>(&out).unwrap(), s, "{out}");
        }
        for s in [
            "okd",
            "4.17.0-okd-scos.0",
            "quay.io/okd/scos-content@sha256:ab",
            "100m",
            "1Gi",
            "a b c",
            "app.kubernetes.io/name",
            "/var/lib/x",
            ".dockerconfigjson",
            "https://example.com/a?b=c#d",
            "é",
            "--v=2",
            "-x",
        ] {
            assert_eq!(inline_string(s), s);
        }
        assert_eq!(inline_string("it's yes"), "it's yes");
        assert_eq!(inline_string("'q'"), "\"'q'\"");
        assert_eq!(inline_string("a \"b\" \\"), "a \"b\" \\");
        assert_eq!(inline_string("tab\there"), "\"tab\\there\"");
        assert_eq!(inline_string("bell\u{7}"), "\"bell\\u0007\"");
    }

    #[test]
    fn multi_line_strings_use_literal_blocks_that_read_back() {
        let map = |s: &str| {
            let mut m = Mapping::new();
            m.insert("k".into(), Value::String(s.to_string()));
            m.insert(
                "l".into(),
                Value::Sequence(vec![Value::String(s.to_string())]),
            );
            Value::Mapping(m)
        };
        for s in [
            "a\nb",
            "a\nb\n",
            "a\n\nb\n\n\n",
            "#!/bin/sh\n  indented\necho\n",
            " leading\nx",
            "trailing \nx",
            "\nfirst empty",
            "cr\r\nlf",
        ] {
            let value = map(s);
            let text = document(&value).unwrap();
            assert_eq!(parse(&text), value, "{s:?} ->\n{text}");
        }
        assert_eq!(
            document(&map("a\nb\n")).unwrap(),
            "k: |\n  a\n  b\nl:\n- |\n  a\n  b\n"
        );
        assert_eq!(
            document(&map("a\n\nb")).unwrap(),
            "k: |-\n  a\n\n  b\nl:\n- |-\n  a\n\n  b\n"
        );
    }

    #[test]
    fn round_trip_of_scalars_and_keys() {
        let text = "\
a: \"true\"
b: 1
c: -3
d: 1.5
e: null
f: false
g: ''
'on': x
1: y
h: !Custom value
i: !Custom
  x: 1
";
        let value = parse(text);
        let out = document(&value).unwrap();
        assert_eq!(parse(&out), value);
        assert_eq!(document(&parse(&out)).unwrap(), out, "idempotent");
        assert_eq!(document(&Value::String("x".into())).unwrap(), "x\n");
        assert_eq!(document(&Value::Mapping(Mapping::new())).unwrap(), "{}\n");
    }
}
