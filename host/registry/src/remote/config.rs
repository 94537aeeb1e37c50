//! How compose talks to registries: credentials, plain HTTP or TLS per host, retries and
//! deadlines ([`RemoteConfig`]).

use std::time::Duration;

use crate::auth::AuthStore;

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
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A registry may stay silent at most this long while answering (or the request timeout, if
/// shorter).
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(60);

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
