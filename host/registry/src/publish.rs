//! Publishing a release image as an OCI layout, all or nothing.
//!
//! The layout is written completely into a hidden temporary directory next to the output
//! (same parent, so the final renames stay on one filesystem) and only then swapped in: the
//! old output is renamed aside, the new one renamed into place, and the old one deleted. Any
//! error before the swap removes the temporary directory and leaves the output untouched.

use std::fs;
use std::path::Path;

use compose_payload::BuiltImage;
use compose_payload::oci::ImageManifest;

use crate::error::{Error, Result};
use crate::layout::OciLayout;
use crate::reference::Reference;
use crate::source::ImageSource;

/// Creates a layout with `fill` in a temporary directory beside `out`, then replaces `out`
/// with it. On error nothing at `out` changes and the temporary directory is removed.
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
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| Error::Io {
            action,
            path,
            source,
        }
    };
    fs::create_dir_all(parent).map_err(io("creating", parent))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(parent)
        .map_err(io("creating a temporary directory in", parent))?;
    let mut layout = OciLayout::create(staging.path())?;
    fill(&mut layout)?;

    if fs::symlink_metadata(out).is_err() {
        fs::rename(staging.path(), out).map_err(io("renaming the new layout to", out))?;
        let _ = staging.keep();
        return Ok(());
    }
    let aside_dir = tempfile::Builder::new()
        .prefix(&format!(".{name}.old-"))
        .tempdir_in(parent)
        .map_err(io("creating a temporary directory in", parent))?;
    let aside = aside_dir.path().join(&name);
    fs::rename(out, &aside).map_err(io("moving the old output aside:", out))?;
    if let Err(e) = fs::rename(staging.path(), out) {
        // Put the old output back; if even that fails, it is still intact at `aside`, which
        // we then keep rather than delete.
        if fs::rename(&aside, out).is_err() {
            let _ = aside_dir.keep();
        }
        return Err(io("renaming the new layout to", out)(e).into());
    }
    let _ = staging.keep();
    // The new output is in place: failing to delete the old one must not fail the publish.
    let _ = aside_dir.close();
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
        fs::create_dir(&out).unwrap();
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
