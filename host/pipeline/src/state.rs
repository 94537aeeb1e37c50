//! Stage-at-a-time runs: a state directory carries one run of a stream across processes (and
//! machines), so that `compose run STREAM --state DIR --only STAGE`, once per stage, publishes
//! the same release, byte for byte, as one `compose run STREAM`.
//!
//! A state directory is an OCI image layout holding the release as it stands after the stages
//! that ran (tagged with the release name: `compose info DIR` reads it), plus `journal.json`:
//! which stages ran, with which plugin and config digests, their findings, the signatures
//! stages attached and the public keys that verify them. Both are replaced together, all or
//! nothing, after the stages of one process ran; a process that fails leaves the state as it
//! was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use compose_payload::oci::sha256_digest;
use compose_payload::{Attachment, Release};
use compose_registry::{OciLayout, Reference, read_release_image};
use compose_stream::Stream;

use crate::error::{Error, Result};
use crate::report::StageReport;

mod check;
mod select;
pub use check::StreamInputs;
pub use select::may_run;
pub(crate) use select::{Selected, select};

/// The journal's file name inside a state directory.
pub const JOURNAL: &str = "journal.json";

/// The journal format version this build writes and reads.
/// Version 2 added [`Journal::inputs`]; a version 1 state is refused (start a new run).
pub const JOURNAL_VERSION: u32 = 2;

/// Which stages of the stream one process runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The first stage to run (default: the first that has not run in the state).
    pub from: Option<String>,
    /// The last stage to run (default: the stream's last stage).
    pub until: Option<String>,
}

impl Selection {
    /// Exactly one stage.
    pub fn only(stage: &str) -> Self {
        Selection {
            from: Some(stage.to_string()),
            until: Some(stage.to_string()),
        }
    }
}

/// A state directory and the stages to run against it.
#[derive(Debug, Clone)]
pub struct StateOptions {
    /// The state directory (created by the first process).
    pub dir: PathBuf,
    /// The stages this process runs.
    pub selection: Selection,
}

/// The record of one run carried across processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// [`JOURNAL_VERSION`].
    pub version: u32,
    /// The stream's name.
    pub stream: String,
    /// The release being composed.
    pub release: String,
    /// The base release as the stream names it.
    pub from: String,
    /// The base release's manifest digest.
    pub from_digest: String,
    /// The other stream fields that shape the release, as the first process read them: a
    /// later process refuses a stream that changed them (see [`Journal::check_matches`]).
    pub inputs: StreamInputs,
    /// `SOURCE_DATE_EPOCH` of the first process; every later process uses it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<u64>,
    /// The stages that ran (or were skipped), in stream order.
    pub stages: Vec<JournalStage>,
    /// Public keys of the stream's keys, by name, as the processes that signed loaded them
    /// (ASCII-armored OpenPGP or PEM): later processes verify signatures with them without
    /// the private keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub public_keys: BTreeMap<String, String>,
    /// What stages attached to the release (signatures, the host's verification report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<JournalAttachment>,
}

/// One stage in the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalStage {
    /// The stage name.
    pub stage: String,
    /// The plugin's component digest.
    pub plugin_digest: String,
    /// `sha256:` of the stage's config (JSON) as the stream gives it.
    pub config_digest: String,
    /// Why it was skipped, when it did not run (an optional key was absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// What it did, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<StageReport>,
    /// The release image digest after this stage, for the last stage of each process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_digest: Option<String>,
}

/// An attachment, base64-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalAttachment {
    /// Its kind (`signature-gpg`, …).
    pub kind: String,
    /// Its media type.
    pub media_type: String,
    /// Its bytes, base64.
    pub data: String,
}

impl JournalAttachment {
    fn from_attachment(a: &Attachment) -> Self {
        JournalAttachment {
            kind: a.kind.clone(),
            media_type: a.media_type.clone(),
            data: base64::engine::general_purpose::STANDARD.encode(&a.data),
        }
    }

