//! `manifests-valid`: every manifest decodes as the CVO decodes it ([`cvo`]: a leading byte
//! order mark accepted, documents split at `---` lines as k8s `util/yaml` splits them, a file
//! starting with `{` read as JSON), every non-empty document is a Kubernetes object with
//! `apiVersion`, `kind` and `metadata.name`, no resource is declared twice where a cluster
//! would apply both, every `verifier-public-key-*` of a release-verification ConfigMap is an
//! OpenPGP public key the CVO's verifier reads, and every file is named
//! `0000_NN_<component>_<name>.yaml` as the CVO orders them (payload-format.md §1).
//!
//! This check reads every manifest, one `read-manifest` call each: parsing is the point.

use std::collections::HashMap;

use compose_plugin_sdk::{Finding, Release, Severity};
use serde_yaml::Value;

use super::cvo::{self, ParseError};
use super::openpgp::check_public_key;
use super::{Report, plural};

/// The documents of a manifest as the CVO decodes them, `null` for an empty one; or the
/// 1-based number of the first document that does not decode, the decoder's message, and the
/// documents before it.
pub fn documents(text: &str) -> Result<Vec<Value>, (usize, String, Vec<Value>)> {
    let (documents, error) = cvo::documents(text);
    let values = documents.into_iter().map(|d| d.value).collect();
    match error {
        None => Ok(values),
        Some(ParseError { number, message }) => {
            let message = message
                .strip_prefix("not valid YAML: ")
                .map_or(message.clone(), str::to_string);
            Err((number, message, values))
        }
    }
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

/// The problems of one manifest's content, and its non-empty documents.
fn content_problems(text: &str) -> (Vec<cvo::Document>, Vec<String>) {
    let (documents, parse_error) = cvo::documents(text);
    let multi = documents.len() + usize::from(parse_error.is_some()) > 1
        || documents.last().is_some_and(|d| d.number > 1)
        || parse_error.as_ref().is_some_and(|e| e.number > 1);
    let label = |number: usize| {
        if multi {
            format!("document {number}: ")
        } else {
            String::new()
        }
    };
    let mut problems = Vec::new();
    let mut kept = Vec::new();
    for document in documents {
        if document.value.is_null() {
            continue;
        }
        let found = object_problems(&document.value);
        if found.is_empty() {
            problems.extend(
                key_problems(&document.value)
                    .into_iter()
                    .map(|p| format!("{}{p}", label(document.number))),
            );
            kept.push(document);
        } else {
            problems.push(format!("{}{}", label(document.number), found.join(", ")));
        }
    }
    if let Some(ParseError { number, message }) = parse_error {
        problems.push(format!("{}{message}", label(number)));
    }
    (kept, problems)
}

/// The annotation that marks the ConfigMaps the CVO's signature verifier reads.
const VERIFICATION_ANNOTATION: &str = "release.openshift.io/verification-config-map";

/// The problems of the `verifier-public-key-*` keys of a release-verification ConfigMap (one
/// with [`VERIFICATION_ANNOTATION`]), as library-go `verify.NewFromManifests` reads them.
fn key_problems(document: &Value) -> Vec<String> {
    let is_verification = str_at(document, &["kind"]) == Some("ConfigMap")
        && str_at(document, &["apiVersion"]) == Some("v1")
        && document
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(VERIFICATION_ANNOTATION))
            .is_some();
    let Some(data) = document.get("data").and_then(Value::as_mapping) else {
        return Vec::new();
    };
    if !is_verification {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for (key, value) in data {
        let Some(key) = key
            .as_str()
            .filter(|k| k.starts_with("verifier-public-key-"))
        else {
            continue;
        };
        let problem = match value.as_str() {
            Some(text) => check_public_key(text),
            None => Some("it is not a string".to_string()),
        };
        if let Some(problem) = problem {
            problems.push(format!(
                "`data.{key}` is not an OpenPGP public key the CVO's verifier reads: {problem}"
            ));
        }
    }
    problems
}

/// What the CVO identifies a resource by: API group, kind, namespace, name.
type ResourceId = (String, String, String, String);

/// Where a resource was declared, and for which cluster profiles and feature sets.
struct Declaration<'a> {
    file: &'a str,
    document: usize,
    /// `include.release.openshift.io/<profile>: "true"` annotations; empty when there is none.
    profiles: Vec<String>,
    /// `release.openshift.io/feature-set` values; `None` = every feature set.
    feature_sets: Option<Vec<String>>,
}

