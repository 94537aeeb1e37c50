//! The signed payloads: "simple signing" JSON (containers/image), as the cluster-version
//! operator, skopeo and cosign read it.
//!
//! OpenPGP signatures carry type `atomic container signature`; cosign-format signatures carry
//! `cosign container image signature`. Both name the manifest digest and a docker reference;
//! `critical` must hold exactly `type`, `image` and `identity` (verifiers reject unknown
//! fields there).

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// `critical.type` of OpenPGP release signatures.
pub const ATOMIC_TYPE: &str = "atomic container signature";
/// `critical.type` of cosign-format signatures.
pub const COSIGN_TYPE: &str = "cosign container image signature";

/// A parsed simple-signing payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    /// `critical.type`.
    pub kind: String,
    /// `critical.image.docker-manifest-digest`.
    pub digest: String,
    /// `critical.identity.docker-reference`.
    pub reference: String,
    /// `optional.creator`, if any.
    pub creator: Option<String>,
    /// `optional.timestamp`, if any.
    pub timestamp: Option<i64>,
}

/// Builds a payload (keys sorted, compact JSON).
pub fn payload(
    kind: &str,
    reference: &str,
    digest: &str,
    creator: &str,
    timestamp: Option<i64>,
) -> Vec<u8> {
    let mut optional = Map::new();
    optional.insert("creator".into(), json!(creator));
    if let Some(t) = timestamp {
        optional.insert("timestamp".into(), json!(t));
    }
    json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": kind,
        },
        "optional": optional,
    })
    .to_string()
    .into_bytes()
}

fn exact<'a>(value: &'a Value, fields: &[&str], what: &str) -> Result<&'a Map<String, Value>> {
    let Some(map) = value.as_object() else {
        return Err(Error::Verify(format!("`{what}` is not a JSON object")));
    };
    let mut have: Vec<&str> = map.keys().map(String::as_str).collect();
    have.sort_unstable();
    let mut want = fields.to_vec();
    want.sort_unstable();
    if have != want {
        return Err(Error::Verify(format!(
            "`{what}` must have exactly the fields {want:?}, has {have:?}"
        )));
    }
    Ok(map)
}

fn string(value: &Value, what: &str) -> Result<String> {
    value
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::Verify(format!("`{what}` must be a non-empty string")))
}

/// Parses a payload, checks its shape and that its type is `kind`.
pub fn parse(bytes: &[u8], kind: &str) -> Result<SimpleSigning> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::Verify(format!("the signed payload is not JSON: {e}")))?;
    let top = exact(&value, &["critical", "optional"], "payload")?;
    let critical = exact(&top["critical"], &["identity", "image", "type"], "critical")?;
    let found = string(&critical["type"], "critical.type")?;
    if found != kind {
        return Err(Error::Verify(format!(
            "the signature's type is `{found}`, not `{kind}`"
        )));
    }
    let image = exact(
        &critical["image"],
        &["docker-manifest-digest"],
        "critical.image",
    )?;
    let identity = exact(
        &critical["identity"],
        &["docker-reference"],
        "critical.identity",
    )?;
    let optional = top["optional"].as_object();
    Ok(SimpleSigning {
        kind: found,
        digest: string(&image["docker-manifest-digest"], "docker-manifest-digest")?,
        reference: string(&identity["docker-reference"], "docker-reference")?,
        creator: optional
            .and_then(|o| o.get("creator"))
            .and_then(Value::as_str)
            .map(str::to_string),
        timestamp: optional
            .and_then(|o| o.get("timestamp"))
            .and_then(Value::as_i64),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let p = payload(
            ATOMIC_TYPE,
            "quay.io/okd/scos-release:4.17.0",
            "sha256:ab",
            "compose 0.1.0",
            Some(7),
        );
        assert_eq!(
            String::from_utf8(p.clone()).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"quay.io/okd/scos-release:4.17.0"},"image":{"docker-manifest-digest":"sha256:ab"},"type":"atomic container signature"},"optional":{"creator":"compose 0.1.0","timestamp":7}}"#
        );
        let parsed = parse(&p, ATOMIC_TYPE).unwrap();
        assert_eq!(parsed.digest, "sha256:ab");
        assert_eq!(parsed.timestamp, Some(7));
        assert!(parse(&p, COSIGN_TYPE).is_err());
        let extra = String::from_utf8(p)
            .unwrap()
            .replace(r#""type""#, r#""x":1,"type""#);
        assert!(parse(extra.as_bytes(), ATOMIC_TYPE).is_err());
    }
}
