//! In-memory stand-ins for the host, for a plugin's native unit tests.
//!
//! [`MemoryRelease`] keeps a payload in maps and checks writes the way the host documents it
//! (release name, manifest file names, pullspec rewriting only on whole references);
//! [`MemoryRegistry`] answers `resolve` and `image-config` from a table and records every call,
//! so a test can assert that a stage did not touch the registry.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::host::{Registry, Release};
use crate::{Attachment, Image, image};

/// A release payload held in memory.
#[derive(Debug, Default)]
pub struct MemoryRelease {
    name: String,
    metadata: RefCell<String>,
    images: RefCell<BTreeMap<String, Image>>,
    manifests: RefCell<BTreeMap<String, String>>,
    attachments: RefCell<Vec<Attachment>>,
}

impl MemoryRelease {
    /// An empty payload named `name`, with minimal `release-metadata`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            metadata: RefCell::new(format!(
                r#"{{"kind":"cincinnati-metadata-v0","version":"{name}","previous":[]}}"#
            )),
            ..Self::default()
        }
    }

    /// Adds an image (builder style).
    pub fn with_image(self, name: &str, pullspec: &str, annotations: &[(&str, &str)]) -> Self {
        let mut annotations: Vec<(String, String)> = annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        annotations.sort();
        self.images.borrow_mut().insert(
            name.to_string(),
            Image {
                name: name.to_string(),
                pullspec: pullspec.to_string(),
                annotations,
            },
        );
        self
    }

    /// Adds a manifest (builder style).
    pub fn with_manifest(self, path: &str, content: &str) -> Self {
        self.manifests
            .borrow_mut()
            .insert(path.to_string(), content.to_string());
        self
    }

    /// The tag names, sorted.
    pub fn image_names(&self) -> Vec<String> {
        self.images.borrow().keys().cloned().collect()
    }
}

impl Release for MemoryRelease {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn metadata(&self) -> String {
        self.metadata.borrow().clone()
    }

    fn set_metadata(&self, json: &str) -> Result<(), String> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|error| format!("invalid JSON: {error}"))?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("cincinnati-metadata-v0") {
            return Err("`kind` must be `cincinnati-metadata-v0`".into());
        }
        if value.get("version").and_then(|v| v.as_str()) != Some(self.name.as_str()) {
            return Err(format!(
                "`version` must be the release name `{}`",
                self.name
            ));
        }
        *self.metadata.borrow_mut() = json.to_string();
        Ok(())
    }

    fn images(&self) -> Vec<Image> {
        self.images.borrow().values().cloned().collect()
    }

    fn image(&self, name: &str) -> Option<Image> {
        self.images.borrow().get(name).cloned()
    }

    fn put_image(&self, image: &Image) -> Result<(), String> {
        if image.name.is_empty() {
            return Err("an image tag name must not be empty".into());
        }
        if image.pullspec.is_empty() || image.pullspec.contains(char::is_whitespace) {
            return Err(format!(
                "`{}` is not a valid image reference",
                image.pullspec
            ));
        }
        let mut image = image.clone();
        image.annotations.sort();
        self.images.borrow_mut().insert(image.name.clone(), image);
        Ok(())
    }

    fn remove_image(&self, name: &str) -> bool {
        self.images.borrow_mut().remove(name).is_some()
    }

    fn manifests(&self) -> Vec<String> {
        self.manifests.borrow().keys().cloned().collect()
    }

    fn grep_manifests(&self, needle: &str) -> Vec<String> {
        self.manifests
            .borrow()
            .iter()
            .filter(|(_, text)| text.contains(needle))
            .map(|(path, _)| path.clone())
            .collect()
    }

    fn read_manifest(&self, path: &str) -> Option<String> {
        self.manifests.borrow().get(path).cloned()
    }

    fn write_manifest(&self, path: &str, content: &str) -> Result<(), String> {
        let plain = !path.is_empty() && !path.contains(['/', '\\']) && !path.starts_with('.');
        let manifest = [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| path.ends_with(ext));
        if !plain || !manifest {
            return Err(format!(
                "`{path}` must be a plain file name ending in `.yaml`, `.yml` or `.json`"
            ));
        }
        self.manifests
            .borrow_mut()
            .insert(path.to_string(), content.to_string());
        Ok(())
    }

    fn remove_manifest(&self, path: &str) -> bool {
        self.manifests.borrow_mut().remove(path).is_some()
    }

    fn rewrite_pullspec(&self, old: &str, new: &str) -> Result<Vec<String>, String> {
        if old.is_empty() || new.is_empty() {
            return Err("pullspecs must not be empty".into());
        }
        let mut changed = Vec::new();
        for (path, text) in self.manifests.borrow_mut().iter_mut() {
            let rewritten = replace_reference(text, old, new);
            if rewritten != *text {
                *text = rewritten;
                changed.push(path.clone());
            }
        }
        Ok(changed)
    }

    fn attach(&self, attachment: &Attachment) {
        self.attachments.borrow_mut().push(attachment.clone());
    }

    fn attachments(&self) -> Vec<Attachment> {
        self.attachments.borrow().clone()
    }
}

