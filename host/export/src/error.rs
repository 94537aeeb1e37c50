//! Why an export was refused.

/// An export that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The stream cannot be expressed as a Tekton pipeline (a stage or stream name Tekton
    /// does not accept, …).
    #[error("stream `{stream}`: {message}")]
    Stream {
        /// The stream's name.
        stream: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The lock file does not match the stream.
    #[error(
        "stream `{stream}`: the lock does not match the stream: {message}; run `compose lock` on the stream again"
    )]
    Lock {
        /// The stream's name.
        stream: String,
        /// What differs.
        message: String,
    },
    /// YAML that could not be written or read.
    #[error("{context}: {source}")]
    Yaml {
        /// What was being done.
        context: String,
        /// The YAML error.
        #[source]
        source: serde_yaml::Error,
    },
    /// JSON conversion failed.
    #[error("{context}: {source}")]
    Json {
        /// What was being done.
        context: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
