//! Planning: resolve every stage's plugin to bytes, compile or load it, check its imports
//! against its grants. Nothing runs yet.

use std::sync::Arc;

use compose_registry::Reference;
use compose_runtime::{ImportStatus, Plugin, Runtime, StageSpec};
use compose_stream::{PluginRef, Stage, Stream};

use crate::error::{Error, Result};
use crate::events::{Event, Observer, Quiet, millis};
use crate::fetch::PluginFetcher;

/// A stage ready to run: its plugin loaded, its sandbox described.
pub struct PlannedStage {
    /// The stage from the stream file.
    pub stage: Stage,
    /// How errors and reports name the plugin (`builtin:select-images`, a path, `oci://…`).
    pub label: String,
    /// `sha256:` of the plugin's component.
    pub digest: String,
    /// The loaded plugin; `None` when the plan did not load it (a stage-at-a-time run loads
    /// only the stages it may run: see [`plan_selected`]).
    pub loaded: Option<Arc<Plugin>>,
    /// What the sandbox gets.
    pub spec: StageSpec,
    /// The plugin's imports against the stage's grants (empty when not loaded).
    pub imports: Vec<ImportStatus>,
    /// Whether the plugin declares that its result depends on more than its inputs (see
    /// [`crate::component::NONDETERMINISTIC_SECTION`]): its stage is never reused.
    pub nondeterministic: bool,
}

impl PlannedStage {
    /// The loaded plugin, or an error naming the stage when the plan did not load it.
    pub fn plugin(&self) -> Result<&Arc<Plugin>> {
        self.loaded.as_ref().ok_or_else(|| Error::Plugin {
            stage: self.stage.name.clone(),
            plugin: self.label.clone(),
            reason: "the plan of this process did not load it".to_string(),
        })
    }
}

/// A stream with every plugin loaded.
pub struct Plan {
    /// The stream.
    pub stream: Stream,
    /// Its stages, in order.
    pub stages: Vec<PlannedStage>,
}

impl Plan {
    /// The first stage whose plugin imports something it was not granted.
    pub fn check_grants(&self) -> Result<()> {
        for s in &self.stages {
            if let Some(plugin) = &s.loaded {
                compose_runtime::check_grants(plugin, &s.spec)?;
            }
        }
        Ok(())
    }
}

/// Reads a plugin's bytes: builtins and files. `oci://` plugins need a [`PluginFetcher`]:
/// see [`plugin_bytes_with`].
pub fn plugin_bytes(stage: &Stage) -> Result<Vec<u8>> {
    plugin_bytes_with(stage, None, &Quiet)
}

/// Reads a plugin's bytes, pulling `oci://` plugins through `fetcher` (into its cache).
pub fn plugin_bytes_with(
    stage: &Stage,
    fetcher: Option<&PluginFetcher>,
    observer: &dyn Observer,
) -> Result<Vec<u8>> {
    if let (PluginRef::Oci(reference), Some(fetcher)) = (&stage.plugin, fetcher) {
        let fetched = fetch_stage_plugin(fetcher, stage, reference)?;
        observer.event(&Event::PluginPulled {
            stage: stage.name.clone(),
            reference: fetched.reference.clone(),
            manifest_digest: fetched.manifest_digest.clone(),
            digest: fetched.wasm_digest.clone(),
            cached: fetched.cached,
            contacted: fetched.contacted,
            millis: fetched.millis,
            signed_by: fetched
                .signed_by
                .as_ref()
                .map(|s| format!("{} ({})", s.key, s.fingerprint)),
        });
        return Ok(fetched.bytes);
    }
    let fail = |reason: String| Error::Plugin {
        stage: stage.name.clone(),
        plugin: stage.plugin_text.clone(),
        reason,
    };
    match &stage.plugin {
        PluginRef::Builtin(name) => compose_builtins::find(name)
            .map(|b| b.wasm.to_vec())
            .ok_or_else(|| fail(format!("no builtin plugin is named `{name}`"))),
        PluginRef::File(path) => {
            std::fs::read(path).map_err(|e| fail(format!("cannot read `{}`: {e}", path.display())))
        }
        PluginRef::Oci(_) => Err(fail(
            "plugins from registries (`oci://`) need a plugin cache: plan with `plan_with`"
                .to_string(),
        )),
    }
}

