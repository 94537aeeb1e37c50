//! One manifest file as documents: parsed for patching, written back by editing the text where
//! the documents changed.

use serde::Deserialize;
use serde_yaml::Value;

use crate::{emit, layout};

/// The UTF-8 byte order mark some upstream manifests start with (the console operator's
/// quickstarts). Kubernetes' decoder skips it; so does [`parse`], and [`rewrite`] keeps it.
const BOM: char = '\u{feff}';

/// The text without a leading byte order mark, and whether there was one.
fn strip_bom(text: &str) -> (bool, &str) {
    match text.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, text),
    }
}

/// Whether the file is JSON (by its name) rather than YAML.
pub fn is_json(path: &str) -> bool {
    path.ends_with(".json")
}

/// The documents of a manifest file, in order. Empty YAML documents (between two `---`, or a
/// file of comments only) are left out. A `.json` file is one document.
pub fn parse(path: &str, text: &str) -> Result<Vec<Value>, String> {
    let (_, text) = strip_bom(text);
    if is_json(path) {
        // Through serde_json, so the keys keep the file's order (the map type is the YAML one).
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let value = Value::deserialize(&mut deserializer)
            .and_then(|value| deserializer.end().map(|()| value))
            .map_err(|e| format!("not valid JSON: {e}"))?;
        return Ok(vec![value]);
    }
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| format!("not valid YAML: {e}"))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// The text of a file of these documents: YAML documents joined by `---` lines, or one JSON
/// document pretty-printed with two-space indentation. Same documents, same bytes.
pub fn write(path: &str, documents: &[Value]) -> Result<String, String> {
    if is_json(path) {
        let [document] = documents else {
            return Err(format!(
                "a JSON manifest holds one document, not {}",
                documents.len()
            ));
        };
        let mut text = serde_json::to_string_pretty(document)
            .map_err(|e| format!("cannot be written as JSON: {e}"))?;
        text.push('\n');
        return Ok(text);
    }
    let mut text = String::new();
    for (i, document) in documents.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&emit::document(document)?);
    }
    Ok(text)
}

/// A patched file's new text, and what could not be edited in place.
#[derive(Debug)]
pub struct Rewritten {
    /// The new text.
    pub text: String,
    /// Documents (counted from 1, empty ones not counted) written whole, with why; document 0
    /// stands for the whole file.
    pub whole: Vec<(usize, String)>,
}

/// The text of a file whose documents were `old` (parsed from `original`) and are now `new`:
/// the original text edited where the documents differ (see [`layout`]), so comments, markers,
/// quoting and layout stay everywhere else, a byte order mark included. A document whose text
/// cannot be edited in place is written whole ([`emit`]) in its place; a file that cannot be
/// read position by position, or whose edited text would not read back as `new`, is written
/// whole ([`write()`]). A JSON file is always written whole.
pub fn rewrite(
    path: &str,
    original: &str,
    old: &[Value],
    new: &[Value],
) -> Result<Rewritten, String> {
    let (bom, body) = strip_bom(original);
    let mut whole = Vec::new();
    if is_json(path) {
        let mut text = write(path, new)?;
        if bom {
            text.insert(0, BOM);
        }
        return Ok(Rewritten { text, whole });
    }
    let edited = edit(body, old, new);
    let mut text = match edited {
        Ok((text, documents)) if parse(path, &text).ok().as_deref() == Some(new) => {
            whole = documents;
            text
        }
        Ok(_) => {
            whole.push((
                0,
                "the edited text did not read back as the patched documents".into(),
            ));
            write(path, new)?
        }
        Err(why) => {
            whole.push((0, why));
            write(path, new)?
        }
    };
    if bom {
        text.insert(0, BOM);
    }
    Ok(Rewritten { text, whole })
}

/// Edits `text` (without a byte order mark) from the `old` documents to the `new` ones.
fn edit(
    text: &str,
    old: &[Value],
    new: &[Value],
) -> Result<(String, Vec<(usize, String)>), String> {
    if old.len() != new.len() {
        return Err("the number of documents changed".into());
    }
    let documents = layout::read(text).map_err(|layout::Unsupported(why)| why)?;
    let mut edits = Vec::new();
    let mut whole = Vec::new();
    let mut index = 0;
    for document in &documents {
        let (from, to) = document.segment;
        let value: Value = serde_yaml::from_str(&text[from..to])
            .map_err(|e| format!("a document does not read on its own: {e}"))?;
        if value.is_null() {
            continue;
        }
        let (Some(old), Some(new)) = (old.get(index), new.get(index)) else {
            return Err("the documents do not match the parsed ones".into());
        };
        index += 1;
        if &value != old {
            return Err("the documents do not match the parsed ones".into());
        }
        if old == new {
            continue;
        }
        let found = match &document.root {
            Ok(root) => layout::edits(text, root, old, new),
            Err(e) => Err(e.clone()),
        };
        match found {
            Ok(found) => edits.extend(found),
            Err(layout::Unsupported(why)) => {
                whole.push((index, why));
                edits.push(layout::replace(
                    text,
                    document.start,
                    document.end,
                    emit::document(new)?,
                ));
            }
        }
    }
    if index != old.len() {
        return Err("the documents do not match the parsed ones".into());
    }
    if text.contains("\r\n") {
        for edit in &mut edits {
            edit.text = edit.text.replace('\n', "\r\n");
        }
    }
    let edited = layout::apply(text, edits).map_err(|layout::Unsupported(why)| why)?;
    Ok((edited, whole))
}

/// `kind/name` of a document for messages (`Deployment/foo`), or what it lacks.
pub fn label(document: &Value) -> String {
    let kind = document.get("kind").and_then(Value::as_str);
    let name = document
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str);
    match (kind, name) {
        (Some(kind), Some(name)) => format!("{kind}/{name}"),
        (Some(kind), None) => format!("{kind} without a name"),
        (None, Some(name)) => format!("no kind/{name}"),
        (None, None) => "no kind, no name".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_round_trip() {
        let text = "---\n# comment\n---\na: 1\n---\nkind: B\nmetadata:\n  name: b\n...\n";
        let documents = parse("x.yaml", text).unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(label(&documents[1]), "B/b");
        assert_eq!(label(&documents[0]), "no kind, no name");
        let out = write("x.yaml", &documents).unwrap();
        assert_eq!(out, "a: 1\n---\nkind: B\nmetadata:\n  name: b\n");
        assert_eq!(parse("x.yaml", &out).unwrap(), documents);
        assert!(
            parse("x.yaml", "a: [\n")
                .unwrap_err()
                .starts_with("not valid YAML")
        );
    }

    #[test]
    fn json_keeps_key_order() {
        let text = "{\"z\": 1, \"a\": {\"y\": [1, \"two\"], \"b\": null}}";
        let documents = parse("x.json", text).unwrap();
        assert_eq!(
            write("x.json", &documents).unwrap(),
            "{\n  \"z\": 1,\n  \"a\": {\n    \"y\": [\n      1,\n      \"two\"\n    ],\n    \"b\": null\n  }\n}\n"
        );
        assert!(parse("x.json", "{} x").is_err());
        assert!(write("x.json", &[]).is_err());
    }
}
