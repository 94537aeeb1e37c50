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
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, OCI_INDEX, OCI_MANIFEST, is_index,
    is_manifest, sha256_digest,
};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;

use crate::auth::AuthStore;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::source::{ImageSource, media_type_of};

/// The manifest media types compose asks registries for.
const ACCEPT: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// How failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// The wait before the second attempt; doubled before each further one.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, waiting 250 ms then 500 ms.
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(250),
        }
    }
}

/// How compose talks to registries.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Where credentials come from.
    pub auth: AuthStore,
    /// Hosts (`host` or `host:port`) that may be reached over plain HTTP although they are not
    /// on loopback (`--insecure-registry`).
    pub insecure: Vec<String>,
    /// Hosts that must be reached over HTTPS even on loopback (a stream's `https://`).
    pub require_tls: Vec<String>,
    /// How failed requests are retried.
    pub retry: RetryPolicy,
    /// Blob uploads in flight at once during a push.
    pub concurrency: usize,
    /// How long one request (connecting, sending, and reading the whole answer) may take
    /// before it is abandoned (and retried): a registry that accepts a connection and then
    /// never answers, or trickles its answer, is given up on after this.
    pub request_timeout: Duration,
}

/// The variable that sets [`RemoteConfig::request_timeout`], in seconds.
pub const TIMEOUT_VAR: &str = "COMPOSE_REGISTRY_TIMEOUT";
/// The default [`RemoteConfig::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Connecting to a registry may take at most this long (or the request timeout, if shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A registry may stay silent at most this long while answering (or the request timeout, if
/// shorter).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The request timeout `$COMPOSE_REGISTRY_TIMEOUT` sets (seconds, fractions allowed), else
/// [`DEFAULT_REQUEST_TIMEOUT`]. An unusable value is ignored with a warning.
pub fn request_timeout_from_env() -> Duration {
    let Some(value) = std::env::var_os(TIMEOUT_VAR) else {
        return DEFAULT_REQUEST_TIMEOUT;
    };
    let text = value.to_string_lossy();
    match text.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 86_400.0 => Duration::from_secs_f64(secs),
        _ => {
            tracing::warn!(
                "ignoring `{TIMEOUT_VAR}={text}`: it must be a number of seconds from 0 to 86400; \
                 using {}s",
                DEFAULT_REQUEST_TIMEOUT.as_secs()
            );
            DEFAULT_REQUEST_TIMEOUT
        }
    }
}

impl Default for RemoteConfig {
    /// Anonymous, no insecure hosts, the default retries, 8 uploads at once, and the request
    /// timeout of `$COMPOSE_REGISTRY_TIMEOUT` (see [`request_timeout_from_env`]).
    fn default() -> Self {
        RemoteConfig {
            auth: AuthStore::anonymous(),
            insecure: Vec::new(),
            require_tls: Vec::new(),
            retry: RetryPolicy::default(),
            concurrency: 8,
            request_timeout: request_timeout_from_env(),
        }
    }
}

/// Whether `host` (`host`, `host:port`, `[::1]:5000`) is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if host.matches(':').count() > 1 {
        host
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

impl RemoteConfig {
    /// Whether `host` is reached over plain HTTP: loopback or named insecure, and not required
    /// to use TLS.
    pub fn plain_http(&self, host: &str) -> bool {
        !named(&self.require_tls, host) && self.allows_plain_http(host)
    }

    /// Whether `host` may be reached over plain HTTP at all: loopback or named insecure.
    pub fn allows_plain_http(&self, host: &str) -> bool {
        is_loopback(host) || named(&self.insecure, host)
    }
}

/// Whether `list` names `host` (`host:port`), with or without its port.
fn named(list: &[String], host: &str) -> bool {
    let name = host.split(':').next().unwrap_or(host);
    list.iter().any(|h| h == host || h == name)
}

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

/// A pool of registry clients, one per host, and the [`ImageSource`] reading every reference
/// from the registry it names.
pub struct RemoteRegistries {
    config: RemoteConfig,
    /// The clients reads go through, by host.
    clients: Mutex<BTreeMap<String, Arc<RemoteRegistry>>>,
    /// The clients pushes go through, by host: always with the credentials of the config.
    pushers: Mutex<BTreeMap<String, Arc<RemoteRegistry>>>,
    /// Per-host TLS choices made by streams (`https://…`, `http://…`), over the config's.
    tls: Mutex<BTreeMap<String, bool>>,
    /// When set, the only hosts reads send credentials to (the registries a stream names);
    /// every other host is read anonymously.
    credential_hosts: Mutex<Option<BTreeSet<String>>>,
}

