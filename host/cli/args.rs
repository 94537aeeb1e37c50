//! The command line: one variant per verb. Doc comments become `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Compose OKD release payloads from sandboxed WebAssembly stages.
///
/// Exit codes: 0 success; 1 the stream, a plugin or a stage failed (the message says which);
/// 2 wrong command-line usage; 3 the host itself failed (I/O on the cache or the output).
#[derive(Debug, Parser)]
#[command(name = "compose", version, about, long_about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Write machine-readable JSON Lines to stdout (events, results) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (`-v` info, `-vv` debug, `-vvv` trace); `RUST_LOG` also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Where compiled plugins are cached (default: `$COMPOSE_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/compose`, else `~/.cache/compose`).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Credentials for every registry compose talks to (otherwise `REGISTRY_AUTH_FILE`,
    /// `~/.config/containers/auth.json` or `~/.docker/config.json`).
    #[arg(
        long,
        global = true,
        value_name = "USER:PASS",
        env = "COMPOSE_CREDS",
        hide_env_values = true
    )]
    pub creds: Option<String>,
    /// A registry (`host` or `host:port`) that may be reached over plain HTTP although it is
    /// not on loopback. Repeat for several.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST")]
    pub insecure_registry: Vec<String>,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a stream: compose the release and write it as an OCI image layout.
    Run(RunArgs),
    /// Check a stream file: unknown keys, wrong types, missing fields, bad references.
    Validate(StreamArgs),
    /// Show what a run would do: plugins with digests, imports against grants, stage order.
    Plan(StreamArgs),
    /// Show a release image like `oc adm release info`.
    Info(InfoArgs),
    /// Show what changed between two releases (images, manifests, metadata), like
    /// `oc adm release info --changes-from`.
    Diff(DiffArgs),
    /// Pin the base release and every plugin of a stream by digest in `STREAM.lock`.
    Lock(StreamArgs),
    /// Publish, fetch and inspect plugins as Wasm OCI artifacts.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Make signing keys (`compose keys generate NAME --out DIR`).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check the signatures of a release written by `compose run` (an OCI layout) against
    /// public keys; exits non-zero, saying which, when any signature fails or there is none.
    Verify(VerifyArgs),
    /// Write a stream for another system to run: `compose export tekton STREAM` writes a
    /// Tekton Pipeline (one task per stage, pinned by the stream's lock) and an example
    /// PipelineRun.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Build the container image of compose itself (a minimal base plus the static binary) as
    /// a reproducible OCI image layout, and push it like a release.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Write a shell completion script to stdout, e.g. `compose completion bash >
    /// ~/.local/share/bash-completion/completions/compose`.
    Completion(CompletionArgs),
    /// Write the manual pages (roff), generated from this command line, into a directory.
    Man(ManArgs),
}

/// `compose keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a signing key pair: OpenPGP (RSA 3072) as `NAME.priv.asc` / `NAME.pub.asc`,
    /// and with `--cosign` an ECDSA P-256 pair as `NAME.cosign.key` (PKCS#8 PEM) /
    /// `NAME.cosign.pub`.
    Generate(KeysGenerateArgs),
}

/// `compose keys generate`.
#[derive(Debug, Args)]
pub struct KeysGenerateArgs {
    /// The key name (file names start with it).
    pub name: String,
    /// The directory to write the key files into (created if missing; existing key files are
    /// never overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also generate an ECDSA P-256 pair for cosign-format signatures.
    #[arg(long)]
    pub cosign: bool,
    /// Encrypt the private keys with the passphrase held by this environment variable.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// The OpenPGP user ID (default `compose release key NAME <NAME@compose.invalid>`).
    #[arg(long, value_name = "UID")]
    pub user_id: Option<String>,
}

