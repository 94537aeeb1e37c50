//! The stage's logic over the SDK traits, testable natively.

use base64::Engine as _;
use compose_plugin_sdk::{Attachment, Finding, Release, config, finding};
use serde::Deserialize;
use serde_json::json;

/// The annotation that marks the release-verification ConfigMap.
pub const VERIFICATION_ANNOTATION: &str = "release.openshift.io/verification-config-map";

/// The JSON schema of the config.
pub const CONFIG_SCHEMA: &str = r#"{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "key": {"type": "string", "description": "the granted OpenPGP key to sign with (default `release`)"},
    "cosign-key": {"type": "string", "description": "a granted ECDSA P-256 key: also make a cosign-format signature"},
    "trust": {"type": "boolean", "description": "rewrite the release-verification ConfigMap (default true)"},
    "stream": {"type": "object", "description": "passed by the host: name, release, to, signature-store, source-date-epoch"}
  }
}"#;

/// What the host tells a stage granted keys about the stream.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StreamFacts {
    /// The stream name.
    #[serde(default)]
    pub name: String,
    /// Where the release is published (`[stream] to`).
    #[serde(default)]
    pub to: Option<String>,
    /// Where signatures are served (`[stream] signature-store`).
    #[serde(default)]
    pub signature_store: Option<String>,
    /// `SOURCE_DATE_EPOCH`, when set.
    #[serde(default)]
    pub source_date_epoch: Option<i64>,
}

/// The stage config.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// The OpenPGP key.
    #[serde(default = "default_key")]
    pub key: String,
    /// The cosign key, if any.
    #[serde(default)]
    pub cosign_key: Option<String>,
    /// Whether to rewrite the verification ConfigMap.
    #[serde(default = "default_true")]
    pub trust: bool,
    /// Passed by the host.
    #[serde(default)]
    pub stream: StreamFacts,
}

fn default_key() -> String {
    "release".to_string()
}

fn default_true() -> bool {
    true
}

impl Config {
    /// Parses the config JSON.
    pub fn parse(json: &str) -> Result<Config, String> {
        config::parse(json).map_err(|e| e.to_string())
    }
}

/// Signing through the host.
pub trait Keys {
    /// Signs `data` with `key` (OpenPGP, or cosign-format when `cosign`).
    fn sign(&self, key: &str, cosign: bool, data: &[u8]) -> Result<Vec<u8>, String>;
    /// The public key of `key`.
    fn public_key(&self, key: &str, cosign: bool) -> Result<String, String>;
}

/// A simple-signing payload, keys sorted, compact.
pub fn payload(kind: &str, reference: &str, digest: &str, timestamp: i64) -> Vec<u8> {
    json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": kind,
        },
        "optional": {
            "creator": format!("compose {}", env!("CARGO_PKG_VERSION")),
            "timestamp": timestamp,
        },
    })
    .to_string()
    .into_bytes()
}

/// Whether a manifest's text has the verification annotation on its metadata.
fn is_verification_configmap(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with(VERIFICATION_ANNOTATION)
            || l.starts_with(&format!("\"{VERIFICATION_ANNOTATION}\""))
            || l.starts_with(&format!("'{VERIFICATION_ANNOTATION}'"))
    })
}

