//! What one stage did to the payload, as a delta against the payload it received: computed
//! from a [`Snapshot`] of its input (a sha256 per manifest and file, not a second copy of
//! the text) and its output, and applied to the same input on a rerun.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use compose_payload::release::ReleaseMetadata;
use compose_payload::{Attachment, Image, Release};

/// A sha256.
pub(crate) type Hash = [u8; 32];

/// The sha256 of `bytes`.
pub(crate) fn hash(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// A payload as a stage received it: everything small by value, manifests and files by
/// digest.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    name: String,
    metadata: ReleaseMetadata,
    created: String,
    annotations: BTreeMap<String, String>,
    images: BTreeMap<String, Image>,
    manifests: BTreeMap<String, Hash>,
    files: BTreeMap<String, Hash>,
    attachments: Vec<Attachment>,
}

impl Snapshot {
    /// Snapshots `release` (hashing every manifest and file).
    pub fn of(release: &Release) -> Self {
        Snapshot {
            name: release.name.clone(),
            metadata: release.metadata.clone(),
            created: release.created.clone(),
            annotations: release.annotations.clone(),
            images: release.images.clone(),
            manifests: release
                .manifests
                .iter()
                .map(|(k, v)| (k.clone(), hash(v.as_bytes())))
                .collect(),
            files: release
                .files
                .iter()
                .map(|(k, v)| (k.clone(), hash(v)))
                .collect(),
            attachments: release.attachments.clone(),
        }
    }
}

/// The attachments of `after` as stored, if they differ from `before`.
fn changed_attachments(before: &[Attachment], after: &Release) -> Option<Vec<StoredAttachment>> {
    (after.attachments != before).then(|| {
        after
            .attachments
            .iter()
            .map(|a| StoredAttachment {
                kind: a.kind.clone(),
                media_type: a.media_type.clone(),
                data: base64::engine::general_purpose::STANDARD.encode(&a.data),
            })
            .collect()
    })
}

/// An attachment as stored: its bytes base64-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredAttachment {
    kind: String,
    media_type: String,
    data: String,
}

/// What a stage changed. Manifests and files are named by the sha256 (hex) of their new
/// content, stored once as blobs beside the entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    images_put: Vec<StoredImage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    images_removed: Vec<String>,
    /// Manifest name → sha256 hex of its new text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    manifests_put: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    manifests_removed: Vec<String>,
    /// File name → sha256 hex of its new bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    files_put: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files_removed: Vec<String>,
    /// The whole list, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attachments: Option<Vec<StoredAttachment>>,
}

/// An image tag as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredImage {
    name: String,
    pullspec: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// A blob the delta needs stored: its sha256 hex and bytes.
pub(crate) type NewBlob<'a> = (String, &'a [u8]);

