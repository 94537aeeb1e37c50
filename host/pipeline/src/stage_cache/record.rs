//! The registry answers a stage got: recorded while it runs, asked again before its entry is
//! reused (from memory: the run read every component image ahead).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use compose_runtime::RegistryQuery;

/// One query and the sha256 (hex) of its answer (an error answer included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Query {
    /// `resolve` or `image-config`.
    pub kind: String,
    /// The reference asked about.
    pub reference: String,
    /// sha256 hex of the answer.
    pub answer: String,
}

/// The digest of one answer: `ok` or `err` and the text.
fn answer_digest(answer: &Result<String, String>) -> String {
    let mut hasher = Sha256::new();
    match answer {
        Ok(text) => {
            hasher.update(b"ok\0");
            hasher.update(text.as_bytes());
        }
        Err(text) => {
            hasher.update(b"err\0");
            hasher.update(text.as_bytes());
        }
    }
    hex::encode(hasher.finalize())
}

/// Asks `registry` one query.
fn ask(
    registry: &dyn RegistryQuery,
    kind: &str,
    reference: &str,
) -> Option<Result<String, String>> {
    match kind {
        "resolve" => Some(registry.resolve(reference)),
        "image-config" => Some(registry.image_config(reference)),
        _ => None,
    }
}

/// (kind, reference) → answer digest; `None` once one query got two different answers.
type Seen = Option<BTreeMap<(String, String), String>>;

/// A registry that records what it is asked and what it answers: for the whole stage, and
/// for the part of a check in parts that runs (between [`Recording::begin_part`] and
/// [`Recording::part_queries`]).
pub(crate) struct Recording {
    inner: Arc<dyn RegistryQuery>,
    seen: Mutex<Seen>,
    /// The running part's queries; `None` when no part runs.
    part: Mutex<Option<Seen>>,
}

impl Recording {
    /// Records the queries `inner` answers.
    pub fn new(inner: Arc<dyn RegistryQuery>) -> Self {
        Recording {
            inner,
            seen: Mutex::new(Some(BTreeMap::new())),
            part: Mutex::new(None),
        }
    }

    fn note(&self, kind: &str, reference: &str, answer: &Result<String, String>) {
        let digest = answer_digest(answer);
        if let Ok(mut seen) = self.seen.lock() {
            note_in(&mut seen, kind, reference, &digest);
        }
        if let Ok(mut part) = self.part.lock()
            && let Some(seen) = part.as_mut()
        {
            note_in(seen, kind, reference, &digest);
        }
    }

    /// The queries, sorted; `None` when an answer changed during the run (nothing to rely
    /// on: the stage is not recorded).
    pub fn queries(&self) -> Option<Vec<Query>> {
        let seen = self.seen.lock().ok()?;
        listed(&seen)
    }

    /// A part starts running: its queries are recorded apart, too.
    pub fn begin_part(&self) {
        if let Ok(mut part) = self.part.lock() {
            *part = Some(Some(BTreeMap::new()));
        }
    }

    /// The queries of the part that ran since [`Recording::begin_part`], sorted; `None` when
    /// an answer changed meanwhile or no part was begun. Ends the part.
    pub fn part_queries(&self) -> Option<Vec<Query>> {
        let seen = self.part.lock().ok()?.take()?;
        listed(&seen)
    }
}

/// Notes one answer in `seen`.
fn note_in(seen: &mut Seen, kind: &str, reference: &str, digest: &str) {
    let Some(map) = seen.as_mut() else { return };
    let key = (kind.to_string(), reference.to_string());
    match map.get(&key) {
        Some(old) if old != digest => *seen = None,
        Some(_) => {}
        None => {
            map.insert(key, digest.to_string());
        }
    }
}

/// The queries of `seen`, sorted; `None` when an answer changed.
fn listed(seen: &Seen) -> Option<Vec<Query>> {
    Some(
        seen.as_ref()?
            .iter()
            .map(|((kind, reference), answer)| Query {
                kind: kind.clone(),
                reference: reference.clone(),
                answer: answer.clone(),
            })
            .collect(),
    )
}

impl RegistryQuery for Recording {
    fn resolve(&self, reference: &str) -> Result<String, String> {
        let answer = self.inner.resolve(reference);
        self.note("resolve", reference, &answer);
        answer
    }

    fn image_config(&self, reference: &str) -> Result<String, String> {
        let answer = self.inner.image_config(reference);
        self.note("image-config", reference, &answer);
        answer
    }