/// Replaces `old` by `new` where `old` stands as a whole reference, not inside a longer one.
fn replace_reference(text: &str, old: &str, new: &str) -> String {
    fn part_of_reference(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':' | '@')
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(old) {
        let before = text[..at].chars().next_back();
        let after = text[at + old.len()..].chars().next();
        if before.is_some_and(part_of_reference) || after.is_some_and(part_of_reference) {
            continue;
        }
        out.push_str(&text[copied..at]);
        out.push_str(new);
        copied = at + old.len();
    }
    out.push_str(&text[copied..]);
    out
}

/// A registry held in memory: references to digests and image configs.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    digests: BTreeMap<String, String>,
    configs: BTreeMap<String, String>,
    calls: RefCell<Vec<String>>,
}

impl MemoryRegistry {
    /// An empty registry: every query fails.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an image reachable as `reference` and as `<repository>@<digest>`, whose config
    /// carries `labels` (builder style).
    pub fn with_image(mut self, reference: &str, digest: &str, labels: &[(&str, &str)]) -> Self {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Labels": labels },
        })
        .to_string();
        for name in [reference.to_string(), image::pin(reference, digest)] {
            self.digests.insert(name.clone(), digest.to_string());
            self.configs.insert(name, config.clone());
        }
        self
    }

    /// Every query made so far, as `resolve <ref>` or `image-config <ref>`, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
}

impl Registry for MemoryRegistry {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        self.calls.borrow_mut().push(format!("resolve {reference}"));
        self.digests
            .get(reference)
            .cloned()
            .ok_or_else(|| format!("manifest unknown: `{reference}`"))
    }

    fn image_config(&self, reference: &str) -> Result<String, String> {
        self.calls
            .borrow_mut()
            .push(format!("image-config {reference}"));
        self.configs
            .get(reference)
            .cloned()
            .ok_or_else(|| format!("manifest unknown: `{reference}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_touches_whole_references_only() {
        let old = "quay.io/okd/content@sha256:aaaa";
        let text =
            format!("image: {old}\nother: {old}0\nlonger: x{old}\nquoted: \"{old}\"\nend: {old}");
        let out = replace_reference(&text, old, "quay.io/new@sha256:bbbb");
        assert_eq!(
            out,
            format!(
                "image: quay.io/new@sha256:bbbb\nother: {old}0\nlonger: x{old}\n\
                 quoted: \"quay.io/new@sha256:bbbb\"\nend: quay.io/new@sha256:bbbb"
            )
        );
    }

    #[test]
    fn memory_release_follows_the_host_rules() {
        let release = MemoryRelease::new("4.17.0-okd-scos.0")
            .with_image("cli", "quay.io/x@sha256:aa", &[("b", "2"), ("a", "1")])
            .with_manifest("0000_50_a.yaml", "image: quay.io/x@sha256:aa\n")
            .with_manifest("0000_50_b.yaml", "nothing\n");
        assert_eq!(release.image("cli").unwrap().annotations[0].0, "a");
        assert_eq!(release.grep_manifests("quay.io/x"), ["0000_50_a.yaml"]);
        assert_eq!(
            release
                .rewrite_pullspec("quay.io/x@sha256:aa", "quay.io/y@sha256:bb")
                .unwrap(),
            ["0000_50_a.yaml"]
        );
        assert!(release.write_manifest("sub/x.yaml", "").is_err());
        assert!(release.write_manifest("x.txt", "").is_err());
        assert!(release.write_manifest("x.yaml", "a: b\n").is_ok());
        assert!(
            release
                .set_metadata(r#"{"kind":"cincinnati-metadata-v0","version":"other"}"#)
                .is_err()
        );
        assert!(
            release
                .put_image(&Image {
                    name: "x".into(),
                    pullspec: "a b".into(),
                    annotations: vec![]
                })
                .is_err()
        );
        assert!(release.remove_image("cli"));
        assert!(!release.remove_image("cli"));
    }

    #[test]
    fn memory_registry_answers_by_tag_and_by_digest() {
        let registry =
            MemoryRegistry::new().with_image("quay.io/x:tag", "sha256:ff", &[("a", "b")]);
        assert_eq!(registry.resolve("quay.io/x:tag").unwrap(), "sha256:ff");
        assert_eq!(
            registry.resolve("quay.io/x@sha256:ff").unwrap(),
            "sha256:ff"
        );
        let labels =
            image::labels_from_config(&registry.image_config("quay.io/x@sha256:ff").unwrap())
                .unwrap();
        assert_eq!(labels["a"], "b");
        assert!(registry.resolve("quay.io/y:tag").is_err());
        assert_eq!(registry.calls().len(), 4);
    }
}
