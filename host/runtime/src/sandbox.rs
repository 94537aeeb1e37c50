//! What a stage may use: grants and limits, and the check of a plugin's imports against them.

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::Plugin;
use crate::error::{Error, Result};
use crate::versions::{WIT_PACKAGE, split_version};

/// A read-only directory granted to a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it, e.g. `/overlays`.
    pub guest: String,
}

/// What a stage was granted in the stream file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Repository globs the `registry` import may query (`quay.io/okd/*`).
    pub registry: Vec<String>,
    /// Key names the `signer` import may use.
    pub keys: Vec<String>,
    /// Read-only directories.
    pub dirs: Vec<DirGrant>,
}

/// Resource limits of one stage run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, in bytes, summed over the component's memories.
    pub memory: u64,
    /// Wall time of one call into the stage.
    pub timeout: Duration,
    /// Bytes the stage may write into the payload (manifests, metadata, images, attachments),
    /// counted as it writes; `None`: [`crate::host::default_output_limit`] of the payload the
    /// stage receives.
    pub output: Option<u64>,
}

impl Default for Limits {
    /// 256 MiB, 60 s, and the default output limit.
    fn default() -> Self {
        Limits {
            memory: 256 * 1024 * 1024,
            timeout: Duration::from_secs(60),
            output: None,
        }
    }
}

/// Everything the sandbox needs to know about one stage.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// The stage name (for logs and errors).
    pub stage: String,
    /// The stage's `config` as JSON.
    pub config_json: String,
    /// What it was granted.
    pub grants: Grants,
    /// Its limits.
    pub limits: Limits,
}

/// One import of a plugin, judged against a stage's grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportStatus {
    /// The imported interface as the component names it (`okd:compose/registry@0.1.0`).
    pub interface: String,
    /// Whether the stage may use it.
    pub granted: bool,
    /// Why, in a few words (`always`, `repositories quay.io/okd/*`, `no grants.keys`).
    pub reason: String,
}

/// Whether a component built against `version` of the WIT package links with this host
/// (see [`crate::versions`]).
fn compatible(version: &str) -> bool {
    crate::versions::offered(version).is_some()
}

