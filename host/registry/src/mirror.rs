//! Registry mirrors: route each reference to the store that serves its repository, like an
//! `ImageDigestMirrorSet`, so a stream can name real `quay.io/…` references and run offline.

use std::sync::Arc;

use compose_payload::oci::Descriptor;

use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::source::ImageSource;

/// A set of mirrors, each serving the repositories under a prefix (`registry` or
/// `registry/path`). The longest matching prefix wins; prefixes match at `/` boundaries, so
/// `quay.io/openshift` serves `quay.io/openshift/okd` but not `quay.io/openshift-release`.
pub struct Mirrors {
    /// Longest prefix first.
    entries: Vec<(String, Arc<dyn ImageSource>)>,
    /// Where references no prefix matches are read from, if anywhere (the real registries).
    fallback: Option<Arc<dyn ImageSource>>,
}

impl std::fmt::Debug for Mirrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(p, s)| (p, s.location())))
            .finish()
    }
}

impl Mirrors {
    /// Builds the set; each prefix must be a normalised `registry[/path]` given once.
    pub fn new(mirrors: Vec<(String, Arc<dyn ImageSource>)>) -> Result<Mirrors> {
        let mut entries: Vec<(String, Arc<dyn ImageSource>)> = Vec::new();
        for (prefix, source) in mirrors {
            let bad = |reason: &str| Error::InvalidMirrorPrefix {
                prefix: prefix.clone(),
                reason: reason.to_string(),
            };
            // A valid prefix followed by one more component is a valid, already normalised
            // repository path: this refuses tags, digests, `docker.io`-less Hub names and junk.
            let probe = format!("{prefix}/x");
            match Reference::parse(&probe) {
                Ok(r) if r.tag.is_none() && r.digest.is_none() && r.repository_path() == probe => {}
                _ => {
                    return Err(bad(
                        "must be `registry` or `registry/path`, e.g. `quay.io/openshift`",
                    ));
                }
            }
            if entries.iter().any(|(p, _)| *p == prefix) {
                return Err(bad("is given twice"));
            }
            entries.push((prefix, source));
        }
        entries.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(Mirrors {
            entries,
            fallback: None,
        })
    }

    /// Reads references that no prefix matches from `fallback` (typically the real registries,
    /// [`crate::RemoteRegistries`]) instead of refusing them.
    pub fn with_fallback(mut self, fallback: Arc<dyn ImageSource>) -> Mirrors {
        self.fallback = Some(fallback);
        self
    }

    /// The configured prefixes, longest first.
    pub fn prefixes(&self) -> Vec<String> {
        self.entries.iter().map(|(p, _)| p.clone()).collect()
    }

