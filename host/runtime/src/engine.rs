//! The engine, the linker and the compiled-component cache.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use crate::bindings::PluginPre;
use crate::error::{Error, Result};
use crate::host::StageState;

/// How often the epoch ticks: the granularity of time limits.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How the runtime is set up.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (created if missing).
    pub cache_dir: PathBuf,
}

/// One per process: the engine, the linker with every host interface, and the cache.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StageState>,
    cache_dir: PathBuf,
    compat: String,
    ticker_stop: Arc<AtomicBool>,
}

/// A plugin compiled (or loaded from the cache) and pre-instantiated, ready to run stages.
pub struct Plugin {
    label: String,
    digest: String,
    size: usize,
    imports: Vec<String>,
    pub(crate) pre: PluginPre<StageState>,
    load_time: Duration,
    from_cache: bool,
}

impl Plugin {
    /// How the stream names the plugin (`builtin:select-images`, `./x.wasm`).
    pub fn label(&self) -> &str {
        &self.label
    }
    /// `sha256:…` of the component bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// Size of the component bytes.
    pub fn size(&self) -> usize {
        self.size
    }
    /// The interfaces the component imports (`okd:compose/log@0.1.0`, `wasi:cli/stdout@0.2.6`).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
    /// Time to compile or load from the cache, and pre-instantiate.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
    /// Whether the compiled component came from the cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }
}

impl Runtime {
    /// Creates the engine and linker, and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&wasm).map_err(|e| Error::Engine(format!("{e:#}")))?;

        let mut linker: Linker<StageState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| Error::Engine(format!("linking WASI: {e:#}")))?;
        crate::bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| Error::Engine(format!("linking the compose interfaces: {e:#}")))?;
        crate::deny::add_to_linker(&mut linker)
            .map_err(|e| Error::Engine(format!("linking the deny-only wasi:http: {e:#}")))?;

        std::fs::create_dir_all(&config.cache_dir).map_err(|source| Error::Cache {
            path: config.cache_dir.clone(),
            source,
        })?;
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let stop = ticker_stop.clone();
        let ticking = engine.weak();
        std::thread::Builder::new()
            .name("compose-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match ticking.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| Error::Engine(format!("starting the epoch ticker: {e}")))?;

        Ok(Runtime {
            engine,
            linker,
            cache_dir: config.cache_dir,
            compat,
            ticker_stop,
        })
    }

    /// The cache file for a component digest.
    fn cache_path(&self, hex: &str) -> PathBuf {
        self.cache_dir.join(format!("{hex}-{}.cwasm", self.compat))
    }

    /// Compiles `bytes` (or loads them compiled from the cache) and pre-instantiates them.
    /// `label` is how errors name the plugin.
    pub fn load(&self, label: &str, bytes: &[u8]) -> Result<Plugin> {
        let started = Instant::now();
        let hex = hex::encode(Sha256::digest(bytes));
        let path = self.cache_path(&hex);
        let (component, from_cache) = match self.load_cached(&path) {
            Some(component) => (component, true),
            None => (self.compile_and_cache(label, bytes, &path)?, false),
        };
        let imports: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        // A component built against another version of the compose WIT would fail to link
        // with a message about missing instances: name both versions instead.
        let component_type = component.component_type();
        let exports: Vec<String> = component_type
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let names = imports.iter().chain(&exports).map(String::as_str);
        if let Some((interface, found)) = crate::sandbox::incompatible_wit(names) {
            return Err(Error::WitVersion {
                plugin: label.to_string(),
                interface,
                found,
                host: crate::sandbox::WIT_VERSION.to_string(),
                host_compatible: crate::sandbox::compatible_range(),
            });
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(PluginPre::new)
            .map_err(|e| Error::NotAStage {
                plugin: label.to_string(),
                reason: format!("{e:#}"),
            })?;
        Ok(Plugin {
            label: label.to_string(),
            digest: format!("sha256:{hex}"),
            size: bytes.len(),
            imports,
            pre,
            load_time: started.elapsed(),
            from_cache,
        })
    }

    /// A compiled component this host cached earlier, if there is a usable one.
    fn load_cached(&self, path: &Path) -> Option<Component> {
        if !path.is_file() {
            return None;
        }
        // SAFETY: the file is read from this host's own cache directory, written only by
        // `compile_and_cache` below from a component it compiled itself, and named by the
        // component's digest and this engine's compatibility hash. Plugin-supplied bytes are
        // never deserialized.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(&self.engine, path) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(cache = %path.display(), "ignoring an unusable cached component: {e:#}");
                None
            }
        }
    }

    /// Compiles a component and writes it to the cache (atomically: temporary file, rename).
    fn compile_and_cache(&self, label: &str, bytes: &[u8], path: &Path) -> Result<Component> {
        let component =
            Component::from_binary(&self.engine, bytes).map_err(|e| Error::Compile {
                plugin: label.to_string(),
                reason: format!("{e:#}"),
            })?;
        let serialized = component.serialize().map_err(|e| Error::Compile {
            plugin: label.to_string(),
            reason: format!("serializing the compiled component: {e:#}"),
        })?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let write = std::fs::write(&tmp, &serialized).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(source) = write {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Cache {
                path: path.to_path_buf(),
                source,
            });
        }
        Ok(component)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
