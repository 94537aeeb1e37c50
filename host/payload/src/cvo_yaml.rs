//! Reading a manifest of `release-manifests/` as the cluster-version operator does.
//!
//! The CVO (through library-go's `manifest.ParseManifests`) decodes each `.yaml`, `.yml` or
//! `.json` file with k8s.io/apimachinery's `util/yaml` `YAMLOrJSONDecoder`:
//!
//! - a file whose first non-blank character is `{` is a stream of JSON values;
//! - any other file is split into YAML documents at lines that start with `---` followed by
//!   nothing but blanks or a `#` comment (any other text after `---` is an error), and each
//!   document is converted to JSON by sigs.k8s.io/yaml;
//! - a leading UTF-8 byte order mark is accepted (real manifests, e.g. console-operator's
//!   quick starts, start with one);
//! - documents that are empty, hold only comments, or are `null` are skipped;
//! - every other document must be a mapping naming a non-empty `apiVersion` and `kind`, or the
//!   whole payload is refused.
//!
//! [`parse_manifest`] applies the same rules and names the file, the document and the line of
//! the first problem. It only reads: the bytes a stage wrote are kept as they are.
//!
//! ```
//! use compose_payload::cvo_yaml::parse_manifest;
//!
//! let docs = parse_manifest("0000_50_a.yaml", b"apiVersion: v1\nkind: ConfigMap\n---\n")?;
//! assert_eq!(docs[0].kind, "ConfigMap");
//! let err = parse_manifest("0000_50_b.yaml", b"kind: ConfigMap\n").unwrap_err();
//! assert!(err.to_string().contains("`apiVersion`"));
//! # Ok::<(), compose_payload::cvo_yaml::ManifestError>(())
//! ```

use std::fmt;

/// The UTF-8 byte order mark.
const BOM: &str = "\u{feff}";

