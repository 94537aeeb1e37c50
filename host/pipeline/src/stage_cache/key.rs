//! What determines a stage's result, hashed: the key of its cache entry.
//!
//! The key of stage *i* is the sha256 of canonical JSON (fixed field order, sorted maps) over
//! the key of stage *i − 1* (for the first stage: the base release digest, every stream field
//! the working payload is prepared from, `SOURCE_DATE_EPOCH` and the compose binary), the
//! plugin's component digest, the config as the stage receives it, its grants and limits and
//! the content of every file it was granted. The registry answers a stage got are not in the
//! key: the entry records them and a rerun asks again (see [`super::record`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use compose_runtime::StageSpec;
use compose_stream::Stream;

/// The cache format: entries of another format are never read.
pub(crate) const FORMAT: u32 = 1;

/// Most files a granted directory may hold before the stage is not cached (hashing them
/// would cost more than the stage).
const MAX_GRANTED_FILES: usize = 100_000;

/// The sha256 (hex) of `value` as JSON.
fn digest_json(value: &impl Serialize) -> Option<String> {
    let bytes = serde_json::to_vec(value).ok()?;
    Some(hex::encode(Sha256::digest(bytes)))
}

/// The key before the first stage: what the working payload is prepared from.
pub(crate) fn base_key(
    stream: &Stream,
    base_digest: &str,
    source_date_epoch: Option<u64>,
) -> Option<String> {
    #[derive(Serialize)]
    struct Base<'a> {
        format: u32,
        compose: &'a str,
        builder: Option<&'a str>,
        wit: &'a str,
        base: &'a str,
        from: &'a str,
        release: &'a str,
        previous: &'a [String],
        metadata: &'a BTreeMap<String, serde_json::Value>,
        created: Option<&'a str>,
        source_date_epoch: Option<u64>,
    }
    digest_json(&Base {
        format: FORMAT,
        compose: env!("CARGO_PKG_VERSION"),
        // Another build of compose (another host, other builtins) is another key.
        builder: crate::builder::builder_digest(),
        wit: compose_runtime::WIT_VERSION,
        base: base_digest,
        from: &stream.from,
        release: &stream.release,
        previous: &stream.previous,
        metadata: &stream.metadata,
        created: stream.created.as_deref(),
        source_date_epoch,
    })
}

/// The key of a stage run after the stage whose key is `previous`; `None` when a granted
/// directory cannot be read whole (the stage then runs and is not recorded).
pub(crate) fn stage_key(previous: &str, plugin_digest: &str, spec: &StageSpec) -> Option<String> {
    key_of(previous, plugin_digest, spec, Some(&spec.config_json))
}

/// What the keys of the parts of a check in parts share: the stage's key without its config
/// (each part's settings stand for the config in its own key, see [`part_key`]).
pub(crate) fn parts_base_key(
    previous: &str,
    plugin_digest: &str,
    spec: &StageSpec,
) -> Option<String> {
    key_of(previous, plugin_digest, spec, None)
}

/// The key of one part of a check in parts, from [`parts_base_key`].
pub(crate) fn part_key(base: &str, part: &compose_runtime::Part) -> Option<String> {
    digest_json(&("part", base, &part.id, &part.settings))
}

/// The key of a stage (`config` given) or the base of its parts' keys (`config` `None`).
fn key_of(
    previous: &str,
    plugin_digest: &str,
    spec: &StageSpec,
    config: Option<&str>,
) -> Option<String> {
    #[derive(Serialize)]
    struct Dir<'a> {
        guest: &'a str,
        content: String,
    }
    #[derive(Serialize)]
    struct StageKey<'a> {
        previous: &'a str,
        stage: &'a str,
        plugin: &'a str,
        config: Option<&'a str>,
        registry: &'a [compose_registry::RepositoryGlob],
        keys: &'a [String],
        dirs: Vec<Dir<'a>>,
        memory: u64,
        timeout_millis: u128,
        output: Option<u64>,
    }
    let mut dirs = Vec::with_capacity(spec.grants.files.len());
    for d in &spec.grants.files {
        dirs.push(Dir {
            guest: &d.guest,
            content: dir_digest(&d.host)?,
        });
    }
    digest_json(&StageKey {
        previous,
        stage: &spec.stage,
        plugin: plugin_digest,
        config,
        registry: &spec.grants.registry,
        keys: &spec.grants.keys,
        dirs,
        memory: spec.limits.effective_memory(),
        timeout_millis: spec.limits.effective_timeout().as_millis(),
        output: spec.limits.output,
    })
}