impl std::fmt::Debug for RemoteRegistries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteRegistries")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RemoteRegistries {
    /// An empty pool; clients are made on first use.
    pub fn new(config: RemoteConfig) -> RemoteRegistries {
        RemoteRegistries {
            config,
            clients: Mutex::new(BTreeMap::new()),
            pushers: Mutex::new(BTreeMap::new()),
            tls: Mutex::new(BTreeMap::new()),
            credential_hosts: Mutex::new(None),
        }
    }

    /// Sends credentials, on reads, only to `hosts` (`host` or `host:port`: the registries a
    /// stream names in `from`, `to`, `[registries]` and its plugins) and reads every other
    /// registry anonymously: a stage granted `["*"]` that resolves a reference of its own
    /// choosing never makes compose hand the user's credentials to that host. Calling it again
    /// adds hosts. Pushes ([`RemoteRegistries::pusher`]) go only to targets the user or the
    /// stream named, and always carry credentials.
    pub fn restrict_credentials<I, S>(&self, hosts: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let poisoned = || Error::Client("the client pool is poisoned".into());
        let mut allowed = self.credential_hosts.lock().map_err(|_| poisoned())?;
        let set = allowed.get_or_insert_with(BTreeSet::new);
        set.extend(hosts.into_iter().map(Into::into));
        // Clients made before with other credentials than they would now get: make them again.
        let mut clients = self.clients.lock().map_err(|_| poisoned())?;
        clients.retain(|host, client| client.with_credentials == set.contains(host));
        Ok(())
    }

    /// Whether reads from `host` carry credentials.
    pub fn sends_credentials_to(&self, host: &str) -> bool {
        match self.credential_hosts.lock() {
            Ok(allowed) => allowed.as_ref().is_none_or(|set| set.contains(host)),
            Err(_) => false,
        }
    }

    /// Uses TLS for `host` (`true`) or plain HTTP (`false`, refused unless `host` is on
    /// loopback or named insecure), whatever the default for it would be.
    pub fn set_tls(&self, host: &str, tls: bool) -> Result<()> {
        if !tls && !self.config.allows_plain_http(host) {
            return Err(Error::PlainHttpRefused(host.to_string()));
        }
        let poisoned = || Error::Client("the client pool is poisoned".into());
        self.tls
            .lock()
            .map_err(|_| poisoned())?
            .insert(host.to_string(), tls);
        let mut clients = self.clients.lock().map_err(|_| poisoned())?;
        if clients.get(host).is_some_and(|c| c.plain_http == tls) {
            clients.remove(host);
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// The client for `host` (`quay.io`, `127.0.0.1:5000`).
    pub fn registry(&self, host: &str) -> Result<Arc<RemoteRegistry>> {
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| Error::Client("the client pool is poisoned".into()))?;
        if let Some(client) = clients.get(host) {
            return Ok(client.clone());
        }
        let plain_http = self.plain_http_for(host);
        let with_credentials = self.sends_credentials_to(host);
        let mut client = RemoteRegistry::with_scheme(host, &self.config, plain_http)?;
        if !with_credentials {
            client.auth = Arc::new(AuthStore::anonymous());
            client.with_credentials = false;
        }
        let client = Arc::new(client);
        clients.insert(host.to_string(), client.clone());
        Ok(client)
    }

    /// The client pushes to `host` go through: with the configured credentials whatever
    /// [`RemoteRegistries::restrict_credentials`] says, since a push target is always named by
    /// the user or the stream, never by a stage.
    pub fn pusher(&self, host: &str) -> Result<Arc<RemoteRegistry>> {
        let mut pushers = self
            .pushers
            .lock()
            .map_err(|_| Error::Client("the client pool is poisoned".into()))?;
        let plain_http = self.plain_http_for(host);
        if let Some(client) = pushers.get(host).filter(|c| c.plain_http == plain_http) {
            return Ok(client.clone());
        }
        let client = Arc::new(RemoteRegistry::with_scheme(host, &self.config, plain_http)?);
        pushers.insert(host.to_string(), client.clone());
        Ok(client)
    }

    fn plain_http_for(&self, host: &str) -> bool {
        match self.tls.lock().ok().and_then(|t| t.get(host).copied()) {
            Some(tls) => !tls,
            None => self.config.plain_http(host),
        }
    }
}

