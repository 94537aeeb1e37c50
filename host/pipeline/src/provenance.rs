//! The provenance of every published release: an in-toto statement with the SLSA Provenance
//! v1 predicate naming what the release was composed from (the stream file, the base release,
//! every stage's plugin, config, grants and limits, `SOURCE_DATE_EPOCH`) and by what (this
//! binary, by digest).
//!
//! It is signed, as a DSSE envelope, with the stream's cosign-format key granted to a stage
//! (the first such key of the first stage granted one, normally the `sign` stage's `cosign`
//! key; the key stays in the host) and published as a cosign attestation (`sha256-<hex>.att`)
//! in the output layout. The statement, and the envelope when signed, are also written as
//! files at the top of the output, beside `signatures/`: `provenance.json` and
//! `provenance.dsse.json`. A run without such a key still writes the statement, unsigned, and
//! says so.
//!
//! Everything but `runDetails.metadata` (start and end times) is deterministic.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Instant, SystemTime};

use serde::Serialize;

use compose_payload::oci::sha256_digest;
use compose_payload::timestamp::format_rfc3339_utc;
use compose_registry::{OciLayout, Reference};
use compose_signing::PrivateKey;
use compose_signing::provenance::{
    BuildDefinition, BuildMetadata, Builder, Provenance, ResourceDescriptor, SLSA_PROVENANCE_V1,
    Statement,
};
use compose_signing::publish::write_attestation;
use compose_stream::PluginRef;

use crate::error::{Error, Result};
use crate::events::{Event, Observer, millis};
use crate::lock::Lock;
use crate::plan::Plan;
use crate::signing::RunKeys;
use crate::state::Journal;

/// `buildDefinition.buildType` of a `compose run`.
pub const BUILD_TYPE: &str = "https://github.com/okd-project/compose/provenance/run/v1";
/// `runDetails.builder.id` of compose.
pub const BUILDER_ID: &str = "https://github.com/okd-project/compose";
/// The statement's file name beside the signatures.
pub const STATEMENT_FILE: &str = "provenance.json";
/// The signed envelope's file name beside the signatures.
pub const ENVELOPE_FILE: &str = "provenance.dsse.json";

/// The resolved dependency naming the base release.
pub const BASE_DEPENDENCY: &str = "base";

/// The resolved dependency naming `stage`'s plugin component.
pub fn component_dependency(stage: &str) -> String {
    format!("stage/{stage}/component")
}

/// The resolved dependency naming `stage`'s plugin artifact (`oci://` plugins).
pub fn artifact_dependency(stage: &str) -> String {
    format!("stage/{stage}/artifact")
}

/// What was written about the provenance of a release.
#[derive(Debug, Clone, Serialize)]
pub struct ProvenanceOutcome {
    /// The statement file, relative to the output.
    pub statement: String,
    /// The envelope file, relative to the output, when signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope: Option<String>,
    /// The attestation tag, when signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The stream key that signed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Why it is unsigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsigned: Option<String>,
    /// Time to make, sign and write it, milliseconds.
    pub millis: f64,
}

/// What the statement is made from.
pub struct Inputs<'a> {
    /// The plan that ran.
    pub plan: &'a Plan,
    /// The run's journal (base digest, stage digests, skipped stages, `SOURCE_DATE_EPOCH`).
    pub journal: &'a Journal,
    /// The published release digest.
    pub digest: &'a str,
    /// When the run started.
    pub started: SystemTime,
    /// When it finished.
    pub finished: SystemTime,
}

fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format_rfc3339_utc(secs)
}

/// The artifact digest an `oci://` reference pins, if it is pinned (`--locked` pins every
/// plugin to its locked manifest).
fn pinned_artifact(reference: &str) -> Option<String> {
    Reference::parse(reference).ok().and_then(|r| r.digest)
}

