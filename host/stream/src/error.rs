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
    /// The file was read but is not a valid stream; every problem is listed with its place.
    #[error("{0}")]
    Invalid(Box<Diagnostics>),
}

/// The stream crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
