//! Errors of the payload crate.

/// What can go wrong reading, changing or building a release payload.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest file name the CVO would not read, or one that escapes `release-manifests/`.
    #[error("invalid manifest name `{name}`: {reason}")]
    InvalidManifestName {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// A tag name that is not a valid ImageStream tag.
    #[error("invalid image tag name `{0}`: must be 1 to 128 of `A-Z a-z 0-9 . _ -`")]
    InvalidTagName(String),
    /// A pullspec that is not an image reference.
    #[error("invalid pullspec `{pullspec}`: {reason}")]
    InvalidPullspec {
        /// The pullspec given.
        pullspec: String,
        /// Why it was refused.
        reason: String,
    },
    /// `release-metadata` that the CVO would refuse.
    #[error("invalid release-metadata: {0}")]
    InvalidMetadata(String),
}

/// The payload crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