impl ImageSource for RemoteRegistries {
    fn location(&self) -> String {
        "the registries the references name".to_string()
    }

    fn resolve(&self, reference: &Reference) -> Result<Descriptor> {
        self.registry(&reference.registry)?.resolve(reference)
    }

    fn blob(&self, reference: &Reference, digest: &str) -> Result<Vec<u8>> {
        self.registry(&reference.registry)?.blob(reference, digest)
    }
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

/// How one failed attempt is handled.
enum Failure {
    /// The registry has no such manifest or blob (404): not retried.
    NotFound,
    /// Credentials missing or refused: not retried.
    Unauthorized(String),
    /// Worth another attempt: connection refused or reset, timeout, 5xx.
    Transient(String),
    /// Too many requests (429): worth another attempt after a pause of at least
    /// [`RATE_LIMIT_WAIT`].
    RateLimited(String),
    /// Retrying would not help.
    Permanent(String),
}

/// The least a registry answering 429 (too many requests) is left alone before the next
/// attempt. (`oci-client` does not hand back the `Retry-After` header.)
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// `2s`, `1.5s`: a duration for messages.
fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}s")
    } else {
        format!("{secs:.1}s")
    }
}

/// The message of an error and its causes, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn classify(error: &OciDistributionError) -> Failure {
    match error {
        OciDistributionError::RegistryError { envelope, .. } => {
            let unknown = envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                )
            });
            let denied = envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied));
            if unknown {
                Failure::NotFound
            } else if denied {
                Failure::Unauthorized(chain(error))
            } else if envelope.errors.iter().any(|e| match &e.code {
                OciErrorCode::Toomanyrequests => true,
                // Registries spell it their own way (`TOO_MANY_REQUESTS`, `RATE_LIMITED`):
                // the status (429) is not handed back with the envelope.
                OciErrorCode::Other(code) => {
                    let code = code.to_ascii_uppercase();
                    code.contains("TOO_MANY") || code.contains("RATE")
                }
                _ => false,
            }) {
                Failure::RateLimited(chain(error))
            } else {
                Failure::Permanent(chain(error))
            }
        }
        OciDistributionError::ServerError { code: 404, .. } => Failure::NotFound,
        OciDistributionError::ServerError { code: 429, .. } => Failure::RateLimited(chain(error)),
        OciDistributionError::ServerError { code, .. } if *code >= 500 => {
            Failure::Transient(chain(error))
        }
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Failure::Unauthorized(chain(error)),
        OciDistributionError::RequestError(e) if e.is_builder() => Failure::Permanent(chain(error)),
        OciDistributionError::RequestError(e) if e.is_timeout() => {
            Failure::Transient(if e.is_connect() {
                format!(
                    "no connection within {}: {}",
                    seconds(CONNECT_TIMEOUT),
                    chain(error)
                )
            } else {
                format!(
                    "the registry sent nothing for {}: {}",
                    seconds(READ_TIMEOUT),
                    chain(error)
                )
            })
        }
        OciDistributionError::RequestError(e) if e.status().is_some() => {
            match e.status().map(|s| s.as_u16()).unwrap_or_default() {
                404 => Failure::NotFound,
                401 | 403 => Failure::Unauthorized(chain(error)),
                429 => Failure::RateLimited(chain(error)),
                500.. => Failure::Transient(chain(error)),
                _ => Failure::Permanent(chain(error)),
            }
        }
        OciDistributionError::RequestError(_) | OciDistributionError::IoError(_) => {
            Failure::Transient(chain(error))
        }
        _ => Failure::Permanent(chain(error)),
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
                self.client.pull_manifest_raw(&image, &auth, ACCEPT)
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
        Ok((bytes.to_vec(), digest))
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
        self.client
            .store_auth_if_needed(image.resolve_registry(), &auth)
            .await;
        let operation = format!("reading blob `{digest}` of");
        let got = self
            .retry(reference, &operation, || async {
                let mut bytes: Vec<u8> = Vec::new();
                self.client
                    .pull_blob(&image, digest, &mut bytes)
                    .await
                    .map(|()| bytes)
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
}

impl RemoteRegistry {
    /// A handle sharing this client, its connections and its manifest cache, to move into a
    /// task on the registry runtime.
    fn clone_handle(&self) -> Arc<RemoteRegistry> {
        Arc::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:80",
            "localhost",
            "localhost:5000",
            "LOCALHOST",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "quay.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn plain_http_only_for_loopback_or_named_hosts() {
        let mut config = RemoteConfig::default();
        assert!(config.plain_http("127.0.0.1:5000"));
        assert!(!config.plain_http("quay.io"));
        assert!(!config.plain_http("registry.lab:5000"));
        config.insecure = vec!["registry.lab:5000".into(), "mirror.lab".into()];
        assert!(config.plain_http("registry.lab:5000"));
        assert!(!config.plain_http("registry.lab:6000"));
        assert!(config.plain_http("mirror.lab:443"));
        config.require_tls = vec!["127.0.0.1:5000".into()];
        assert!(!config.plain_http("127.0.0.1:5000"));
    }

    #[test]
    fn unreachable_registries_are_retried_then_named() {
        // A port nothing listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = RemoteConfig {
            retry: RetryPolicy {
                attempts: 3,
                backoff: Duration::from_millis(10),
            },
            ..RemoteConfig::default()
        };
        let pool = RemoteRegistries::new(config);
        let reference = Reference::parse(&format!("127.0.0.1:{port}/a/b:v1")).unwrap();
        let started = std::time::Instant::now();
        let err = pool.resolve(&reference).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Remote { attempts: 3, .. }), "{err:?}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(
            text.contains("127.0.0.1:") && text.contains("/a/b:v1"),
            "{text}"
        );
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    /// What the fake registry does with one request.
    enum Answer {
        /// Writes this whole response and closes.
        Bytes(Vec<u8>),
        /// Never answers (holds the connection open).
        Silent,
        /// Writes the head, then one byte of body every 200 ms.
        Trickle,
    }

    /// A registry on 127.0.0.1 that answers every request with `answer(request head, its
    /// number)` and records the request heads.
    struct Fake {
        addr: String,
        heads: Arc<Mutex<Vec<String>>>,
    }

    fn response(status: &str, headers: &[&str], body: &[u8]) -> Answer {
        let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Answer::Bytes(bytes)
    }

    fn fake(answer: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) -> Fake {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let recorded = recorded.clone();
                let answer = answer.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let n = {
                        let mut all = recorded.lock().unwrap();
                        all.push(head.clone());
                        all.len()
                    };
                    match answer(&head, n) {
                        Answer::Bytes(bytes) => {
                            let _ = stream.write_all(&bytes);
                        }
                        Answer::Silent => std::thread::sleep(Duration::from_secs(30)),
                        Answer::Trickle => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
                            for _ in 0..150 {
                                std::thread::sleep(Duration::from_millis(200));
                                if stream.write_all(b"{").is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Fake { addr, heads }
    }

    const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

    fn quick(timeout: Duration) -> RemoteConfig {
        RemoteConfig {
            retry: RetryPolicy {
                attempts: 2,
                backoff: Duration::from_millis(10),
            },
            request_timeout: timeout,
            auth: AuthStore::from_file(
                Some(crate::auth::Credentials::parse("bot:s3cret").unwrap()),
                std::path::Path::new("/nonexistent/auth.json"),
            )
            .unwrap(),
            ..RemoteConfig::default()
        }
    }

    /// Answers `/v2/` with a Basic challenge and manifests with [`MANIFEST`].
    fn basic_registry(head: &str, _: usize) -> Answer {
        if head.starts_with("GET /v2/ ") {
            response(
                "401 Unauthorized",
                &["WWW-Authenticate: Basic realm=\"fake\""],
                b"{}",
            )
        } else {
            response(
                "200 OK",
                &["Content-Type: application/vnd.oci.image.manifest.v1+json"],
                MANIFEST,
            )
        }
    }

    fn authorized(fake: &Fake) -> Vec<String> {
        fake.heads
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.to_ascii_lowercase().contains("\nauthorization:"))
            .cloned()
            .collect()
    }

    #[test]
    fn credentials_go_only_to_the_hosts_named() {
        let fake = fake(basic_registry);
        let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();

        // Restricted to other hosts: read anonymously, no `Authorization` header at all.
        let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
        pool.restrict_credentials(["quay.io"]).unwrap();
        assert!(!pool.sends_credentials_to(&fake.addr));
        pool.resolve(&reference).unwrap();
        assert!(!fake.heads.lock().unwrap().is_empty());
        assert_eq!(authorized(&fake), Vec::<String>::new());

        // Named: the credentials go.
        pool.restrict_credentials([fake.addr.clone()]).unwrap();
        pool.resolve(&reference).unwrap();
        let sent = authorized(&fake);
        assert!(
            sent.iter().any(|h| h.contains("Basic Ym90OnMzY3JldA==")),
            "{sent:?}"
        );

        // Pushes carry them whatever the restriction.
        let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
        pool.restrict_credentials(["quay.io"]).unwrap();
        assert!(
            pool.pusher(&fake.addr).unwrap().registry_auth(&reference) != RegistryAuth::Anonymous
        );
        assert!(
            pool.registry(&fake.addr).unwrap().registry_auth(&reference) == RegistryAuth::Anonymous
        );
    }

    #[test]
    fn answers_that_are_not_manifests_are_refused() {
        let fake =
            fake(|_, _| response("200 OK", &["Content-Type: text/html"], b"<html>hi</html>"));
        let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
        let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
        let err = pool.resolve(&reference).unwrap_err();
        assert!(matches!(err, Error::UnsupportedMediaType { .. }), "{err:?}");
        assert!(
            err.to_string().contains("not a JSON image manifest"),
            "{err}"
        );

        let fake = self::fake(|_, _| response("200 OK", &[], br#"{"config":{"mediaType":"x"}}"#));
        let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
        assert!(matches!(
            pool.resolve(&reference),
            Err(Error::UnsupportedMediaType { .. })
        ));
    }

    #[test]
    fn too_many_requests_is_retried_after_a_pause() {
        let bodies: [&'static [u8]; 3] = [
            br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
            br#"{"errors":[{"code":"TOO_MANY_REQUESTS","message":"slow down"}]}"#,
            b"slow down",
        ];
        let pool = RemoteRegistries::new(quick(Duration::from_secs(10)));
        for body in bodies {
            // `/v2/` first, then one 429 for the manifest, then the manifest.
            let fake = fake(move |head, n| {
                if head.starts_with("GET /v2/ ") {
                    response("200 OK", &[], b"{}")
                } else if n <= 2 {
                    response(
                        "429 Too Many Requests",
                        &["Retry-After: 1", "Content-Type: application/json"],
                        body,
                    )
                } else {
                    response("200 OK", &[], MANIFEST)
                }
            });
            let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
            let started = std::time::Instant::now();
            let descriptor = pool.resolve(&reference).unwrap();
            assert_eq!(descriptor.digest, sha256_digest(MANIFEST));
            assert!(started.elapsed() >= RATE_LIMIT_WAIT);
            let manifest_reads = fake
                .heads
                .lock()
                .unwrap()
                .iter()
                .filter(|h| h.contains("/manifests/"))
                .count();
            assert_eq!(manifest_reads, 2);
        }
    }

    #[test]
    fn silent_and_trickling_registries_are_given_up_on() {
        for answer in [0, 1] {
            let fake = fake(move |head, _| {
                if head.starts_with("GET /v2/ ") {
                    response("200 OK", &[], b"{}")
                } else if answer == 0 {
                    Answer::Silent
                } else {
                    Answer::Trickle
                }
            });
            let pool = RemoteRegistries::new(quick(Duration::from_millis(700)));
            let reference = Reference::parse(&format!("{}/x/y:z", fake.addr)).unwrap();
            let started = std::time::Instant::now();
            let err = pool.resolve(&reference).unwrap_err();
            let elapsed = started.elapsed();
            let text = err.to_string();
            assert!(matches!(err, Error::Remote { attempts: 2, .. }), "{err:?}");
            assert!(text.contains("no complete answer within 0.7s"), "{text}");
            assert!(
                text.contains(&fake.addr) && text.contains(TIMEOUT_VAR),
                "{text}"
            );
            assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        }
    }

    #[test]
    fn block_on_works_inside_and_outside_runtimes() {
        assert_eq!(block_on(async { 1 + 1 }).unwrap(), 2);
        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(
            current.block_on(async { block_on(async { 3 }).unwrap() }),
            3
        );
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let got = multi.block_on(async {
            tokio::spawn(async { block_on(async { 4 }).unwrap() })
                .await
                .unwrap()
        });
        assert_eq!(got, 4);
    }
}
