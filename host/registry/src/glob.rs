//! The one glob dialect of repository grants (`grants.registry = ["quay.io/okd/*"]`): the stream
//! validates a grant with [`RepositoryGlob::new`] and the sandbox matches queries with the same
//! function, so a grant that validates is a grant that matches.
//!
//! It is [`globset`] with its default options: `*` matches any run of characters, `/`
//! included (`quay.io/*` grants every repository of `quay.io`); `?` one character; `[a-z]`,
//! `[!a-z]` a set; `{a,b}` either alternative; `\` escapes the next character. The stage plugins'
//! tag and file-name globs (`compose_plugin_sdk::glob`) agree with it on these forms.

use std::fmt;

/// A checked repository glob.
#[derive(Clone)]
pub struct RepositoryGlob {
    matcher: globset::GlobMatcher,
}

impl RepositoryGlob {
    /// Checks and compiles `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<Self, globset::Error> {
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(true)
            .build()?;
        Ok(Self {
            matcher: glob.compile_matcher(),
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        self.matcher.glob().glob()
    }

    /// Whether the whole of `repository` (`quay.io/okd/scos-content`) matches.
    pub fn matches(&self, repository: &str) -> bool {
        self.matcher.is_match(repository)
    }
}

/// Two globs are equal when their patterns are.
impl PartialEq for RepositoryGlob {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RepositoryGlob {}

/// A glob serializes as its pattern (`"quay.io/okd/*"`).
impl serde::Serialize for RepositoryGlob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Debug for RepositoryGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RepositoryGlob")
            .field(&self.as_str())
            .finish()
    }
}

impl fmt::Display for RepositoryGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(pattern: &str, repository: &str) -> bool {
        RepositoryGlob::new(pattern).unwrap().matches(repository)
    }

    #[test]
    fn stars_cross_slashes_and_braces_alternate() {
        assert!(m("quay.io/okd/*", "quay.io/okd/scos-content"));
        assert!(m("*", "quay.io/a/b"));
        assert!(m("quay.io/*", "quay.io/okd/scos-content"));
        assert!(m("quay.io/*/scos-*", "quay.io/okd/scos-content"));
        assert!(!m("quay.io/okd/*", "quay.io/openshift/okd"));
        assert!(!m("quay.io/okd", "quay.io/okd/x"));
        assert!(m("quay.io/{okd,openshift}/*", "quay.io/okd/scos-content"));
        assert!(m("quay.io/{okd,openshift}/*", "quay.io/openshift/okd"));
        assert!(!m("quay.io/{okd,openshift}/*", "quay.io/fedora/x"));
        assert!(m("quay.io/okd/scos-conten?", "quay.io/okd/scos-content"));
        assert!(m("quay.io/okd/[r-t]*", "quay.io/okd/scos-content"));
        assert!(!m("quay.io/okd/[!s]*", "quay.io/okd/scos-content"));
        assert!(m(r"quay.io/okd/a\*", "quay.io/okd/a*"));
        assert!(!m(r"quay.io/okd/a\*", "quay.io/okd/ab"));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        let err = RepositoryGlob::new("quay.io/{okd").unwrap_err();
        assert!(err.to_string().contains("unclosed"), "{err}");
        assert!(RepositoryGlob::new("quay.io/[okd").is_err());
        assert_eq!(
            RepositoryGlob::new("quay.io/*").unwrap().to_string(),
            "quay.io/*"
        );
    }

    #[test]
    fn globs_compare_and_serialize_as_their_patterns() {
        let a = RepositoryGlob::new("quay.io/okd/*").unwrap();
        assert_eq!(a, RepositoryGlob::new("quay.io/okd/*").unwrap());
        assert_ne!(a, RepositoryGlob::new("quay.io/*").unwrap());
        assert_eq!(
            serde_json::to_string(&vec![a]).unwrap(),
            r#"["quay.io/okd/*"]"#
        );
    }
}
