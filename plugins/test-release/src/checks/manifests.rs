//! `manifests-valid`: every manifest decodes as the CVO decodes it ([`cvo`]: a leading byte
//! order mark accepted, documents split at `---` lines as k8s `util/yaml` splits them, a file
//! starting with `{` read as JSON), every non-empty document is a Kubernetes object with
//! `apiVersion`, `kind` and `metadata.name`, no resource is declared twice where a cluster
//! would apply both, every `verifier-public-key-*` of a release-verification ConfigMap is an
//! OpenPGP public key the CVO's verifier reads, and every file is named
//! `0000_NN_<component>_<name>.yaml` as the CVO orders them (payload-format.md §1).
//!
//! This check reads every manifest, one `read-manifest` call each: parsing is the point.

use std::collections::BTreeMap;

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
struct Declaration {
    file: String,
    document: usize,
    /// `include.release.openshift.io/<profile>: "true"` annotations; empty when there is none.
    profiles: Vec<String>,
    /// `release.openshift.io/feature-set` values; `None` = every feature set.
    feature_sets: Option<Vec<String>>,
}

impl Declaration {
    fn new(file: &str, document: &cvo::Document) -> Self {
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
            file: file.to_string(),
            document: document.number,
            profiles,
            feature_sets,
        }
    }

    /// Whether one cluster could apply both declarations: a cluster profile in common (or no
    /// profile annotation on either) and a feature set in common (no annotation = all).
    fn overlaps(&self, other: &Declaration) -> bool {
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
fn place(declaration: &Declaration) -> String {
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
    let mut declared: BTreeMap<ResourceId, Vec<Declaration>> = BTreeMap::new();
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
    for (id, declarations) in &declared {
        for (i, later) in declarations.iter().enumerate() {
            if let Some(first) = declarations[..i].iter().find(|d| d.overlaps(later)) {
                report.fail(
                    Some(&later.file),
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
                "4 manifests (5 documents) parse, carry apiVersion, kind and metadata.name, \
                 declare each resource once, and are named `0000_NN_<component>_<name>`"
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
            .with_manifest(
                "0000_50_a_01_ok.yaml",
                &format!("{}---\n{}", NS.replace(": x", ": y"), NS.replace(": x", ": z")),
            );
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

    #[test]
    fn a_manifest_starting_with_a_byte_order_mark_is_valid_and_kept() {
        let quickstart = "\u{feff}apiVersion: console.openshift.io/v1\nkind: ConsoleQuickStart\nmetadata:\n  name: node-with-s2i\nspec:\n  displayName: Get started with Node\n";
        let release = release().with_manifest(
            "0000_03_console-operator_02_quickstart-node-with-s2i.yaml",
            quickstart,
        );
        let findings = run(&release);
        assert_eq!(errors(&findings), []);
        assert!(
            summary(&findings)
                .unwrap()
                .starts_with("5 manifests (6 documents)")
        );
        // Read-only: the manifest keeps its byte order mark.
        assert_eq!(
            release
                .read_manifest("0000_03_console-operator_02_quickstart-node-with-s2i.yaml")
                .unwrap()
                .as_bytes()[..3],
            [0xef, 0xbb, 0xbf]
        );
    }

    #[test]
    fn a_resource_declared_twice_is_an_error_naming_both_files() {
        let cm = |name: &str, extra: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: openshift-config\n  annotations:\n    include.release.openshift.io/self-managed-high-availability: \"true\"\n{extra}"
            )
        };
        let release = MemoryRelease::new(NAME)
            .with_manifest("0000_50_a_01_cm.yaml", &cm("one", ""))
            .with_manifest(
                "0000_50_b_01_cm.yaml",
                &format!("{}---\n{}", cm("two", ""), cm("one", "")),
            )
            // Another namespace, another kind or another group is another resource.
            .with_manifest(
                "0000_50_c_01_other.yaml",
                &cm("one", "").replace("openshift-config\n", "openshift-config-managed\n"),
            )
            .with_manifest(
                "0000_50_c_02_other.yaml",
                &cm("one", "").replace("apiVersion: v1", "apiVersion: example.org/v1"),
            );
        let findings = run(&release);
        assert_eq!(
            errors(&findings),
            [(
                "0000_50_b_01_cm.yaml".to_string(),
                "`0000_50_b_01_cm.yaml` (document 2) declares ConfigMap `openshift-config/one` a \
                 second time: `0000_50_a_01_cm.yaml` declares it already, for the same cluster \
                 profile and feature set (the cluster-version operator refuses a payload that \
                 declares a resource twice)"
                    .to_string()
            )]
        );
        // Same group, another version: the same resource.
        let release = MemoryRelease::new(NAME)
            .with_manifest(
                "0000_50_a_01_crd.yaml",
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: x.example.org\n",
            )
            .with_manifest(
                "0000_50_a_02_crd.yaml",
                "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata:\n  name: x.example.org\n",
            );
        let errors = errors(&run(&release));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "0000_50_a_02_crd.yaml");
        assert!(
            errors[0]
                .1
                .contains("CustomResourceDefinition.apiextensions.k8s.io `x.example.org`"),
            "{}",
            errors[0].1
        );
    }

    #[test]
    fn one_resource_for_other_profiles_or_feature_sets_is_no_duplicate() {
        let deployment = |profiles: &[&str], feature_set: Option<&str>| {
            let mut annotations: String = profiles
                .iter()
                .map(|p| format!("    include.release.openshift.io/{p}: \"true\"\n"))
                .collect();
            if let Some(set) = feature_set {
                annotations.push_str(&format!("    release.openshift.io/feature-set: {set}\n"));
            }
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: op\n  namespace: ns\n  annotations:\n{annotations}"
            )
        };
        let release = MemoryRelease::new(NAME)
            .with_manifest(
                "0000_50_a_01.yaml",
                &deployment(&["self-managed-high-availability"], None),
            )
            .with_manifest(
                "0000_50_a_02.yaml",
                &deployment(&["ibm-cloud-managed"], None),
            )
            .with_manifest(
                "0000_50_a_03.yaml",
                &deployment(&["single-node-developer"], Some("Default")),
            )
            .with_manifest(
                "0000_50_a_04.yaml",
                &deployment(
                    &["single-node-developer"],
                    Some("TechPreviewNoUpgrade,CustomNoUpgrade"),
                ),
            );
        assert_eq!(errors(&run(&release)), []);
        // A profile in common is a duplicate again.
        let release = release.with_manifest(
            "0000_50_a_05.yaml",
            &deployment(&["hypershift", "ibm-cloud-managed"], None),
        );
        let errors = errors(&run(&release));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .1
                .contains("`0000_50_a_02.yaml` declares it already"),
            "{}",
            errors[0].1
        );
    }

    #[test]
    fn verification_keys_must_be_openpgp_public_keys() {
        let cm = |annotation: &str| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-verification\n  namespace: openshift-config-managed\n  annotations:\n{annotation}data:\n  store-openshift-ci-release: https://example.org/sigs\n  verifier-public-key-ci: |\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n\n    PLACEHOLDER: the compose sample mirror carries no real key here.\n    -----END PGP PUBLIC KEY BLOCK-----\n"
            )
        };
        let release = MemoryRelease::new(NAME).with_manifest(
            "0000_90_cluster-update-keys_configmap.yaml",
            &cm("    release.openshift.io/verification-config-map: \"\"\n"),
        );
        assert_eq!(
            errors(&run(&release)),
            [(
                "0000_90_cluster-update-keys_configmap.yaml".to_string(),
                "`data.verifier-public-key-ci` is not an OpenPGP public key the CVO's verifier \
                 reads: the armored data is not base64"
                    .to_string()
            )]
        );
        // The CVO's verifier reads only the annotated ConfigMaps.
        let release = MemoryRelease::new(NAME).with_manifest(
            "0000_90_cluster-update-keys_configmap.yaml",
            &cm("    other: x\n"),
        );
        assert_eq!(errors(&run(&release)), []);
    }
}
