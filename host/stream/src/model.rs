//! A validated stream: every path resolved, every size and duration parsed.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Grants and limits are the sandbox's own types: the stream validates into what the runtime
/// enforces (each capability validates its own grant, see `compose_runtime::capability`).
pub use compose_runtime::{FileGrant, Grants, Limits};

/// A stream file after validation.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The stream file, as the user named it.
    pub path: PathBuf,
    /// The stream's name, e.g. `okd-scos`.
    pub name: String,
    /// The release name of the composed release.
    pub release: String,
    /// The base release reference.
    pub from: String,
    /// Where `--push` publishes, if set.
    pub to: Option<String>,
    /// What the stream is for.
    pub description: Option<String>,
    /// `release-metadata` `previous`.
    pub previous: Vec<String>,
    /// `release-metadata` `metadata`.
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// A fixed creation time, if the stream sets one.
    pub created: Option<String>,
    /// Where the release's OpenPGP signatures are served (`[stream] signature-store`).
    pub signature_store: Option<String>,
    /// Registry mirrors, longest prefix first.
    pub mirrors: Vec<Mirror>,
    /// Real registries serving a prefix (`registry = "…"`), longest prefix first.
    pub remotes: Vec<RemoteMirror>,
    /// Signing keys by name.
    pub keys: BTreeMap<String, Key>,
    /// `[trust] plugins`: the keys `oci://` plugins must be signed by; `None` without `[trust]`.
    pub trust: Option<Vec<TrustedKey>>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

/// A cosign public key a trust policy names (`[trust] plugins`, a stage's `trust`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The path as the stream file writes it (how messages and the lock name the key).
    pub text: String,
    /// The file, resolved against the stream file's directory.
    pub path: PathBuf,
}

/// References under `prefix` are read from the OCI layout at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `registry` or `registry/path`.
    pub prefix: String,
    /// The OCI image layout directory.
    pub path: PathBuf,
}

/// References under `prefix` are read from a real registry at `location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMirror {
    /// `registry` or `registry/path`.
    pub prefix: String,
    /// `host[:port][/path]`, replacing the prefix.
    pub location: String,
    /// `Some(true)` for an explicit `https://`, `Some(false)` for `http://` (loopback only),
    /// `None` to decide by host (plain HTTP for loopback and `--insecure-registry` hosts).
    pub tls: Option<bool>,
}

/// Where a key's material comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file.
    File(PathBuf),
    /// An environment variable holding the key (or, if it names an existing file, its path).
    Env(String),
}

/// A signing key declared by the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The private key.
    pub private_key: Option<KeySource>,
    /// The public key.
    pub public_key: Option<KeySource>,
    /// The environment variable holding the private key's passphrase.
    pub passphrase_env: Option<String>,
    /// Whether a missing private key skips the stages granted it instead of failing.
    pub optional: bool,
}

/// Which component a stage runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginRef {
    /// A plugin embedded in the binary, by name.
    Builtin(String),
    /// A component file.
    File(PathBuf),
    /// A component published as an OCI artifact (`oci://…`).
    Oci(String),
}

impl std::fmt::Display for PluginRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginRef::Builtin(name) => write!(f, "builtin:{name}"),
            PluginRef::File(path) => write!(f, "{}", path.display()),
            PluginRef::Oci(reference) => write!(f, "oci://{reference}"),
        }
    }
}

/// One validated stage.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Unique stage name.
    pub name: String,
    /// The plugin as written in the stream file.
    pub plugin_text: String,
    /// The resolved plugin reference.
    pub plugin: PluginRef,
    /// The config table as JSON (`{}` when absent).
    pub config: serde_json::Value,
    /// Grants.
    pub grants: Grants,
    /// Limits.
    pub limits: Limits,
    /// The keys this stage's `oci://` plugin must be signed by: the stage's own `trust`, else
    /// the stream's `[trust] plugins`; `None` when neither says (no policy).
    pub trust: Option<Vec<TrustedKey>>,
    /// Whether a rerun may reuse this stage's cached result (`cache` in the stream file,
    /// default `true`). `false`: the stage always runs (and its result is not recorded), as
    /// for a stage whose plugin reads the clock or randomness on purpose.
    pub cache: bool,
}