    fn answers_at_hand(&self, query: compose_runtime::RegistryQueryKind, reference: &str) -> bool {
        self.inner.answers_at_hand(query, reference)
    }
}

/// Fewer queries than this are asked again on the caller's thread.
const ASKED_ON_ONE_THREAD: usize = 64;

/// Whether `registry` still gives every recorded answer. Many queries (a `select` at 10x the
/// sample asks 1,881) are asked on up to 4 threads: each is a read and two hashes, or a
/// request to a registry.
pub(crate) fn same_answers(registry: &dyn RegistryQuery, queries: &[Query]) -> bool {
    let same = |q: &Query| {
        ask(registry, &q.kind, &q.reference).is_some_and(|a| answer_digest(&a) == q.answer)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if queries.len() < ASKED_ON_ONE_THREAD || threads < 2 {
        return queries.iter().all(same);
    }
    let share = queries.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let asked: Vec<_> = queries
            .chunks(share)
            .map(|chunk| scope.spawn(move || chunk.iter().all(same)))
            .collect();
        // Every thread is joined (a panicking one counts as a changed answer; an unjoined
        // one would panic the scope).
        let mut all = true;
        for thread in asked {
            all &= thread.join().unwrap_or(false);
        }
        all
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    struct Fixed(Mutex<String>);

    impl RegistryQuery for Fixed {
        fn resolve(&self, reference: &str) -> Result<String, String> {
            if reference.contains("missing") {
                return Err("not found".into());
            }
            Ok(self.0.lock().unwrap().clone())
        }
        fn image_config(&self, _reference: &str) -> Result<String, String> {
            Ok("{}".into())
        }
    }

    #[test]
    fn answers_are_recorded_and_checked_again() {
        let registry = Arc::new(Fixed(Mutex::new("sha256:aa".into())));
        let recording = Recording::new(registry.clone());
        recording.resolve("quay.io/okd/a:1").unwrap();
        recording.resolve("quay.io/okd/a:1").unwrap();
        recording.resolve("quay.io/okd/missing:1").unwrap_err();
        recording.image_config("quay.io/okd/a:1").unwrap();
        let queries = recording.queries().unwrap();
        assert_eq!(queries.len(), 3);
        assert!(same_answers(registry.as_ref(), &queries));
        *registry.0.lock().unwrap() = "sha256:bb".into();
        assert!(!same_answers(registry.as_ref(), &queries));
    }

    #[test]
    fn a_part_records_its_own_queries_and_the_stage_all() {
        let registry = Arc::new(Fixed(Mutex::new("sha256:aa".into())));
        let recording = Recording::new(registry.clone());
        recording.resolve("quay.io/okd/a:1").unwrap();
        assert!(recording.part_queries().is_none(), "no part was begun");
        recording.begin_part();
        recording.resolve("quay.io/okd/b:1").unwrap();
        recording.image_config("quay.io/okd/b:1").unwrap();
        let part = recording.part_queries().unwrap();
        let refs: Vec<(&str, &str)> = part
            .iter()
            .map(|q| (q.kind.as_str(), q.reference.as_str()))
            .collect();
        assert_eq!(
            refs,
            [
                ("image-config", "quay.io/okd/b:1"),
                ("resolve", "quay.io/okd/b:1")
            ]
        );
        recording.resolve("quay.io/okd/c:1").unwrap();
        assert!(recording.part_queries().is_none(), "the part ended");
        assert_eq!(recording.queries().unwrap().len(), 4);
    }

    #[test]
    fn many_answers_are_checked_on_several_threads_and_one_change_is_found() {
        let registry = Arc::new(Fixed(Mutex::new("sha256:aa".into())));
        let recording = Recording::new(registry.clone());
        for i in 0..500 {
            recording.resolve(&format!("quay.io/okd/a:{i}")).unwrap();
        }
        let mut queries = recording.queries().unwrap();
        assert_eq!(queries.len(), 500);
        assert!(same_answers(registry.as_ref(), &queries));
        queries[377].answer = answer_digest(&Ok("sha256:bb".into()));
        assert!(!same_answers(registry.as_ref(), &queries));
    }

    #[test]
    fn an_answer_that_changes_during_the_run_records_nothing() {
        let registry = Arc::new(Fixed(Mutex::new("sha256:aa".into())));
        let recording = Recording::new(registry.clone());
        recording.resolve("quay.io/okd/a:1").unwrap();
        *registry.0.lock().unwrap() = "sha256:bb".into();
        recording.resolve("quay.io/okd/a:1").unwrap();
        assert!(recording.queries().is_none());
    }
}
