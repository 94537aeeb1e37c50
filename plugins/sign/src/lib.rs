//! `sign`: the stage that signs a composed release with keys the host holds.
//!
//! In order:
//! 1. makes the payload trust the stream's key: the first manifest (in file order) carrying the
//!    annotation `release.openshift.io/verification-config-map` gets its `data` replaced by
//!    `verifier-public-key-<stream>` (the stream's OpenPGP public key, asked from the host)
//!    and `store-<stream>` (the stream's `signature-store`);
//! 2. asks the host for the digest of the release image as it now stands (`payload.digest()`);
//! 3. builds the "atomic container signature" (docker-reference = the stream's `to`, the
//!    digest, creator `compose <version>`, timestamp = `SOURCE_DATE_EPOCH` when the host passes
//!    it, else the sandbox clock) and has the host sign it (OpenPGP), and with `cosign-key` the
//!    cosign-format payload (type `cosign container image signature`), ECDSA-signed;
//! 4. attaches the signatures (`signature-gpg`, `signature-cosign`); the host publishes them.
//!
//! The private keys never enter this component: it only passes bytes to the `signer` import.
//! The host passes the stream's facts in the config as `stream = { name, release, to,
//! signature-store, source-date-epoch }` to every stage granted a key.

mod logic;

use compose_plugin_sdk::{Finding, Guest, Info, Payload, log};

/// The exported stage.
struct Sign;

impl Guest for Sign {
    fn describe() -> Info {
        Info {
            name: "sign".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Makes the release-verification ConfigMap trust the stream's key and \
                          store, then signs the release digest with keys the host holds \
                          (OpenPGP atomic container signature, optionally cosign-format)"
                .to_string(),
            config_schema: Some(logic::CONFIG_SCHEMA.to_string()),
        }
    }

    fn run(config: String, release: &Payload) -> Result<Vec<Finding>, String> {
        let config = logic::Config::parse(&config)?;
        let findings = logic::run(&config, release, &HostKeys, &|| release.digest(), &now)?;
        for f in &findings {
            log::info(&f.message);
        }
        Ok(findings)
    }
}

/// The sandbox's wall clock (Unix seconds).
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The `signer` import.
struct HostKeys;

impl logic::Keys for HostKeys {
    fn sign(&self, key: &str, cosign: bool, data: &[u8]) -> Result<Vec<u8>, String> {
        compose_plugin_sdk::signer::sign(key, format(cosign), data)
    }
    fn public_key(&self, key: &str, cosign: bool) -> Result<String, String> {
        compose_plugin_sdk::signer::public_key(key, format(cosign))
    }
}

fn format(cosign: bool) -> compose_plugin_sdk::signer::SignatureFormat {
    if cosign {
        compose_plugin_sdk::signer::SignatureFormat::Cosign
    } else {
        compose_plugin_sdk::signer::SignatureFormat::Openpgp
    }
}

compose_plugin_sdk::export!(Sign);
