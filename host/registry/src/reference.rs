//! Image references (`registry/repository[:tag][@sha256:…]`), normalised by Docker's rules.
//!
//! Why not `oci_client::Reference` (oci-spec 0.10's `distribution::Reference`), which
//! `remote.rs` already converts to: it parses the same grammar and the same `docker.io`
//! normalisation, but differs where compose's output and messages depend on it (pinned by
//! `oci_client_reference_differs_where_compose_needs_it` below):
//! - a reference with neither tag nor digest gets the tag `latest`, so `ubuntu` prints as
//!   `docker.io/library/ubuntu:latest` where compose prints and writes what was given
//!   (`docker.io/library/ubuntu`);
//! - any `sha256`/`sha384`/`sha512` digest with upper- or lowercase hex parses, while compose
//!   stores only `sha256:` and 64 lowercase hex digits (what [`is_sha256_digest`] checks);
//! - a port out of range (`host:99999`) parses;
//! - its errors (`invalid reference format`) name neither the input nor the part at fault;
//! - its fields are private; compose builds references field by field in four crates.
//!
//! Wrapping it would need a check before and after every parse and a change to each of those
//! places for no less code, so this parser stays.

use std::fmt;
use std::str::FromStr;

use compose_payload::oci::is_sha256_digest;

use crate::error::{Error, Result};

