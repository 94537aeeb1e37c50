//! Whether a state directory belongs to the stream a process was given: the journal records
//! every stream field a process of the run reads, and a later process refuses a stream that
//! changed any of them.
//!
//! Recorded: the stream's `name`, `release` and `from` (in [`Journal`] itself), and in
//! [`StreamInputs`] `to`, `previous`, `metadata`, `created` and `signature-store` (the first
//! process reads `previous`, `metadata` and `created` into the release; signing stages and the
//! publishing process read `to` and `signature-store`), then every stage that ran, with its
//! plugin and config. Not recorded, on purpose: where a machine finds things (the
//! `[registries]` mirrors, the keys' sources, granted host directories), which may differ from
//! one machine to the next, and `description`, which no process reads.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use compose_stream::Stream;

use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::state::{Journal, StageIdentity};

/// The stream fields, besides its name, release and base, that shape the release a run
/// publishes, as the first process of the run read them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StreamInputs {
    /// `to`: the reference signatures name and the lookaside copies use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `previous`, as written into the release metadata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<String>,
    /// `metadata`, as written into the release metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// `created`, the release's creation time (unless `SOURCE_DATE_EPOCH` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `signature-store`, what signing stages are told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_store: Option<String>,
}

impl StreamInputs {
    /// The fields as `stream` gives them.
    pub fn of(stream: &Stream) -> Self {
        StreamInputs {
            to: stream.to.clone(),
            previous: stream.previous.clone(),
            metadata: stream.metadata.clone(),
            created: stream.created.clone(),
            signature_store: stream.signature_store.clone(),
        }
    }

    /// The first field (by its name in the stream file) whose value differs in `now`, with
    /// both values when they are short enough to print.
    fn first_change(&self, now: &StreamInputs) -> Option<(&'static str, Option<(String, String)>)> {
        let scalar = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".to_string());
        if self.to != now.to {
            return Some(("to", Some((scalar(&self.to), scalar(&now.to)))));
        }
        if self.created != now.created {
            return Some((
                "created",
                Some((scalar(&self.created), scalar(&now.created))),
            ));
        }
        if self.signature_store != now.signature_store {
            return Some((
                "signature-store",
                Some((scalar(&self.signature_store), scalar(&now.signature_store))),
            ));
        }
        let mut previous = (self.previous.clone(), now.previous.clone());
        previous.0.sort();
        previous.1.sort();
        if previous.0 != previous.1 {
            return Some(("previous", None));
        }
        if self.metadata != now.metadata {
            return Some(("metadata", None));
        }
        None
    }
}

