//! What changed between two releases, like `oc adm release info --changes-from`.

use serde::Serialize;

use crate::release::Release;

/// An image tag whose pullspec changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedImage {
    /// The tag name.
    pub name: String,
    /// Its pullspec in the old release.
    pub old: String,
    /// Its pullspec in the new release.
    pub new: String,
}

/// A manifest whose text changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedManifest {
    /// The file name.
    pub name: String,
    /// Lines added.
    pub added_lines: usize,
    /// Lines removed.
    pub removed_lines: usize,
}

/// The differences between an old and a new release.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseDiff {
    /// Image tags only in the new release: (name, pullspec).
    pub images_added: Vec<(String, String)>,
    /// Image tags only in the old release: (name, pullspec).
    pub images_removed: Vec<(String, String)>,
    /// Image tags in both with different pullspecs.
    pub images_changed: Vec<ChangedImage>,
    /// Manifests only in the new release.
    pub manifests_added: Vec<String>,
    /// Manifests only in the old release.
    pub manifests_removed: Vec<String>,
    /// Manifests in both with different text.
    pub manifests_changed: Vec<ChangedManifest>,
    /// Other files of `release-manifests/` (not manifests: scripts, text) only in the new
    /// release.
    pub files_added: Vec<String>,
    /// Other files only in the old release.
    pub files_removed: Vec<String>,
    /// Other files in both with different bytes.
    pub files_changed: Vec<String>,
    /// Whether `release-metadata` differs beyond the version.
    pub metadata_changed: bool,
}

impl ReleaseDiff {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.images_added.is_empty()
            && self.images_removed.is_empty()
            && self.images_changed.is_empty()
            && self.manifests_added.is_empty()
            && self.manifests_removed.is_empty()
            && self.manifests_changed.is_empty()
            && self.files_added.is_empty()
            && self.files_removed.is_empty()
            && self.files_changed.is_empty()
            && !self.metadata_changed
    }
}

/// Compares two releases. Everything is sorted by name.
pub fn diff_releases(old: &Release, new: &Release) -> ReleaseDiff {
    let mut d = ReleaseDiff::default();
    for (name, image) in &new.images {
        match old.images.get(name) {
            None => d.images_added.push((name.clone(), image.pullspec.clone())),
            Some(before) if before.pullspec != image.pullspec => {
                d.images_changed.push(ChangedImage {
                    name: name.clone(),
                    old: before.pullspec.clone(),
                    new: image.pullspec.clone(),
                })
            }
            Some(_) => {}
        }
    }
    for (name, image) in &old.images {
        if !new.images.contains_key(name) {
            d.images_removed
                .push((name.clone(), image.pullspec.clone()));
        }
    }
    for (name, text) in &new.manifests {
        match old.manifests.get(name) {
            None => d.manifests_added.push(name.clone()),
            Some(before) if before != text => {
                let (added_lines, removed_lines) = line_changes(before, text);
                d.manifests_changed.push(ChangedManifest {
                    name: name.clone(),
                    added_lines,
                    removed_lines,
                });
            }
            Some(_) => {}
        }
    }
    for name in old.manifests.keys() {
        if !new.manifests.contains_key(name) {
            d.manifests_removed.push(name.clone());
        }
    }
    for (name, data) in &new.files {
        match old.files.get(name) {
            None => d.files_added.push(name.clone()),
            Some(before) if before != data => d.files_changed.push(name.clone()),
            Some(_) => {}
        }
    }
    for name in old.files.keys() {
        if !new.files.contains_key(name) {
            d.files_removed.push(name.clone());
        }
    }
    let mut old_meta = old.metadata.clone();
    old_meta.version = new.metadata.version.clone();
    d.metadata_changed = old_meta != new.metadata;
    d
}

/// Lines added and removed between two texts.
fn line_changes(old: &str, new: &str) -> (usize, usize) {
    let diff = similar::TextDiff::from_lines(old, new);
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            similar::ChangeTag::Insert => added += 1,
            similar::ChangeTag::Delete => removed += 1,
            similar::ChangeTag::Equal => {}
        }
    }
    (added, removed)
}