impl<'a> Declaration<'a> {
    fn new(file: &'a str, document: &cvo::Document) -> Self {
        let annotations = document
            .value
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_mapping);
        let mut profiles = Vec::new();
        let mut feature_sets = None;
        for (key, value) in annotations.into_iter().flatten() {
            let (Some(key), Some(value)) = (key.as_str(), value.as_str()) else {
                continue;
            };
            if let Some(profile) = key.strip_prefix("include.release.openshift.io/") {
                if value == "true" {
                    profiles.push(profile.to_string());
                }
            } else if key == "release.openshift.io/feature-set" {
                feature_sets = Some(
                    value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                );
            }
        }
        Declaration {
            file,
            document: document.number,
            profiles,
            feature_sets,
        }
    }

    /// Whether one cluster could apply both declarations: a cluster profile in common (or no
    /// profile annotation on either) and a feature set in common (no annotation = all).
    fn overlaps(&self, other: &Declaration<'_>) -> bool {
        let profiles = (self.profiles.is_empty() && other.profiles.is_empty())
            || self.profiles.iter().any(|p| other.profiles.contains(p));
        let feature_sets = match (&self.feature_sets, &other.feature_sets) {
            (Some(a), Some(b)) => a.iter().any(|f| b.contains(f)),
            _ => true,
        };
        profiles && feature_sets
    }
}

/// The resource a document declares.
fn resource_id(document: &Value) -> Option<ResourceId> {
    let api_version = str_at(document, &["apiVersion"])?;
    let group = api_version
        .rsplit_once('/')
        .map_or("", |(group, _)| group)
        .to_string();
    Some((
        group,
        str_at(document, &["kind"])?.to_string(),
        str_at(document, &["metadata", "namespace"])
            .unwrap_or_default()
            .to_string(),
        str_at(document, &["metadata", "name"])?.to_string(),
    ))
}

/// Shows a resource as `Kind namespace/name` (API group in parentheses when it has one).
fn show(id: &ResourceId) -> String {
    let (group, kind, namespace, name) = id;
    let kind = if group.is_empty() {
        kind.clone()
    } else {
        format!("{kind}.{group}")
    };
    if namespace.is_empty() {
        format!("{kind} `{name}`")
    } else {
        format!("{kind} `{namespace}/{name}`")
    }
}

/// Shows where a declaration is: `file` or `file` (document N).
fn place(declaration: &Declaration<'_>) -> String {
    if declaration.document > 1 {
        format!("`{}` (document {})", declaration.file, declaration.document)
    } else {
        format!("`{}`", declaration.file)
    }
}

/// The check.
pub fn check(mut report: Report, release: &impl Release) -> Vec<Finding> {
    let names = release.manifests();
    let mut documents = 0;
    // Where each resource is declared: a hash map (6,800 manifests at 10x the sample payload),
    // and only the resources declared more than once are sorted, below.
    let mut declared: HashMap<ResourceId, Vec<Declaration<'_>>> = HashMap::new();
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
        let (kept, problems) = content_problems(&text);
        let empty = kept.is_empty() && problems.is_empty();
        documents += kept.len();
        for document in &kept {
            if let Some(id) = resource_id(&document.value) {
                declared
                    .entry(id)
                    .or_default()
                    .push(Declaration::new(name, document));
            }
        }
        if !problems.is_empty() {
            report.fail(Some(name), problems.join("; "));
        } else if empty {
            report.note(
                Some(name),
                Severity::Warning,
                "the manifest holds no document",
            );
        }
    }
    // The resources declared more than once, reported in the order of their ids.
    let mut repeated: Vec<(&ResourceId, &Vec<Declaration<'_>>)> = declared
        .iter()
        .filter(|(_, declarations)| declarations.len() > 1)
        .collect();
    repeated.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (id, declarations) in repeated {
        for (i, later) in declarations.iter().enumerate() {
            if let Some(first) = declarations[..i].iter().find(|d| d.overlaps(later)) {
                report.fail(
                    Some(later.file),
                    format!(
                        "{} declares {} a second time: {} declares it already, for the same \
                         cluster profile and feature set (the cluster-version operator refuses \
                         a payload that declares a resource twice)",
                        place(later),
                        show(id),
                        place(first)
                    ),
                );
            }
        }
    }
    report.finish(format!(
        "{} ({}) parse, carry apiVersion, kind and metadata.name, declare each resource once, \
         and are named `0000_NN_<component>_<name>`",
        plural(names.len(), "manifest"),
        plural(documents, "document")
    ))
}

#[cfg(test)]
mod tests;
