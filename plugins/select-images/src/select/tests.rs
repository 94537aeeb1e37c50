use compose_plugin_sdk::testing::{MemoryRegistry, MemoryRelease};

use super::*;

const CVO: &str = "quay.io/okd/scos-content@sha256:0000000000000000000000000000000000000000000000000000000000000000";
const CLI: &str = "quay.io/okd/scos-content@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const MCO: &str = "quay.io/okd/scos-content@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const RHEL: &str = "quay.io/okd/scos-content@sha256:3333333333333333333333333333333333333333333333333333333333333333";
const NEW_CLI_DIGEST: &str =
    "sha256:4444444444444444444444444444444444444444444444444444444444444444";

fn release() -> MemoryRelease {
    MemoryRelease::new("4.17.0-okd-scos.0")
        .with_image(CLUSTER_VERSION_OPERATOR, CVO, &[])
        .with_image("cli", CLI, &[(image::COMMIT_ID, "old")])
        .with_image("machine-config-operator", MCO, &[])
        .with_image("ose-tools-rhel9", RHEL, &[])
        .with_manifest("0000_50_cli_deployment.yaml", &format!("image: {CLI}\n"))
        .with_manifest("0000_80_mco.yaml", &format!("image: {MCO}\ncli: {CLI}\n"))
}

fn registry() -> MemoryRegistry {
    let operator = [("io.openshift.release.operator", "true")];
    MemoryRegistry::new()
        .with_image(
            CVO,
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            &[],
        )
        .with_image(
            CLI,
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            &[],
        )
        .with_image(
            MCO,
            "sha256:2222222222222222222222222222222222222222222222222222222222222222",
            &operator,
        )
        .with_image(
            RHEL,
            "sha256:3333333333333333333333333333333333333333333333333333333333333333",
            &[("vendor", "Red Hat, Inc.")],
        )
        .with_image(
            "quay.io/example/cli:v2",
            NEW_CLI_DIGEST,
            &[
                (image::COMMIT_ID, "abc"),
                (image::SOURCE_LOCATION, "https://github.com/openshift/oc"),
                (image::VERSIONS, "kubectl=1.30.1"),
                ("vendor", "Example"),
                ("io.openshift.release.operator", "true"),
            ],
        )
}

fn config(json: &str) -> Config {
    Config::parse(json).unwrap()
}

