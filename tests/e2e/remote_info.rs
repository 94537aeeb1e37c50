//! `compose info REF` and `compose diff A B` read a release straight from its registry, as
//! `oc adm release info quay.io/…` does: no stream file needed.

use crate::registry::Registry;
use crate::support::*;

const BASE_PATH: &str = "openshift/okd:4.15.0-0.okd-2024-03-10-010116";

#[test]
fn info_and_diff_read_a_reference_from_its_registry_without_a_stream() {
    let s = Scratch::new();
    let registry = Registry::with_mirror();
    let remote = format!("{}/{BASE_PATH}", registry.addr);
    let mirrored = format!("quay.io/{BASE_PATH}");

    // The same release read from the registry and from the stream's mirror.
    let o = s.compose(&["info", &remote]);
    ok(&o);
    let from_registry = stdout(&o);
    let o = s.compose(&["info", &mirrored, "--stream", "streams/scos.toml"]);
    ok(&o);
    let from_mirror = stdout(&o);
    let without_pull_from = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.starts_with("Pull From:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        from_registry.contains("Name:           4.15.0-0.okd-2024-03-10-010116"),
        "{from_registry}"
    );
    assert!(
        from_registry.contains(&format!(
            "Pull From: {}/openshift/okd@sha256:",
            registry.addr
        )),
        "{from_registry}"
    );
    assert_eq!(
        without_pull_from(&from_registry),
        without_pull_from(&from_mirror)
    );

    // `diff` of a registry reference against a local output.
    let out = s.path().join("okd-scos");
    ok(&s.compose(&["run", "streams/scos.toml", "--out", out.to_str().unwrap()]));
    let o = s.compose(&["diff", &remote, out.to_str().unwrap()]);
    ok(&o);
    let remote_diff = stdout(&o);
    let o = s.compose(&[
        "diff",
        &mirrored,
        out.to_str().unwrap(),
        "--stream",
        "streams/scos.toml",
    ]);
    ok(&o);
    assert_eq!(remote_diff, stdout(&o));
    assert!(remote_diff.contains("fedora-coreos"), "{remote_diff}");

    // A reference the registry does not hold: a clear error naming it, exit 1.
    let missing = format!("{}/openshift/okd:no-such-tag", registry.addr);
    let err = fails(&s.compose(&["info", &missing]));
    assert!(err.contains("no-such-tag"), "{err}");
}
