//! `manifest-images-known`: every digest pullspec a manifest names is an image of the release.
//!
//! Manifests name images as plain text (`image: quay.io/…@sha256:…`, `--image=…`, inside JSON
//! in a ConfigMap), so the check reads text, not YAML: it asks the host for the manifests that
//! contain `@sha256:` and finds every `<registry-host>/<path>@sha256:<64 hex>` in them. oc's
//! placeholders (`placeholder.url.oc.will.replace.this.org/…:<tag>`), which a payload should
//! not keep, are reported as warnings.

use std::collections::{BTreeMap, BTreeSet};

use compose_plugin_sdk::{Finding, Image, Release, Severity, image};

use super::{Report, plural};

/// What oc's image-reference placeholders start with (the MCO's `….this.org/…` and the CVO's
/// `….this.example.org:…`).
pub const PLACEHOLDER: &str = "placeholder.url.oc.will.replace.this";

/// A byte that can be part of an image reference.
fn reference_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/' | b':' | b'@')
}

/// One image reference found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    /// The reference as written.
    pub reference: &'a str,
    /// Its line, counting from 1.
    pub line: usize,
    /// Whether it stands on a comment line (`# …`).
    pub in_comment: bool,
}

fn found_at<'a>(text: &'a str, start: usize, end: usize) -> Found<'a> {
    let line_start = text[..start].rfind('\n').map_or(0, |nl| nl + 1);
    Found {
        reference: &text[start..end],
        line: text[..start].matches('\n').count() + 1,
        in_comment: text[line_start..start].trim_start().starts_with('#'),
    }
}

/// Whether `name` (the part before `@`) starts with a registry host: a first path component
/// with a `.` or a `:` (a port), or `localhost`.
fn has_registry_host(name: &str) -> bool {
    match name.split_once('/') {
        Some((host, path)) => {
            !path.is_empty() && (host.contains(['.', ':']) || host == "localhost")
        }
        None => false,
    }
}

/// Every `<registry-host>/<path>@sha256:<64 hex>` in `text`, in order.
pub fn digest_references(text: &str) -> Vec<Found<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (at, needle) in text.match_indices("@sha256:") {
        let hex_start = at + needle.len();
        let hex_len = bytes[hex_start..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let end = hex_start + hex_len;
        // Exactly 64 hex digits, not the start of a longer name (a `.` or `:` may follow).
        if hex_len != 64
            || bytes.get(end).is_some_and(|&b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'@')
            })
        {
            continue;
        }
        let mut start = at;
        while start > 0 && reference_byte(bytes[start - 1]) && bytes[start - 1] != b'@' {
            start -= 1;
        }
        // `docker://quay.io/…`: the transport is not part of the reference.
        if let Some(scheme) = text[start..at].rfind("://") {
            start += scheme + 3;
        }
        // A leading `:`, `/`, `.`, `-` or `_` is punctuation around the reference.
        while start < at && !bytes[start].is_ascii_alphanumeric() {
            start += 1;
        }
        if has_registry_host(&text[start..at]) {
            out.push(found_at(text, start, end));
        }
    }
    out
}

/// Every placeholder reference in `text` (`placeholder.url.oc.will.replace.this.org/ns:tag`).
pub fn placeholders(text: &str) -> Vec<Found<'_>> {
    let bytes = text.as_bytes();
    text.match_indices(PLACEHOLDER)
        .filter(|(at, _)| *at == 0 || !reference_byte(bytes[at - 1]))
        .map(|(at, _)| {
            let mut end = at;
            while end < bytes.len() && reference_byte(bytes[end]) {
                end += 1;
            }
            found_at(text, at, end)
        })
        .collect()
}

