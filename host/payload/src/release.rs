//! The in-memory model of a release payload: what `release-manifests/` holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The `kind` every `release-metadata` file carries.
pub const CINCINNATI_KIND: &str = "cincinnati-metadata-v0";

/// The tag whose image is the base of the release image (oc's default `--to-image-base-tag`).
pub const BASE_TAG: &str = "cluster-version-operator";

/// One component image: one tag of the `image-references` ImageStream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The tag name, e.g. `machine-config-operator`.
    pub name: String,
    /// `from.name`: the pullspec, normally `repo@sha256:…`.
    pub pullspec: String,
    /// Tag annotations (`io.openshift.build.commit.id`, …), sorted by key.
    pub annotations: BTreeMap<String, String>,
}

/// `release-metadata`: the Cincinnati metadata of the release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseMetadata {
    /// Always [`CINCINNATI_KIND`].
    pub kind: String,
    /// The release name (semver).
    pub version: String,
    /// Versions this release may update from; always written, sorted.
    #[serde(default)]
    pub previous: Vec<String>,
    /// Versions this release may update to; written only when not empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<String>,
    /// Free-form metadata (`url`, `io.openshift.upgrades.graph.release.channels`, …); written
    /// only when not empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl ReleaseMetadata {
    /// Metadata for a release with no upgrade edges.
    pub fn new(version: &str) -> Self {
        ReleaseMetadata {
            kind: CINCINNATI_KIND.to_string(),
            version: version.to_string(),
            previous: Vec::new(),
            next: Vec::new(),
            metadata: BTreeMap::new(),
        }
    }
}

/// Something published next to the release image: a signature, an SBOM, a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// What it is, e.g. `signature-gpg`.
    pub kind: String,
    /// The media type of `data`.
    pub media_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A release payload: the content of `release-manifests/` plus what the image config says.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// The release name: `image-references` `metadata.name` = `release-metadata` `version`.
    pub name: String,
    /// `release-metadata`.
    pub metadata: ReleaseMetadata,
    /// Component images by tag name.
    pub images: BTreeMap<String, Image>,
    /// Manifests by file name (flat, inside `release-manifests/`), as text.
    pub manifests: BTreeMap<String, String>,
    /// The other files of `release-manifests/` by name, byte for byte: files that are not
    /// manifests (not `.yaml`, `.yml` or `.json`, e.g. kube-apiserver-operator's
    /// `0000_50_…_gensccroles.sh`). oc copies every file of an operator's manifest directory
    /// into the payload; the CVO reads none of these, but a release keeps them as oc does.
    pub files: BTreeMap<String, Vec<u8>>,
    /// ImageStream-level annotations of `image-references` (`release.openshift.io/from-release`).
    pub annotations: BTreeMap<String, String>,
    /// The creation time, RFC 3339 in UTC with seconds (`2024-03-10T01:01:16Z`); used for
    /// `image-references` `creationTimestamp`, the image config `created` and layer mtimes.
    pub created: String,
    /// Attachments added by stages.
    pub attachments: Vec<Attachment>,
}

impl Release {
    /// An empty release named `name`, created at `created` (RFC 3339): no images, no
    /// manifests, metadata with no upgrade edges.
    pub fn new(name: &str, created: &str) -> Self {
        Release {
            name: name.to_string(),
            metadata: ReleaseMetadata::new(name),
            images: BTreeMap::new(),
            manifests: BTreeMap::new(),
            files: BTreeMap::new(),
            annotations: BTreeMap::new(),
            created: created.to_string(),
            attachments: Vec::new(),
        }
    }

    /// Renames the release: `name` and `metadata.version` together, as the CVO requires.
    pub fn rename(&mut self, name: &str) {
        self.name = name.to_string();
        self.metadata.version = name.to_string();
    }

    /// Adds or replaces an image after checking its name and pullspec.
    pub fn put_image(&mut self, image: Image) -> Result<()> {
        validate_tag_name(&image.name)?;
        validate_pullspec(&image.pullspec)?;
        self.images.insert(image.name.clone(), image);
        Ok(())
    }

    /// Adds or replaces a manifest after checking its file name.
    pub fn write_manifest(&mut self, path: &str, content: String) -> Result<()> {
        validate_manifest_name(path)?;
        self.manifests.insert(path.to_string(), content);
        Ok(())
    }

    /// Adds or replaces a file that is not a manifest (see [`Release::files`]) after checking
    /// its name.
    pub fn write_file(&mut self, path: &str, data: Vec<u8>) -> Result<()> {
        validate_file_name(path)?;
        self.files.insert(path.to_string(), data);
        Ok(())
    }

