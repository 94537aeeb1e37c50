//! The stage cache on disk: `<cache dir>/stages/entries/<key>.json` and the manifests and
//! files they name in `<cache dir>/stages/blobs/<sha256>`, stored once whatever the number of
//! entries naming them; and built release layers in `<cache dir>/stages/layers/<diff ID>`.
//!
//! Every file is written to a temporary name and renamed into place, so a reader sees a whole
//! file or none; a missing, truncated or forged entry or blob is a miss, never an error (a
//! blob is checked against its name). Runs hold a shared `flock` on `stages/lock` while they
//! write; the size bound is enforced under the exclusive lock, least recently used first
//! (a hit touches its entry and blobs), by whichever run finds the cache too big and the lock
//! free.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::delta::{Delta, NewBlob, hash};
use super::key::FORMAT;
use super::record::Query;
use crate::report::StageReport;

/// The default bound of the cache's size: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// The environment variable that sets the bound (`512MiB`, `2GiB`, bytes).
pub const SIZE_ENV: &str = "COMPOSE_STAGE_CACHE_SIZE";

/// The bound the value of [`SIZE_ENV`] sets: [`DEFAULT_MAX_BYTES`] when it is unset, empty or
/// not a size (with a warning).
fn max_bytes(value: Option<&str>) -> u64 {
    match value {
        Some(text) if !text.is_empty() => match compose_stream::units::parse_size(text) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("`{SIZE_ENV}` is not a size ({e}): using 1GiB");
                DEFAULT_MAX_BYTES
            }
        },
        _ => DEFAULT_MAX_BYTES,
    }
}

/// Temporaries older than this were left by a killed process.
const STALE_TEMPORARY: Duration = Duration::from_secs(600);

/// An error writing the cache (reported as a warning: the run goes on).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An entry could not be encoded.
    #[error("cannot encode the entry of stage `{stage}`: {source}")]
    Encode {
        /// The stage.
        stage: String,
        /// Why.
        source: serde_json::Error,
    },
}

/// One stage's recorded result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Entry {
    /// [`FORMAT`].
    pub format: u32,
    /// The key (the entry's file name).
    pub key: String,
    /// The stage, for people reading the cache.
    pub stage: String,
    /// When it was recorded, seconds since the epoch.
    pub created: u64,
    /// The registry queries the stage made, with their answers' digests.
    pub queries: Vec<Query>,
    /// The part of a check in parts this entry holds the findings of (its delta is then
    /// empty); `None` for a whole stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// What it changed.
    pub delta: Delta,
    /// Its report (findings included).
    pub report: StageReport,
}

/// The cache directory.
#[derive(Clone)]
pub(crate) struct Store {
    dir: PathBuf,
    max_bytes: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A temporary name beside `path`, unique in this process and across processes.
fn temporary(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".tmp-{}-{n}-{name}", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = temporary(path);
    let written = File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(io(path))
}

/// Marks a file used now (least recently used goes first).
fn touch(path: &Path) {
    if let Ok(file) = File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

impl Store {
    /// Opens (creating) the cache in `dir`; `None`, with a warning, when it cannot be created.
    pub fn open(dir: &Path) -> Option<Store> {
        let created = fs::create_dir_all(dir.join("entries"))
            .and_then(|()| fs::create_dir_all(dir.join("blobs")))
            .and_then(|()| fs::create_dir_all(dir.join("layers")));
        if let Err(e) = created {
            tracing::warn!(
                "the stage cache `{}` cannot be created, every stage runs: {e}",
                dir.display()
            );
            return None;
        }
        Some(Store {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes(std::env::var(SIZE_ENV).ok().as_deref()),
        })
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join("entries").join(format!("{key}.json"))
    }

    fn blob_path(&self, hex: &str) -> PathBuf {
        self.dir.join("blobs").join(hex)
    }

    /// The entry of `key`, if it is there and whole.
    pub fn entry(&self, key: &str) -> Option<Entry> {
        let bytes = fs::read(self.entry_path(key)).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.format == FORMAT && entry.key == key).then_some(entry)
    }

    /// The blob `hex`, if it is there and its bytes hash to its name.
    pub fn blob(&self, hex: &str) -> Option<Vec<u8>> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bytes = fs::read(self.blob_path(hex)).ok()?;
        (hex::encode(hash(&bytes)) == hex).then_some(bytes)
    }

