//! Errors of the image crate: each names the file concerned and what to do about it.

use std::path::PathBuf;

/// The command that builds the static binary an image needs.
pub const STATIC_BUILD_HINT: &str = "build a static one with `cargo build --profile dist --target x86_64-unknown-linux-musl --bin compose` (then `target/x86_64-unknown-linux-musl/dist/compose`)";

/// What can go wrong building or writing the image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file that could not be read.
    #[error("cannot read `{path}` ({what})")]
    Read {
        /// The file.
        path: PathBuf,
        /// What it was read as: `the compose binary`, `the CA bundle`.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The binary is not an ELF file at all.
    #[error(
        "`{path}` is not an ELF executable (it does not start with `\\x7fELF`): the image needs the Linux compose binary; {STATIC_BUILD_HINT}"
    )]
    NotElf {
        /// The file.
        path: PathBuf,
    },
    /// An ELF file this crate cannot use: truncated, 32-bit, big-endian, not an executable.
    #[error("`{path}` is not a usable executable: {reason}; {STATIC_BUILD_HINT}")]
    BadElf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A dynamically linked binary: it names an interpreter the minimal base does not have.
    #[error(
        "`{path}` is dynamically linked (its PT_INTERP interpreter is `{interpreter}`, which the image does not contain); {STATIC_BUILD_HINT}"
    )]
    Dynamic {
        /// The file.
        path: PathBuf,
        /// The program interpreter it asks for, e.g. `/lib64/ld-linux-x86-64.so.2`.
        interpreter: String,
    },
    /// An ELF machine with no image architecture here.
    #[error(
        "`{path}` is built for ELF machine {machine} ({name}); compose images are for x86-64 (`amd64`) and AArch64 (`arm64`): build compose for one of those"
    )]
    UnsupportedMachine {
        /// The file.
        path: PathBuf,
        /// The `e_machine` value.
        machine: u16,
        /// Its usual name, or `unknown`.
        name: &'static str,
    },
    /// A CA bundle without a single PEM certificate.
    #[error(
        "`{path}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): pass a CA bundle with `--ca-bundle FILE`, or `--no-ca-bundle`"
    )]
    NotACaBundle {
        /// The file.
        path: PathBuf,
    },
    /// `SOURCE_DATE_EPOCH` that is not whole seconds.
    #[error("`SOURCE_DATE_EPOCH` must be whole seconds since 1970, not `{0}`")]
    InvalidEpoch(String),
    /// A tag an OCI layout or a registry would refuse.
    #[error(
        "invalid tag `{0}`: use letters, digits, `_`, `.` and `-` (at most 128, not starting with `.` or `-`)"
    )]
    InvalidTag(String),
    /// An output path that holds something other than an OCI layout, which we will not
    /// replace.
    #[error(
        "`{0}` exists and is not an OCI image layout: it is left alone; choose another `--out` or remove it"
    )]
    OutputInUse(PathBuf),
    /// Writing a tar entry failed.
    #[error("writing the layer entry `{path}`")]
    Tar {
        /// The entry path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Serialising the config or the manifest failed.
    #[error("serialising the image {what}")]
    Json {
        /// `config` or `manifest`.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// Writing the OCI layout failed (the output is left as it was).
    #[error(transparent)]
    Layout(#[from] compose_registry::Error),
}

impl Error {
    /// Whether the user can fix this (wrong binary, wrong option); `false` for failures of the
    /// host itself (I/O on the output).
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Layout(_) | Error::Tar { .. } | Error::Json { .. }
        )
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
