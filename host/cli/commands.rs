//! One module per verb; each turns its arguments into calls to the library crates.

pub mod completion;
pub mod diff;
pub mod export;
pub mod image;
pub mod info;
pub mod keys;
pub mod lock;
pub mod plan;
pub mod plugin;
pub mod plugin_new;
pub mod run;
pub mod validate;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use compose_registry::{ImageSource, OciLayout, Reference, ReleaseImage, read_release_image};

use crate::args::Global;

/// Loads and validates a stream file, knowing the builtin plugins.
pub fn load_stream(path: &Path) -> anyhow::Result<compose_stream::Stream> {
    let options = compose_stream::LoadOptions {
        builtins: compose_builtins::all()
            .iter()
            .map(|b| b.name.to_string())
            .collect(),
    };
    Ok(compose_stream::load(path, &options)?)
}

/// The compiled-plugin cache directory.
pub fn cache_dir(global: &Global) -> PathBuf {
    if let Some(dir) = &global.cache_dir {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os("COMPOSE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("compose");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("compose"),
        None => std::env::temp_dir().join("compose-cache"),
    }
}

/// The wasmtime runtime with its cache.
pub fn runtime(global: &Global) -> anyhow::Result<compose_runtime::Runtime> {
    let dir = cache_dir(global);
    compose_pipeline::builder::use_cache_dir(&dir);
    compose_runtime::Runtime::new(compose_runtime::RuntimeConfig {
        cache_dir: dir.clone(),
    })
    .with_context(|| format!("starting the plugin runtime (cache `{}`)", dir.display()))
}

/// The real registries, with the credentials and insecure hosts of the command line.
pub fn registries(global: &Global) -> anyhow::Result<Arc<compose_registry::RemoteRegistries>> {
    let creds = global
        .creds
        .as_deref()
        .map(compose_registry::Credentials::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("`--creds`: {e}"))?;
    let auth = compose_registry::AuthStore::discover(creds)?;
    Ok(Arc::new(compose_registry::RemoteRegistries::new(
        compose_registry::RemoteConfig {
            auth,
            insecure: global.insecure_registry.clone(),
            ..compose_registry::RemoteConfig::default()
        },
    )))
}

/// The stream's registry view for a run: its mirrors, then the real registries.
pub fn stream_source(
    stream: &compose_stream::Stream,
    registries: &Arc<compose_registry::RemoteRegistries>,
) -> anyhow::Result<Arc<dyn ImageSource>> {
    Ok(stream_mirrors(stream, registries)?)
}

/// [`stream_source`] as the mirrors themselves: what `run` builds once and passes to the run.
pub fn stream_mirrors(
    stream: &compose_stream::Stream,
    registries: &Arc<compose_registry::RemoteRegistries>,
) -> anyhow::Result<Arc<compose_registry::Mirrors>> {
    Ok(Arc::new(compose_pipeline::sources::mirrors_with(
        stream, registries,
    )?))
}

/// Pulls `oci://` plugins through `source` into the plugin cache.
pub fn plugin_fetcher(
    global: &Global,
    source: Arc<dyn ImageSource>,
) -> compose_pipeline::PluginFetcher {
    compose_pipeline::PluginFetcher::new(&cache_dir(global), source)
}

/// Where a release named on the command line is read from: an OCI layout directory,
/// `oci:DIR[:TAG]`, or an image reference read from the registry it names (with the
/// command line's credentials and `--insecure-registry` rules, as `run` reads), through
/// the mirrors of `stream` first when one is given.
fn locate(
    text: &str,
    stream: Option<&Path>,
    global: &Global,
) -> anyhow::Result<(Arc<dyn ImageSource>, Reference, String)> {
    let layout_spec = text
        .strip_prefix("oci:")
        .or_else(|| Path::new(text).join("index.json").is_file().then_some(text));
    if let Some(spec) = layout_spec {
        // `oci:DIR:TAG`: the tag follows the last `:` if DIR exists without it.
        let (dir, tag) = match spec.rsplit_once(':') {
            Some((dir, tag)) if Path::new(dir).join("index.json").is_file() => (dir, Some(tag)),
            _ => (spec, None),
        };
        let layout = OciLayout::open(Path::new(dir))
            .with_context(|| format!("opening the OCI layout `{dir}`"))?;
        let reference = match tag {
            Some(tag) => Reference::parse(&format!("localhost/release:{tag}"))
                .with_context(|| format!("`{tag}` is not a valid tag"))?,
            None => {
                // cosign signatures (`sha256-<hex>.sig`) and SBOMs (`.sbom`) sit beside the release.
                let entries: Vec<_> = layout
                    .index()
                    .manifests
                    .iter()
                    .filter(|d| {
                        !d.ref_name()
                            .is_some_and(compose_signing::publish::is_attachment_tag)
                    })
                    .collect();
                let [only] = entries.as_slice() else {
                    bail!(
                        "the OCI layout `{dir}` holds {} images; name one as `oci:{dir}:TAG`",
                        entries.len()
                    );
                };
                Reference::parse(&format!("localhost/release@{}", only.digest))?
            }
        };
        return Ok((Arc::new(layout), reference, format!("oci:{dir}")));
    }
    let reference = Reference::parse(text).with_context(|| {
        format!("`{text}` is neither an OCI layout directory nor an image reference")
    })?;
    let location = reference.repository_path();
    let remotes = registries(global)?;
    let source: Arc<dyn ImageSource> = match stream {
        Some(stream) => stream_source(&load_stream(stream)?, &remotes)?,
        None => remotes,
    };
    Ok((source, reference, location))
}

/// Reads a release named on the command line (see [`locate`]); also returns where it was
/// read from, for display (`oci:DIR` or the repository).
pub fn open_release(
    text: &str,
    stream: Option<&Path>,
    global: &Global,
) -> anyhow::Result<(ReleaseImage, String)> {
    let (source, reference, location) = locate(text, stream, global)?;
    let image = read_release_image(source.as_ref(), &reference)
        .with_context(|| format!("reading the release `{text}`"))?;
    Ok((image, location))
}
