//! The host's part in signing a release: the stream's keys behind the `signer` import,
//! stages skipped when an optional key is absent, what a signing stage is told about the
//! stream, the check that signatures still name the payload after every later stage, and
//! publishing the signatures with the release.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use compose_payload::Release;
use compose_runtime::StageSpec;
use compose_signing::attach::{self, VerificationReport};
use compose_signing::keys::PublicKey;
use compose_signing::{StreamKeys, TrustedKeys};
use compose_stream::{Stage, Stream};

use crate::error::{Error, Result};

/// The stream's keys, loaded once per run.
pub(crate) struct RunKeys {
    /// The keys.
    pub keys: Arc<StreamKeys>,
    /// Their public halves, and the public keys a state recorded.
    pub trusted: TrustedKeys,
    /// The ids of the trusted keys, for reports.
    pub ids: Vec<String>,
}

impl RunKeys {
    /// The public keys this process loaded, by key name, as text: what a state records so
    /// later processes verify signatures without the private keys.
    pub fn public_texts(&self) -> Result<BTreeMap<String, String>> {
        let mut texts = BTreeMap::new();
        for (name, key) in &self.keys.keys {
            if let Some(public) = &key.public {
                let text = public
                    .to_text()
                    .map_err(|e| Error::Signing(format!("key `{name}`: {e}")))?;
                texts.insert(name.clone(), text);
            }
        }
        Ok(texts)
    }
}

/// Loads the stream's keys (an error for a declared key that cannot be read or unlocked).
///
/// `only`: load just these keys' private halves (the keys granted to the stages this process
/// runs) and every public-key-only entry; `None` loads every key. `recorded`: public keys a
/// state recorded, trusted for the keys this process did not load.
pub(crate) fn load_keys(
    stream: &Stream,
    only: Option<&BTreeSet<String>>,
    recorded: &BTreeMap<String, String>,
) -> Result<RunKeys> {
    let declared: BTreeMap<String, compose_stream::Key> = stream
        .keys
        .iter()
        .filter(|(name, key)| {
            only.is_none_or(|only| only.contains(*name) || key.private_key.is_none())
        })
        .map(|(name, key)| (name.clone(), key.clone()))
        .collect();
    let keys = StreamKeys::load(&declared).map_err(|e| Error::Signing(e.to_string()))?;
    let mut trusted = keys.trusted();
    let mut ids: Vec<String> = keys
        .keys
        .values()
        .filter_map(|k| k.public.as_ref())
        .flat_map(|p| p.ids())
        .collect();
    for (name, text) in recorded {
        if keys.keys.get(name).is_some_and(|k| k.public.is_some()) {
            continue;
        }
        let public = PublicKey::parse(text).map_err(|e| {
            Error::State(format!(
                "the state's public key `{name}` cannot be read: {e}"
            ))
        })?;
        ids.extend(public.ids());
        trusted.add(public);
    }
    Ok(RunKeys {
        keys: Arc::new(keys),
        trusted,
        ids,
    })
}

/// Why a stage is skipped: it was granted an optional key that is not available.
pub(crate) fn skip_reason(stage: &Stage, keys: &StreamKeys) -> Option<String> {
    stage.grants.keys.iter().find_map(|k| {
        keys.absent
            .get(k)
            .map(|why| format!("optional key `{k}` is absent ({why})"))
    })
}

/// The spec a stage runs with. A stage granted keys also gets, in its config, `stream`: the
/// stream's `name`, `release`, `to`, `signature-store` and `source-date-epoch` (when set),
/// unless its config already has a `stream` entry: what a signing stage needs to name what it
/// signs, reproducibly.
pub(crate) fn stage_spec(
    spec: &StageSpec,
    stage: &Stage,
    stream: &Stream,
    source_date_epoch: Option<u64>,
) -> StageSpec {
    if stage.grants.keys.is_empty() {
        return spec.clone();
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&spec.config_json).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(map) = config.as_object_mut()
        && !map.contains_key("stream")
    {
        let mut facts = serde_json::Map::new();
        facts.insert("name".into(), stream.name.clone().into());
        facts.insert("release".into(), stream.release.clone().into());
        if let Some(to) = &stream.to {
            facts.insert("to".into(), to.clone().into());
        }
        if let Some(store) = &stream.signature_store {
            facts.insert("signature-store".into(), store.clone().into());
        }
        if let Some(epoch) = source_date_epoch {
            facts.insert("source-date-epoch".into(), epoch.into());
        }
        map.insert("stream".into(), serde_json::Value::Object(facts));
    }
    let mut spec = spec.clone();
    spec.config_json = config.to_string();
    spec
}

