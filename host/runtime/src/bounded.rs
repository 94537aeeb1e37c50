//! Host calls bounded by the stage's deadline.
//!
//! A stage's time limit is enforced in the guest by epoch interruption, but a host call (a
//! registry query, a signature, a payload digest) runs in the host, where the epoch cannot stop
//! it: a registry that accepts a connection and never answers would hold the stage for as long
//! as the network allows. So the services a stage gets are wrapped: each call runs on a thread
//! of its own, and the stage waits for it no later than its deadline. A call still blocked then
//! is abandoned (its thread ends with the process, or when the call returns) and the stage is
//! reported as past its time limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Instant;

use compose_payload::Release;

use crate::host::{HostServices, RegistryQuery, SignatureFormat, Signer};

/// The deadline of one stage run, shared by its bounded services.
#[derive(Clone)]
pub(crate) struct Deadline {
    at: Instant,
    /// Set when a host call was abandoned at the deadline.
    expired: Arc<AtomicBool>,
}

impl Deadline {
    /// A deadline at `at`.
    pub fn new(at: Instant) -> Self {
        Deadline {
            at,
            expired: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether a host call was stopped by the deadline.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }

    /// Runs `work` on a thread of its own and waits for it until the deadline.
    fn call<T: Send + 'static>(
        &self,
        what: &str,
        work: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let past = || {
            self.expired.store(true, Ordering::Relaxed);
            format!("{what} did not finish before the stage's time limit")
        };
        let remaining = self.at.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(past());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("compose-host-call".into())
            .spawn(move || {
                let _ = tx.send(work());
            })
            .map_err(|e| format!("{what}: cannot start a host thread: {e}"))?;
        match rx.recv_timeout(remaining) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(past()),
            Err(RecvTimeoutError::Disconnected) => Err(format!("{what} failed in the host")),
        }
    }

    /// `services`, each call bounded by this deadline.
    pub fn bound(&self, services: HostServices) -> HostServices {
        let digest = services.digest.clone();
        let deadline = self.clone();
        HostServices {
            registry: Arc::new(BoundedRegistry {
                inner: services.registry,
                deadline: self.clone(),
            }),
            signer: Arc::new(BoundedSigner {
                inner: services.signer,
                deadline: self.clone(),
            }),
            digest: Arc::new(move |release: &Release| {
                let digest = digest.clone();
                let release = release.clone();
                deadline.call("computing the payload digest", move || digest(&release))
            }),
        }
    }
}

struct BoundedRegistry {
    inner: Arc<dyn RegistryQuery>,
    deadline: Deadline,
}

impl RegistryQuery for BoundedRegistry {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        let (inner, reference) = (self.inner.clone(), reference.to_string());
        let what = format!("resolving `{reference}`");
        self.deadline.call(&what, move || inner.resolve(&reference))
    }

    fn image_config(&self, reference: &str) -> Result<String, String> {
        let (inner, reference) = (self.inner.clone(), reference.to_string());
        let what = format!("reading the image config of `{reference}`");
        self.deadline
            .call(&what, move || inner.image_config(&reference))
    }
}

struct BoundedSigner {
    inner: Arc<dyn Signer>,
    deadline: Deadline,
}

impl Signer for BoundedSigner {
    fn sign(&self, key: &str, format: SignatureFormat, data: &[u8]) -> Result<Vec<u8>, String> {
        let (inner, key, data) = (self.inner.clone(), key.to_string(), data.to_vec());
        let what = format!("signing with key `{key}`");
        self.deadline
            .call(&what, move || inner.sign(&key, format, &data))
    }

    fn public_key(&self, key: &str, format: SignatureFormat) -> Result<String, String> {
        let (inner, key) = (self.inner.clone(), key.to_string());
        let what = format!("reading the public key `{key}`");
        self.deadline
            .call(&what, move || inner.public_key(&key, format))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A registry that answers after `delay`.
    struct Slow(Duration);

    impl RegistryQuery for Slow {
        fn resolve(&self, _: &str) -> Result<String, String> {
            std::thread::sleep(self.0);
            Ok("sha256:slow".into())
        }
        fn image_config(&self, _: &str) -> Result<String, String> {
            Err("no config".into())
        }
    }

    #[test]
    fn a_call_past_the_deadline_is_abandoned_at_the_deadline() {
        let deadline = Deadline::new(Instant::now() + Duration::from_millis(200));
        let registry = BoundedRegistry {
            inner: Arc::new(Slow(Duration::from_secs(30))),
            deadline: deadline.clone(),
        };
        let started = Instant::now();
        let err = registry.resolve("quay.io/okd/x:y").unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
        assert!(err.contains("time limit"), "{err}");
        assert!(deadline.expired());
        // Once past, every call fails at once.
        let started = Instant::now();
        assert!(registry.image_config("quay.io/okd/x:y").is_err());
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn a_call_within_the_deadline_returns_its_answer() {
        let deadline = Deadline::new(Instant::now() + Duration::from_secs(30));
        let registry = BoundedRegistry {
            inner: Arc::new(Slow(Duration::from_millis(10))),
            deadline: deadline.clone(),
        };
        assert_eq!(registry.resolve("quay.io/okd/x:y").unwrap(), "sha256:slow");
        assert_eq!(
            registry.image_config("quay.io/okd/x:y").unwrap_err(),
            "no config"
        );
        assert!(!deadline.expired());
    }
}