impl Journal {
    /// Checks that this journal belongs to `plan`'s stream: same stream, release and base,
    /// the same [`StreamInputs`], and every stage it recorded is the stream's stage at that
    /// position, with the same plugin and config. A state made by another stream, or before
    /// the stream changed, is refused, naming what changed and the state directory.
    pub fn check_matches(&self, plan: &Plan, dir: &Path) -> Result<()> {
        let stream = &plan.stream;
        let fresh = || format!("remove `{}` to start a new run", dir.display());
        for (what, recorded, now) in [
            ("stream", &self.stream, &stream.name),
            ("release", &self.release, &stream.release),
            ("base release", &self.from, &stream.from),
        ] {
            if recorded != now {
                return Err(Error::State(format!(
                    "the state `{}` is for {what} `{recorded}`, the stream says `{now}`; {}",
                    dir.display(),
                    fresh()
                )));
            }
        }
        if let Some((field, values)) = self.inputs.first_change(&StreamInputs::of(stream)) {
            return Err(Error::State(match values {
                Some((recorded, now)) => format!(
                    "the state `{}` was made with the stream's `{field}` `{recorded}`, the stream now says `{now}`; {}",
                    dir.display(),
                    fresh()
                ),
                None => format!(
                    "the stream's `{field}` changed since the state `{}` was made; {}",
                    dir.display(),
                    fresh()
                ),
            }));
        }
        if self.stages.len() > plan.stages.len() {
            return Err(Error::State(format!(
                "the state `{}` records {} stages, the stream has {}; {}",
                dir.display(),
                self.stages.len(),
                plan.stages.len(),
                fresh()
            )));
        }
        for (recorded, planned) in self.stages.iter().zip(&plan.stages) {
            let now = StageIdentity::of(planned);
            if recorded.stage != now.stage {
                return Err(Error::State(format!(
                    "the state `{}` ran stage `{}` where the stream now has `{}`; {}",
                    dir.display(),
                    recorded.stage,
                    now.stage,
                    fresh()
                )));
            }
            if recorded.plugin_digest != now.plugin_digest {
                return Err(Error::State(format!(
                    "stage `{}` ran in the state `{}` with plugin {}, the stream's plugin is now {}; {}",
                    now.stage,
                    dir.display(),
                    recorded.plugin_digest,
                    now.plugin_digest,
                    fresh()
                )));
            }
            if recorded.config_digest != now.config_digest {
                return Err(Error::State(format!(
                    "stage `{}` ran in the state `{}` with another config ({}, now {}); {}",
                    now.stage,
                    dir.display(),
                    recorded.config_digest,
                    now.config_digest,
                    fresh()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Stream {
        Stream {
            path: "streams/scos.toml".into(),
            name: "okd-scos".into(),
            release: "4.17.0-okd-scos.0".into(),
            from: "quay.io/openshift/okd:4.15".into(),
            to: Some("quay.io/okd/scos-release:4.17.0-okd-scos.0".into()),
            description: Some("OKD on SCOS".into()),
            previous: vec!["4.16.0-okd-scos.1".into(), "4.16.0-okd-scos.0".into()],
            metadata: BTreeMap::from([("url".to_string(), serde_json::json!("https://a"))]),
            created: None,
            signature_store: Some("https://okd-scos.example.org/signatures".into()),
            mirrors: Vec::new(),
            remotes: Vec::new(),
            keys: BTreeMap::new(),
            trust: None,
            stages: Vec::new(),
        }
    }

    /// The error `check_matches` gives for a journal of `stream()` when the stream is now
    /// `changed`, or `None` when it accepts it.
    fn refusal(changed: impl FnOnce(&mut Stream)) -> Option<String> {
        let journal = Journal::new(&stream(), "sha256:base", None);
        let mut now = stream();
        changed(&mut now);
        let plan = Plan {
            stream: now,
            stages: Vec::new(),
        };
        journal
            .check_matches(&plan, Path::new("/tmp/state"))
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn every_field_a_process_reads_is_checked_and_named() {
        assert_eq!(refusal(|_| {}), None);
        assert_eq!(
            refusal(|s| s.created = Some("2024-03-01T00:00:00Z".into())).as_deref(),
            Some(
                "the state `/tmp/state` was made with the stream's `created` `(not set)`, the stream now says `2024-03-01T00:00:00Z`; remove `/tmp/state` to start a new run"
            )
        );
        assert_eq!(
            refusal(|s| {
                s.metadata
                    .insert("url".into(), serde_json::json!("https://b"));
            })
            .as_deref(),
            Some(
                "the stream's `metadata` changed since the state `/tmp/state` was made; remove `/tmp/state` to start a new run"
            )
        );
        let named = |field: &str, change: fn(&mut Stream)| {
            let err = refusal(change).unwrap_or_else(|| panic!("a changed `{field}` is accepted"));
            assert!(err.contains(field), "{field}: {err}");
            assert!(err.contains("`/tmp/state`"), "{field}: {err}");
        };
        named("`to`", |s| s.to = None);
        named("`signature-store`", |s| {
            s.signature_store = Some("https://elsewhere.example.org/signatures".into())
        });
        named("`previous`", |s| {
            s.previous.push("4.16.0-okd-scos.2".into())
        });
        named("`metadata`", |s| s.metadata.clear());
        named("for release", |s| s.release = "4.17.0-okd-scos.1".into());
        named("for base release", |s| {
            s.from = "quay.io/openshift/okd:4.16".into()
        });
    }

    #[test]
    fn where_a_machine_finds_things_may_differ() {
        // Another machine: the stream file elsewhere, another mirror, no description; the
        // same `previous` in another order.
        assert_eq!(
            refusal(|s| {
                s.path = "/elsewhere/scos.toml".into();
                s.description = None;
                s.mirrors.push(compose_stream::Mirror {
                    prefix: "quay.io".into(),
                    path: "/mnt/mirror".into(),
                });
                s.previous.reverse();
            }),
            None
        );
    }

    #[test]
    fn the_inputs_round_trip_in_the_journal() {
        let mut stream = stream();
        stream.created = Some("2024-03-01T00:00:00Z".into());
        let journal = Journal::new(&stream, "sha256:base", Some(1));
        let bytes = journal.to_json().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\"signature-store\": \"https://okd-scos.example.org/signatures\""),
            "{text}"
        );
        let back: Journal = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.inputs, StreamInputs::of(&stream));
        assert_eq!(back.to_json().unwrap(), bytes);
    }
}
