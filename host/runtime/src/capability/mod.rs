//! The capabilities a stage can be given, one module each, in the manner of Spin's factors.
//! Each module owns everything about its capability: the WIT interfaces it links (for every
//! released version of `okd:compose`), its part of [`Grants`] and the validation of it, the
//! judgement of a plugin's import of it, and its host implementation.
//!
//! | capability | module | grant (`grants.*` in the stream) | interfaces |
//! |---|---|---|---|
//! | log | [`log`] | always | `okd:compose/log` |
//! | release | [`release`] | always (writes: not for a `check`) | `okd:compose/release`, `okd:compose/types` |
//! | registry | [`registry`] | `registry = ["quay.io/okd/*"]` | `okd:compose/registry` |
//! | signer | [`signer`] | `keys = ["release"]` | `okd:compose/signer` |
//! | files | [`files`] | `files = ["overlays"]`, read-only | `wasi:filesystem` |
//! | http (denied) | [`http`] | never: every request refused | `wasi:http` |
//! | WASI basics | [`wasi`] | always: no environment, no network | `wasi:cli`, `io`, `clocks`, `random`, `sockets` |
//!
//! Adding a capability: a module here (its grant, `judge`, `link` and host traits), its line in
//! [`judge`] and [`link`], the WIT, the stream's `grants` section, and a test guest.

pub mod files;
pub(crate) mod http;
pub(crate) mod log;
pub mod registry;
pub(crate) mod release;
pub mod signer;
mod state;
pub(crate) mod wasi;

use wasmtime::component::Linker;

use crate::error::{Error, Result};
use crate::versions::{WIT_PACKAGE, split_version};
pub(crate) use state::StageState;

pub use files::FileGrant;
pub use state::{DigestFn, HostServices};

/// What a stage was granted in the stream file: the one type the stream validates into and the
/// sandbox enforces. Nothing is granted by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Repositories the `registry` import may query ([`registry`]).
    pub registry: Vec<compose_registry::RepositoryGlob>,
    /// Read-only directories ([`files`]).
    pub files: Vec<FileGrant>,
    /// Key names the `signer` import may use ([`signer`]).
    pub keys: Vec<String>,
}

/// Whether a stage may use one import, and why in a few words (`always`, `repositories
/// quay.io/okd/*`, `the stage has no grants.keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub granted: bool,
    pub reason: String,
}

impl Verdict {
    /// The import is allowed.
    pub fn granted(reason: impl Into<String>) -> Self {
        Verdict {
            granted: true,
            reason: reason.into(),
        }
    }

    /// The import is refused.
    pub fn refused(reason: impl Into<String>) -> Self {
        Verdict {
            granted: false,
            reason: reason.into(),
        }
    }
}

/// Judges one import of a plugin (`okd:compose/registry@0.2.0`, `wasi:http/types@0.2.6`)
/// against `grants`: the capability owning the interface decides.
pub(crate) fn judge(interface: &str, grants: &Grants) -> Verdict {
    let (base, version) = split_version(interface);
    if let Some(own) = base.strip_prefix("okd:compose/") {
        match version {
            Some(v) if crate::versions::offered(v).is_none() => {
                return Verdict::refused(format!(
                    "built against {WIT_PACKAGE}@{v}, this host offers {WIT_PACKAGE} {}",
                    crate::versions::offered_ranges()
                ));
            }
            None => {
                return Verdict::refused("an unversioned import of the compose WIT package");
            }
            Some(_) => {}
        }
        return log::judge(own)
            .or_else(|| release::judge(own))
            .or_else(|| registry::judge(own, grants))
            .or_else(|| signer::judge(own, grants))
            .unwrap_or_else(|| Verdict::refused("not an interface of this host"));
    }
    files::judge(base, grants)
        .or_else(|| http::judge(base, version))
        .or_else(|| wasi::judge(base))
        .unwrap_or_else(|| Verdict::refused("compose does not provide this interface"))
}

/// How a capability links its interfaces.
type Link = fn(&mut Linker<StageState>) -> wasmtime::Result<()>;

/// Links every capability's interfaces, for every released version of `okd:compose`.
pub(crate) fn link(linker: &mut Linker<StageState>) -> Result<()> {
    // `wasi:filesystem` is linked with the rest of WASI (wasmtime-wasi links its interfaces as
    // one); [`files`] decides what a stage sees through it: its preopened grants, or nothing.
    let linked: [(&str, Link); 6] = [
        ("WASI", wasi::link),
        ("log", log::link),
        ("release", release::link),
        ("registry", registry::link),
        ("signer", signer::link),
        ("the deny-only wasi:http", http::link),
    ];
    for (name, link) in linked {
        link(linker).map_err(|e| Error::Engine(format!("linking {name}: {e:#}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn granted(interface: &str, grants: &Grants) -> bool {
        judge(interface, grants).granted
    }

    #[test]
    fn host_interfaces_need_grants() {
        let none = Grants::default();
        assert!(granted("okd:compose/log@0.1.0", &none));
        assert!(granted("okd:compose/release@0.1.0", &none));
        assert!(!granted("okd:compose/registry@0.1.0", &none));
        assert!(!granted("okd:compose/signer@0.1.0", &none));
        let some = Grants {
            registry: vec![registry::parse_grant("quay.io/okd/*").unwrap()],
            keys: vec!["release".into()],
            files: vec![],
        };
        assert!(granted("okd:compose/registry@0.1.0", &some));
        assert!(granted("okd:compose/signer@0.1.0", &some));
        assert!(granted("okd:compose/log@0.2.0", &none));
        assert!(granted("okd:compose/types@0.2.0", &none));
        let verdict = judge("okd:compose/log@0.9.0", &some);
        assert_eq!(
            verdict,
            Verdict::refused(
                "built against okd:compose@0.9.0, this host offers okd:compose 0.1.x, 0.2.x, 0.3.x"
            )
        );
        assert_eq!(
            judge("wasi:http/outgoing-handler@0.2.10", &none),
            Verdict::granted("linked, every request denied")
        );
        assert!(!granted("wasi:http/types@0.3.0", &some));
        assert!(!granted("wasi:keyvalue/store@0.2.0", &some));
        assert!(granted("wasi:cli/environment@0.2.6", &none));
        assert_eq!(
            judge("okd:compose/keyvalue@0.2.0", &some),
            Verdict::refused("not an interface of this host")
        );
    }

    /// Every interface a stage world imports, and every WASI family a component may import, is
    /// owned by exactly one capability: no interface is judged twice, none falls through.
    #[test]
    fn every_interface_has_exactly_one_owner() {
        let grants = Grants::default();
        for own in ["log", "release", "types", "registry", "signer"] {
            let owners = [
                log::judge(own).is_some(),
                release::judge(own).is_some(),
                registry::judge(own, &grants).is_some(),
                signer::judge(own, &grants).is_some(),
            ];
            assert_eq!(owners.iter().filter(|o| **o).count(), 1, "{own}");
        }
        for base in [
            "wasi:filesystem/types",
            "wasi:filesystem/preopens",
            "wasi:http/types",
            "wasi:http/outgoing-handler",
            "wasi:cli/environment",
            "wasi:cli/exit",
            "wasi:cli/stdout",
            "wasi:io/streams",
            "wasi:clocks/wall-clock",
            "wasi:random/random",
            "wasi:sockets/tcp",
        ] {
            let owners = [
                files::judge(base, &grants).is_some(),
                http::judge(base, Some("0.2.6")).is_some(),
                wasi::judge(base).is_some(),
            ];
            assert_eq!(owners.iter().filter(|o| **o).count(), 1, "{base}");
        }
    }
}