/// `compose verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The release: an OCI layout directory written by `compose run`, `oci:DIR` or
    /// `oci:DIR:TAG`.
    pub release: String,
    /// A public key file: an armored OpenPGP key(ring) or a PEM ECDSA P-256 public key.
    /// Repeat for several.
    #[arg(long, value_name = "PUB", required = true)]
    pub key: Vec<PathBuf>,
    /// Also run the release checks: the checks of this stream file (its stages whose plugin
    /// targets the read-only `check` world, such as `test-release`; their config, image configs
    /// read through its registries) on the release, with the signature results above as the
    /// host's verification report.
    #[arg(long, value_name = "STREAM")]
    pub policy: Option<PathBuf>,
    /// Also check the release's provenance (its `sha256-<hex>.att` attestation): the DSSE
    /// signature by a `--key`, that its subject is this release, and with `--lock` its inputs.
    #[arg(long)]
    pub provenance: bool,
    /// With `--provenance`: the stream's lock file every input digest of the provenance (base
    /// release, plugin components and artifacts) must match.
    #[arg(long, value_name = "STREAM.lock", requires = "provenance")]
    pub lock: Option<PathBuf>,
}

/// `compose plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Publish a component as a Wasm OCI artifact (config `application/vnd.wasm.config.v0+json`,
    /// one `application/wasm` layer).
    Push(PluginPushArgs),
    /// Fetch a plugin artifact into the plugin cache and write the component to a file.
    Pull(PluginPullArgs),
    /// Show a component's world, imports, exports, WIT package version, digest and size.
    Inspect(PluginInspectArgs),
    /// Sign a plugin artifact with a cosign key: a `sha256-<hex>.sig` manifest beside it in
    /// its repository, as `cosign sign --key` attaches it (`cosign verify --key` accepts it).
    Sign(PluginSignArgs),
    /// Create a stage plugin project (Rust, Python or JavaScript) against this host's WIT,
    /// with a sample stage, its tests and a one-command build.
    New(PluginNewArgs),
}

/// `compose plugin new`.
#[derive(Debug, Args)]
pub struct PluginNewArgs {
    /// The plugin name: lowercase words joined by `-` (e.g. `stamp-release`).
    pub name: String,
    /// The language of the project.
    #[arg(long, value_enum)]
    pub lang: PluginLang,
    /// Where to create the project (default: `./NAME`); must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Rust only: the `compose-plugin-sdk` crate to depend on by path (default: a copy of the
    /// SDK, embedded in compose, written into the project as `sdk/`).
    #[arg(long, value_name = "DIR")]
    pub sdk: Option<PathBuf>,
}

/// The languages `compose plugin new` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginLang {
    /// Rust with the compose-plugin-sdk crate (cargo, wasm32-wasip2).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

impl PluginLang {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginLang::Rust => "rust",
            PluginLang::Python => "python",
            PluginLang::Js => "js",
        }
    }
}

/// `compose plugin push`.
#[derive(Debug, Args)]
pub struct PluginPushArgs {
    /// The component file (`.wasm`).
    pub file: PathBuf,
    /// Where to publish it: `oci://HOST/NAMESPACE/NAME:TAG`.
    pub reference: String,
    /// The `org.opencontainers.image.source` annotation (a URL).
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// The `org.opencontainers.image.version` annotation (default: the plugin's own version,
    /// else the tag).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// The `org.opencontainers.image.description` annotation (default: the plugin's own).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Also sign the pushed artifact with this cosign private key (see `compose plugin sign`).
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// The passphrase of the `--sign` key is in this environment variable.
    #[arg(long, value_name = "VAR", requires = "sign")]
    pub passphrase_env: Option<String>,
}

/// `compose plugin sign`.
#[derive(Debug, Args)]
pub struct PluginSignArgs {
    /// The artifact, pinned by digest: `oci://HOST/NAMESPACE/NAME@sha256:…`.
    pub reference: String,
    /// The cosign private key (ECDSA P-256, PKCS#8 PEM, as `compose keys generate --cosign`
    /// writes it).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// The passphrase of an encrypted key is in this environment variable.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
}

/// `compose plugin pull`.
#[derive(Debug, Args)]
pub struct PluginPullArgs {
    /// The plugin: `oci://HOST/NAMESPACE/NAME[:TAG][@sha256:…]`.
    pub reference: String,
    /// Where to write the component (default: `NAME.wasm` in the current directory).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the `--out` file if it exists with other content.
    #[arg(long)]
    pub force: bool,
}

/// `compose plugin inspect`.
#[derive(Debug, Args)]
pub struct PluginInspectArgs {
    /// A component file, or `oci://HOST/NAMESPACE/NAME[:TAG][@sha256:…]`.
    pub plugin: String,
}

