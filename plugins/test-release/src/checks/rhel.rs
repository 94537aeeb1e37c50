//! `no-rhel-content`: no component image is RHEL-licensed content (payload-format.md §8).
//!
//! For each image (tags matching `allow` excepted), the pullspec must not be on a Red Hat
//! registry, and the image config, read through the registry import, must carry none of the
//! labels that mark RHEL or OpenShift product content:
//! - `com.coreos.osname=rhcos` (RHEL CoreOS);
//! - `cpe` naming `redhat:enterprise_linux` or `redhat:openshift`;
//! - `name` starting with `rhel`, `openshift/ose-` or `openshift4/`;
//! - `com.redhat.component` not starting with `ubi`;
//! - `com.redhat.license_terms` = `https://www.redhat.com/agreements` (the RHEL EULA).
//!
//! Images whose only Red Hat labels are UBI ones (UBI EULA terms, a `ubi*` component or name)
//! are reported as warnings: UBI is redistributable, but such an image is worth a look (the
//! OKD `stream-coreos-extensions` image inherits UBI labels from its build stage).

use std::collections::BTreeMap;

use compose_plugin_sdk::{Finding, Image, Registry, Severity, glob, image};

use super::{Report, plural};
use crate::config::Config;

/// Pullspec prefixes of Red Hat's product registries.
const RED_HAT_REGISTRIES: [&str; 3] = [
    "registry.redhat.io/",
    "registry.access.redhat.com/",
    "quay.io/openshift-release-dev/",
];

/// The RHEL end-user license agreement, as `com.redhat.license_terms` names it.
const RHEL_TERMS: &str = "https://www.redhat.com/agreements";

/// What the labels say about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No Red Hat licensing label.
    Clean,
    /// Only UBI labels: what they are.
    Ubi(Vec<String>),
    /// RHEL or OpenShift product labels: what they are.
    Rhel(Vec<String>),
}

/// Judges an image by its config labels.
pub fn judge(labels: &BTreeMap<String, String>) -> Verdict {
    let label = |key: &str| labels.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut rhel = Vec::new();
    let mut ubi = Vec::new();
    if let Some(os) = label("com.coreos.osname")
        && os.eq_ignore_ascii_case("rhcos")
    {
        rhel.push("`com.coreos.osname` is `rhcos` (RHEL CoreOS)".to_string());
    }
    if let Some(cpe) = label("cpe") {
        let lower = cpe.to_ascii_lowercase();
        if lower.contains("redhat:enterprise_linux") || lower.contains("redhat:openshift") {
            rhel.push(format!("`cpe` is `{cpe}`, a Red Hat product"));
        }
    }
    if let Some(name) = label("name") {
        let lower = name.to_ascii_lowercase();
        if ["rhel", "openshift/ose-", "openshift4/"]
            .iter()
            .any(|prefix| lower.starts_with(prefix))
        {
            rhel.push(format!("`name` is `{name}`, a Red Hat product image"));
        } else if lower.starts_with("ubi") {
            ubi.push(format!("`name` is `{name}`"));
        }
    }
    if let Some(component) = label("com.redhat.component") {
        if component.to_ascii_lowercase().starts_with("ubi") {
            ubi.push(format!("`com.redhat.component` is `{component}`"));
        } else {
            rhel.push(format!(
                "`com.redhat.component` is `{component}`, a Red Hat build that is not UBI"
            ));
        }
    }
    if let Some(terms) = label("com.redhat.license_terms") {
        if terms.trim_end_matches('/').eq_ignore_ascii_case(RHEL_TERMS) {
            rhel.push("`com.redhat.license_terms` is the RHEL EULA".to_string());
        } else if terms.to_ascii_uppercase().contains("UBI") {
            ubi.push("`com.redhat.license_terms` is the UBI EULA".to_string());
        }
    }
    if !rhel.is_empty() {
        Verdict::Rhel(rhel)
    } else if !ubi.is_empty() {
        Verdict::Ubi(ubi)
    } else {
        Verdict::Clean
    }
}

/// The Red Hat registry a pullspec is on, if any.
fn red_hat_registry(pullspec: &str) -> Option<&'static str> {
    let lower = pullspec.to_ascii_lowercase();
    RED_HAT_REGISTRIES
        .iter()
        .find(|prefix| lower.starts_with(*prefix))
        .map(|prefix| prefix.trim_end_matches('/'))
}

