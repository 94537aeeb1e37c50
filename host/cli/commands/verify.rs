//! `compose verify REF --key PUB [--key PUB…] [--policy STREAM]`: checks the signatures of a
//! release written by `compose run` (an OCI layout): the OpenPGP signatures of its signature
//! store and the cosign-format signatures of its `sha256-<hex>.sig` manifest; with `--policy`,
//! also runs the checks of a stream on it (the stages whose plugin targets the read-only
//! `check` world, such as `test-release`); with `--provenance [--lock LOCK]`,
//! also checks its signed provenance (the `sha256-<hex>.att` attestation) and its inputs.

use std::path::Path;

use anyhow::{Context, bail};
use compose_registry::{OciLayout, Reference, read_release_image};
use compose_signing::{PublicKey, TrustedKeys};

use crate::args::{Global, VerifyArgs};
use crate::commands::{load_stream, plugin_fetcher, registries, runtime, stream_mirrors};
use crate::output::Output;

/// Opens `text` (`DIR`, `oci:DIR` or `oci:DIR:TAG`) and finds the release manifest in it: the
/// entry named TAG, else the only entry that is not a cosign `.sig` tag.
fn open(text: &str) -> anyhow::Result<(OciLayout, String)> {
    let spec = text.strip_prefix("oci:").unwrap_or(text);
    let (dir, tag) = match spec.rsplit_once(':') {
        Some((dir, tag)) if Path::new(dir).join("index.json").is_file() => (dir, Some(tag)),
        _ => (spec, None),
    };
    let layout = OciLayout::open(Path::new(dir))
        .with_context(|| format!("opening the OCI layout `{dir}`"))?;
    let entries: Vec<_> = layout
        .index()
        .manifests
        .iter()
        .filter(|d| match tag {
            Some(tag) => d.ref_name() == Some(tag),
            None => !d
                .ref_name()
                .is_some_and(compose_signing::publish::is_attachment_tag),
        })
        .cloned()
        .collect();
    let [entry] = entries.as_slice() else {
        bail!(
            "the OCI layout `{dir}` holds {} matching images; name one as `oci:{dir}:TAG`",
            entries.len()
        );
    };
    Ok((layout, entry.digest.clone()))
}