    /// Replaces `release-metadata` from JSON, keeping `version` equal to the release name.
    pub fn set_metadata_json(&mut self, json: &str) -> Result<()> {
        let metadata: ReleaseMetadata =
            serde_json::from_str(json).map_err(|e| Error::InvalidMetadata(e.to_string()))?;
        if metadata.kind != CINCINNATI_KIND {
            return Err(Error::InvalidMetadata(format!(
                "`kind` must be `{CINCINNATI_KIND}`, not `{}`",
                metadata.kind
            )));
        }
        if metadata.version != self.name {
            return Err(Error::InvalidMetadata(format!(
                "`version` must equal the release name `{}`, not `{}`",
                self.name, metadata.version
            )));
        }
        self.metadata = metadata;
        Ok(())
    }

    /// The names of the manifests whose text contains `needle`, sorted.
    pub fn grep_manifests(&self, needle: &str) -> Vec<String> {
        self.manifests
            .iter()
            .filter(|(_, text)| text.contains(needle))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Replaces the pullspec `old` by `new` in every manifest, where `old` stands as a whole
    /// reference (not followed by more reference characters, not preceded by one). Returns the
    /// names of the manifests that changed.
    pub fn rewrite_pullspec(&mut self, old: &str, new: &str) -> Result<Vec<String>> {
        validate_pullspec(new)?;
        if old.is_empty() {
            return Err(Error::InvalidPullspec {
                pullspec: old.to_string(),
                reason: "must not be empty".to_string(),
            });
        }
        let mut changed = Vec::new();
        for (name, text) in self.manifests.iter_mut() {
            if let Some(rewritten) = replace_reference(text, old, new) {
                *text = rewritten;
                changed.push(name.clone());
            }
        }
        Ok(changed)
    }

    /// Renames the release's version in its files: replaces the release version `old` by
    /// `new` where `oc adm release new` would have written it, so the payload reads as if oc
    /// had rendered it under the new name. Returns the names of the manifests and other files
    /// that changed.
    ///
    /// oc writes the release version over `0.0.1-snapshot` in every file it copies, with the
    /// rule `(\W|^)0\.0\.1-snapshot([a-z0-9\-]*)` and an empty second group
    /// (`pkg/cli/admin/release/image_mapper.go`, `NewComponentVersionsMapper`), and drops the
    /// semver build metadata (`+…`) of the version it writes. The inverse rule here: `old`
    /// (without build metadata) is replaced by `new` (without build metadata) where it is
    /// preceded by the start of the file or a character other than `A-Z a-z 0-9 _`, and
    /// followed by the end of the file or a character other than `a-z 0-9 -`. So
    /// `0.0.1-snapshot_openshift`, which oc turned into `<version>_openshift`, is renamed, while
    /// `<version>-foo` (oc's component version reference) and `x<version>` are not.
    pub fn rewrite_version(&mut self, old: &str, new: &str) -> Vec<String> {
        let old = without_build_metadata(old);
        let new = without_build_metadata(new);
        let mut changed = Vec::new();
        if old.is_empty() || old == new {
            return changed;
        }
        for (name, text) in self.manifests.iter_mut() {
            if let Some(rewritten) = replace_version(text.as_bytes(), old, new)
                .and_then(|bytes| String::from_utf8(bytes).ok())
            {
                *text = rewritten;
                changed.push(name.clone());
            }
        }
        for (name, data) in self.files.iter_mut() {
            if let Some(rewritten) = replace_version(data, old, new) {
                *data = rewritten;
                changed.push(name.clone());
            }
        }
        changed.sort();
        changed
    }
}

/// A semver version without its build metadata (`4.17.0+abc` -> `4.17.0`), as oc writes it.
fn without_build_metadata(version: &str) -> &str {
    version.split_once('+').map_or(version, |(v, _)| v)
}

/// Replaces `old` by `new` in `data` where oc's version rule puts a release version (see
/// [`Release::rewrite_version`]); `None` if nothing matched.
fn replace_version(data: &[u8], old: &str, new: &str) -> Option<Vec<u8>> {
    let old = old.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let continues = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    let mut out = Vec::with_capacity(data.len());
    let mut any = false;
    let mut i = 0;
    let mut copied = 0;
    while i + old.len() <= data.len() {
        let hit = data[i..].starts_with(old)
            && (i == 0 || !is_word(data[i - 1]))
            && data.get(i + old.len()).is_none_or(|&b| !continues(b));
        if hit {
            out.extend_from_slice(&data[copied..i]);
            out.extend_from_slice(new.as_bytes());
            i += old.len();
            copied = i;
            any = true;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&data[copied..]);
    any.then_some(out)
}

/// Characters that may continue an image reference: a match followed by one of these is part
/// of a longer reference and is left alone.
fn is_reference_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@')
}

/// Replaces whole-reference occurrences of `old` in `text`; `None` if nothing matched.
fn replace_reference(text: &str, old: &str, new: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut consumed = 0;
    let mut any = false;
    while let Some(pos) = rest.find(old) {
        let abs = consumed + pos;
        let before = text[..abs].chars().next_back();
        let after = text[abs + old.len()..].chars().next();
        let whole = !before.is_some_and(is_reference_char) && !after.is_some_and(is_reference_char);
        out.push_str(&rest[..pos]);
        if whole {
            out.push_str(new);
            any = true;
        } else {
            out.push_str(old);
        }
        rest = &rest[pos + old.len()..];
        consumed = abs + old.len();
    }
    out.push_str(rest);
    any.then_some(out)
}

/// Checks that a manifest name is a plain file name the CVO reads (`.yaml`, `.yml`, `.json`).
pub fn validate_manifest_name(name: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidManifestName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.contains('/') || name.contains('\\') || name.starts_with('.') {
        return bad("must be a plain file name inside `release-manifests/`");
    }
    if name == "image-references" || name == "release-metadata" {
        return bad("is reserved for the release's own metadata");
    }
    if !is_manifest_name(name) {
        return bad("must end in `.yaml`, `.yml` or `.json`");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("must not contain control characters");
    }
    Ok(())
}

/// Whether a file of `release-manifests/` is a manifest the CVO reads: `.yaml`, `.yml` or
/// `.json`. Every other file is kept byte for byte in [`Release::files`].
pub fn is_manifest_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json")
}

