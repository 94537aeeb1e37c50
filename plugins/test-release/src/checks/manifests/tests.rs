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

#[test]
fn resources_declared_again_are_reported_in_the_order_of_their_ids() {
    // The files declare the resources in another order than their ids sort in (group, kind,
    // namespace, name): the findings follow the ids, then the files, whatever the map
    // holding the declarations iterates in.
    let doc = |api: &str, kind: &str, namespace: &str, name: &str| {
        let namespace = if namespace.is_empty() {
            String::new()
        } else {
            format!("  namespace: {namespace}\n")
        };
        format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n{namespace}")
    };
    let z = doc("v1", "ConfigMap", "ns", "z");
    let a = doc("v1", "ConfigMap", "ns", "a");
    let b = doc("v1", "Namespace", "", "b");
    let op = doc("apps/v1", "Deployment", "ns", "op");
    let release = MemoryRelease::new(NAME)
        .with_manifest("0000_10_a_01.yaml", &op)
        .with_manifest("0000_10_a_02.yaml", &z)
        .with_manifest("0000_10_a_03.yaml", &b)
        .with_manifest("0000_10_a_04.yaml", &a)
        .with_manifest(
            "0000_20_b_01.yaml",
            &format!("{b}---\n{z}---\n{a}---\n{op}"),
        )
        .with_manifest("0000_30_c_01.yaml", &format!("{NS}---\n{z}"));
    let found: Vec<(String, String)> = errors(&run(&release))
        .into_iter()
        .map(|(subject, message)| {
            let head = message
                .split(" declares it already")
                .next()
                .unwrap_or_default()
                .to_string();
            (subject, head)
        })
        .collect();
    let expected = [
        (
            "0000_20_b_01.yaml",
            "`0000_20_b_01.yaml` (document 3) declares ConfigMap `ns/a` a second time: \
             `0000_10_a_04.yaml`",
        ),
        (
            "0000_20_b_01.yaml",
            "`0000_20_b_01.yaml` (document 2) declares ConfigMap `ns/z` a second time: \
             `0000_10_a_02.yaml`",
        ),
        (
            "0000_30_c_01.yaml",
            "`0000_30_c_01.yaml` (document 2) declares ConfigMap `ns/z` a second time: \
             `0000_10_a_02.yaml`",
        ),
        (
            "0000_20_b_01.yaml",
            "`0000_20_b_01.yaml` declares Namespace `b` a second time: `0000_10_a_03.yaml`",
        ),
        (
            "0000_20_b_01.yaml",
            "`0000_20_b_01.yaml` (document 4) declares Deployment.apps `ns/op` a second time: \
             `0000_10_a_01.yaml`",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(subject, head)| (subject.to_string(), head.to_string()))
        .collect();
    assert_eq!(found, expected);
}