    fn to_attachment(&self) -> Result<Attachment> {
        let data = base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .map_err(|e| {
                Error::State(format!(
                    "the journal's `{}` attachment is not base64: {e}",
                    self.kind
                ))
            })?;
        Ok(Attachment {
            kind: self.kind.clone(),
            media_type: self.media_type.clone(),
            data,
        })
    }
}

impl Journal {
    /// A journal for a run that has not run any stage yet.
    pub fn new(stream: &Stream, from_digest: &str, source_date_epoch: Option<u64>) -> Self {
        Journal {
            version: JOURNAL_VERSION,
            stream: stream.name.clone(),
            release: stream.release.clone(),
            from: stream.from.clone(),
            from_digest: from_digest.to_string(),
            inputs: StreamInputs::of(stream),
            source_date_epoch,
            stages: Vec::new(),
            public_keys: BTreeMap::new(),
            attachments: Vec::new(),
        }
    }

    /// The stage reports of the stages that ran, in order.
    pub fn reports(&self) -> Vec<StageReport> {
        self.stages
            .iter()
            .filter_map(|s| s.report.clone())
            .collect()
    }

    /// The journal as written into the state directory.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::State(format!("cannot write the journal: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Records the release's attachments (replacing what was recorded).
    pub(crate) fn set_attachments(&mut self, attachments: &[Attachment]) {
        self.attachments = attachments
            .iter()
            .map(JournalAttachment::from_attachment)
            .collect();
    }

    /// The recorded attachments.
    pub(crate) fn attachments(&self) -> Result<Vec<Attachment>> {
        self.attachments
            .iter()
            .map(JournalAttachment::to_attachment)
            .collect()
    }
}

/// What identifies a stage in the journal.
pub(crate) struct StageIdentity {
    pub stage: String,
    pub plugin_digest: String,
    pub config_digest: String,
}

impl StageIdentity {
    pub(crate) fn of(planned: &crate::plan::PlannedStage) -> Self {
        StageIdentity {
            stage: planned.stage.name.clone(),
            plugin_digest: planned.digest.clone(),
            config_digest: sha256_digest(planned.spec.config_json.as_bytes()),
        }
    }
}

/// A state directory as loaded: the release as it stands and the journal.
pub struct LoadedState {
    /// The release after the recorded stages, with its attachments.
    pub release: Release,
    /// The journal.
    pub journal: Journal,
    /// The digest of the state's release image.
    pub digest: String,
}

/// Loads the state directory `dir`; `None` when it does not exist or is empty (a run that has
/// not started).
pub fn load(dir: &Path) -> Result<Option<LoadedState>> {
    let io = |source| Error::Io {
        context: "reading the state directory".into(),
        path: dir.to_path_buf(),
        source,
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_none() {
                return Ok(None);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    }
    let journal_path = dir.join(JOURNAL);
    let text = match std::fs::read(&journal_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::State(format!(
                "`{}` is not empty and has no `{JOURNAL}`: it is not a compose state directory",
                dir.display()
            )));
        }
        Err(e) => return Err(io(e)),
    };
    let journal = parse_journal(&text, &journal_path, dir)?;
    let layout = OciLayout::open(dir).map_err(|source| Error::Registry {
        context: format!("opening the state `{}`", dir.display()),
        source: Box::new(source),
    })?;
    let reference = state_reference(&journal.release)?;
    let image = read_release_image(&layout, &reference).map_err(|source| Error::Registry {
        context: format!("reading the release from the state `{}`", dir.display()),
        source: Box::new(source),
    })?;
    let mut release = image.release;
    release.attachments = journal.attachments()?;
    Ok(Some(LoadedState {
        release,
        journal,
        digest: image.digest,
    }))
}

