//! Registries that ask for no credentials, read straight over HTTP.
//!
//! `oci-client` sends `GET /v2/` before every request to a registry whose `/v2/` issues no
//! challenge (it keeps no token for it, so it asks again each time), doubling the requests of
//! a read. A registry whose `/v2/` answers 200 without `WWW-Authenticate` is asked once per
//! process ([`Probe`]); from then on its manifests and blobs are read with `reqwest` directly,
//! with the same client settings (rustls and the platform's roots, connect and read
//! timeouts, user agent), the same `Accept` list, the same digest checks and errors of the
//! same kinds, so the retries, deadlines and messages of `RemoteRegistry::retry` are
//! unchanged. A registry that challenges, or starts to (a 401), is read through
//! `oci-client`, which handles its tokens and credentials.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use oci_client::errors::{DigestError, OciDistributionError, OciEnvelope};
use oci_client::secrets::RegistryAuth;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT as ACCEPT_HEADER, HeaderMap, WWW_AUTHENTICATE};
use sha2::Digest as _;

use super::{ACCEPT, CONNECT_TIMEOUT, READ_TIMEOUT, RemoteConfig, RemoteRegistry};

/// The header registries give the digest of what they serve in.
const DIGEST_HEADER: &str = "Docker-Content-Digest";

/// At most this much memory is set aside up front for a blob, whatever its
/// `Content-Length` says; larger blobs grow as they arrive.
const PREALLOCATE: u64 = 64 << 20;

type Answer<T> = std::result::Result<T, OciDistributionError>;

/// What is known of one registry's `/v2/`, shared by every client of the process.
#[derive(Debug, Default)]
pub(super) struct Probe {
    /// Whether `/v2/` answered 200 with no challenge; set by the first probe that got an
    /// answer.
    open: tokio::sync::OnceCell<bool>,
    /// Set when the registry refused an anonymous read after all (401).
    challenged: AtomicBool,
}

/// The probe of the registry at `base` (`http://127.0.0.1:5000`): one per process.
fn probe_of(base: &str) -> Arc<Probe> {
    static PROBES: OnceLock<Mutex<HashMap<String, Arc<Probe>>>> = OnceLock::new();
    let probes = PROBES.get_or_init(Mutex::default);
    match probes.lock() {
        Ok(mut probes) => probes.entry(base.to_string()).or_default().clone(),
        // A poisoned map: probe again rather than fail.
        Err(_) => Arc::default(),
    }
}

/// A plain HTTP client for one registry, used while it asks for no credentials.
#[derive(Debug, Clone)]
pub(super) struct Direct {
    http: reqwest::Client,
    /// `scheme://host` of the registry, as `oci-client` addresses it.
    base: String,
    probe: Arc<Probe>,
}

impl Direct {
    /// A client for `host` (over plain HTTP if `plain_http`) with the timeouts of `config`.
    pub(super) fn new(host: &str, plain_http: bool, config: &RemoteConfig) -> Answer<Direct> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(config.request_timeout))
            .user_agent(concat!("compose/", env!("CARGO_PKG_VERSION")));
        if READ_TIMEOUT < config.request_timeout {
            builder = builder.read_timeout(READ_TIMEOUT);
        }
        // The host requests go to, as `oci-client` resolves it (`docker.io` is served elsewhere).
        let registry = oci_client::Reference::with_tag(host.to_string(), "x".into(), "x".into())
            .resolve_registry()
            .to_string();
        let base = format!("{}://{registry}", if plain_http { "http" } else { "https" });
        Ok(Direct {
            http: builder.build()?,
            probe: probe_of(&base),
            base,
        })
    }

    /// Whether the registry can be read directly: asks its `/v2/` on first use, then
    /// remembers the answer for the process.
    async fn open(&self) -> Answer<bool> {
        if self.probe.challenged.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let open = self
            .probe
            .open
            .get_or_try_init(|| async {
                let answer = self.http.get(format!("{}/v2/", self.base)).send().await?;
                let open = answer.status() == StatusCode::OK
                    && !answer.headers().contains_key(WWW_AUTHENTICATE);
                // Read the body so the connection can be used again.
                let _ = answer.bytes().await;
                tracing::debug!(registry = %self.base, open, "probed `/v2/`");
                Ok::<bool, OciDistributionError>(open)
            })
            .await?;
        Ok(*open)
    }

    /// `GET url` with the manifest media types in `Accept`: the answer, once its status is
    /// 200 (anything else is an error as `oci-client` reports it). `None` if the registry
    /// asks for credentials after all: it is then read through `oci-client` from now on.
    async fn get(&self, url: &str) -> Answer<Option<reqwest::Response>> {
        let answer = self
            .http
            .get(url)
            .header(ACCEPT_HEADER, ACCEPT.join(", "))
            .send()
            .await?;
        match answer.status() {
            StatusCode::OK => Ok(Some(answer)),
            StatusCode::UNAUTHORIZED => {
                tracing::debug!(registry = %self.base, "asks for credentials after all");
                self.probe.challenged.store(true, Ordering::Relaxed);
                Ok(None)
            }
            status => {
                let body = answer.bytes().await?;
                Err(refusal(status, &body, url))
            }
        }
    }

    /// The manifest `image` names and its digest, checked against the registry's digest
    /// header and the reference's digest. `None` if the registry asks for credentials.
    async fn manifest(&self, image: &oci_client::Reference) -> Answer<Option<(Vec<u8>, String)>> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base,
            image.repository(),
            image.digest().or(image.tag()).unwrap_or("latest")
        );
        let Some(answer) = self.get(&url).await? else {
            return Ok(None);
        };
        let header = digest_header(answer.headers())?;
        let body = answer.bytes().await?.to_vec();
        if let Some(expected) = image.digest() {
            verify(&body, expected)?;
        }
        let digest = match header {
            Some(header) => verify(&body, &header)?,
            None => compose_payload::oci::sha256_digest(&body),
        };
        Ok(Some((body, digest)))
    }

    /// The blob `digest` of the repository of `image`, checked against `digest` and the
    /// registry's digest header. `None` if the registry asks for credentials.
    async fn blob(&self, image: &oci_client::Reference, digest: &str) -> Answer<Option<Vec<u8>>> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, image.repository());
        let Some(mut answer) = self.get(&url).await? else {
            return Ok(None);
        };
        let header = digest_header(answer.headers())?;
        let capacity = answer.content_length().unwrap_or(0).min(PREALLOCATE);
        let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        while let Some(chunk) = answer.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        if let Some(header) = header {
            verify(&body, &header)?;
        }
        verify(&body, digest)?;
        Ok(Some(body))
    }
}

