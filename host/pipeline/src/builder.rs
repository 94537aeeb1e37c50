//! The digest of this binary, named as the builder in every release's provenance and in the
//! stage cache's keys: computed once per process and, with a cache directory, once per build
//! of the binary (sealed with the cache's key).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::Digest as _;

/// Where [`builder_digest`] remembers the binary's digest across processes (the plugin cache
/// directory): set by the command line before a run.
static CACHE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Remembers the binary's digest in `<dir>/builder/`, keyed by the binary's device, inode,
/// size and modification time and sealed with the cache's key: the 200 MB binary is hashed
/// once per build, not once per run, and an entry forged without the key is not believed.
pub fn use_cache_dir(dir: &Path) {
    let _ = CACHE_DIR.set(dir.to_path_buf());
}

/// The digest of this binary (`std::env::current_exe`), computed once per process and, with
/// [`use_cache_dir`], once per build of the binary. [`prefetch_builder_digest`] starts it when
/// a run starts, so a run waits for it only if the run is shorter than the hashing.
pub fn builder_digest() -> Option<&'static str> {
    static DIGEST: OnceLock<Option<String>> = OnceLock::new();
    DIGEST
        .get_or_init(|| {
            let path = std::env::current_exe().ok()?;
            let cache = CACHE_DIR.get();
            if let Some(digest) = cache.and_then(|dir| recall(dir, &path)) {
                return Some(digest);
            }
            match file_digest(&path) {
                Ok(digest) => {
                    if let Some(dir) = cache {
                        remember(dir, &path, &digest);
                    }
                    Some(digest)
                }
                Err(e) => {
                    tracing::warn!("cannot read this binary `{}`: {e}", path.display());
                    None
                }
            }
        })
        .as_deref()
}

/// The cache file of the binary at `exe`: named by its device, inode, size and mtime.
fn cache_file(dir: &Path, exe: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(exe).ok()?;
    Some(dir.join("builder").join(format!(
        "{}-{}-{}-{}.{}.sha256",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    )))
}

/// What a cache entry of the binary's digest is sealed for (with the cache's key, as compiled
/// plugins are): a file written by anyone without the key is not believed.
const SEAL_PURPOSE: &str = "builder-digest";

/// The digest of the binary `exe` remembered in the cache `dir`, if its entry is there and
/// sealed with the cache's key.
fn recall(dir: &Path, exe: &Path) -> Option<String> {
    let file = cache_file(dir, exe)?;
    let key = compose_runtime::CacheKey::open(dir).ok()?;
    let sealed = std::fs::read(&file).ok()?;
    let name = file.file_name()?.to_string_lossy().into_owned();
    let text = std::str::from_utf8(key.verify(&name, SEAL_PURPOSE, &sealed)?).ok()?;
    compose_payload::oci::is_sha256_digest(text).then(|| text.to_string())
}

/// Remembers `digest` for the binary `exe` in the cache `dir`, sealed with the cache's key (a
/// temporary file, then a rename); best effort.
fn remember(dir: &Path, exe: &Path, digest: &str) {
    let (Some(file), Ok(key)) = (cache_file(dir, exe), compose_runtime::CacheKey::open(dir)) else {
        return;
    };
    let Some(parent) = file.parent() else { return };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sealed = key.seal(&name, SEAL_PURPOSE, digest.as_bytes());
    let written = std::fs::create_dir_all(parent).and_then(|()| {
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, sealed)?;
        std::fs::rename(&tmp, &file)
    });
    if let Err(e) = written {
        tracing::debug!(
            "cannot remember the binary's digest in `{}`: {e}",
            file.display()
        );
    }
}

/// Starts computing [`builder_digest`] in the background.
pub fn prefetch_builder_digest() {
    std::thread::spawn(|| {
        builder_digest();
    });
}

fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use compose_payload::oci::sha256_digest;

    use super::*;

    /// A digest of one repeated hex digit.
    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn the_binary_digest_cache_is_keyed_by_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("exe");
        std::fs::write(&exe, b"one").unwrap();
        let first = cache_file(dir.path(), &exe).unwrap();
        assert_eq!(cache_file(dir.path(), &exe).unwrap(), first);
        assert_eq!(recall(dir.path(), &exe), None);
        remember(dir.path(), &exe, &digest('1'));
        assert_eq!(recall(dir.path(), &exe), Some(digest('1')));
        // An entry written without the cache's key (plain text, or another digest under the
        // old seal) is not believed.
        std::fs::write(&first, digest('2')).unwrap();
        assert_eq!(recall(dir.path(), &exe), None);
        let mut sealed = compose_runtime::CacheKey::open(dir.path()).unwrap().seal(
            "another-entry",
            SEAL_PURPOSE,
            digest('2').as_bytes(),
        );
        std::fs::write(&first, &sealed).unwrap();
        assert_eq!(recall(dir.path(), &exe), None);
        remember(dir.path(), &exe, &digest('1'));
        sealed = std::fs::read(&first).unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        std::fs::write(&first, &sealed).unwrap();
        assert_eq!(recall(dir.path(), &exe), None);
        // A rebuilt binary (another size, mtime or inode) has another entry.
        std::fs::remove_file(&exe).unwrap();
        std::fs::write(&exe, b"rebuilt").unwrap();
        assert_ne!(cache_file(dir.path(), &exe).unwrap(), first);
        assert_eq!(file_digest(&exe).unwrap(), sha256_digest(b"rebuilt"));
    }
}
