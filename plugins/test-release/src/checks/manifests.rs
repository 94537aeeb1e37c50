//! `manifests-valid`: every manifest parses (each document of a multi-document YAML file; a
//! `.json` file as JSON), every non-empty document is a Kubernetes object with `apiVersion`,
//! `kind` and `metadata.name`, and every file is named `0000_NN_<component>_<name>.yaml` as the
//! CVO orders them (payload-format.md §1).
//!
//! This check reads every manifest, one `read-manifest` call each: parsing is the point.

use compose_plugin_sdk::{Finding, Release, Severity};
use serde::Deserialize;
use serde_yaml::Value;

use super::{Report, plural};

/// The documents of a YAML text, `null` for an empty one; or the 1-based number of the first
/// document that does not parse, with the parser's message, and the documents before it.
pub fn documents(text: &str) -> Result<Vec<Value>, (usize, String, Vec<Value>)> {
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        match Value::deserialize(document) {
            Ok(value) => out.push(value),
            Err(error) => return Err((out.len() + 1, error.to_string(), out)),
        }
    }
    Ok(out)
}

/// The string at `path` (`["metadata", "name"]`) of a document, if it is one.
pub fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |value, key| value.get(*key))
        .and_then(Value::as_str)
}

/// Why a manifest file name does not follow `0000_NN_<component>_<name>.(yaml|yml|json)`.
pub fn name_problem(name: &str) -> Option<String> {
    let Some(stem) = [".yaml", ".yml", ".json"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
    else {
        return Some("it does not end in `.yaml`, `.yml` or `.json`".into());
    };
    let Some(rest) = stem.strip_prefix("0000_") else {
        return Some("it does not start with `0000_`".into());
    };
    let run_level = rest.get(..3).unwrap_or_default();
    let run_level_ok = run_level.len() == 3
        && run_level.as_bytes()[..2].iter().all(u8::is_ascii_digit)
        && run_level.ends_with('_');
    if !run_level_ok {
        return Some("the run level after `0000_` is not two digits and `_`".into());
    }
    let rest = &rest[3..];
    let Some((component, tail)) = rest.split_once('_') else {
        return Some("it has no `_` after the component name".into());
    };
    let words_ok = !component.is_empty()
        && component
            .split('-')
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !words_ok {
        return Some(format!(
            "the component `{component}` is not alphanumeric words joined by `-`"
        ));
    }
    if tail.is_empty() {
        return Some("nothing follows the component name".into());
    }
    None
}

/// What is missing from one document (empty when it is a valid object).
fn object_problems(document: &Value) -> Vec<String> {
    if !document.is_mapping() {
        return vec!["it is not a mapping".into()];
    }
    let mut problems = Vec::new();
    for (path, shown) in [
        (&["apiVersion"][..], "apiVersion"),
        (&["kind"][..], "kind"),
        (&["metadata", "name"][..], "metadata.name"),
    ] {
        let present = path
            .iter()
            .try_fold(document, |value, key| value.get(*key))
            .is_some_and(|value| !value.is_null());
        match str_at(document, path) {
            Some(value) if !value.trim().is_empty() => {}
            Some(_) => problems.push(format!("`{shown}` is empty")),
            None if present => problems.push(format!("`{shown}` is not a string")),
            None => problems.push(format!("no `{shown}`")),
        }
    }
    problems
}

/// The problems of one manifest's content and how many non-empty documents it has.
fn content_problems(name: &str, text: &str) -> (usize, Vec<String>) {
    if name.ends_with(".json") {
        let value = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => value,
            Err(error) => return (0, vec![format!("not valid JSON: {error}")]),
        };
        return match serde_yaml::to_value(&value) {
            Ok(document) => (1, object_problems(&document)),
            Err(error) => (0, vec![format!("cannot read the JSON: {error}")]),
        };
    }
    let (documents, parse_error) = match documents(text) {
        Ok(documents) => (documents, None),
        Err((number, message, documents)) => (documents, Some((number, message))),
    };
    let multi = documents.len() + usize::from(parse_error.is_some()) > 1;
    let label = |number: usize| {
        if multi {
            format!("document {number}: ")
        } else {
            String::new()
        }
    };
    let mut problems = Vec::new();
    let mut count = 0;
    for (i, document) in documents.iter().enumerate() {
        if document.is_null() {
            continue;
        }
        count += 1;
        let found = object_problems(document);
        if !found.is_empty() {
            problems.push(format!("{}{}", label(i + 1), found.join(", ")));
        }
    }
    if let Some((number, message)) = parse_error {
        problems.push(format!("{}not valid YAML: {message}", label(number)));
    }
    (count, problems)
}

/// The check.
pub fn check(mut report: Report, release: &impl Release) -> Vec<Finding> {
    let names = release.manifests();
    let mut documents = 0;
    for name in &names {
        if let Some(reason) = name_problem(name) {
            report.fail(
                Some(name),
                format!(
                    "the file name does not follow `0000_NN_<component>_<name>.yaml`: {reason}"
                ),
            );
        }
        let Some(text) = release.read_manifest(name) else {
            report.fail(Some(name), "the manifest is listed but cannot be read");
            continue;
        };
        let (count, problems) = content_problems(name, &text);
        documents += count;
        if !problems.is_empty() {
            report.fail(Some(name), problems.join("; "));
        } else if count == 0 {
            report.note(
                Some(name),
                Severity::Warning,
                "the manifest holds no document",
            );
        }
    }
    report.finish(format!(
        "{} ({}) parse, carry apiVersion, kind and metadata.name, and are named \
         `0000_NN_<component>_<name>`",
        plural(names.len(), "manifest"),
        plural(documents, "document")
    ))
}

