//! Reading the user's files safely: only regular files, never more than a bound known before
//! reading.
//!
//! A path that names a FIFO would block a plain `open` until some writer appears, and
//! `/dev/zero` or `/dev/urandom` never end: [`read_regular`] opens without blocking, refuses
//! anything but a regular file (after following symlinks), and refuses a file larger than
//! its bound before reading a byte of it (and if it grows while being read).

use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// A mebibyte, for bounds.
pub const MIB: u64 = 1 << 20;

/// Why [`read_regular`] could not read a file.
#[derive(Debug, thiserror::Error)]
pub enum ReadFileError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Something other than a regular file: a FIFO, a device, a socket or a directory.
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    /// A file larger than the bound.
    #[error("it holds {size} bytes, more than the {limit} bytes allowed")]
    TooLarge {
        /// Its size (or, if it grew while read, at least this).
        size: u64,
        /// The bound.
        limit: u64,
    },
}

impl ReadFileError {
    /// Whether the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadFileError::Io(e) if e.kind() == ErrorKind::NotFound)
    }

    /// The I/O error behind this one, if it is one.
    pub fn into_io(self) -> std::io::Error {
        match self {
            ReadFileError::Io(e) => e,
            other => std::io::Error::new(ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// What a file type is, in words.
fn describe(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// Reads the regular file at `path` (symlinks followed), refusing anything else and any file
/// of more than `limit` bytes. The open never blocks (a FIFO is refused, not waited on).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadFileError> {
    // Checked before opening (a FIFO's open would otherwise wait for a writer), and again on
    // the opened file (the path may have changed in between).
    let before = std::fs::metadata(path)?;
    if !before.is_file() {
        return Err(ReadFileError::NotRegular(describe(before.file_type())));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(ReadFileError::NotRegular(describe(metadata.file_type())));
    }
    let size = metadata.len();
    if size > limit {
        return Err(ReadFileError::TooLarge { size, limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    (&file).take(limit + 1).read_to_end(&mut bytes)?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(ReadFileError::TooLarge { size: read, limit });
    }
    Ok(bytes)
}

/// [`read_regular`], as UTF-8 text.
pub fn read_regular_text(path: &Path, limit: u64) -> Result<String, ReadFileError> {
    let bytes = read_regular(path, limit)?;
    String::from_utf8(bytes).map_err(|_| {
        ReadFileError::Io(std::io::Error::new(
            ErrorKind::InvalidData,
            "it is not UTF-8 text",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"hello");
        assert!(matches!(
            read_regular(&path, 4),
            Err(ReadFileError::TooLarge { size: 5, limit: 4 })
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(read_regular_text(&link, 10).unwrap(), "hello");
        assert!(
            read_regular(&dir.path().join("absent"), 10)
                .unwrap_err()
                .is_not_found()
        );
    }

    #[test]
    fn refuses_devices_fifos_and_directories_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = read_regular(&zero, 1 << 30).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        assert!(matches!(
            read_regular(Path::new("/dev/urandom"), 1 << 30),
            Err(ReadFileError::NotRegular(_))
        ));
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        let err = read_regular(&fifo, 10).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(matches!(
            read_regular(dir.path(), 10),
            Err(ReadFileError::NotRegular("a directory"))
        ));
    }
}