/// Pulls the `oci://` plugin `reference` of `stage` through `fetcher`; errors name the stage.
/// Under a trust policy (`stage.trust`), the digest the reference resolves to must carry a
/// valid signature by a trusted key first: an untrusted plugin is not even downloaded, and
/// what is pulled is that digest (the tag cannot move in between).
pub(crate) fn fetch_stage_plugin(
    fetcher: &PluginFetcher,
    stage: &Stage,
    reference: &str,
) -> Result<crate::fetch::FetchedPlugin> {
    let registry_error = |source| Error::Registry {
        context: format!(
            "stage `{}`: pulling plugin `{}`",
            stage.name, stage.plugin_text
        ),
        source: Box::new(source),
    };
    let Some(policy) = &stage.trust else {
        return fetcher.fetch(reference).map_err(registry_error);
    };
    let (digest, signature) = crate::trust::check_plugin(fetcher, stage, reference, policy)?;
    let parsed = Reference::parse(reference).map_err(registry_error)?;
    let mut pinned = parsed.pinned(&digest).map_err(registry_error)?;
    pinned.tag = parsed.tag;
    let mut fetched = fetcher.fetch(&pinned.to_string()).map_err(registry_error)?;
    fetched.reference = reference.to_string();
    fetched.signed_by = Some(signature);
    Ok(fetched)
}

/// The sandbox a stage gets: its config, and the grants and limits the stream validated.
pub fn stage_spec(stage: &Stage) -> StageSpec {
    StageSpec {
        stage: stage.name.clone(),
        config_json: stage.config.to_string(),
        grants: stage.grants.clone(),
        limits: stage.limits,
    }
}

/// Loads every plugin of the stream (compiling it or taking it from the cache). `oci://`
/// plugins are refused: see [`plan_with`].
pub fn plan(runtime: &Runtime, stream: Stream, observer: &dyn Observer) -> Result<Plan> {
    plan_with(runtime, stream, observer, None)
}

/// Loads every plugin of the stream, pulling `oci://` plugins through `fetcher`.
pub fn plan_with(
    runtime: &Runtime,
    stream: Stream,
    observer: &dyn Observer,
    fetcher: Option<&PluginFetcher>,
) -> Result<Plan> {
    plan_selected(runtime, stream, observer, fetcher, &|_| true)
}

/// Like [`plan_with`], but compiles (or loads from the cache) only the plugins of the stages
/// whose index `load` accepts; the others are read for their digest only. A process that runs
/// one stage of a stream then compiles one plugin, not all of them.
pub fn plan_selected(
    runtime: &Runtime,
    stream: Stream,
    observer: &dyn Observer,
    fetcher: Option<&PluginFetcher>,
    load: &dyn Fn(usize) -> bool,
) -> Result<Plan> {
    let mut stages = Vec::with_capacity(stream.stages.len());
    for (i, stage) in stream.stages.iter().enumerate() {
        let bytes = plugin_bytes_with(stage, fetcher, observer)?;
        let label = stage.plugin.to_string();
        let spec = stage_spec(stage);
        if !load(i) {
            stages.push(PlannedStage {
                stage: stage.clone(),
                label,
                digest: compose_payload::oci::sha256_digest(&bytes),
                loaded: None,
                spec,
                imports: Vec::new(),
                nondeterministic: crate::component::declares_nondeterministic(&bytes),
            });
            continue;
        }
        // Loading checks the component against the stage world (the types of `describe` and
        // `run` included): a plugin that is not a stage is refused here, naming its stage,
        // before any stage of the stream runs.
        observer.event(&Event::PluginLoading {
            stage: stage.name.clone(),
            plugin: label.clone(),
        });
        let plugin = Arc::new(runtime.load(&label, &bytes).map_err(|e| match e {
            compose_runtime::Error::NotAStage { plugin, reason } => Error::Plugin {
                stage: stage.name.clone(),
                plugin,
                reason: format!("it is not a compose stage: {reason}"),
            },
            other => Error::Runtime(other),
        })?);
        observer.event(&Event::PluginLoaded {
            stage: stage.name.clone(),
            plugin: label.clone(),
            digest: plugin.digest().to_string(),
            cached: plugin.from_cache(),
            millis: millis(plugin.load_time()),
        });
        let imports = compose_runtime::import_status(&plugin, &spec.grants);
        stages.push(PlannedStage {
            stage: stage.clone(),
            label,
            digest: plugin.digest().to_string(),
            loaded: Some(plugin),
            spec,
            imports,
            nondeterministic: crate::component::declares_nondeterministic(&bytes),
        });
    }
    Ok(Plan { stream, stages })
}
