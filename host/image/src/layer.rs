//! The image's two layers, built deterministically: the minimal base, then the binary.
//!
//! Every entry has a GNU header with its uid, gid and mode set explicitly, empty owner names,
//! and the image's creation time as mtime (no PAX records, so no other timestamps). Entries are
//! sorted by path, component by component, so a directory always precedes its contents. The
//! tar is then compressed with [`compose_payload::gzip::compress`], whose bytes depend only on
//! the input.

use compose_payload::sha256_digest;
use tar::{Builder, EntryType, Header};

use crate::error::{Error, Result};

/// The uid and gid compose runs as in the image (`65532`, the "nonroot" id of distroless).
pub const COMPOSE_ID: u64 = 65532;
/// The user name of [`COMPOSE_ID`].
pub const COMPOSE_USER: &str = "compose";
/// The binary's path inside the image (without the leading `/`).
pub const BINARY_PATH: &str = "usr/bin/compose";
/// The CA bundle's path inside the image (without the leading `/`).
pub const CA_BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";
/// The home directory of [`COMPOSE_USER`] (without the leading `/`).
pub const HOME_PATH: &str = "home/compose";
/// The plugin cache directory (without the leading `/`).
pub const CACHE_PATH: &str = "var/cache/compose";

/// `/etc/passwd`: root and compose, neither with a login shell.
const PASSWD: &str =
    "root:x:0:0:root:/root:/sbin/nologin\ncompose:x:65532:65532::/home/compose:/sbin/nologin\n";
/// `/etc/group`.
const GROUP: &str = "root:x:0:\ncompose:x:65532:\n";
/// `/etc/nsswitch.conf`: names from `/etc/hosts`, then DNS (musl ignores it; Go and glibc
/// tools read it).
const NSSWITCH: &str = "hosts: files dns\n";

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path, relative, without a trailing `/`.
    pub path: String,
    /// The file's bytes; `None` for a directory.
    pub data: Option<Vec<u8>>,
    /// The permission bits (with sticky/setuid bits).
    pub mode: u32,
    /// The owner.
    pub uid: u64,
    /// The group.
    pub gid: u64,
}

impl Entry {
    fn dir(path: &str, mode: u32, id: u64) -> Self {
        Entry {
            path: path.to_string(),
            data: None,
            mode,
            uid: id,
            gid: id,
        }
    }

    fn file(path: &str, mode: u32, data: Vec<u8>) -> Self {
        Entry {
            path: path.to_string(),
            data: Some(data),
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

/// A built layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The gzip-compressed tar, the blob.
    pub gzip: Vec<u8>,
    /// `sha256:` of `gzip`.
    pub digest: String,
    /// `sha256:` of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// The uncompressed tar's length.
    pub tar_size: u64,
}

/// The entries of the minimal base: directories, `passwd`, `group`, `nsswitch.conf`, and the
/// CA bundle if there is one.
pub fn base_entries(ca_bundle: Option<&[u8]>) -> Vec<Entry> {
    let mut entries = vec![
        Entry::dir("etc", 0o755, 0),
        Entry::file("etc/group", 0o644, GROUP.into()),
        Entry::file("etc/nsswitch.conf", 0o644, NSSWITCH.into()),
        Entry::file("etc/passwd", 0o644, PASSWD.into()),
        Entry::dir("home", 0o755, 0),
        Entry::dir(HOME_PATH, 0o755, COMPOSE_ID),
        Entry::dir("tmp", 0o1777, 0),
        Entry::dir("usr", 0o755, 0),
        Entry::dir("usr/bin", 0o755, 0),
        Entry::dir("var", 0o755, 0),
        Entry::dir("var/cache", 0o755, 0),
        Entry::dir(CACHE_PATH, 0o755, COMPOSE_ID),
    ];
    if let Some(bundle) = ca_bundle {
        entries.push(Entry::dir("etc/ssl", 0o755, 0));
        entries.push(Entry::dir("etc/ssl/certs", 0o755, 0));
        entries.push(Entry::file(CA_BUNDLE_PATH, 0o644, bundle.to_vec()));
    }
    entries
}

/// The entries of the binary's layer: `usr/bin/compose`, 0755, owned by root.
pub fn binary_entries(binary: Vec<u8>) -> Vec<Entry> {
    vec![Entry::file(BINARY_PATH, 0o755, binary)]
}

/// Builds a layer of `entries` (sorted here) with every mtime `mtime`.
pub fn build(mut entries: Vec<Entry>, mtime: u64) -> Result<Layer> {
    entries.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    let mut tar = Builder::new(Vec::new());
    for entry in &entries {
        let mut header = Header::new_gnu();
        header.set_entry_type(if entry.data.is_some() {
            EntryType::Regular
        } else {
            EntryType::Directory
        });
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mtime(mtime);
        let data = entry.data.as_deref().unwrap_or_default();
        header.set_size(data.len() as u64);
        let path = match entry.data {
            Some(_) => entry.path.clone(),
            None => format!("{}/", entry.path),
        };
        tar.append_data(&mut header, &path, data)
            .map_err(|source| Error::Tar {
                path: path.clone(),
                source,
            })?;
    }
    let tar = tar.into_inner().map_err(|source| Error::Tar {
        path: "(end of archive)".to_string(),
        source,
    })?;
    let gzip = compose_payload::gzip::compress(&tar);
    Ok(Layer {
        digest: sha256_digest(&gzip),
        diff_id: sha256_digest(&tar),
        tar_size: tar.len() as u64,
        gzip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_sorted_parents_first() {
        let layer = build(base_entries(Some(b"pem")), 7).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&layer.gzip[..]));
        let paths: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "etc/",
                "etc/group",
                "etc/nsswitch.conf",
                "etc/passwd",
                "etc/ssl/",
                "etc/ssl/certs/",
                "etc/ssl/certs/ca-certificates.crt",
                "home/",
                "home/compose/",
                "tmp/",
                "usr/",
                "usr/bin/",
                "var/",
                "var/cache/",
                "var/cache/compose/",
            ]
        );
    }
}
