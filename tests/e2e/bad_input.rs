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

#[test]
fn validate_and_plan_refuse_what_run_would_with_its_place() {
    let s = Scratch::new();
    let long_tag = format!("quay.io/openshift/okd:{}", "7".repeat(129));
    let cases: Vec<(String, &str)> = vec![
        (
            stream(&mirror(), &long_tag, ""),
            "bad.toml:4:8: base release `from` `quay.io/openshift/okd:7777",
        ),
        (
            stream(&mirror(), FROM, "").replace(
                "release = \"4.17.0-okd-scos.0\"\n",
                "release = \"4.17.0-okd-scos.0\"\ncreated = \"2024-02-30T00:00:00Z\"\n",
            ),
            "bad.toml:4:11: `created` `2024-02-30T00:00:00Z` must be a UTC time that exists",
        ),
        (
            stream(&mirror(), FROM, "config = { exclud = [\"x\"] }"),
            "bad.toml:12:12: stage `select` (plugin `select-images`): config unknown key `exclud`; known keys: `exclude`",
        ),
        (
            stream(&mirror(), FROM, "[stage.config]\nexclude = \"fedora-*\""),
            "bad.toml:13:11: stage `select` (plugin `select-images`): config `exclude` must be an array, not a string",
        ),
        (
            stream(
                &mirror(),
                FROM,
                "config = { require-labels = { \"a\" = 1 } }",
            ),
            "bad.toml:12:37: stage `select` (plugin `select-images`): config `require-labels.a` must be a string, not an integer",
        ),
    ];
    for (text, expected) in cases {
        let file = s.write("bad.toml", &text);
        for verb in ["validate", "plan"] {
            let err = fails(&s.compose(&[verb, file.to_str().unwrap()]));
            assert!(err.contains(expected), "{verb}: {err}");
        }
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
    assert!(
        err.contains("bad.toml:2:9: the stream file is not valid UTF-8"),
        "{err}"
    );

    let deep = format!(
        "{}\n{}x = 1\n",
        stream(&mirror(), FROM, ""),
        "a.".repeat(300)
    );
    let file = s.write("bad.toml", &deep);
    let err = fails(&s.compose(&["validate", file.to_str().unwrap()]));
    assert!(err.contains("bad.toml:14:1: "), "{err}");

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
