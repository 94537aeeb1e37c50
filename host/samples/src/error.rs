//! Errors of the sample generator.

/// What can go wrong generating the sample mirror.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--scale` below 1.
    #[error("invalid scale `{0}`: must be at least 1")]
    InvalidScale(u32),
    /// The embedded component table is malformed or lacks a component.
    #[error("bad component data: {0}")]
    Data(String),
    /// Building a tar layer failed.
    #[error("building the layer of `{image}`")]
    Layer {
        /// The image being built.
        image: String,
        /// The tar or gzip error.
        #[source]
        source: std::io::Error,
    },
    /// Serialising an image config or manifest failed.
    #[error("serialising the {what} of `{image}`")]
    Json {
        /// The image.
        image: String,
        /// `config` or `manifest`.
        what: &'static str,
        /// The serde_json error.
        #[source]
        source: serde_json::Error,
    },
    /// A payload operation failed: building the release, or reading a timestamp.
    #[error("building `{subject}`")]
    Payload {
        /// The release or image being built.
        subject: String,
        /// The payload error.
        #[source]
        source: compose_payload::Error,
    },
    /// Writing the layout failed (the error names the path).
    #[error(transparent)]
    Registry(#[from] compose_registry::Error),
}

/// The samples crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
