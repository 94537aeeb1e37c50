//! An OCI image layout on disk: `oci-layout`, `index.json` and `blobs/sha256/<hex>`.
//!
//! Every blob read is verified against its digest, so a corrupt or tampered store is reported
//! rather than used. Writes go to a temporary file in the same directory and are renamed into
//! place, so a crash never leaves a truncated blob under a valid name.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use compose_payload::oci::{
    Descriptor, ImageIndex, REF_NAME_ANNOTATION, canonical_json, is_sha256_digest, sha256_digest,
};

use crate::error::{Error, Result};
use crate::file::{MIB, read_regular};

/// The `oci-layout` file name.
const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The index file name.
const INDEX_FILE: &str = "index.json";
/// The largest `oci-layout` file read.
const MAX_MARKER: u64 = MIB;
/// The largest `index.json` read.
const MAX_INDEX: u64 = 256 * MIB;
/// The largest blob read into memory: layers of real payloads are well under this.
const MAX_BLOB: u64 = 8 << 30;
/// What we write into `oci-layout`.
const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An OCI image layout directory, with its `index.json` held in memory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
    index: ImageIndex,
    /// Where each digest and ref name is in `index.manifests`: a mirror of thousands of
    /// images is asked about each of them, so a lookup must not scan the index.
    positions: Positions,
}

/// Positions in `index.manifests`, in index order.
#[derive(Debug, Clone, Default)]
struct Positions {
    by_digest: HashMap<String, usize>,
    by_ref_name: HashMap<String, Vec<usize>>,
}

impl Positions {
    fn of(index: &ImageIndex) -> Self {
        let mut positions = Positions::default();
        for (i, d) in index.manifests.iter().enumerate() {
            positions.add(i, d);
        }
        positions
    }

