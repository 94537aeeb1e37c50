//! `os-image`: the release's node OS image tags and the machine-config-operator's
//! `machine-config-osimageurl` ConfigMap agree with the OS image the stream ships.
//!
//! - the configured `os-image` (and `extensions-image`, when set) tags exist;
//! - no other OS tag remains: `machine-os-content`, `fedora-coreos*`, `rhel-coreos*`,
//!   `centos-stream-coreos*`, `stream-coreos*` (payload-format.md §6);
//! - every ConfigMap `machine-config-osimageurl` (namespace `openshift-machine-config-operator`)
//!   has `baseOSContainerImage` = the OS image's pullspec and, when `extensions-image` is set,
//!   `baseOSExtensionsContainerImage` = the extensions image's pullspec; there must be one.

use compose_plugin_sdk::{Finding, Image, Release, yaml};

use super::Report;
use super::manifests::{documents, str_at};
use crate::config::Config;

/// The ConfigMap that tells the machine-config-operator which OS image to use.
pub const OSIMAGEURL: &str = "machine-config-osimageurl";
/// Its namespace.
pub const MCO_NAMESPACE: &str = "openshift-machine-config-operator";

/// Whether a tag names a node OS image (of any OKD, OCP or older payload).
pub fn is_os_tag(tag: &str) -> bool {
    tag == "machine-os-content"
        || [
            "fedora-coreos",
            "rhel-coreos",
            "centos-stream-coreos",
            "stream-coreos",
        ]
        .iter()
        .any(|prefix| tag.starts_with(prefix))
}

/// The check.
pub fn check(
    mut report: Report,
    config: &Config,
    release: &impl Release,
    images: &[Image],
) -> Vec<Finding> {
    let Some(os_tag) = config.os_image.as_deref() else {
        // `Config::parse` requires `os-image` while this check is enabled.
        report.fail(None, "no `os-image` is configured");
        return report.finish("");
    };
    let extensions_tag = config.extensions_image.as_deref();
    let pullspec_of = |tag: &str| {
        images
            .iter()
            .find(|image| image.name == tag)
            .map(|image| image.pullspec.clone())
    };

    // The configured tags exist.
    let os = pullspec_of(os_tag);
    if os.is_none() {
        report.fail(
            Some(os_tag),
            format!("the release has no tag `{os_tag}` (the configured `os-image`)"),
        );
    }
    let extensions = extensions_tag.map(|tag| (tag, pullspec_of(tag)));
    if let Some((tag, None)) = extensions {
        report.fail(
            Some(tag),
            format!("the release has no tag `{tag}` (the configured `extensions-image`)"),
        );
    }

    // No other OS tag remains.
    let shipped = match extensions_tag {
        Some(tag) => format!("`{os_tag}` and `{tag}`"),
        None => format!("`{os_tag}`"),
    };
    for image in images {
        let configured = image.name == os_tag || Some(image.name.as_str()) == extensions_tag;
        if is_os_tag(&image.name) && !configured {
            report.fail(
                Some(&image.name),
                format!(
                    "OS image tag `{}` (`{}`) is still in the release, which should ship only \
                     {shipped} (set `extensions-image` if this is the stream's extensions image)",
                    image.name, image.pullspec
                ),
            );
        }
    }

    // The MCO's ConfigMap points at them.
    let expected = [
        ("baseOSContainerImage", os_tag, os),
        (
            "baseOSExtensionsContainerImage",
            extensions_tag.unwrap_or_default(),
            extensions.and_then(|(_, pullspec)| pullspec),
        ),
    ];
    let mut configmaps = 0;
    for file in release.grep_manifests(OSIMAGEURL) {
        let Some(text) = release.read_manifest(&file) else {
            continue;
        };
        let docs = match documents(&text) {
            Ok(docs) => docs,
            Err((number, message, _)) => {
                // A file that merely mentions the name (an operator's arguments) is not the one.
                if yaml::find_resource(&text, "ConfigMap", OSIMAGEURL).is_some() {
                    configmaps += 1;
                    report.fail(
                        Some(&file),
                        format!(
                            "the file holding the ConfigMap `{OSIMAGEURL}` does not parse \
                             (document {number}: {message})"
                        ),
                    );
                }
                continue;
            }
        };
        for doc in &docs {
            let is_it = str_at(doc, &["kind"]) == Some("ConfigMap")
                && str_at(doc, &["metadata", "name"]) == Some(OSIMAGEURL)
                && str_at(doc, &["metadata", "namespace"]).is_none_or(|ns| ns == MCO_NAMESPACE);
            if !is_it {
                continue;
            }
            configmaps += 1;
            for (key, tag, want) in &expected {
                if tag.is_empty() {
                    continue;
                }
                let Some(want) = want else { continue };
                match str_at(doc, &["data", key]) {
                    Some(have) if have == want => {}
                    Some(have) => report.fail(
                        Some(&file),
                        format!(
                            "ConfigMap `{OSIMAGEURL}`: `{key}` is `{have}`, expected `{want}` \
                             (the pullspec of `{tag}`)"
                        ),
                    ),
                    None => report.fail(
                        Some(&file),
                        format!(
                            "ConfigMap `{OSIMAGEURL}`: `data.{key}` is missing, expected `{want}` \
                             (the pullspec of `{tag}`)"
                        ),
                    ),
                }
            }
        }
    }
    if configmaps == 0 {
        report.fail(
            None,
            format!(
                "no manifest holds the ConfigMap `{MCO_NAMESPACE}/{OSIMAGEURL}` that tells the \
                 machine-config-operator which OS image to use"
            ),
        );
    }
    let only = if extensions_tag.is_some() {
        "the release's only OS image tags"
    } else {
        "the release's only OS image tag"
    };
    report.finish(format!(
        "{shipped} {} {only}, and the ConfigMap `{OSIMAGEURL}` points at {}",
        if extensions_tag.is_some() {
            "are"
        } else {
            "is"
        },
        if extensions_tag.is_some() {
            "them"
        } else {
            "it"
        },
    ))
}

