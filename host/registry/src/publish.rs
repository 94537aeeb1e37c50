//! Publishing a release image as an OCI layout, all or nothing.
//!
//! The layout is written completely into a hidden temporary directory next to the output
//! (same parent, so the final renames stay on one filesystem) and only then swapped in: the
//! old output is renamed aside, the new one renamed into place, and the old one deleted. Any
//! error before the swap removes the temporary directory and leaves the output untouched.
//!
//! Only what compose wrote is ever replaced: an output carries [`OUTPUT_MARKER`], and a path
//! holding anything else (a user's directory, a file) is refused. A process killed during
//! the swap leaves the old output aside; the next publish to the same path puts it back
//! before it starts, and deletes the temporaries killed processes left. Processes working
//! on the same output exclude each other with advisory locks (`flock`) on the parent
//! directory (for the short steps that create, clean and swap) and on each temporary
//! directory (for as long as it is in use), so a cleanup never removes a live temporary.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use compose_payload::BuiltImage;
use compose_payload::oci::ImageManifest;

use crate::error::{Error, Result};
use crate::layout::OciLayout;
use crate::reference::Reference;
use crate::source::ImageSource;

/// The file that marks a directory as an output compose wrote (and may replace).
pub const OUTPUT_MARKER: &str = ".compose-output";

/// What [`OUTPUT_MARKER`] holds.
const OUTPUT_MARKER_CONTENT: &[u8] = b"{\"written-by\":\"compose\"}\n";

