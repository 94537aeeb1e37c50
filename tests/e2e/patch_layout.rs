//! Patched manifests keep their layout (issue 14, item 6): `patch-manifests` edits the text of a
//! document where the patch changed it, so `compose diff --patch` between a run without the
//! patch and one with it shows the patched line and nothing else: the sample base's Deployments
//! carry single-quoted annotations and `""` values that a re-serialisation would requote.

use crate::support::*;

const FROM: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";

/// A stream over the sample mirror with one `patch-manifests` stage whose only patch sets the
/// console operator's replicas to `replicas`.
fn stream(replicas: u32) -> String {
    format!(
        r#"[stream]
name = "layout"
release = "4.17.0-okd-scos.0"
from = "{FROM}"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "patch"
plugin = "patch-manifests"

[[stage.config.patches]]
name = "replicas"
target = {{ kind = "Deployment", name = "console-operator", namespace = "openshift-console-operator" }}
json-patch = [ {{ op = "replace", path = "/spec/replicas", value = {replicas} }} ]
"#,
        repo().join("examples/mirror").display()
    )
}

#[test]
fn a_one_field_patch_is_one_changed_line_in_diff_patch() {
    let s = Scratch::new();
    let mut outs = Vec::new();
    // replicas = 1 is the base's value: that run's patch matches and changes nothing.
    for replicas in [1, 2] {
        let file = s.write(&format!("layout-{replicas}.toml"), &stream(replicas));
        let out = s.path().join(format!("out-{replicas}"));
        ok(&s.compose(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]));
        outs.push(out);
    }
    let o = s.compose(&[
        "diff",
        outs[0].to_str().unwrap(),
        outs[1].to_str().unwrap(),
        "--patch",
    ]);
    ok(&o);
    let patch = stdout(&o);
    let removed: Vec<&str> = patch
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    let added: Vec<&str> = patch
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(removed, ["-  replicas: 1"], "{patch}");
    assert_eq!(added, ["+  replicas: 2"], "{patch}");
    assert_eq!(
        patch.matches("+++ b/").count(),
        1,
        "one file changed: {patch}"
    );
    assert!(patch.contains("console-operator"), "{patch}");
}