    /// Notes the entry `d` at position `i`, after every entry before it.
    fn add(&mut self, i: usize, d: &Descriptor) {
        self.by_digest.entry(d.digest.clone()).or_insert(i);
        if let Some(name) = d.ref_name() {
            self.by_ref_name
                .entry(name.to_string())
                .or_default()
                .push(i);
        }
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io_error("creating a temporary file in", dir))?;
    tmp.write_all(bytes)
        .map_err(io_error("writing", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| io_error("renaming a temporary file to", path)(e.error))?;
    Ok(())
}

impl OciLayout {
    /// Opens an existing layout; fails if `path` has no `oci-layout` file or no readable
    /// `index.json`.
    pub fn open(path: &Path) -> Result<OciLayout> {
        let not_layout = |reason: String| Error::NotALayout {
            path: path.to_path_buf(),
            reason,
        };
        let marker = path.join(OCI_LAYOUT_FILE);
        let marker_bytes = match read_regular(&marker, MAX_MARKER) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                return Err(not_layout(format!("it has no `{OCI_LAYOUT_FILE}` file")));
            }
            Err(e) => return Err(io_error("reading", &marker)(e.into_io())),
        };
        let version = serde_json::from_slice::<serde_json::Value>(&marker_bytes)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion").cloned());
        if version.is_none() {
            return Err(not_layout(format!(
                "`{OCI_LAYOUT_FILE}` has no `imageLayoutVersion`"
            )));
        }
        let index_path = path.join(INDEX_FILE);
        let index_bytes = match read_regular(&index_path, MAX_INDEX) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                return Err(not_layout(format!("it has no `{INDEX_FILE}`")));
            }
            Err(e) => return Err(io_error("reading", &index_path)(e.into_io())),
        };
        let index = serde_json::from_slice(&index_bytes).map_err(|source| Error::InvalidJson {
            path: index_path,
            what: "an OCI image index",
            source,
        })?;
        Ok(OciLayout {
            root: path.to_path_buf(),
            positions: Positions::of(&index),
            index,
        })
    }

    /// Creates an empty layout in `path` (created if needed); fails if one is already there.
    pub fn create(path: &Path) -> Result<OciLayout> {
        if path.join(OCI_LAYOUT_FILE).exists() {
            return Err(Error::LayoutExists(path.to_path_buf()));
        }
        let blobs = path.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(io_error("creating", &blobs))?;
        write_atomic(&path.join(OCI_LAYOUT_FILE), OCI_LAYOUT_CONTENT)?;
        let layout = OciLayout {
            root: path.to_path_buf(),
            index: ImageIndex::new(),
            positions: Positions::default(),
        };
        layout.save_index()?;
        Ok(layout)
    }

    /// The layout directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` is (or would be) stored.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        // Checking the form first also keeps `../` out of the path.
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|_| is_sha256_digest(digest))
            .ok_or_else(|| Error::InvalidDigest(digest.to_string()))?;
        Ok(self.root.join("blobs").join("sha256").join(hex))
    }

    /// Whether the blob `digest` is stored (not verified; [`OciLayout::read_blob`] verifies).
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// Reads the blob `digest`, always checking that its bytes hash to `digest`.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let bytes = match read_regular(&path, MAX_BLOB) {
            Ok(bytes) => bytes,
            Err(e) if e.is_not_found() => {
                return Err(Error::MissingBlob {
                    store: self.root.clone(),
                    digest: digest.to_string(),
                });
            }
            Err(e) => return Err(io_error("reading", &path)(e.into_io())),
        };
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(Error::DigestMismatch {
                path,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Stores `bytes` and returns their digest; a blob already present is left alone.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        let path = self.blob_path(&digest)?;
        if !path.is_file() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// The index as it stands in memory.
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// The (first) index entry whose [`REF_NAME_ANNOTATION`] is `ref_name`.
    pub fn find(&self, ref_name: &str) -> Option<Descriptor> {
        let first = *self.positions.by_ref_name.get(ref_name)?.first()?;
        self.index.manifests.get(first).cloned()
    }

    /// The digests of every index entry named `ref_name`, in index order.
    pub fn ref_digests(&self, ref_name: &str) -> Vec<&str> {
        self.positions
            .by_ref_name
            .get(ref_name)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.index.manifests.get(i))
            .map(|d| d.digest.as_str())
            .collect()
    }

    /// The first index entry with the digest `digest`.
    pub fn entry_with_digest(&self, digest: &str) -> Option<Descriptor> {
        let first = *self.positions.by_digest.get(digest)?;
        self.index.manifests.get(first).cloned()
    }

    /// Points `ref_name` at `descriptor`, replacing any entry with the same ref name.
    pub fn set_ref(&mut self, descriptor: Descriptor, ref_name: &str) {
        let mut descriptor = descriptor;
        descriptor
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REF_NAME_ANNOTATION.to_string(), ref_name.to_string());
        if self.positions.by_ref_name.contains_key(ref_name) {
            self.index
                .manifests
                .retain(|d| d.ref_name() != Some(ref_name));
            self.positions = Positions::of(&self.index);
        }
        self.positions.add(self.index.manifests.len(), &descriptor);
        self.index.manifests.push(descriptor);
    }

    /// Lists `descriptor` in the index without a ref name (a digest-only image), unless an
    /// unnamed entry with the same digest is already there.
    pub fn add_untagged(&mut self, descriptor: Descriptor) {
        let mut descriptor = descriptor;
        if let Some(annotations) = descriptor.annotations.as_mut() {
            annotations.remove(REF_NAME_ANNOTATION);
            if annotations.is_empty() {
                descriptor.annotations = None;
            }
        }
        let present = self
            .index
            .manifests
            .iter()
            .any(|d| d.ref_name().is_none() && d.digest == descriptor.digest);
        if !present {
            self.positions.add(self.index.manifests.len(), &descriptor);
            self.index.manifests.push(descriptor);
        }
    }

    /// Writes `index.json`: compact JSON with sorted keys, entries sorted by ref name (unnamed
    /// first) then digest, so the same content always gives the same bytes.
    pub fn save_index(&self) -> Result<()> {
        let mut index = self.index.clone();
        index.manifests.sort_by(|a, b| {
            (a.ref_name().unwrap_or(""), &a.digest).cmp(&(b.ref_name().unwrap_or(""), &b.digest))
        });
        let path = self.root.join(INDEX_FILE);
        let bytes = canonical_json(&index).map_err(|source| Error::InvalidJson {
            path: path.clone(),
            what: "an OCI image index",
            source,
        })?;
        write_atomic(&path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compose_payload::oci::OCI_MANIFEST;

    #[test]
    fn create_then_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mirror");
        let layout = OciLayout::create(&path).unwrap();
        assert_eq!(
            fs::read(path.join("oci-layout")).unwrap(),
            br#"{"imageLayoutVersion":"1.0.0"}"#
        );
        assert_eq!(
            fs::read_to_string(path.join("index.json")).unwrap(),
            r#"{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
        );
        assert!(layout.index().manifests.is_empty());
        assert!(OciLayout::open(&path).is_ok());
        assert!(matches!(
            OciLayout::create(&path),
            Err(Error::LayoutExists(_))
        ));
    }

    #[test]
    fn open_refuses_non_layouts() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            OciLayout::open(dir.path()),
            Err(Error::NotALayout { reason, .. }) if reason.contains("oci-layout")
        ));
        fs::write(dir.path().join("oci-layout"), b"{}").unwrap();
        assert!(matches!(
            OciLayout::open(dir.path()),
            Err(Error::NotALayout { .. })
        ));
        fs::write(
            dir.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        fs::write(dir.path().join("index.json"), b"[").unwrap();
        assert!(matches!(
            OciLayout::open(dir.path()),
            Err(Error::InvalidJson { .. })
        ));
    }

    #[test]
    fn blobs_are_verified_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let digest = layout.write_blob(b"hello").unwrap();
        assert_eq!(digest, sha256_digest(b"hello"));
        assert!(layout.has_blob(&digest));
        assert_eq!(layout.read_blob(&digest).unwrap(), b"hello");
        // Writing again is a no-op.
        assert_eq!(layout.write_blob(b"hello").unwrap(), digest);

        let path = layout.blob_path(&digest).unwrap();
        fs::write(&path, b"tampered").unwrap();
        match layout.read_blob(&digest) {
            Err(Error::DigestMismatch {
                path: p,
                expected,
                actual,
            }) => {
                assert_eq!(p, path);
                assert_eq!(expected, digest);
                assert_eq!(actual, sha256_digest(b"tampered"));
            }
            other => panic!("expected a digest mismatch, got {other:?}"),
        }

        let missing = sha256_digest(b"absent");
        assert!(!layout.has_blob(&missing));
        assert!(matches!(
            layout.read_blob(&missing),
            Err(Error::MissingBlob { .. })
        ));
        assert!(matches!(
            layout.read_blob("sha256:../../etc/passwd"),
            Err(Error::InvalidDigest(_))
        ));
    }

    #[test]
    fn special_files_are_refused_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let digest = sha256_digest(b"blob");
        let path = layout.blob_path(&digest).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        let err = layout.read_blob(&digest).unwrap_err();
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(text.contains("character device"), "{text}");

        let fifo = dir.path().join("index.json");
        fs::remove_file(&fifo).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        let err = OciLayout::open(dir.path()).unwrap_err();
        assert!(
            std::error::Error::source(&err)
                .unwrap()
                .to_string()
                .contains("FIFO"),
            "{err:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn refs_are_replaced_and_saved_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let a = Descriptor::new(OCI_MANIFEST, &sha256_digest(b"a"), 1);
        let b = Descriptor::new(OCI_MANIFEST, &sha256_digest(b"b"), 1);
        layout.set_ref(b.clone(), "z-tag");
        layout.set_ref(a.clone(), "a-tag");
        layout.set_ref(a.clone(), "z-tag");
        layout.add_untagged(b.clone());
        layout.add_untagged(b.clone());
        assert_eq!(layout.index().manifests.len(), 3);
        assert_eq!(layout.find("z-tag").unwrap().digest, a.digest);
        assert!(layout.find("missing").is_none());
        // The lookups follow the replacements.
        assert_eq!(layout.ref_digests("z-tag"), [a.digest.as_str()]);
        assert_eq!(layout.ref_digests("a-tag"), [a.digest.as_str()]);
        assert!(layout.ref_digests("missing").is_empty());
        let untagged = layout.entry_with_digest(&b.digest).unwrap();
        assert_eq!(untagged.ref_name(), None);
        assert_eq!(untagged.digest, b.digest);
        assert!(layout.entry_with_digest(&sha256_digest(b"c")).is_none());
        layout.save_index().unwrap();

        let reopened = OciLayout::open(dir.path()).unwrap();
        let order: Vec<(Option<&str>, &str)> = reopened
            .index()
            .manifests
            .iter()
            .map(|d| (d.ref_name(), d.digest.as_str()))
            .collect();
        assert_eq!(
            order,
            vec![
                (None, b.digest.as_str()),
                (Some("a-tag"), a.digest.as_str()),
                (Some("z-tag"), a.digest.as_str()),
            ]
        );
        let first = fs::read(dir.path().join("index.json")).unwrap();
        reopened.save_index().unwrap();
        assert_eq!(fs::read(dir.path().join("index.json")).unwrap(), first);
    }
}
