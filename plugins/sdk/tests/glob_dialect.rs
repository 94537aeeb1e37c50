//! The SDK's glob matcher agrees with `globset` (the host's dialect for repository grants, with
//! `*` crossing `/`) on every pattern of its documented forms: the same patterns are refused, and
//! the others match the same names.

#![allow(clippy::unwrap_used)]

use compose_plugin_sdk::glob::Glob;

/// The host's options (`compose_registry::RepositoryGlob`).
fn host(pattern: &str) -> Option<globset::GlobMatcher> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

const PATTERNS: &[&str] = &[
    "cli",
    "cli*",
    "*-rhel*",
    "*",
    "**",
    "a*b*c",
    "*a*a*b",
    "rhel-coreos-?",
    "ovirt-[cd]*",
    "x[0-9]",
    "x[!0-9]",
    "x[^0-9]",
    "[]]",
    "[!]]",
    "a[-]b",
    "a[x-]b",
    "{cli,tools}",
    "ovirt-{csi,*-operator}",
    "a{b,{c,d}e}f",
    "x{,-rhel}",
    "x{,}y",
    "{a,b}{c,d}",
    "quay.io/{okd,openshift}/*",
    "quay.io/*/scos-*",
    "a,b",
    r"a\*",
    r"\{a\}",
    r"a\?b",
    r"a\[b",
    "é*ü",
    // Refused by both.
    "{a",
    "a}",
    "[a",
    "[z-a]",
    r"a\",
];

const NAMES: &[&str] = &[
    "",
    "cli",
    "cli-artifacts",
    "tools",
    "ose-cli-rhel9",
    "rhel-coreos",
    "x-rhel",
    "aXXbYYc",
    "aaaab",
    "rhel-coreos-8",
    "rhel-coreos-10",
    "ovirt-csi-driver",
    "ovirt-machine-operator",
    "x7",
    "xa",
    "x",
    "xy",
    "]",
    "a-b",
    "axb",
    "abf",
    "acef",
    "adef",
    "ac",
    "bd",
    "quay.io/okd/scos-content",
    "quay.io/openshift/okd",
    "quay.io/fedora/x",
    "a,b",
    "a*",
    "ab",
    "{a}",
    "a?b",
    "axb",
    "a[b",
    "éxyü",
];

#[test]
fn the_sdk_matcher_agrees_with_globset() {
    let mut disagreements = Vec::new();
    for pattern in PATTERNS {
        let ours = Glob::new(pattern).ok();
        let theirs = host(pattern);
        match (&ours, &theirs) {
            (Some(ours), Some(theirs)) => {
                for name in NAMES {
                    if ours.matches(name) != theirs.is_match(name) {
                        disagreements.push(format!(
                            "`{pattern}` on `{name}`: sdk {}, globset {}",
                            ours.matches(name),
                            theirs.is_match(name)
                        ));
                    }
                }
            }
            (None, None) => {}
            _ => disagreements.push(format!(
                "`{pattern}`: sdk accepts {}, globset accepts {}",
                ours.is_some(),
                theirs.is_some()
            )),
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
