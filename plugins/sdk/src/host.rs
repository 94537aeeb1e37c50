//! The host's services as traits, so stage logic can be tested without a host.
//!
//! [`Release`] is implemented by the real `payload` resource ([`Payload`]) and by
//! [`crate::testing::MemoryRelease`]; [`Registry`] by [`HostRegistry`] (the `registry` import)
//! and by [`crate::testing::MemoryRegistry`]. Write the stage's logic against the traits, call it
//! from `run` with the real ones, and test it natively with the in-memory ones.

use crate::{Attachment, Image, Payload};

/// The release payload a stage works on: the methods of the WIT `payload` resource.
///
/// See `wit/deps/okd-compose@0.2.0/release.wit` for what each method promises; the in-memory implementation follows
/// the same rules.
pub trait Release {
    /// The release name (`metadata.name` of `image-references`).
    fn name(&self) -> String;
    /// `release-metadata` as JSON.
    fn metadata(&self) -> String;
    /// Replaces `release-metadata`.
    fn set_metadata(&self, json: &str) -> Result<(), String>;
    /// Every component image, sorted by tag name.
    fn images(&self) -> Vec<Image>;
    /// One component image by tag name.
    fn image(&self, name: &str) -> Option<Image>;
    /// Adds or replaces the image with this tag name.
    fn put_image(&self, image: &Image) -> Result<(), String>;
    /// Removes an image by tag name; false if there was none.
    fn remove_image(&self, name: &str) -> bool;
    /// The file names of every manifest, sorted.
    fn manifests(&self) -> Vec<String>;
    /// The file names of the manifests whose text contains `needle`, sorted.
    fn grep_manifests(&self, needle: &str) -> Vec<String>;
    /// The text of one manifest, or none if there is no such file.
    fn read_manifest(&self, path: &str) -> Option<String>;
    /// Creates or replaces one manifest.
    fn write_manifest(&self, path: &str, content: &str) -> Result<(), String>;
    /// Removes one manifest; false if there was none.
    fn remove_manifest(&self, path: &str) -> bool;
    /// Replaces the pullspec `old` by `new` across all manifests; the file names that changed.
    fn rewrite_pullspec(&self, old: &str, new: &str) -> Result<Vec<String>, String>;
    /// Adds an attachment to publish next to the release image.
    fn attach(&self, attachment: &Attachment);
    /// The attachments added so far.
    fn attachments(&self) -> Vec<Attachment>;
}

impl Release for Payload {
    fn name(&self) -> String {
        Payload::name(self)
    }
    fn metadata(&self) -> String {
        Payload::metadata(self)
    }
    fn set_metadata(&self, json: &str) -> Result<(), String> {
        Payload::set_metadata(self, json)
    }
    fn images(&self) -> Vec<Image> {
        Payload::images(self)
    }
    fn image(&self, name: &str) -> Option<Image> {
        Payload::image(self, name)
    }
    fn put_image(&self, image: &Image) -> Result<(), String> {
        Payload::put_image(self, image)
    }
    fn remove_image(&self, name: &str) -> bool {
        Payload::remove_image(self, name)
    }
    fn manifests(&self) -> Vec<String> {
        Payload::manifests(self)
    }
    fn grep_manifests(&self, needle: &str) -> Vec<String> {
        Payload::grep_manifests(self, needle)
    }
    fn read_manifest(&self, path: &str) -> Option<String> {
        Payload::read_manifest(self, path)
    }
    fn write_manifest(&self, path: &str, content: &str) -> Result<(), String> {
        Payload::write_manifest(self, path, content)
    }
    fn remove_manifest(&self, path: &str) -> bool {
        Payload::remove_manifest(self, path)
    }
    fn rewrite_pullspec(&self, old: &str, new: &str) -> Result<Vec<String>, String> {
        Payload::rewrite_pullspec(self, old, new)
    }
    fn attach(&self, attachment: &Attachment) {
        Payload::attach(self, attachment)
    }
    fn attachments(&self) -> Vec<Attachment> {
        Payload::attachments(self)
    }
}

/// Read-only registry queries: the WIT `registry` interface.
///
/// The host answers only for repositories the stage was granted (`grants.registry`).
pub trait Registry {
    /// Resolves an image reference (`repo:tag` or `repo@sha256:…`) to its manifest digest.
    fn resolve(&self, reference: &str) -> Result<String, String>;
    /// The image config JSON of an image reference.
    fn image_config(&self, reference: &str) -> Result<String, String>;
}

/// The registry of the stream, through the `okd:compose/registry` import.
///
/// Only call it from a running component: on a native target the import is a stub that panics.
/// A component whose code uses it imports `registry`, so its stage needs a registry grant.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostRegistry;

impl Registry for HostRegistry {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        crate::registry::resolve(reference)
    }
    fn image_config(&self, reference: &str) -> Result<String, String> {
        crate::registry::image_config(reference)
    }
}
