//! Files the command line writes for the user (`export tekton --out`, `plugin pull --out`):
//! never over one of the command's inputs, never over another file unless asked, and never
//! half-written.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Writes `bytes` to `path` through a temporary file beside it and a rename.
///
/// Refused when `path` is one of `inputs` (compared resolved, so `./s.toml` and `s.toml` are
/// the same file), when it is not a regular file, and when it exists with other bytes unless
/// `force` (the same bytes again change nothing).
pub fn write_output_file(
    path: &Path,
    bytes: &[u8],
    inputs: &[&Path],
    force: bool,
) -> anyhow::Result<()> {
    let resolved = compose_registry::resolve_existing(path);
    for input in inputs {
        if resolved.is_some() && input.canonicalize().ok() == resolved {
            bail!(
                "refusing to write to `{}`: it is the input `{}` of this command",
                path.display(),
                input.display()
            );
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_file() => bail!(
            "refusing to write to `{}`: it is not a regular file",
            path.display()
        ),
        Ok(_) if !force => {
            let same = std::fs::read(path).is_ok_and(|old| old == bytes);
            if same {
                return Ok(());
            }
            bail!(
                "`{}` already exists: pass `--force` to replace it",
                path.display()
            );
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("inspecting `{}`", path.display())),
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .with_context(|| format!("`{}` is not a file name", path.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.tmp-", file_name.to_string_lossy()))
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in `{}`", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing `{}`", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing `{}`", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn inputs_are_never_overwritten_and_others_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let stream = dir.path().join("s.toml");
        std::fs::write(&stream, "stream").unwrap();
        let dotted = dir.path().join(".").join("s.toml");
        let err = write_output_file(&dotted, b"yaml", &[&stream], true).unwrap_err();
        assert!(err.to_string().contains("it is the input"), "{err}");
        assert_eq!(std::fs::read(&stream).unwrap(), b"stream");

        let out = dir.path().join("p.yaml");
        write_output_file(&out, b"one", &[&stream], false).unwrap();
        // The same bytes again: nothing to lose, no error.
        write_output_file(&out, b"one", &[&stream], false).unwrap();
        let err = write_output_file(&out, b"two", &[&stream], false).unwrap_err();
        assert!(err.to_string().contains("pass `--force`"), "{err}");
        assert_eq!(std::fs::read(&out).unwrap(), b"one");
        write_output_file(&out, b"two", &[&stream], true).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two");

        let err = write_output_file(dir.path(), b"x", &[], true).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary left: {names:?}");
    }
}
