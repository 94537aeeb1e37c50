//! The engine, the linker and the compiled-component cache.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre, Lift, Linker, Resource};
use wasmtime::{Config, Engine};

use crate::bindings::PayloadHandle;
use crate::bindings::{check, parted, v0_1, v0_2};
use crate::cache::CacheKey;
use crate::capability::StageState;
use crate::error::{Error, Result};
use crate::versions::{Contract, contract};

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
    cache_key: CacheKey,
    ticker_stop: Arc<AtomicBool>,
}

/// A plugin compiled (or loaded from the cache) and pre-instantiated, ready to run stages.
pub struct Plugin {
    label: String,
    digest: String,
    size: usize,
    imports: Vec<String>,
    pub(crate) pre: Bindings,
    load_time: Duration,
    from_cache: bool,
}

/// A pre-instantiated component, with the bindings of the contract it was built against.
pub(crate) enum Bindings {
    /// World `plugin` of `okd:compose@0.1.x`.
    V0_1(v0_1::PluginPre<StageState>),
    /// World `plugin` of `okd:compose@0.2.x`.
    V0_2(v0_2::PluginPre<StageState>),
    /// World `check` of `okd:compose@0.2.x`: run read-only.
    Check(check::CheckPre<StageState>),
    /// World `parted-check` of `okd:compose@0.3.x`: run read-only, part by part.
    Parted(parted::PartedCheckPre<StageState>),
}

impl Plugin {
    /// Whether the component is a read-only check: it exports `okd:compose/check-stage` (world
    /// `check`) or `okd:compose/check-parts` (world `parted-check`), so the host runs it
    /// without letting it change the payload, and `compose verify --policy` runs it on
    /// published releases.
    pub fn is_check(&self) -> bool {
        matches!(self.pre, Bindings::Check(_) | Bindings::Parted(_))
    }