/// Checks the name of a file of `release-manifests/` that is not a manifest: a plain file
/// name, not a manifest's (those go in [`Release::manifests`]) and not reserved.
pub fn validate_file_name(name: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidFileName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.contains('/') || name.contains('\\') || name == "." || name == ".." {
        return bad("must be a plain file name inside `release-manifests/`");
    }
    if name == "image-references" || name == "release-metadata" {
        return bad("is reserved for the release's own metadata");
    }
    if is_manifest_name(name) {
        return bad("is a manifest's name (`.yaml`, `.yml` or `.json`), not another file's");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("must not contain control characters");
    }
    Ok(())
}

/// Checks that a tag name is a valid ImageStream tag name.
pub fn validate_tag_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidTagName(name.to_string()))
    }
}

/// Checks that a pullspec looks like an image reference (`host/repo[:tag][@sha256:hex]`).
pub fn validate_pullspec(pullspec: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidPullspec {
            pullspec: pullspec.to_string(),
            reason: reason.to_string(),
        })
    };
    if pullspec.is_empty() {
        return bad("must not be empty");
    }
    if !pullspec.chars().all(is_reference_char) {
        return bad("has characters an image reference cannot have");
    }
    if let Some((_, digest)) = pullspec.split_once('@') {
        match digest.strip_prefix("sha256:") {
            Some(hex) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {}
            _ => return bad("digest must be `sha256:` and 64 hex digits"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> Release {
        Release {
            name: "4.17.0-okd-scos.0".into(),
            metadata: ReleaseMetadata::new("4.17.0-okd-scos.0"),
            images: BTreeMap::new(),
            manifests: BTreeMap::new(),
            files: BTreeMap::new(),
            annotations: BTreeMap::new(),
            created: "2024-03-10T01:01:16Z".into(),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn rewrite_replaces_whole_references_only() {
        let mut r = release();
        let old =
            "quay.io/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000";
        let new =
            "quay.io/c/d@sha256:1111111111111111111111111111111111111111111111111111111111111111";
        r.write_manifest("a.yaml", format!("image: {old}\nother: {old}x\n"))
            .unwrap();
        r.write_manifest("b.yaml", "nothing here\n".into()).unwrap();
        let changed = r.rewrite_pullspec(old, new).unwrap();
        assert_eq!(changed, vec!["a.yaml".to_string()]);
        assert_eq!(
            r.manifests["a.yaml"],
            format!("image: {new}\nother: {old}x\n")
        );
        assert_eq!(r.manifests["b.yaml"], "nothing here\n");
    }

    #[test]
    fn rename_follows_ocs_version_rule() {
        let old = "4.15.0-0.okd-2024-03-10-010116";
        let new = "4.17.0-okd-scos.0";
        let mut r = release();
        // What oc wrote for `0.0.1-snapshot`, `0.0.1-snapshot_openshift`, `"0.0.1-snapshot"`,
        // `v0.0.1-snapshot` (word before: oc leaves it), `0.0.1-snapshot-kubernetes` (a
        // component reference: oc writes that component's version, not the release's).
        let text = format!(
            "version: {old}\n\
             OPERAND_OAUTH_SERVER_IMAGE_VERSION: \"{old}_openshift\"\n\
             a: \"{old}\"\n\
             b: x{old}\n\
             c: _{old}\n\
             d: {old}-kubernetes\n\
             e: {old}1\n\
             f: {old}.1\n\
             g: -{old}:{old}\n\
             {old}"
        );
        r.write_manifest("0000_50_a_01.yaml", text).unwrap();
        r.write_manifest("0000_50_b_01.yaml", "version: 4.15.1\n".into())
            .unwrap();
        r.write_file(
            "0000_50_a_02.sh",
            format!("V={old}_openshift\n").into_bytes(),
        )
        .unwrap();
        let changed = r.rewrite_version(&format!("{old}+build.1"), new);
        assert_eq!(changed, ["0000_50_a_01.yaml", "0000_50_a_02.sh"]);
        assert_eq!(
            r.manifests["0000_50_a_01.yaml"],
            format!(
                "version: {new}\n\
                 OPERAND_OAUTH_SERVER_IMAGE_VERSION: \"{new}_openshift\"\n\
                 a: \"{new}\"\n\
                 b: x{old}\n\
                 c: _{old}\n\
                 d: {old}-kubernetes\n\
                 e: {old}1\n\
                 f: {new}.1\n\
                 g: -{new}:{new}\n\
                 {new}"
            )
        );
        assert_eq!(r.manifests["0000_50_b_01.yaml"], "version: 4.15.1\n");
        assert_eq!(
            r.files["0000_50_a_02.sh"],
            format!("V={new}_openshift\n").as_bytes()
        );
        // oc writes a version without its build metadata.
        let mut r = release();
        r.write_manifest("0000_50_a_01.yaml", format!("v: {old}_x\n"))
            .unwrap();
        r.rewrite_version(old, "4.17.0+abc");
        assert_eq!(r.manifests["0000_50_a_01.yaml"], "v: 4.17.0_x\n");
        assert!(r.rewrite_version("4.17.0", "4.17.0").is_empty());
    }

    #[test]
    fn other_file_names_are_checked() {
        let mut r = release();
        r.write_file("0000_50_x_gensccroles.sh", b"#!/bin/sh\n".to_vec())
            .unwrap();
        r.write_file("OWNERS", Vec::new()).unwrap();
        assert_eq!(r.files.len(), 2);
        for bad in [
            "",
            "a/b.sh",
            "..",
            "image-references",
            "x.yaml",
            "x.json",
            "a\nb",
        ] {
            assert!(
                matches!(validate_file_name(bad), Err(Error::InvalidFileName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn manifest_names_are_checked() {
        assert!(validate_manifest_name("0000_50_x_01.yaml").is_ok());
        assert!(validate_manifest_name("../etc/passwd.yaml").is_err());
        assert!(validate_manifest_name("sub/dir.yaml").is_err());
        assert!(validate_manifest_name("image-references").is_err());
        assert!(validate_manifest_name("notes.txt").is_err());
    }

    #[test]
    fn metadata_version_must_match_name() {
        let mut r = release();
        let bad = r#"{"kind":"cincinnati-metadata-v0","version":"4.0.0","previous":[]}"#;
        assert!(r.set_metadata_json(bad).is_err());
        let good = r#"{"kind":"cincinnati-metadata-v0","version":"4.17.0-okd-scos.0","previous":["4.16.0-okd-scos.1"]}"#;
        r.set_metadata_json(good).unwrap();
        assert_eq!(r.metadata.previous, vec!["4.16.0-okd-scos.1".to_string()]);
    }

    #[test]
    fn pullspecs_are_checked() {
        assert!(validate_pullspec("quay.io/okd/scos-content:tag").is_ok());
        assert!(validate_pullspec("quay.io/okd/x@sha256:abc").is_err());
        assert!(validate_pullspec("has space").is_err());
    }
}