/// Verifies every signature and prints one line each; fails unless all verify and there is
/// at least one (and, with `--policy`, every release check passes).
pub async fn execute(args: &VerifyArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let (layout, digest) = open(&args.release)?;
    // Reading the release checks every blob against its digest.
    let reference = Reference::parse(&format!("localhost/release@{digest}"))?;
    let image = read_release_image(&layout, &reference)
        .with_context(|| format!("reading the release in `{}`", args.release))?;
    let mut trusted = TrustedKeys::default();
    let mut ids = Vec::new();
    for path in &args.key {
        let text = compose_signing::keys::read_key_file(path)
            .with_context(|| format!("reading the public key `{}`", path.display()))?
            .with_context(|| format!("the public key `{}` does not exist", path.display()))?;
        let key = PublicKey::parse(&text)
            .with_context(|| format!("reading the public key `{}`", path.display()))?;
        ids.extend(key.ids());
        trusted.add(key);
    }
    let signatures = compose_signing::publish::read_signatures(&layout, &digest)?;
    let checks = compose_signing::attach::check_all(&signatures, &trusted, &digest);
    let failed = checks.iter().filter(|c| !c.verified).count();
    let provenance = args
        .provenance
        .then(|| check_provenance(&layout, &digest, &trusted, args.lock.as_deref()));
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "verified",
            "digest": digest,
            "signatures": checks,
            "failed": failed,
            "provenance": provenance.as_ref().map(|p| match p {
                Ok(message) => serde_json::json!({"verified": true, "message": message}),
                Err(message) => serde_json::json!({"verified": false, "message": message}),
            }),
        }));
    } else {
        for check in &checks {
            output.data(&format!(
                "{} {}\n",
                if check.verified { "ok  " } else { "FAIL" },
                check.message
            ));
        }
        match &provenance {
            Some(Ok(message)) => output.data(&format!("ok   {message}\n")),
            Some(Err(message)) => output.data(&format!("FAIL {message}\n")),
            None => {}
        }
    }
    if let Some(Err(message)) = &provenance {
        bail!("{message}");
    }
    let mut policy_failed = 0;
    if let Some(policy) = &args.policy {
        let stream = load_stream(policy)?;
        // One registry view for the policy's `oci://` plugins and its checks' queries: the
        // stream's mirrors, then its registries.
        let mirrors = stream_mirrors(&stream, &registries(global)?)?;
        let fetcher = plugin_fetcher(global, mirrors.clone());
        let runtime = runtime(global)?;
        let plan = compose_pipeline::plan_with(&runtime, stream, output, Some(&fetcher))
            .with_context(|| format!("loading the checks of `{}`", policy.display()))?;
        // The checks are the stages whose component targets the read-only `check` world.
        if !plan.stages.iter().any(compose_pipeline::is_check) {
            bail!(
                "the policy `{}` has no check to run: no stage's plugin targets the read-only `check` world of okd:compose@0.2.0 (as `test-release` does)",
                policy.display()
            );
        }
        let mut release = image.release;
        release.attachments = signatures.clone();
        compose_signing::attach::replace_report(
            &mut release.attachments,
            &compose_signing::attach::VerificationReport {
                digest: digest.clone(),
                keys: ids,
                signatures: checks.clone(),
            },
        );
        let (_, failed) =
            compose_pipeline::check_release(&runtime, &plan, release, mirrors, output)
                .await
                .with_context(|| format!("running the checks of `{}`", policy.display()))?;
        policy_failed = failed;
    }
    if checks.is_empty() && provenance.is_none() {
        bail!(
            "the release {digest} in `{}` has no signatures (no `signatures/{}/signature-1`, no `{}` manifest)",
            args.release,
            digest.replacen(':', "=", 1),
            compose_signing::publish::cosign_tag(&digest)
        );
    }
    if failed > 0 {
        let reasons: Vec<&str> = checks
            .iter()
            .filter(|c| !c.verified)
            .map(|c| c.message.as_str())
            .collect();
        bail!(
            "{failed} of {} signatures of {digest} failed: {}",
            checks.len(),
            reasons.join("; ")
        );
    }
    if policy_failed > 0 {
        bail!(
            "the signatures verify, but {policy_failed} release check{} of `{}` failed (see above)",
            if policy_failed == 1 { "" } else { "s" },
            args.policy
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    if !output.is_json() {
        output.status(&format!(
            "verified {} signature{}{} of {digest}",
            checks.len(),
            if checks.len() == 1 { "" } else { "s" },
            if provenance.is_some() {
                " and the provenance"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

/// Checks the provenance attestation of `digest`: every SLSA provenance envelope in its
/// `.att` image must be signed by a trusted cosign-format key and name `digest`, and with a
/// lock, its inputs must be the locked ones. `Ok`: what verified; `Err`: why not.
fn check_provenance(
    layout: &OciLayout,
    digest: &str,
    trusted: &TrustedKeys,
    lock: Option<&Path>,
) -> Result<String, String> {
    use compose_signing::provenance::{SLSA_PROVENANCE_V1, verify_envelope};
    let tag = compose_signing::publish::attestation_tag(digest);
    let envelopes: Vec<Vec<u8>> = compose_signing::publish::read_attestations(layout, digest)
        .map_err(|e| format!("provenance: {e}"))?
        .into_iter()
        .filter(|(predicate, _)| predicate == SLSA_PROVENANCE_V1)
        .map(|(_, envelope)| envelope)
        .collect();
    if envelopes.is_empty() {
        return Err(format!(
            "provenance: the release {digest} has no signed SLSA provenance (no `{tag}` attestation; an unsigned run writes only `signatures/{}/provenance.json`)",
            digest.replacen(':', "=", 1)
        ));
    }
    let mut statements = Vec::new();
    let mut signers = Vec::new();
    for bytes in &envelopes {
        let envelope = compose_signing::dsse::Envelope::parse(bytes)
            .map_err(|e| format!("provenance `{tag}`: {e}"))?;
        let (statement, key) = verify_envelope(&envelope, &trusted.cosign, digest)
            .map_err(|e| format!("provenance `{tag}`: {e}"))?;
        statements.push(statement);
        signers.push(key);
    }
    let mut message = format!(
        "provenance `{tag}` of {digest} signed by {}",
        signers.join(", ")
    );
    if let Some(path) = lock {
        let lock = compose_pipeline::Lock::read(path)
            .map_err(|e| format!("provenance: {e}"))?
            .ok_or_else(|| format!("provenance: the lock `{}` does not exist", path.display()))?;
        for statement in &statements {
            let mismatches = compose_pipeline::provenance::lock_mismatches(statement, &lock);
            if !mismatches.is_empty() {
                return Err(format!(
                    "provenance `{tag}`: the inputs differ from the lock `{}`: {}",
                    path.display(),
                    mismatches.join("; ")
                ));
            }
        }
        message.push_str(&format!(
            ", its inputs match `{}` (base and {} plugin{})",
            path.display(),
            lock.plugins.len(),
            if lock.plugins.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(message)
}