impl Delta {
    /// What changed from `before` to `after`; returns the delta, the blobs it names (borrowed
    /// from `after`) and the snapshot of `after` (the next stage's input).
    pub fn between<'a>(
        before: &Snapshot,
        after: &'a Release,
    ) -> (Delta, Vec<NewBlob<'a>>, Snapshot) {
        let mut delta = Delta::default();
        let mut blobs = Vec::new();
        if after.name != before.name {
            delta.name = Some(after.name.clone());
        }
        if after.metadata != before.metadata {
            delta.metadata = serde_json::to_value(&after.metadata).ok();
        }
        if after.created != before.created {
            delta.created = Some(after.created.clone());
        }
        if after.annotations != before.annotations {
            delta.annotations = Some(after.annotations.clone());
        }
        for (name, image) in &after.images {
            if before.images.get(name) != Some(image) {
                delta.images_put.push(StoredImage {
                    name: image.name.clone(),
                    pullspec: image.pullspec.clone(),
                    annotations: image.annotations.clone(),
                });
            }
        }
        delta.images_removed = removed(&before.images, &after.images);
        let mut manifests = BTreeMap::new();
        for (name, text) in &after.manifests {
            let h = hash(text.as_bytes());
            if before.manifests.get(name) != Some(&h) {
                let hex = hex::encode(h);
                delta.manifests_put.insert(name.clone(), hex.clone());
                blobs.push((hex, text.as_bytes()));
            }
            manifests.insert(name.clone(), h);
        }
        delta.manifests_removed = removed(&before.manifests, &after.manifests);
        let mut files = BTreeMap::new();
        for (name, bytes) in &after.files {
            let h = hash(bytes);
            if before.files.get(name) != Some(&h) {
                let hex = hex::encode(h);
                delta.files_put.insert(name.clone(), hex.clone());
                blobs.push((hex, bytes.as_slice()));
            }
            files.insert(name.clone(), h);
        }
        delta.files_removed = removed(&before.files, &after.files);
        delta.attachments = changed_attachments(&before.attachments, after);
        let snapshot = Snapshot {
            name: after.name.clone(),
            metadata: after.metadata.clone(),
            created: after.created.clone(),
            annotations: after.annotations.clone(),
            images: after.images.clone(),
            manifests,
            files,
            attachments: after.attachments.clone(),
        };
        (delta, blobs, snapshot)
    }

    /// What changed from `before` to `after` when only the attachments can have changed:
    /// around a read-only check, whose writes the runtime refuses (the host may still renew
    /// its `signature-verification` attachment after it).
    pub fn of_attachments(before: &[Attachment], after: &Release) -> Delta {
        Delta {
            attachments: changed_attachments(before, after),
            ..Delta::default()
        }
    }

    /// The blobs (sha256 hex) the delta names.
    pub fn blobs(&self) -> impl Iterator<Item = &String> {
        self.manifests_put.values().chain(self.files_put.values())
    }

    /// Checks that the delta can be applied (`blob` gives every blob it names, verified):
    /// returns what to apply, or `None` when something is missing or malformed.
    pub fn resolve(&self, blob: &dyn Fn(&str) -> Option<Vec<u8>>) -> Option<Resolved> {
        let metadata = match &self.metadata {
            Some(value) => Some(serde_json::from_value::<ReleaseMetadata>(value.clone()).ok()?),
            None => None,
        };
        let mut manifests = Vec::with_capacity(self.manifests_put.len());
        for (name, hex) in &self.manifests_put {
            manifests.push((name.clone(), String::from_utf8(blob(hex)?).ok()?));
        }
        let mut files = Vec::with_capacity(self.files_put.len());
        for (name, hex) in &self.files_put {
            files.push((name.clone(), blob(hex)?));
        }
        let attachments = match &self.attachments {
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for a in list {
                    out.push(Attachment {
                        kind: a.kind.clone(),
                        media_type: a.media_type.clone(),
                        data: base64::engine::general_purpose::STANDARD
                            .decode(&a.data)
                            .ok()?,
                    });
                }
                Some(out)
            }
            None => None,
        };
        Some(Resolved {
            delta: self.clone(),
            metadata,
            manifests,
            files,
            attachments,
        })
    }
}

/// A delta with its blobs read: applying it cannot fail.
pub(crate) struct Resolved {
    delta: Delta,
    metadata: Option<ReleaseMetadata>,
    manifests: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>)>,
    attachments: Option<Vec<Attachment>>,
}

impl Resolved {
    /// Applies the delta to the payload the stage received.
    pub fn apply(self, release: &mut Release) {
        let d = self.delta;
        if let Some(name) = d.name {
            release.name = name;
        }
        if let Some(metadata) = self.metadata {
            release.metadata = metadata;
        }
        if let Some(created) = d.created {
            release.created = created;
        }
        if let Some(annotations) = d.annotations {
            release.annotations = annotations;
        }
        for name in &d.images_removed {
            release.images.remove(name);
        }
        for image in d.images_put {
            release.images.insert(
                image.name.clone(),
                Image {
                    name: image.name,
                    pullspec: image.pullspec,
                    annotations: image.annotations,
                },
            );
        }
        for name in &d.manifests_removed {
            release.manifests.remove(name);
        }
        release.manifests.extend(self.manifests);
        for name in &d.files_removed {
            release.files.remove(name);
        }
        release.files.extend(self.files);
        if let Some(attachments) = self.attachments {
            release.attachments = attachments;
        }
    }
}

