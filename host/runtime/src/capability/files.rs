//! Files: read-only directories a stage is granted (`grants.files`), preopened under
//! `/<directory name>` through `wasi:filesystem`. A stage without the grant sees no file at all.
//! The interfaces are linked with the rest of WASI ([`super::wasi`]); this module decides what
//! they show.

use std::path::{Path, PathBuf};

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::{Grants, Verdict};
use crate::error::{Error, Result};

/// A read-only directory granted to a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the stage sees it, e.g. `/overlays`.
    pub guest: String,
}

/// Where the stage sees the directory a grant names (`overlays/scos` → `/scos`); `None` when
/// the grant names no directory (empty, `..`).
pub fn guest_path(grant: &str) -> Option<String> {
    let name = Path::new(grant).file_name()?.to_string_lossy().into_owned();
    (!name.is_empty() && name != "..").then(|| format!("/{name}"))
}

/// Whether a stage already granted `files` would see another directory at `guest` too (two
/// grants of directories with the same name).
pub fn clashes(files: &[FileGrant], guest: &str) -> bool {
    files.iter().any(|f| f.guest == guest)
}

/// The verdict on a WASI import, if this capability owns it.
pub(crate) fn judge(base: &str, grants: &Grants) -> Option<Verdict> {
    if !base.starts_with("wasi:filesystem/") {
        return None;
    }
    Some(if grants.files.is_empty() {
        Verdict::granted("no directories granted")
    } else {
        let guests: Vec<&str> = grants.files.iter().map(|f| f.guest.as_str()).collect();
        Verdict::granted(format!("read-only {}", guests.join(", ")))
    })
}

/// Refuses a stage whose granted directories cannot be opened (before any guest code runs).
pub(crate) fn check_readable(grants: &Grants, stage: &str) -> Result<()> {
    for dir in &grants.files {
        cap_std::fs::Dir::open_ambient_dir(&dir.host, cap_std::ambient_authority()).map_err(
            |source| Error::Grant {
                stage: stage.to_string(),
                path: dir.host.clone(),
                source,
            },
        )?;
    }
    Ok(())
}

/// Preopens the granted directories, read-only, in a stage's WASI context.
pub(crate) fn preopen(wasi: &mut WasiCtxBuilder, grants: &Grants, stage: &str) -> Result<()> {
    for dir in &grants.files {
        wasi.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadOnly)
            .map_err(|e| Error::Grant {
                stage: stage.to_string(),
                path: dir.host.clone(),
                source: std::io::Error::other(format!("{e:#}")),
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_grant_appears_under_its_directory_name() {
        assert_eq!(guest_path("overlays/scos").as_deref(), Some("/scos"));
        assert_eq!(guest_path("keys/").as_deref(), Some("/keys"));
        assert_eq!(guest_path(""), None);
        assert_eq!(guest_path(".."), None);
        assert_eq!(guest_path("overlays/.."), None);
    }

    #[test]
    fn two_directories_of_one_name_clash() {
        let files = vec![FileGrant {
            host: PathBuf::from("a/scos"),
            guest: "/scos".into(),
        }];
        assert!(clashes(&files, "/scos"));
        assert!(!clashes(&files, "/okd"));
    }

    #[test]
    fn the_verdict_names_what_the_stage_sees() {
        let mut grants = Grants::default();
        assert_eq!(
            judge("wasi:filesystem/preopens", &grants),
            Some(Verdict::granted("no directories granted"))
        );
        grants.files.push(FileGrant {
            host: PathBuf::from("overlays/scos"),
            guest: "/scos".into(),
        });
        assert_eq!(
            judge("wasi:filesystem/types", &grants),
            Some(Verdict::granted("read-only /scos"))
        );
        assert_eq!(judge("wasi:cli/stdout", &grants), None);
    }
}