/// One non-empty document of a manifest file, as the CVO would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// 1-based position among the file's documents (empty ones included, as they are
    /// counted by their separators).
    pub index: usize,
    /// 1-based line of the file where the document starts.
    pub line: usize,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`, if it is a string.
    pub name: Option<String>,
    /// `metadata.namespace`, if it is a string.
    pub namespace: Option<String>,
}

/// Why the CVO would refuse a manifest file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The file name.
    pub file: String,
    /// The 1-based document, when the problem is in one document.
    pub document: Option<usize>,
    /// The 1-based line of the file, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest `{}`", self.file)?;
        if let Some(document) = self.document {
            write!(f, ", document {document}")?;
        }
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        write!(
            f,
            ": {} (the cluster-version operator would refuse the release)",
            self.problem
        )
    }
}

/// Parses `bytes`, the content of the manifest file `name`, as the cluster-version operator
/// does, and returns its non-empty documents; see the [module documentation](self) for the
/// rules.
pub fn parse_manifest(name: &str, bytes: &[u8]) -> Result<Vec<Document>, ManifestError> {
    let error = |document: Option<usize>, line: Option<usize>, problem: String| ManifestError {
        file: name.to_string(),
        document,
        line,
        problem,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        error(
            None,
            Some(line),
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let text = text.strip_prefix(BOM).unwrap_or(text);
    if text.trim_start().starts_with('{') {
        return parse_json_stream(text, &error);
    }
    let mut documents = Vec::new();
    for chunk in
        split_documents(text).map_err(|(line, problem)| error(None, Some(line), problem))?
    {
        let value: serde_yaml::Value = serde_yaml::from_str(chunk.text).map_err(|e| {
            let (line, message) = yaml_location(&e, chunk.line);
            error(Some(chunk.index), line, message)
        })?;
        if let Some(document) = check_document(&Json::Yaml(&value), chunk.index, chunk.line)
            .map_err(|problem| error(Some(chunk.index), Some(chunk.line), problem))?
        {
            documents.push(document);
        }
    }
    Ok(documents)
}

/// One document of a YAML stream: its text and where it starts.
struct Chunk<'a> {
    index: usize,
    line: usize,
    text: &'a str,
}

/// Splits a YAML stream as apimachinery's `YAMLReader` does: at lines starting with `---`
/// followed by blanks or a comment. Errors carry the 1-based line.
fn split_documents(text: &str) -> Result<Vec<Chunk<'_>>, (usize, String)> {
    let mut chunks = Vec::new();
    let mut start = 0; // byte offset of the current document
    let mut start_line = 1;
    let mut offset = 0;
    let mut index = 1;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let line_no = n + 1;
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err((
                    line_no,
                    format!("invalid YAML document separator: `---` followed by `{rest}`"),
                ));
            }
            chunks.push(Chunk {
                index,
                line: start_line,
                text: &text[start..offset],
            });
            index += 1;
            start = offset + line.len();
            start_line = line_no + 1;
        }
        offset += line.len();
    }
    chunks.push(Chunk {
        index,
        line: start_line,
        text: &text[start..],
    });
    Ok(chunks)
}

/// The line of a YAML error in the whole file, and its message without serde_yaml's
/// `at line L column C` (which counts from the document's first line).
fn yaml_location(e: &serde_yaml::Error, first_line: usize) -> (Option<usize>, String) {
    let message = strip_location(&e.to_string(), first_line);
    match e.location() {
        Some(location) => {
            let line = first_line + location.line().saturating_sub(1);
            (
                Some(line),
                format!("{message} (column {})", location.column()),
            )
        }
        None => (None, message),
    }
}

/// `message` without its first ` at line L column C` (the error's own location, given
/// apart), and with the lines of the other locations counted from the file's first line:
/// `first_line` is the file line of the document's line 1.
fn strip_location(message: &str, first_line: usize) -> String {
    const AT: &str = " at line ";
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    let mut first = true;
    while let Some(at) = rest.find(AT) {
        let after = &rest[at + AT.len()..];
        let line_len = digits(after);
        let column = after[line_len..].strip_prefix(" column ");
        let (Some(column), Ok(line)) = (column, after[..line_len].parse::<usize>()) else {
            out.push_str(&rest[..at + AT.len()]);
            rest = after;
            continue;
        };
        let column_len = digits(column);
        out.push_str(&rest[..at]);
        if !first {
            let line = first_line + line.saturating_sub(1);
            out.push_str(&format!("{AT}{line} column {}", &column[..column_len]));
        }
        first = false;
        rest = &column[column_len..];
    }
    out.push_str(rest);
    out
}

/// A decoded document, from either decoder.
enum Json<'a> {
    Yaml(&'a serde_yaml::Value),
    Json(&'a serde_json::Value),
}

impl Json<'_> {
    fn is_null(&self) -> bool {
        match self {
            Json::Yaml(v) => v.is_null(),
            Json::Json(v) => v.is_null(),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Json::Yaml(serde_yaml::Value::Null) | Json::Json(serde_json::Value::Null) => "null",
            Json::Yaml(serde_yaml::Value::Bool(_)) | Json::Json(serde_json::Value::Bool(_)) => {
                "a boolean"
            }
            Json::Yaml(serde_yaml::Value::Number(_)) | Json::Json(serde_json::Value::Number(_)) => {
                "a number"
            }
            Json::Yaml(serde_yaml::Value::String(_)) | Json::Json(serde_json::Value::String(_)) => {
                "a string"
            }
            Json::Yaml(serde_yaml::Value::Sequence(_))
            | Json::Json(serde_json::Value::Array(_)) => "a list",
            Json::Yaml(serde_yaml::Value::Mapping(_))
            | Json::Json(serde_json::Value::Object(_)) => "a mapping",
            Json::Yaml(serde_yaml::Value::Tagged(_)) => "a tagged value",
        }
    }

    fn is_mapping(&self) -> bool {
        matches!(
            self,
            Json::Yaml(serde_yaml::Value::Mapping(_)) | Json::Json(serde_json::Value::Object(_))
        )
    }

    /// The value of `key` in a mapping.
    fn get(&self, key: &str) -> Option<Json<'_>> {
        match self {
            Json::Yaml(v) => v.get(key).map(Json::Yaml),
            Json::Json(v) => v.get(key).map(Json::Json),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Yaml(v) => v.as_str(),
            Json::Json(v) => v.as_str(),
        }
    }
}

/// Checks one decoded document: `None` for a document the CVO skips.
fn check_document(value: &Json<'_>, index: usize, line: usize) -> Result<Option<Document>, String> {
    if value.is_null() {
        return Ok(None);
    }
    if !value.is_mapping() {
        return Err(format!(
            "a manifest document must be a mapping with `apiVersion` and `kind`, not {}",
            value.what()
        ));
    }
    let field = |key: &str| -> Result<String, String> {
        match value.get(key) {
            None => Err(format!("the document has no `{key}`")),
            Some(v) => match v.as_str() {
                Some(s) if !s.is_empty() => Ok(s.to_string()),
                Some(_) => Err(format!("`{key}` is empty")),
                None => Err(format!("`{key}` must be a string, not {}", v.what())),
            },
        }
    };
    let api_version = field("apiVersion")?;
    let kind = field("kind")?;
    let metadata = |key: &str| {
        value
            .get("metadata")
            .and_then(|m| m.get(key).and_then(|v| v.as_str().map(str::to_string)))
    };
    Ok(Some(Document {
        index,
        line,
        api_version,
        kind,
        name: metadata("name"),
        namespace: metadata("namespace"),
    }))
}

/// A file starting with `{`: a stream of JSON values, as Go's `json.Decoder` reads it.
fn parse_json_stream(
    text: &str,
    error: &dyn Fn(Option<usize>, Option<usize>, String) -> ManifestError,
) -> Result<Vec<Document>, ManifestError> {
    let mut documents = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    let mut index = 0;
    loop {
        let start = stream.byte_offset();
        let line = 1 + text[..start].matches('\n').count();
        let Some(next) = stream.next() else {
            break;
        };
        index += 1;
        let value = next.map_err(|e| {
            error(
                Some(index),
                Some(e.line()),
                strip_location(&format!("invalid JSON: {e}"), 1),
            )
        })?;
        if let Some(document) = check_document(&Json::Json(&value), index, line)
            .map_err(|problem| error(Some(index), Some(line), problem))?
        {
            documents.push(document);
        }
    }
    Ok(documents)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn kinds(bytes: &[u8]) -> Vec<String> {
        parse_manifest("m.yaml", bytes)
            .unwrap()
            .into_iter()
            .map(|d| d.kind)
            .collect()
    }

    fn problem(bytes: &[u8]) -> ManifestError {
        parse_manifest("0000_50_x.yaml", bytes).unwrap_err()
    }

    #[test]
    fn accepts_what_the_cvo_reads() {
        assert_eq!(kinds(b"apiVersion: v1\nkind: ConfigMap\n"), ["ConfigMap"]);
        // Separators before, between and after, empty and comment-only documents.
        let multi = b"---\napiVersion: v1\nkind: A\n---\n# only a comment\n---   # sep\napiVersion: v1\nkind: B\n---\n\n";
        assert_eq!(kinds(multi), ["A", "B"]);
        // A leading byte order mark, as console-operator's quick starts have.
        assert_eq!(
            kinds(b"\xef\xbb\xbfapiVersion: console.openshift.io/v1\nkind: ConsoleQuickStart\n"),
            ["ConsoleQuickStart"]
        );
        // `null` documents are skipped; an empty file has no document.
        assert_eq!(kinds(b"null\n---\napiVersion: v1\nkind: C\n"), ["C"]);
        assert!(kinds(b"").is_empty());
        // CRLF line ends.
        assert_eq!(
            kinds(b"apiVersion: v1\r\nkind: A\r\n---\r\napiVersion: v1\r\nkind: B\r\n"),
            ["A", "B"]
        );
        // JSON, one or several values.
        assert_eq!(
            kinds(br#" {"apiVersion": "v1", "kind": "A", "metadata": {"name": "a"}} {"apiVersion":"v1","kind":"B"}"#),
            ["A", "B"]
        );
        let doc = &parse_manifest(
            "x.yaml",
            b"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: openshift-foo\n  namespace: ns\n",
        )
        .unwrap()[0];
        assert_eq!(
            doc,
            &Document {
                index: 2,
                line: 2,
                api_version: "v1".into(),
                kind: "Namespace".into(),
                name: Some("openshift-foo".into()),
                namespace: Some("ns".into()),
            }
        );
    }

    #[test]
    fn refuses_invalid_yaml_with_file_document_and_line() {
        let e = problem(b"apiVersion: v1\nkind: A\n---\napiVersion: v1\nkind: [unclosed\n");
        assert_eq!(e.file, "0000_50_x.yaml");
        assert_eq!(e.document, Some(2));
        assert_eq!(e.line, Some(6), "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("manifest `0000_50_x.yaml`, document 2, line 6: "),
            "{text}"
        );
        // serde_yaml's second location is counted from the file's first line too.
        assert!(text.contains("flow sequence at line 5 column 7"), "{text}");
    }

    #[test]
    fn refuses_binary_bytes() {
        let e = problem(b"apiVersion: v1\nkind: A\ndata: \x00\x01\x02\n");
        assert!(e.to_string().contains("control characters"), "{e}");
        let e = problem(b"apiVersion: v1\n\xff\xfe\n");
        assert_eq!(e.line, Some(2));
        assert!(e.problem.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn refuses_documents_that_are_not_objects() {
        assert!(problem(b"hello\n").problem.contains("not a string"));
        assert!(problem(b"- a\n- b\n").problem.contains("not a list"));
        assert!(problem(b"kind: A\n").problem.contains("no `apiVersion`"));
        assert!(problem(b"apiVersion: v1\n").problem.contains("no `kind`"));
        assert!(
            problem(b"apiVersion: v1\nkind: ''\n")
                .problem
                .contains("`kind` is empty")
        );
        assert!(
            problem(b"apiVersion: 1\nkind: A\n")
                .problem
                .contains("must be a string")
        );
        let e = problem(b"apiVersion: v1\nkind: A\n---\nfoo: bar\n");
        assert_eq!((e.document, e.line), (Some(2), Some(4)));
        let e = parse_manifest("a.json", br#"{"apiVersion": "v1"}"#).unwrap_err();
        assert!(e.problem.contains("no `kind`"), "{e}");
        let e = parse_manifest("a.json", br#"{"apiVersion": "v1", "kind": "A"} {"#).unwrap_err();
        assert_eq!(e.document, Some(2));
        assert!(e.problem.starts_with("invalid JSON"), "{e}");
        let e = parse_manifest("a.json", b"[1, 2]").unwrap_err();
        assert!(e.problem.contains("not a list"), "{e}");
    }

    #[test]
    fn refuses_text_after_a_separator() {
        let e = problem(b"apiVersion: v1\nkind: A\n--- kind: B\n");
        assert_eq!(e.line, Some(3));
        assert!(e.problem.contains("separator"), "{e}");
    }
}