/// The keys of `before` that `after` lacks.
fn removed<A, B>(before: &BTreeMap<String, A>, after: &BTreeMap<String, B>) -> Vec<String> {
    before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Release {
        let mut r = Release::new("4.17.0", "2024-03-10T01:01:16Z");
        r.manifests.insert("a.yaml".into(), "kind: A\n".into());
        r.manifests.insert("b.yaml".into(), "kind: B\n".into());
        r.files.insert("x.sh".into(), b"#!/bin/sh\n".to_vec());
        r.images.insert(
            "cli".into(),
            Image {
                name: "cli".into(),
                pullspec: "quay.io/okd/cli@sha256:00".into(),
                annotations: BTreeMap::new(),
            },
        );
        r
    }

    #[test]
    fn a_delta_applied_to_the_input_gives_the_output() {
        let before = sample();
        let snapshot = Snapshot::of(&before);
        let mut after = before.clone();
        after.manifests.remove("a.yaml");
        after
            .manifests
            .insert("b.yaml".into(), "kind: B\nchanged: 1\n".into());
        after.manifests.insert("c.yaml".into(), "kind: C\n".into());
        after.files.remove("x.sh");
        after.images.remove("cli");
        after.images.insert(
            "os".into(),
            Image {
                name: "os".into(),
                pullspec: "quay.io/okd/os@sha256:11".into(),
                annotations: BTreeMap::from([("k".into(), "v".into())]),
            },
        );
        after.metadata.previous = vec!["4.16.0".into()];
        after.attachments.push(Attachment {
            kind: "sbom".into(),
            media_type: "application/spdx+json".into(),
            data: b"{}".to_vec(),
        });
        let (delta, blobs, next) = Delta::between(&snapshot, &after);
        // Only what changed is stored: the two new manifests.
        assert_eq!(blobs.len(), 2);
        assert_eq!(delta.manifests_removed, vec!["a.yaml".to_string()]);
        let store: BTreeMap<String, Vec<u8>> =
            blobs.iter().map(|(h, b)| (h.clone(), b.to_vec())).collect();
        // Through JSON, as on disk.
        let delta: Delta = serde_json::from_slice(&serde_json::to_vec(&delta).unwrap()).unwrap();
        let resolved = delta.resolve(&|h| store.get(h).cloned()).unwrap();
        let mut applied = before.clone();
        resolved.apply(&mut applied);
        assert_eq!(applied, after);
        assert_eq!(next.manifests, Snapshot::of(&after).manifests);
    }

    #[test]
    fn around_a_check_only_the_attachments_are_compared() {
        let mut release = sample();
        let before = release.attachments.clone();
        assert_eq!(Delta::of_attachments(&before, &release), Delta::default());
        release.attachments.push(Attachment {
            kind: "signature-verification".into(),
            media_type: "application/json".into(),
            data: b"{}".to_vec(),
        });
        let delta = Delta::of_attachments(&before, &release);
        assert_eq!(delta.attachments.as_ref().map(Vec::len), Some(1));
        let mut applied = sample();
        delta.resolve(&|_| None).unwrap().apply(&mut applied);
        assert_eq!(applied.attachments, release.attachments);
    }

    #[test]
    fn an_unchanged_payload_gives_an_empty_delta() {
        let before = sample();
        let (delta, blobs, _) = Delta::between(&Snapshot::of(&before), &before);
        assert_eq!(delta, Delta::default());
        assert!(blobs.is_empty());
    }

    #[test]
    fn a_missing_or_bad_blob_resolves_to_nothing() {
        let before = sample();
        let mut after = before.clone();
        after.manifests.insert("c.yaml".into(), "kind: C\n".into());
        let (delta, _, _) = Delta::between(&Snapshot::of(&before), &after);
        assert!(delta.resolve(&|_| None).is_none());
        assert!(delta.resolve(&|_| Some(vec![0xff, 0xfe])).is_none());
    }
}