/// Replaces the top-level `data:` block of a one-document YAML manifest by `data`.
pub fn replace_data(text: &str, entries: &[(String, String)]) -> String {
    let mut block = String::from("data:\n");
    for (key, value) in entries {
        if value.contains('\n') {
            block.push_str(&format!("  {key}: |\n"));
            for line in value.trim_end_matches('\n').lines() {
                if line.is_empty() {
                    block.push('\n');
                } else {
                    block.push_str(&format!("    {line}\n"));
                }
            }
        } else {
            block.push_str(&format!("  {key}: {value}\n"));
        }
    }
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    let mut replaced = false;
    while let Some(line) = lines.next() {
        if !replaced && (line == "data:" || line.starts_with("data: ")) {
            replaced = true;
            out.push_str(&block);
            // Skip the old block: indented or empty lines.
            while let Some(next) = lines.peek() {
                if next.is_empty() || next.starts_with(' ') || next.starts_with('\t') {
                    lines.next();
                } else {
                    break;
                }
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !replaced {
        out.push_str(&block);
    }
    out
}

/// Runs the stage.
pub fn run(
    config: &Config,
    release: &impl Release,
    keys: &impl Keys,
    digest: &dyn Fn() -> Result<String, String>,
    now: &dyn Fn() -> i64,
) -> Result<Vec<Finding>, String> {
    let stream = &config.stream;
    let Some(to) = stream.to.as_deref() else {
        return Err(
            "the stream has no `to`: a signature names the reference the release is published as"
                .to_string(),
        );
    };
    let mut findings = Vec::new();
    let label = if stream.name.is_empty() {
        "compose".to_string()
    } else {
        stream.name.clone()
    };
    if config.trust {
        let Some(store) = stream.signature_store.as_deref() else {
            return Err("the stream has no `signature-store`: set `[stream] signature-store = \"https://…\"` so clusters know where to fetch signatures (or `trust = false` to leave the verification ConfigMap alone)".to_string());
        };
        let public = keys.public_key(&config.key, false)?;
        let found = release
            .grep_manifests(VERIFICATION_ANNOTATION)
            .into_iter()
            .find(|m| {
                release
                    .read_manifest(m)
                    .is_some_and(|t| is_verification_configmap(&t))
            });
        let Some(file) = found else {
            return Err(format!(
                "no manifest carries the `{VERIFICATION_ANNOTATION}` annotation: there is no release-verification ConfigMap to trust the stream's key"
            ));
        };
        let text = release.read_manifest(&file).unwrap_or_default();
        let entries = vec![
            (format!("store-{label}"), store.to_string()),
            (format!("verifier-public-key-{label}"), public),
        ];
        release.write_manifest(&file, &replace_data(&text, &entries))?;
        findings.push(finding::info(
            "trust-key",
            Some(&file),
            format!(
                "the release-verification ConfigMap trusts only `verifier-public-key-{label}` (key `{}`) and fetches signatures from {store}",
                config.key
            ),
        ));
    }
    let digest = digest()?;
    let timestamp = stream.source_date_epoch.unwrap_or_else(now);
    let atomic = payload("atomic container signature", to, &digest, timestamp);
    let signature = keys.sign(&config.key, false, &atomic)?;
    release.attach(&Attachment {
        kind: "signature-gpg".to_string(),
        media_type: "application/pgp-signature".to_string(),
        data: signature,
    });
    findings.push(finding::info(
        "signed",
        Some(to),
        format!(
            "signed {digest} as `{to}` with OpenPGP key `{}` (timestamp {timestamp})",
            config.key
        ),
    ));
    if let Some(cosign_key) = &config.cosign_key {
        let payload = payload("cosign container image signature", to, &digest, timestamp);
        let signature = keys.sign(cosign_key, true, &payload)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let envelope = json!({
            "payload": b64.encode(&payload),
            "signature": String::from_utf8(signature)
                .map_err(|_| "the host's cosign signature is not base64 text".to_string())?,
        });
        release.attach(&Attachment {
            kind: "signature-cosign".to_string(),
            media_type: "application/vnd.okd.compose.cosign-signature.v1+json".to_string(),
            data: envelope.to_string().into_bytes(),
        });
        findings.push(finding::info(
            "signed",
            Some(to),
            format!("signed {digest} as `{to}` with cosign key `{cosign_key}`"),
        ));
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::cell::RefCell;

    use compose_plugin_sdk::testing::MemoryRelease;

    use super::*;

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-verification\n  namespace: openshift-config-managed\n  annotations:\n    release.openshift.io/verification-config-map: \"\"\ndata:\n  store-openshift-ci-release: https://example.org/old\n  verifier-public-key-ci: |\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n\n    OLD\n    -----END PGP PUBLIC KEY BLOCK-----\n";

    struct FakeKeys(RefCell<Vec<(String, bool, Vec<u8>)>>);

    impl Keys for FakeKeys {
        fn sign(&self, key: &str, cosign: bool, data: &[u8]) -> Result<Vec<u8>, String> {
            self.0
                .borrow_mut()
                .push((key.into(), cosign, data.to_vec()));
            Ok(if cosign {
                b"c2ln".to_vec()
            } else {
                b"pgp".to_vec()
            })
        }
        fn public_key(&self, _key: &str, _cosign: bool) -> Result<String, String> {
            Ok(
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nNEW\n-----END PGP PUBLIC KEY BLOCK-----\n"
                    .into(),
            )
        }
    }

    fn config(json: &str) -> Config {
        Config::parse(json).unwrap()
    }

    #[test]
    fn trusts_the_stream_key_then_signs_the_new_digest() {
        let release = MemoryRelease::new("4.17.0-okd-scos.0")
            .with_manifest("0000_90_cluster-update-keys_configmap.yaml", CM);
        let keys = FakeKeys(RefCell::new(Vec::new()));
        let cfg = config(
            r#"{"cosign-key": "cosign", "stream": {"name": "okd-scos", "to": "quay.io/okd/scos-release:4.17.0-okd-scos.0", "signature-store": "https://sigs.example.org/okd", "source-date-epoch": 1700000000}}"#,
        );
        let findings = run(&cfg, &release, &keys, &|| Ok("sha256:abc".into()), &|| 5).unwrap();
        assert_eq!(findings.len(), 3);
        let cm = release
            .read_manifest("0000_90_cluster-update-keys_configmap.yaml")
            .unwrap();
        assert!(cm.contains("release.openshift.io/verification-config-map"));
        assert!(
            cm.contains("  store-okd-scos: https://sigs.example.org/okd\n"),
            "{cm}"
        );
        assert!(cm.contains("  verifier-public-key-okd-scos: |\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n\n    NEW\n"), "{cm}");
        assert!(!cm.contains("OLD") && !cm.contains("openshift-ci"), "{cm}");
        let calls = keys.0.borrow();
        assert_eq!(
            String::from_utf8(calls[0].2.clone()).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"quay.io/okd/scos-release:4.17.0-okd-scos.0"},"image":{"docker-manifest-digest":"sha256:abc"},"type":"atomic container signature"},"optional":{"creator":"compose 0.1.0","timestamp":1700000000}}"#
        );
        assert!(calls[1].1);
        let kinds: Vec<String> = release.attachments().into_iter().map(|a| a.kind).collect();
        assert_eq!(kinds, ["signature-gpg", "signature-cosign"]);
    }

    #[test]
    fn needs_to_and_a_store() {
        let release =
            MemoryRelease::new("x").with_manifest("0000_90_cluster-update-keys_configmap.yaml", CM);
        let keys = FakeKeys(RefCell::new(Vec::new()));
        assert!(
            run(&config("{}"), &release, &keys, &|| Ok("d".into()), &|| 5)
                .unwrap_err()
                .contains("`to`")
        );
        let err = run(
            &config(r#"{"stream": {"to": "quay.io/a/b:c"}}"#),
            &release,
            &keys,
            &|| Ok("d".into()),
            &|| 5,
        )
        .unwrap_err();
        assert!(err.contains("signature-store"), "{err}");
        // Without a trust rewrite, the clock gives the timestamp.
        run(
            &config(r#"{"trust": false, "stream": {"to": "quay.io/a/b:c"}}"#),
            &release,
            &keys,
            &|| Ok("d".into()),
            &|| 5,
        )
        .unwrap();
        assert!(
            String::from_utf8(keys.0.borrow()[0].2.clone())
                .unwrap()
                .contains("\"timestamp\":5")
        );
    }
}