/// The check.
pub fn check(mut report: Report, release: &impl Release, images: &[Image]) -> Vec<Finding> {
    let known: BTreeSet<&str> = images.iter().map(|i| i.pullspec.as_str()).collect();
    let mut references = 0;
    let files = release.grep_manifests("@sha256:");
    let mut with_references = 0;
    for file in &files {
        let Some(text) = release.read_manifest(file) else {
            continue;
        };
        let found = digest_references(&text);
        if !found.is_empty() {
            with_references += 1;
        }
        // One finding per unknown pullspec per file, at its first line.
        let mut unknown: BTreeMap<&str, &Found<'_>> = BTreeMap::new();
        for reference in &found {
            references += 1;
            if !is_known(&known, reference.reference) {
                unknown.entry(reference.reference).or_insert(reference);
            }
        }
        let mut unknown: Vec<&Found<'_>> = unknown.into_values().collect();
        unknown.sort_by_key(|f| f.line);
        for found in unknown {
            report.fail(
                Some(file),
                format!(
                    "line {}: `{}` is not an image of the release{}",
                    found.line,
                    found.reference,
                    if found.in_comment {
                        " (in a comment)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    for file in release.grep_manifests(PLACEHOLDER) {
        let Some(text) = release.read_manifest(&file) else {
            continue;
        };
        let mut seen = BTreeSet::new();
        for found in placeholders(&text) {
            if seen.insert(found.reference) {
                report.note(
                    Some(&file),
                    Severity::Warning,
                    format!(
                        "line {}: unreplaced placeholder `{}`{}",
                        found.line,
                        found.reference,
                        if found.in_comment {
                            " (in a comment)"
                        } else {
                            ""
                        }
                    ),
                );
            }
        }
    }
    report.finish(format!(
        "{} in {}, all images of the release",
        plural(references, "digest pullspec"),
        plural(with_references, "manifest")
    ))
}

/// Whether `reference` is a release image: exactly, or once a tag between the repository and
/// the digest is dropped (`repo:tag@sha256:…` pulls the same image as `repo@sha256:…`).
fn is_known(known: &BTreeSet<&str>, reference: &str) -> bool {
    if known.contains(reference) {
        return true;
    }
    reference
        .rsplit_once('@')
        .is_some_and(|(name, digest)| known.contains(image::pin(name, digest).as_str()))
}

#[cfg(test)]
mod tests {
    use compose_plugin_sdk::testing::MemoryRelease;

    use super::super::fixtures::*;
    use super::*;
    use crate::config::MANIFEST_IMAGES_KNOWN;

    fn run(release: &MemoryRelease) -> Vec<Finding> {
        check(report(MANIFEST_IMAGES_KNOWN), release, &release.images())
    }

    #[test]
    fn references_are_found_in_any_text_shape() {
        let a = pullspec('a');
        let hex = "b".repeat(64);
        let text = format!(
            "image: {a}\n\
             args: [\"--image={a}\", 'docker://quay.io/x/y@sha256:{hex}']\n\
             json: {{\"img\":\"localhost:5000/x@sha256:{hex}\"}}\n\
             # old: registry.ci.openshift.org/ocp/4.15:tag@sha256:{hex}\n\
             no host: cli@sha256:{hex}\n\
             short: quay.io/x@sha256:abc\n\
             long: quay.io/x@sha256:{hex}0\n\
             content digest: sha256:{hex}\n"
        );
        let found = digest_references(&text);
        let refs: Vec<(&str, usize, bool)> = found
            .iter()
            .map(|f| (f.reference, f.line, f.in_comment))
            .collect();
        assert_eq!(
            refs,
            [
                (a.as_str(), 1, false),
                (a.as_str(), 2, false),
                (format!("quay.io/x/y@sha256:{hex}").as_str(), 2, false),
                (format!("localhost:5000/x@sha256:{hex}").as_str(), 3, false),
                (
                    format!("registry.ci.openshift.org/ocp/4.15:tag@sha256:{hex}").as_str(),
                    4,
                    true
                ),
            ]
        );
    }

    #[test]
    fn known_references_pass() {
        let findings = run(&release());
        assert_eq!(
            summary(&findings).as_deref(),
            Some("3 digest pullspecs in 2 manifests, all images of the release")
        );
        assert_eq!(findings.len(), 1);
    }

    #[test]
    fn a_tag_before_the_digest_is_still_the_same_image() {
        let with_tag = pullspec('3').replace("@", ":4.17@");
        let release = release().with_manifest(
            "0000_50_x_00_pod.yaml",
            &format!("kind: Pod\nimage: {with_tag}\n"),
        );
        assert!(run(&release).iter().all(|f| f.passed));
    }

    #[test]
    fn a_stale_pullspec_is_an_error_per_file() {
        let fcos = "quay.io/openshift/okd-content@sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let release = release()
            .with_manifest(
                "0000_80_machine-config-operator_06_bootstrap.yaml",
                &format!("kind: Pod\nspec:\n  image: {fcos}\n  again: \"{fcos}\"\n"),
            )
            .with_manifest(
                "0000_50_installer_coreos-bootimages.yaml",
                &format!("data:\n  # was {fcos}\n"),
            );
        let findings = run(&release);
        assert_eq!(
            errors(&findings),
            [
                (
                    "0000_50_installer_coreos-bootimages.yaml".to_string(),
                    format!("line 2: `{fcos}` is not an image of the release (in a comment)")
                ),
                (
                    "0000_80_machine-config-operator_06_bootstrap.yaml".to_string(),
                    format!("line 3: `{fcos}` is not an image of the release")
                ),
            ]
        );
        assert_eq!(summary(&findings), None);
    }

    #[test]
    fn placeholders_are_warnings() {
        let release = release()
            .with_manifest(
                "0000_80_machine-config-operator_05_osimageurl.yaml",
                "data:\n  baseOSContainerImage: \"placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos\"\n#  baseOSExtensionsContainerImage: \"placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos-extensions\"\n",
            )
            .with_manifest(
                "0000_00_cluster-version-operator_03_deployment.yaml",
                "image: placeholder.url.oc.will.replace.this.example.org:cluster-version-operator\n",
            );
        let findings = run(&release);
        assert_eq!(
            failures(&findings),
            [
                (
                    Severity::Warning,
                    "0000_00_cluster-version-operator_03_deployment.yaml".to_string(),
                    "line 1: unreplaced placeholder \
                     `placeholder.url.oc.will.replace.this.example.org:cluster-version-operator`"
                        .to_string()
                ),
                (
                    Severity::Warning,
                    "0000_80_machine-config-operator_05_osimageurl.yaml".to_string(),
                    "line 2: unreplaced placeholder \
                     `placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos`"
                        .to_string()
                ),
                (
                    Severity::Warning,
                    "0000_80_machine-config-operator_05_osimageurl.yaml".to_string(),
                    "line 3: unreplaced placeholder `placeholder.url.oc.will.replace.this.org/\
                     placeholdernamespace:fedora-coreos-extensions` (in a comment)"
                        .to_string()
                ),
            ]
        );
        // Warnings only: the check still passes, with its summary.
        assert_eq!(
            summary(&findings).as_deref(),
            Some("1 digest pullspec in 1 manifest, all images of the release")
        );
    }
}
