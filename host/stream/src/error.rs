//! Errors of the stream crate.

use std::path::PathBuf;

use crate::diagnostic::Diagnostics;

/// What can go wrong loading a stream file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read stream `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The path is not a regular file (a directory, a FIFO, a device such as `/dev/zero`):
    /// reading it could block or never end.
    #[error("cannot read stream `{}`: it is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is larger than any stream file should be.
    #[error("cannot read stream `{}`: it is {size} bytes, more than the {max} a stream file may have", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The most a stream file may have.
        max: u64,
    },
    /// The file was read but is not a valid stream; every problem is listed with its place.
    #[error("{0}")]
    Invalid(Box<Diagnostics>),
}

/// The stream crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
