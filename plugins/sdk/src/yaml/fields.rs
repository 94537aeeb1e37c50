//! Set and read the fields stages edit most, in one document, keeping every other byte: labels,
//! annotations and container environment variables.
//!
//! Use these instead of a parse-and-serialise round trip (`serde_yaml` is deprecated, and its
//! writer re-quotes and reorders: `"true"` comes back as `'true'`, comments are lost).
//!
//! ```
//! use compose_plugin_sdk::yaml;
//!
//! let doc = "kind: Deployment\nmetadata:\n  name: web # the name\n";
//! let (doc, _) = yaml::set_label(doc, "okd.io/enabled", "true")?;
//! assert_eq!(
//!     doc,
//!     "kind: Deployment\nmetadata:\n  name: web # the name\n  labels:\n    okd.io/enabled: \"true\"\n"
//! );
//! assert_eq!(yaml::label(&doc, "okd.io/enabled").as_deref(), Some("true"));
//! # Ok::<(), compose_plugin_sdk::yaml::YamlError>(())
//! ```

use super::{
    Edit, Entry, Line, YamlError, parse_key, render_key, scalar, scalar_at, scan_block,
    set_in_block, splice, split_lines,
};

/// The `metadata.labels` value `key` of a document; `None` when absent or not a one-line scalar.
pub fn label(document: &str, key: &str) -> Option<String> {
    scalar_at(document, &["metadata", "labels", key])
}

/// Sets the label `key` to `value` (adding `labels:` under `metadata:` if needed).
pub fn set_label(document: &str, key: &str, value: &str) -> Result<(String, Edit), YamlError> {
    set_value_at(document, &["metadata", "labels"], key, value)
}

/// The `metadata.annotations` value `key` of a document.
pub fn annotation(document: &str, key: &str) -> Option<String> {
    scalar_at(document, &["metadata", "annotations", key])
}

/// Sets the annotation `key` to `value` (adding `annotations:` under `metadata:` if needed).
pub fn set_annotation(document: &str, key: &str, value: &str) -> Result<(String, Edit), YamlError> {
    set_value_at(document, &["metadata", "annotations"], key, value)
}

/// Sets `key` to the string `value` in the block mapping at `path` (keys from the top of the
/// document: `["metadata", "labels"]`), changing only that entry's text. Mappings of `path` that
/// are missing are added at the end of their parent, two spaces deeper; one that is not a block
/// mapping (`labels: {}`) is an error.
pub fn set_value_at(
    document: &str,
    path: &[&str],
    key: &str,
    value: &str,
) -> Result<(String, Edit), YamlError> {
    let lines = split_lines(document);
    let mut parent: Option<Entry> = None;
    for (depth, step) in path.iter().enumerate() {
        let (from, indent) = match &parent {
            Some(p) => (p.line + 1, Some(p.indent)),
            None => (0, None),
        };
        let block = scan_block(document, &lines, from, lines.len(), indent);
        let Some(entry) = block.entries.iter().find(|e| e.key == *step) else {
            let child_indent = block
                .child_indent
                .unwrap_or_else(|| parent.as_ref().map_or(0, |p| p.indent + 2));
            let after = block
                .entries
                .last()
                .map(|e| e.last_line)
                .or(parent.as_ref().map(|p| p.line));
            let mut keys: Vec<&str> = path[depth..].to_vec();
            keys.push(key);
            return Ok((
                insert_nested(document, &lines, after, child_indent, &keys, value),
                Edit::Added,
            ));
        };
        let rest = &document[entry.value_start..lines[entry.line].end];
        if !(rest.is_empty() || rest.starts_with('#')) {
            return Err(YamlError::Unsupported {
                line: entry.line + 1,
                reason: "the value must be a block mapping to be edited in place",
            });
        }
        parent = Some(entry.clone());
    }
    match &parent {
        Some(p) => set_in_block(document, &lines, p, key, value),
        None => Err(YamlError::Unsupported {
            line: 1,
            reason: "an empty path names no mapping",
        }),
    }
}

