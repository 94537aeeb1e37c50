//! The host side of the WIT imports: the payload resource, logging, registry queries, signing.

use std::sync::Arc;

use compose_payload::{Attachment, Image, Release};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::attachment::check_attachment;
use crate::bindings::v0_2::okd::compose0_2_0::{log, registry, release, signer, types};
use crate::sandbox::Grants;

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

/// The least default output limit: 64 MiB.
pub const MIN_DEFAULT_OUTPUT: u64 = 64 * 1024 * 1024;
/// The default output limit is this many times the manifest bytes of the payload.
pub const DEFAULT_OUTPUT_FACTOR: u64 = 4;

/// The bytes of the manifests of `release` (names and contents).
fn manifest_bytes(release: &Release) -> u64 {
    release
        .manifests
        .iter()
        .map(|(name, text)| (name.len() + text.len()) as u64)
        .sum()
}

/// The output limit of a stage whose stream sets none: [`DEFAULT_OUTPUT_FACTOR`] times the
/// manifest bytes of the payload the stage receives, and at least [`MIN_DEFAULT_OUTPUT`].
pub fn default_output_limit(release: &Release) -> u64 {
    manifest_bytes(release)
        .saturating_mul(DEFAULT_OUTPUT_FACTOR)
        .max(MIN_DEFAULT_OUTPUT)
}

/// `bytes` for messages: `64 MiB`, `1.5 GiB`, `512 bytes`.
pub(crate) fn show_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = KIB * 1024;
    const GIB: u64 = MIB * 1024;
    let scaled = |unit: u64, name: &str| {
        if bytes.is_multiple_of(unit) {
            format!("{} {name}", bytes / unit)
        } else {
            format!("{:.1} {name}", bytes as f64 / unit as f64)
        }
    };
    match bytes {
        b if b >= GIB => scaled(GIB, "GiB"),
        b if b >= MIB => scaled(MIB, "MiB"),
        b if b >= KIB => scaled(KIB, "KiB"),
        b => format!("{b} bytes"),
    }
}

/// What one stage has written into the payload, against its `limits.output`.
pub(crate) struct OutputBudget {
    /// The limit in bytes.
    pub limit: u64,
    /// Bytes written so far (every write counts, a rewrite of the same file again).
    pub written: u64,
}

impl OutputBudget {
    /// The budget of a stage receiving `release`: `limit`, or the default for `release`.
    pub fn new(limit: Option<u64>, release: &Release) -> Self {
        OutputBudget {
            limit: limit.unwrap_or_else(|| default_output_limit(release)),
            written: 0,
        }
    }
}

/// Why the host stopped a stage in one of its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A write past `limits.output`.
    Output {
        /// The limit.
        limit: u64,
        /// The bytes written with the refused write.
        attempted: u64,
    },
    /// A call refused without an error result to return.
    Refused(String),
}

impl Stop {
    /// The runtime error of a stage stopped for this reason.
    pub fn error(&self, stage: &str, plugin: &str) -> crate::error::Error {
        match self {
            Stop::Output { limit, attempted } => crate::error::Error::OutputLimit {
                stage: stage.to_string(),
                plugin: plugin.to_string(),
                limit: *limit,
                attempted: *attempted,
            },
            Stop::Refused(reason) => crate::error::Error::Refused {
                stage: stage.to_string(),
                plugin: plugin.to_string(),
                reason: reason.clone(),
            },
        }
    }
}

/// The data of one store: one stage run.
pub(crate) struct StageState {
    pub stage: String,
    pub plugin: String,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    /// The deny-only `wasi:http` (see `deny.rs`).
    pub http: crate::deny::Http,
    pub limiter: MemoryLimiter,
    /// What the stage has written, against its output limit.
    pub output: OutputBudget,
    /// Set when a host call stopped the stage (with the trap it returned).
    pub stopped: Option<Stop>,
    pub release: Release,
    pub grants: Grants,
    /// `grants.registry`, compiled once per stage run (a stage may query hundreds of images).
    pub registry_globs: Vec<compose_registry::RepositoryGlob>,
    pub services: Option<HostServices>,
    pub timed_out: bool,
    /// What the guest writes for people (stdout, stderr, log lines), under one cap.
    pub guest_output: crate::output::GuestOutput,
    /// Set for a component of the read-only `check` world: its first write stops it.
    pub read_only: bool,
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
        if !self.guest_output.admit_log(message.len()) {
            return;
        }
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
    /// Counts `bytes` written by the call `call` against the output limit; past it, or for a
    /// read-only `check`, stops the stage.
    fn charge(&mut self, call: &str, bytes: usize) -> wasmtime::Result<()> {
        if self.read_only {
            return self.stop(Stop::Refused(format!(
                "it is a read-only check (it exports `okd:compose/check-stage`), and `{call}` would change the payload"
            )));
        }
        let attempted = self.output.written.saturating_add(bytes as u64);
        if attempted > self.output.limit {
            let stop = Stop::Output {
                limit: self.output.limit,
                attempted,
            };
            return self.stop(stop);
        }
        self.output.written = attempted;
        Ok(())
    }