/// The provenance statement of a run.
pub fn statement(inputs: &Inputs<'_>) -> Result<Statement> {
    let stream = &inputs.plan.stream;
    let stream_bytes = std::fs::read(&stream.path).map_err(|source| Error::Io {
        context: "reading the stream file for its provenance".into(),
        path: stream.path.clone(),
        source,
    })?;
    let mut dependencies = vec![ResourceDescriptor::new(
        BASE_DEPENDENCY,
        &stream.from,
        Some(&inputs.journal.from_digest),
    )];
    let mut stages = Vec::new();
    for planned in &inputs.plan.stages {
        let stage = &planned.stage;
        let entry = inputs.journal.stages.iter().find(|s| s.stage == stage.name);
        dependencies.push(ResourceDescriptor::new(
            &component_dependency(&stage.name),
            &planned.label,
            Some(&planned.digest),
        ));
        if let PluginRef::Oci(reference) = &stage.plugin {
            dependencies.push(ResourceDescriptor::new(
                &artifact_dependency(&stage.name),
                &format!("oci://{reference}"),
                pinned_artifact(reference).as_deref(),
            ));
        }
        let mut record = serde_json::json!({
            "name": stage.name,
            "plugin": planned.label,
            "configDigest": entry
                .map(|e| e.config_digest.clone())
                .unwrap_or_else(|| crate::state::StageIdentity::of(planned).config_digest),
            "grants": {
                "registry": stage.grants.registry,
                "files": stage.grants.files.iter().map(|f| serde_json::json!({
                    "path": f.host.display().to_string(),
                    "guest": f.guest,
                })).collect::<Vec<_>>(),
                "keys": stage.grants.keys,
            },
            "limits": {
                "memory": stage.limits.memory,
                "output": stage.limits.output,
                "timeoutMillis": stage.limits.timeout.map(|t| t.as_millis() as u64),
            },
        });
        if let (Some(skipped), Some(map)) = (
            entry.and_then(|e| e.skipped.as_ref()),
            record.as_object_mut(),
        ) {
            map.insert("skipped".into(), skipped.clone().into());
        }
        stages.push(record);
    }
    let mut builder_dependencies = Vec::new();
    if let Some(digest) = crate::builder::builder_digest() {
        builder_dependencies.push(ResourceDescriptor::new("compose", "compose", Some(digest)));
    }
    Ok(Statement::new(
        ResourceDescriptor::new(
            &stream.release,
            stream.to.as_deref().unwrap_or(&stream.release),
            Some(inputs.digest),
        ),
        Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.to_string(),
                external_parameters: serde_json::json!({
                    "stream": {
                        "path": stream.path.display().to_string(),
                        "digest": sha256_digest(&stream_bytes),
                    },
                }),
                internal_parameters: serde_json::json!({
                    "SOURCE_DATE_EPOCH": inputs.journal.source_date_epoch,
                    "stages": stages,
                }),
                resolved_dependencies: dependencies,
            },
            run_details: compose_signing::provenance::RunDetails {
                builder: Builder {
                    id: BUILDER_ID.to_string(),
                    version: BTreeMap::from([(
                        "compose".to_string(),
                        env!("CARGO_PKG_VERSION").to_string(),
                    )]),
                    builder_dependencies,
                },
                metadata: BuildMetadata {
                    started_on: rfc3339(inputs.started),
                    finished_on: rfc3339(inputs.finished),
                },
            },
        },
    ))
}

/// The key that signs the provenance: the first cosign-format private key granted to a stage
/// that ran, with its name; or why there is none.
fn signing_key<'a>(
    plan: &Plan,
    journal: &Journal,
    keys: &'a RunKeys,
) -> std::result::Result<(String, &'a PrivateKey), String> {
    let mut granted = Vec::new();
    for planned in &plan.stages {
        let skipped = journal
            .stages
            .iter()
            .any(|s| s.stage == planned.stage.name && s.skipped.is_some());
        for name in &planned.stage.grants.keys {
            if let Some(why) = keys.keys.absent.get(name) {
                granted.push(format!("`{name}` is not available ({why})"));
                continue;
            }
            match keys.keys.keys.get(name).and_then(|k| k.private.as_ref()) {
                Some(key @ PrivateKey::Cosign(_)) if !skipped => return Ok((name.clone(), key)),
                Some(PrivateKey::Cosign(_)) => {
                    granted.push(format!("stage `{}` was skipped", planned.stage.name));
                }
                Some(_) => {}
                None => granted.push(format!("`{name}` is not loaded in this process")),
            }
        }
    }
    Err(if granted.is_empty() {
        "no stage is granted a cosign-format key (`[keys.NAME]` with an ECDSA P-256 private key)"
            .to_string()
    } else {
        format!("no cosign-format key to sign with: {}", granted.join("; "))
    })
}