/// The key of a stage that was skipped (an optional key absent): it changed nothing, but the
/// stages after it follow a skip, not a run.
pub(crate) fn skipped_key(previous: &str, stage: &str) -> Option<String> {
    digest_json(&("skipped", previous, stage))
}

/// The sha256 (hex) of a directory's content: every entry's path relative to `dir`, its
/// kind and, for files, their bytes, in sorted order; symbolic links by their target text.
/// `None` when something cannot be read.
pub(crate) fn dir_digest(dir: &Path) -> Option<String> {
    let mut hasher = Sha256::new();
    let mut count = 0usize;
    walk(dir, Path::new(""), &mut hasher, &mut count)?;
    Some(hex::encode(hasher.finalize()))
}

fn walk(root: &Path, rel: &Path, hasher: &mut Sha256, count: &mut usize) -> Option<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))
        .ok()?
        .collect::<std::io::Result<Vec<_>>>()
        .ok()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        *count += 1;
        if *count > MAX_GRANTED_FILES {
            return None;
        }
        let path = rel.join(entry.file_name());
        let name = path.to_string_lossy();
        let kind = entry.file_type().ok()?;
        // Length-prefixed fields: no two trees hash alike.
        let mut field = |tag: &[u8], bytes: &[u8]| {
            hasher.update(tag);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(b"p", name.as_bytes());
        if kind.is_symlink() {
            let target = std::fs::read_link(root.join(&path)).ok()?;
            field(b"l", target.to_string_lossy().as_bytes());
        } else if kind.is_dir() {
            field(b"d", b"");
            walk(root, &path, hasher, count)?;
        } else if kind.is_file() {
            let bytes = std::fs::read(root.join(&path)).ok()?;
            field(b"f", &bytes);
        } else {
            // A socket or device: not something to cache on.
            return None;
        }
    }
    Some(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_digest_follows_names_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.yaml"), "a").unwrap();
        let first = dir_digest(dir.path()).unwrap();
        assert_eq!(dir_digest(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("sub/a.yaml"), "b").unwrap();
        let changed = dir_digest(dir.path()).unwrap();
        assert_ne!(changed, first);
        std::fs::rename(dir.path().join("sub/a.yaml"), dir.path().join("sub/c.yaml")).unwrap();
        assert_ne!(dir_digest(dir.path()).unwrap(), changed);
        assert!(dir_digest(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn a_part_key_follows_its_settings_and_not_the_stage_config() {
        let mut spec = StageSpec {
            stage: "test".into(),
            config_json: r#"{"a":1}"#.into(),
            grants: Default::default(),
            limits: Default::default(),
        };
        let base = parts_base_key("prev", "sha256:p", &spec).unwrap();
        let stage = stage_key("prev", "sha256:p", &spec).unwrap();
        assert_ne!(base, stage);
        spec.config_json = r#"{"a":2}"#.into();
        assert_ne!(stage_key("prev", "sha256:p", &spec).unwrap(), stage);
        assert_eq!(parts_base_key("prev", "sha256:p", &spec).unwrap(), base);
        assert_ne!(parts_base_key("other", "sha256:p", &spec).unwrap(), base);
        let part = |id: &str, settings: &str| compose_runtime::Part {
            id: id.into(),
            settings: settings.into(),
        };
        let key = part_key(&base, &part("x", "{}")).unwrap();
        assert_eq!(part_key(&base, &part("x", "{}")).unwrap(), key);
        assert_ne!(part_key(&base, &part("y", "{}")).unwrap(), key);
        assert_ne!(part_key(&base, &part("x", "{\"b\":1}")).unwrap(), key);
    }
}
