//! SLSA provenance (<https://slsa.dev/provenance/v1>) in an in-toto Statement v1
//! (<https://in-toto.io/Statement/v1>): the types, their canonical JSON, signing them into a
//! DSSE envelope, and checking an envelope against keys and the release it must name.

use std::collections::BTreeMap;

use p256::ecdsa::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::error::{Error, Result};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of SLSA Provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// An in-toto statement with a SLSA Provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about: the release image, by its manifest digest.
    pub subject: Vec<ResourceDescriptor>,
    /// [`SLSA_PROVENANCE_V1`].
    pub predicate_type: String,
    /// The provenance.
    pub predicate: Provenance,
}

/// An in-toto resource descriptor: a named, addressed, digested thing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    /// A name for the resource (the release name, `base`, `stage/NAME/component`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it comes from (an image reference, `builtin:NAME`, `oci://…`, a path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Its digests by algorithm (`sha256` → hex).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
}

impl ResourceDescriptor {
    /// A descriptor named `name` at `uri`, with the `sha256:<hex>` digest `digest` if any.
    pub fn new(name: &str, uri: &str, digest: Option<&str>) -> ResourceDescriptor {
        ResourceDescriptor {
            name: Some(name.to_string()),
            uri: Some(uri.to_string()),
            digest: digest
                .and_then(|d| d.split_once(':'))
                .map(|(algorithm, hex)| BTreeMap::from([(algorithm.to_string(), hex.to_string())]))
                .unwrap_or_default(),
        }
    }

    /// The digest as `sha256:<hex>`, if the descriptor has a SHA-256 one.
    pub fn sha256(&self) -> Option<String> {
        self.digest.get("sha256").map(|hex| format!("sha256:{hex}"))
    }
}

/// The SLSA Provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// What was built, from what, how.
    pub build_definition: BuildDefinition,
    /// Who built it, when.
    pub run_details: RunDetails,
}

/// `buildDefinition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// A URI naming how the parameters below are to be read.
    pub build_type: String,
    /// The inputs the user controls.
    pub external_parameters: serde_json::Value,
    /// The inputs the builder set.
    pub internal_parameters: serde_json::Value,
    /// Everything fetched by digest to build.
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// `runDetails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// The builder.
    pub builder: Builder,
    /// When it ran.
    pub metadata: BuildMetadata,
}

/// `runDetails.builder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// The builder's id (a URI).
    pub id: String,
    /// Component versions (`compose` → its version).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
    /// The builder's own parts by digest (the `compose` binary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

/// `runDetails.metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    /// Start of the run (RFC 3339, UTC).
    pub started_on: String,
    /// End of the run (RFC 3339, UTC).
    pub finished_on: String,
}

impl Statement {
    /// A statement about `subject` with the provenance `predicate`.
    pub fn new(subject: ResourceDescriptor, predicate: Provenance) -> Statement {
        Statement {
            statement_type: STATEMENT_TYPE.to_string(),
            subject: vec![subject],
            predicate_type: SLSA_PROVENANCE_V1.to_string(),
            predicate,
        }
    }

    /// The statement's JSON: keys sorted, no insignificant whitespace, so the same
    /// statement always gives the same bytes.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        compose_payload::oci::canonical_json(self)
            .map_err(|e| Error::Publish(format!("the provenance statement: {e}")))
    }

    /// Reads a statement, refusing other statement and predicate types.
    pub fn parse(bytes: &[u8]) -> Result<Statement> {
        let statement: Statement = serde_json::from_slice(bytes).map_err(|e| {
            Error::Verify(format!(
                "not an in-toto statement with SLSA provenance v1: {e}"
            ))
        })?;
        if statement.statement_type != STATEMENT_TYPE {
            return Err(Error::Verify(format!(
                "the statement's `_type` is `{}`, not `{STATEMENT_TYPE}`",
                statement.statement_type
            )));
        }
        if statement.predicate_type != SLSA_PROVENANCE_V1 {
            return Err(Error::Verify(format!(
                "the statement's `predicateType` is `{}`, not `{SLSA_PROVENANCE_V1}`",
                statement.predicate_type
            )));
        }
        Ok(statement)
    }

    /// Signs the statement into a DSSE envelope with `key`.
    pub fn sign(&self, key: &SigningKey) -> Result<Envelope> {
        Ok(Envelope::sign(key, IN_TOTO_PAYLOAD_TYPE, &self.to_json()?))
    }

    /// Signs the statement with a stream key, which must be a cosign-format (ECDSA P-256) one.
    pub fn sign_with(&self, key: &crate::PrivateKey) -> Result<Envelope> {
        match key {
            crate::PrivateKey::Cosign(key) => self.sign(key),
            other => Err(Error::Key(format!(
                "provenance is signed with a cosign-format key, not an {} key",
                other.kind()
            ))),
        }
    }

    /// The resolved dependency named `name`.
    pub fn dependency(&self, name: &str) -> Option<&ResourceDescriptor> {
        self.predicate
            .build_definition
            .resolved_dependencies
            .iter()
            .find(|d| d.name.as_deref() == Some(name))
    }
}

