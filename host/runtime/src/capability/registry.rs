//! `okd:compose/registry`: read-only registry queries (resolve a reference to its digest, read
//! an image config), answered by the host through the stream's mirrors and registries. Granted
//! by `grants.registry`: repository globs in the one dialect of [`RepositoryGlob`] (the stream
//! validates a grant with [`parse_grant`], a query matches with the same glob).

use compose_registry::RepositoryGlob;
use wasmtime::component::{HasSelf, Linker};

use super::StageState;
use super::{Grants, Verdict};
use crate::bindings::v0_1::okd::compose::registry as v0_1;
use crate::bindings::v0_2::okd::compose0_2_0::registry as v0_2;

/// Read-only registry queries the host answers for stages (through the stream's mirrors or
/// registries).
pub trait RegistryQuery: Send + Sync {
    /// Resolves a reference to its manifest digest.
    fn resolve(&self, reference: &str) -> Result<String, String>;
    /// The image config JSON of a reference.
    fn image_config(&self, reference: &str) -> Result<String, String>;
    /// Whether the answer to `query` of `reference` is at hand: in memory or on local disk,
    /// with no registry to wait for. Such a query is answered on the stage's own thread; any
    /// other goes through the stage's deadline-bounded host-call thread ([`crate::bounded`]).
    /// `false` unless the implementation knows better.
    fn answers_at_hand(&self, query: Query, reference: &str) -> bool {
        let _ = (query, reference);
        false
    }
}

/// A query of the `registry` interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// `resolve`: the manifest digest of a reference.
    Resolve,
    /// `image-config`: the image config of a reference.
    ImageConfig,
}

/// Checks one `grants.registry` entry (`quay.io/okd/*`); the error says what is wrong with it.
pub fn parse_grant(text: &str) -> Result<RepositoryGlob, String> {
    RepositoryGlob::new(text).map_err(|e| e.to_string())
}

/// The verdict on `okd:compose/<own>`, if this capability owns it.
pub(crate) fn judge(own: &str, grants: &Grants) -> Option<Verdict> {
    if own != "registry" {
        return None;
    }
    Some(if grants.registry.is_empty() {
        Verdict::refused("the stage has no `grants.registry`")
    } else {
        Verdict::granted(format!("repositories {}", shown(grants)))
    })
}

/// The granted globs, for messages: `quay.io/okd/*, quay.io/fedora/*`.
fn shown(grants: &Grants) -> String {
    grants
        .registry
        .iter()
        .map(RepositoryGlob::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Links `registry` of every released version.
pub(crate) fn link(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    v0_1::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    v0_2::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

/// Refuses a query outside the stage's granted repositories.
fn check_granted(state: &StageState, reference: &str) -> Result<(), String> {
    let parsed = compose_registry::Reference::parse(reference).map_err(|e| e.to_string())?;
    let repository = parsed.repository_path();
    if state.grants.registry.iter().any(|g| g.matches(&repository)) {
        Ok(())
    } else {
        Err(format!(
            "repository `{repository}` is not granted to stage `{}` (grants.registry: [{}])",
            state.stage,
            shown(&state.grants)
        ))
    }
}

impl v0_2::Host for StageState {
    fn resolve(&mut self, reference: String) -> Result<String, String> {
        check_granted(self, &reference)?;
        self.services()?.registry.resolve(&reference)
    }

    fn image_config(&mut self, reference: String) -> Result<String, String> {
        check_granted(self, &reference)?;
        self.services()?.registry.image_config(&reference)
    }
}

/// 0.1.0: the same calls.
impl v0_1::Host for StageState {
    fn resolve(&mut self, reference: String) -> Result<String, String> {
        v0_2::Host::resolve(self, reference)
    }

    fn image_config(&mut self, reference: String) -> Result<String, String> {
        v0_2::Host::image_config(self, reference)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Whether `text` matches `glob` as a stage's registry grant.
    fn glob_matches(glob: &str, text: &str) -> bool {
        parse_grant(glob).unwrap().matches(text)
    }

    #[test]
    fn globs_match_repositories() {
        assert!(glob_matches("quay.io/okd/*", "quay.io/okd/scos-content"));
        assert!(glob_matches("*", "quay.io/a/b"));
        assert!(glob_matches("quay.io/*/scos-*", "quay.io/okd/scos-content"));
        assert!(!glob_matches("quay.io/okd/*", "quay.io/openshift/okd"));
        assert!(!glob_matches("quay.io/okd", "quay.io/okd/x"));
        // Braces validate in the stream, so they must match here too.
        assert!(glob_matches(
            "quay.io/{okd,fedora}/*",
            "quay.io/okd/scos-content"
        ));
        assert!(!glob_matches(
            "quay.io/{okd,fedora}/*",
            "quay.io/openshift/okd"
        ));
    }

    #[test]
    fn a_glob_that_does_not_compile_is_refused_with_its_reason() {
        let error = parse_grant("quay.io/{okd").unwrap_err();
        assert!(error.contains("unclosed alternate group"), "{error}");
    }

    #[test]
    fn the_verdict_names_the_granted_repositories() {
        let grants = Grants {
            registry: vec![
                parse_grant("quay.io/okd/*").unwrap(),
                parse_grant("quay.io/fedora/*").unwrap(),
            ],
            ..Grants::default()
        };
        assert_eq!(
            judge("registry", &grants),
            Some(Verdict::granted(
                "repositories quay.io/okd/*, quay.io/fedora/*"
            ))
        );
        assert_eq!(judge("signer", &grants), None);
    }
}