/// The digest the registry gives for its answer, if any (an empty header counts as none).
fn digest_header(headers: &HeaderMap) -> Answer<Option<String>> {
    match headers.get(DIGEST_HEADER) {
        None => Ok(None),
        Some(value) => {
            let text = value.to_str().map_err(DigestError::from)?;
            Ok((!text.is_empty()).then(|| text.to_string()))
        }
    }
}

/// Checks that `body` has the digest `expected` (`algorithm:hex`); returns it.
fn verify(body: &[u8], expected: &str) -> Answer<String> {
    let Some((algorithm, _)) = expected.split_once(':') else {
        return Err(DigestError::MissingAlgorithm.into());
    };
    let hex = match algorithm {
        "sha256" => hex::encode(sha2::Sha256::digest(body)),
        "sha384" => hex::encode(sha2::Sha384::digest(body)),
        "sha512" => hex::encode(sha2::Sha512::digest(body)),
        other => return Err(DigestError::UnsupportedAlgorithm(other.to_string()).into()),
    };
    let actual = format!("{algorithm}:{hex}");
    if actual != expected {
        return Err(DigestError::VerificationError {
            expected: expected.to_string(),
            actual,
        }
        .into());
    }
    Ok(actual)
}

/// The error `oci-client` makes of a registry's answer with `status` (not 200 or 401):
/// its OCI error envelope for a 4xx that has one, else the status and the body.
fn refusal(status: StatusCode, body: &[u8], url: &str) -> OciDistributionError {
    if status.is_success() {
        return OciDistributionError::SpecViolationError(format!(
            "Expected HTTP Status {}, got {status} instead",
            StatusCode::OK
        ));
    }
    if status.is_client_error()
        && let Ok(envelope) = serde_json::from_slice::<OciEnvelope>(body)
    {
        return OciDistributionError::RegistryError {
            envelope,
            url: url.to_string(),
        };
    }
    OciDistributionError::ServerError {
        code: status.as_u16(),
        url: url.to_string(),
        message: String::from_utf8_lossy(body).to_string(),
    }
}

impl RemoteRegistry {
    /// The manifest `image` names and its digest: read directly from a registry that asks
    /// for no credentials, else through `oci-client` with `auth`.
    pub(super) async fn pull_manifest(
        &self,
        image: &oci_client::Reference,
        auth: &RegistryAuth,
    ) -> Answer<(Vec<u8>, String)> {
        if self.direct.open().await?
            && let Some(found) = self.direct.manifest(image).await?
        {
            return Ok(found);
        }
        let (bytes, digest) = self.client.pull_manifest_raw(image, auth, ACCEPT).await?;
        Ok((bytes.to_vec(), digest))
    }

    /// The blob `digest` of the repository of `image`, verified: read directly from a
    /// registry that asks for no credentials, else through `oci-client` with `auth`.
    pub(super) async fn pull_blob(
        &self,
        image: &oci_client::Reference,
        auth: &RegistryAuth,
        digest: &str,
    ) -> Answer<Vec<u8>> {
        if self.direct.open().await?
            && let Some(found) = self.direct.blob(image, digest).await?
        {
            return Ok(found);
        }
        self.client
            .store_auth_if_needed(image.resolve_registry(), auth)
            .await;
        let mut bytes: Vec<u8> = Vec::new();
        self.client.pull_blob(image, digest, &mut bytes).await?;
        Ok(bytes)
    }
}
