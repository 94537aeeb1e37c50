//! JSON bytes as Go's `json.MarshalIndent(v, "", "  ")` writes them.
//!
//! serde_json's pretty printer with a two-space indent already matches Go's layout (`": "`
//! between key and value, `{}` and `[]` for empty containers, no trailing newline) and its
//! string escapes (`\n`, `\t`, `\b`, `\f`, lowercase `\u00XX`; Go writes `\b` and `\f` since
//! 1.22). What differs is Go's HTML-safe escaping of `<`, `>`, `&` and of U+2028/U+2029, which
//! [`marshal_indent`] applies afterwards. Those characters can only occur inside strings in
//! the output, so rewriting them bytewise is safe.

use serde::Serialize;

/// Serialises `value` as Go's `json.MarshalIndent` with two spaces would.
pub(crate) fn marshal_indent<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"  ");
    let mut ser = serde_json::Serializer::with_formatter(&mut raw, formatter);
    value.serialize(&mut ser)?;
    Ok(html_escape(&raw))
}

/// Applies Go's `HTMLEscape` rules to serialised JSON.
fn html_escape(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            // U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR are E2 80 A8 / E2 80 A9.
            0xE2 if json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                let last = if json[i + 2] == 0xA8 { b'8' } else { b'9' };
                out.extend_from_slice(b"\\u202");
                out.push(last);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn matches_go_marshal_indent() {
        #[derive(Serialize)]
        struct Doc {
            b: &'static str,
            a: Vec<u32>,
            e: BTreeMap<String, u8>,
            n: Option<u8>,
        }
        let doc = Doc {
            b: "<a & b>\u{2028}\u{2029}é\u{8}\u{1}",
            a: vec![1, 2],
            e: BTreeMap::new(),
            n: None,
        };
        let out = String::from_utf8(marshal_indent(&doc).unwrap()).unwrap();
        // What Go 1.22 prints for the equivalent struct.
        let go = "{\n  \"b\": \"\\u003ca \\u0026 b\\u003e\\u2028\\u2029é\\b\\u0001\",\n  \"a\": [\n    1,\n    2\n  ],\n  \"e\": {},\n  \"n\": null\n}";
        assert_eq!(out, go);
    }
}
