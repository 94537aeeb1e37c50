//! Pushing an image to a registry so that a tag never points at a half-written image.
//!
//! The order is fixed: every blob first (concurrently, skipping the ones the repository
//! already has, found with `HEAD`), then the manifest by digest, then the tag. A registry
//! refuses a manifest whose blobs it lacks, and the tag is written last, so a push stopped at
//! any point leaves the tag where it was: on the previous complete image, or absent. Running
//! the push again uploads only what is still missing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use compose_payload::oci::{Descriptor, ImageManifest, is_manifest};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::progress::{Progress, PushProgress};
use crate::reference::Reference;
use crate::remote::{RemoteRegistries, RemoteRegistry, spawn};
use crate::source::{ImageSource, media_type_of};

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// Where it went, as given (`host/repo:tag`).
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// Blobs the manifest refers to (config and layers).
    pub blobs: usize,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs the registry already had.
    pub skipped: usize,
    /// Bytes uploaded (blobs and manifest): 0 when the tag already named this image.
    pub uploaded_bytes: u64,
}

/// Reads a blob's bytes by digest.
pub type BlobReader = Arc<dyn Fn(&str) -> Result<Vec<u8>> + Send + Sync>;

/// An image to push: its manifest, and where its blobs are read from.
pub struct PushContent {
    /// The manifest bytes, pushed as they are (their digest is the image's).
    pub manifest: Vec<u8>,
    /// The manifest media type.
    pub media_type: String,
    /// Reads the config and layers by digest.
    pub read: BlobReader,
}

/// Pushes the image `source_ref` of `source` (an OCI layout, a mirror) to `target`.
pub async fn push_image(
    registries: &RemoteRegistries,
    source: Arc<dyn ImageSource>,
    source_ref: &Reference,
    target: &Reference,
) -> Result<PushReport> {
    let (manifest, media_type) = {
        let source = source.clone();
        let r = source_ref.clone();
        tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, String)> {
            let descriptor = source.resolve(&r)?;
            let bytes = source.blob(&r, &descriptor.digest)?;
            let media_type = media_type_of(&bytes).unwrap_or(descriptor.media_type);
            Ok((bytes, media_type))
        })
        .await
        .map_err(|e| Error::Client(format!("reading the image to push: {e}")))??
    };
    let r = source_ref.clone();
    let read: BlobReader = Arc::new(move |digest: &str| source.blob(&r, digest));
    push_content(
        registries,
        target,
        PushContent {
            manifest,
            media_type,
            read,
        },
    )
    .await
}

/// Pushes `content` to `target`: blobs, then the manifest by digest, then the tag (if
/// `target` has one). A `target` digest must be the manifest's.
pub async fn push_content(
    registries: &RemoteRegistries,
    target: &Reference,
    content: PushContent,
) -> Result<PushReport> {
    if !is_manifest(&content.media_type) {
        return Err(Error::UnsupportedMediaType {
            reference: target.to_string(),
            store: "the image to push".to_string(),
            media_type: content.media_type,
        });
    }
    let parsed: ImageManifest =
        serde_json::from_slice(&content.manifest).map_err(|source| Error::BadContent {
            reference: target.to_string(),
            store: "the image to push".to_string(),
            what: "image manifest",
            source,
        })?;
    let digest = compose_payload::oci::sha256_digest(&content.manifest);
    if let Some(wanted) = &target.digest
        && *wanted != digest
    {
        return Err(Error::RemoteDigestMismatch {
            registry: target.registry.clone(),
            reference: target.to_string(),
            expected: wanted.clone(),
            actual: digest,
        });
    }
    let mut blobs: Vec<Descriptor> = Vec::new();
    for d in std::iter::once(&parsed.config).chain(&parsed.layers) {
        if !blobs.iter().any(|b| b.digest == d.digest) {
            blobs.push(d.clone());
        }
    }
    let registry = registries.pusher(&target.registry)?;
    let concurrency = registries.config().concurrency.max(1);
    let target = target.clone();
    let progress = registries.progress();
    let pushed = spawn(push_task(
        registry,
        target,
        content,
        digest,
        blobs,
        concurrency,
        progress.clone(),
    ))
    .await;
    if let Some(progress) = &progress {
        progress.finished();
    }
    pushed?
}

/// Counts a push's blobs and bytes as they are done, and tells a [`Progress`].
struct Tally {
    target: String,
    blobs: usize,
    total_bytes: u64,
    done: AtomicUsize,
    uploaded: AtomicUsize,
    bytes: AtomicU64,
    progress: Option<Arc<dyn Progress>>,
}