#[cfg(test)]
mod tests {
    use compose_plugin_sdk::testing::MemoryRelease;

    use super::super::fixtures::*;
    use super::*;
    use crate::config::OS_IMAGE;

    const FCOS: &str = "quay.io/openshift/okd-content@sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn scos() -> Config {
        Config::parse(
            r#"{"os-image": "stream-coreos", "extensions-image": "stream-coreos-extensions"}"#,
        )
        .unwrap()
    }

    fn run(config: &Config, release: &MemoryRelease) -> Vec<Finding> {
        check(report(OS_IMAGE), config, release, &release.images())
    }

    #[test]
    fn os_tags_are_recognised() {
        for tag in [
            "fedora-coreos",
            "rhel-coreos",
            "rhel-coreos-extensions",
            "rhel-coreos-10",
            "centos-stream-coreos-9",
            "stream-coreos",
            "stream-coreos-extensions",
            "machine-os-content",
        ] {
            assert!(is_os_tag(tag), "{tag}");
        }
        for tag in ["machine-os-images", "coreos-installer", "ironic"] {
            assert!(!is_os_tag(tag), "{tag}");
        }
    }

    #[test]
    fn a_consistent_release_passes() {
        let findings = run(&scos(), &release());
        assert_eq!(findings.len(), 1);
        assert!(findings[0].passed);

        // Without an extensions image configured, only the OS image is compared.
        let release = MemoryRelease::new(NAME)
            .with_image("stream-coreos", &pullspec('4'), &[])
            .with_manifest(OSIMAGEURL_FILE, &osimageurl(&pullspec('4'), ""));
        let config = Config::parse(r#"{"os-image": "stream-coreos"}"#).unwrap();
        let findings = run(&config, &release);
        assert_eq!(
            summary(&findings).as_deref(),
            Some(
                "`stream-coreos` is the release's only OS image tag, and the ConfigMap \
                 `machine-config-osimageurl` points at it"
            )
        );
    }

    #[test]
    fn a_stale_fcos_tag_fails() {
        let release = release().with_image("fedora-coreos", FCOS, &[]);
        let findings = run(&scos(), &release);
        assert_eq!(
            errors(&findings),
            [(
                "fedora-coreos".to_string(),
                format!(
                    "OS image tag `fedora-coreos` (`{FCOS}`) is still in the release, which \
                     should ship only `stream-coreos` and `stream-coreos-extensions` (set \
                     `extensions-image` if this is the stream's extensions image)"
                )
            )]
        );
        assert_eq!(summary(&findings), None);
    }

    #[test]
    fn missing_configured_tags_fail() {
        let release = release();
        release.remove_image("stream-coreos-extensions");
        let findings = run(&scos(), &release);
        assert_eq!(
            errors(&findings),
            [(
                "stream-coreos-extensions".to_string(),
                "the release has no tag `stream-coreos-extensions` (the configured \
                 `extensions-image`)"
                    .to_string()
            )]
        );
        // The unconfigured extensions tag is a leftover OS tag.
        let config = Config::parse(r#"{"os-image": "stream-coreos"}"#).unwrap();
        let findings = run(&config, &self::release());
        assert_eq!(errors(&findings)[0].0, "stream-coreos-extensions");
        let config = Config::parse(r#"{"os-image": "rhel-coreos"}"#).unwrap();
        let findings = run(&config, &self::release());
        assert_eq!(
            errors(&findings)[0],
            (
                "rhel-coreos".to_string(),
                "the release has no tag `rhel-coreos` (the configured `os-image`)".to_string()
            )
        );
    }

    #[test]
    fn a_configmap_mismatch_fails() {
        let release = release().with_manifest(
            OSIMAGEURL_FILE,
            &format!(
                "---\n# leading document\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n---\n{}",
                osimageurl(FCOS, "").replace("  baseOSExtensionsContainerImage: \"\"\n", "")
            ),
        );
        let findings = run(&scos(), &release);
        assert_eq!(
            errors(&findings),
            [
                (
                    OSIMAGEURL_FILE.to_string(),
                    format!(
                        "ConfigMap `machine-config-osimageurl`: `baseOSContainerImage` is \
                         `{FCOS}`, expected `{}` (the pullspec of `stream-coreos`)",
                        pullspec('4')
                    )
                ),
                (
                    OSIMAGEURL_FILE.to_string(),
                    format!(
                        "ConfigMap `machine-config-osimageurl`: `data.baseOSExtensionsContainerImage` \
                         is missing, expected `{}` (the pullspec of `stream-coreos-extensions`)",
                        pullspec('5')
                    )
                ),
            ]
        );
    }

    #[test]
    fn a_missing_configmap_fails() {
        let release = release().with_manifest(
            OSIMAGEURL_FILE,
            // Mentions the name, but in another namespace.
            &osimageurl(&pullspec('4'), &pullspec('5')).replace(
                "namespace: openshift-machine-config-operator",
                "namespace: elsewhere",
            ),
        );
        let findings = run(&scos(), &release);
        assert_eq!(
            errors(&findings),
            [(
                String::new(),
                "no manifest holds the ConfigMap \
                 `openshift-machine-config-operator/machine-config-osimageurl` that tells the \
                 machine-config-operator which OS image to use"
                    .to_string()
            )]
        );
        let release = release_with_broken_configmap();
        let findings = run(&scos(), &release);
        let errors = errors(&findings);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].1.starts_with(
                "the file holding the ConfigMap `machine-config-osimageurl` does not parse \
                 (document 1: "
            ),
            "{}",
            errors[0].1
        );
    }

    fn release_with_broken_configmap() -> MemoryRelease {
        release().with_manifest(
            OSIMAGEURL_FILE,
            &format!(
                "{}  broken: [\n",
                osimageurl(&pullspec('4'), &pullspec('5'))
            ),
        )
    }
}