#[test]
fn exclude_only_never_calls_the_registry() {
    let release = release();
    let registry = registry();
    let findings = run(&config(r#"{"exclude": ["*-rhel*"]}"#), &release, &registry).unwrap();
    assert!(registry.calls().is_empty(), "{:?}", registry.calls());
    assert_eq!(
        release.image_names(),
        ["cli", CLUSTER_VERSION_OPERATOR, "machine-config-operator"]
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].check, "image-dropped");
    assert_eq!(findings[0].subject.as_deref(), Some("ose-tools-rhel9"));
    assert!(findings[0].passed);
    assert_eq!(
        findings[0].message,
        "dropped `ose-tools-rhel9`: matched by `exclude` pattern `*-rhel*`"
    );
}

#[test]
fn include_keeps_only_matching_tags() {
    let release = release();
    let plan = plan(
        &config(r#"{"include": ["cluster-*", "machine-*"]}"#),
        &release.images(),
        &registry(),
    )
    .unwrap();
    let dropped: Vec<&str> = plan.drops.iter().map(|(tag, _)| tag.as_str()).collect();
    assert_eq!(dropped, ["cli", "ose-tools-rhel9"]);
    assert!(
        plan.drops
            .iter()
            .all(|(_, r)| *r == DropReason::NotIncluded)
    );
}

#[test]
fn dropping_the_cvo_is_an_error() {
    let images = release().images();
    let error = plan(
        &config(r#"{"exclude": ["*operator"]}"#),
        &images,
        &registry(),
    )
    .unwrap_err();
    assert!(
        error.contains("would drop `cluster-version-operator`"),
        "{error}"
    );
    assert!(error.contains("`*operator`"), "{error}");
    let error = plan(&config(r#"{"include": ["cli"]}"#), &images, &registry()).unwrap_err();
    assert!(error.contains("no `include` pattern"), "{error}");
}

#[test]
fn require_labels_fetches_configs_and_spares_the_cvo() {
    let release = release();
    let registry = registry();
    let config = config(r#"{"require-labels": {"io.openshift.release.operator": "true"}}"#);
    let findings = run(&config, &release, &registry).unwrap();
    assert_eq!(
        release.image_names(),
        [CLUSTER_VERSION_OPERATOR, "machine-config-operator"]
    );
    assert_eq!(findings.len(), 2);
    assert_eq!(
        findings[0].message,
        "dropped `cli`: its image has no label `io.openshift.release.operator` (required: `true`)"
    );
    // One config read per image checked; none for the CVO; no resolve.
    assert_eq!(
        registry.calls(),
        [
            format!("image-config {CLI}"),
            format!("image-config {MCO}"),
            format!("image-config {RHEL}")
        ]
    );
}

#[test]
fn require_labels_any_value_and_wrong_value() {
    let images = release().images();
    let any = plan(
        &config(r#"{"require-labels": {"vendor": "*"}}"#),
        &images,
        &registry(),
    )
    .unwrap();
    let dropped: Vec<&str> = any.drops.iter().map(|(tag, _)| tag.as_str()).collect();
    assert_eq!(dropped, ["cli", "machine-config-operator"]);
    let exact = plan(
        &config(r#"{"require-labels": {"vendor": "CentOS"}}"#),
        &images,
        &registry(),
    )
    .unwrap();
    assert_eq!(
        exact.drops[2].1.describe(),
        "its image has label `vendor` = `Red Hat, Inc.`, required `CentOS`"
    );
}

#[test]
fn replace_pins_rebuilds_annotations_and_rewrites_manifests() {
    let release = release();
    let registry = registry();
    let findings = run(
        &config(r#"{"replace": {"cli": "quay.io/example/cli:v2"}}"#),
        &release,
        &registry,
    )
    .unwrap();
    let new_pullspec = format!("quay.io/example/cli@{NEW_CLI_DIGEST}");
    let cli = release.image("cli").unwrap();
    assert_eq!(cli.pullspec, new_pullspec);
    assert_eq!(
        cli.annotations,
        [
            (image::COMMIT_ID.to_string(), "abc".to_string()),
            (image::COMMIT_REF.to_string(), String::new()),
            (
                image::SOURCE_LOCATION.to_string(),
                "https://github.com/openshift/oc".to_string()
            ),
            (image::VERSIONS.to_string(), "kubectl=1.30.1".to_string()),
        ]
    );
    assert_eq!(
        release.read_manifest("0000_80_mco.yaml").unwrap(),
        format!("image: {MCO}\ncli: {new_pullspec}\n")
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].check, "image-replaced");
    assert!(
        findings[0]
            .message
            .ends_with("rewrote 2 manifests: `0000_50_cli_deployment.yaml`, `0000_80_mco.yaml`"),
        "{}",
        findings[0].message
    );
    assert_eq!(
        registry.calls(),
        [
            "resolve quay.io/example/cli:v2".to_string(),
            format!("image-config {new_pullspec}")
        ]
    );
}

#[test]
fn replacement_is_checked_against_require_labels() {
    let images = release().images();
    let ok = plan(
            &config(r#"{"replace": {"cli": "quay.io/example/cli:v2"}, "require-labels": {"io.openshift.release.operator": "*"}}"#),
            &images,
            &registry(),
        )
        .unwrap();
    assert_eq!(ok.replacements.len(), 1);
    let error = plan(
            &config(r#"{"replace": {"cli": "quay.io/example/cli:v2"}, "require-labels": {"vendor": "Other"}}"#),
            &images,
            &registry(),
        )
        .unwrap_err();
    assert!(
        error.starts_with("`replace.cli`: the replacement image does not pass"),
        "{error}"
    );
}

#[test]
fn bad_replacements_are_errors_naming_the_tag() {
    let images = release().images();
    let error = plan(
        &config(r#"{"replace": {"nope": "quay.io/x:y"}}"#),
        &images,
        &registry(),
    )
    .unwrap_err();
    assert_eq!(
        error,
        "`replace.nope`: the payload has no tag `nope` to replace"
    );
    let error = plan(
        &config(r#"{"replace": {"cli": "quay.io/missing:v1"}}"#),
        &images,
        &registry(),
    )
    .unwrap_err();
    assert!(
        error.starts_with("`replace.cli`: cannot resolve `quay.io/missing:v1`"),
        "{error}"
    );
    let error = plan(
        &config(r#"{"replace": {"cli": "quay.io/example/cli:v2"}, "exclude": ["cli"]}"#),
        &images,
        &registry(),
    )
    .unwrap_err();
    assert!(
        error.starts_with("`replace.cli` names a tag this config drops"),
        "{error}"
    );
}

#[test]
fn config_errors_name_the_key() {
    assert_eq!(
        Config::parse(r#"{"exclude": ["a["]}"#).unwrap_err(),
        "`exclude`: invalid glob `a[`: a `[` must be closed by `]`"
    );
    assert!(
        Config::parse(r#"{"require_labels": {}}"#)
            .unwrap_err()
            .contains("unknown field `require_labels`")
    );
    assert!(
        Config::parse(r#"{"require-labels": {"vendor": ""}}"#)
            .unwrap_err()
            .starts_with("`require-labels.vendor`")
    );
    assert!(
        Config::parse(r#"{"replace": {"cli": ""}}"#)
            .unwrap_err()
            .starts_with("`replace.cli`")
    );
    assert_eq!(Config::parse("{}").unwrap(), Config::default());
}

#[test]
fn schema_lists_exactly_the_config_keys() {
    let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
    let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["exclude", "include", "replace", "require-labels"]);
    for key in keys {
        let value = if key == "include" || key == "exclude" {
            "[]"
        } else {
            "{}"
        };
        Config::parse(&format!(r#"{{"{key}": {value}}}"#)).unwrap();
    }
}
