//! The host side of the WIT imports: the payload resource, logging, registry queries, signing.

use std::sync::Arc;

use compose_payload::{Attachment, Image, Release};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::okd::compose::{log, registry, release, signer};
use crate::sandbox::{Grants, glob_matches};

/// Read-only registry queries the host answers for stages (through the stream's mirrors or
/// registries).
pub trait RegistryQuery: Send + Sync {
    /// Resolves a reference to its manifest digest.
    fn resolve(&self, reference: &str) -> Result<String, String>;
    /// The image config JSON of a reference.
    fn image_config(&self, reference: &str) -> Result<String, String>;
}

/// The kinds of signature a key can make (the WIT `signature-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFormat {
    /// An OpenPGP signed message.
    OpenPgp,
    /// A cosign-format ECDSA P-256 signature.
    Cosign,
}

/// Signing with keys the host holds: private keys never enter a stage.
pub trait Signer: Send + Sync {
    /// Signs `data` with the key named `key`.
    fn sign(&self, key: &str, format: SignatureFormat, data: &[u8]) -> Result<Vec<u8>, String>;
    /// The public part of the key named `key`.
    fn public_key(&self, key: &str, format: SignatureFormat) -> Result<String, String>;
}

/// How the payload's `digest()` is answered: the digest the release image would have now.
pub type DigestFn = Arc<dyn Fn(&Release) -> Result<String, String> + Send + Sync>;

/// The services a run gives its stages.
#[derive(Clone)]
pub struct HostServices {
    /// Registry queries.
    pub registry: Arc<dyn RegistryQuery>,
    /// Signing.
    pub signer: Arc<dyn Signer>,
    /// Release digests.
    pub digest: DigestFn,
}

/// The host type behind the WIT `payload` resource. The payload itself lives in the store
/// (one per stage run); the handle only names it.
pub struct PayloadHandle;

/// Tracks and bounds the memory of one store.
pub(crate) struct MemoryLimiter {
    /// The limit in bytes.
    pub limit: u64,
    /// The largest size any memory asked for.
    pub peak: u64,
    /// Set when a growth was refused.
    pub breached: bool,
    /// Bytes in use per memory, summed against the limit.
    in_use: u64,
}

impl MemoryLimiter {
    pub fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit,
            peak: 0,
            breached: false,
            in_use: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        let total = self.in_use.saturating_add(growth);
        if total > self.limit {
            self.breached = true;
            return Ok(false);
        }
        self.in_use = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The data of one store: one stage run.
pub(crate) struct StageState {
    pub stage: String,
    pub plugin: String,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub release: Release,
    pub grants: Grants,
    pub services: Option<HostServices>,
    pub timed_out: bool,
}

impl WasiView for StageState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl log::Host for StageState {
    fn log(&mut self, level: log::Level, message: String) {
        let (stage, plugin) = (self.stage.as_str(), self.plugin.as_str());
        match level {
            log::Level::Trace => tracing::trace!(stage, plugin, "{message}"),
            log::Level::Debug => tracing::debug!(stage, plugin, "{message}"),
            log::Level::Info => tracing::info!(stage, plugin, "{message}"),
            log::Level::Warn => tracing::warn!(stage, plugin, "{message}"),
            log::Level::Error => tracing::error!(stage, plugin, "{message}"),
        }
    }
}

impl StageState {
    fn services(&self) -> Result<&HostServices, String> {
        self.services
            .as_ref()
            .ok_or_else(|| "host services are not available while describing a plugin".into())
    }

    /// Refuses a registry query outside the stage's granted repositories.
    fn check_registry_grant(&self, reference: &str) -> Result<(), String> {
        let parsed = compose_registry::Reference::parse(reference).map_err(|e| e.to_string())?;
        let repository = parsed.repository_path();
        if self
            .grants
            .registry
            .iter()
            .any(|g| glob_matches(g, &repository))
        {
            Ok(())
        } else {
            Err(format!(
                "repository `{repository}` is not granted to stage `{}` (grants.registry: [{}])",
                self.stage,
                self.grants.registry.join(", ")
            ))
        }
    }

    fn check_key_grant(&self, key: &str) -> Result<(), String> {
        if self.grants.keys.iter().any(|k| k == key) {
            Ok(())
        } else {
            Err(format!(
                "key `{key}` is not granted to stage `{}`",
                self.stage
            ))
        }
    }
}

impl registry::Host for StageState {
    fn resolve(&mut self, reference: String) -> Result<String, String> {
        self.check_registry_grant(&reference)?;
        self.services()?.registry.resolve(&reference)
    }

