//! Reading manifests as the cluster-version operator reads them.
//!
//! The CVO (library-go `manifest.ParseManifests`) decodes each manifest file with
//! k8s.io/apimachinery `util/yaml.NewYAMLOrJSONDecoder`:
//!
//! - a file whose first non-blank character is `{` is a stream of JSON values;
//! - any other file is split into documents at lines that start with `---` followed by nothing
//!   but blanks or a `#` comment (other text after `---` is an error), and each document is
//!   read by sigs.k8s.io/yaml (go-yaml), which skips a leading UTF-8 byte order mark and reads
//!   only the first YAML document of each part (so a `...` end marker ends it);
//! - empty documents (blanks, comments, `null`) are skipped.
//!
//! [`documents`] applies these rules. It only reads: the manifest's bytes stay as they are.

use serde::Deserialize;
use serde_yaml::Value;

/// The UTF-8 byte order mark.
const BOM: char = '\u{feff}';

/// One document of a manifest: its 1-based number among the file's parts and its value
/// (`Value::Null` for an empty one).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 1-based number of the document in the file.
    pub number: usize,
    /// The decoded value.
    pub value: Value,
}

/// Why a manifest file does not decode: the 1-based document and the decoder's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based number of the document that failed.
    pub number: usize,
    /// What the decoder said, starting `not valid YAML: ` or `not valid JSON: `.
    pub message: String,
}

/// The documents of a manifest file as the CVO decodes them, or the documents before the
/// first one that does not decode and its error.
pub fn documents(text: &str) -> (Vec<Document>, Option<ParseError>) {
    if text.trim_start().starts_with('{') {
        return json_documents(text);
    }
    let parts = match split_yaml(text) {
        Ok(parts) => parts,
        Err((number, message, parts)) => {
            let (docs, error) = yaml_documents(&parts);
            return (
                docs,
                error.or(Some(ParseError {
                    number,
                    message: format!("not valid YAML: {message}"),
                })),
            );
        }
    };
    yaml_documents(&parts)
}

/// Decodes each part with go-yaml's rules (leading BOM skipped, first document only).
fn yaml_documents(parts: &[&str]) -> (Vec<Document>, Option<ParseError>) {
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let number = i + 1;
        let part = part.strip_prefix(BOM).unwrap_or(part);
        let first = serde_yaml::Deserializer::from_str(part).next();
        let value = match first {
            None => Ok(Value::Null),
            Some(document) => Value::deserialize(document),
        };
        match value {
            Ok(value) => out.push(Document { number, value }),
            Err(error) => {
                return (
                    out,
                    Some(ParseError {
                        number,
                        message: format!("not valid YAML: {error}"),
                    }),
                );
            }
        }
    }
    (out, None)
}

/// The parts of a YAML file split as k8s `YAMLReader` splits it: at every line starting with
/// `---` followed only by blanks or a `#` comment. On a separator line followed by other
/// text, the 1-based number of the document being read, a message, and the parts before it.
fn split_yaml(text: &str) -> Result<Vec<&str>, (usize, String, Vec<&str>)> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let line_start = at;
        at += line.len();
        let Some(rest) = line.strip_prefix("---") else {
            continue;
        };
        let rest = rest.trim();
        if !rest.is_empty() && !rest.starts_with('#') {
            let shown: String = line.trim_end().chars().take(40).collect();
            return Err((
                parts.len() + 1,
                format!(
                    "invalid document separator `{shown}`: only blanks or a comment may follow \
                     `---`"
                ),
                parts,
            ));
        }
        // The reader drops empty parts before a separator, as k8s does.
        if !text[start..line_start].is_empty() {
            parts.push(&text[start..line_start]);
        }
        start = at;
    }
    if !text[start..].is_empty() {
        parts.push(&text[start..]);
    }
    Ok(parts)
}

/// A stream of JSON values, as `YAMLOrJSONDecoder` reads a file starting with `{`.
fn json_documents(text: &str) -> (Vec<Document>, Option<ParseError>) {
    let mut out = Vec::new();
    for (i, value) in serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .enumerate()
    {
        let number = i + 1;
        let value = value
            .map_err(|e| format!("not valid JSON: {e}"))
            .and_then(|v| {
                serde_yaml::to_value(v).map_err(|e| format!("cannot read the JSON: {e}"))
            });
        match value {
            Ok(value) => out.push(Document { number, value }),
            Err(message) => return (out, Some(ParseError { number, message })),
        }
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Option<String>> {
        let (docs, error) = documents(text);
        assert_eq!(error, None, "{text}");
        docs.iter()
            .map(|d| {
                d.value
                    .get("kind")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    }

    #[test]
    fn a_leading_byte_order_mark_is_read_as_the_cvo_reads_it() {
        let text = "\u{feff}apiVersion: console.openshift.io/v1\nkind: ConsoleQuickStart\nmetadata:\n  name: node-with-s2i\n";
        assert_eq!(kinds(text), [Some("ConsoleQuickStart".to_string())]);
        // `<BOM>---` is no separator line for the k8s reader; go-yaml then skips the BOM and
        // reads `---` as the start of the first document.
        let text = format!("{BOM}---\napiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: B\n");
        assert_eq!(kinds(&text), [Some("A".into()), Some("B".into())]);
        // The bytes are not touched: the BOM is only skipped while reading.
        assert!(text.starts_with(BOM));
    }

    #[test]
    fn documents_split_at_separator_lines_like_the_k8s_reader() {
        assert_eq!(
            kinds("---\nkind: A\n--- # a comment\nkind: B\n---   \nkind: C\n...\n"),
            [Some("A".into()), Some("B".into()), Some("C".into())]
        );
        // `...` ends the YAML document; go-yaml reads the first document of a part only.
        assert_eq!(kinds("kind: A\n...\nkind: B\n"), [Some("A".into())]);
        // A separator followed by text is an error of the document being read, as the k8s
        // reader fails before it returns the lines it buffered.
        let (docs, error) = documents("kind: A\n---\nkind: B\n--- kind: C\n");
        assert_eq!(docs.len(), 1);
        let error = error.unwrap();
        assert_eq!(error.number, 2);
        assert!(
            error.message.contains("invalid document separator"),
            "{error:?}"
        );
        // A `---` inside a block scalar at column 0 is impossible; indented, it is content.
        assert_eq!(kinds("kind: A\ndata: |\n  ---\n  x\n"), [Some("A".into())]);
    }

    #[test]
    fn a_file_starting_with_a_brace_is_a_json_stream() {
        assert_eq!(
            kinds("  {\"kind\": \"A\"}\n{\"kind\": \"B\"}"),
            [Some("A".into()), Some("B".into())]
        );
        let (_, error) = documents("{\"kind\": \"A\",}");
        assert!(error.unwrap().message.starts_with("not valid JSON: "));
    }
}
