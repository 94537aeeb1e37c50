//! The command line's output: `compose info`'s oc options (`--image-for`, `-o json|name|
//! digest|pullspec`, `--commits`, `--commit-urls`, `--pullspecs`, `--size`), the plain output
//! of a run and of `compose info` (whole text in `tests/e2e/snapshots/`, digests and timings
//! redacted: see `messages.rs`), shell completions bash loads, and the manual pages.

use std::path::Path;
use std::process::Output;

use insta::assert_snapshot;

use crate::messages::{redact, transcript};
use crate::support::*;

const BASE: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";

/// `compose info BASE --stream streams/scos.toml ARGS`: the base release read through the
/// stream's mirror (the sample mirror, offline).
fn info_base(s: &Scratch, args: &[&str]) -> Output {
    let mut all = vec!["info", BASE, "--stream", "streams/scos.toml"];
    all.extend_from_slice(args);
    s.compose(&all)
}

#[test]
fn image_for_prints_one_pullspec_and_refuses_an_unknown_tag() {
    let s = Scratch::new();
    let out = info_base(&s, &["--image-for", "cluster-version-operator"]);
    ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].starts_with("quay.io/openshift/okd-content@sha256:") && lines[0].len() == 37 + 64,
        "{text}"
    );
    // The same pull spec as the one `--pullspecs` shows for the tag.
    let table = stdout(&info_base(&s, &["--pullspecs"]));
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["cluster-version-operator", lines[0]]),
        "{table}"
    );

    let err = fails(&info_base(&s, &["--image-for", "no-such-tag"]));
    assert_snapshot!("info_image_for_unknown_tag", redact(s.path(), &err));
    // oc's rules: `--image-for` and `-o` exclude each other, and so do the views.
    let mut refused = String::new();
    for args in [
        &["--image-for", "cli", "-o", "json"][..],
        &["--commits", "--size"][..],
        &["--pullspecs", "--commit-urls"][..],
        &["--image-for", "cli", "--commits"][..],
    ] {
        let mut all = vec!["info", BASE, "--stream", "streams/scos.toml"];
        all.extend_from_slice(args);
        let out = s.compose(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        refused.push_str(&transcript(s.path(), &all, &out));
    }
    assert_snapshot!("info_conflicting_options", refused);
}