impl Tally {
    /// One more blob done, `uploaded` bytes of it sent (`None`: it was already there).
    fn blob_done(&self, uploaded: Option<u64>) {
        let blobs_done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(size) = uploaded {
            self.uploaded.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(size, Ordering::Relaxed);
        }
        if let Some(progress) = &self.progress {
            progress.pushing(
                &self.target,
                PushProgress {
                    blobs_done,
                    blobs: self.blobs,
                    bytes: self.bytes.load(Ordering::Relaxed),
                    total_bytes: self.total_bytes,
                },
            );
        }
    }
}

async fn push_task(
    registry: Arc<RemoteRegistry>,
    target: Reference,
    content: PushContent,
    digest: String,
    blobs: Vec<Descriptor>,
    concurrency: usize,
    progress: Option<Arc<dyn Progress>>,
) -> Result<PushReport> {
    let tally = Arc::new(Tally {
        target: target.to_string(),
        blobs: blobs.len(),
        total_bytes: blobs.iter().map(|b| b.size).sum(),
        done: AtomicUsize::new(0),
        uploaded: AtomicUsize::new(0),
        bytes: AtomicU64::new(0),
        progress,
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for blob in &blobs {
        let registry = registry.clone();
        let target = target.clone();
        let read = content.read.clone();
        let digest = blob.digest.clone();
        let tally = tally.clone();
        let slots = slots.clone();
        tasks.spawn(async move {
            let _slot = slots
                .acquire_owned()
                .await
                .map_err(|_| Error::Client("the upload slots closed".into()))?;
            if registry.has_blob_async(&target, &digest).await? {
                tally.blob_done(None);
                return Ok(());
            }
            let d = digest.clone();
            let data = tokio::task::spawn_blocking(move || read(&d))
                .await
                .map_err(|e| Error::Client(format!("reading blob `{digest}`: {e}")))??;
            let size = data.len() as u64;
            registry.push_blob_async(&target, data, &digest).await?;
            tally.blob_done(Some(size));
            Ok::<(), Error>(())
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(|e| Error::Client(format!("an upload task failed: {e}")));
        if let Err(e) = result.and_then(|r| r)
            && first_error.is_none()
        {
            first_error = Some(e);
            // Stop the other uploads: the manifest will not be written anyway.
            tasks.abort_all();
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let tagged = target.tag.as_ref().map(|tag| Reference {
        digest: None,
        tag: Some(tag.clone()),
        ..target.clone()
    });
    // The tag already on this very manifest: the image is complete there, nothing to write.
    let done = match &tagged {
        Some(tagged) => registry.manifest_digest_async(tagged).await? == Some(digest.clone()),
        None => false,
    };
    if !done {
        let by_digest = target.pinned(&digest)?;
        registry
            .push_manifest_async(&by_digest, content.manifest.clone(), &content.media_type)
            .await?;
        tally
            .bytes
            .fetch_add(content.manifest.len() as u64, Ordering::Relaxed);
        if let Some(tagged) = &tagged {
            registry
                .push_manifest_async(tagged, content.manifest.clone(), &content.media_type)
                .await?;
        }
    }
    let uploaded = tally.uploaded.load(Ordering::Relaxed);
    Ok(PushReport {
        reference: target.to_string(),
        digest,
        blobs: blobs.len(),
        uploaded,
        skipped: blobs.len() - uploaded,
        uploaded_bytes: tally.bytes.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Pushes(Mutex<Vec<(String, PushProgress)>>);

    impl Progress for Pushes {
        fn images_read(&self, _: &str, _: usize, _: usize) {}
        fn pushing(&self, target: &str, state: PushProgress) {
            self.0.lock().unwrap().push((target.to_string(), state));
        }
        fn finished(&self) {}
    }

    #[test]
    fn a_push_reports_blobs_and_bytes_as_they_are_done() {
        let pushes = Arc::new(Pushes::default());
        let tally = Tally {
            target: "127.0.0.1:5000/okd/release:1".to_string(),
            blobs: 3,
            total_bytes: 1000,
            done: AtomicUsize::new(0),
            uploaded: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            progress: Some(pushes.clone()),
        };
        tally.blob_done(None);
        tally.blob_done(Some(600));
        tally.blob_done(Some(300));
        let seen = pushes.0.lock().unwrap().clone();
        let states: Vec<(usize, u64)> = seen.iter().map(|(_, s)| (s.blobs_done, s.bytes)).collect();
        assert_eq!(states, [(1, 0), (2, 600), (3, 900)]);
        assert!(seen.iter().all(|(t, s)| t == "127.0.0.1:5000/okd/release:1"
            && s.blobs == 3
            && s.total_bytes == 1000));
        assert_eq!(tally.uploaded.load(Ordering::Relaxed), 2);
    }
}
