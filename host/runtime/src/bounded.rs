//! Host calls bounded by the stage's deadline.
//!
//! A stage's time limit is enforced in the guest by epoch interruption, but a host call (a
//! registry query, a signature, a payload digest) runs in the host, where the epoch cannot stop
//! it: a registry that accepts a connection and never answers would hold the stage for as long
//! as the network allows. So the services a stage gets are wrapped: each call runs on the
//! stage's host-call thread, and the stage waits for it no later than its deadline. A call
//! still blocked then is abandoned with its thread (which ends with the process, or when the
//! call returns), and the stage is reported as past its time limit. The thread is started at
//! the first call and serves the stage's calls one after another: a stage makes thousands at
//! 10x (`select` and `test` ask for 1,881 configs each), and starting a thread for each was
//! most of `select`'s time on a loaded machine (BENCHMARKS.md, "Reruns"). A registry query
//! whose answer is at hand ([`RegistryQuery::answers_at_hand`]: in memory, or in a mirror on
//! local disk) is answered on the stage's thread, still refused past the deadline: it waits
//! for no registry, and the hand-over to the host-call thread and back was most of its cost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use compose_payload::Release;

use crate::capability::HostServices;
use crate::capability::registry::{Query, RegistryQuery};
use crate::capability::signer::{SignatureFormat, Signer};

/// A host call, as the host-call thread runs it.
type Job = Box<dyn FnOnce() + Send>;

/// The deadline of one stage run, shared by its bounded services.
#[derive(Clone)]
pub(crate) struct Deadline {
    at: Instant,
    /// Set when a host call was abandoned at the deadline.
    expired: Arc<AtomicBool>,
    /// Where calls go to the stage's host-call thread, once started; `None` again when a call
    /// on it was abandoned.
    worker: Arc<Mutex<Option<mpsc::Sender<Job>>>>,
}

impl Deadline {
    /// A deadline at `at`.
    pub fn new(at: Instant) -> Self {
        Deadline {
            at,
            expired: Arc::new(AtomicBool::new(false)),
            worker: Arc::default(),
        }
    }

    /// Forgets the host-call thread: the next call starts another.
    fn forget_worker(&self) {
        if let Ok(mut worker) = self.worker.lock() {
            *worker = None;
        }
    }

