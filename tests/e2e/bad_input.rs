//! Bad input: each a clear error, exit code 1, and nothing written.

use std::path::Path;

use crate::support::*;

/// A stream over `mirror` with one select stage; `extra` is appended to the stage.
fn stream(mirror: &Path, from: &str, stage_extra: &str) -> String {
    format!(
        r#"[stream]
name = "bad"
release = "4.17.0-okd-scos.0"
from = "{from}"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "select"
plugin = "select-images"
{stage_extra}
"#,
        mirror.display()
    )
}

const FROM: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";

/// Runs `compose run` on `text` with a pre-existing output that must survive.
fn run_fails(s: &Scratch, text: &str) -> String {
    let file = s.write("bad.toml", text);
    let out = s.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("previous-release"), "keep me").unwrap();
    let before = snapshot(&out);
    let o = s.compose(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = fails(&o);
    assert_eq!(snapshot(&out), before, "the output directory was touched");
    let siblings: Vec<_> = std::fs::read_dir(s.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        siblings
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".out")),
        "a temporary output was left behind: {siblings:?}"
    );
    err
}

fn mirror() -> std::path::PathBuf {
    repo().join("examples/mirror")
}

#[test]
fn malformed_toml_is_located() {
    let s = Scratch::new();
    let err = run_fails(&s, "[stream\nname = \"x\"\n");
    assert!(err.contains("bad.toml:1:"), "{err}");
}

#[test]
fn unknown_stage_key_is_located() {
    let s = Scratch::new();
    let err = run_fails(
        &s,
        &stream(&mirror(), FROM, "grant = { registry = [\"quay.io/*\"] }"),
    );
    assert!(
        err.contains("bad.toml:12:1: unknown field `grant`"),
        "{err}"
    );
    assert!(err.contains("12 | grant = "), "{err}");
}

#[test]
fn unknown_plugin_is_named() {
    let s = Scratch::new();
    let err = run_fails(
        &s,
        &stream(&mirror(), FROM, "").replace("\"select-images\"", "\"select-imagez\""),
    );
    assert!(
        err.contains("bad.toml:11:10: unknown plugin `select-imagez`"),
        "{err}"
    );
    assert!(
        err.contains("builtin plugins: `patch-manifests`, `select-images`"),
        "{err}"
    );
}

#[test]
fn validate_reports_every_problem_with_its_place() {
    let s = Scratch::new();
    let text = stream(
        &mirror(),
        FROM,
        "limits = { memory = 12, timeout = \"forever\" }",
    );
    let file = s.write("bad.toml", &text);
    let err = fails(&s.compose(&["validate", file.to_str().unwrap()]));
    assert!(
        err.contains("bad.toml:12:21: invalid type: integer `12`, expected a string"),
        "{err}"
    );
    let good = s.write("good.toml", &stream(&mirror(), FROM, ""));
    let o = s.compose(&["validate", good.to_str().unwrap()]);
    ok(&o);
    assert!(stdout(&o).contains("is valid"));
}

#[test]
fn missing_base_release_is_named() {
    let s = Scratch::new();
    let err = run_fails(
        &s,
        &stream(
            &mirror(),
            "quay.io/openshift/okd:4.99.0-does-not-exist",
            "grants = { registry = [\"quay.io/*\"] }",
        ),
    );
    assert!(
        err.contains("quay.io/openshift/okd:4.99.0-does-not-exist"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
}

#[test]
fn corrupted_blob_is_refused() {
    let s = Scratch::new();
    let copy = s.path().join("mirror");
    let o = std::process::Command::new("cp")
        .arg("-r")
        .arg(mirror())
        .arg(&copy)
        .output()
        .unwrap();
    assert!(o.status.success());
    // Corrupt the base release's top layer (the release-manifests layer).
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("index.json")).unwrap()).unwrap();
    let base = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == FROM)
        .expect("the base release is in the mirror");
    let blob = |d: &str| {
        copy.join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(base["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    let top = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = blob(&top);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    let err = run_fails(
        &s,
        &stream(&copy, FROM, "grants = { registry = [\"quay.io/*\"] }"),
    );
    assert!(
        err.contains(&top),
        "the error names the corrupted blob: {err}"
    );
    assert!(err.to_lowercase().contains("digest"), "{err}");
}
