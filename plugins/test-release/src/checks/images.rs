//! `images-pinned` and `no-duplicate-tags`: checks of the image list alone.

use std::collections::BTreeMap;

use compose_plugin_sdk::{Finding, Image, image};

use super::Report;

/// Why a pullspec is not `<repository>@sha256:<64 lowercase hex>`, or `None` if it is.
pub fn pin_problem(pullspec: &str) -> Option<&'static str> {
    let Some((repository, digest)) = pullspec.rsplit_once('@') else {
        return Some("it has no `@sha256:` digest");
    };
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Some("the digest is not a `sha256:` digest");
    };
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Some("the digest is not 64 lowercase hex digits");
    }
    if repository.is_empty() {
        return Some("it has no repository");
    }
    if repository.contains(|c: char| c.is_whitespace() || c == '@') {
        return Some("the repository is not a valid name");
    }
    if image::repository(repository) != repository {
        return Some("it names a tag as well as the digest");
    }
    None
}

/// `images-pinned`: every image pullspec is `<repository>@sha256:<64 hex>`.
pub fn pinned(mut report: Report, images: &[Image]) -> Vec<Finding> {
    for image in images {
        if let Some(reason) = pin_problem(&image.pullspec) {
            report.fail(
                Some(&image.name),
                format!("`{}` is not pinned by digest: {reason}", image.pullspec),
            );
        }
    }
    report.finish(format!("{} images pinned by digest", images.len()))
}

/// The form two tag names are compared in: trimmed, lowercase, `_` read as `-`.
fn normalised(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// `no-duplicate-tags`: no two tags share a name, exactly or once normalised (case, `_`/`-`,
/// surrounding spaces). The payload's image list comes from a map, so exact duplicates can only
/// come from a host bug; near duplicates are a stream's typo. Two tags pointing at the same
/// pullspec are not reported: real payloads do that on purpose.
pub fn no_duplicates(mut report: Report, images: &[Image]) -> Vec<Finding> {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for image in images {
        let key = normalised(&image.name);
        match seen.get(&key) {
            Some(first) if *first == image.name => report.fail(
                Some(&image.name),
                format!("tag `{}` appears more than once", image.name),
            ),
            Some(first) => report.fail(
                Some(&image.name),
                format!(
                    "tag `{}` has the same name as tag `{first}` up to case, `_`/`-` or spaces",
                    image.name
                ),
            ),
            None => {
                seen.insert(key, &image.name);
            }
        }
    }
    report.finish(format!(
        "{} tag names, all distinct (ignoring case, `_` and `-`)",
        images.len()
    ))
}

#[cfg(test)]
mod tests {
    use compose_plugin_sdk::Release;

    use super::super::fixtures::*;
    use super::*;
    use crate::config::{IMAGES_PINNED, NO_DUPLICATE_TAGS};

    fn image(name: &str, pullspec: &str) -> Image {
        Image {
            name: name.into(),
            pullspec: pullspec.into(),
            annotations: vec![],
        }
    }

    #[test]
    fn pinned_images_pass() {
        let images = release().images();
        let findings = pinned(report(IMAGES_PINNED), &images);
        assert_eq!(findings.len(), 1);
        assert_eq!(
            summary(&findings).as_deref(),
            Some("5 images pinned by digest")
        );
        assert_eq!(
            pin_problem(&format!("localhost:5000/okd/x@{}", digest('a'))),
            None
        );
    }

    #[test]
    fn every_unpinned_image_is_a_finding() {
        let hex = "a".repeat(64);
        let images = [
            image("tag-only", "quay.io/okd/x:latest"),
            image("short", "quay.io/okd/x@sha256:abc"),
            image("upper", &format!("quay.io/okd/x@sha256:{}", "A".repeat(64))),
            image("sha512", &format!("quay.io/okd/x@sha512:{hex}")),
            image("both", &format!("quay.io/okd/x:4.17@sha256:{hex}")),
            image("no-repo", &format!("@sha256:{hex}")),
            image("good", &pullspec('a')),
        ];
        let findings = pinned(report(IMAGES_PINNED), &images);
        let reasons: Vec<(String, String)> = errors(&findings);
        assert_eq!(
            reasons,
            [
                (
                    "tag-only".to_string(),
                    "`quay.io/okd/x:latest` is not pinned by digest: it has no `@sha256:` digest"
                        .to_string()
                ),
                (
                    "short".into(),
                    "`quay.io/okd/x@sha256:abc` is not pinned by digest: the digest is not 64 \
                     lowercase hex digits"
                        .into()
                ),
                (
                    "upper".into(),
                    format!(
                        "`quay.io/okd/x@sha256:{}` is not pinned by digest: the digest is not 64 \
                         lowercase hex digits",
                        "A".repeat(64)
                    )
                ),
                (
                    "sha512".into(),
                    format!(
                        "`quay.io/okd/x@sha512:{hex}` is not pinned by digest: the digest is not \
                         a `sha256:` digest"
                    )
                ),
                (
                    "both".into(),
                    format!(
                        "`quay.io/okd/x:4.17@sha256:{hex}` is not pinned by digest: it names a \
                         tag as well as the digest"
                    )
                ),
                (
                    "no-repo".into(),
                    format!("`@sha256:{hex}` is not pinned by digest: it has no repository")
                ),
            ]
        );
        assert_eq!(summary(&findings), None);
    }

    #[test]
    fn distinct_tags_pass() {
        let images = release().images();
        let findings = no_duplicates(report(NO_DUPLICATE_TAGS), &images);
        assert_eq!(
            summary(&findings).as_deref(),
            Some("5 tag names, all distinct (ignoring case, `_` and `-`)")
        );
    }

    #[test]
    fn exact_and_normalised_duplicates_fail() {
        let images = [
            image("cli", &pullspec('1')),
            image("cli", &pullspec('2')),
            image("Ironic", &pullspec('3')),
            image("ironic", &pullspec('3')),
            image("machine_os_images", &pullspec('4')),
            image("machine-os-images", &pullspec('5')),
            // The same pullspec under two names is fine.
            image("oauth-proxy", &pullspec('6')),
            image("oauth-proxy-alias", &pullspec('6')),
        ];
        let findings = no_duplicates(report(NO_DUPLICATE_TAGS), &images);
        assert_eq!(
            errors(&findings),
            [
                (
                    "cli".to_string(),
                    "tag `cli` appears more than once".to_string()
                ),
                (
                    "ironic".into(),
                    "tag `ironic` has the same name as tag `Ironic` up to case, `_`/`-` or spaces"
                        .into()
                ),
                (
                    "machine-os-images".into(),
                    "tag `machine-os-images` has the same name as tag `machine_os_images` up to \
                     case, `_`/`-` or spaces"
                        .into()
                ),
            ]
        );
        assert_eq!(summary(&findings), None);
    }
}