    /// Hands `job` to the host-call thread, starting one when there is none (or it is gone).
    fn submit(&self, what: &str, job: Job) -> Result<(), String> {
        let mut worker = self
            .worker
            .lock()
            .map_err(|_| format!("{what} failed in the host"))?;
        let job = match worker.as_ref() {
            Some(sender) => match sender.send(job) {
                Ok(()) => return Ok(()),
                // The thread is gone (a call panicked on it): start another.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("compose-host-call".into())
            .spawn(move || {
                for job in receiver {
                    job();
                }
            })
            .map_err(|e| format!("{what}: cannot start a host thread: {e}"))?;
        sender
            .send(job)
            .map_err(|_| format!("{what} failed in the host"))?;
        *worker = Some(sender);
        Ok(())
    }

    /// Whether a host call was stopped by the deadline.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }

    /// Runs `work`, whose answer is at hand (it waits for nothing), on the calling thread,
    /// unless the deadline has passed.
    fn inline<T>(&self, what: &str, work: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        if Instant::now() >= self.at {
            self.expired.store(true, Ordering::Relaxed);
            return Err(format!(
                "{what} did not finish before the stage's time limit"
            ));
        }
        work()
    }

    /// Runs `work` on the host-call thread and waits for it until the deadline.
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
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(
            what,
            Box::new(move || {
                let _ = tx.send(work());
            }),
        )?;
        match rx.recv_timeout(remaining) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                // The thread is busy with this call: later calls (none, past the deadline)
                // would start another.
                self.forget_worker();
                Err(past())
            }
            Err(RecvTimeoutError::Disconnected) => {
                // The call panicked and took the thread with it: the next call starts another
                // (before the thread is gone, a call sent to it would be lost).
                self.forget_worker();
                Err(format!("{what} failed in the host"))
            }
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

/// Queries whose answers are at hand (memory, a mirror on local disk) are answered on the
/// stage's thread: handing each to the host-call thread and back cost about 65 µs, 125 ms of
/// `select` at 10x (BENCHMARKS.md). Only a query that may wait for a registry is bounded.
impl RegistryQuery for BoundedRegistry {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        let what = format!("resolving `{reference}`");
        if self.inner.answers_at_hand(Query::Resolve, reference) {
            return self
                .deadline
                .inline(&what, || self.inner.resolve(reference));
        }
        let (inner, reference) = (self.inner.clone(), reference.to_string());
        self.deadline.call(&what, move || inner.resolve(&reference))
    }

    fn image_config(&self, reference: &str) -> Result<String, String> {
        let what = format!("reading the image config of `{reference}`");
        if self.inner.answers_at_hand(Query::ImageConfig, reference) {
            return self
                .deadline
                .inline(&what, || self.inner.image_config(reference));
        }
        let (inner, reference) = (self.inner.clone(), reference.to_string());
        self.deadline
            .call(&what, move || inner.image_config(&reference))
    }

    fn answers_at_hand(&self, query: Query, reference: &str) -> bool {
        self.inner.answers_at_hand(query, reference)
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

    /// A registry whose first `resolve` panics.
    struct PanicsOnce(AtomicBool);

    impl RegistryQuery for PanicsOnce {
        fn resolve(&self, _: &str) -> Result<String, String> {
            if !self.0.swap(true, Ordering::SeqCst) {
                panic!("the first call panics");
            }
            Ok(format!("{:?}", std::thread::current().id()))
        }
        fn image_config(&self, _: &str) -> Result<String, String> {
            Ok(format!("{:?}", std::thread::current().id()))
        }
    }

    #[test]
    fn calls_share_one_thread_and_a_call_that_panics_loses_only_itself() {
        let deadline = Deadline::new(Instant::now() + Duration::from_secs(30));
        let registry = BoundedRegistry {
            inner: Arc::new(PanicsOnce(AtomicBool::new(false))),
            deadline: deadline.clone(),
        };
        let err = registry.resolve("quay.io/okd/x:y").unwrap_err();
        assert!(err.contains("failed in the host"), "{err}");
        let first = registry.resolve("quay.io/okd/x:y").unwrap();
        let second = registry.image_config("quay.io/okd/x:y").unwrap();
        assert_eq!(first, second, "two calls ran on two threads");
        assert_ne!(first, format!("{:?}", std::thread::current().id()));
        assert!(!deadline.expired());
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

    /// A registry whose answers under `local/` are at hand; it answers with the thread that
    /// asked.
    struct PartlyLocal;

    impl RegistryQuery for PartlyLocal {
        fn resolve(&self, _: &str) -> Result<String, String> {
            Ok(format!("{:?}", std::thread::current().id()))
        }
        fn image_config(&self, reference: &str) -> Result<String, String> {
            self.resolve(reference)
        }
        fn answers_at_hand(&self, _: Query, reference: &str) -> bool {
            reference.starts_with("local/")
        }
    }

    #[test]
    fn answers_at_hand_are_given_on_the_stage_thread_until_the_deadline() {
        let here = format!("{:?}", std::thread::current().id());
        let deadline = Deadline::new(Instant::now() + Duration::from_millis(300));
        let registry = BoundedRegistry {
            inner: Arc::new(PartlyLocal),
            deadline: deadline.clone(),
        };
        assert_eq!(registry.resolve("local/okd/x:y").unwrap(), here);
        assert_eq!(registry.image_config("local/okd/x:y").unwrap(), here);
        assert_ne!(registry.resolve("quay.io/okd/x:y").unwrap(), here);
        assert!(!deadline.expired());
        std::thread::sleep(Duration::from_millis(350));
        let err = registry.image_config("local/okd/x:y").unwrap_err();
        assert!(err.contains("time limit"), "{err}");
        assert!(deadline.expired());
    }

    /// A signer that answers after `delay`.
    struct SlowSigner(Duration);

    impl Signer for SlowSigner {
        fn sign(&self, _: &str, _: SignatureFormat, _: &[u8]) -> Result<Vec<u8>, String> {
            std::thread::sleep(self.0);
            Ok(b"signature".to_vec())
        }
        fn public_key(&self, _: &str, _: SignatureFormat) -> Result<String, String> {
            std::thread::sleep(self.0);
            Ok("key".into())
        }
    }

    #[test]
    fn a_signature_past_the_deadline_is_abandoned_at_the_deadline() {
        let deadline = Deadline::new(Instant::now() + Duration::from_millis(200));
        let signer = BoundedSigner {
            inner: Arc::new(SlowSigner(Duration::from_secs(30))),
            deadline: deadline.clone(),
        };
        let started = Instant::now();
        let err = signer
            .sign("release", SignatureFormat::Cosign, b"x")
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
        assert!(err.contains("signing with key `release`"), "{err}");
        assert!(err.contains("time limit"), "{err}");
        assert!(deadline.expired());
        let quick = BoundedSigner {
            inner: Arc::new(SlowSigner(Duration::from_millis(1))),
            deadline: Deadline::new(Instant::now() + Duration::from_secs(30)),
        };
        assert_eq!(
            quick
                .public_key("release", SignatureFormat::OpenPgp)
                .unwrap(),
            "key"
        );
    }
}