/// The registry of references that name none, as Docker defaults.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Docker's limit on the repository part of a reference.
const MAX_REPOSITORY_LEN: usize = 255;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// The registry host, with an optional `:port`: `quay.io`, `localhost:5000`.
    pub registry: String,
    /// The repository path: `openshift/okd`, `library/ubuntu`.
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The `sha256:<hex>` digest, if any.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference by Docker's rules: the first path component is a registry when it
    /// contains `.` or `:` or is `localhost`; otherwise the registry is `docker.io`, with
    /// `library/` added to a single-component name. A tag and/or an `@sha256:<64 hex>` digest
    /// may follow.
    pub fn parse(text: &str) -> Result<Reference> {
        let bad = |reason: &str| Error::InvalidReference {
            reference: text.to_string(),
            reason: reason.to_string(),
        };
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => {
                if !is_sha256_digest(digest) {
                    return Err(bad(
                        "the digest must be `sha256:` and 64 lowercase hex digits",
                    ));
                }
                (name, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &name[last_slash + i + 1..];
                if !is_tag(tag) {
                    return Err(bad("the tag must be 1 to 128 of `A-Z a-z 0-9 _ . -`, \
                                    not starting with `.` or `-`"));
                }
                (&name[..last_slash + i], Some(tag.to_string()))
            }
            None => (name, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ if name.contains('/') => (DEFAULT_REGISTRY.to_string(), name.to_string()),
            _ => (DEFAULT_REGISTRY.to_string(), format!("library/{name}")),
        };
        let registry = if registry == "index.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        if !is_registry(&registry) {
            return Err(bad(
                "the registry must be a host name with an optional `:port`",
            ));
        }
        if let Some((_, port)) = registry.rsplit_once(':')
            && !port.parse::<u16>().is_ok_and(|p| p > 0)
        {
            return Err(bad(&format!(
                "the port `{port}` of the registry `{registry}` is out of range: \
                 it must be from 1 to 65535"
            )));
        }
        if repository.len() > MAX_REPOSITORY_LEN {
            return Err(bad("the repository must be at most 255 characters"));
        }
        if !repository.split('/').all(is_path_component) {
            return Err(bad(
                "the repository must be lowercase `a-z 0-9` components \
                            separated by `/`, with `.`, `_`, `__` or dashes inside",
            ));
        }
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn repository_path(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository pinned to `digest`: `registry/repository@digest`.
    pub fn pinned(&self, digest: &str) -> Result<Reference> {
        if !is_sha256_digest(digest) {
            return Err(Error::InvalidDigest(digest.to_string()));
        }
        Ok(Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(text: &str) -> Result<Reference> {
        Reference::parse(text)
    }
}

fn is_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn is_registry(registry: &str) -> bool {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, as the distribution grammar says.
fn is_path_component(component: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = component.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep_start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &component[sep_start..i];
        let sep_ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
        if !sep_ok {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn r(text: &str) -> Reference {
        Reference::parse(text).unwrap()
    }

    #[test]
    fn parses_registry_repository_tag_digest() {
        let x = r("quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116");
        assert_eq!(x.registry, "quay.io");
        assert_eq!(x.repository, "openshift/okd");
        assert_eq!(x.tag.as_deref(), Some("4.15.0-0.okd-2024-03-10-010116"));
        assert_eq!(x.digest, None);

        let x = r(&format!("localhost:5000/a/b/c:v1@{D}"));
        assert_eq!(x.registry, "localhost:5000");
        assert_eq!(x.repository, "a/b/c");
        assert_eq!(x.tag.as_deref(), Some("v1"));
        assert_eq!(x.digest.as_deref(), Some(D));

        let x = r(&format!("quay.io/okd/scos-content@{D}"));
        assert_eq!(x.tag, None);
        assert_eq!(x.repository_path(), "quay.io/okd/scos-content");
    }

    #[test]
    fn applies_docker_defaults() {
        assert_eq!(r("ubuntu").to_string(), "docker.io/library/ubuntu");
        assert_eq!(
            r("ubuntu:22.04").to_string(),
            "docker.io/library/ubuntu:22.04"
        );
        assert_eq!(r("user/repo:tag").to_string(), "docker.io/user/repo:tag");
        assert_eq!(r("localhost/x").registry, "localhost");
        assert_eq!(r("index.docker.io/library/a").registry, "docker.io");
        // `openshift` has no dot, colon or `localhost`: it is a Docker Hub namespace.
        assert_eq!(r("openshift/okd").registry, "docker.io");
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116",
            &format!("quay.io/okd/scos-content@{D}"),
            &format!("localhost:5000/a__b/c-d/e.f:t@{D}"),
            "docker.io/library/ubuntu",
        ] {
            assert_eq!(r(text).to_string(), text);
            assert_eq!(r(&r(text).to_string()), r(text));
        }
    }

    #[test]
    fn pins_to_a_digest() {
        let p = r("quay.io/openshift/okd:4.15").pinned(D).unwrap();
        assert_eq!(p.to_string(), format!("quay.io/openshift/okd@{D}"));
        assert!(matches!(
            r("quay.io/a/b").pinned("sha256:xyz"),
            Err(Error::InvalidDigest(_))
        ));
    }

    #[test]
    fn ports_must_be_in_range() {
        assert_eq!(r("host:65535/a").registry, "host:65535");
        let err = Reference::parse("host:99999/okd/release:4").unwrap_err();
        assert!(
            err.to_string().contains("port `99999`") && err.to_string().contains("65535"),
            "{err}"
        );
    }

    #[test]
    fn oci_client_reference_differs_where_compose_needs_it() {
        let theirs = |text: &str| oci_client::Reference::try_from(text);
        // No tag: oci-client adds `latest`, compose keeps what was written.
        assert_eq!(
            theirs("ubuntu").unwrap().to_string(),
            "docker.io/library/ubuntu:latest"
        );
        assert_eq!(r("ubuntu").to_string(), "docker.io/library/ubuntu");
        // Digests compose never stores.
        for digest in [
            format!("sha256:{}", D[7..].to_uppercase()),
            format!("sha512:{}{}", &D[7..], &D[7..]),
        ] {
            let text = format!("quay.io/a@{digest}");
            assert!(theirs(&text).is_ok(), "{text}");
            assert!(Reference::parse(&text).is_err(), "{text}");
        }
        // A port out of range.
        assert!(theirs("host:99999/a").is_ok());
        assert!(Reference::parse("host:99999/a").is_err());
        // Errors: compose's name the input and what is wrong with it.
        let text = "quay.io/Upper/case";
        let message = theirs(text).unwrap_err().to_string();
        assert_eq!(message, "invalid reference format");
        let ours = Reference::parse(text).unwrap_err().to_string();
        assert!(ours.contains(text) && ours.contains("lowercase"), "{ours}");
    }

    #[test]
    fn refuses_malformed_references() {
        for bad in [
            "",
            "quay.io/",
            "quay.io/Upper/case",
            "quay.io/a//b",
            "quay.io/a:",
            "quay.io/a:-tag",
            "quay.io/a@sha256:abc",
            &format!("quay.io/a@sha512:{}", &D[7..]),
            "quay.io/a..b",
            "quay.io/a.-b",
            "bad host!/a",
            "quay.io:port/a",
            "host:99999/a/b:t",
            "host:0/a",
            "localhost:65536/a",
        ] {
            assert!(
                matches!(Reference::parse(bad), Err(Error::InvalidReference { .. })),
                "{bad:?} parsed"
            );
        }
    }
}