#[cfg(test)]
mod tests {
    use compose_plugin_sdk::testing::MemoryRelease;

    use super::super::fixtures::*;
    use super::*;
    use crate::config::MANIFESTS_VALID;

    fn run(release: &MemoryRelease) -> Vec<Finding> {
        check(report(MANIFESTS_VALID), release)
    }

    const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n";

    #[test]
    fn good_manifests_pass() {
        let findings = run(&release());
        assert_eq!(findings.len(), 1);
        assert_eq!(
            summary(&findings).as_deref(),
            Some(
                "4 manifests (5 documents) parse, carry apiVersion, kind and metadata.name, and \
                 are named `0000_NN_<component>_<name>`"
            )
        );
    }

    #[test]
    fn names_follow_the_cvo_pattern() {
        for good in [
            "0000_00_cluster-version-operator_01_adminack_configmap.yaml",
            "0000_03_cluster-config-api_01_apiservers.crd.yaml",
            "0000_50_cluster-config-api_featureGate-Default.yaml",
            "0000_90_cluster-update-keys_configmap.yml",
            "0000_50_x_a.json",
        ] {
            assert_eq!(name_problem(good), None, "{good}");
        }
        for (bad, reason) in [
            ("50_x_a.yaml", "it does not start with `0000_`"),
            (
                "0000_5_x_a.yaml",
                "the run level after `0000_` is not two digits and `_`",
            ),
            (
                "0000_500_x_a.yaml",
                "the run level after `0000_` is not two digits and `_`",
            ),
            ("0000_50_x.yaml", "it has no `_` after the component name"),
            ("0000_50_x_.yaml", "nothing follows the component name"),
            (
                "0000_50_-x_a.yaml",
                "the component `-x` is not alphanumeric words joined by `-`",
            ),
            (
                "0000_50__a.yaml",
                "the component `` is not alphanumeric words joined by `-`",
            ),
            (
                "0000_50_x_a.txt",
                "it does not end in `.yaml`, `.yml` or `.json`",
            ),
        ] {
            assert_eq!(name_problem(bad).as_deref(), Some(reason), "{bad}");
        }
    }

    #[test]
    fn a_bad_name_is_an_error_naming_the_file() {
        let release = release().with_manifest("50-machine-config.yaml", NS);
        let findings = run(&release);
        assert_eq!(
            errors(&findings),
            [(
                "50-machine-config.yaml".to_string(),
                "the file name does not follow `0000_NN_<component>_<name>.yaml`: it does not \
                 start with `0000_`"
                    .to_string()
            )]
        );
        assert_eq!(summary(&findings), None);
    }

    #[test]
    fn each_document_of_a_multi_document_file_is_checked() {
        let release = MemoryRelease::new(NAME)
            .with_manifest(
                "0000_50_a_00_multi.yaml",
                &format!(
                    "---\n{NS}---\n# only a comment\n---\napiVersion: v1\nmetadata:\n  name: y\n---\napiVersion: v1\nkind: \"\"\nmetadata: {{}}\n...\n---\n- a list\n"
                ),
            )
            .with_manifest("0000_50_a_01_ok.yaml", &format!("{NS}---\n{NS}"));
        let findings = run(&release);
        assert_eq!(
            errors(&findings),
            [(
                "0000_50_a_00_multi.yaml".to_string(),
                "document 3: no `kind`; document 4: `kind` is empty, no `metadata.name`; \
                 document 5: it is not a mapping"
                    .to_string()
            )]
        );
    }

    #[test]
    fn parse_errors_and_wrong_types_are_reported() {
        let release = MemoryRelease::new(NAME)
            .with_manifest(
                "0000_50_a_00_broken.yaml",
                &format!("{NS}---\nkind: [unclosed\n"),
            )
            .with_manifest(
                "0000_50_a_01_single.yaml",
                "kind: Pod\nmetadata:\n  name: 3\n",
            )
            .with_manifest("0000_50_a_02_dupkey.yaml", &format!("{NS}kind: Pod\n"))
            .with_manifest("0000_50_a_03_bad.json", "{\"kind\": \"Pod\",}")
            .with_manifest(
                "0000_50_a_04_nokind.json",
                r#"{"apiVersion": "v1", "metadata": {"name": "x"}}"#,
            )
            .with_manifest("0000_50_a_05_empty.yaml", "# nothing here\n");
        let findings = run(&release);
        let errors = errors(&findings);
        let subjects: Vec<&str> = errors.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "0000_50_a_00_broken.yaml",
                "0000_50_a_01_single.yaml",
                "0000_50_a_02_dupkey.yaml",
                "0000_50_a_03_bad.json",
                "0000_50_a_04_nokind.json",
            ]
        );
        assert!(
            errors[0].1.starts_with("document 2: not valid YAML: "),
            "{}",
            errors[0].1
        );
        assert_eq!(
            errors[1].1,
            "no `apiVersion`, `metadata.name` is not a string"
        );
        assert!(
            errors[2].1.starts_with("not valid YAML: "),
            "{}",
            errors[2].1
        );
        assert!(errors[2].1.contains("duplicate"), "{}", errors[2].1);
        assert!(
            errors[3].1.starts_with("not valid JSON: "),
            "{}",
            errors[3].1
        );
        assert_eq!(errors[4].1, "no `kind`");
        // An empty file is a warning, not an error.
        assert_eq!(
            failures(&findings).last(),
            Some(&(
                Severity::Warning,
                "0000_50_a_05_empty.yaml".to_string(),
                "the manifest holds no document".to_string()
            ))
        );
    }
}