#[test]
fn json_output_has_ocs_release_info_fields() {
    let s = Scratch::new();
    let out = info_base(&s, &["-o", "json"]);
    ok(&out);
    let text = stdout(&out);
    // Indented by two spaces, as oc's `json.MarshalIndent(release, "", "  ")`.
    assert!(text.starts_with("{\n  \"image\": "), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in [
        "image",
        "digest",
        "contentDigest",
        "listDigest",
        "config",
        "metadata",
        "references",
        "versions",
        "displayVersions",
        "images",
        "warnings",
    ] {
        assert!(v.get(key).is_some(), "no `{key}` in {text}");
    }
    assert_eq!(v["image"], BASE);
    let digest = v["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let plain = stdout(&info_base(&s, &[]));
    assert!(
        plain.contains(&format!("Digest:         {digest}")),
        "{plain}"
    );
    assert_eq!(v["config"]["architecture"], "amd64");
    assert_eq!(v["metadata"]["kind"], "cincinnati-metadata-v0");
    assert_eq!(v["metadata"]["version"], "4.15.0-0.okd-2024-03-10-010116");
    assert!(v["metadata"]["previous"].is_array());
    let refs = &v["references"];
    assert_eq!(refs["kind"], "ImageStream");
    assert_eq!(refs["apiVersion"], "image.openshift.io/v1");
    assert_eq!(refs["metadata"]["name"], "4.15.0-0.okd-2024-03-10-010116");
    let tags = refs["spec"]["tags"].as_array().unwrap();
    assert!(tags.len() > 100, "{} tags", tags.len());
    for tag in tags {
        assert_eq!(tag["from"]["kind"], "DockerImage", "{tag}");
        assert!(tag["annotations"].is_object(), "{tag}");
    }
    // jq filters written for oc: `.references.spec.tags[].name` and `.from.name` are what
    // `-o name` and `-o pullspec` print, and `-o digest` the digests of those pull specs.
    let names: Vec<&str> = tags.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let pullspecs: Vec<&str> = tags
        .iter()
        .map(|t| t["from"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        stdout(&info_base(&s, &["-o", "name"]))
            .lines()
            .collect::<Vec<_>>(),
        names
    );
    assert_eq!(
        stdout(&info_base(&s, &["-o", "pullspec"]))
            .lines()
            .collect::<Vec<_>>(),
        pullspecs
    );
    let digests: Vec<&str> = pullspecs
        .iter()
        .map(|p| p.split_once('@').unwrap().1)
        .collect();
    assert_eq!(
        stdout(&info_base(&s, &["-o", "digest"]))
            .lines()
            .collect::<Vec<_>>(),
        digests
    );
    // Component versions: the deprecated map and oc's Go-named `displayVersions`.
    let versions = v["displayVersions"].as_object().unwrap();
    assert!(!versions.is_empty(), "{text}");
    for (name, version) in versions {
        assert_eq!(v["versions"][name], version["Version"], "{name}");
        assert!(version.get("DisplayName").is_some(), "{version}");
    }
    // Only `--size` or `--include-images` read the images.
    assert!(v["images"].is_null());
    let with = info_base(&s, &["-o", "json", "--include-images"]);
    ok(&with);
    let v: serde_json::Value = serde_json::from_str(&stdout(&with)).unwrap();
    let cvo = &v["images"]["cluster-version-operator"];
    assert_eq!(cvo["name"], "cluster-version-operator");
    assert!(
        cvo["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{cvo}"
    );
    assert!(cvo["layers"][0]["size"].as_u64().unwrap() > 0, "{cvo}");
}

#[test]
fn size_reads_every_image_and_totals_the_layers() {
    let s = Scratch::new();
    let out = info_base(&s, &["--size"]);
    ok(&out);
    let text = stdout(&out);
    let images = &text[text.find("Images:\n").unwrap()..];
    let mut lines = images.lines().skip(1);
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header[..6],
        ["NAME", "AGE", "LAYERS", "SIZE", "MB", "UNIQUE"],
        "{images}"
    );
    let cvo = images
        .lines()
        .find(|l| l.trim_start().starts_with("cluster-version-operator "))
        .unwrap();
    let cells: Vec<&str> = cvo.split_whitespace().collect();
    assert!(cells[1].ends_with('y'), "aged in years (2024): {cvo}");
    assert!(cells[2].parse::<u32>().unwrap() >= 1, "{cvo}");
    assert!(
        cells[3].parse::<f64>().is_ok() && cells[4].parse::<f64>().is_ok(),
        "{cvo}"
    );
    let total = images
        .lines()
        .find(|l| l.contains(" across "))
        .unwrap_or_else(|| panic!("no total: {images}"));
    assert!(
        total.trim_start().split(' ').next().unwrap().ends_with('B'),
        "{total}"
    );
    assert!(
        !images.contains("Warnings:"),
        "every image was read: {images}"
    );
}

/// A stream keeping three images of the base release.
fn tiny_stream(s: &Scratch) -> std::path::PathBuf {
    s.write(
        "tiny.toml",
        &format!(
            r#"[stream]
name = "tiny"
release = "4.17.0-okd-tiny.0"
from = "{BASE}"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "select"
plugin = "select-images"
grants = {{ registry = ["quay.io/openshift/*"] }}

[stage.config]
include = ["cluster-version-operator", "cli", "tests"]
"#,
            repo().join("examples/mirror").display()
        ),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn plain_output_of_a_run_and_of_info_snapshots() {
    let s = Scratch::new();
    let stream = tiny_stream(&s);
    let out = s.path().join("out");
    let args = ["run", path(&stream), "--out", path(&out)];
    let run = s.compose(&args);
    ok(&run);
    // The release and its digest on stdout, for scripts; the rest on stderr.
    assert_snapshot!("run_tiny", transcript(s.path(), &args, &run));
    for (name, view) in [
        ("info_commits", "--commits"),
        ("info_commit_urls", "--commit-urls"),
    ] {
        let args = ["info", path(&out), view];
        let info = s.compose(&args);
        ok(&info);
        assert_snapshot!(name, transcript(s.path(), &args, &info));
    }
}

#[test]
fn completion_scripts_load_in_bash_and_name_the_commands() {
    let s = Scratch::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = s.compose(&["completion", shell]);
        ok(&out);
        let script = stdout(&out);
        for word in ["info", "image-for", "completion"] {
            assert!(script.contains(word), "{shell}: no `{word}`");
        }
    }
    let bash = s.write("compose.bash", &stdout(&s.compose(&["completion", "bash"])));
    let check = tool("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Loaded, it registers a completion for `compose`.
    let loaded = tool("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p compose", bash.display()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&loaded.stdout).contains("compose"),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let out = s.compose(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn man_pages_are_generated_for_every_command() {
    let s = Scratch::new();
    let dir = s.path().join("man");
    ok(&s.compose(&["man", "--out", path(&dir)]));
    let top = std::fs::read_to_string(dir.join("compose.1")).unwrap();
    assert!(top.starts_with(".ie \\n(.g .ds Aq"), "{top}");
    assert!(top.contains(".TH compose 1"), "{top}");
    let info = std::fs::read_to_string(dir.join("compose-info.1")).unwrap();
    assert!(info.contains("image\\-for"), "{info}");
    assert!(info.contains("oc adm release info"), "{info}");
    for page in [
        "compose-run.1",
        "compose-plugin-push.1",
        "compose-completion.1",
    ] {
        assert!(dir.join(page).is_file(), "no {page}");
    }
    // groff reads it without a warning, when it is there.
    if let Ok(out) = std::process::Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .arg(dir.join("compose-info.1"))
        .output()
    {
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
