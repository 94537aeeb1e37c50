//! The release checks: each reads the payload (never writes it) and reports findings.
//!
//! Every check reports one failed finding per failure, with the image tag or manifest file name
//! as subject, at the check's severity (configurable, `error` by default); and, when nothing
//! failed, one passed `info` finding summing up what was checked ("188 images pinned by
//! digest"). Some checks also report *notes*: failed findings of a fixed, lower severity
//! (`warning`: an image with UBI-derived labels, an unreplaced placeholder) or passed `info`
//! findings (a tag exempted by `allow`) that do not count as failures of the check. A disabled
//! check reports one passed `info` finding saying so.

mod cvo;
mod images;
mod manifest_images;
mod manifests;
mod metadata;
mod openpgp;
mod os_image;
mod rhel;
mod signatures;

use compose_plugin_sdk::{Finding, Registry, Release, Severity, finding};

use crate::config::{
    Config, IMAGES_PINNED, MANIFEST_IMAGES_KNOWN, MANIFESTS_VALID, NO_DUPLICATE_TAGS,
    NO_RHEL_CONTENT, OS_IMAGE, RELEASE_METADATA, SIGNATURES_VERIFY,
};

/// The findings of one check, as it collects them.
#[derive(Debug)]
pub struct Report {
    id: &'static str,
    severity: Severity,
    findings: Vec<Finding>,
    failures: usize,
}

impl Report {
    fn new(id: &'static str, severity: Severity) -> Self {
        Self {
            id,
            severity,
            findings: Vec::new(),
            failures: 0,
        }
    }

    /// A failure of the check, at the check's severity.
    fn fail(&mut self, subject: Option<&str>, message: impl Into<String>) {
        self.failures += 1;
        self.findings.push(finding::make(
            self.id,
            false,
            self.severity,
            subject,
            message,
        ));
    }

    /// A failed finding of at most `severity` (never above the check's own) that does not make
    /// the check fail: a warning-level concern such as UBI-derived labels.
    fn note(&mut self, subject: Option<&str>, severity: Severity, message: impl Into<String>) {
        let severity = if rank(severity) <= rank(self.severity) {
            severity
        } else {
            self.severity
        };
        self.findings
            .push(finding::make(self.id, false, severity, subject, message));
    }

    /// A passed finding, for information (e.g. a tag skipped by `allow`).
    fn info(&mut self, subject: Option<&str>, message: impl Into<String>) {
        self.findings.push(finding::info(self.id, subject, message));
    }

    /// Whether a failure was reported so far.
    fn failed(&self) -> bool {
        self.failures > 0
    }

    /// The findings, with the passed summary `summary` last when nothing failed.
    fn finish(mut self, summary: impl Into<String>) -> Vec<Finding> {
        if !self.failed() {
            self.findings.push(finding::info(self.id, None, summary));
        }
        self.findings
    }
}

/// `1 manifest`, `2 manifests`: a count with its noun.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Orders severities: info < warning < error.
fn rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Error => 2,
    }
}

/// Runs every check, in the order of [`crate::config::ALL_CHECKS`] (a disabled one reports
/// that it was skipped): what the host's run of every part gives, for the unit tests.
#[cfg(test)]
pub fn run(config: &Config, release: &impl Release, registry: &impl Registry) -> Vec<Finding> {
    crate::config::ALL_CHECKS
        .iter()
        .filter_map(|id| run_one(id, config, release, registry))
        .flatten()
        .collect()
}

