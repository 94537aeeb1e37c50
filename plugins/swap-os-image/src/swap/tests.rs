use compose_plugin_sdk::testing::{MemoryRegistry, MemoryRelease};

use super::*;

const FCOS: &str = "quay.io/openshift/okd-content@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const MCO: &str = "quay.io/openshift/okd-content@sha256:5555555555555555555555555555555555555555555555555555555555555555";
const SCOS_DIGEST: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const EXT_DIGEST: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const SCOS_REF: &str = "quay.io/okd/scos-content:4.17.0-okd-scos.0-stream-coreos";
const EXT_REF: &str = "quay.io/okd/scos-content:4.17.0-okd-scos.0-stream-coreos-extensions";

/// The OKD/FCOS 4.15 ConfigMap as it ships: the MCO `Dockerfile` comments out the
/// extensions key with `sed 's/^/#/'`; `oc` has put the FCOS pullspec in.
fn fcos_osimageurl() -> String {
    format!(
            "apiVersion: v1
kind: ConfigMap
metadata:
  name: machine-config-osimageurl
  namespace: openshift-machine-config-operator
  annotations:
    include.release.openshift.io/ibm-cloud-managed: \"true\"
    include.release.openshift.io/self-managed-high-availability: \"true\"
    include.release.openshift.io/single-node-developer: \"true\"
data:
  releaseVersion: 4.15.0-0.okd-2024-03-10-010116
  baseOSContainerImage: \"{FCOS}\"
#  baseOSExtensionsContainerImage: \"placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos-extensions\"
  osImageURL: \"\"
"
        )
}

fn fcos_release() -> MemoryRelease {
    MemoryRelease::new("4.17.0-okd-scos.0")
        .with_image(
            "fedora-coreos",
            FCOS,
            &[(image::VERSIONS, "machine-os=39.20240210.3.0")],
        )
        .with_image("machine-config-operator", MCO, &[])
        .with_manifest(
            "0000_80_machine-config-operator_05_osimageurl.yaml",
            &format!("---\n{}", fcos_osimageurl()),
        )
        .with_manifest(
            "0000_80_machine-config-operator_06_bootstrap.yaml",
            &format!("kind: Pod\nspec:\n  image: {FCOS}\n  other: {MCO}\n"),
        )
}

fn scos_registry() -> MemoryRegistry {
    MemoryRegistry::new()
        .with_image(
            SCOS_REF,
            SCOS_DIGEST,
            &[
                (image::SOURCE_LOCATION, "https://github.com/openshift/os"),
                (image::VERSIONS, "machine-os=9.0.20240801-0"),
                (
                    image::VERSION_DISPLAY_NAMES,
                    "machine-os=CentOS Stream CoreOS",
                ),
                ("containers.bootc", "1"),
            ],
        )
        .with_image(
            EXT_REF,
            EXT_DIGEST,
            &[("io.openshift.os.extensions", "true")],
        )
}

fn scos_config() -> Config {
    Config::parse(&format!(
            r#"{{"remove": ["fedora-coreos"], "images": {{"stream-coreos": "{SCOS_REF}", "stream-coreos-extensions": "{EXT_REF}"}}}}"#
        ))
        .unwrap()
}

#[test]
fn fcos_release_becomes_scos() {
    let release = fcos_release();
    let findings = run(&scos_config(), &release, &scos_registry()).unwrap();
    let os = format!("quay.io/okd/scos-content@{SCOS_DIGEST}");
    let ext = format!("quay.io/okd/scos-content@{EXT_DIGEST}");

    assert_eq!(
        release.image_names(),
        [
            "machine-config-operator",
            "stream-coreos",
            "stream-coreos-extensions"
        ]
    );
    let scos = release.image("stream-coreos").unwrap();
    assert_eq!(scos.pullspec, os);
    let annotations = image::annotations(&scos);
    assert_eq!(annotations[image::VERSIONS], "machine-os=9.0.20240801-0");
    assert_eq!(
        annotations[image::VERSION_DISPLAY_NAMES],
        "machine-os=CentOS Stream CoreOS"
    );
    assert_eq!(annotations[image::COMMIT_ID], "");
    assert!(!annotations.contains_key("containers.bootc"));

    let expected = format!(
            "---\n{}",
            fcos_osimageurl()
                .replace("4.15.0-0.okd-2024-03-10-010116", "4.17.0-okd-scos.0")
                .replace(FCOS, &os)
                .replace(
                    "#  baseOSExtensionsContainerImage: \"placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos-extensions\"",
                    &format!("  baseOSExtensionsContainerImage: \"{ext}\""),
                )
        );
    assert_eq!(
        release
            .read_manifest("0000_80_machine-config-operator_05_osimageurl.yaml")
            .unwrap(),
        expected
    );
    assert_eq!(
        release
            .read_manifest("0000_80_machine-config-operator_06_bootstrap.yaml")
            .unwrap(),
        format!("kind: Pod\nspec:\n  image: {os}\n  other: {MCO}\n")
    );

    let checks: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.check.as_str(), f.subject.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        checks,
        [
            ("os-tag-put", "stream-coreos"),
            ("os-tag-put", "stream-coreos-extensions"),
            ("os-tag-removed", "fedora-coreos"),
            (
                "manifest-rewritten",
                "0000_80_machine-config-operator_05_osimageurl.yaml"
            ),
            (
                "manifest-rewritten",
                "0000_80_machine-config-operator_06_bootstrap.yaml"
            ),
            (
                "osimageurl-updated",
                "0000_80_machine-config-operator_05_osimageurl.yaml"
            ),
        ]
    );
    assert!(findings.iter().all(|f| f.passed));
    assert!(
        findings[0].message.contains("machine-os 9.0.20240801-0"),
        "{}",
        findings[0].message
    );
    assert_eq!(
        findings[5].message,
        "ConfigMap `machine-config-osimageurl`: `baseOSContainerImage` already set, \
             `baseOSExtensionsContainerImage` uncommented and set, `osImageURL` already set, \
             `releaseVersion` set (was `4.15.0-0.okd-2024-03-10-010116`)"
    );
}

