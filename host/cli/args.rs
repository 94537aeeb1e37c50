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
}

/// `compose info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The release: an OCI layout directory (`out/okd-scos`), `oci:DIR[:TAG]`, or an image
    /// reference resolved through the mirrors of `--stream`.
    pub release: String,
    /// A stream file whose registries resolve the reference.
    #[arg(long, value_name = "STREAM")]
    pub stream: Option<PathBuf>,
}

/// `compose diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old release: an OCI layout directory, `oci:DIR[:TAG]`, or an image reference
    /// resolved through the registries of `--stream`.
    pub from: String,
    /// The new release, named the same ways.
    pub to: String,
    /// Also print a unified diff of every added, removed or changed manifest.
    #[arg(long)]
    pub patch: bool,
    /// A stream file whose registries resolve image references.
    #[arg(long, value_name = "STREAM")]
    pub stream: Option<PathBuf>,
}
