//! Errors of the registry crate.

use std::path::PathBuf;

/// What can go wrong finding, reading or writing images.
///
/// Errors name the image reference and the store they concern: either directly, or through an
/// [`Error::Image`] wrapper around a store-level error (which names the blob path).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Text that is not an image reference.
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidReference {
        /// The text given.
        reference: String,
        /// Why it was refused.
        reason: String,
    },
    /// A digest we cannot store or address.
    #[error("invalid digest `{0}`: must be `sha256:` and 64 lowercase hex digits")]
    InvalidDigest(String),
    /// A directory that is not an OCI image layout.
    #[error("`{path}` is not an OCI image layout: {reason}")]
    NotALayout {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// Creating a layout where one already exists.
    #[error("`{0}` already holds an OCI image layout")]
    LayoutExists(PathBuf),
    /// A filesystem operation failed.
    #[error("{action} `{path}`")]
    Io {
        /// What we were doing: `reading`, `writing`, `renaming`, ….
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stored blob whose bytes do not hash to its digest: corruption or tampering.
    #[error("blob `{path}` is corrupt: expected digest `{expected}`, found `{actual}`")]
    DigestMismatch {
        /// The blob file.
        path: PathBuf,
        /// The digest it is stored under.
        expected: String,
        /// The digest of its bytes.
        actual: String,
    },
    /// A blob that is not in the store.
    #[error("blob `{digest}` is missing from `{store}`")]
    MissingBlob {
        /// The store (layout directory).
        store: PathBuf,
        /// The digest looked for.
        digest: String,
    },
    /// A JSON file of a layout that does not parse.
    #[error("parsing `{path}` as {what}")]
    InvalidJson {
        /// The file.
        path: PathBuf,
        /// What it should be, e.g. `an OCI index`.
        what: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A reference with no manifest in the store.
    #[error("`{reference}` is not in `{store}`")]
    NotFound {
        /// The reference.
        reference: String,
        /// The store.
        store: String,
    },
    /// A manifest, index or config of an image that does not parse.
    #[error("parsing the {what} of `{reference}` from `{store}`")]
    BadContent {
        /// The reference.
        reference: String,
        /// The store.
        store: String,
        /// What was parsed, e.g. `manifest`.
        what: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Content that is neither an image manifest nor an index.
    #[error(
        "`{reference}` in `{store}` has media type `{media_type}`: it must be an image manifest or index"
    )]
    UnsupportedMediaType {
        /// The reference.
        reference: String,
        /// The store.
        store: String,
        /// The media type found.
        media_type: String,
    },
    /// An image index without a linux/amd64 image manifest.
    #[error("`{reference}` in `{store}` is an image index with no linux/amd64 image manifest")]
    NoPlatform {
        /// The reference.
        reference: String,
        /// The store.
        store: String,
    },
    /// A reference that no configured mirror serves.
    #[error("no mirror serves `{reference}`; mirrors exist for: {}", .prefixes.join(", "))]
    NoMirror {
        /// The reference.
        reference: String,
        /// The configured prefixes, longest first.
        prefixes: Vec<String>,
    },
    /// A mirror prefix that is not `registry` or `registry/path`.
    #[error("invalid mirror prefix `{prefix}`: {reason}")]
    InvalidMirrorPrefix {
        /// The prefix given.
        prefix: String,
        /// Why it was refused.
        reason: String,
    },
    /// An image that is not a release image.
    #[error("`{reference}` in `{store}` is not a release image: {reason}")]
    NotARelease {
        /// The reference.
        reference: String,
        /// The store.
        store: String,
        /// What is wrong.
        reason: String,
    },
    /// The release payload in an image is invalid.
    #[error("reading the release payload of `{reference}` from `{store}`")]
    Release {
        /// The reference.
        reference: String,
        /// The store.
        store: String,
        /// The payload error.
        #[source]
        source: compose_payload::Error,
    },
    /// A store-level error met while reading an image: adds which image and which store.
    #[error("reading `{reference}` from `{store}`")]
    Image {
        /// The reference being read.
        reference: String,
        /// The store.
        store: String,
        /// The store-level error.
        #[source]
        source: Box<Error>,
    },
    /// An output path that cannot be replaced (no file name, e.g. `/` or `..`).
    #[error("cannot publish to `{0}`: it must name a directory to create or replace")]
    InvalidOutput(PathBuf),
    /// An output path that holds something compose did not write: it is never replaced.
    #[error(
        "refusing to replace `{path}`: {reason}; compose replaces only an empty directory or an output it wrote itself (remove it or choose another output)"
    )]
    NotAnOutput {
        /// The output path given.
        path: PathBuf,
        /// What is there instead.
        reason: String,
    },
    /// A registry that could not be reached, or that kept failing, after every retry.
    #[error(
        "{operation} `{reference}` at registry `{registry}` failed after {attempts} attempt{}: {message}",
        if *attempts == 1 { "" } else { "s" }
    )]
    Remote {
        /// The registry host (`quay.io`, `127.0.0.1:5000`).
        registry: String,
        /// The image reference concerned.
        reference: String,
        /// What was being done: `reading the manifest of`, `uploading blob … of`, ….
        operation: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        message: String,
    },
    /// A registry that refused the credentials (or asked for some and got none).
    #[error(
        "registry `{registry}` refused access to `{reference}`: {message}; give credentials with \
         `--creds USER:PASS`, `REGISTRY_AUTH_FILE` or `~/.docker/config.json`"
    )]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The image reference concerned.
        reference: String,
        /// What the registry said.
        message: String,
    },
    /// Bytes a registry served that do not hash to the digest they were asked for.
    #[error(
        "registry `{registry}` served corrupt content for `{reference}`: expected digest `{expected}`, found `{actual}`"
    )]
    RemoteDigestMismatch {
        /// The registry host.
        registry: String,
        /// The image reference concerned.
        reference: String,
        /// The digest asked for.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// A credentials file (`REGISTRY_AUTH_FILE`, `~/.docker/config.json`) that cannot be used.
    #[error("credentials file `{path}`: {reason}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A registry reached over plain HTTP that is neither on loopback nor named insecure.
    #[error(
        "registry `{0}` would be reached over plain HTTP: only loopback registries (127.0.0.1, localhost, ::1) \
         or hosts named with `--insecure-registry` may be"
    )]
    PlainHttpRefused(String),
    /// The async runtime behind the registry client could not start.
    #[error("cannot start the registry client: {0}")]
    Client(String),
    /// Signatures or attestations that could not be written beside a release being published.
    #[error("signing the release: {message}")]
    Attachment {
        /// What went wrong, from the signer.
        message: String,
    },
    /// A reference pinned by digest whose tag now names other content.
    #[error(
        "digest mismatch for `{reference}`: the stream pins `{pinned}`, which the registry does not have; the tag names `{found}`"
    )]
    PinMismatch {
        /// The reference, tag and digest.
        reference: String,
        /// The pinned digest.
        pinned: String,
        /// What the tag resolves to now.
        found: String,
    },
    /// Content that is not a WebAssembly component published as an OCI artifact.
    #[error("`{reference}` is not a Wasm OCI artifact: {reason}")]
    NotAWasmArtifact {
        /// The reference.
        reference: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// The innermost error of this crate, looking through [`Error::Image`] wrappers.
    pub fn root(&self) -> &Error {
        match self {
            Error::Image { source, .. } => source.root(),
            other => other,
        }
    }
}

/// The registry crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
