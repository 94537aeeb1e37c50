//! How a failed registry request is judged: not found, refused, worth another attempt (now or
//! after a pause), or final; and how it reads in messages.

use std::time::Duration;

use oci_client::errors::{OciDistributionError, OciErrorCode};

use super::{CONNECT_TIMEOUT, READ_TIMEOUT};

/// How one failed attempt is handled.
pub(super) enum Failure {
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
pub(super) const RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// `2s`, `1.5s`: a duration for messages.
pub(super) fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}s")
    } else {
        format!("{secs:.1}s")
    }
}

/// The message of an error and its causes, `: `-separated.
pub(super) fn chain(error: &dyn std::error::Error) -> String {
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

pub(super) fn classify(error: &OciDistributionError) -> Failure {
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
