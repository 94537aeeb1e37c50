//! One manifest file as documents: parsed for patching, written back deterministically.

use serde::Deserialize;
use serde_yaml::Value;

use crate::emit;

/// Whether the file is JSON (by its name) rather than YAML.
pub fn is_json(path: &str) -> bool {
    path.ends_with(".json")
}

/// The documents of a manifest file, in order. Empty YAML documents (between two `---`, or a
/// file of comments only) are left out. A `.json` file is one document.
pub fn parse(path: &str, text: &str) -> Result<Vec<Value>, String> {
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
