//! Real registries (the OCI distribution API) through `oci-client`.
//!
//! [`RemoteRegistries`] is a pool of clients, one per registry host, and an [`ImageSource`]
//! that reads every reference from the registry it names. Every manifest and blob read is
//! checked against its digest. Plain HTTP is used only for loopback registries (`127.0.0.1`,
//! `localhost`, `::1`, as docker does) and hosts named insecure ([`RemoteConfig::insecure`]);
//! everything else is HTTPS with the system's roots (rustls, no OpenSSL). Network failures,
//! server errors and 429s are retried with exponential backoff ([`RetryPolicy`]), then
//! reported with the registry, the reference and the last error. Every request has a deadline
//! ([`RemoteConfig::request_timeout`], `$COMPOSE_REGISTRY_TIMEOUT`), so an operation ends
//! within its attempts times that deadline, whatever the registry does.
//!
//! Credentials go only where they are meant to: [`RemoteRegistries::restrict_credentials`]
//! limits reads to the registries a stream names; a manifest read must answer a manifest or
//! an index.
//!
//! The [`ImageSource`] trait is synchronous while `oci-client` is async: requests run on a
//! small runtime of their own, and a synchronous call waits for its answer (inside
//! `block_in_place` when called from a multi-threaded tokio worker, so the caller's runtime
//! keeps running). Async callers use the `*_async` methods, which never block.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use compose_payload::oci::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, ImageIndex, ImageManifest, OCI_INDEX,
    OCI_MANIFEST, is_index, is_manifest, sha256_digest,
};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;

mod config;
mod direct;
mod failure;
mod prefetch;

use config::{CONNECT_TIMEOUT, READ_TIMEOUT};
pub use config::{
    DEFAULT_REQUEST_TIMEOUT, RemoteConfig, RetryPolicy, TIMEOUT_VAR, is_loopback,
    request_timeout_from_env,
};

use failure::{Failure, RATE_LIMIT_WAIT, chain, classify, seconds};

use crate::auth::AuthStore;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::reference::Reference;
use crate::source::{ARCHITECTURE, ImageSource, OS, media_type_of};

/// The manifest media types compose asks registries for.
const ACCEPT: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// The runtime registry requests run on: two threads of their own, started on first use.
fn io_runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("compose-registry")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Client(e.clone()))
}

/// Runs `future` on the registry runtime and waits for it from synchronous code.
pub fn block_on<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = io_runtime()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(future.await);
    });
    let wait = move || rx.recv();
    let received = match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    };
    received.map_err(|_| Error::Client("a registry request was cancelled".into()))
}

/// Runs `future` on the registry runtime and awaits it from async code.
pub async fn spawn<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    io_runtime()?
        .spawn(future)
        .await
        .map_err(|e| Error::Client(format!("a registry task failed: {e}")))
}

/// One registry host: an `oci-client` client with its credentials and retry policy, and the
/// manifests and configs it has read (by digest, verified). Clones share the connections
/// and the cache.
#[derive(Clone)]
pub struct RemoteRegistry {
    host: String,
    plain_http: bool,
    client: oci_client::Client,
    auth: Arc<AuthStore>,
    /// Whether `auth` is the configured store (not the anonymous one of a restricted read).
    with_credentials: bool,
    /// Reads from the registry while it asks for no credentials.
    direct: direct::Direct,
    retry: RetryPolicy,
    request_timeout: Duration,
    /// Manifests and small blobs (configs) read so far, by digest: content-addressed, so
    /// never stale. Bounded by [`SMALL_BLOB`] and [`CACHE_BUDGET`].
    cache: Arc<Mutex<BlobCache>>,
}

/// Blobs up to this size are kept in memory once read (configs, manifests).
const SMALL_BLOB: usize = 256 << 10;
/// At most this many bytes are kept in memory per registry.
const CACHE_BUDGET: usize = 64 << 20;

/// Verified bytes by digest, within a budget.
#[derive(Default)]
struct BlobCache {
    entries: HashMap<String, Vec<u8>>,
    bytes: usize,
}

impl BlobCache {
    fn insert(&mut self, digest: &str, bytes: &[u8]) {
        if bytes.len() <= SMALL_BLOB
            && self.bytes + bytes.len() <= CACHE_BUDGET
            && !self.entries.contains_key(digest)
        {
            self.bytes += bytes.len();
            self.entries.insert(digest.to_string(), bytes.to_vec());
        }
    }
}