/// A unified diff (3 lines of context) of one file; empty texts stand for a missing file.
pub fn unified_diff(old_name: &str, old: &str, new_name: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::release::{Image, ReleaseMetadata};

    fn release(name: &str, images: &[(&str, &str)], manifests: &[(&str, &str)]) -> Release {
        Release {
            name: name.into(),
            metadata: ReleaseMetadata::new(name),
            images: images
                .iter()
                .map(|(n, p)| {
                    (
                        n.to_string(),
                        Image {
                            name: n.to_string(),
                            pullspec: p.to_string(),
                            annotations: BTreeMap::new(),
                        },
                    )
                })
                .collect(),
            manifests: manifests
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            files: BTreeMap::new(),
            annotations: BTreeMap::new(),
            created: String::new(),
            attachments: Vec::new(),
        }
    }

    #[test]
    fn images_and_manifests_added_removed_changed() {
        let a = release(
            "4.15.0",
            &[("cli", "q/a@sha256:1"), ("fedora-coreos", "q/f@sha256:2")],
            &[("0000_a.yaml", "x: 1\ny: 2\n"), ("0000_b.yaml", "b\n")],
        );
        let b = release(
            "4.17.0",
            &[("cli", "q/a@sha256:9"), ("stream-coreos", "q/s@sha256:3")],
            &[("0000_a.yaml", "x: 1\ny: 3\n"), ("0000_c.yaml", "c\n")],
        );
        let d = diff_releases(&a, &b);
        assert_eq!(
            d.images_added,
            vec![("stream-coreos".into(), "q/s@sha256:3".into())]
        );
        assert_eq!(
            d.images_removed,
            vec![("fedora-coreos".into(), "q/f@sha256:2".into())]
        );
        assert_eq!(d.images_changed[0].name, "cli");
        assert_eq!(d.manifests_added, vec!["0000_c.yaml".to_string()]);
        assert_eq!(d.manifests_removed, vec!["0000_b.yaml".to_string()]);
        assert_eq!(d.manifests_changed[0].added_lines, 1);
        assert_eq!(d.manifests_changed[0].removed_lines, 1);
        assert!(
            !d.metadata_changed,
            "a renamed release alone is no metadata change"
        );
        assert!(diff_releases(&a, &a).is_empty());
    }

    #[test]
    fn files_that_are_not_manifests_are_compared_byte_for_byte() {
        let mut a = release("4.15.0", &[], &[("0000_a.yaml", "x: 1\n")]);
        let mut b = a.clone();
        let script = "0000_50_cluster-kube-apiserver-operator_gensccroles.sh";
        a.files.insert(script.into(), b"#!/bin/bash\n".to_vec());
        a.files.insert("gone.txt".into(), b"x".to_vec());
        b.files
            .insert(script.into(), b"#!/bin/bash\nset -e\n".to_vec());
        b.files.insert("new.txt".into(), vec![0xff]);
        let d = diff_releases(&a, &b);
        assert_eq!(d.files_added, vec!["new.txt".to_string()]);
        assert_eq!(d.files_removed, vec!["gone.txt".to_string()]);
        assert_eq!(d.files_changed, vec![script.to_string()]);
        assert!(!d.is_empty());
        // A file that only disappears is a change, not "No changes".
        let mut c = a.clone();
        c.files.clear();
        let d = diff_releases(&a, &c);
        assert_eq!(d.files_removed.len(), 2);
        assert!(!d.is_empty());
    }

    #[test]
    fn unified_diff_has_headers_and_hunks() {
        let text = unified_diff("a/x.yaml", "x: 1\ny: 2\n", "b/x.yaml", "x: 1\ny: 3\n");
        assert!(text.starts_with("--- a/x.yaml\n+++ b/x.yaml\n@@"), "{text}");
        assert!(text.contains("-y: 2\n+y: 3\n"), "{text}");
    }
}