/// A stream file.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// The stream file, e.g. `streams/scos.toml`.
    pub stream: PathBuf,
}

/// `compose run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The stream file, e.g. `streams/scos.toml`.
    pub stream: PathBuf,
    /// The output OCI image layout directory (default: `out/<stream name>`). Replaced only
    /// when the whole run succeeds.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// After a successful run, push the release to the stream's `to` (or `--to`): blobs
    /// first, then the manifest, the tag last.
    #[arg(long)]
    pub push: bool,
    /// With `--push`: push to this reference instead of the stream's `to`.
    #[arg(long, value_name = "REF", requires = "push")]
    pub to: Option<String>,
    /// Refuse to run unless the base release and every plugin still resolve to the digests
    /// pinned in `STREAM.lock` (written by `compose lock`).
    #[arg(long)]
    pub locked: bool,
    /// Fail unless the release gets signed: every key the stream declares is available and at
    /// least one signature is published.
    #[arg(long)]
    pub require_signed: bool,
    /// Run stage at a time, carrying the run in this state directory (an OCI layout of the
    /// release as it stands plus `journal.json`): each process runs the selected stages and
    /// saves the state; the one that runs the last stage publishes to `--out`. Separate
    /// processes (or machines sharing the directory) get the release one `compose run` would.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// With `--state`: run only this stage (it must be the next one the state has not run; a
    /// stage that already ran with the same plugin and config is not run again).
    #[arg(long, value_name = "STAGE", requires = "state", conflicts_with_all = ["from", "until"])]
    pub only: Option<String>,
    /// With `--state`: start at this stage (default: the first one the state has not run).
    #[arg(long, value_name = "STAGE", requires = "state")]
    pub from: Option<String>,
    /// With `--state`: stop after this stage (default: the last one).
    #[arg(long, value_name = "STAGE", requires = "state")]
    pub until: Option<String>,
    /// Write a result to a file, as Tekton task results: `release-digest` (the release
    /// digest after this process's stages), `findings` (how many findings its stages
    /// reported), `failed-findings` (how many of them failed with severity error). Repeat for
    /// several, e.g. `--result release-digest=/tekton/results/release-digest`.
    #[arg(long = "result", value_name = "NAME=PATH")]
    pub results: Vec<String>,
    /// Run every stage, reusing no result from the stage cache (the results are still
    /// recorded for the next run). Without it, stages whose inputs did not change since a
    /// run recorded them are reused (not with `--state`).
    #[arg(long)]
    pub no_cache: bool,
}

/// `compose info`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("view").multiple(false)))]
pub struct InfoArgs {
    /// The release: an OCI layout directory (`out/okd-scos`), `oci:DIR[:TAG]`, or an image
    /// reference read from its registry (`quay.io/okd/scos-release:4.17.0-okd-scos.0`).
    pub release: String,
    /// A stream file whose `[registries]` mirrors are tried first for image references.
    #[arg(long, value_name = "STREAM")]
    pub stream: Option<PathBuf>,
    /// Print the pull spec of the image tagged NAME in the release (an error if there is no
    /// such tag), as `oc adm release info --image-for`.
    #[arg(long, value_name = "NAME", group = "view", conflicts_with = "output")]
    pub image_for: Option<String>,
    /// Show each image's full pull spec instead of its digest.
    #[arg(long, group = "view")]
    pub pullspecs: bool,
    /// Show each image's source repository and commit (the `io.openshift.build.source-location`
    /// and `io.openshift.build.commit.id` annotations).
    #[arg(long, group = "view")]
    pub commits: bool,
    /// Show a link to each image's source commit (GitHub), else the repository and commit.
    #[arg(long, group = "view")]
    pub commit_urls: bool,
    /// Show each image's age, layers, size and unique size, and the payload's total: reads
    /// every image's manifest and config (through the `--stream` mirrors when given).
    #[arg(long, group = "view")]
    pub size: bool,
    /// With `-o json`: also read every image's manifest and config into `images`.
    #[arg(long)]
    pub include_images: bool,
    /// Print in another format: `json` (the shape of `oc adm release info -o json`), `name`
    /// (one tag name a line), `digest` or `pullspec` (one image a line).
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<InfoFormat>,
}

