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
    /// A name for a file of `release-manifests/` that is not a manifest (a script, a text
    /// file) that is not a plain file name, or that is reserved.
    #[error("invalid release file name `{name}`: {reason}")]
    InvalidFileName {
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
    /// `image-references` that `oc` and the CVO would refuse.
    #[error("invalid image-references: {0}")]
    InvalidImageReferences(String),
    /// A release name that is not semver (the CVO requires semver).
    #[error("invalid release name `{name}`: {reason}")]
    InvalidReleaseName {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// `image-references` and `release-metadata` name different releases.
    #[error(
        "image-references name `{references}` differs from release-metadata version `{metadata}`"
    )]
    NameMismatch {
        /// `image-references` `metadata.name`.
        references: String,
        /// `release-metadata` `version`.
        metadata: String,
    },
    /// A timestamp not in the strict `YYYY-MM-DDTHH:MM:SSZ` form.
    #[error("invalid timestamp `{value}`: {reason}")]
    InvalidTimestamp {
        /// The text given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A required file is missing from the release layer.
    #[error("the release layer has no `release-manifests/{0}`")]
    MissingFile(String),
    /// A release layer entry whose path leaves `release-manifests/`.
    #[error("release layer entry `{0}` escapes `release-manifests/`")]
    UnsafeLayerPath(String),
    /// The release layer unpacks to more than we are willing to hold in memory.
    #[error("the release layer holds more than {limit} bytes of files")]
    LayerTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The release layer is not a readable gzip-compressed tar.
    #[error("reading the release layer")]
    LayerRead(#[source] std::io::Error),
    /// Writing an entry into the release layer failed (e.g. a name tar cannot store).
    #[error("writing `{path}` into the release layer")]
    LayerWrite {
        /// The entry path.
        path: String,
        /// The tar or gzip error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest whose bytes are not UTF-8 text.
    #[error("manifest `{0}` is not UTF-8 text")]
    NonUtf8Manifest(String),
    /// A base (cluster-version-operator) image whose config or manifest cannot be extended.
    #[error("invalid base image: {0}")]
    InvalidBaseImage(String),
    /// A JSON document that could not be serialised or parsed.
    #[error("{action} {document} as JSON")]
    Json {
        /// `serialising` or `parsing`.
        action: &'static str,
        /// Which document, e.g. `image-references`.
        document: &'static str,
        /// The serde_json error.
        #[source]
        source: serde_json::Error,
    },
}

/// The payload crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