/// After a stage: when the payload carries signatures, checks them against the stream's keys
/// and the payload's current digest, and replaces the host's verification report attachment.
/// A signature naming another digest means the stage changed a signed payload: that fails the
/// run.
pub(crate) fn after_stage(
    stage: &str,
    release: &mut Release,
    keys: &RunKeys,
    digest: &dyn Fn(&Release) -> Result<String>,
) -> Result<()> {
    if !release
        .attachments
        .iter()
        .any(|a| attach::is_signature(&a.kind))
    {
        release
            .attachments
            .retain(|a| a.kind != attach::KIND_REPORT);
        return Ok(());
    }
    let now = digest(release)?;
    let checks = attach::check_all(&release.attachments, &keys.trusted, &now);
    for a in release
        .attachments
        .iter()
        .filter(|a| attach::is_signature(&a.kind))
    {
        if let Ok(signed) = attach::signed_digest(a)
            && signed != now
        {
            return Err(Error::Signing(format!(
                "stage `{stage}` changed the payload after it was signed: the {} signature is for {signed}, the payload is now {now}; run the signing stage last (only read-only stages such as `test-release` may follow it)",
                a.kind
            )));
        }
    }
    attach::replace_report(
        &mut release.attachments,
        &VerificationReport {
            digest: now,
            keys: keys.ids.clone(),
            signatures: checks,
        },
    );
    Ok(())
}

/// Before publishing: every signature must verify against the stream's keys and name the
/// digest being published.
pub(crate) fn check_before_publish(
    release: &Release,
    keys: &RunKeys,
    digest: &str,
) -> Result<usize> {
    let checks = attach::check_all(&release.attachments, &keys.trusted, digest);
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.verified)
        .map(|c| c.message.as_str())
        .collect();
    if !failed.is_empty() {
        return Err(Error::Signing(format!(
            "refusing to publish signatures that do not verify against the stream's keys for {digest}: {}",
            failed.join("; ")
        )));
    }
    Ok(checks.len())
}

/// The repository path of the stream's `to` (`okd/scos-release`), for the lookaside copies.
pub(crate) fn lookaside_repository(stream: &Stream) -> Option<String> {
    let to = stream.to.as_deref()?;
    compose_registry::Reference::parse(to)
        .ok()
        .map(|r| r.repository)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A stream with three stages: `plain` (no key), `signer` (a key) and `own` (a key, and a
    /// `stream` entry of its own in its config).
    fn stream(dir: &std::path::Path) -> Stream {
        let path = dir.join("s.toml");
        std::fs::write(
            &path,
            r#"[stream]
name = "okd-scos"
release = "4.17.0-okd-scos.0"
from = "quay.io/openshift/okd:4.15"
to = "quay.io/okd/scos-release:4.17.0-okd-scos.0"

[keys.release]
private-key = "env:TEST_NO_SUCH_KEY"
optional = true

[[stage]]
name = "plain"
plugin = "test-release"
config = { b = 2, a = [1, "x"] }

[[stage]]
name = "signer"
plugin = "sign"
grants = { keys = ["release"] }
config = { key = "release" }

[[stage]]
name = "own"
plugin = "sign"
grants = { keys = ["release"] }
config = { key = "release", stream = { name = "mine" } }
"#,
        )
        .unwrap();
        let options = compose_stream::LoadOptions {
            builtins: vec!["sign".into(), "test-release".into()],
        };
        compose_stream::load(&path, &options).unwrap()
    }

    fn config(stream: &Stream, index: usize, epoch: Option<u64>) -> serde_json::Value {
        let stage = &stream.stages[index];
        let spec = stage_spec(&crate::plan::stage_spec(stage), stage, stream, epoch);
        serde_json::from_str(&spec.config_json).unwrap()
    }

    #[test]
    fn only_key_granted_stages_get_the_stream_facts_and_an_own_entry_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let stream = stream(dir.path());
        // No key: the config exactly as the stream file has it.
        let plain = &stream.stages[0];
        assert_eq!(
            stage_spec(&crate::plan::stage_spec(plain), plain, &stream, Some(1)).config_json,
            crate::plan::stage_spec(plain).config_json
        );
        assert_eq!(
            config(&stream, 0, Some(1)),
            serde_json::json!({"b": 2, "a": [1, "x"]})
        );
        // A key: the facts, with the epoch only when set.
        assert_eq!(
            config(&stream, 1, Some(1_700_000_000))["stream"],
            serde_json::json!({
                "name": "okd-scos",
                "release": "4.17.0-okd-scos.0",
                "to": "quay.io/okd/scos-release:4.17.0-okd-scos.0",
                "source-date-epoch": 1_700_000_000u64,
            })
        );
        assert!(
            config(&stream, 1, None)["stream"]
                .get("source-date-epoch")
                .is_none()
        );
        // A `stream` entry of the stage's own is passed as written.
        assert_eq!(
            config(&stream, 2, Some(1))["stream"],
            serde_json::json!({"name": "mine"})
        );
    }
}