/// The `compose info -o` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InfoFormat {
    /// oc's `ReleaseInfo` JSON: `image`, `digest`, `config`, `metadata`, `references`, …
    Json,
    /// The tag names.
    Name,
    /// The image digests.
    Digest,
    /// The image pull specs.
    Pullspec,
}

/// `compose completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `compose man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write `compose.1` and one `compose-VERB.1` page per command into
    /// (created if missing; existing pages are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `compose diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old release: an OCI layout directory, `oci:DIR[:TAG]`, or an image reference
    /// read from its registry.
    pub from: String,
    /// The new release, named the same ways.
    pub to: String,
    /// Also print a unified diff of every added, removed or changed manifest.
    #[arg(long)]
    pub patch: bool,
    /// A stream file whose `[registries]` mirrors are tried first for image references.
    #[arg(long, value_name = "STREAM")]
    pub stream: Option<PathBuf>,
}

/// `compose image …`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Write the compose image as a reproducible OCI image layout (and push it with `--push`).
    ///
    /// The image is a minimal base (`/etc/passwd` with the user `compose` 65532, `/etc/group`,
    /// `/etc/nsswitch.conf`, a CA bundle, `/tmp`, `/home/compose`, `/var/cache/compose`) and
    /// the static binary as `/usr/bin/compose`, run as 65532:65532. The same inputs give the
    /// same digest (`SOURCE_DATE_EPOCH` sets the creation time, else 1970-01-01T00:00:00Z).
    Build(ImageBuildArgs),
}

/// `compose image build`.
#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// The compose binary to put in the image: a static Linux executable, e.g.
    /// `target/x86_64-unknown-linux-musl/release/compose` (default: this compose).
    #[arg(long, value_name = "FILE")]
    pub binary: Option<PathBuf>,
    /// The output OCI image layout directory, replaced only when the image is complete.
    #[arg(long, value_name = "DIR", default_value = "out/compose-image")]
    pub out: PathBuf,
    /// The tag in the layout's `index.json` (default: the compose version).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// The CA bundle installed as `/etc/ssl/certs/ca-certificates.crt` (default: this
    /// machine's `/etc/ssl/certs/ca-certificates.crt`, when it exists).
    #[arg(long, value_name = "FILE", conflicts_with = "no_ca_bundle")]
    pub ca_bundle: Option<PathBuf>,
    /// Install no CA bundle (the image then reaches no HTTPS registry).
    #[arg(long)]
    pub no_ca_bundle: bool,
    /// The source revision (e.g. a git commit) for the `org.opencontainers.image.revision`
    /// label and annotation.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// Then push the image to `--to`: blobs first, then the manifest, the tag last.
    #[arg(long, requires = "to")]
    pub push: bool,
    /// With `--push`: where to push (`HOST/REPO[:TAG]`; without a tag, the `--tag`).
    #[arg(long, value_name = "REF", requires = "push")]
    pub to: Option<String>,
}

/// `compose export …`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A Tekton (tekton.dev/v1) Pipeline running the stream one task per stage, each task
    /// `compose run --only STAGE --locked` in the same image, sharing the run's state through a
    /// workspace; then an example PipelineRun. Needs the stream's lock (`compose lock STREAM`)
    /// and refuses a stale one.
    Tekton(ExportTektonArgs),
}

/// `compose export tekton`.
#[derive(Debug, Args)]
pub struct ExportTektonArgs {
    /// The stream file, e.g. `streams/scos.toml`; its lock `STREAM.lock` must exist and match.
    pub stream: PathBuf,
    /// The compose image every task runs (default `ghcr.io/okd-project/compose:<this
    /// version>`); pin it by digest (`…@sha256:…`) so that every task runs the same compose.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Write the YAML to this file (atomically) instead of stdout; never the stream or its
    /// lock, and an existing file with other content only with `--force`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the `--out` file if it exists with other content.
    #[arg(long)]
    pub force: bool,
    /// The stream file's path in the repository checkout the pipeline's `source` workspace
    /// holds (default: STREAM relative to the git checkout holding it, else to the current
    /// directory).
    #[arg(long, value_name = "PATH")]
    pub stream_path: Option<String>,
    /// The Pipeline's name (default `compose-<stream name>`).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}