/// The check.
pub fn check(
    mut report: Report,
    config: &Config,
    registry: &impl Registry,
    images: &[Image],
) -> Vec<Finding> {
    // Several tags may share one image: ask the registry once per pullspec.
    let mut cache: BTreeMap<&str, Result<BTreeMap<String, String>, String>> = BTreeMap::new();
    let (mut checked, mut allowed, mut ubi_only) = (0, 0, 0);
    for image in images {
        let tag = image.name.as_str();
        if let Some(pattern) = glob::first_match(&config.rhel_allow, tag) {
            allowed += 1;
            report.info(
                Some(tag),
                format!("skipped: allowed by `checks.no-rhel-content.allow` (`{pattern}`)"),
            );
            continue;
        }
        checked += 1;
        if let Some(host) = red_hat_registry(&image.pullspec) {
            report.fail(
                Some(tag),
                format!(
                    "`{}` is on the Red Hat registry `{host}`: its content is RHEL-licensed",
                    image.pullspec
                ),
            );
            continue;
        }
        let labels = cache.entry(image.pullspec.as_str()).or_insert_with(|| {
            registry
                .image_config(&image.pullspec)
                .and_then(|config| image::labels_from_config(&config))
        });
        let labels = match labels {
            Ok(labels) => labels,
            Err(reason) => {
                report.fail(
                    Some(tag),
                    format!(
                        "cannot read the image config of `{}`: {reason}",
                        image.pullspec
                    ),
                );
                continue;
            }
        };
        match judge(labels) {
            Verdict::Clean => {}
            Verdict::Rhel(reasons) => report.fail(
                Some(tag),
                format!(
                    "`{}` carries RHEL licensing labels: {}",
                    image.pullspec,
                    reasons.join("; ")
                ),
            ),
            Verdict::Ubi(reasons) => {
                ubi_only += 1;
                report.note(
                    Some(tag),
                    Severity::Warning,
                    format!(
                        "`{}` carries UBI labels ({}): a UBI base is redistributable, but check \
                         that the image holds no RHEL packages, or add the tag to \
                         `checks.no-rhel-content.allow`",
                        image.pullspec,
                        reasons.join(", ")
                    ),
                );
            }
        }
    }
    let mut summary = format!(
        "{} checked: none carries RHEL licensing labels or comes from a Red Hat registry",
        plural(checked, "image")
    );
    let mut aside = Vec::new();
    if ubi_only > 0 {
        aside.push(format!("{ubi_only} with UBI labels"));
    }
    if allowed > 0 {
        aside.push(format!("{allowed} allowed"));
    }
    if !aside.is_empty() {
        summary.push_str(&format!(" ({})", aside.join(", ")));
    }
    report.finish(summary)
}

#[cfg(test)]
mod tests {
    use compose_plugin_sdk::Release;
    use compose_plugin_sdk::testing::MemoryRegistry;

    use super::super::fixtures::*;
    use super::*;
    use crate::config::NO_RHEL_CONTENT;

    const UBI_TERMS: &str =
        "https://www.redhat.com/en/about/red-hat-end-user-license-agreements#UBI";

    fn config(allow: &[&str]) -> Config {
        Config::parse(
            &serde_json::json!({
                "os-image": "stream-coreos",
                "checks": {"no-rhel-content": {"allow": allow}},
            })
            .to_string(),
        )
        .unwrap()
    }

