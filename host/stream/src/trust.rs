//! `[trust]`: whose `oci://` plugins a stream runs.
//!
//! ```toml
//! [trust]
//! plugins = ["keys/community.cosign.pub", "keys/vendor.cosign.pub"]
//!
//! [[stage]]
//! name = "scan"
//! plugin = "oci://registry.example.org/compose/scan:1.2"
//! trust = ["keys/vendor.cosign.pub"]   # this stage's plugin: only the vendor's key
//! ```
//!
//! Each entry is a cosign public key file (PEM), resolved like every other path of a stream:
//! relative to the stream file's directory. A stage's own `trust` replaces the stream's list
//! for that stage. A stream without `[trust]` (and stages without `trust`) run `oci://`
//! plugins unsigned, as before. Builtins and component files are not checked: builtins are
//! part of the binary, files are as trusted as the stream file naming them.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Diagnostic, shown};
use crate::model::TrustedKey;

/// `[trust]` of a stream file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrustSection {
    /// cosign public key files (relative to the stream file): every `oci://` plugin must carry
    /// a valid cosign signature by one of them.
    pub plugins: Vec<Spanned<String>>,
}

/// Resolves the key files of a trust list (`what` names it in messages) against the stream's
/// directory `dir`; each entry that is not an existing regular file (symbolic links followed)
/// or that repeats an earlier one is reported in `problems`.
pub(crate) fn trusted_keys(
    dir: &Path,
    list: &[Spanned<String>],
    what: &str,
    problems: &mut Vec<Diagnostic>,
) -> Vec<TrustedKey> {
    let mut keys: Vec<TrustedKey> = Vec::with_capacity(list.len());
    for entry in list {
        let text = entry.get_ref();
        let path = dir.join(text);
        if text.is_empty() || text.starts_with("env:") {
            problems.push(
                Diagnostic::at(
                    entry.span(),
                    format!(
                        "{what}: `{}` must be the path of a cosign public key file",
                        shown(text)
                    ),
                )
                .with_hint("paths are relative to the stream file"),
            );
            continue;
        }
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            problems.push(
                Diagnostic::at(
                    entry.span(),
                    format!(
                        "{what}: the key file `{}` is not a regular file that exists (`{}`)",
                        shown(text),
                        shown(&path.display().to_string())
                    ),
                )
                .with_hint("paths are relative to the stream file"),
            );
        }
        if keys.iter().any(|k| k.path == path) {
            problems.push(Diagnostic::at(
                entry.span(),
                format!("{what}: `{}` is listed twice", shown(text)),
            ));
            continue;
        }
        keys.push(TrustedKey {
            text: text.clone(),
            path,
        });
    }
    keys
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use crate::{LoadOptions, parse};

    const STREAM: &str = r#"[stream]
name = "s"
release = "4.17.0-okd-scos.0"
from = "quay.io/openshift/okd:4.15.0"
STREAM_TRUST
[[stage]]
name = "one"
plugin = "oci://registry.example.org/p/one:1"

[[stage]]
name = "two"
plugin = "oci://registry.example.org/p/two:1"
STAGE_TRUST
"#;

    fn load(
        dir: &std::path::Path,
        trust: &str,
        stage_trust: &str,
    ) -> Result<crate::Stream, String> {
        let text = STREAM
            .replace("STAGE_TRUST", stage_trust)
            .replace("STREAM_TRUST", trust);
        parse(&dir.join("s.toml"), text, &LoadOptions::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn paths_resolve_against_the_stream_and_stages_inherit_or_replace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/a.pub"), "a").unwrap();
        std::fs::write(dir.path().join("keys/b.pub"), "b").unwrap();

        // No [trust]: no policy anywhere.
        let s = load(dir.path(), "", "").unwrap();
        assert!(s.trust.is_none() && s.stages.iter().all(|st| st.trust.is_none()));

        let s = load(
            dir.path(),
            "[trust]\nplugins = [\"keys/a.pub\"]\n",
            "trust = [\"keys/b.pub\"]",
        )
        .unwrap();
        let stream_keys = s.trust.as_ref().unwrap();
        assert_eq!(stream_keys[0].text, "keys/a.pub");
        assert_eq!(stream_keys[0].path, dir.path().join("keys/a.pub"));
        // `one` inherits the stream's list, `two` replaces it with its own.
        assert_eq!(s.stages[0].trust.as_ref(), Some(stream_keys));
        let two = s.stages[1].trust.as_ref().unwrap();
        assert_eq!(two.len(), 1);
        assert_eq!(two[0].path, dir.path().join("keys/b.pub"));

        // A stage may have a policy when the stream has none.
        let s = load(dir.path(), "", "trust = [\"keys/b.pub\"]").unwrap();
        assert!(s.stages[0].trust.is_none());
        assert_eq!(s.stages[1].trust.as_ref().unwrap()[0].text, "keys/b.pub");
    }

    #[test]
    fn missing_irregular_and_repeated_keys_are_located() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pub"), "a").unwrap();
        std::fs::create_dir(dir.path().join("adir")).unwrap();
        let err = load(
            dir.path(),
            "[trust]\nplugins = [\"missing.pub\", \"adir\", \"a.pub\", \"a.pub\", \"env:KEY\"]\n",
            "trust = [\"nope.pub\"]",
        )
        .unwrap_err();
        assert!(
            err.contains(
                "s.toml:6:12: `[trust] plugins`: the key file `missing.pub` is not a regular file"
            ),
            "{err}"
        );
        assert!(
            err.contains("the key file `adir` is not a regular file"),
            "{err}"
        );
        assert!(err.contains("`a.pub` is listed twice"), "{err}");
        assert!(
            err.contains("`env:KEY` must be the path of a cosign public key file"),
            "{err}"
        );
        assert!(
            err.contains("stage `trust`: the key file `nope.pub`"),
            "{err}"
        );
        // `plugins` is required in `[trust]`, and nothing else is allowed.
        let err = load(dir.path(), "[trust]\n", "").unwrap_err();
        assert!(err.contains("missing field `plugins`"), "{err}");
        let err = load(dir.path(), "[trust]\nplugins = []\nkeys = []\n", "").unwrap_err();
        assert!(err.contains("unknown field `keys`"), "{err}");
    }
}