    fn image_config(&mut self, reference: String) -> Result<String, String> {
        self.check_registry_grant(&reference)?;
        self.services()?.registry.image_config(&reference)
    }
}

fn format_of(format: signer::SignatureFormat) -> SignatureFormat {
    match format {
        signer::SignatureFormat::Openpgp => SignatureFormat::OpenPgp,
        signer::SignatureFormat::Cosign => SignatureFormat::Cosign,
    }
}

impl signer::Host for StageState {
    fn sign(
        &mut self,
        key: String,
        format: signer::SignatureFormat,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        self.check_key_grant(&key)?;
        self.services()?.signer.sign(&key, format_of(format), &data)
    }

    fn public_key(
        &mut self,
        key: String,
        format: signer::SignatureFormat,
    ) -> Result<String, String> {
        self.check_key_grant(&key)?;
        self.services()?.signer.public_key(&key, format_of(format))
    }
}

fn to_wit(image: &Image) -> release::Image {
    release::Image {
        name: image.name.clone(),
        pullspec: image.pullspec.clone(),
        annotations: image
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

impl release::Host for StageState {}

impl release::HostPayload for StageState {
    fn name(&mut self, _: Resource<PayloadHandle>) -> String {
        self.release.name.clone()
    }

    fn metadata(&mut self, _: Resource<PayloadHandle>) -> String {
        serde_json::to_string(&self.release.metadata).unwrap_or_default()
    }

    fn set_metadata(&mut self, _: Resource<PayloadHandle>, json: String) -> Result<(), String> {
        self.release
            .set_metadata_json(&json)
            .map_err(|e| e.to_string())
    }

    fn images(&mut self, _: Resource<PayloadHandle>) -> Vec<release::Image> {
        self.release.images.values().map(to_wit).collect()
    }

    fn image(&mut self, _: Resource<PayloadHandle>, name: String) -> Option<release::Image> {
        self.release.images.get(&name).map(to_wit)
    }

    fn put_image(
        &mut self,
        _: Resource<PayloadHandle>,
        image: release::Image,
    ) -> Result<(), String> {
        self.release
            .put_image(Image {
                name: image.name,
                pullspec: image.pullspec,
                annotations: image.annotations.into_iter().collect(),
            })
            .map_err(|e| e.to_string())
    }

    fn remove_image(&mut self, _: Resource<PayloadHandle>, name: String) -> bool {
        self.release.images.remove(&name).is_some()
    }

    fn manifests(&mut self, _: Resource<PayloadHandle>) -> Vec<String> {
        self.release.manifests.keys().cloned().collect()
    }

    fn grep_manifests(&mut self, _: Resource<PayloadHandle>, needle: String) -> Vec<String> {
        self.release.grep_manifests(&needle)
    }

    fn read_manifest(&mut self, _: Resource<PayloadHandle>, path: String) -> Option<String> {
        self.release.manifests.get(&path).cloned()
    }

    fn write_manifest(
        &mut self,
        _: Resource<PayloadHandle>,
        path: String,
        content: String,
    ) -> Result<(), String> {
        self.release
            .write_manifest(&path, content)
            .map_err(|e| e.to_string())
    }

    fn remove_manifest(&mut self, _: Resource<PayloadHandle>, path: String) -> bool {
        self.release.manifests.remove(&path).is_some()
    }

    fn rewrite_pullspec(
        &mut self,
        _: Resource<PayloadHandle>,
        old: String,
        new: String,
    ) -> Result<Vec<String>, String> {
        self.release
            .rewrite_pullspec(&old, &new)
            .map_err(|e| e.to_string())
    }

    fn digest(&mut self, _: Resource<PayloadHandle>) -> Result<String, String> {
        let digest = self.services()?.digest.clone();
        digest(&self.release)
    }

    fn attach(&mut self, _: Resource<PayloadHandle>, attachment: release::Attachment) {
        self.release.attachments.push(Attachment {
            kind: attachment.kind,
            media_type: attachment.media_type,
            data: attachment.data,
        });
    }

    fn attachments(&mut self, _: Resource<PayloadHandle>) -> Vec<release::Attachment> {
        self.release
            .attachments
            .iter()
            .map(|a| release::Attachment {
                kind: a.kind.clone(),
                media_type: a.media_type.clone(),
                data: a.data.clone(),
            })
            .collect()
    }

    fn drop(&mut self, handle: Resource<PayloadHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