/// The top-level entries of outputs written before [`OUTPUT_MARKER`] existed: a release
/// output (`report.json`) or a state (`journal.json`) holding nothing else is compose's.
const UNMARKED_OUTPUT_ENTRIES: [&str; 8] = [
    "oci-layout",
    "index.json",
    "blobs",
    "report.json",
    "junit.xml",
    "report.md",
    "journal.json",
    "signatures",
];

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Checks that `out` may be replaced by a new output: it does not exist, or is an empty
/// directory, or an output compose wrote. Never follows a symbolic link at `out`.
pub fn check_replaceable(out: &Path) -> Result<()> {
    let refuse = |reason: &str| Error::NotAnOutput {
        path: out.to_path_buf(),
        reason: reason.to_string(),
    };
    let meta = match fs::symlink_metadata(out) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("inspecting", out)(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse("it is a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(refuse("it is a file, not a directory"));
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(out).map_err(io_err("reading", out))? {
        let entry = entry.map_err(io_err("reading", out))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    if names.is_empty() || names.iter().any(|n| n == OUTPUT_MARKER) {
        return Ok(());
    }
    let known = |n: &String| UNMARKED_OUTPUT_ENTRIES.contains(&n.as_str());
    let compose_wrote = names.iter().all(known)
        && names.iter().any(|n| n == "oci-layout")
        && names
            .iter()
            .any(|n| n == "report.json" || n == "journal.json");
    if compose_wrote {
        return Ok(());
    }
    let mut foreign: Vec<&String> = names.iter().filter(|n| !known(n)).collect();
    foreign.sort();
    Err(refuse(&match foreign.first() {
        Some(first) => format!(
            "it holds files compose did not write (`{first}`{})",
            if foreign.len() > 1 {
                format!(" and {} more", foreign.len() - 1)
            } else {
                String::new()
            }
        ),
        None => "it is not an output compose wrote (no `.compose-output` marker)".to_string(),
    }))
}

/// Refuses `out` when it is, or contains, one of `protected` (the stream's directory, the
/// mirrors a run reads): replacing it would delete them. Paths are compared resolved.
pub fn check_not_protected(out: &Path, protected: &[PathBuf]) -> Result<()> {
    let Some(out_resolved) = resolve_existing(out) else {
        return Ok(());
    };
    for p in protected {
        let Ok(p_resolved) = p.canonicalize() else {
            continue;
        };
        if p_resolved.starts_with(&out_resolved) {
            return Err(Error::NotAnOutput {
                path: out.to_path_buf(),
                reason: if p_resolved == out_resolved {
                    format!("it is `{}`, an input of this run", p.display())
                } else {
                    format!("it contains `{}`, an input of this run", p.display())
                },
            });
        }
    }
    Ok(())
}

/// `path` made absolute and resolved through its longest existing ancestor (the rest
/// appended as written), so that two spellings of one path compare equal before it exists;
/// `None` when not even the current directory resolves.
pub fn resolve_existing(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(resolved) = existing.canonicalize() {
            let mut out = resolved;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return Some(out);
        }
        rest.push(existing.file_name()?.to_os_string());
        existing = existing.parent()?;
    }
}

/// An exclusive advisory lock on a directory, held until dropped (closing the file
/// releases it).
struct DirLock {
    _file: File,
}

impl DirLock {
    /// Waits for the lock on `dir`.
    fn acquire(dir: &Path) -> Result<DirLock> {
        let file = File::open(dir).map_err(io_err("opening", dir))?;
        file.lock().map_err(io_err("locking", dir))?;
        Ok(DirLock { _file: file })
    }

    /// Takes the lock on `dir` if no one holds it.
    fn try_acquire(dir: &Path) -> Option<DirLock> {
        let file = File::open(dir).ok()?;
        file.try_lock().ok()?;
        Some(DirLock { _file: file })
    }
}

/// What [`recover`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// An output put back from where an interrupted swap had moved it.
    pub restored: Option<PathBuf>,
    /// Temporaries of killed processes that were removed.
    pub removed: Vec<PathBuf>,
}

/// Repairs what killed publishes to `out` left in its parent: an old output moved aside
/// and never replaced goes back to `out`, and unused temporaries are removed. Temporaries
/// another live process holds are left alone. The caller holds the parent's lock.
fn recover(parent: &Path, name: &str, out: &Path) -> Result<Recovered> {
    let mut recovered = Recovered::default();
    let (new_prefix, old_prefix) = (format!(".{name}.new-"), format!(".{name}.old-"));
    let mut olds = Vec::new();
    let mut news = Vec::new();
    for entry in fs::read_dir(parent).map_err(io_err("reading", parent))? {
        let entry = entry.map_err(io_err("reading", parent))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with(&old_prefix) {
            olds.push(entry.path());
        } else if file_name.starts_with(&new_prefix) {
            news.push(entry.path());
        }
    }
    olds.sort();
    for temp in olds.into_iter().chain(news) {
        let Some(lock) = DirLock::try_acquire(&temp) else {
            continue;
        };
        let aside = temp.join(name);
        if fs::symlink_metadata(out).is_err() && fs::symlink_metadata(&aside).is_ok() {
            fs::rename(&aside, out).map_err(io_err("restoring the previous output to", out))?;
            recovered.restored = Some(out.to_path_buf());
        }
        drop(lock);
        fs::remove_dir_all(&temp).map_err(io_err("removing the stale temporary", &temp))?;
        recovered.removed.push(temp);
    }
    Ok(recovered)
}

/// Creates a layout with `fill` in a temporary directory beside `out`, then replaces `out`
/// with it. On error nothing at `out` changes and the temporary directory is removed. `out`
/// must be replaceable ([`check_replaceable`]); the new layout carries [`OUTPUT_MARKER`].
pub fn replace_layout<E, F>(out: &Path, fill: F) -> Result<(), E>
where
    F: FnOnce(&mut OciLayout) -> Result<(), E>,
    E: From<Error>,
{
    let name = out
        .file_name()
        .ok_or_else(|| Error::InvalidOutput(out.to_path_buf()))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
    let (staging, _staging_lock) = {
        let _parent_lock = DirLock::acquire(parent)?;
        let recovered = recover(parent, &name, out)?;
        if let Some(restored) = &recovered.restored {
            tracing::warn!(
                "put back `{}`: an earlier publish was interrupted while replacing it",
                restored.display()
            );
        }
        for removed in &recovered.removed {
            tracing::info!(
                "removed `{}`, left by an interrupted run",
                removed.display()
            );
        }
        check_replaceable(out)?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{name}.new-"))
            .tempdir_in(parent)
            .map_err(io_err("creating a temporary directory in", parent))?;
        let lock = DirLock::acquire(staging.path())?;
        (staging, lock)
    };
    let mut layout = OciLayout::create(staging.path())?;
    fill(&mut layout)?;
    crate::layout::write_atomic(&staging.path().join(OUTPUT_MARKER), OUTPUT_MARKER_CONTENT)?;

    let _parent_lock = DirLock::acquire(parent)?;
    // Another process may have published meanwhile: judge what is there now.
    check_replaceable(out)?;
    if fs::symlink_metadata(out).is_err() {
        fs::rename(staging.path(), out).map_err(io_err("renaming the new layout to", out))?;
        let _ = staging.keep();
        return Ok(());
    }
    let aside_dir = tempfile::Builder::new()
        .prefix(&format!(".{name}.old-"))
        .tempdir_in(parent)
        .map_err(io_err("creating a temporary directory in", parent))?;
    let aside_lock = DirLock::acquire(aside_dir.path())?;
    let aside = aside_dir.path().join(&name);
    fs::rename(out, &aside).map_err(io_err("moving the old output aside:", out))?;
    if let Err(e) = fs::rename(staging.path(), out) {
        // Put the old output back; if even that fails, it is still intact at `aside`, where
        // the next publish finds and restores it.
        if fs::rename(&aside, out).is_err() {
            let _ = aside_dir.keep();
        }
        return Err(io_err("renaming the new layout to", out)(e).into());
    }
    let _ = staging.keep();
    drop(aside_lock);
    // The new output is in place: failing to delete the old one must not fail the publish
    // (the next publish removes it).
    if aside_dir.close().is_err() {
        tracing::warn!("could not remove the previous output's temporary copy");
    }
    Ok(())
}

/// Writes the release image `image` as a complete OCI layout at `out`, replacing what was
/// there: `oci-layout`, an `index.json` with exactly one manifest named `ref_name`, and every
/// blob — the base layers copied (verified) from `base_source` as `base_ref`, then the
/// release layer, the config and the manifest. `extra` files (reports) are written into the
/// layout's root beside `index.json`, in the same all-or-nothing swap.
pub fn write_release_layout(
    out: &Path,
    ref_name: &str,
    image: &BuiltImage,
    base_source: &dyn ImageSource,
    base_ref: &Reference,
    extra: &[(&str, Vec<u8>)],
) -> Result<()> {
    write_release_layout_with(out, ref_name, image, base_source, base_ref, extra, |_| {
        Ok(())
    })
}

/// Like [`write_release_layout`], and `more` adds to the layout (signatures, their manifests)
/// before `index.json` is saved, in the same all-or-nothing swap.
pub fn write_release_layout_with(
    out: &Path,
    ref_name: &str,
    image: &BuiltImage,
    base_source: &dyn ImageSource,
    base_ref: &Reference,
    extra: &[(&str, Vec<u8>)],
    more: impl FnOnce(&mut OciLayout) -> Result<()>,
) -> Result<()> {
    for (name, _) in extra {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && !matches!(*name, "." | ".." | "index.json" | "oci-layout" | "blobs");
        if !plain {
            return Err(Error::InvalidOutput(out.join(name)));
        }
    }
    let manifest: ImageManifest =
        serde_json::from_slice(&image.manifest).map_err(|source| Error::BadContent {
            reference: ref_name.to_string(),
            store: format!("oci:{}", out.display()),
            what: "built manifest",
            source,
        })?;
    replace_layout(out, |layout: &mut OciLayout| {
        for layer in &manifest.layers {
            if layer.digest == image.layer.digest {
                continue;
            }
            let bytes = base_source.blob(base_ref, &layer.digest)?;
            layout.write_blob(&bytes)?;
        }
        for (bytes, expected) in [
            (&image.layer.gzip, &image.layer.digest),
            (&image.config, &image.config_digest),
            (&image.manifest, &image.manifest_digest),
        ] {
            let actual = layout.write_blob(bytes)?;
            if actual != *expected {
                return Err(Error::DigestMismatch {
                    path: layout.blob_path(&actual)?,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        layout.set_ref(image.manifest_descriptor(), ref_name);
        more(layout)?;
        layout.save_index()?;
        for (name, bytes) in extra {
            let path = layout.path().join(name);
            fs::write(&path, bytes).map_err(|source| Error::Io {
                action: "writing",
                path,
                source,
            })?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::release::read_release_image;
    use crate::release::tests::{NAME, layout_with_release};
    use crate::source::ImageSource;

    /// Every file under `dir` with its bytes, by relative path.
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                    out.insert(rel, fs::read(&path).unwrap());
                }
            }
        }
        out
    }

    fn hidden_leftovers(parent: &Path) -> Vec<String> {
        fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect()
    }

    #[test]
    fn writes_a_complete_layout_and_replaces_the_old_one() {
        let src_dir = tempfile::tempdir().unwrap();
        let mut src = OciLayout::create(src_dir.path()).unwrap();
        let (built, cvo_ref) = layout_with_release(&mut src);

        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("okd-scos");
        write_release_layout(&out, NAME, &built, &src, &cvo_ref, &[]).unwrap();
        fs::write(out.join("stale"), b"old").unwrap();

        write_release_layout(&out, NAME, &built, &src, &cvo_ref, &[]).unwrap();
        assert!(!out.join("stale").exists());
        assert!(hidden_leftovers(parent.path()).is_empty());

        let layout = OciLayout::open(&out).unwrap();
        assert_eq!(layout.index().manifests.len(), 1);
        assert_eq!(layout.index().manifests[0].ref_name(), Some(NAME));
        // base 2 layers + release layer + config + manifest.
        assert_eq!(fs::read_dir(out.join("blobs/sha256")).unwrap().count(), 5);
        // The tag-only ref name resolves for any repository, as `oci:out:NAME` would.
        let reference = Reference::parse(&format!("quay.io/okd/scos-release:{NAME}")).unwrap();
        let image = read_release_image(&layout, &reference).unwrap();
        assert_eq!(image.digest, built.manifest_digest);
        for layer in &image.manifest.layers {
            assert!(layout.blob(&reference, &layer.digest).is_ok());
        }
    }

    #[test]
    fn a_failure_leaves_the_old_output_byte_identical() {
        let src_dir = tempfile::tempdir().unwrap();
        let mut src = OciLayout::create(src_dir.path()).unwrap();
        let (built, cvo_ref) = layout_with_release(&mut src);

        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("okd-scos");
        write_release_layout(&out, NAME, &built, &src, &cvo_ref, &[]).unwrap();
        fs::write(out.join("extra-file"), b"kept").unwrap();
        let before = snapshot(&out);

        // Remove a base layer from the source: the copy must fail.
        let (_, manifest) = src.manifest(&cvo_ref).unwrap();
        fs::remove_file(src.blob_path(&manifest.layers[1].digest).unwrap()).unwrap();
        let err = write_release_layout(&out, NAME, &built, &src, &cvo_ref, &[]).unwrap_err();
        assert!(matches!(err.root(), Error::MissingBlob { .. }), "{err:?}");
        assert!(err.to_string().contains("okd-content@sha256:"), "{err}");

        assert_eq!(snapshot(&out), before);
        assert!(hidden_leftovers(parent.path()).is_empty());
    }

    #[test]
    fn only_empty_directories_and_compose_outputs_are_replaced() {
        let src_dir = tempfile::tempdir().unwrap();
        let mut src = OciLayout::create(src_dir.path()).unwrap();
        let (built, cvo_ref) = layout_with_release(&mut src);
        let parent = tempfile::tempdir().unwrap();
        let write = |out: &Path| write_release_layout(out, NAME, &built, &src, &cvo_ref, &[]);

        let mine = parent.path().join("mine");
        fs::create_dir(&mine).unwrap();
        fs::write(mine.join("notes.txt"), b"keep").unwrap();
        let err = write(&mine).unwrap_err();
        assert!(matches!(err, Error::NotAnOutput { .. }), "{err:?}");
        assert!(err.to_string().contains("`notes.txt`"), "{err}");
        assert_eq!(fs::read(mine.join("notes.txt")).unwrap(), b"keep");

        let file = parent.path().join("file");
        fs::write(&file, b"mine").unwrap();
        assert!(matches!(write(&file), Err(Error::NotAnOutput { .. })));
        let link = parent.path().join("link");
        std::os::unix::fs::symlink(&mine, &link).unwrap();
        assert!(matches!(write(&link), Err(Error::NotAnOutput { .. })));

        // A bare OCI layout (a mirror) is not an output either.
        let mirror = parent.path().join("mirror");
        OciLayout::create(&mirror).unwrap();
        assert!(matches!(write(&mirror), Err(Error::NotAnOutput { .. })));

        let out = parent.path().join("out");
        fs::create_dir(&out).unwrap();
        write(&out).unwrap();
        assert!(out.join(OUTPUT_MARKER).is_file());
        write(&out).unwrap();
        assert!(hidden_leftovers(parent.path()).is_empty());

        // Inputs and their ancestors are protected, resolved through `..`.
        let inside = parent.path().join("out/../mine");
        let protected = std::slice::from_ref(&mine);
        assert!(check_not_protected(&inside, protected).is_err());
        assert!(check_not_protected(parent.path(), protected).is_err());
        assert!(check_not_protected(&out, protected).is_ok());
        assert!(check_not_protected(&parent.path().join("new/x"), protected).is_ok());
    }

    #[test]
    fn an_interrupted_swap_is_restored_and_stale_temporaries_removed() {
        let src_dir = tempfile::tempdir().unwrap();
        let mut src = OciLayout::create(src_dir.path()).unwrap();
        let (built, cvo_ref) = layout_with_release(&mut src);
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("okd");
        write_release_layout(&out, NAME, &built, &src, &cvo_ref, &[]).unwrap();
        let before = snapshot(&out);
        // Killed between the renames: the old output aside, no output.
        let aside = parent.path().join(".okd.old-killed");
        fs::create_dir(&aside).unwrap();
        fs::rename(&out, aside.join("okd")).unwrap();
        // Killed while filling: an incomplete temporary.
        let partial = parent.path().join(".okd.new-killed");
        fs::create_dir_all(partial.join("blobs")).unwrap();
        // A temporary a live process holds is left alone.
        let live = parent.path().join(".okd.new-live");
        fs::create_dir(&live).unwrap();
        let held = DirLock::acquire(&live).unwrap();

        // Even a publish that then fails puts the old output back first.
        let err = replace_layout(&out, |_| -> Result<()> {
            Err(Error::InvalidOutput(PathBuf::from("fill failed")))
        });
        assert!(err.is_err());
        assert_eq!(snapshot(&out), before);
        assert!(!aside.exists() && !partial.exists());
        assert!(live.exists(), "a live temporary was removed");
        drop(held);
        write_release_layout(&out, NAME, &built, &src, &cvo_ref, &[]).unwrap();
        assert!(hidden_leftovers(parent.path()).is_empty());
    }

    #[test]
    fn refuses_outputs_without_a_name() {
        let src_dir = tempfile::tempdir().unwrap();
        let mut src = OciLayout::create(src_dir.path()).unwrap();
        let (built, cvo_ref) = layout_with_release(&mut src);
        assert!(matches!(
            write_release_layout(Path::new("/"), NAME, &built, &src, &cvo_ref, &[]),
            Err(Error::InvalidOutput(_))
        ));
    }
}
