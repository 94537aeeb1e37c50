//! The release layer: one gzip-compressed tar holding `release-manifests/`, built
//! deterministically and read back the way `oc adm release info` reads it.
//!
//! Determinism: entries in a fixed order, GNU headers with uid/gid 0 and empty owner names,
//! every mtime = the release's `created`, a fixed gzip level and a gzip header mtime of 0. The
//! same [`Release`] therefore always gives the same layer digest.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};
use tar::{Builder, EntryType, Header};

use crate::error::{Error, Result};
use crate::gzip::Encoder;
use crate::image_references::write_image_references;
use crate::oci::sha256_digest;
use crate::release::{Release, validate_file_name, validate_manifest_name};
use crate::release_metadata::write_release_metadata;
use crate::timestamp::parse_rfc3339_utc;

/// The directory every release layer entry lives in.
pub const RELEASE_DIR: &str = "release-manifests";
/// The image-references file name.
pub const IMAGE_REFERENCES: &str = "image-references";
/// The release-metadata file name.
pub const RELEASE_METADATA: &str = "release-metadata";

/// The most file bytes [`read_release_layer`] holds in memory. Real release layers are under
/// 50 MiB unpacked; the limit stops a gzip bomb from exhausting memory.
pub const MAX_LAYER_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// The most bytes [`read_release_layer`] reserves for one entry before reading it.
const MAX_SIZE_HINT: u64 = 4 * 1024 * 1024;

/// A built release layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    /// The gzip-compressed tar: the blob stored in the registry.
    pub gzip: Vec<u8>,
    /// `sha256:` of `gzip`: the layer digest in the image manifest.
    pub digest: String,
    /// `sha256:` of the uncompressed tar: the entry in the config's `rootfs.diff_ids`.
    pub diff_id: String,
    /// The length of `gzip`.
    pub size: u64,
}

/// Built release layers kept between runs, by diff ID (the SHA-256 of the uncompressed tar):
/// a layer whose tar did not change is not compressed again. What a cache returns is not
/// trusted: [`build_release_layer_with`] decompresses it (every gzip member, as container
/// runtimes read a layer) and uses it only when it hashes to the diff ID.
pub trait LayerCache {
    /// The gzip blob stored for `diff_id` (`sha256:…`), if any.
    fn get(&self, diff_id: &str) -> Option<Vec<u8>>;
    /// Keeps the blob `gzip` built for `diff_id`.
    fn put(&self, diff_id: &str, gzip: &[u8]);
}

/// Builds the release layer of `release`: the directory `release-manifests` (0777), then
/// `image-references`, `release-metadata` and every manifest and other file (a script, kept
/// byte for byte) in name order (all 0444).
pub fn build_release_layer(release: &Release) -> Result<LayerBlob> {
    build_release_layer_with(release, None)
}

/// [`build_release_layer`], through `cache`: the tar is hashed first, and a blob the cache
/// holds for that diff ID is used when it checks out; otherwise the layer is built and kept.
/// The bytes are the same either way (the compression is deterministic).
pub fn build_release_layer_with(
    release: &Release,
    cache: Option<&dyn LayerCache>,
) -> Result<LayerBlob> {
    let Some(cache) = cache else {
        let (hash, gzip) = write_tar(release, TarSink::new(true))?.finish()?;
        return Ok(LayerBlob::new(gzip, hash));
    };
    let (diff_id, _) = write_tar(release, TarSink::new(false))?.finish()?;
    if let Some(gzip) = cache.get(&diff_id)
        && holds(&gzip, &diff_id)
    {
        return Ok(LayerBlob::new(gzip, diff_id));
    }
    let (hash, gzip) = write_tar(release, TarSink::new(true))?.finish()?;
    let layer = LayerBlob::new(gzip, hash);
    cache.put(&layer.diff_id, &layer.gzip);
    Ok(layer)
}

/// Whether `gzip`, decompressed whole (every member, as a container runtime reads it; at most
/// [`MAX_LAYER_FILE_BYTES`] twice over), is a tar with the SHA-256 `diff_id`.
fn holds(gzip: &[u8], diff_id: &str) -> bool {
    let mut decoder = MultiGzDecoder::new(gzip).take(2 * MAX_LAYER_FILE_BYTES);
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match decoder.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hash.update(&buffer[..n]),
            Err(_) => return false,
        }
    }
    format!("sha256:{}", hex::encode(hash.finalize())) == diff_id
}

