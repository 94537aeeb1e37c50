//! The stream file schema: what a `streams/*.toml` file may say.
//!
//! Unknown keys are errors (`deny_unknown_fields`): a mistyped grant silently ignored would
//! publish a wrong release. Values that later checks point at keep their location
//! ([`Spanned`]).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole stream file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StreamFile {
    /// `[stream]`: what is composed, from what, to where.
    pub stream: StreamSection,
    /// `[registries."HOST[/PATH]"]`: where references under a prefix are read from.
    #[serde(default)]
    pub registries: BTreeMap<String, Spanned<RegistrySection>>,
    /// `[keys.NAME]`: signing keys a stage may be granted by name.
    #[serde(default)]
    pub keys: BTreeMap<String, KeySection>,
    /// `[trust]`: the keys `oci://` plugins must be signed by.
    #[serde(default)]
    pub trust: Option<crate::trust::TrustSection>,
    /// `[[stage]]`: the pipeline, in order.
    #[serde(default, rename = "stage")]
    pub stages: Vec<StageSection>,
}

/// `[stream]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StreamSection {
    /// The stream's name, e.g. `okd-scos` (also the default output directory name).
    pub name: Spanned<String>,
    /// The release name of the composed release (semver), e.g. `4.17.0-okd-scos.0`.
    pub release: Spanned<String>,
    /// The base release image reference, e.g. `quay.io/openshift/okd:4.15.0-0.okd-…`.
    pub from: Spanned<String>,
    /// Where `--push` publishes the release, e.g. `quay.io/okd/scos-release:4.17.0-okd-scos.0`.
    #[serde(default)]
    pub to: Option<Spanned<String>>,
    /// One sentence: what the stream is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Versions this release may update from (`release-metadata` `previous`).
    #[serde(default)]
    pub previous: Vec<Spanned<String>>,
    /// `release-metadata` `metadata` entries (`url`, channels, …).
    #[serde(default)]
    pub metadata: BTreeMap<String, toml::Value>,
    /// The creation time (`YYYY-MM-DDTHH:MM:SSZ`); defaults to the base release's, so the same
    /// stream and inputs always give the same digest. `SOURCE_DATE_EPOCH` overrides both.
    #[serde(default)]
    pub created: Option<Spanned<String>>,
    /// Where the release's OpenPGP signatures are served (`https://…`, `http://…` or
    /// `file://…`): the `store-*` entry the `sign` stage writes into the release-verification
    /// ConfigMap. Clusters fetch `<store>/sha256=<hex>/signature-1` from it.
    #[serde(default)]
    pub signature_store: Option<Spanned<String>>,
}

/// `[registries."HOST[/PATH]"]`: exactly one of `mirror` and `registry`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistrySection {
    /// Where references under this prefix are read from: `oci:PATH` is an OCI image layout
    /// directory, relative to the stream file.
    #[serde(default)]
    pub mirror: Option<Spanned<String>>,
    /// A real registry serving the references under this prefix: `HOST[:PORT][/PATH]`
    /// (optionally `https://…`, or `http://…` for a loopback host). The prefix is replaced by
    /// the location: `quay.io/openshift/okd:4.15` under `[registries."quay.io"]` with
    /// `registry = "127.0.0.1:5000/mirror"` is read as `127.0.0.1:5000/mirror/openshift/okd:4.15`.
    #[serde(default)]
    pub registry: Option<Spanned<String>>,
}

/// `[keys.NAME]`: a signing key held by the host, never by a plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KeySection {
    /// The private key: a file path (relative to the stream file) or `env:VAR`.
    #[serde(default)]
    pub private_key: Option<Spanned<String>>,
    /// The public key: a file path or `env:VAR`.
    #[serde(default)]
    pub public_key: Option<Spanned<String>>,
    /// The passphrase of an encrypted private key: `env:VAR`.
    #[serde(default)]
    pub passphrase: Option<Spanned<String>>,
    /// When true, a private key that is not available (its `env:VAR` unset or empty, its file
    /// missing) skips the stages granted it, with a warning, instead of failing the run.
    #[serde(default)]
    pub optional: bool,
}

/// `[[stage]]`: one step of the pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StageSection {
    /// The stage name, unique in the stream (shown in logs, errors and reports).
    pub name: Spanned<String>,
    /// The plugin: a builtin name (`select-images` or `builtin:select-images`), a component
    /// file (`./path.wasm`, relative to the stream file) or `oci://REPO[:TAG][@sha256:…]`.
    pub plugin: Spanned<String>,
    /// The stage's configuration, handed to the plugin as JSON.
    #[serde(default)]
    pub config: Option<toml::Table>,
    /// What the plugin may reach beyond the payload.
    #[serde(default)]
    pub grants: GrantsSection,
    /// How much memory and time the stage gets.
    #[serde(default)]
    pub limits: LimitsSection,
    /// The cosign public key files this stage's `oci://` plugin must be signed by, replacing
    /// the stream's `[trust] plugins` for it.
    #[serde(default)]
    pub trust: Option<Vec<Spanned<String>>>,
    /// Whether a rerun may reuse this stage's cached result (default `true`); `false` for a
    /// stage whose result depends on more than its inputs (see [`crate::model::Stage::cache`]).
    #[serde(default)]
    pub cache: Option<Spanned<bool>>,
}

/// `grants = { … }` of a stage. Nothing is granted by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GrantsSection {
    /// Repository globs the stage may query (`quay.io/okd/*`).
    #[serde(default)]
    pub registry: Vec<Spanned<String>>,
    /// Directories (relative to the stream file) the stage may read; each appears read-only
    /// in the sandbox as `/<directory name>`.
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
    /// Names of `[keys.NAME]` the stage may sign with.
    #[serde(default)]
    pub keys: Vec<Spanned<String>>,
}

/// `limits = { … }` of a stage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsSection {
    /// Linear memory, e.g. `256MiB`.
    #[serde(default)]
    pub memory: Option<Spanned<String>>,
    /// Wall time, e.g. `30s` or `500ms`.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Bytes the stage may write into the payload, e.g. `512MiB`.
    #[serde(default)]
    pub output: Option<Spanned<String>>,
}
