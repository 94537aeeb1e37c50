//! Incremental reruns: a rerun reuses the stages whose inputs did not change (the stage
//! cache) and publishes the release a full run publishes.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;

/// A copy of `streams/scos.toml` (with its overlays, and the sample mirror linked) in a
/// directory of its own under the scratch; returns the stream file.
fn scos_copy(s: &Scratch, name: &str) -> PathBuf {
    let root = s.path().join(name);
    let streams = root.join("streams");
    copy_dir(&repo().join("streams/overlays"), &streams.join("overlays"));
    std::fs::create_dir_all(root.join("examples")).unwrap();
    std::os::unix::fs::symlink(repo().join("examples/mirror"), root.join("examples/mirror"))
        .unwrap();
    let stream = streams.join("scos.toml");
    std::fs::copy(repo().join("streams/scos.toml"), &stream).unwrap();
    stream
}

/// `compose --json run STREAM --out OUT [extra]`, which must succeed.
fn run(s: &Scratch, stream: &Path, out: &Path, extra: &[&str]) -> Output {
    let o = compose_run(s, (stream, out), true, extra, &[]);
    ok(&o);
    o
}

/// The stages an event of kind `name` names, in order.
fn stages(o: &Output, name: &str) -> Vec<String> {
    events(o, name)
        .iter()
        .map(|e| e["stage"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The published digest (the `published` event).
fn digest(o: &Output) -> String {
    stdout(o)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "published")
        .and_then(|e| e["digest"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no published event: {}", stdout(o)))
}

/// Appends a table to the `test` stage's config (the last table of scos.toml) that changes
/// its config, not what it checks.
fn change_test_config(stream: &Path) {
    let mut text = std::fs::read_to_string(stream).unwrap();
    assert!(
        text.trim_end()
            .ends_with("extensions-image = \"stream-coreos-extensions\"")
    );
    text.push_str("\n[stage.config.checks.no-duplicate-tags]\nseverity = \"warning\"\n");
    std::fs::write(stream, text).unwrap();
}

#[test]
fn changing_only_the_test_config_reruns_only_test_and_publishes_the_full_run_release() {
    let s = Scratch::new();
    let stream = scos_copy(&s, "a");
    let first = run(&s, &stream, &s.path().join("out-1"), &[]);
    assert_eq!(stages(&first, "stage-reused"), Vec::<String>::new());
    assert_eq!(
        stages(&first, "stage-finished"),
        ["select", "swap-os", "patch", "test"]
    );

    change_test_config(&stream);
    let rerun_out = s.path().join("out-2");
    let rerun = run(&s, &stream, &rerun_out, &[]);
    assert_eq!(
        stages(&rerun, "stage-reused"),
        ["select", "swap-os", "patch"],
        "{}",
        stdout(&rerun)
    );
    assert_eq!(stages(&rerun, "stage-finished"), ["test"]);
    assert_eq!(stages(&rerun, "stage-skipped"), ["sign"]);
    // `test` is a check in parts, one per check: only the check whose settings changed ran.
    let finished = events(&rerun, "stage-finished").remove(0);
    assert_eq!(finished["parts"], 8, "{finished}");
    assert_eq!(
        finished["reused_parts"],
        serde_json::json!([
            "images-pinned",
            "manifest-images-known",
            "os-image",
            "no-rhel-content",
            "manifests-valid",
            "release-metadata",
            "signatures-verify"
        ]),
        "{finished}"
    );

    // A full run of the changed stream, in a scratch with an empty stage cache.
    let fresh = Scratch::new();
    let fresh_stream = scos_copy(&fresh, "b");
    std::fs::copy(&stream, &fresh_stream).unwrap();
    let fresh_out = fresh.path().join("out");
    let full = run(&fresh, &fresh_stream, &fresh_out, &[]);
    assert!(stages(&full, "stage-reused").is_empty());
    assert_eq!(digest(&rerun), digest(&full));
    assert_eq!(release_files(&rerun_out), release_files(&fresh_out));

    // Reused stages keep their findings in the report.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rerun_out.join("report.json")).unwrap()).unwrap();
    let text = report.to_string();
    assert!(text.contains("\"select\""), "{text}");

    // The plain output says which stages were reused.
    let plain = s.compose(&[
        "run",
        stream.to_str().unwrap(),
        "--out",
        s.path().join("out-3").to_str().unwrap(),
    ]);
    ok(&plain);
    let err = stderr(&plain) + &stdout(&plain);
    assert!(err.contains("stage   select: reused (cached 20"), "{err}");
    assert!(err.contains("stage   test: reused (cached 20"), "{err}");
}

#[test]
fn a_changed_overlay_file_reruns_patch_and_later() {
    let s = Scratch::new();
    let stream = scos_copy(&s, "a");
    run(&s, &stream, &s.path().join("out-1"), &[]);
    let overlay = stream
        .parent()
        .unwrap()
        .join("overlays/scos/0000_50_okd-scos_00_stream-info_configmap.yaml");
    let text = std::fs::read_to_string(&overlay).unwrap();
    std::fs::write(&overlay, format!("{text}\n# changed\n")).unwrap();
    let rerun = run(&s, &stream, &s.path().join("out-2"), &[]);
    assert_eq!(stages(&rerun, "stage-reused"), ["select", "swap-os"]);
    assert_eq!(stages(&rerun, "stage-finished"), ["patch", "test"]);
    // Nothing changed since: everything is reused.
    let again = run(&s, &stream, &s.path().join("out-3"), &[]);
    assert_eq!(
        stages(&again, "stage-reused"),
        ["select", "swap-os", "patch", "test"]
    );
    assert_eq!(digest(&again), digest(&rerun));
}

/// A custom section (`name`, `data`) as WebAssembly encodes it: section id 0, its size, the
/// name's length and bytes, then the data (every length under 128: one LEB128 byte).
fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = vec![u8::try_from(name.len()).unwrap()];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    let mut section = vec![0, u8::try_from(body.len()).unwrap()];
    section.extend(body);
    section
}

#[test]
fn an_updated_plugin_reruns_its_stage_and_later() {
    let s = Scratch::new();
    let stream = scos_copy(&s, "a");
    // `swap-os` runs a component file instead of the builtin: the same plugin, as a user who
    // builds their own would point at it.
    let plugin = s.path().join("swap-os-image.wasm");
    std::fs::copy(crate::registry::plugin_wasm("swap-os-image"), &plugin).unwrap();
    let text = std::fs::read_to_string(&stream).unwrap().replacen(
        "plugin = \"swap-os-image\"",
        &format!("plugin = \"{}\"", plugin.display()),
        1,
    );
    std::fs::write(&stream, text).unwrap();
    let first = run(&s, &stream, &s.path().join("out-1"), &[]);
    assert_eq!(
        stages(&first, "stage-finished"),
        ["select", "swap-os", "patch", "test"]
    );
    // Updated: new bytes (a custom section appended), the same behaviour.
    let mut bytes = std::fs::read(&plugin).unwrap();
    bytes.extend(custom_section("compose-test", b"rebuilt"));
    std::fs::write(&plugin, bytes).unwrap();
    let rerun = run(&s, &stream, &s.path().join("out-2"), &[]);
    assert_eq!(stages(&rerun, "stage-reused"), ["select"]);
    assert_eq!(
        stages(&rerun, "stage-finished"),
        ["swap-os", "patch", "test"]
    );
    assert_eq!(digest(&rerun), digest(&first));
    // Unchanged since: everything is reused.
    let again = run(&s, &stream, &s.path().join("out-3"), &[]);
    assert_eq!(
        stages(&again, "stage-reused"),
        ["select", "swap-os", "patch", "test"]
    );
}

/// A stage granted a key is never reused: it signs again on every run. The key can come as
/// a path in the environment variable the stream names, or as the key's text itself.
#[test]
fn a_signing_stage_runs_on_every_run_and_the_key_may_be_the_variables_text() {
    let s = Scratch::new();
    let stream = scos_copy(&s, "a");
    let k = crate::signing::keys();
    let key_text = std::fs::read_to_string(k.str("release.priv.asc")).unwrap();
    let signed = |out: &str, key: &str| {
        let o = compose_env(
            &s,
            &[
                "--json",
                "run",
                stream.to_str().unwrap(),
                "--out",
                s.path().join(out).to_str().unwrap(),
                "--require-signed",
            ],
            &[
                ("COMPOSE_RELEASE_KEY", key),
                ("COMPOSE_RELEASE_KEY_PASSPHRASE", "correct horse"),
            ],
        );
        ok(&o);
        o
    };
    let first = signed("out-1", &k.str("release.priv.asc"));
    assert_eq!(
        stages(&first, "stage-finished"),
        ["select", "swap-os", "patch", "sign", "test"]
    );
    let rerun = signed("out-2", &key_text);
    assert_eq!(
        stages(&rerun, "stage-reused"),
        ["select", "swap-os", "patch"]
    );
    assert_eq!(stages(&rerun, "stage-finished"), ["sign", "test"]);
    assert_eq!(digest(&rerun), digest(&first));
    assert!(
        s.path()
            .join("out-2/signatures")
            .join(digest(&rerun).replacen(':', "=", 1))
            .join("signature-1")
            .is_file()
    );
}

#[test]
fn no_cache_runs_every_stage_and_still_records() {
    let s = Scratch::new();
    let stream = scos_copy(&s, "a");
    let first = run(&s, &stream, &s.path().join("out-1"), &[]);
    let forced = run(&s, &stream, &s.path().join("out-2"), &["--no-cache"]);
    assert!(stages(&forced, "stage-reused").is_empty());
    assert_eq!(
        stages(&forced, "stage-finished"),
        ["select", "swap-os", "patch", "test"]
    );
    assert_eq!(digest(&forced), digest(&first));
    // Recorded again: a stage cache emptied before `--no-cache` is filled by it.
    std::fs::remove_dir_all(s.path().join("cache/stages")).unwrap();
    run(&s, &stream, &s.path().join("out-3"), &["--no-cache"]);
    let after = run(&s, &stream, &s.path().join("out-4"), &[]);
    assert_eq!(
        stages(&after, "stage-reused"),
        ["select", "swap-os", "patch", "test"]
    );
}

#[test]
fn a_corrupt_entry_or_blob_is_a_miss() {
    let s = Scratch::new();
    let stream = scos_copy(&s, "a");
    let first = run(&s, &stream, &s.path().join("out-1"), &[]);
    let cache = s.path().join("cache/stages");
    // Truncate every entry, as a full disk would (a killed process leaves only temporaries).
    let (mut entries, mut parts) = (0, 0);
    for e in std::fs::read_dir(cache.join("entries")).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let entry: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        if entry.get("part").is_some() {
            parts += 1;
        } else {
            entries += 1;
        }
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    }
    assert_eq!(entries, 4, "one entry per stage that ran");
    assert_eq!(parts, 8, "one entry per part of `test`");
    std::fs::write(cache.join("blobs/.tmp-1-0-left-by-a-killed-run"), b"half").unwrap();
    let rerun = run(&s, &stream, &s.path().join("out-2"), &[]);
    assert!(
        stages(&rerun, "stage-reused").is_empty(),
        "{}",
        stdout(&rerun)
    );
    assert_eq!(digest(&rerun), digest(&first));
    // The run wrote the entries again.
    let again = run(&s, &stream, &s.path().join("out-3"), &[]);
    assert_eq!(stages(&again, "stage-reused").len(), 4);

    // A blob whose bytes changed: the stage that needs it runs (the manifests `patch` wrote).
    let mut forged_blobs = 0;
    for e in std::fs::read_dir(cache.join("entries")).unwrap() {
        let entry: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        if entry["stage"] != "patch" {
            continue;
        }
        for hex in entry["delta"]["manifests-put"]
            .as_object()
            .unwrap()
            .values()
        {
            let path = cache.join("blobs").join(hex.as_str().unwrap());
            std::fs::write(&path, b"kind: Forged\n").unwrap();
            forged_blobs += 1;
        }
    }
    assert!(forged_blobs > 0);
    let forged = run(&s, &stream, &s.path().join("out-4"), &[]);
    assert_eq!(stages(&forged, "stage-reused"), ["select", "swap-os"]);
    assert_eq!(digest(&forged), digest(&first));
}

#[test]
fn two_runs_at_once_share_the_cache() {
    let s = Scratch::new();
    let stream = scos_copy(&s, "a");
    let spawn = |out: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_compose"));
        command
            .args(["--json", "run", stream.to_str().unwrap(), "--out"])
            .arg(s.path().join(out))
            .current_dir(repo())
            .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
            .env("CI", "true")
            .env("HOME", s.path());
        without_host_env(&mut command);
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..2).map(|i| spawn(&format!("out-{i}"))).collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outputs {
        ok(o);
    }
    let after = run(&s, &stream, &s.path().join("out-after"), &[]);
    assert_eq!(stages(&after, "stage-reused").len(), 4);
    for o in &outputs {
        assert_eq!(digest(o), digest(&after));
    }
}

#[test]
fn a_stage_declared_nondeterministic_or_not_cached_always_runs() {
    let s = Scratch::new();
    let stream = scos_copy(&s, "a");
    // A plugin declaring itself non-deterministic as the README says (`guest-nondeterministic`:
    // a `#[link_section]` static, through the real Rust toolchain and componentization).
    let text = std::fs::read_to_string(&stream).unwrap().replacen(
        "[[stage]]\nname = \"sign\"",
        &format!(
            "[[stage]]\nname = \"nondeterministic\"\nplugin = \"{}\"\n\n[[stage]]\nname = \"sign\"",
            crate::sandbox::guest("guest-nondeterministic")
        ),
        1,
    );
    std::fs::write(&stream, &text).unwrap();
    let first = run(&s, &stream, &s.path().join("out-1"), &[]);
    let rerun = run(&s, &stream, &s.path().join("out-2"), &[]);
    assert_eq!(
        stages(&rerun, "stage-reused"),
        ["select", "swap-os", "patch"]
    );
    assert_eq!(
        stages(&rerun, "stage-finished"),
        ["nondeterministic", "test"]
    );
    assert_eq!(digest(&rerun), digest(&first));
    // `cache = false` in the stream: that stage runs, and so does every stage after it.
    let text = text.replacen(
        "name = \"swap-os\"\n",
        "name = \"swap-os\"\ncache = false\n",
        1,
    );
    std::fs::write(&stream, &text).unwrap();
    let uncached = run(&s, &stream, &s.path().join("out-3"), &[]);
    assert_eq!(stages(&uncached, "stage-reused"), ["select"]);
    assert_eq!(
        stages(&uncached, "stage-finished"),
        ["swap-os", "patch", "nondeterministic", "test"]
    );
    assert_eq!(digest(&uncached), digest(&first));
}

/// The one release layer kept in the scratch's stage cache: its path.
fn kept_layer(s: &Scratch) -> PathBuf {
    let kept: Vec<PathBuf> = std::fs::read_dir(s.path().join("cache/stages/layers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    kept[0].clone()
}

#[test]
fn the_release_layer_is_kept_by_diff_id_and_a_forged_one_is_not_used() {
    let s = Scratch::new();
    let stream = scos_copy(&s, "a");
    let out = s.path().join("out-1");
    let first = run(&s, &stream, &out, &[]);

    // Kept under the published layer's diff ID, with the published layer's bytes.
    let layer = kept_layer(&s);
    let tag = "4.17.0-okd-scos.0";
    let config = skopeo_inspect(&out, tag, &["--config"]);
    let diff_id = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(
        diff_id.as_str().unwrap(),
        format!("sha256:{}", layer.file_name().unwrap().to_string_lossy())
    );
    let manifest = skopeo_inspect(&out, tag, &["--raw"]);
    let digest_of_layer = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let published = out
        .join("blobs/sha256")
        .join(&digest_of_layer["sha256:".len()..]);
    let bytes = std::fs::read(&layer).unwrap();
    assert_eq!(bytes, std::fs::read(&published).unwrap());

    // A rerun whose `test` runs builds the same tar: the kept layer is read (and marked used).
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .append(true)
        .open(&layer)
        .unwrap()
        .set_modified(past)
        .unwrap();
    change_test_config(&stream);
    let second = run(&s, &stream, &s.path().join("out-2"), &[]);
    assert_eq!(digest(&second), digest(&first));
    assert!(std::fs::metadata(&layer).unwrap().modified().unwrap() > past);

    // Forged: the real layer followed by a second gzip member that adds a manifest (container
    // runtimes read every member). It is not used: the release is built again, the same.
    let mut extra = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut extra, b"release-manifests/0000_99_evil_01.yaml").unwrap();
    let mut forged = bytes.clone();
    forged.extend_from_slice(&extra.finish().unwrap());
    std::fs::write(&layer, &forged).unwrap();
    let mut text = std::fs::read_to_string(&stream).unwrap();
    text.push_str("\n[stage.config.checks.images-pinned]\nseverity = \"error\"\n");
    std::fs::write(&stream, text).unwrap();
    let third = run(&s, &stream, &s.path().join("out-3"), &[]);
    assert_eq!(stages(&third, "stage-finished"), ["test"]);
    assert_eq!(digest(&third), digest(&first));
    assert_eq!(
        std::fs::read(&layer).unwrap(),
        bytes,
        "the forged layer was kept"
    );
}