impl std::fmt::Debug for RemoteRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteRegistry")
            .field("host", &self.host)
            .field("plain_http", &self.plain_http)
            .finish_non_exhaustive()
    }
}

impl RemoteRegistry {
    /// A client for `host`, over HTTPS unless `config` allows plain HTTP for it.
    pub fn new(host: &str, config: &RemoteConfig) -> Result<RemoteRegistry> {
        RemoteRegistry::with_scheme(host, config, config.plain_http(host))
    }

    fn with_scheme(host: &str, config: &RemoteConfig, plain_http: bool) -> Result<RemoteRegistry> {
        // reqwest is built without a default crypto provider: use ring's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client_config = ClientConfig {
            protocol: if plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            // Distribution ignores a blob sent as one POST: use POST then PUT, which every
            // registry takes, in two requests rather than three for a chunked upload.
            use_monolithic_push: true,
            platform_resolver: Some(Box::new(oci_client::client::linux_amd64_resolver)),
            connect_timeout: Some(CONNECT_TIMEOUT.min(config.request_timeout)),
            // A shorter request timeout covers silence too (with its own message).
            read_timeout: (READ_TIMEOUT < config.request_timeout).then_some(READ_TIMEOUT),
            user_agent: concat!("compose/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = oci_client::Client::try_from(client_config)
            .map_err(|e| Error::Client(format!("for `{host}`: {}", chain(&e))))?;
        Ok(RemoteRegistry {
            host: host.to_string(),
            plain_http,
            client,
            auth: Arc::new(config.auth.clone()),
            with_credentials: true,
            direct: direct::Direct::new(host, plain_http, config)
                .map_err(|e| Error::Client(format!("for `{host}`: {}", chain(&e))))?,
            retry: config.retry,
            request_timeout: config.request_timeout,
            cache: Arc::new(Mutex::new(BlobCache::default())),
        })
    }

    /// The host this client talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether it talks plain HTTP.
    pub fn is_plain_http(&self) -> bool {
        self.plain_http
    }

    fn oci_reference(&self, reference: &Reference) -> oci_client::Reference {
        match (&reference.tag, &reference.digest) {
            (_, Some(digest)) => oci_client::Reference::with_digest(
                self.host.clone(),
                reference.repository.clone(),
                digest.clone(),
            ),
            (tag, None) => oci_client::Reference::with_tag(
                self.host.clone(),
                reference.repository.clone(),
                tag.clone().unwrap_or_else(|| "latest".to_string()),
            ),
        }
    }

    fn registry_auth(&self, reference: &Reference) -> RegistryAuth {
        match self.auth.lookup(&reference.repository_path()) {
            Some(c) => RegistryAuth::Basic(c.username, c.password),
            None => RegistryAuth::Anonymous,
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or runs out of retries.
    async fn retry<T, F, Fut>(
        &self,
        reference: &Reference,
        operation: &str,
        mut attempt: F,
    ) -> Result<Option<T>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, OciDistributionError>>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut wait = self.retry.backoff;
        let mut tried = 0;
        loop {
            tried += 1;
            let mut floor = Duration::ZERO;
            let message = match tokio::time::timeout(self.request_timeout, attempt()).await {
                Err(_) => format!(
                    "no complete answer within {} (the registry is silent or too slow; \
                     `{TIMEOUT_VAR}` sets this limit, in seconds)",
                    seconds(self.request_timeout)
                ),
                Ok(Ok(value)) => return Ok(Some(value)),
                Ok(Err(e)) => match classify(&e) {
                    Failure::NotFound => return Ok(None),
                    Failure::Unauthorized(message) => {
                        return Err(Error::Unauthorized {
                            registry: self.host.clone(),
                            reference: reference.to_string(),
                            message,
                        });
                    }
                    Failure::Permanent(message) => {
                        return Err(self.failed(reference, operation, tried, message));
                    }
                    Failure::Transient(message) => message,
                    Failure::RateLimited(message) => {
                        floor = RATE_LIMIT_WAIT;
                        message
                    }
                },
            };
            if tried >= attempts {
                return Err(self.failed(reference, operation, tried, message));
            }
            let pause = wait.max(floor);
            tracing::debug!(
                registry = %self.host, %reference, "{operation}: attempt {tried} failed ({message}); retrying in {pause:?}"
            );
            tokio::time::sleep(pause).await;
            wait = wait.saturating_mul(2);
        }
    }

    fn failed(
        &self,
        reference: &Reference,
        operation: &str,
        attempts: u32,
        message: String,
    ) -> Error {
        Error::Remote {
            registry: self.host.clone(),
            reference: reference.to_string(),
            operation: operation.to_string(),
            attempts,
            message,
        }
    }

    fn check_digest(&self, reference: &Reference, expected: &str, bytes: &[u8]) -> Result<()> {
        let actual = sha256_digest(bytes);
        if actual != expected {
            return Err(Error::RemoteDigestMismatch {
                registry: self.host.clone(),
                reference: reference.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
        Ok(())
    }

    fn not_found(&self, reference: &Reference) -> Error {
        Error::NotFound {
            reference: reference.to_string(),
            store: self.location(),
        }
    }

    /// The manifest (or index) `reference` names: its bytes and digest, verified (against
    /// the reference's digest when it has one).
    pub async fn manifest_async(&self, reference: &Reference) -> Result<(Vec<u8>, String)> {
        if let Some(digest) = &reference.digest
            && let Some(bytes) = self.cached_manifest(digest)
        {
            return Ok((bytes, digest.clone()));
        }
        let image = self.oci_reference(reference);
        let auth = self.registry_auth(reference);
        let got = self
            .retry(reference, "reading the manifest of", || {
                self.pull_manifest(&image, &auth)
            })
            .await?;
        let (bytes, _) = got.ok_or_else(|| self.not_found(reference))?;
        let digest = sha256_digest(&bytes);
        if let Some(expected) = &reference.digest {
            self.check_digest(reference, expected, &bytes)?;
        }
        // Only a manifest or an index is an answer: never hand on (or cache) a body that is
        // neither, such as an HTML page or a plugin-chosen server's junk.
        match media_type_of(&bytes) {
            Some(media_type) if is_manifest(&media_type) || is_index(&media_type) => {}
            found => {
                return Err(Error::UnsupportedMediaType {
                    reference: reference.to_string(),
                    store: self.location(),
                    media_type: found.unwrap_or_else(|| {
                        "none: the answer is not a JSON image manifest".to_string()
                    }),
                });
            }
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(&digest, &bytes);
        }
        Ok((bytes, digest))
    }

    fn cached_manifest(&self, digest: &str) -> Option<Vec<u8>> {
        self.cache.lock().ok()?.entries.get(digest).cloned()
    }

    /// The blob `digest` of the repository of `reference`, verified. A manifest digest is read
    /// from the manifests endpoint (registries keep the two apart).
    pub async fn blob_async(&self, reference: &Reference, digest: &str) -> Result<Vec<u8>> {
        if let Some(bytes) = self.cached_manifest(digest) {
            return Ok(bytes);
        }
        let image = self.oci_reference(reference);
        let auth = self.registry_auth(reference);
        let operation = format!("reading blob `{digest}` of");
        let got = self
            .retry(reference, &operation, || {
                self.pull_blob(&image, &auth, digest)
            })
            .await;
        let bytes = match got {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                // Not a blob: perhaps a manifest (an index entry, an image by digest).
                let pinned = reference.pinned(digest)?;
                return match self.manifest_async(&pinned).await {
                    Ok((bytes, _)) => Ok(bytes),
                    Err(Error::NotFound { .. }) => Err(Error::NotFound {
                        reference: format!("{} (blob `{digest}`)", reference.repository_path()),
                        store: self.location(),
                    }),
                    Err(e) => Err(e),
                };
            }
            Err(Error::Remote { message, .. }) if message.contains("Digest error") => {
                return Err(Error::RemoteDigestMismatch {
                    registry: self.host.clone(),
                    reference: reference.to_string(),
                    expected: digest.to_string(),
                    actual: message,
                });
            }
            Err(e) => return Err(e),
        };
        self.check_digest(reference, digest, &bytes)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(digest, &bytes);
        }
        Ok(bytes)
    }

    /// The digest of the manifest `reference` names, from a `HEAD` request; `None` if there
    /// is none.
    pub async fn manifest_digest_async(&self, reference: &Reference) -> Result<Option<String>> {
        let image = self.oci_reference(reference);
        let auth = self.registry_auth(reference);
        self.retry(reference, "looking up", || {
            self.client.fetch_manifest_digest(&image, &auth)
        })
        .await
    }

    /// Whether the repository of `reference` has the blob `digest` (a `HEAD` request).
    pub async fn has_blob_async(&self, reference: &Reference, digest: &str) -> Result<bool> {
        let image = self.oci_reference(reference);
        let auth = self.registry_auth(reference);
        self.client
            .store_auth_if_needed(image.resolve_registry(), &auth)
            .await;
        let operation = format!("checking blob `{digest}` of");
        Ok(self
            .retry(reference, &operation, || {
                self.client.blob_exists(&image, digest)
            })
            .await?
            .unwrap_or(false))
    }

    /// Uploads `bytes` as the blob `digest` into the repository of `reference`.
    pub async fn push_blob_async(
        &self,
        reference: &Reference,
        bytes: Vec<u8>,
        digest: &str,
    ) -> Result<()> {
        self.check_digest(reference, digest, &bytes)?;
        let image = self.oci_reference(reference);
        let auth = self.registry_auth(reference);
        self.client
            .store_auth_if_needed(image.resolve_registry(), &auth)
            .await;
        let data = bytes::Bytes::from(bytes);
        let operation = format!("uploading blob `{digest}` to");
        self.retry(reference, &operation, || {
            self.client.push_blob(&image, data.clone(), digest)
        })
        .await?
        .ok_or_else(|| self.not_found(reference))?;
        Ok(())
    }

    /// Uploads a manifest under `reference` (its tag, or its digest when it has one).
    pub async fn push_manifest_async(
        &self,
        reference: &Reference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<()> {
        let image = self.oci_reference(reference);
        let auth = self.registry_auth(reference);
        self.client
            .store_auth_if_needed(image.resolve_registry(), &auth)
            .await;
        let content_type = http::HeaderValue::from_str(media_type).map_err(|_| {
            self.failed(
                reference,
                "uploading the manifest of",
                1,
                format!("`{media_type}` is not a media type"),
            )
        })?;
        let data = bytes::Bytes::from(bytes);
        let operation = if reference.digest.is_some() {
            "uploading the manifest of"
        } else {
            "tagging"
        };
        self.retry(reference, operation, || {
            self.client
                .push_manifest_raw(&image, data.clone(), content_type.clone())
        })
        .await?
        .ok_or_else(|| self.not_found(reference))?;
        Ok(())
    }
}

impl ImageSource for RemoteRegistry {
    fn location(&self) -> String {
        format!(
            "{}://{}",
            if self.plain_http { "http" } else { "https" },
            self.host
        )
    }

    fn resolve(&self, reference: &Reference) -> Result<Descriptor> {
        let this = self.clone_handle();
        let r = reference.clone();
        let (bytes, digest) = block_on(async move { this.manifest_async(&r).await })??;
        // `manifest_async` checked that the body is a manifest or an index.
        let media_type = media_type_of(&bytes).unwrap_or_else(|| OCI_MANIFEST.to_string());
        Ok(Descriptor::new(&media_type, &digest, bytes.len() as u64))
    }

    fn blob(&self, reference: &Reference, digest: &str) -> Result<Vec<u8>> {
        if let Some(bytes) = self.cached_manifest(digest) {
            return Ok(bytes);
        }
        let this = self.clone_handle();
        let r = reference.clone();
        let d = digest.to_string();
        block_on(async move { this.blob_async(&r, &d).await })?
    }

    /// In memory: `reference` is pinned by digest, and its manifest (for an index, its
    /// linux/amd64 manifest too) and its config were read before (read ahead, normally).
    fn at_hand(&self, reference: &Reference) -> bool {
        let Some(digest) = &reference.digest else {
            return false;
        };
        let Some(mut bytes) = self.cached_manifest(digest) else {
            return false;
        };
        if media_type_of(&bytes).is_some_and(|m| is_index(&m)) {
            let Ok(index) = serde_json::from_slice::<ImageIndex>(&bytes) else {
                return false;
            };
            let Some(entry) = index
                .manifests
                .into_iter()
                .find(|d| is_manifest(&d.media_type) && d.is_platform(OS, ARCHITECTURE))
            else {
                return false;
            };
            let Some(platform) = self.cached_manifest(&entry.digest) else {
                return false;
            };
            bytes = platform;
        }
        serde_json::from_slice::<ImageManifest>(&bytes)
            .is_ok_and(|manifest| self.cached_manifest(&manifest.config.digest).is_some())
    }
}

impl RemoteRegistry {
    /// A handle sharing this client, its connections and its manifest cache, to move into a
    /// task on the registry runtime.
    fn clone_handle(&self) -> Arc<RemoteRegistry> {
        Arc::new(self.clone())
    }
}

#[cfg(test)]
mod tests;

mod registries;
pub use registries::RemoteRegistries;
