//! Repository grants are globs in one dialect (globset): what `compose validate` accepts is
//! what the sandbox matches when a real stage queries the registry.

use crate::support::*;

/// A stream over the sample mirror whose select stage pins `installer` to its SCOS build, a
/// registry query into `quay.io/okd/scos-content`, under the repository grant `grant`.
fn stream(grant: &str) -> String {
    format!(
        r#"[stream]
name = "globs"
release = "4.17.0-okd-scos.0"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "select"
plugin = "select-images"
grants = {{ registry = ["{grant}"] }}
config = {{ replace = {{ installer = "quay.io/okd/scos-content:4.17.0-okd-scos.0-installer" }} }}
"#,
        repo().join("examples/mirror").display()
    )
}

#[test]
fn a_brace_grant_that_validates_also_matches() {
    let s = Scratch::new();
    let file = s.write("braces.toml", &stream("quay.io/{fedora,okd}/*"));
    ok(&s.compose(&["validate", file.to_str().unwrap()]));
    let out = s.path().join("out");
    ok(&s.compose(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let x = s.path().join("extracted");
    extract_top_layer(&out, "4.17.0-okd-scos.0", &x);
    let references = std::fs::read_to_string(x.join("release-manifests/image-references")).unwrap();
    assert!(
        references.contains("quay.io/okd/scos-content@sha256:"),
        "installer was not pinned to its SCOS build:\n{references}"
    );
}

#[test]
fn a_brace_grant_refuses_the_repositories_it_does_not_name() {
    let s = Scratch::new();
    let file = s.write("braces.toml", &stream("quay.io/{fedora,openshift}/*"));
    ok(&s.compose(&["validate", file.to_str().unwrap()]));
    let out = s.path().join("out");
    let err = fails(&s.compose(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        err.contains(
            "repository `quay.io/okd/scos-content` is not granted to stage `select` (grants.registry: [quay.io/{fedora,openshift}/*])"
        ),
        "{err}"
    );
    assert!(!out.exists(), "a refused run wrote {}", out.display());
}

#[test]
fn an_unclosed_brace_is_refused_at_validation_with_its_place() {
    let s = Scratch::new();
    let file = s.write("braces.toml", &stream("quay.io/{fedora,okd/*"));
    let err = fails(&s.compose(&["validate", file.to_str().unwrap()]));
    assert!(
        err.contains(
            "braces.toml:12:24: registry grant `quay.io/{fedora,okd/*` is not a valid glob: error parsing glob 'quay.io/{fedora,okd/*': unclosed alternate group"
        ),
        "{err}"
    );
}
