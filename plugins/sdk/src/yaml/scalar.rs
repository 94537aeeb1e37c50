//! Writing one string as a YAML scalar: plain when that reads back as the same string, double
//! quoted with escapes otherwise. The one implementation of YAML quoting for the SDK and the
//! stock plugins (`patch-manifests` writes its documents with it).

/// Whether `value` can be written as a plain scalar and still read back as this same string.
pub(super) fn plain_safe(value: &str) -> bool {
    if value.is_empty() || value != value.trim() {
        return false;
    }
    if value.starts_with([
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`', '.', '+',
    ]) {
        return false;
    }
    if value.contains(": ") || value.contains(" #") || value.ends_with(':') {
        return false;
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._/@:+-=~%^,".contains(c))
    {
        return false;
    }
    // Strings a YAML 1.1 or 1.2 reader would turn into null, a boolean, a number or a date.
    let lower = value.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "~" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return false;
    }
    let numeric_chars = |c: char| c.is_ascii_hexdigit() || "xXoO._:+-".contains(c);
    !(value.starts_with(|c: char| c.is_ascii_digit()) && value.chars().all(numeric_chars))
}

/// Characters a double-quoted scalar writes as escapes: control characters, and the ones a YAML
/// reader would take as a line break or a byte-order mark (NEL, U+2028, U+2029, U+FEFF), which
/// must not appear raw in any scalar.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// `value` as a double-quoted YAML scalar: `"`, `\\`, line breaks and tabs as the usual escapes,
/// every other character of [`needs_escape`] as `\\uXXXX`. Reads back as `value` in YAML 1.1
/// and 1.2.
pub fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_separators_and_byte_order_marks_are_escaped() {
        assert_eq!(double_quoted("a\u{2028}b"), "\"a\\u2028b\"");
        assert_eq!(double_quoted("a\u{2029}b"), "\"a\\u2029b\"");
        assert_eq!(double_quoted("\u{feff}x"), "\"\\ufeffx\"");
        assert_eq!(double_quoted("\u{85}"), "\"\\u0085\"");
        assert_eq!(double_quoted("\u{1}"), "\"\\u0001\"");
        assert_eq!(
            double_quoted("say \"hi\"\\\n\t\r"),
            "\"say \\\"hi\\\"\\\\\\n\\t\\r\""
        );
        assert_eq!(double_quoted("é ü"), "\"é ü\"");
        // Never plain either: a reader would break the line there.
        assert!(!plain_safe("a\u{2028}b"));
        assert_eq!(super::super::scalar("a\u{2028}b"), "\"a\\u2028b\"");
    }

    #[test]
    fn escaped_strings_read_back() {
        for s in [
            "a\u{2028}b",
            "\u{feff}",
            "x\u{85}y",
            "q\"\\",
            "tab\there",
            "\u{7f}",
        ] {
            assert_eq!(super::super::unquote(&double_quoted(s)), s, "{s:?}");
        }
    }
}