/// Checks a provenance envelope: a signature by one of `keys` over an in-toto statement with
/// SLSA provenance whose only subject is `digest`. Returns the statement and the id of the key
/// that signed it.
pub fn verify_envelope(
    envelope: &Envelope,
    keys: &[VerifyingKey],
    digest: &str,
) -> Result<(Statement, String)> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::Verify(format!(
            "the DSSE payload type is `{}`, not `{IN_TOTO_PAYLOAD_TYPE}`",
            envelope.payload_type
        )));
    }
    let (payload, key) = envelope
        .verify(keys)
        .map_err(|e| Error::Verify(format!("the provenance signature: {e}")))?;
    let statement = Statement::parse(&payload)?;
    let subjects: Vec<String> = statement
        .subject
        .iter()
        .map(|s| s.sha256().unwrap_or_else(|| "(no sha256)".into()))
        .collect();
    if subjects != [digest] {
        return Err(Error::Verify(format!(
            "the provenance is about {}, not the release {digest}",
            subjects.join(", ")
        )));
    }
    Ok((statement, key))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::keys::{PrivateKey, PublicKey, generate_cosign};

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn statement(digest: &str) -> Statement {
        Statement::new(
            ResourceDescriptor::new("4.17.0", "quay.io/okd/scos-release", Some(digest)),
            Provenance {
                build_definition: BuildDefinition {
                    build_type: "https://example.invalid/build".into(),
                    external_parameters: serde_json::json!({"b": 1, "a": 2}),
                    internal_parameters: serde_json::json!({}),
                    resolved_dependencies: vec![ResourceDescriptor::new(
                        "base",
                        "quay.io/openshift/okd:4.15",
                        Some(DIGEST),
                    )],
                },
                run_details: RunDetails {
                    builder: Builder {
                        id: "https://example.invalid/compose".into(),
                        version: BTreeMap::new(),
                        builder_dependencies: vec![],
                    },
                    metadata: BuildMetadata {
                        started_on: "2024-01-01T00:00:00Z".into(),
                        finished_on: "2024-01-01T00:00:01Z".into(),
                    },
                },
            },
        )
    }

    fn keys() -> (SigningKey, VerifyingKey) {
        let generated = generate_cosign(None).unwrap();
        let PrivateKey::Cosign(private) = PrivateKey::parse(&generated.private_pem, None).unwrap()
        else {
            panic!()
        };
        let PublicKey::Cosign(public) = PublicKey::parse(&generated.public_pem).unwrap() else {
            panic!()
        };
        (*private, public[0])
    }

    #[test]
    fn statements_are_canonical_and_read_back() {
        let s = statement(DIGEST);
        let json = s.to_json().unwrap();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.starts_with(r#"{"_type":"https://in-toto.io/Statement/v1","predicate":"#));
        assert!(
            text.contains(r#""externalParameters":{"a":2,"b":1}"#),
            "{text}"
        );
        assert_eq!(Statement::parse(&json).unwrap(), s);
        assert_eq!(
            s.dependency("base").unwrap().sha256().as_deref(),
            Some(DIGEST)
        );
        let mut other = s.clone();
        other.predicate_type = "https://example.invalid/other".into();
        assert!(Statement::parse(&other.to_json().unwrap()).is_err());
    }

    #[test]
    fn envelopes_verify_only_for_their_key_and_release() {
        let (private, public) = keys();
        let (_, other) = keys();
        let envelope = statement(DIGEST).sign(&private).unwrap();
        let (read, _) = verify_envelope(&envelope, &[public], DIGEST).unwrap();
        assert_eq!(read, statement(DIGEST));
        assert!(verify_envelope(&envelope, &[other], DIGEST).is_err());
        let another = DIGEST.replace("0123", "ffff");
        let err = verify_envelope(&envelope, &[public], &another).unwrap_err();
        assert!(err.to_string().contains("not the release"), "{err}");
    }
}