/// Runs the check `id` alone (a disabled one reports that it was skipped), reading the
/// release's images only when the check needs them. `None`: `id` is not one of
/// [`crate::config::ALL_CHECKS`].
pub fn run_one(
    id: &str,
    config: &Config,
    release: &impl Release,
    registry: &impl Registry,
) -> Option<Vec<Finding>> {
    let id = *crate::config::ALL_CHECKS
        .iter()
        .find(|known| **known == id)?;
    let setting = config.setting(id);
    if !setting.enabled {
        return Some(vec![finding::info(
            id,
            None,
            format!("skipped: disabled by the stage config (`checks.{id}.enabled = false`)"),
        )]);
    }
    let report = Report::new(id, setting.severity);
    let images = || release.images();
    Some(match id {
        IMAGES_PINNED => images::pinned(report, &images()),
        NO_DUPLICATE_TAGS => images::no_duplicates(report, &images()),
        MANIFEST_IMAGES_KNOWN => manifest_images::check(report, release, &images()),
        OS_IMAGE => os_image::check(report, config, release, &images()),
        NO_RHEL_CONTENT => rhel::check(report, config, registry, &images()),
        MANIFESTS_VALID => manifests::check(report, release),
        RELEASE_METADATA => metadata::check(report, config, release),
        SIGNATURES_VERIFY => signatures::check(report, release),
        _ => return None,
    })
}

/// Test data shared by the checks' tests: an OKD/SCOS-shaped release that passes every check.
#[cfg(test)]
pub(crate) mod fixtures {
    use compose_plugin_sdk::testing::{MemoryRegistry, MemoryRelease};
    use compose_plugin_sdk::{Finding, Severity};

    use super::{Report, rank};

    pub const NAME: &str = "4.17.0-okd-scos.0";

    /// `quay.io/okd/scos-content@sha256:<hex>`, the hex made of `c` repeated.
    pub fn pullspec(c: char) -> String {
        format!(
            "quay.io/okd/scos-content@sha256:{}",
            c.to_string().repeat(64)
        )
    }

    pub fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// The tags of the good release, with the hex digit of their digests.
    pub const TAGS: [(&str, char); 5] = [
        ("cluster-version-operator", '1'),
        ("ironic", '2'),
        ("machine-config-operator", '3'),
        ("stream-coreos", '4'),
        ("stream-coreos-extensions", '5'),
    ];

    pub const OSIMAGEURL_FILE: &str = "0000_80_machine-config-operator_05_osimageurl.yaml";