impl LayerBlob {
    /// The layer of the compressed `gzip` whose tar has the SHA-256 `diff_id`.
    fn new(gzip: Vec<u8>, diff_id: String) -> Self {
        LayerBlob {
            digest: sha256_digest(&gzip),
            diff_id,
            size: gzip.len() as u64,
            gzip,
        }
    }
}

/// Writes the tar of `release`'s layer into `sink`.
fn write_tar(release: &Release, sink: TarSink) -> Result<TarSink> {
    let mtime = parse_rfc3339_utc(&release.created)?;
    let image_references = write_image_references(release)?;
    let release_metadata = write_release_metadata(&release.metadata)?;

    // The tar is never held: it streams through its hash (and the gzip encoder), so building
    // the layer of a 10x payload (12 MiB of tar) costs its compressed size only.
    let mut tar = Builder::new(sink);
    append(
        &mut tar,
        RELEASE_DIR,
        EntryType::Directory,
        0o777,
        mtime,
        &[],
    )?;
    let mut files: Vec<(&str, &[u8])> = vec![
        (IMAGE_REFERENCES, &image_references),
        (RELEASE_METADATA, &release_metadata),
    ];
    let mut contents: Vec<(&str, &[u8])> = Vec::new();
    for (name, text) in &release.manifests {
        validate_manifest_name(name)?;
        contents.push((name, text.as_bytes()));
    }
    for (name, data) in &release.files {
        validate_file_name(name)?;
        contents.push((name, data));
    }
    contents.sort_by(|a, b| a.0.cmp(b.0));
    files.extend(contents);
    for (name, data) in files {
        let path = format!("{RELEASE_DIR}/{name}");
        append(&mut tar, &path, EntryType::Regular, 0o444, mtime, data)?;
    }
    tar.into_inner().map_err(|source| Error::LayerWrite {
        path: RELEASE_DIR.to_string(),
        source,
    })
}

/// Where the tar of the release layer goes: its SHA-256 (the diff ID) and, when the layer is
/// built, the gzip encoder.
struct TarSink {
    hash: Sha256,
    gzip: Option<Encoder>,
}

impl TarSink {
    /// A sink that hashes, and compresses when `compress`.
    fn new(compress: bool) -> Self {
        TarSink {
            hash: Sha256::new(),
            gzip: compress.then(Encoder::new),
        }
    }

    /// The diff ID (`sha256:…`) and the compressed bytes (empty when not compressed).
    fn finish(self) -> Result<(String, Vec<u8>)> {
        let diff_id = format!("sha256:{}", hex::encode(self.hash.finalize()));
        let gzip = match self.gzip {
            Some(gzip) => gzip.finish().map_err(|source| Error::LayerWrite {
                path: RELEASE_DIR.to_string(),
                source,
            })?,
            None => Vec::new(),
        };
        Ok((diff_id, gzip))
    }
}