    /// The source serving `reference`: the longest prefix matching at a `/` boundary.
    pub fn source_for(&self, reference: &Reference) -> Result<&dyn ImageSource> {
        let path = reference.repository_path();
        self.entries
            .iter()
            .find(|(prefix, _)| {
                path.strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .map(|(_, source)| source.as_ref())
            .or(self.fallback.as_deref())
            .ok_or_else(|| Error::NoMirror {
                reference: reference.to_string(),
                prefixes: self.prefixes(),
            })
    }
}

impl ImageSource for Mirrors {
    fn location(&self) -> String {
        let stores: Vec<String> = self
            .entries
            .iter()
            .map(|(p, s)| format!("{p}={}", s.location()))
            .chain(self.fallback.iter().map(|s| format!("*={}", s.location())))
            .collect();
        format!("mirrors({})", stores.join(", "))
    }

    fn resolve(&self, reference: &Reference) -> Result<Descriptor> {
        self.source_for(reference)?.resolve(reference)
    }

    fn blob(&self, reference: &Reference, digest: &str) -> Result<Vec<u8>> {
        self.source_for(reference)?.blob(reference, digest)
    }

    fn manifest(
        &self,
        reference: &Reference,
    ) -> Result<(String, compose_payload::oci::ImageManifest)> {
        self.source_for(reference)?.manifest(reference)
    }

    fn config(&self, reference: &Reference) -> Result<serde_json::Value> {
        self.source_for(reference)?.config(reference)
    }

    /// Each store reads ahead the references it serves (references no store serves are left
    /// for the later read to refuse).
    fn prefetch(&self, references: &[Reference]) {
        let mut groups: Vec<(&dyn ImageSource, Vec<Reference>)> = Vec::new();
        for reference in references {
            let Ok(source) = self.source_for(reference) else {
                continue;
            };
            match groups
                .iter_mut()
                .find(|(s, _)| std::ptr::addr_eq(*s as *const dyn ImageSource, source))
            {
                Some((_, group)) => group.push(reference.clone()),
                None => groups.push((source, vec![reference.clone()])),
            }
        }
        for (source, group) in groups {
            source.prefetch(&group);
        }
    }

    /// At hand in the store serving `reference`; a reference no store serves is refused
    /// without the network.
    fn at_hand(&self, reference: &Reference) -> bool {
        self.source_for(reference)
            .map_or(true, |source| source.at_hand(reference))
    }
}

/// A registry serving the repositories under `prefix` at another location, as an
/// `ImageDigestMirrorSet` says: `quay.io/openshift/okd:4.15` is read as
/// `127.0.0.1:5000/mirror/openshift/okd:4.15` when `quay.io` is mirrored at
/// `127.0.0.1:5000/mirror`. Tags and digests are kept.
pub struct PrefixMirror {
    prefix: String,
    location: String,
    source: Arc<dyn ImageSource>,
}

impl PrefixMirror {
    /// Reads references under `prefix` from `location` (`host[:port][/path]`) through `source`.
    pub fn new(prefix: &str, location: &str, source: Arc<dyn ImageSource>) -> Result<PrefixMirror> {
        let location = location.trim_end_matches('/');
        let probe = format!("{location}/x");
        match Reference::parse(&probe) {
            Ok(r)
                if r.tag.is_none()
                    && r.digest.is_none()
                    && r.repository_path() == probe
                    && location.split('/').next() == Some(r.registry.as_str()) => {}
            _ => {
                return Err(Error::InvalidMirrorPrefix {
                    prefix: location.to_string(),
                    reason: "a registry mirror must be `host[:port][/path]`, e.g. `127.0.0.1:5000/mirror`"
                        .to_string(),
                });
            }
        }
        Ok(PrefixMirror {
            prefix: prefix.trim_end_matches('/').to_string(),
            location: location.to_string(),
            source,
        })
    }

    /// `reference` as read from the mirror.
    pub fn rewrite(&self, reference: &Reference) -> Result<Reference> {
        let path = reference.repository_path();
        let rest = path
            .strip_prefix(self.prefix.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .ok_or_else(|| Error::NoMirror {
                reference: reference.to_string(),
                prefixes: vec![self.prefix.clone()],
            })?;
        let mut rewritten = Reference::parse(&format!("{}{rest}", self.location))?;
        rewritten.tag = reference.tag.clone();
        rewritten.digest = reference.digest.clone();
        Ok(rewritten)
    }
}

impl ImageSource for PrefixMirror {
    fn location(&self) -> String {
        format!("{} (for {})", self.location, self.prefix)
    }

    fn resolve(&self, reference: &Reference) -> Result<Descriptor> {
        self.source.resolve(&self.rewrite(reference)?)
    }

    fn blob(&self, reference: &Reference, digest: &str) -> Result<Vec<u8>> {
        self.source.blob(&self.rewrite(reference)?, digest)
    }

    fn prefetch(&self, references: &[Reference]) {
        let rewritten: Vec<Reference> = references
            .iter()
            .filter_map(|r| self.rewrite(r).ok())
            .collect();
        self.source.prefetch(&rewritten);
    }

    fn at_hand(&self, reference: &Reference) -> bool {
        self.rewrite(reference)
            .map_or(true, |rewritten| self.source.at_hand(&rewritten))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::OciLayout;
    use crate::source::tests::put_image;
    use serde_json::json;

    fn r(text: &str) -> Reference {
        Reference::parse(text).unwrap()
    }

    fn layout_with(tag: &str, label: &str) -> (tempfile::TempDir, Arc<dyn ImageSource>) {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = OciLayout::create(dir.path()).unwrap();
        let d = put_image(&layout, false, &[label.as_bytes()], json!({"who": label}));
        layout.set_ref(d, tag);
        (dir, Arc::new(layout))
    }

    #[test]
    fn longest_prefix_wins_at_slash_boundaries() {
        let (_a, broad) = layout_with("quay.io/openshift/okd:1", "broad");
        let (_b, narrow) = layout_with("quay.io/openshift/okd:1", "narrow");
        let mirrors = Mirrors::new(vec![
            ("quay.io".to_string(), broad),
            ("quay.io/openshift".to_string(), narrow),
        ])
        .unwrap();
        assert_eq!(mirrors.prefixes(), vec!["quay.io/openshift", "quay.io"]);
        let who = |text: &str| mirrors.config(&r(text)).unwrap()["config"]["Labels"]["who"].clone();
        assert_eq!(who("quay.io/openshift/okd:1"), "narrow");
        // `quay.io/openshift-release` is not under `quay.io/openshift`.
        assert!(matches!(
            mirrors.resolve(&r("quay.io/openshift-release/okd:1")),
            Err(Error::NotFound { .. })
        ));
        assert!(
            mirrors
                .source_for(&r("quay.io/openshift-release/x"))
                .is_ok()
        );
    }

    #[test]
    fn unmatched_references_name_the_prefixes() {
        let (_a, source) = layout_with("quay.io/openshift/okd:1", "a");
        let mirrors = Mirrors::new(vec![("quay.io/openshift".to_string(), source)]).unwrap();
        let err = mirrors.resolve(&r("registry.ci.openshift.org/origin/release:4.15"));
        match err {
            Err(e @ Error::NoMirror { .. }) => {
                let text = e.to_string();
                assert!(text.contains("registry.ci.openshift.org/origin/release:4.15"));
                assert!(text.contains("quay.io/openshift"));
            }
            other => panic!("expected NoMirror, got {other:?}"),
        }
    }

    #[test]
    fn prefixes_are_checked() {
        let (_a, source) = layout_with("x:1", "a");
        for bad in ["", "quay.io/", "quay.io/a:tag", "openshift", "quay.io/UP"] {
            assert!(
                matches!(
                    Mirrors::new(vec![(bad.to_string(), source.clone())]),
                    Err(Error::InvalidMirrorPrefix { .. })
                ),
                "{bad:?} accepted"
            );
        }
        assert!(matches!(
            Mirrors::new(vec![
                ("quay.io".to_string(), source.clone()),
                ("quay.io".to_string(), source.clone()),
            ]),
            Err(Error::InvalidMirrorPrefix { reason, .. }) if reason.contains("twice")
        ));
        assert!(Mirrors::new(vec![("localhost:5000".to_string(), source)]).is_ok());
    }

    #[test]
    fn a_fallback_serves_what_no_prefix_matches() {
        let (_a, narrow) = layout_with("quay.io/openshift/okd:1", "narrow");
        let (_b, other) = layout_with("ghcr.io/x/y:1", "fallback");
        let mirrors = Mirrors::new(vec![("quay.io/openshift".to_string(), narrow)])
            .unwrap()
            .with_fallback(other);
        let who = |text: &str| mirrors.config(&r(text)).unwrap()["config"]["Labels"]["who"].clone();
        assert_eq!(who("quay.io/openshift/okd:1"), "narrow");
        assert_eq!(who("ghcr.io/x/y:1"), "fallback");
        assert!(mirrors.location().contains("*=oci:"));
    }

    /// A source that is never at hand (a registry nothing was read from).
    struct Far;

    impl ImageSource for Far {
        fn location(&self) -> String {
            "far".into()
        }
        fn resolve(&self, reference: &Reference) -> Result<compose_payload::oci::Descriptor> {
            Err(Error::NotFound {
                reference: reference.to_string(),
                store: self.location(),
            })
        }
        fn blob(&self, reference: &Reference, _digest: &str) -> Result<Vec<u8>> {
            self.resolve(reference).map(|_| Vec::new())
        }
    }

    #[test]
    fn a_layout_is_at_hand_and_a_registry_is_not() {
        let (_a, local) = layout_with("quay.io/openshift/okd:1", "local");
        let mirrors = Mirrors::new(vec![
            ("quay.io/openshift".to_string(), local),
            (
                "quay.io/far".to_string(),
                Arc::new(Far) as Arc<dyn ImageSource>,
            ),
        ])
        .unwrap();
        assert!(mirrors.at_hand(&r("quay.io/openshift/okd:1")));
        assert!(!mirrors.at_hand(&r("quay.io/far/x:1")));
        // Served by no store: refused without the network.
        assert!(mirrors.at_hand(&r("ghcr.io/x/y:1")));
        let mirrors = mirrors.with_fallback(Arc::new(Far));
        assert!(!mirrors.at_hand(&r("ghcr.io/x/y:1")));
        let prefixed =
            PrefixMirror::new("quay.io", "127.0.0.1:5000/mirror/", Arc::new(Far)).unwrap();
        assert!(!prefixed.at_hand(&r("quay.io/openshift/okd:1")));
    }

    #[test]
    fn prefix_mirrors_rewrite_references() {
        let (_a, source) = layout_with("127.0.0.1:5000/mirror/openshift/okd:1", "m");
        let m = PrefixMirror::new("quay.io", "127.0.0.1:5000/mirror/", source.clone()).unwrap();
        let got = m.rewrite(&r("quay.io/openshift/okd:1")).unwrap();
        assert_eq!(got.to_string(), "127.0.0.1:5000/mirror/openshift/okd:1");
        assert_eq!(
            m.config(&r("quay.io/openshift/okd:1")).unwrap()["config"]["Labels"]["who"],
            "m"
        );
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let pinned = m.rewrite(&r(&format!("quay.io/okd/x@{d}"))).unwrap();
        assert_eq!(
            pinned.to_string(),
            format!("127.0.0.1:5000/mirror/okd/x@{d}")
        );
        let host = PrefixMirror::new("quay.io/okd", "localhost:5000", source.clone()).unwrap();
        assert_eq!(
            host.rewrite(&r("quay.io/okd/scos-content:t"))
                .unwrap()
                .to_string(),
            "localhost:5000/scos-content:t"
        );
        assert!(host.rewrite(&r("quay.io/okdx/y:t")).is_err());
        for bad in ["mirror", "quay.io/UP", "quay.io:x", ""] {
            assert!(
                PrefixMirror::new("quay.io", bad, source.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
