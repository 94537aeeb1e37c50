//! The released versions of the `okd:compose` WIT package this host offers, and which of them
//! a component was built against. The rule (stated in `wit/deps/okd-compose@0.2.0/stage.wit`): every released version
//! is linked side by side, so a component built against any of them keeps loading; a component
//! built against a version the host does not offer is refused before it runs.

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "okd:compose";
/// The newest version of [`WIT_PACKAGE`] this host offers.
pub const WIT_VERSION: &str = "0.3.0";
/// The version of [`WIT_PACKAGE`] whose `plugin` world and imports new stage plugins are built
/// against: 0.3.0 added only the `parted-check` world and its export, over the imports of 0.2.0.
pub const STAGE_WIT_VERSION: &str = "0.2.0";
/// Every released version of [`WIT_PACKAGE`] this host links, oldest first.
pub const WIT_VERSIONS: [&str; 3] = ["0.1.0", "0.2.0", "0.3.0"];

/// The contract a component was built against: which bindings call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contract {
    /// `okd:compose@0.1.x`, world `plugin`.
    V0_1,
    /// `okd:compose@0.2.x`, world `plugin`.
    V0_2,
    /// `okd:compose@0.2.x`, world `check`: read-only.
    Check,
    /// `okd:compose@0.3.x`, world `parted-check`: read-only, run part by part.
    Parted,
}

/// `major.minor` of a version, if it is one.
fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The offered version a component built against `version` links with: the same major
/// version, and the same minor version while the major version is 0 (semver compatibility,
/// as wasmtime's linker matches versions).
pub(crate) fn offered(version: &str) -> Option<&'static str> {
    let wanted = major_minor(version)?;
    WIT_VERSIONS
        .into_iter()
        .find(|offered| match major_minor(offered) {
            Some((0, minor)) => wanted == (0, minor),
            Some((major, _)) => wanted.0 == major,
            None => false,
        })
}

/// The versions the host accepts, for messages: `0.1.x, 0.2.x`.
pub(crate) fn offered_ranges() -> String {
    WIT_VERSIONS
        .iter()
        .map(|v| match major_minor(v) {
            Some((0, minor)) => format!("0.{minor}.x"),
            Some((major, _)) => format!("{major}.x"),
            None => (*v).to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, `Some("1.2.3")`).
pub(crate) fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((base, version)) => (base, Some(version)),
        None => (name, None),
    }
}

/// The first name (`okd:compose/release@0.9.0`) among a component's imports and exports that
/// belongs to a version of the compose WIT package this host does not offer, with that version.
pub(crate) fn incompatible_wit<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Option<(String, String)> {
    names.into_iter().find_map(|name| {
        let (base, version) = split_version(name);
        match version {
            Some(v) if base.starts_with("okd:compose/") && offered(v).is_none() => {
                Some((name.to_string(), v.to_string()))
            }
            _ => None,
        }
    })
}

/// Which contract a component implements, from its exports: a `check-parts` export of 0.3.x
/// makes it a read-only check in parts, a `check-stage` export of 0.2.x a read-only check, else
/// the version of its `stage` export picks the bindings. `None`:
/// it exports neither (the caller says what is missing).
pub(crate) fn contract<'a>(exports: impl IntoIterator<Item = &'a str>) -> Option<Contract> {
    let mut found = None;
    for name in exports {
        let (base, version) = split_version(name);
        let offered = version.and_then(offered);
        match (base, offered) {
            ("okd:compose/check-parts", Some("0.3.0")) => return Some(Contract::Parted),
            ("okd:compose/check-stage", Some("0.2.0")) => return Some(Contract::Check),
            ("okd:compose/stage", Some("0.2.0")) => found = Some(Contract::V0_2),
            ("okd:compose/stage", Some("0.1.0")) => found = Some(Contract::V0_1),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_released_version_is_offered_and_no_other() {
        assert_eq!(offered("0.1.0"), Some("0.1.0"));
        assert_eq!(offered("0.1.7"), Some("0.1.0"));
        assert_eq!(offered("0.2.0"), Some("0.2.0"));
        assert_eq!(offered("0.2.3"), Some("0.2.0"));
        assert_eq!(offered("0.3.1"), Some("0.3.0"));
        assert_eq!(offered("0.9.0"), None);
        assert_eq!(offered("1.0.0"), None);
        assert_eq!(offered("garbage"), None);
        assert_eq!(offered_ranges(), "0.1.x, 0.2.x, 0.3.x");
        assert_eq!(
            WIT_VERSIONS.last().copied(),
            Some(WIT_VERSION),
            "the newest offered version is the one new plugins are built against"
        );
    }

    #[test]
    fn a_version_the_host_does_not_offer_is_found_among_imports_and_exports() {
        let names = [
            "wasi:io/poll@0.2.12",
            "okd:compose/log@0.1.3",
            "okd:compose/types@0.2.0",
            "okd:compose/stage@1.0.0",
        ];
        assert_eq!(
            incompatible_wit(names),
            Some(("okd:compose/stage@1.0.0".into(), "1.0.0".into()))
        );
        assert_eq!(
            incompatible_wit(["okd:compose/log@0.1.0", "okd:compose/stage@0.2.0"]),
            None
        );
    }

    #[test]
    fn the_exports_pick_the_bindings() {
        assert_eq!(contract(["okd:compose/stage@0.1.0"]), Some(Contract::V0_1));
        assert_eq!(contract(["okd:compose/stage@0.2.1"]), Some(Contract::V0_2));
        assert_eq!(
            contract(["okd:compose/types@0.2.0", "okd:compose/check-stage@0.2.0"]),
            Some(Contract::Check)
        );
        assert_eq!(
            contract(["okd:compose/types@0.2.0", "okd:compose/check-parts@0.3.0"]),
            Some(Contract::Parted)
        );
        assert_eq!(contract(["okd:compose/stage@0.9.0"]), None);
        assert_eq!(contract(["wasi:cli/run@0.2.0"]), None);
    }
}
