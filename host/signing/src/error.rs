//! Errors of key handling, signing and verification.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Key material could not be read, unlocked or written.
    #[error("{0}")]
    Key(String),
    /// A `[keys.NAME]` entry could not be loaded.
    #[error("key `{name}`: {message}")]
    StreamKey {
        /// The key name.
        name: String,
        /// Why.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A signature did not verify, or its payload is not what it must be.
    #[error("{0}")]
    Verify(String),
    /// Writing signatures into the output failed.
    #[error("publishing signatures: {0}")]
    Publish(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