    /// The interface a read-only check exports (`okd:compose/check-stage`,
    /// `okd:compose/check-parts`), for messages; `None` for a stage.
    pub(crate) fn read_only_export(&self) -> Option<&'static str> {
        match self.pre {
            Bindings::Check(_) => Some("okd:compose/check-stage"),
            Bindings::Parted(_) => Some("okd:compose/check-parts"),
            Bindings::V0_1(_) | Bindings::V0_2(_) => None,
        }
    }

    /// Whether the component is a check in parts (world `parted-check`): the host may reuse
    /// the findings of each part on its own.
    pub fn is_parted(&self) -> bool {
        matches!(self.pre, Bindings::Parted(_))
    }
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
        // Every capability, for every released version of the compose package (see
        // `versions.rs`).
        crate::capability::link(&mut linker)?;

        std::fs::create_dir_all(&config.cache_dir).map_err(|source| Error::Cache {
            path: config.cache_dir.clone(),
            source,
        })?;
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());
        let cache_key = CacheKey::open(&config.cache_dir)?;

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
            cache_key,
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
        let (component, from_cache) = match self.load_cached(label, &hex, &path) {
            Some(component) => (component, true),
            None => (self.compile_and_cache(label, &hex, bytes, &path)?, false),
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
        if let Some((interface, found)) = crate::versions::incompatible_wit(names) {
            return Err(Error::WitVersion {
                plugin: label.to_string(),
                interface,
                found,
                offered: crate::versions::offered_ranges(),
            });
        }
        let not_a_stage = |reason: String| Error::NotAStage {
            plugin: label.to_string(),
            reason,
        };
        let Some(contract) = contract(exports.iter().map(String::as_str)) else {
            return Err(not_a_stage(format!(
                "it exports none of `okd:compose/stage`, `okd:compose/check-stage` and `okd:compose/check-parts` (this host offers okd:compose {})",
                crate::versions::offered_ranges()
            )));
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| not_a_stage(format!("{e:#}")))?;
        let bindings = |e: wasmtime::Error| not_a_stage(format!("{e:#}"));
        let pre = match contract {
            Contract::V0_1 => {
                check_exports::<
                    v0_1::exports::okd::compose::stage::Info,
                    v0_1::exports::okd::compose::stage::Finding,
                >(&component, &instance_pre, "okd:compose/stage@0.1.0")
                .map_err(not_a_stage)?;
                Bindings::V0_1(v0_1::PluginPre::new(instance_pre).map_err(bindings)?)
            }
            Contract::V0_2 => {
                check_exports::<
                    v0_2::okd::compose0_2_0::types::Info,
                    v0_2::okd::compose0_2_0::types::Finding,
                >(&component, &instance_pre, "okd:compose/stage@0.2.0")
                .map_err(not_a_stage)?;
                Bindings::V0_2(v0_2::PluginPre::new(instance_pre).map_err(bindings)?)
            }
            Contract::Check => {
                check_exports::<
                    v0_2::okd::compose0_2_0::types::Info,
                    v0_2::okd::compose0_2_0::types::Finding,
                >(&component, &instance_pre, "okd:compose/check-stage@0.2.0")
                .map_err(not_a_stage)?;
                Bindings::Check(check::CheckPre::new(instance_pre).map_err(bindings)?)
            }
            Contract::Parted => {
                check_exports::<
                    v0_2::okd::compose0_2_0::types::Info,
                    v0_2::okd::compose0_2_0::types::Finding,
                >(&component, &instance_pre, "okd:compose/check-parts@0.3.0")
                .map_err(not_a_stage)?;
                Bindings::Parted(parted::PartedCheckPre::new(instance_pre).map_err(bindings)?)
            }
        };
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

    /// A compiled component this host cached earlier, if there is a usable one: the file's
    /// keyed hash must match the component digest and the engine it names, else it is ignored
    /// (and recompiled by the caller) with a warning.
    fn load_cached(&self, label: &str, hex: &str, path: &Path) -> Option<Component> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(cache = %path.display(), plugin = label, "cannot read the compiled plugin from the cache, recompiling: {e}");
                return None;
            }
        };
        let Some(artifact) = self.cache_key.verify(hex, &self.compat, &bytes) else {
            tracing::warn!(
                cache = %path.display(),
                plugin = label,
                "the compiled plugin in the cache does not match the plugin it is named for (corrupted, or replaced): recompiling"
            );
            return None;
        };
        // SAFETY: `artifact` was read into memory once and its keyed hash checked against the
        // component digest and this engine's compatibility hash, with a key only this cache's
        // owner can read: these are bytes `compile_and_cache` below serialized from a component
        // it compiled itself. Plugin-supplied bytes are never deserialized.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(&self.engine, artifact) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(cache = %path.display(), plugin = label, "ignoring an unusable cached component, recompiling: {e:#}");
                None
            }
        }
    }

    /// Compiles a component and writes it to the cache, behind its keyed hash (atomically:
    /// temporary file, rename).
    fn compile_and_cache(
        &self,
        label: &str,
        hex: &str,
        bytes: &[u8],
        path: &Path,
    ) -> Result<Component> {
        let component =
            Component::from_binary(&self.engine, bytes).map_err(|e| Error::Compile {
                plugin: label.to_string(),
                reason: format!("{e:#}"),
            })?;
        let serialized = component.serialize().map_err(|e| Error::Compile {
            plugin: label.to_string(),
            reason: format!("serializing the compiled component: {e:#}"),
        })?;
        let sealed = self.cache_key.seal(hex, &self.compat, &serialized);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let write = std::fs::write(&tmp, &sealed).and_then(|()| std::fs::rename(&tmp, path));
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

/// Checks the types of the functions of the interface `interface` (`okd:compose/stage@0.1.0`,
/// `okd:compose/check-stage@0.2.0`, `okd:compose/check-parts@0.3.0`) `component` exports against the ones this host calls, before
/// anything runs: the bindings check them only when an instance is made, that is when the
/// stage runs. `I` and `F` are the bindings' `info` and `finding`.
fn check_exports<I, F>(
    component: &Component,
    pre: &InstancePre<StageState>,
    interface: &str,
) -> std::result::Result<(), String>
where
    I: Lift + 'static,
    F: Lift + 'static,
{
    let instance = component
        .get_export_index(None, interface)
        .ok_or_else(|| format!("it does not export `{interface}`"))?;
    let types = pre.instance_type();
    let function = |name: &str, signature: &str| match component.get_export(Some(&instance), name) {
        Some((ComponentItem::ComponentFunc(func), _)) => Ok(func),
        Some(_) => Err(format!(
            "its export `{name}` of `{interface}` is not a function: the host calls `{name}: {signature}`"
        )),
        None => Err(format!(
            "it does not export `{name}` in `{interface}`: the host calls `{name}: {signature}`"
        )),
    };
    let wrong = |name: &str, signature: &str, e: wasmtime::Error| {
        format!(
            "its export `{name}` of `{interface}` has the wrong type (the host calls `{name}: {signature}`): {e:#}"
        )
    };
    const DESCRIBE: &str = "func() -> info";
    const RUN: &str =
        "func(config: string, release: borrow<payload>) -> result<list<finding>, string>";
    function("describe", DESCRIBE)?
        .typecheck::<(), (I,)>(&types)
        .map_err(|e| wrong("describe", DESCRIBE, e))?;
    if interface.starts_with("okd:compose/check-parts@") {
        const PARTS: &str = "func(config: string) -> result<list<part>, string>";
        const RUN_PART: &str = "func(config: string, part: string, release: borrow<payload>) -> result<list<finding>, string>";
        type Part = parted::exports::okd::compose0_3_0::check_parts::Part;
        function("parts", PARTS)?
            .typecheck::<(&str,), (std::result::Result<Vec<Part>, String>,)>(&types)
            .map_err(|e| wrong("parts", PARTS, e))?;
        function("run-part", RUN_PART)?
            .typecheck::<
                (&str, &str, Resource<PayloadHandle>),
                (std::result::Result<Vec<F>, String>,),
            >(&types)
            .map_err(|e| wrong("run-part", RUN_PART, e))?;
        return Ok(());
    }
    function("run", RUN)?
        .typecheck::<(&str, Resource<PayloadHandle>), (std::result::Result<Vec<F>, String>,)>(
            &types,
        )
        .map_err(|e| wrong("run", RUN, e))?;
    Ok(())
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