    fn run(config: &Config, registry: &MemoryRegistry) -> Vec<Finding> {
        check(
            report(NO_RHEL_CONTENT),
            config,
            registry,
            &release().images(),
        )
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn clean_images_pass() {
        let registry = registry();
        let findings = run(&config(&[]), &registry);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            summary(&findings).as_deref(),
            Some(
                "5 images checked: none carries RHEL licensing labels or comes from a Red Hat \
                 registry"
            )
        );
        assert_eq!(
            registry.calls(),
            TAGS.iter()
                .map(|(_, c)| format!("image-config {}", pullspec(*c)))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_sample_rhel_labels_are_an_error_naming_every_reason() {
        let registry = registry_with(&[("ironic", rhel_labels())]);
        let findings = run(&config(&[]), &registry);
        assert_eq!(
            errors(&findings),
            [(
                "ironic".to_string(),
                format!(
                    "`{}` carries RHEL licensing labels: `cpe` is \
                     `cpe:/a:redhat:openshift:4.15::el9`, a Red Hat product; `name` is \
                     `openshift/ose-ironic`, a Red Hat product image; `com.redhat.component` is \
                     `ironic-container`, a Red Hat build that is not UBI; \
                     `com.redhat.license_terms` is the RHEL EULA",
                    pullspec('2')
                )
            )]
        );
        assert_eq!(summary(&findings), None);
    }

    #[test]
    fn each_rhel_label_alone_is_enough() {
        for pairs in [
            [("com.coreos.osname", "rhcos")],
            [("cpe", "cpe:/o:redhat:enterprise_linux:9::baseos")],
            [("name", "rhel9/support-tools")],
            [("name", "openshift4/ose-cli-rhel9")],
            [("com.redhat.component", "rhel-server-container")],
            [(
                "com.redhat.license_terms",
                "https://www.redhat.com/agreements",
            )],
        ] {
            assert!(
                matches!(judge(&labels(&pairs)), Verdict::Rhel(ref r) if r.len() == 1),
                "{pairs:?}"
            );
        }
        for pairs in [
            [("com.coreos.osname", "scos")],
            [("cpe", "cpe:/o:centos:centos:9")],
            [("name", "okd/ironic")],
            [("vendor", "Red Hat, Inc.")],
        ] {
            assert_eq!(judge(&labels(&pairs)), Verdict::Clean, "{pairs:?}");
        }
    }

    #[test]
    fn ubi_only_labels_are_a_warning() {
        let ubi = vec![
            ("vendor", "Red Hat, Inc."),
            ("com.redhat.component", "ubi9-container"),
            ("com.redhat.license_terms", UBI_TERMS),
            ("name", "ubi9"),
        ];
        let registry = registry_with(&[("stream-coreos-extensions", ubi)]);
        let findings = run(&config(&[]), &registry);
        assert!(errors(&findings).is_empty());
        assert_eq!(
            failures(&findings),
            [(
                Severity::Warning,
                "stream-coreos-extensions".to_string(),
                format!(
                    "`{}` carries UBI labels (`name` is `ubi9`, `com.redhat.component` is \
                     `ubi9-container`, `com.redhat.license_terms` is the UBI EULA): a UBI base is \
                     redistributable, but check that the image holds no RHEL packages, or add the \
                     tag to `checks.no-rhel-content.allow`",
                    pullspec('5')
                )
            )]
        );
        assert_eq!(
            summary(&findings).as_deref(),
            Some(
                "5 images checked: none carries RHEL licensing labels or comes from a Red Hat \
                 registry (1 with UBI labels)"
            )
        );
        // UBI labels next to a RHEL one: the RHEL one wins.
        assert!(matches!(
            judge(&labels(&[
                ("com.redhat.component", "ubi9-container"),
                ("cpe", "cpe:/a:redhat:openshift:4.15::el9")
            ])),
            Verdict::Rhel(_)
        ));
    }

    #[test]
    fn allowed_tags_are_skipped_with_an_info_finding() {
        let registry = registry_with(&[
            ("ironic", rhel_labels()),
            ("stream-coreos-extensions", rhel_labels()),
        ]);
        let findings = run(&config(&["ironic*", "stream-coreos-extensions"]), &registry);
        assert!(findings.iter().all(|f| f.passed), "{findings:#?}");
        let infos: Vec<(&str, &str)> = findings
            .iter()
            .filter_map(|f| Some((f.subject.as_deref()?, f.message.as_str())))
            .collect();
        assert_eq!(
            infos,
            [
                (
                    "ironic",
                    "skipped: allowed by `checks.no-rhel-content.allow` (`ironic*`)"
                ),
                (
                    "stream-coreos-extensions",
                    "skipped: allowed by `checks.no-rhel-content.allow` (`stream-coreos-extensions`)"
                ),
            ]
        );
        assert_eq!(
            summary(&findings).as_deref(),
            Some(
                "3 images checked: none carries RHEL licensing labels or comes from a Red Hat \
                 registry (2 allowed)"
            )
        );
        // Allowed images are not even queried.
        assert_eq!(registry.calls().len(), 3);
    }

    #[test]
    fn a_registry_failure_is_an_error_naming_the_image() {
        // A registry that knows every image but `machine-config-operator`.
        let mut registry = MemoryRegistry::new();
        for (tag, c) in TAGS {
            if tag != "machine-config-operator" {
                registry = registry.with_image(&pullspec(c), &digest(c), &clean_labels());
            }
        }
        let findings = run(&config(&[]), &registry);
        assert_eq!(
            errors(&findings),
            [(
                "machine-config-operator".to_string(),
                format!(
                    "cannot read the image config of `{0}`: manifest unknown: `{0}`",
                    pullspec('3')
                )
            )]
        );
    }

    #[test]
    fn red_hat_registries_fail_without_a_query() {
        let release = release().with_image(
            "must-gather",
            &format!(
                "registry.redhat.io/openshift4/ose-must-gather@{}",
                digest('9')
            ),
            &[],
        );
        let registry = registry();
        let findings = check(
            report(NO_RHEL_CONTENT),
            &config(&[]),
            &registry,
            &release.images(),
        );
        assert_eq!(
            errors(&findings),
            [(
                "must-gather".to_string(),
                format!(
                    "`registry.redhat.io/openshift4/ose-must-gather@{}` is on the Red Hat \
                     registry `registry.redhat.io`: its content is RHEL-licensed",
                    digest('9')
                )
            )]
        );
        assert_eq!(registry.calls().len(), 5);
        assert_eq!(
            red_hat_registry("quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:x"),
            Some("quay.io/openshift-release-dev")
        );
        assert_eq!(red_hat_registry("quay.io/okd/scos-content@sha256:x"), None);
    }

    #[test]
    fn tags_sharing_a_pullspec_are_queried_once() {
        let release = release().with_image("ironic-agent", &pullspec('2'), &[]);
        let registry = registry_with(&[("ironic", rhel_labels())]);
        let findings = check(
            report(NO_RHEL_CONTENT),
            &config(&[]),
            &registry,
            &release.images(),
        );
        let subjects: Vec<String> = errors(&findings).into_iter().map(|(s, _)| s).collect();
        assert_eq!(subjects, ["ironic", "ironic-agent"]);
        assert_eq!(registry.calls().len(), 5);
    }
}