/// Inserts `keys[0]:` … `keys[n-1]: value`, each key nested two spaces deeper, after line
/// `after` (at the start of the document when `None`).
fn insert_nested(
    document: &str,
    lines: &[Line],
    after: Option<usize>,
    indent: usize,
    keys: &[&str],
    value: &str,
) -> String {
    let newline = if document.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut text = String::new();
    for (i, key) in keys.iter().enumerate() {
        text.push_str(&" ".repeat(indent + 2 * i));
        text.push_str(&render_key(key));
        text.push(':');
        if i + 1 == keys.len() {
            text.push(' ');
            text.push_str(&scalar(value));
        }
        text.push_str(newline);
    }
    insert_lines(document, lines, after, &text, newline)
}

/// Inserts whole lines (`text` ends with a line break) after line `after`.
fn insert_lines(
    document: &str,
    lines: &[Line],
    after: Option<usize>,
    text: &str,
    newline: &str,
) -> String {
    match after {
        None => splice(document, 0..0, text),
        Some(i) if lines[i].next == lines[i].end => {
            // The last line has no line break: add one before the new lines, none after them.
            let trimmed = text.strip_suffix(newline).unwrap_or(text);
            splice(
                document,
                lines[i].end..lines[i].end,
                &format!("{newline}{trimmed}"),
            )
        }
        Some(i) => splice(document, lines[i].next..lines[i].next, text),
    }
}

/// One item of a block sequence of mappings (`- name: a` and the keys under it).
struct Item {
    /// The keys of the item's mapping, the one on the `-` line first.
    entries: Vec<Entry>,
    /// The indentation of the `-`.
    dash_indent: usize,
    /// The last line of the item.
    last_line: usize,
}

impl Item {
    fn scalar(&self, document: &str, lines: &[Line], key: &str) -> Option<String> {
        let entry = self.entries.iter().find(|e| e.key == key)?;
        let rest = &document[entry.value_start..lines[entry.line].end];
        (entry.last_line == entry.line && !rest.is_empty())
            .then(|| super::unquote(rest.split(" #").next().unwrap_or(rest).trim_end()))
    }
}

/// The items of the block sequence under the entry `parent` (`containers:`, `env:`).
fn items(document: &str, lines: &[Line], parent: &Entry) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut dash_indent = None;
    for i in parent.line + 1..=parent.last_line.min(lines.len().saturating_sub(1)) {
        let text = &document[lines[i].start..lines[i].end];
        let indent = text.len() - text.trim_start_matches(' ').len();
        let content = &text[indent..];
        if !(content.starts_with("- ") || content == "-") {
            if let Some(item) = items.last_mut()
                && indent > item.dash_indent
                && !content.is_empty()
                && !content.starts_with('#')
            {
                item.last_line = i;
            }
            continue;
        }
        if *dash_indent.get_or_insert(indent) != indent {
            if let Some(item) = items.last_mut() {
                item.last_line = i;
            }
            continue;
        }
        let after_dash = content.get(1..).unwrap_or_default();
        let key_offset = indent + 1 + (after_dash.len() - after_dash.trim_start().len());
        let mut entries = Vec::new();
        if let Some((key, value_offset)) = parse_key(&text[key_offset..]) {
            entries.push(Entry {
                key,
                line: i,
                indent: key_offset,
                value_start: lines[i].start + key_offset + value_offset,
                last_line: i,
                block_scalar: false,
            });
        }
        let rest = scan_block(document, lines, i + 1, parent.last_line + 1, Some(indent));
        let last_line = rest.entries.last().map_or(i, |e| e.last_line);
        if let Some(first) = entries.first_mut()
            && first.value_start == lines[i].end
        {
            // `- env:` with its value on the next lines.
            first.last_line = rest.entries.first().map_or(last_line, |e| e.line - 1);
        }
        entries.extend(rest.entries);
        items.push(Item {
            entries,
            dash_indent: indent,
            last_line,
        });
    }
    items
}

/// The `containers` entry of a Pod, a pod template (Deployment, DaemonSet, StatefulSet, Job,
/// ReplicaSet) or a CronJob.
fn containers(document: &str, lines: &[Line]) -> Option<Entry> {
    const PATHS: [&[&str]; 3] = [
        &["spec", "template", "spec", "containers"],
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ],
        &["spec", "containers"],
    ];
    PATHS
        .iter()
        .find_map(|path| entry_at(document, lines, path))
}