/// The provenance of a release about to be published: the files to write beside it and the
/// envelope to attach to it, made before anything is written so that the release, its
/// signatures and its provenance are published together (or not at all).
pub(crate) struct Prepared {
    /// `provenance.json`, and `provenance.dsse.json` when signed.
    files: Vec<(&'static str, Vec<u8>)>,
    /// The signed envelope (JSON) and the key that signed it.
    envelope: Option<(Vec<u8>, String)>,
    /// Why it is unsigned.
    unsigned: Option<String>,
    /// When making it began.
    begun: Instant,
}

/// Makes the provenance of the release `digest`: the statement, signed when the stream grants
/// a cosign-format key (see [`signing_key`]). Nothing is written yet: [`Prepared::files`] go
/// into the output with the reports, [`Prepared::attach`] runs inside the same write.
pub(crate) fn prepare(
    plan: &Plan,
    journal: &Journal,
    keys: &RunKeys,
    digest: &str,
    started: Instant,
) -> Result<Prepared> {
    let begun = Instant::now();
    let now = SystemTime::now();
    let inputs = Inputs {
        plan,
        journal,
        digest,
        started: now.checked_sub(started.elapsed()).unwrap_or(now),
        finished: now,
    };
    let statement = statement(&inputs)?;
    let signing = |e: compose_signing::Error| Error::Signing(format!("the provenance: {e}"));
    let mut files = vec![(STATEMENT_FILE, statement.to_json().map_err(signing)?)];
    let (envelope, unsigned) = match signing_key(plan, journal, keys) {
        Ok((name, key)) => {
            let envelope = statement
                .sign_with(key)
                .map_err(signing)?
                .to_json()
                .map_err(signing)?;
            files.push((ENVELOPE_FILE, envelope.clone()));
            (Some((envelope, name)), None)
        }
        Err(reason) => (None, Some(reason)),
    };
    Ok(Prepared {
        files,
        envelope,
        unsigned,
        begun,
    })
}

impl Prepared {
    /// The files to write at the top of the output.
    pub(crate) fn files(&self) -> &[(&'static str, Vec<u8>)] {
        &self.files
    }

    /// Attaches the signed envelope to the release `digest` in the output `layout` being
    /// written (a `sha256-<hex>.att` cosign attestation); returns its tag. Unsigned: nothing.
    pub(crate) fn attach(
        &self,
        layout: &mut OciLayout,
        digest: &str,
    ) -> compose_signing::Result<Option<String>> {
        let Some((envelope, _)) = &self.envelope else {
            return Ok(None);
        };
        let (tag, _) = write_attestation(layout, envelope, SLSA_PROVENANCE_V1, digest)?;
        Ok(Some(tag))
    }

    /// Reports the provenance published in `out` (with the attestation `tag`).
    pub(crate) fn published(
        self,
        out: &Path,
        tag: Option<String>,
        observer: &dyn Observer,
    ) -> ProvenanceOutcome {
        let outcome = ProvenanceOutcome {
            statement: STATEMENT_FILE.to_string(),
            envelope: self.envelope.as_ref().map(|_| ENVELOPE_FILE.to_string()),
            tag,
            key: self.envelope.map(|(_, key)| key),
            unsigned: self.unsigned,
            millis: millis(self.begun.elapsed()),
        };
        observer.event(&Event::Provenance {
            statement: out.join(&outcome.statement).display().to_string(),
            key: outcome.key.clone(),
            tag: outcome.tag.clone(),
            unsigned: outcome.unsigned.clone(),
        });
        outcome
    }
}

/// How a statement's inputs differ from a lock: one line per difference (the base release
/// and every locked plugin's component and artifact digests); empty when they match.
pub fn lock_mismatches(statement: &Statement, lock: &Lock) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, what: String, locked: &str| match statement
        .dependency(name)
        .and_then(ResourceDescriptor::sha256)
    {
        Some(actual) if actual == locked => {}
        Some(actual) => out.push(format!(
            "{what}: the provenance has {actual}, the lock {locked}"
        )),
        None => out.push(format!(
            "{what}: the provenance has no digest for it, the lock {locked}"
        )),
    };
    check(
        BASE_DEPENDENCY,
        format!("base release `{}`", lock.base.reference),
        &lock.base.digest,
    );
    for plugin in &lock.plugins {
        check(
            &component_dependency(&plugin.stage),
            format!("stage `{}` plugin component", plugin.stage),
            &plugin.wasm,
        );
        if let Some(manifest) = &plugin.manifest {
            check(
                &artifact_dependency(&plugin.stage),
                format!("stage `{}` plugin artifact", plugin.stage),
                manifest,
            );
        }
    }
    let locked: Vec<String> = lock
        .plugins
        .iter()
        .map(|p| component_dependency(&p.stage))
        .collect();
    for dependency in &statement.predicate.build_definition.resolved_dependencies {
        if let Some(name) = &dependency.name
            && name.ends_with("/component")
            && !locked.contains(name)
        {
            out.push(format!("`{name}` is in the provenance but not in the lock"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
