//! Trust policies: under `[trust]` (or a stage's `trust`), an `oci://` plugin is used only
//! when a cosign signature beside it (`sha256-<hex>.sig` in its repository) verifies against
//! one of the keys the policy names and names the artifact's manifest digest. The check is
//! made on the digest the reference resolves to, before the component is downloaded, so an
//! untrusted plugin is neither pulled nor loaded, and no stage runs.
//!
//! Signatures that verified are kept in the plugin cache (`<hex>.sig.json` beside the
//! artifact manifest): a pinned, cached plugin is checked again (against the keys of the
//! policy of the moment) without any network call.

use compose_registry::{Error as RegistryError, Reference};
use compose_signing::attach::CosignEnvelope;
use compose_signing::plugin::{
    PluginSignature, TrustKey, load_trust_key, read_signature_image, verify_artifact,
};
use compose_signing::publish::cosign_tag;
use compose_stream::{Stage, TrustedKey};

use crate::error::{Error, Result};
use crate::fetch::PluginFetcher;

/// The extension of cached signatures in the plugin cache.
const CACHED_SIGNATURES: &str = "sig.json";

/// Reads the key files of a stage's policy.
fn load_keys(stage: &Stage, policy: &[TrustedKey]) -> Result<Vec<TrustKey>> {
    let mut keys = Vec::new();
    for key in policy {
        keys.extend(
            load_trust_key(&key.text, &key.path).map_err(|e| Error::Plugin {
                stage: stage.name.clone(),
                plugin: stage.plugin_text.clone(),
                reason: format!("cannot check its signature: {e}"),
            })?,
        );
    }
    Ok(keys)
}

/// The signatures of the artifact `digest` in the repository of `reference`, from the
/// fetcher's store: none when there is no `.sig` manifest.
fn fetch_signatures(
    fetcher: &PluginFetcher,
    reference: &Reference,
    digest: &str,
) -> std::result::Result<Vec<CosignEnvelope>, RegistryError> {
    let signatures = Reference {
        tag: Some(cosign_tag(digest)),
        digest: None,
        ..reference.clone()
    };
    let source = fetcher.source();
    let descriptor = match source.resolve(&signatures) {
        Ok(d) => d,
        Err(e) if matches!(e.root(), RegistryError::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let manifest = source.blob(&signatures, &descriptor.digest)?;
    let mut failed = None;
    let read = read_signature_image(&manifest, |blob| {
        source.blob(&signatures, blob).map_err(|e| {
            let text = e.to_string();
            failed = Some(e);
            compose_signing::Error::Verify(text)
        })
    });
    match (read, failed) {
        (Ok(envelopes), _) => Ok(envelopes),
        (Err(_), Some(e)) => Err(e),
        // A manifest that is not one, or a payload changed in the store: no usable signature.
        (Err(e), None) => {
            tracing::warn!(reference = %signatures, "ignoring an unreadable signature manifest: {e}");
            Ok(Vec::new())
        }
    }
}

/// Cached signatures of `digest` (those that verified once).
fn cached_signatures(fetcher: &PluginFetcher, digest: &str) -> Option<Vec<CosignEnvelope>> {
    let path = fetcher.path(digest, CACHED_SIGNATURES)?;
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Checks the `oci://` plugin `reference` of `stage` against the stage's trust policy
/// `policy`: returns the manifest digest it resolves to and the key that vouched for it, or
/// refuses it naming the plugin, the digest and every key tried.
pub(crate) fn check_plugin(
    fetcher: &PluginFetcher,
    stage: &Stage,
    reference: &str,
    policy: &[TrustedKey],
) -> Result<(String, PluginSignature)> {
    let keys = load_keys(stage, policy)?;
    let registry_error = |source: RegistryError, what: &str| Error::Registry {
        context: format!(
            "stage `{}`: {what} of plugin `{}`",
            stage.name, stage.plugin_text
        ),
        source: Box::new(source),
    };
    let parsed = Reference::parse(reference).map_err(|e| registry_error(e, "reading"))?;
    let digest = fetcher
        .resolve(reference)
        .map_err(|e| registry_error(e, "resolving"))?;
    if let Some(cached) = cached_signatures(fetcher, &digest)
        && let Ok(signature) = verify_artifact(&cached, &digest, &keys)
    {
        return Ok((digest, signature));
    }
    let signatures = fetch_signatures(fetcher, &parsed, &digest)
        .map_err(|e| registry_error(e, "reading the signatures"))?;
    match verify_artifact(&signatures, &digest, &keys) {
        Ok(signature) => {
            if let Ok(bytes) = serde_json::to_vec(&signatures) {
                fetcher.store(&digest, CACHED_SIGNATURES, &bytes);
            }
            Ok((digest, signature))
        }
        Err(e) => Err(Error::Untrusted {
            stage: stage.name.clone(),
            plugin: stage.plugin_text.clone(),
            digest,
            reason: e.to_string(),
            keys: if keys.is_empty() {
                "none (the policy lists no key)".to_string()
            } else {
                keys.iter()
                    .map(TrustKey::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
    }
}
