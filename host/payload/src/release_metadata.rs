//! `release-manifests/release-metadata`: the Cincinnati metadata (`cincinnati-metadata-v0`),
//! written as oc writes it and checked as the CVO checks it.

use crate::error::{Error, Result};
use crate::gojson::marshal_indent;
use crate::release::{CINCINNATI_KIND, ReleaseMetadata};

/// Checks that `name` is a release name the CVO accepts: non-empty semver.
pub fn validate_release_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidReleaseName {
            name: name.to_string(),
            reason: "must not be empty".to_string(),
        });
    }
    semver::Version::parse(name)
        .map(|_| ())
        .map_err(|e| Error::InvalidReleaseName {
            name: name.to_string(),
            reason: format!("must be semver ({e})"),
        })
}

/// Checks `kind` and `version` as the CVO does.
fn check(metadata: &ReleaseMetadata) -> Result<()> {
    if metadata.kind != CINCINNATI_KIND {
        return Err(Error::InvalidMetadata(format!(
            "`kind` must be `{CINCINNATI_KIND}`, not `{}`",
            metadata.kind
        )));
    }
    if metadata.version.is_empty() {
        return Err(Error::InvalidMetadata(
            "`version` must not be empty".to_string(),
        ));
    }
    if let Err(e) = semver::Version::parse(&metadata.version) {
        return Err(Error::InvalidMetadata(format!(
            "`version` `{}` must be semver ({e})",
            metadata.version
        )));
    }
    Ok(())
}

/// Writes `release-metadata` as oc does: Go `MarshalIndent` with two spaces, no trailing
/// newline; `previous` always present and sorted, `next` and `metadata` only when not empty.
pub fn write_release_metadata(metadata: &ReleaseMetadata) -> Result<Vec<u8>> {
    check(metadata)?;
    let mut sorted = metadata.clone();
    sorted.previous.sort();
    marshal_indent(&sorted).map_err(|source| Error::Json {
        action: "serialising",
        document: "release-metadata",
        source,
    })
}

/// Reads `release-metadata`, refusing what the CVO refuses: another `kind`, or a `version`
/// that is empty or not semver.
pub fn read_release_metadata(bytes: &[u8]) -> Result<ReleaseMetadata> {
    let metadata: ReleaseMetadata =
        serde_json::from_slice(bytes).map_err(|source| Error::Json {
            action: "parsing",
            document: "release-metadata",
            source,
        })?;
    check(&metadata)?;
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_like_oc() {
        let mut m = ReleaseMetadata::new("4.20.0-okd-scos.7");
        m.previous = vec!["4.20.0-okd-scos.6".into(), "4.20.0-okd-scos.5".into()];
        m.metadata.insert(
            "url".into(),
            serde_json::Value::String("https://example.org/a?b&c".into()),
        );
        let out = String::from_utf8(write_release_metadata(&m).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{
  "kind": "cincinnati-metadata-v0",
  "version": "4.20.0-okd-scos.7",
  "previous": [
    "4.20.0-okd-scos.5",
    "4.20.0-okd-scos.6"
  ],
  "metadata": {
    "url": "https://example.org/a?b\u0026c"
  }
}"#
        );
    }

    #[test]
    fn empty_previous_is_kept_and_empty_next_dropped() {
        let mut m = ReleaseMetadata::new("4.17.0-okd-scos.0");
        let out = String::from_utf8(write_release_metadata(&m).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\n  \"kind\": \"cincinnati-metadata-v0\",\n  \"version\": \"4.17.0-okd-scos.0\",\n  \"previous\": []\n}"
        );
        m.next = vec!["4.17.0-okd-scos.1".into()];
        let out = String::from_utf8(write_release_metadata(&m).unwrap()).unwrap();
        assert!(out.contains("\"next\": [\n    \"4.17.0-okd-scos.1\"\n  ]"));
    }

    #[test]
    fn reads_and_checks() {
        let m = read_release_metadata(
            br#"{"kind":"cincinnati-metadata-v0","version":"4.15.0-0.okd-2024-03-10-010116","previous":["b","a"],"metadata":{"url":"u"}}"#,
        )
        .unwrap();
        assert_eq!(m.version, "4.15.0-0.okd-2024-03-10-010116");
        assert_eq!(m.previous, vec!["b".to_string(), "a".to_string()]);
        assert!(matches!(
            read_release_metadata(br#"{"kind":"other","version":"4.1.0"}"#),
            Err(Error::InvalidMetadata(m)) if m.contains("`kind`")
        ));
        assert!(matches!(
            read_release_metadata(br#"{"kind":"cincinnati-metadata-v0","version":""}"#),
            Err(Error::InvalidMetadata(m)) if m.contains("empty")
        ));
        assert!(matches!(
            read_release_metadata(br#"{"kind":"cincinnati-metadata-v0","version":"4.15"}"#),
            Err(Error::InvalidMetadata(m)) if m.contains("semver")
        ));
        assert!(matches!(
            read_release_metadata(b"not json"),
            Err(Error::Json { .. })
        ));
    }

    #[test]
    fn release_names_must_be_semver() {
        assert!(validate_release_name("4.17.0-okd-scos.ec.1").is_ok());
        assert!(validate_release_name("").is_err());
        assert!(validate_release_name("latest").is_err());
    }
}