#[test]
fn updating_an_existing_scos_tag_rewrites_its_old_pullspec() {
    let old_ext = "quay.io/okd/scos-content@sha256:9999999999999999999999999999999999999999999999999999999999999999";
    let release = MemoryRelease::new("4.17.0-okd-scos.1")
            .with_image("stream-coreos", FCOS, &[])
            .with_image("stream-coreos-extensions", old_ext, &[])
            .with_manifest(
                "0000_80_machine-config_05_osimageurl.yaml",
                &format!(
                    "kind: ConfigMap\nmetadata:\n  name: machine-config-osimageurl\ndata:\n  releaseVersion: 4.17.0-okd-scos.0\n  baseOSContainerImage: \"{FCOS}\"\n  baseOSExtensionsContainerImage: \"{old_ext}\"\n  osImageURL: \"\"\n"
                ),
            );
    let mut config = scos_config();
    config.remove = vec!["stream-coreos".into()];
    run(&config, &release, &scos_registry()).unwrap();
    assert_eq!(
        release.image_names(),
        ["stream-coreos", "stream-coreos-extensions"]
    );
    let text = release
        .read_manifest("0000_80_machine-config_05_osimageurl.yaml")
        .unwrap();
    assert!(
        text.contains(&format!(
            "baseOSExtensionsContainerImage: \"quay.io/okd/scos-content@{EXT_DIGEST}\""
        )),
        "{text}"
    );
    assert!(
        text.contains("releaseVersion: 4.17.0-okd-scos.1\n"),
        "{text}"
    );
    assert!(!text.contains(old_ext) && !text.contains(FCOS), "{text}");
}

#[test]
fn errors_name_the_tag_or_reference_and_change_nothing() {
    let release = fcos_release();
    let mut config = scos_config();
    config.remove = vec!["fedora-coreos".into(), "fedora-coreos-extensions".into()];
    let error = run(&config, &release, &scos_registry()).unwrap_err();
    assert_eq!(
        error,
        "`remove`: the release has no tag `fedora-coreos-extensions` (set `optional = true` to allow that)"
    );
    assert!(release.image("fedora-coreos").is_some());

    config.optional = true;
    let findings = run(&config, &release, &scos_registry()).unwrap();
    assert_eq!(
        findings[0].subject.as_deref(),
        Some("fedora-coreos-extensions")
    );

    let release = fcos_release();
    let error = run(&scos_config(), &release, &MemoryRegistry::new()).unwrap_err();
    assert!(
        error.starts_with(&format!(
            "`images.stream-coreos`: cannot resolve `{SCOS_REF}`"
        )),
        "{error}"
    );
    assert!(release.image("stream-coreos").is_none());

    let release = MemoryRelease::new("x").with_image("fedora-coreos", FCOS, &[]);
    let error = run(&scos_config(), &release, &scos_registry()).unwrap_err();
    assert!(
        error.starts_with("no manifest holds the ConfigMap `machine-config-osimageurl`"),
        "{error}"
    );
    assert!(release.image("fedora-coreos").is_some());
}

#[test]
fn config_is_checked() {
    let error = Config::parse("{}").unwrap_err();
    assert_eq!(error, "invalid stage config: missing field `images`");
    let error = Config::parse(r#"{"images": {"stream-coreos": "quay.io/a:b"}}"#).unwrap_err();
    assert_eq!(
        error,
        "`images` must name the extensions image `stream-coreos-extensions` (or set `extensions-image`)"
    );
    let error = Config::parse(r#"{"images": {"a": "quay.io/a:b"}}"#).unwrap_err();
    assert_eq!(
        error,
        "`os-image` is `stream-coreos`, which `images` does not name"
    );
    let config = Config::parse(
            r#"{"images": {"fcos": "quay.io/a:b", "ext": "quay.io/a:c"}, "os-image": "fcos", "extensions-image": "ext"}"#,
        )
        .unwrap();
    assert_eq!(config.extensions_tag().unwrap(), "ext");
    assert!(
        Config::parse(r#"{"images": {}, "os_image": "x"}"#)
            .unwrap_err()
            .contains("unknown field `os_image`")
    );
}

#[test]
fn schema_lists_exactly_the_config_keys() {
    let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).unwrap();
    let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "extensions-image",
            "images",
            "optional",
            "os-image",
            "remove"
        ]
    );
}