/// Judges one import.
fn judge(interface: &str, grants: &Grants) -> (bool, String) {
    let (base, version) = split_version(interface);
    if let Some(own) = base.strip_prefix("okd:compose/") {
        match version {
            Some(v) if !compatible(v) => {
                return (
                    false,
                    format!(
                        "built against {WIT_PACKAGE}@{v}, this host offers {WIT_PACKAGE} {}",
                        crate::versions::offered_ranges()
                    ),
                );
            }
            None => {
                return (
                    false,
                    "an unversioned import of the compose WIT package".into(),
                );
            }
            Some(_) => {}
        }
        return match own {
            "log" | "release" | "types" => (true, "always".into()),
            "registry" if grants.registry.is_empty() => {
                (false, "the stage has no `grants.registry`".into())
            }
            "registry" => (true, format!("repositories {}", grants.registry.join(", "))),
            "signer" if grants.keys.is_empty() => (false, "the stage has no `grants.keys`".into()),
            "signer" => (true, format!("keys {}", grants.keys.join(", "))),
            _ => (false, "not an interface of this host".into()),
        };
    }
    let family = base.split('/').next().unwrap_or(base);
    match family {
        "wasi:filesystem" if grants.dirs.is_empty() => (true, "no directories granted".into()),
        "wasi:filesystem" => (
            true,
            format!(
                "read-only {}",
                grants
                    .dirs
                    .iter()
                    .map(|d| d.guest.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        "wasi:cli" if base == "wasi:cli/environment" => {
            (true, "empty environment and arguments".into())
        }
        "wasi:cli" if base == "wasi:cli/exit" => (true, "always".into()),
        "wasi:cli" => (true, "stdio captured to the log".into()),
        "wasi:io" | "wasi:clocks" | "wasi:random" => (true, "always".into()),
        "wasi:sockets" => (true, "linked with every network operation denied".into()),
        // Linked by deny.rs: JavaScript components import it whatever they do.
        "wasi:http" if version.is_some_and(|v| v.starts_with("0.2.")) => {
            (true, "linked, every request denied".into())
        }
        "wasi:http" => (
            false,
            format!(
                "compose links wasi:http 0.2.x (every request denied), not {}",
                version.unwrap_or("an unversioned import")
            ),
        ),
        _ => (false, "compose does not provide this interface".into()),
    }
}

/// Every import of `plugin`, judged against `grants`, in the component's order.
pub fn import_status(plugin: &Plugin, grants: &Grants) -> Vec<ImportStatus> {
    plugin
        .imports()
        .iter()
        .map(|interface| {
            let (granted, reason) = judge(interface, grants);
            ImportStatus {
                interface: interface.clone(),
                granted,
                reason,
            }
        })
        .collect()
}

/// Refuses a stage whose plugin imports something it was not granted, or whose granted
/// directories cannot be opened. Runs before any guest code.
pub fn check_grants(plugin: &Plugin, spec: &StageSpec) -> Result<()> {
    if let Some(refused) = import_status(plugin, &spec.grants)
        .into_iter()
        .find(|s| !s.granted)
    {
        return Err(Error::ImportNotGranted {
            stage: spec.stage.clone(),
            plugin: plugin.label().to_string(),
            interface: refused.interface,
            reason: refused.reason,
        });
    }
    for dir in &spec.grants.dirs {
        cap_std::fs::Dir::open_ambient_dir(&dir.host, cap_std::ambient_authority()).map_err(
            |source| Error::Grant {
                stage: spec.stage.clone(),
                path: dir.host.clone(),
                source,
            },
        )?;
    }
    Ok(())
}

/// The registry grants of `grants`, compiled once per stage run: a query for `repository`
/// (`quay.io/okd/scos-content`) is allowed when one matches, in the dialect the stream
/// validated the grant with ([`compose_registry::RepositoryGlob`]: `*` crosses `/`, `{a,b}`
/// alternates). A glob that does not compile is left out: it matches nothing (validation
/// refuses it before any stage runs).
pub(crate) fn registry_globs(grants: &Grants) -> Vec<compose_registry::RepositoryGlob> {
    grants
        .registry
        .iter()
        .filter_map(|g| compose_registry::RepositoryGlob::new(g).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `text` matches `glob` as a stage's registry grant.
    fn glob_matches(glob: &str, text: &str) -> bool {
        let grants = Grants {
            registry: vec![glob.to_string()],
            ..Grants::default()
        };
        registry_globs(&grants).iter().any(|g| g.matches(text))
    }

    #[test]
    fn host_interfaces_need_grants() {
        let none = Grants::default();
        assert!(judge("okd:compose/log@0.1.0", &none).0);
        assert!(judge("okd:compose/release@0.1.0", &none).0);
        assert!(!judge("okd:compose/registry@0.1.0", &none).0);
        assert!(!judge("okd:compose/signer@0.1.0", &none).0);
        let granted = Grants {
            registry: vec!["quay.io/okd/*".into()],
            keys: vec!["release".into()],
            dirs: vec![],
        };
        assert!(judge("okd:compose/registry@0.1.0", &granted).0);
        assert!(judge("okd:compose/signer@0.1.0", &granted).0);
        assert!(judge("okd:compose/log@0.2.0", &none).0);
        assert!(judge("okd:compose/types@0.2.0", &none).0);
        let (ok, reason) = judge("okd:compose/log@0.9.0", &granted);
        assert!(!ok);
        assert_eq!(
            reason,
            "built against okd:compose@0.9.0, this host offers okd:compose 0.1.x, 0.2.x"
        );
        let (ok, reason) = judge("wasi:http/outgoing-handler@0.2.10", &none);
        assert!(ok);
        assert_eq!(reason, "linked, every request denied");
        assert!(!judge("wasi:http/types@0.3.0", &granted).0);
        assert!(!judge("wasi:keyvalue/store@0.2.0", &granted).0);
        assert!(judge("wasi:cli/environment@0.2.6", &none).0);
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
        assert!(!glob_matches("quay.io/{okd", "quay.io/{okd"));
    }
}
