//! Errors of a plan or run, with the context a user needs: stage, plugin, reference.

use std::path::PathBuf;

/// What can stop a plan or a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The stream file is unreadable or invalid.
    #[error(transparent)]
    Stream(#[from] compose_stream::Error),
    /// A plugin could not be found or read.
    #[error("stage `{stage}`: cannot load plugin `{plugin}`: {reason}")]
    Plugin {
        /// The stage.
        stage: String,
        /// The plugin as written in the stream.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// An `oci://` plugin has no valid signature by a key its stage's trust policy names.
    #[error(
        "stage `{stage}`: plugin `{plugin}` ({digest}) is refused: no valid signature by a trusted key ({reason}); keys tried: {keys}"
    )]
    Untrusted {
        /// The stage.
        stage: String,
        /// The plugin as written in the stream.
        plugin: String,
        /// The artifact manifest digest the reference resolved to.
        digest: String,
        /// Why each signature (or the lack of one) was refused.
        reason: String,
        /// The keys tried, with their fingerprints.
        keys: String,
    },
    /// The sandbox refused or stopped a stage (import not granted, trap, timeout, limit).
    #[error(transparent)]
    Runtime(#[from] compose_runtime::Error),
    /// A registry or store could not provide what was asked for.
    #[error("{context}")]
    Registry {
        /// What was being done, e.g. "reading the base release `quay.io/…`".
        context: String,
        /// The cause.
        #[source]
        source: Box<compose_registry::Error>,
    },
    /// The payload broke an invariant (after a stage, or when building the image).
    #[error("{context}")]
    Payload {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: compose_payload::Error,
    },
    /// A release invariant the host checks after the stages does not hold.
    #[error("the composed release cannot be published: {0}")]
    Invariant(String),
    /// A stage reported failed checks of severity `error`.
    #[error(
        "stage `{stage}` reported {count} failed check{} of severity error{}",
        if *count == 1 { "" } else { "s" },
        report.as_ref().map(|d| format!("; the report is in `{}`", d.display())).unwrap_or_default()
    )]
    ChecksFailed {
        /// The stage.
        stage: String,
        /// How many.
        count: usize,
        /// Where the report of the failed run was written, if it could be.
        report: Option<PathBuf>,
    },
    /// Signing failed: a key cannot be loaded, a signature does not verify, a stage changed a
    /// signed payload, or a signed release was required and none was made.
    #[error("{0}")]
    Signing(String),
    /// The release's signatures or its signed provenance could not be written into the
    /// output being published; nothing was published.
    #[error("writing the release to `{}`", out.display())]
    WritingSignatures {
        /// The output directory.
        out: PathBuf,
        /// What the signer reported.
        #[source]
        source: SigningFailure,
    },
    /// A lock file is missing, unreadable, or the stream drifted from it.
    #[error("{0}")]
    Lock(String),
    /// A state directory (`--state`) is unreadable, belongs to another run, or the stages
    /// asked for cannot run against it.
    #[error("{0}")]
    State(String),
    /// A push was asked for a release whose stages have not all run (stage at a time).
    #[error(
        "`--push`: the release is not complete, stages still to run: {}; the state `{}` was saved",
        pending.join(", "),
        state.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
    )]
    Incomplete {
        /// The stages still to run.
        pending: Vec<String>,
        /// The state directory the stages that ran were saved in.
        state: Option<PathBuf>,
    },
    /// Pushing the published release, or an image tagged beside it, failed; the output is
    /// complete and a push can be retried from it.
    #[error(
        "pushing release `{release}` to `{target}`; the output `{}` is complete, run again to retry the push",
        out.display()
    )]
    Push {
        /// The release.
        release: String,
        /// Where it was pushed.
        target: String,
        /// The output directory pushed from.
        out: PathBuf,
        /// The cause.
        #[source]
        source: Box<compose_registry::Error>,
    },
    /// A host file operation failed (cache, output).
    #[error("{context} `{}`", path.display())]
    Io {
        /// What was being done.
        context: String,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A signer's error while the release's signatures were written: `signing the release: …`.
/// The signer's error is kept whole, but not as a cause of its own: the message already says
/// it, and the exit code stays that of a failed run.
#[derive(Debug, thiserror::Error)]
#[error("signing the release: {0}")]
pub struct SigningFailure(pub compose_signing::Error);

impl Error {
    /// True when the error is about the user's input or plugins (exit code 1), false when
    /// the host itself failed (exit code 3).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, Error::Io { .. })
    }
}

/// The pipeline crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