    /// The release layer blob kept for the diff ID `hex` (checked by its user), marked used.
    pub fn layer(&self, hex: &str) -> Option<Vec<u8>> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let path = self.dir.join("layers").join(hex);
        let bytes = fs::read(&path).ok()?;
        touch(&path);
        Some(bytes)
    }

    /// Keeps the release layer blob `gzip` of the diff ID `hex`.
    pub fn put_layer(&self, hex: &str, gzip: &[u8]) -> Result<(), Error> {
        let lock = self.lock_file()?;
        lock.lock_shared().map_err(io(&self.dir.join("lock")))?;
        write_atomically(&self.dir.join("layers").join(hex), gzip)
    }

    /// Marks an entry and its blobs used now.
    pub fn touch(&self, entry: &Entry) {
        touch(&self.entry_path(&entry.key));
        for hex in entry.delta.blobs() {
            touch(&self.blob_path(hex));
        }
    }

    /// The lock file, opened.
    fn lock_file(&self) -> Result<File, Error> {
        let path = self.dir.join("lock");
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))
    }

    /// Writes an entry and the blobs it names (blobs first: an entry is never there before
    /// its blobs).
    pub fn write(&self, entry: &Entry, blobs: &[NewBlob<'_>]) -> Result<(), Error> {
        let lock = self.lock_file()?;
        let lock_path = self.dir.join("lock");
        lock.lock_shared().map_err(io(&lock_path))?;
        for (hex, bytes) in blobs {
            let path = self.blob_path(hex);
            if path.exists() {
                touch(&path);
            } else {
                write_atomically(&path, bytes)?;
            }
        }
        let json = serde_json::to_vec(entry).map_err(|source| Error::Encode {
            stage: entry.stage.clone(),
            source,
        })?;
        write_atomically(&self.entry_path(&entry.key), &json)
        // The lock is released when `lock` is dropped.
    }

    /// Keeps the cache under its bound: when it is bigger, removes the least recently used
    /// files until it is under 90% of it, and temporaries killed processes left. Skipped when
    /// another run holds the lock.
    pub fn evict(&self) {
        let Ok(lock) = self.lock_file() else { return };
        if lock.try_lock().is_err() {
            return;
        }
        let mut files: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        let now = SystemTime::now();
        for sub in ["entries", "blobs", "layers"] {
            let Ok(dir) = fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for entry in dir.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let path = entry.path();
                if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    if now.duration_since(modified).unwrap_or_default() > STALE_TEMPORARY {
                        let _ = fs::remove_file(&path);
                    }
                    continue;
                }
                files.push((modified, meta.len(), path));
            }
        }
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if total <= self.max_bytes {
            return;
        }
        let target = self.max_bytes / 10 * 9;
        files.sort();
        for (_, size, path) in files {
            if total <= target {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(size);
            }
        }
        tracing::debug!(
            "stage cache `{}` trimmed to {total} bytes",
            self.dir.display()
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_1_gib_unless_the_variable_gives_a_size() {
        assert_eq!(max_bytes(None), 1 << 30);
        assert_eq!(max_bytes(Some("")), 1 << 30);
        assert_eq!(max_bytes(Some("256MiB")), 256 << 20);
        assert_eq!(max_bytes(Some("2GiB")), 2 << 30);
        assert_eq!(max_bytes(Some("4096")), 4096);
        assert_eq!(max_bytes(Some("lots")), 1 << 30);
    }

    fn entry(key: &str) -> Entry {
        Entry {
            format: FORMAT,
            key: key.to_string(),
            stage: "test".into(),
            created: 1,
            queries: Vec::new(),
            part: None,
            delta: Delta::default(),
            report: StageReport {
                stage: "test".into(),
                plugin: "builtin:test-release".into(),
                digest: "sha256:00".into(),
                instantiate_millis: 0.0,
                run_millis: 0.0,
                findings: Vec::new(),
            },
        }
    }

    #[test]
    fn a_truncated_or_forged_file_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = "a".repeat(64);
        let content = b"kind: A\n";
        let hex = hex::encode(hash(content));
        store
            .write(&entry(&key), &[(hex.clone(), content.as_slice())])
            .unwrap();
        assert!(store.entry(&key).is_some());
        assert_eq!(store.blob(&hex).unwrap(), content);
        // Truncated, as by a process killed without the rename (or a full disk).
        let path = store.entry_path(&key);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(store.entry(&key).is_none());
        // Another key's entry under this name.
        fs::write(&path, serde_json::to_vec(&entry(&"b".repeat(64))).unwrap()).unwrap();
        assert!(store.entry(&key).is_none());
        // A blob whose bytes are not its name's.
        fs::write(store.blob_path(&hex), b"kind: B\n").unwrap();
        assert!(store.blob(&hex).is_none());
        assert!(store.blob("../../etc/passwd").is_none());
    }

    #[test]
    fn the_least_recently_used_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let keys: Vec<String> = (0..4).map(|i| format!("{i}").repeat(64)).collect();
        for key in &keys {
            store.write(&entry(key), &[]).unwrap();
        }
        let size = fs::metadata(store.entry_path(&keys[0])).unwrap().len();
        // Oldest first: 0, 1, 2, 3; then 0 is used again.
        for (i, key) in keys.iter().enumerate() {
            let at = SystemTime::now() - Duration::from_secs(100 - i as u64);
            File::options()
                .append(true)
                .open(store.entry_path(key))
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
        store.touch(&entry(&keys[0]));
        // Room for two entries (90% of the bound).
        store.max_bytes = size * 2 + size / 2;
        store.evict();
        let left: Vec<bool> = keys.iter().map(|k| store.entry(k).is_some()).collect();
        assert_eq!(left, vec![true, false, false, true]);
        // Under the bound: nothing goes.
        store.evict();
        assert!(store.entry(&keys[3]).is_some());
    }

    #[test]
    fn stale_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let stale = dir.path().join("blobs/.tmp-1-0-x");
        let fresh = dir.path().join("blobs/.tmp-1-1-y");
        fs::write(&stale, b"half").unwrap();
        fs::write(&fresh, b"half").unwrap();
        File::options()
            .append(true)
            .open(&stale)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        store.evict();
        assert!(!stale.exists());
        assert!(fresh.exists());
    }
}
