//! Bad input: each a clear error, exit code 1, and nothing written. The whole error a user
//! reads is snapshotted in `tests/e2e/snapshots/` (see `messages.rs`).

use std::path::Path;

use insta::assert_snapshot;

use crate::messages::redact;
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
    previous_output(&out);
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
    assert_snapshot!("malformed_toml", redact(s.path(), &err));
}

#[test]
fn unknown_stage_key_is_located() {
    let s = Scratch::new();
    let err = run_fails(
        &s,
        &stream(&mirror(), FROM, "grant = { registry = [\"quay.io/*\"] }"),
    );
    assert_snapshot!("unknown_stage_key", redact(s.path(), &err));
}

#[test]
fn unknown_plugin_is_named() {
    let s = Scratch::new();
    let err = run_fails(
        &s,
        &stream(&mirror(), FROM, "").replace("\"select-images\"", "\"select-imagez\""),
    );
    assert_snapshot!("unknown_plugin", redact(s.path(), &err));
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
    assert_snapshot!("validate_wrong_types", redact(s.path(), &err));
    let good = s.write("good.toml", &stream(&mirror(), FROM, ""));
    let o = s.compose(&["validate", good.to_str().unwrap()]);
    ok(&o);
    assert_snapshot!("validate_good", redact(s.path(), &stdout(&o)));
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
    assert_snapshot!("missing_base_release", redact(s.path(), &err));
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

#[test]
fn validate_and_plan_refuse_what_run_would_with_its_place() {
    let s = Scratch::new();
    let long_tag = format!("quay.io/openshift/okd:{}", "7".repeat(129));
    let cases: Vec<(String, &str)> = vec![
        (stream(&mirror(), &long_tag, ""), "refused_long_from_tag"),
        (
            stream(&mirror(), FROM, "").replace(
                "release = \"4.17.0-okd-scos.0\"\n",
                "release = \"4.17.0-okd-scos.0\"\ncreated = \"2024-02-30T00:00:00Z\"\n",
            ),
            "refused_created_that_does_not_exist",
        ),
        (
            stream(&mirror(), FROM, "config = { exclud = [\"x\"] }"),
            "refused_config_unknown_key",
        ),
        (
            stream(&mirror(), FROM, "[stage.config]\nexclude = \"fedora-*\""),
            "refused_config_wrong_type",
        ),
        (
            stream(
                &mirror(),
                FROM,
                "config = { require-labels = { \"a\" = 1 } }",
            ),
            "refused_config_nested_wrong_type",
        ),
    ];
    for (text, name) in cases {
        let file = s.write("bad.toml", &text);
        let err = fails(&s.compose(&["validate", file.to_str().unwrap()]));
        assert_snapshot!(name, redact(s.path(), &err));
        // `plan` refuses with the same words.
        let plan = fails(&s.compose(&["plan", file.to_str().unwrap()]));
        assert_eq!(plan, err);
    }
    // A config that fits the schema still validates and plans.
    let good = s.write(
        "good.toml",
        &stream(
            &mirror(),
            FROM,
            "config = { exclude = [\"x\"], require-labels = { \"a\" = \"*\" } }\n\
             grants = { registry = [\"quay.io/*\"] }",
        ),
    );
    ok(&s.compose(&["validate", good.to_str().unwrap()]));
    ok(&s.compose(&["plan", good.to_str().unwrap()]));
}

#[test]
fn a_symlinked_file_grant_is_judged_and_shown_where_it_points() {
    let s = Scratch::new();
    let overlays = s.path().join("overlays");
    std::fs::create_dir_all(overlays.join("real")).unwrap();
    std::os::unix::fs::symlink("/etc", overlays.join("etc-link")).unwrap();
    std::os::unix::fs::symlink("real", overlays.join("inside-link")).unwrap();
    let with_grant = |grant: &str| {
        stream(
            &mirror(),
            FROM,
            &format!("grants = {{ registry = [\"quay.io/*\"], files = [\"{grant}\"] }}"),
        )
    };

    let file = s.write("bad.toml", &with_grant("overlays/etc-link"));
    for verb in ["validate", "plan"] {
        let err = fails(&s.compose(&[verb, file.to_str().unwrap()]));
        assert!(
            err.contains("bad.toml:12:47: file grant `overlays/etc-link` resolves to `/etc`, outside the stream's directory"),
            "{verb}: {err}"
        );
    }
    let file = s.write("bad.toml", &with_grant("/"));
    let err = fails(&s.compose(&["validate", file.to_str().unwrap()]));
    assert!(err.contains("bad.toml:12:47: file grant `/`"), "{err}");

    // Inside the stream's directory, the link is followed and `plan` shows where.
    let file = s.write("good.toml", &with_grant("overlays/inside-link"));
    let o = s.compose(&["plan", file.to_str().unwrap()]);
    ok(&o);
    let real = overlays.join("real").canonicalize().unwrap();
    let plan = stdout(&o);
    assert!(
        plan.contains("files   /inside-link")
            && plan.contains(&format!("read-only {}", real.display())),
        "{plan}"
    );
    let o = s.compose(&["plan", "--json", file.to_str().unwrap()]);
    ok(&o);
    let json: serde_json::Value = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "plan")
        .expect("a plan event");
    assert_eq!(
        json["stages"][0]["files"][0]["host"],
        real.display().to_string()
    );
    assert_eq!(json["stages"][0]["files"][0]["guest"], "/inside-link");

    // An absolute path is the user's explicit choice: granted, and shown resolved.
    let abs = overlays.join("etc-link");
    let file = s.write("abs.toml", &with_grant(abs.to_str().unwrap()));
    let o = s.compose(&["plan", file.to_str().unwrap()]);
    ok(&o);
    assert!(stdout(&o).contains("read-only /etc\n"), "{}", stdout(&o));
}

#[test]
fn unreadable_and_overdeep_streams_are_located() {
    let s = Scratch::new();
    let mut bytes = stream(&mirror(), FROM, "").into_bytes();
    let at = bytes.windows(3).position(|w| w == b"bad").unwrap();
    bytes.splice(at..at, [0xc3, 0x28]);
    let file = s.path().join("bad.toml");
    std::fs::write(&file, bytes).unwrap();
    let err = fails(&s.compose(&["validate", file.to_str().unwrap()]));
    assert_snapshot!("not_utf8", redact(s.path(), &err));

    let deep = format!(
        "{}\n{}x = 1\n",
        stream(&mirror(), FROM, ""),
        "a.".repeat(300)
    );
    let file = s.write("bad.toml", &deep);
    let err = fails(&s.compose(&["validate", file.to_str().unwrap()]));
    assert_snapshot!("too_deep", redact(s.path(), &err));

    let huge = "X".repeat(16 << 20);
    let file = s.write(
        "bad.toml",
        &stream(&mirror(), FROM, "").replace("name = \"bad\"", &format!("name = \"{huge}\"")),
    );
    let o = s.compose(&["validate", file.to_str().unwrap()]);
    assert!(o.stderr.len() < 4_000, "{} bytes of errors", o.stderr.len());
    let err = fails(&o);
    assert!(err.contains("bad.toml:2:8: stream name `XXXX"), "{err}");
}