impl Write for TarSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Some(gzip) = &mut self.gzip {
            gzip.write_all(data)?;
        }
        self.hash.update(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Appends one entry with a GNU header (long names become `././@LongLink` entries).
fn append<W: Write>(
    tar: &mut Builder<W>,
    path: &str,
    kind: EntryType,
    mode: u32,
    mtime: u64,
    data: &[u8],
) -> Result<()> {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(data.len() as u64);
    tar.append_data(&mut header, path, data)
        .map_err(|source| Error::LayerWrite {
            path: path.to_string(),
            source,
        })
}

/// Reads the files of `release-manifests/` from a release layer (a gzip-compressed tar).
///
/// As oc does, only regular files directly inside `release-manifests/` count: other entries,
/// other directories and subdirectories are ignored. An entry whose path would leave the
/// directory (`release-manifests/../x`) is refused. A later entry replaces an earlier one of
/// the same name, as extraction would.
pub fn read_release_layer(gzip: &[u8]) -> Result<BTreeMap<String, Vec<u8>>> {
    // Every gzip member, one stream, as Go's `gzip.Reader` (oc's, the CVO's) reads a layer.
    let mut archive = tar::Archive::new(MultiGzDecoder::new(gzip));
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    let prefix = format!("{RELEASE_DIR}/");
    for entry in archive.entries().map_err(Error::LayerRead)? {
        let mut entry = entry.map_err(Error::LayerRead)?;
        let Ok(path) = String::from_utf8(entry.path_bytes().into_owned()) else {
            continue;
        };
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        if rest.starts_with('/') || rest.split('/').any(|part| part == "..") {
            return Err(Error::UnsafeLayerPath(path));
        }
        if rest.is_empty() || rest.contains('/') || !entry.header().entry_type().is_file() {
            continue;
        }
        total = total.saturating_add(entry.size());
        if total > MAX_LAYER_FILE_BYTES {
            return Err(Error::LayerTooLarge {
                limit: MAX_LAYER_FILE_BYTES,
            });
        }
        // The entry's size, so that a manifest is read without growing its buffer (and keeps
        // no slack); capped, since a header may claim more than its entry holds.
        let hint = entry.size().min(MAX_SIZE_HINT);
        let mut data = Vec::with_capacity(usize::try_from(hint).unwrap_or_default());
        entry.read_to_end(&mut data).map_err(Error::LayerRead)?;
        files.insert(rest.to_string(), data);
    }
    Ok(files)
}

/// Helpers for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod tests_support {
    use std::io::Write;

    /// A gzip tar holding `release-manifests/<name>` for each file, built by hand.
    pub(crate) fn layer_with(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o444);
            tar.append_data(&mut h, format!("release-manifests/{name}"), *data)
                .unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::read::GzDecoder;

    use super::*;
    use crate::release::{Image, ReleaseMetadata};

    fn sample_release() -> Release {
        let mut r = Release {
            name: "4.17.0-okd-scos.0".into(),
            metadata: ReleaseMetadata::new("4.17.0-okd-scos.0"),
            images: BTreeMap::new(),
            manifests: BTreeMap::new(),
            files: BTreeMap::new(),
            annotations: BTreeMap::new(),
            created: "2024-03-10T01:01:16Z".into(),
            attachments: Vec::new(),
        };
        r.put_image(Image {
            name: "cli".into(),
            pullspec: format!("quay.io/okd/scos-content@sha256:{}", "1".repeat(64)),
            annotations: BTreeMap::new(),
        })
        .unwrap();
        r.write_manifest("0000_50_b_01.yaml", "kind: B\n".into())
            .unwrap();
        r.write_manifest("0000_10_a_01.yaml", "kind: A\n".into())
            .unwrap();
        let long = format!("0000_50_{}_01_long.yaml", "x".repeat(120));
        r.write_manifest(&long, "kind: Long\n".into()).unwrap();
        r
    }

    fn tar_of(gzip: &[u8]) -> Vec<u8> {
        let mut tar = Vec::new();
        GzDecoder::new(gzip).read_to_end(&mut tar).unwrap();
        tar
    }

    /// A [`LayerCache`] in memory that counts what it is asked.
    #[derive(Default)]
    struct Memory {
        blobs: std::sync::Mutex<BTreeMap<String, Vec<u8>>>,
        puts: std::sync::atomic::AtomicUsize,
    }

    impl LayerCache for Memory {
        fn get(&self, diff_id: &str) -> Option<Vec<u8>> {
            self.blobs.lock().unwrap().get(diff_id).cloned()
        }
        fn put(&self, diff_id: &str, gzip: &[u8]) {
            self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.blobs
                .lock()
                .unwrap()
                .insert(diff_id.to_string(), gzip.to_vec());
        }
    }

    #[test]
    fn a_cached_layer_is_the_built_one_and_is_not_built_again() {
        let release = sample_release();
        let fresh = build_release_layer(&release).unwrap();
        let cache = Memory::default();
        let first = build_release_layer_with(&release, Some(&cache)).unwrap();
        let second = build_release_layer_with(&release, Some(&cache)).unwrap();
        assert_eq!(first, fresh);
        assert_eq!(second, fresh);
        assert_eq!(cache.puts.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Another release is another diff ID: built and kept too.
        let mut other = sample_release();
        other
            .write_manifest("0000_90_c_01.yaml", "kind: C\n".into())
            .unwrap();
        let third = build_release_layer_with(&other, Some(&cache)).unwrap();
        assert_eq!(third, build_release_layer(&other).unwrap());
        assert_eq!(cache.puts.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn a_cached_blob_that_does_not_hold_the_tar_is_not_used() {
        let release = sample_release();
        let fresh = build_release_layer(&release).unwrap();
        let mut other = sample_release();
        other
            .write_manifest("0000_90_evil_01.yaml", "kind: Evil\n".into())
            .unwrap();
        let evil = build_release_layer(&other).unwrap().gzip;
        // A second gzip member after the real layer: Go's gzip reader (and so every container
        // runtime) reads on into it, so it is refused although the first member is right.
        let mut appended = fresh.gzip.clone();
        appended.extend_from_slice(&evil);
        let mut garbage = fresh.gzip.clone();
        garbage.extend_from_slice(b"not gzip");
        for forged in [evil, appended, garbage, Vec::new(), b"\x1f\x8b".to_vec()] {
            let cache = Memory::default();
            cache
                .blobs
                .lock()
                .unwrap()
                .insert(fresh.diff_id.clone(), forged);
            let built = build_release_layer_with(&release, Some(&cache)).unwrap();
            assert_eq!(built, fresh);
            assert_eq!(cache.get(&fresh.diff_id), Some(fresh.gzip.clone()));
        }
    }

    #[test]
    fn entries_are_ordered_with_fixed_metadata() {
        let layer = build_release_layer(&sample_release()).unwrap();
        assert_eq!(layer.size, layer.gzip.len() as u64);
        assert_eq!(layer.digest, sha256_digest(&layer.gzip));
        let tar = tar_of(&layer.gzip);
        assert_eq!(layer.diff_id, sha256_digest(&tar));
        // gzip header: magic, method, flags, then a zero mtime.
        assert_eq!(&layer.gzip[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(&layer.gzip[4..8], &[0, 0, 0, 0]);

        let mut archive = tar::Archive::new(&tar[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!(h.mtime().unwrap(), 1_710_032_476);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            assert_eq!(h.username().unwrap(), Some(""));
            assert_eq!(h.groupname().unwrap(), Some(""));
            let mode = h.mode().unwrap();
            let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            seen.push((path, mode));
        }
        let long = format!("release-manifests/0000_50_{}_01_long.yaml", "x".repeat(120));
        assert_eq!(
            seen,
            vec![
                ("release-manifests".to_string(), 0o777),
                ("release-manifests/image-references".to_string(), 0o444),
                ("release-manifests/release-metadata".to_string(), 0o444),
                ("release-manifests/0000_10_a_01.yaml".to_string(), 0o444),
                ("release-manifests/0000_50_b_01.yaml".to_string(), 0o444),
                (long, 0o444),
            ]
        );
    }

    #[test]
    fn the_streamed_layer_is_the_gzip_of_the_whole_tar() {
        // The layer as it was built before streaming: the whole tar in memory, then gzip.
        let mut r = sample_release();
        for i in 0..300 {
            let text = format!("kind: ConfigMap\nmetadata:\n  name: c{i}\ndata:\n  x: \"{i}\"\n");
            r.write_manifest(&format!("0000_60_c_{i:03}.yaml"), text)
                .unwrap();
        }
        r.files
            .insert("0000_50_x_gensccroles.sh".into(), vec![0xff; 10_000]);
        let mtime = parse_rfc3339_utc(&r.created).unwrap();
        let mut tar = Builder::new(Vec::new());
        append(
            &mut tar,
            RELEASE_DIR,
            EntryType::Directory,
            0o777,
            mtime,
            &[],
        )
        .unwrap();
        let mut files: Vec<(String, Vec<u8>)> = vec![
            (IMAGE_REFERENCES.into(), write_image_references(&r).unwrap()),
            (
                RELEASE_METADATA.into(),
                write_release_metadata(&r.metadata).unwrap(),
            ),
        ];
        let mut contents: Vec<(String, Vec<u8>)> = r
            .manifests
            .iter()
            .map(|(n, t)| (n.clone(), t.clone().into_bytes()))
            .chain(r.files.iter().map(|(n, d)| (n.clone(), d.clone())))
            .collect();
        contents.sort();
        files.extend(contents);
        for (name, data) in &files {
            let path = format!("{RELEASE_DIR}/{name}");
            append(&mut tar, &path, EntryType::Regular, 0o444, mtime, data).unwrap();
        }
        let tar = tar.into_inner().unwrap();

        let layer = build_release_layer(&r).unwrap();
        assert_eq!(layer.gzip, crate::gzip::compress(&tar));
        assert_eq!(layer.diff_id, sha256_digest(&tar));
        assert_eq!(layer.digest, sha256_digest(&layer.gzip));
    }

    #[test]
    fn same_release_same_digest() {
        let a = build_release_layer(&sample_release()).unwrap();
        let b = build_release_layer(&sample_release()).unwrap();
        assert_eq!(a, b);
        let mut changed = sample_release();
        changed.created = "2024-03-10T01:01:17Z".into();
        assert_ne!(build_release_layer(&changed).unwrap().digest, a.digest);
    }

    #[test]
    fn reads_back_the_files() {
        let r = sample_release();
        let files = read_release_layer(&build_release_layer(&r).unwrap().gzip).unwrap();
        assert_eq!(files.len(), 5);
        assert_eq!(files["0000_10_a_01.yaml"], b"kind: A\n");
        assert!(files.contains_key(IMAGE_REFERENCES));
        assert!(files.contains_key(RELEASE_METADATA));
    }

    fn gz_tar(entries: &[(&str, EntryType, &[u8])]) -> Vec<u8> {
        let mut tar = Builder::new(Vec::new());
        for (path, kind, data) in entries {
            let mut h = Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Write the name bytes directly: `append_data` refuses `..`, a hostile layer won't.
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn ignores_what_oc_ignores() {
        let layer = gz_tar(&[
            ("manifests/x.yaml", EntryType::Regular, b"a"),
            ("./release-manifests/y.yaml", EntryType::Regular, b"b"),
            ("release-manifests/sub/z.yaml", EntryType::Regular, b"c"),
            ("release-manifests/link.yaml", EntryType::Symlink, b""),
            ("release-manifests/ok.yaml", EntryType::Regular, b"d"),
            ("release-manifests/ok.yaml", EntryType::Regular, b"e"),
        ]);
        let files = read_release_layer(&layer).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["ok.yaml"]);
        assert_eq!(files["ok.yaml"], b"e");
    }

    #[test]
    fn a_layer_in_several_gzip_members_is_read_whole_as_oc_reads_it() {
        let whole = gz_tar(&[
            ("release-manifests/a.yaml", EntryType::Regular, b"a"),
            ("release-manifests/b.yaml", EntryType::Regular, b"b"),
        ]);
        let mut tar = Vec::new();
        GzDecoder::new(&whole[..]).read_to_end(&mut tar).unwrap();
        // The first entry (a header and one data block) in one member, the rest in another.
        let mut split = Vec::new();
        for part in [&tar[..1024], &tar[1024..]] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            split.extend_from_slice(&gz.finish().unwrap());
        }
        let files = read_release_layer(&split).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["a.yaml", "b.yaml"]);
    }

    #[test]
    fn refuses_escaping_paths_and_garbage() {
        let layer = gz_tar(&[("release-manifests/../etc/passwd", EntryType::Regular, b"x")]);
        assert!(matches!(
            read_release_layer(&layer),
            Err(Error::UnsafeLayerPath(p)) if p == "release-manifests/../etc/passwd"
        ));
        assert!(matches!(
            read_release_layer(b"not gzip"),
            Err(Error::LayerRead(_))
        ));
    }

    #[test]
    fn refuses_bad_created() {
        let mut r = sample_release();
        r.created = "yesterday".into();
        assert!(matches!(
            build_release_layer(&r),
            Err(Error::InvalidTimestamp { .. })
        ));
    }
}
