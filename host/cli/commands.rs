//! One module per verb; each turns its arguments into calls to the library crates.

pub mod info;
pub mod plan;
pub mod run;
pub mod validate;

use std::path::{Path, PathBuf};

use anyhow::Context;

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
    compose_runtime::Runtime::new(compose_runtime::RuntimeConfig {
        cache_dir: dir.clone(),
    })
    .with_context(|| format!("starting the plugin runtime (cache `{}`)", dir.display()))
}