/// The entry at a path of block-mapping keys.
fn entry_at(document: &str, lines: &[Line], path: &[&str]) -> Option<Entry> {
    let mut parent: Option<Entry> = None;
    for step in path {
        let (from, indent) = match &parent {
            Some(p) => (p.line + 1, Some(p.indent)),
            None => (0, None),
        };
        let block = scan_block(document, lines, from, lines.len(), indent);
        parent = Some(block.entries.into_iter().find(|e| e.key == *step)?);
    }
    parent
}

/// The value of the environment variable `name` of the container `container` (a plain `value`,
/// not a `valueFrom`).
pub fn container_env(document: &str, container: &str, name: &str) -> Option<String> {
    let lines = split_lines(document);
    let containers = containers(document, &lines)?;
    let item = items(document, &lines, &containers)
        .into_iter()
        .find(|c| c.scalar(document, &lines, "name").as_deref() == Some(container))?;
    let env = item.entries.iter().find(|e| e.key == "env")?;
    items(document, &lines, env)
        .into_iter()
        .find(|v| v.scalar(document, &lines, "name").as_deref() == Some(name))?
        .scalar(document, &lines, "value")
}

/// Sets the environment variable `name` of the container `container` to `value`: the variable's
/// `value` is replaced in place, or a `- name: … value: …` item is added at the end of `env`
/// (and `env:` at the end of the container when it has none). A variable set with `valueFrom`
/// is an error.
pub fn set_container_env(
    document: &str,
    container: &str,
    name: &str,
    value: &str,
) -> Result<(String, Edit), YamlError> {
    let lines = split_lines(document);
    let newline = if document.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let missing = |what: &'static str| YamlError::Unsupported {
        line: 1,
        reason: what,
    };
    let containers =
        containers(document, &lines).ok_or(missing("the document has no block `containers:`"))?;
    let item = items(document, &lines, &containers)
        .into_iter()
        .find(|c| c.scalar(document, &lines, "name").as_deref() == Some(container))
        .ok_or(missing("no container of that name"))?;
    let key_indent = item
        .entries
        .first()
        .map_or(item.dash_indent + 2, |e| e.indent);
    let Some(env) = item.entries.iter().find(|e| e.key == "env") else {
        let text = format!(
            "{pad}env:{newline}{pad}- name: {}{newline}{pad}  value: {}{newline}",
            scalar(name),
            scalar(value),
            pad = " ".repeat(key_indent),
        );
        return Ok((
            insert_lines(document, &lines, Some(item.last_line), &text, newline),
            Edit::Added,
        ));
    };
    let variables = items(document, &lines, env);
    let Some(variable) = variables
        .iter()
        .find(|v| v.scalar(document, &lines, "name").as_deref() == Some(name))
    else {
        let dash = variables.first().map_or(key_indent, |v| v.dash_indent);
        let text = format!(
            "{pad}- name: {}{newline}{pad}  value: {}{newline}",
            scalar(name),
            scalar(value),
            pad = " ".repeat(dash),
        );
        let after = variables.last().map_or(env.line, |v| v.last_line);
        return Ok((
            insert_lines(document, &lines, Some(after), &text, newline),
            Edit::Added,
        ));
    };
    if let Some(from) = variable.entries.iter().find(|e| e.key == "valueFrom") {
        return Err(YamlError::Unsupported {
            line: from.line + 1,
            reason: "the variable is set with `valueFrom`",
        });
    }
    // The variable's mapping, seen as the block under its `- name:` line.
    let holder = Entry {
        key: String::new(),
        line: variable.entries.first().map_or(0, |e| e.line),
        indent: variable.dash_indent,
        value_start: 0,
        last_line: variable.last_line,
        block_scalar: false,
    };
    match variable.entries.iter().find(|e| e.key == "value") {
        Some(entry) if entry.line == holder.line => Err(YamlError::Unsupported {
            line: entry.line + 1,
            reason: "`value` on the `-` line is not edited in place",
        }),
        Some(_) => set_in_block(document, &lines, &holder, "value", value),
        None => {
            let text = format!(
                "{}value: {}{newline}",
                " ".repeat(holder.indent + 2),
                scalar(value)
            );
            Ok((
                insert_lines(document, &lines, Some(variable.last_line), &text, newline),
                Edit::Added,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    include.release.openshift.io/self-managed-high-availability: \"true\" # kept
spec:
  template:
    spec:
      containers:
      - name: web
        image: quay.io/x@sha256:ab
        env:
        - name: MODE
          value: \"on\"
        - name: SECRET
          valueFrom:
            secretKeyRef: {name: s, key: k}
      - name: sidecar
        image: quay.io/y@sha256:cd
";

    #[test]
    fn labels_are_added_under_metadata_and_read_back() {
        let (doc, edit) = set_label(DEPLOYMENT, "okd.io/enabled", "true").unwrap();
        assert_eq!(edit, Edit::Added);
        assert_eq!(
            doc,
            DEPLOYMENT.replace(
                "# kept\nspec:",
                "# kept\n  labels:\n    okd.io/enabled: \"true\"\nspec:"
            )
        );
        assert_eq!(label(&doc, "okd.io/enabled").as_deref(), Some("true"));
        let (again, edit) = set_label(&doc, "okd.io/enabled", "true").unwrap();
        assert_eq!((again.as_str(), edit), (doc.as_str(), Edit::Unchanged));
        let (changed, edit) = set_label(&doc, "okd.io/enabled", "false").unwrap();
        assert_eq!(edit, Edit::Replaced { old: "true".into() });
        assert!(
            changed.contains("    okd.io/enabled: \"false\"\nspec:"),
            "{changed}"
        );
    }

    #[test]
    fn annotations_keep_quoting_and_comments() {
        let key = "include.release.openshift.io/self-managed-high-availability";
        assert_eq!(annotation(DEPLOYMENT, key).as_deref(), Some("true"));
        let (doc, edit) = set_annotation(DEPLOYMENT, key, "false").unwrap();
        assert_eq!(edit, Edit::Replaced { old: "true".into() });
        assert_eq!(
            doc,
            DEPLOYMENT.replace("\"true\" # kept", "\"false\" # kept")
        );
        let (doc, _) = set_annotation(&doc, "a", "b").unwrap();
        assert!(doc.contains("# kept\n    a: b\nspec:"), "{doc}");
        assert_eq!(annotation(&doc, "missing"), None);
    }

    #[test]
    fn container_env_is_set_in_place_added_and_read() {
        assert_eq!(
            container_env(DEPLOYMENT, "web", "MODE").as_deref(),
            Some("on")
        );
        assert_eq!(container_env(DEPLOYMENT, "web", "SECRET"), None);
        assert_eq!(container_env(DEPLOYMENT, "sidecar", "MODE"), None);

        let (doc, edit) = set_container_env(DEPLOYMENT, "web", "MODE", "off").unwrap();
        assert_eq!(edit, Edit::Replaced { old: "on".into() });
        assert_eq!(doc, DEPLOYMENT.replace("value: \"on\"", "value: \"off\""));

        let (doc, edit) = set_container_env(DEPLOYMENT, "web", "LEVEL", "2").unwrap();
        assert_eq!(edit, Edit::Added);
        assert_eq!(
            doc,
            DEPLOYMENT.replace(
                "{name: s, key: k}\n",
                "{name: s, key: k}\n        - name: LEVEL\n          value: \"2\"\n"
            )
        );
        assert_eq!(container_env(&doc, "web", "LEVEL").as_deref(), Some("2"));

        let (doc, edit) = set_container_env(DEPLOYMENT, "sidecar", "MODE", "true").unwrap();
        assert_eq!(edit, Edit::Added);
        assert_eq!(
            doc,
            format!("{DEPLOYMENT}        env:\n        - name: MODE\n          value: \"true\"\n")
        );
        assert_eq!(
            container_env(&doc, "sidecar", "MODE").as_deref(),
            Some("true")
        );
        assert_eq!(container_env(&doc, "web", "MODE").as_deref(), Some("on"));
    }

    #[test]
    fn unsupported_shapes_are_errors() {
        assert!(set_container_env(DEPLOYMENT, "web", "SECRET", "x").is_err());
        assert!(set_container_env(DEPLOYMENT, "nope", "A", "x").is_err());
        assert!(set_label("metadata:\n  labels: {}\n", "a", "b").is_err());
        let (doc, _) = set_label("kind: Pod\n", "a", "b").unwrap();
        assert_eq!(doc, "kind: Pod\nmetadata:\n  labels:\n    a: b\n");
    }
}