/// Reads a journal: its version first, so that a journal of another version is refused as
/// such (and not for a field it lacks or has).
fn parse_journal(text: &[u8], path: &Path, dir: &Path) -> Result<Journal> {
    /// Only the version, whatever else the journal holds.
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let not_a_journal = |e: serde_json::Error| {
        Error::State(format!(
            "`{}` is not a compose journal: {e}",
            path.display()
        ))
    };
    let versioned: Versioned = serde_json::from_slice(text).map_err(not_a_journal)?;
    if versioned.version != JOURNAL_VERSION {
        return Err(Error::State(format!(
            "`{}` has version {}; this compose reads version {JOURNAL_VERSION}: remove `{}` to start a new run",
            path.display(),
            versioned.version,
            dir.display()
        )));
    }
    serde_json::from_slice(text).map_err(not_a_journal)
}

/// How the state's release image is named inside its layout.
pub(crate) fn state_reference(release: &str) -> Result<Reference> {
    Reference::parse(&format!("localhost/state:{release}")).map_err(|source| Error::Registry {
        context: format!("naming the state image of release `{release}`"),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_round_trips_and_an_unknown_field_is_refused() {
        let journal = Journal {
            version: JOURNAL_VERSION,
            stream: "okd-scos".into(),
            release: "4.17.0-okd-scos.0".into(),
            from: "quay.io/openshift/okd:4.15".into(),
            from_digest: sha256_digest(b"base"),
            inputs: StreamInputs {
                created: Some("2024-03-01T00:00:00Z".into()),
                ..StreamInputs::default()
            },
            source_date_epoch: Some(1_700_000_000),
            stages: vec![JournalStage {
                stage: "sign".into(),
                plugin_digest: sha256_digest(b"wasm"),
                config_digest: sha256_digest(b"{}"),
                skipped: Some("optional key `release` is absent".into()),
                report: None,
                release_digest: None,
            }],
            public_keys: BTreeMap::new(),
            attachments: vec![JournalAttachment::from_attachment(&Attachment {
                kind: "signature-gpg".into(),
                media_type: "application/pgp-signature".into(),
                data: vec![0, 1, 2, 255],
            })],
        };
        let bytes = journal.to_json().unwrap();
        let back: Journal = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.to_json().unwrap(), bytes);
        assert_eq!(back.attachments().unwrap()[0].data, vec![0, 1, 2, 255]);
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace("\"version\": 2,", "\"version\": 2, \"surprise\": true,");
        assert!(serde_json::from_str::<Journal>(&text).is_err());
    }

    #[test]
    fn stage_timings_serialise_stably() {
        // A journal read back and written again must be the same bytes, whatever the
        // timings (a retried process compares them).
        for micros in (0..20_000u64).chain([228_057, 228_056_999, u64::from(u32::MAX)]) {
            let ms = crate::events::millis(std::time::Duration::from_micros(micros));
            let report = StageReport {
                stage: "select".into(),
                plugin: "builtin:select-images".into(),
                digest: sha256_digest(b"wasm"),
                instantiate_millis: ms,
                run_millis: ms * 3.0,
                findings: Vec::new(),
            };
            let first = serde_json::to_string(&report).unwrap();
            let back: StageReport = serde_json::from_str(&first).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), first, "{micros} us");
        }
    }

    #[test]
    fn a_directory_that_is_not_a_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&dir.path().join("missing")).unwrap().is_none());
        assert!(load(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("is not a compose state directory"), "{err}");
    }

    #[test]
    fn a_journal_of_another_version_is_refused_naming_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        // A version 1 journal: no `inputs`, which this version requires.
        std::fs::write(
            dir.path().join(JOURNAL),
            r#"{"version": 1, "stream": "okd-scos", "release": "4.17.0-okd-scos.0",
                "from": "quay.io/openshift/okd:4.15", "from_digest": "sha256:00", "stages": []}"#,
        )
        .unwrap();
        let err = load(dir.path()).err().unwrap().to_string();
        assert_eq!(
            err,
            format!(
                "`{}` has version 1; this compose reads version 2: remove `{}` to start a new run",
                dir.path().join(JOURNAL).display(),
                dir.path().display()
            )
        );
    }
}