    pub fn osimageurl(os: &str, extensions: &str) -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: machine-config-osimageurl\n  namespace: openshift-machine-config-operator\n  annotations:\n    include.release.openshift.io/self-managed-high-availability: \"true\"\ndata:\n  releaseVersion: {NAME}\n  # The OS image every node runs.\n  baseOSContainerImage: \"{os}\"\n  baseOSExtensionsContainerImage: \"{extensions}\"\n  osImageURL: \"\"\n"
        )
    }

    /// A release that passes every check.
    pub fn release() -> MemoryRelease {
        let mut release = MemoryRelease::new(NAME);
        for (tag, c) in TAGS {
            release = release.with_image(tag, &pullspec(c), &[]);
        }
        release
            .with_manifest(OSIMAGEURL_FILE, &osimageurl(&pullspec('4'), &pullspec('5')))
            .with_manifest(
                "0000_50_machine-config-operator_00_namespace.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: openshift-machine-config-operator\n",
            )
            .with_manifest(
                "0000_80_machine-config-operator_04_deployment.yaml",
                &format!(
                    "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: machine-config-operator\n  namespace: openshift-machine-config-operator\nspec:\n  template:\n    spec:\n      containers:\n      - name: operator\n        image: {}\n        args:\n        - --images-json=/etc/mco/images/images.json\n        - \"--payload-version={NAME}\"\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: machine-config-operator\n  namespace: openshift-machine-config-operator\n...\n",
                    pullspec('3')
                ),
            )
            .with_manifest(
                "0000_90_cluster-update-keys_configmap.json",
                r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "release-verification", "namespace": "openshift-config-managed"}, "data": {}}"#,
            )
    }

    /// SCOS-like labels: nothing Red Hat.
    pub fn clean_labels() -> Vec<(&'static str, &'static str)> {
        vec![
            (
                "io.openshift.build.source-location",
                "https://github.com/openshift/x",
            ),
            ("License", "ASL 2.0"),
        ]
    }

    /// The labels the sample's RHEL-labelled FCOS images carry (host/samples components.rs).
    pub fn rhel_labels() -> Vec<(&'static str, &'static str)> {
        vec![
            ("vendor", "Red Hat, Inc."),
            ("com.redhat.component", "ironic-container"),
            (
                "com.redhat.license_terms",
                "https://www.redhat.com/agreements",
            ),
            ("name", "openshift/ose-ironic"),
            ("cpe", "cpe:/a:redhat:openshift:4.15::el9"),
        ]
    }

    /// A registry answering for every image of [`release`] with clean labels.
    pub fn registry() -> MemoryRegistry {
        registry_with(&[])
    }

    /// Like [`registry`], with other labels for some tags.
    pub fn registry_with<'a>(overrides: &[(&str, Vec<(&'a str, &'a str)>)]) -> MemoryRegistry {
        let mut registry = MemoryRegistry::new();
        for (tag, c) in TAGS {
            let labels = overrides.iter().find(|(t, _)| *t == tag).map_or_else(
                || {
                    clean_labels()
                        .into_iter()
                        .collect::<Vec<(&'a str, &'a str)>>()
                },
                |(_, labels)| labels.clone(),
            );
            registry = registry.with_image(&pullspec(c), &digest(c), &labels);
        }
        registry
    }

    pub fn report(id: &'static str) -> Report {
        Report::new(id, Severity::Error)
    }

    /// The failed findings, as (severity, subject, message).
    pub fn failures(findings: &[Finding]) -> Vec<(Severity, String, String)> {
        findings
            .iter()
            .filter(|f| !f.passed)
            .map(|f| {
                (
                    f.severity,
                    f.subject.clone().unwrap_or_default(),
                    f.message.clone(),
                )
            })
            .collect()
    }

    /// The failed findings at `error` severity.
    pub fn errors(findings: &[Finding]) -> Vec<(String, String)> {
        failures(findings)
            .into_iter()
            .filter(|(s, _, _)| rank(*s) == 2)
            .map(|(_, subject, message)| (subject, message))
            .collect()
    }

    /// The message of the passed summary (a passed finding without subject), if there is one.
    pub fn summary(findings: &[Finding]) -> Option<String> {
        findings
            .iter()
            .find(|f| f.passed && f.subject.is_none())
            .map(|f| f.message.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::config::ALL_CHECKS;

    fn config(json: &str) -> Config {
        Config::parse(json).unwrap()
    }

    const SCOS: &str = r#"{"os-image": "stream-coreos", "extensions-image": "stream-coreos-extensions", "known-releases": ["4.16.0-okd-scos.0"]}"#;

    #[test]
    fn a_good_release_passes_every_check_with_one_summary_each() {
        let release = release();
        let registry = registry();
        let findings = run(&config(SCOS), &release, &registry);
        assert!(
            findings.iter().all(|f| f.passed),
            "{:#?}",
            failures(&findings)
        );
        let checks: Vec<&str> = findings.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(checks, ALL_CHECKS);
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "5 images pinned by digest",
                "5 tag names, all distinct (ignoring case, `_` and `-`)",
                "3 digest pullspecs in 2 manifests, all images of the release",
                "`stream-coreos` and `stream-coreos-extensions` are the release's only OS image tags, \
                 and the ConfigMap `machine-config-osimageurl` points at them",
                "5 images checked: none carries RHEL licensing labels or comes from a Red Hat registry",
                "4 manifests (5 documents) parse, carry apiVersion, kind and metadata.name, \
                 declare each resource once, and are named `0000_NN_<component>_<name>`",
                "`4.17.0-okd-scos.0` is a valid version; its 0 `previous` and 0 `next` edges are \
                 valid semver and in `known-releases`",
                "no signatures: the release is unsigned",
            ]
        );
        // Read-only: one image-config query per image and nothing else.
        assert_eq!(registry.calls().len(), 5);
    }

    #[test]
    fn a_stream_that_keeps_a_rhel_image_and_the_fcos_tag_fails() {
        let fcos = "quay.io/openshift/okd-content@sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let release = release().with_image("fedora-coreos", fcos, &[]);
        let mut registry = registry_with(&[("ironic", rhel_labels())]);
        registry = registry.with_image(
            fcos,
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            &[("com.coreos.osname", "fedora-coreos")],
        );
        let findings = run(&config(SCOS), &release, &registry);
        let failed: Vec<(&str, &str)> = findings
            .iter()
            .filter(|f| !f.passed && f.severity == Severity::Error)
            .map(|f| (f.check.as_str(), f.subject.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            failed,
            [("os-image", "fedora-coreos"), ("no-rhel-content", "ironic")]
        );
        // The checks that passed still say so.
        assert_eq!(findings.iter().filter(|f| f.passed).count(), 6);
        // Each check run alone (a part) reports its own findings, and only those.
        let mut parts = Vec::new();
        for id in ALL_CHECKS {
            let alone = run_one(id, &config(SCOS), &release, &registry).unwrap();
            assert!(alone.iter().all(|f| f.check == id), "{id}: {alone:?}");
            parts.extend(alone);
        }
        assert_eq!(parts, findings);
        assert!(run_one("no-such-check", &config(SCOS), &release, &registry).is_none());
    }

    #[test]
    fn severity_override_and_disabled_checks() {
        let release = release().with_image("cli", "quay.io/okd/scos-content:latest", &[]);
        let config = config(
            r#"{"os-image": "stream-coreos", "extensions-image": "stream-coreos-extensions",
                "checks": {"images-pinned": {"severity": "warning"},
                           "no-rhel-content": {"enabled": false},
                           "manifest-images-known": {"enabled": false}}}"#,
        );
        let registry = registry();
        let findings = run(&config, &release, &registry);
        assert_eq!(
            failures(&findings),
            [(
                Severity::Warning,
                "cli".to_string(),
                "`quay.io/okd/scos-content:latest` is not pinned by digest: it has no \
                 `@sha256:` digest"
                    .to_string()
            )]
        );
        let disabled: Vec<(&str, &str)> = findings
            .iter()
            .filter(|f| f.message.starts_with("skipped"))
            .map(|f| (f.check.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(
            disabled,
            [
                (
                    "manifest-images-known",
                    "skipped: disabled by the stage config (`checks.manifest-images-known.enabled = false`)"
                ),
                (
                    "no-rhel-content",
                    "skipped: disabled by the stage config (`checks.no-rhel-content.enabled = false`)"
                ),
            ]
        );
        assert!(
            findings
                .iter()
                .filter(|f| f.message.starts_with("skipped"))
                .all(|f| f.passed && f.severity == Severity::Info && f.subject.is_none())
        );
        // A disabled no-rhel-content never queries the registry.
        assert!(registry.calls().is_empty());
    }

    #[test]
    fn notes_never_exceed_the_check_severity() {
        let mut report = Report::new("x", Severity::Info);
        report.note(Some("a"), Severity::Warning, "ubi");
        assert_eq!(report.findings[0].severity, Severity::Info);
        assert!(!report.failed());
        let findings = report.finish("all good");
        assert_eq!(findings.len(), 2);
        assert_eq!(summary(&findings).as_deref(), Some("all good"));

        let mut report = Report::new("x", Severity::Error);
        report.note(None, Severity::Warning, "ubi");
        report.fail(Some("b"), "bad");
        assert_eq!(report.findings[0].severity, Severity::Warning);
        let findings = report.finish("not shown");
        assert_eq!(findings.len(), 2);
        assert_eq!(summary(&findings), None);
    }
}