    /// Stops the stage: the trap the host call returns.
    fn stop(&mut self, stop: Stop) -> wasmtime::Result<()> {
        let error = stop.error(&self.stage, &self.plugin);
        self.stopped = Some(stop);
        Err(wasmtime::Error::msg(error.to_string()))
    }

    fn services(&self) -> Result<&HostServices, String> {
        self.services
            .as_ref()
            .ok_or_else(|| "host services are not available while describing a plugin".into())
    }

    /// Refuses a registry query outside the stage's granted repositories.
    fn check_registry_grant(&self, reference: &str) -> Result<(), String> {
        let parsed = compose_registry::Reference::parse(reference).map_err(|e| e.to_string())?;
        let repository = parsed.repository_path();
        if self.registry_globs.iter().any(|g| g.matches(&repository)) {
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

impl types::Host for StageState {}

impl release::HostPayload for StageState {
    fn name(&mut self, _: Resource<PayloadHandle>) -> String {
        self.release.name.clone()
    }

    fn metadata(&mut self, _: Resource<PayloadHandle>) -> String {
        serde_json::to_string(&self.release.metadata).unwrap_or_default()
    }

    fn set_metadata(
        &mut self,
        _: Resource<PayloadHandle>,
        json: String,
    ) -> wasmtime::Result<Result<(), String>> {
        self.charge("set-metadata", json.len())?;
        Ok(self
            .release
            .set_metadata_json(&json)
            .map_err(|e| e.to_string()))
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
    ) -> wasmtime::Result<Result<(), String>> {
        let size = image.name.len()
            + image.pullspec.len()
            + image
                .annotations
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        self.charge("put-image", size)?;
        Ok(self
            .release
            .put_image(Image {
                name: image.name,
                pullspec: image.pullspec,
                annotations: image.annotations.into_iter().collect(),
            })
            .map_err(|e| e.to_string()))
    }

    fn remove_image(&mut self, _: Resource<PayloadHandle>, name: String) -> wasmtime::Result<bool> {
        self.charge("remove-image", 0)?;
        Ok(self.release.images.remove(&name).is_some())
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
    ) -> wasmtime::Result<Result<(), String>> {
        self.charge("write-manifest", path.len() + content.len())?;
        if let Err(e) = compose_payload::release::validate_manifest_name(&path) {
            return Ok(Err(e.to_string()));
        }
        // What the cluster-version operator would refuse to read never enters the payload.
        if let Err(e) = compose_payload::cvo_yaml::parse_manifest(&path, content.as_bytes()) {
            return Ok(Err(e.to_string()));
        }
        Ok(self
            .release
            .write_manifest(&path, content)
            .map_err(|e| e.to_string()))
    }

    fn remove_manifest(
        &mut self,
        _: Resource<PayloadHandle>,
        path: String,
    ) -> wasmtime::Result<bool> {
        self.charge("remove-manifest", 0)?;
        Ok(self.release.manifests.remove(&path).is_some())
    }

    fn rewrite_pullspec(
        &mut self,
        _: Resource<PayloadHandle>,
        old: String,
        new: String,
    ) -> wasmtime::Result<Result<Vec<String>, String>> {
        if self.read_only {
            self.charge("rewrite-pullspec", 0)?;
        }
        let before = manifest_bytes(&self.release);
        let changed = self.release.rewrite_pullspec(&old, &new);
        // What the rewrite added counts as written.
        let grown = manifest_bytes(&self.release).saturating_sub(before);
        self.charge(
            "rewrite-pullspec",
            usize::try_from(grown).unwrap_or(usize::MAX),
        )?;
        Ok(changed.map_err(|e| e.to_string()))
    }

    fn digest(&mut self, _: Resource<PayloadHandle>) -> Result<String, String> {
        let digest = self.services()?.digest.clone();
        digest(&self.release)
    }

    fn attach(
        &mut self,
        _: Resource<PayloadHandle>,
        attachment: release::Attachment,
    ) -> wasmtime::Result<()> {
        self.charge(
            "attach",
            attachment.kind.len() + attachment.media_type.len() + attachment.data.len(),
        )?;
        // `attach` has no error result: a stage attaching what compose would not publish is
        // stopped rather than having its attachment dropped silently.
        if let Err(reason) = check_attachment(&attachment) {
            return self.stop(Stop::Refused(reason));
        }
        self.release.attachments.push(Attachment {
            kind: attachment.kind,
            media_type: attachment.media_type,
            data: attachment.data,
        });
        Ok(())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn the_default_output_limit_is_four_times_the_manifests_and_at_least_64_mib() {
        let mut release = Release::new("4.17.0-okd-scos.0", "2024-09-03T00:00:00Z");
        assert_eq!(default_output_limit(&release), MIN_DEFAULT_OUTPUT);
        release
            .manifests
            .insert("a.yaml".into(), "x".repeat(20 << 20));
        assert_eq!(default_output_limit(&release), 4 * ((20 << 20) + 6));
        assert_eq!(OutputBudget::new(Some(10), &release).limit, 10);
    }

    #[test]
    fn sizes_read_well_in_messages() {
        assert_eq!(show_bytes(64 << 20), "64 MiB");
        assert_eq!(show_bytes(3 << 29), "1.5 GiB");
        assert_eq!(show_bytes(2048), "2 KiB");
        assert_eq!(show_bytes(12), "12 bytes");
    }
}
