//! `compose export tekton`: every stream of the repository as a Tekton Pipeline, judged by
//! Tekton's own published schemas (`tests/tekton/validate_schema.py` against the CRD and the
//! OpenAPI document in `tests/fixtures/tekton/`) and by the rules Tekton's webhook applies
//! (`tekton_rules`, a checker kept with the tests), then checked against the stream and its lock.

use std::path::{Path, PathBuf};
use std::process::Output;

use compose_export::tekton::parse_documents;

use crate::tekton_rules as rules;
use serde_json::Value;

use crate::languages::{edge_plugin, hpc_plugin};
use crate::support::*;

/// A compose image pinned by digest (the digest need not exist: nothing pulls it).
const IMAGE: &str = "ghcr.io/okd-project/compose@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A scratch copy of the repository's `streams/` with `examples/` linked beside it (stream
/// files name `../examples/...`): the layout of the source workspace.
pub(crate) fn workspace() -> Scratch {
    let s = Scratch::new();
    copy_dir(&repo().join("streams"), &s.path().join("streams"));
    std::os::unix::fs::symlink(repo().join("examples"), s.path().join("examples")).unwrap();
    s
}

/// The stream files of the repository (`streams/*.toml`), by file name.
fn stream_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("streams"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    names
}

/// Builds the example plugins a stream file names (`plugin = "…/NAME.wasm"`).
fn build_plugins(stream: &Path) {
    let text = std::fs::read_to_string(stream).unwrap();
    for line in text.lines() {
        let Some(plugin) = line
            .trim()
            .strip_prefix("plugin = \"")
            .and_then(|rest| rest.split('"').next())
            .filter(|p| p.ends_with(".wasm"))
        else {
            continue;
        };
        if plugin.ends_with("examples/plugins/hpc-python/hpc.wasm") {
            hpc_plugin();
        } else if plugin.ends_with("examples/plugins/edge-js/edge.wasm") {
            edge_plugin();
        } else {
            panic!(
                "{}: no builder for the plugin `{plugin}`: add one to tests/e2e/tekton.rs",
                stream.display()
            );
        }
    }
}

/// Runs `compose ARGS` in the scratch directory (stream paths relative to it).
fn compose_here(s: &Scratch, args: &[&str]) -> Output {
    compose_in(s, s.path(), args, &[])
}

/// `python3 tests/tekton/validate_schema.py FILE`.
fn validate_schema(file: &Path) -> Output {
    tool("python3")
        .arg(repo().join("tests/tekton/validate_schema.py"))
        .arg(file)
        .output()
        .unwrap()
}

/// Locks `streams/NAME` in the scratch copy and exports it to `NAME.tekton.yaml`.
pub(crate) fn lock_and_export(s: &Scratch, name: &str) -> PathBuf {
    let stream = format!("streams/{name}");
    ok(&compose_here(s, &["lock", &stream]));
    let out = s.path().join(format!("{name}.tekton.yaml"));
    let o = compose_here(
        s,
        &[
            "export",
            "tekton",
            &stream,
            "--image",
            IMAGE,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    ok(&o);
    out
}

fn load_stream(path: &Path) -> compose_stream::Stream {
    let options = compose_stream::LoadOptions {
        builtins: compose_builtins::all()
            .iter()
            .map(|b| b.name.to_string())
            .collect(),
    };
    compose_stream::load(path, &options).unwrap()
}

fn strs(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn every_stream_exports_a_pipeline_tekton_accepts() {
    let s = workspace();
    let files = stream_files();
    assert!(files.len() >= 4, "streams/: {files:?}");
    let mut key_tasks = 0;
    for file in &files {
        let stream_path = s.path().join("streams").join(file);
        build_plugins(&stream_path);
        let out = lock_and_export(&s, file);
        let yaml = std::fs::read_to_string(&out).unwrap();

        // Tekton's schemas, strictly.
        let v = validate_schema(&out);
        assert!(
            v.status.success(),
            "{file}: the schema check failed:\n{}{}",
            stdout(&v),
            stderr(&v)
        );
        // Tekton's webhook rules.
        let docs = parse_documents(&yaml).unwrap();
        let violations = rules::check(&docs);
        assert!(violations.is_empty(), "{file}: {violations:#?}");

        // One task per stage in stream order, then publish, chained by runAfter.
        let stream = load_stream(&stream_path);
        let lock = compose_pipeline::Lock::read(&compose_pipeline::lock_path(&stream_path))
            .unwrap()
            .unwrap();
        let pipeline = &docs[0];
        assert_eq!(pipeline["kind"], "Pipeline");
        assert_eq!(
            pipeline["metadata"]["annotations"]["compose.okd.io/from-digest"],
            lock.base.digest.as_str(),
            "{file}"
        );
        let defaults: Vec<(&str, &str)> = pipeline["spec"]["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["default"].as_str().unwrap()))
            .collect();
        assert!(defaults.contains(&("image", IMAGE)), "{defaults:?}");
        assert!(
            defaults.contains(&("stream", format!("streams/{file}").as_str())),
            "{defaults:?}"
        );
        let tasks = pipeline["spec"]["tasks"].as_array().unwrap();
        let names: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
        let mut expected: Vec<&str> = stream.stages.iter().map(|s| s.name.as_str()).collect();
        expected.push("publish");
        assert_eq!(names, expected, "{file}");
        for (i, task) in tasks.iter().enumerate() {
            let after = strs(&task["runAfter"]);
            if i == 0 {
                assert!(after.is_empty(), "{file}: {after:?}");
            } else {
                assert_eq!(after, [names[i - 1]], "{file}: task {}", names[i]);
            }
        }
        for stage in &stream.stages {
            let task = tasks
                .iter()
                .find(|t| t["name"] == stage.name.as_str())
                .unwrap();
            let spec = &task["taskSpec"];
            let locked = lock.plugins.iter().find(|p| p.stage == stage.name).unwrap();
            let annotations = &spec["metadata"]["annotations"];
            assert_eq!(
                annotations["compose.okd.io/plugin-digest"],
                locked.wasm.as_str(),
                "{file}: stage {}",
                stage.name
            );
            assert_eq!(
                annotations["compose.okd.io/plugin"],
                stage.plugin_text.as_str()
            );
            match &locked.manifest {
                Some(m) => assert_eq!(annotations["compose.okd.io/plugin-manifest"], m.as_str()),
                None => assert!(annotations.get("compose.okd.io/plugin-manifest").is_none()),
            }
            let args = strs(&spec["steps"][0]["args"]);
            let only = args.iter().position(|a| *a == "--only").unwrap();
            assert_eq!(args[only + 1], stage.name, "{file}");
            assert!(args.contains(&"--locked"));
            // A key secret volume exactly on the stages granted keys (an `env:` key comes
            // from a secret; a key file would be in the source workspace).
            let mut secrets: Vec<&str> = spec["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v.get("secret").is_some())
                .map(|v| v["secret"]["secretName"].as_str().unwrap())
                .collect();
            secrets.sort();
            let mut granted: Vec<String> = stage
                .grants
                .keys
                .iter()
                .filter(|k| {
                    matches!(
                        stream.keys[k.as_str()].private_key,
                        Some(compose_stream::KeySource::Env(_))
                    )
                })
                .map(|k| format!("$(params.key-{k}-secret)"))
                .collect();
            granted.sort();
            assert_eq!(secrets, granted, "{file}: stage {}", stage.name);
            key_tasks += granted.len();
        }
    }
    assert!(
        key_tasks > 0,
        "no stream of streams/ grants a key: the key checks saw nothing"
    );
}

#[test]
fn the_export_goes_to_stdout_and_says_what_to_prepare() {
    let s = workspace();
    ok(&compose_here(&s, &["lock", "streams/scos.toml"]));
    let o = compose_here(&s, &["export", "tekton", "streams/scos.toml"]);
    ok(&o);
    let yaml = stdout(&o);
    assert!(
        yaml.starts_with("# Tekton (tekton.dev/v1) Pipeline"),
        "{yaml}"
    );
    let default_image = format!("ghcr.io/okd-project/compose:{}", env!("CARGO_PKG_VERSION"));
    assert!(
        yaml.contains(&format!("default: {default_image}")),
        "{yaml}"
    );
    let err = stderr(&o);
    assert!(err.contains("is not pinned by digest"), "{err}");
    assert!(err.contains("compose-key-release"), "{err}");
    assert!(
        err.contains("registry `quay.io` is read from the OCI layout `examples/mirror`"),
        "{err}"
    );
    let file = s.path().join("stdout.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let v = validate_schema(&file);
    assert!(v.status.success(), "{}", stdout(&v));
}

#[test]
fn the_export_needs_a_current_lock() {
    let s = workspace();
    let export = || {
        compose_here(
            &s,
            &[
                "export",
                "tekton",
                "streams/openstack.toml",
                "--image",
                IMAGE,
            ],
        )
    };
    let err = fails(&export());
    assert!(err.contains("has no lock file"), "{err}");
    assert!(err.contains("compose lock streams/openstack.toml"), "{err}");

    ok(&compose_here(&s, &["lock", "streams/openstack.toml"]));
    ok(&export());
    let lock_file = s.path().join("streams/openstack.lock");
    let text = std::fs::read_to_string(&lock_file).unwrap();
    let lock = compose_pipeline::Lock::read(&lock_file).unwrap().unwrap();

    // A base release that no longer resolves to the locked digest.
    let stale = text.replace(&lock.base.digest, &format!("sha256:{}", "e".repeat(64)));
    assert_ne!(stale, text);
    std::fs::write(&lock_file, &stale).unwrap();
    let err = fails(&export());
    assert!(err.contains("drifted"), "{err}");
    assert!(err.contains("base release"), "{err}");
    assert!(err.contains(&format!("sha256:{}", "e".repeat(64))), "{err}");

    // A plugin whose component is not the locked one.
    let patch = lock.plugins.iter().find(|p| p.stage == "patch").unwrap();
    let stale = text.replace(&patch.wasm, &format!("sha256:{}", "d".repeat(64)));
    std::fs::write(&lock_file, &stale).unwrap();
    let err = fails(&export());
    assert!(err.contains("stage `patch`"), "{err}");
    assert!(err.contains("compose lock"), "{err}");
}

#[test]
fn broken_pipelines_are_rejected_by_the_schemas_and_the_rules() {
    let s = workspace();
    let out = lock_and_export(&s, "scos.toml");
    let good = std::fs::read_to_string(&out).unwrap();
    let broken = |name: &str, from: &str, to: &str| -> (Output, Vec<rules::Violation>) {
        assert!(good.contains(from), "`{from}` is not in the export");
        let text = good.replacen(from, to, 1);
        let path = s.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &text).unwrap();
        (validate_schema(&path), rules::check_yaml(&text).unwrap())
    };
    let rejected = |o: &Output, needle: &str| {
        assert_eq!(o.status.code(), Some(1), "{}{}", stdout(o), stderr(o));
        assert!(stdout(o).contains(needle), "{}", stdout(o));
    };
    let caught = |v: &[rules::Violation], rule: rules::Rule, needle: &str| {
        assert!(
            v.iter()
                .any(|v| v.rule == rule && v.to_string().contains(needle)),
            "{v:#?}"
        );
    };

    // An unknown field in a pipeline task (Tekton's is `retries`).
    let (schema, violations) = broken(
        "unknown-field",
        "\n  - name: swap-os\n",
        "\n  - name: swap-os\n    retry: 2\n",
    );
    rejected(
        &schema,
        "$.spec.tasks[1]: Additional properties are not allowed ('retry' was unexpected)",
    );
    caught(
        &violations,
        rules::Rule::UnknownField,
        "unknown field `retry`",
    );

    // A wrong type: runAfter must be a list.
    let (schema, violations) = broken(
        "wrong-type",
        "    runAfter:\n    - select\n",
        "    runAfter: select\n",
    );
    rejected(
        &schema,
        "$.spec.tasks[1].runAfter: 'select' is not of type 'array'",
    );
    caught(
        &violations,
        rules::Rule::FieldType,
        "`runAfter` must be a list",
    );

    // A param without its required name.
    let (schema, violations) = broken(
        "missing-name",
        "  params:\n  - name: image\n",
        "  params:\n  - \n",
    );
    rejected(&schema, "$.spec.params[0]: 'name' is a required property");
    caught(
        &violations,
        rules::Rule::ParamName,
        "a param without a name",
    );

    // The task a runAfter points to, renamed: only the rules see references.
    let (_, violations) = broken("renamed", "\n  - name: select\n", "\n  - name: choose\n");
    caught(
        &violations,
        rules::Rule::RunAfter,
        "task `swap-os` runs after `select`, which is not a task of the pipeline",
    );
    // A step using a result its task does not declare.
    let (_, violations) = broken(
        "undeclared-result",
        "findings=$(results.findings.path)",
        "findings=$(results.finding.path)",
    );
    caught(
        &violations,
        rules::Rule::ResultVariable,
        "declares no result `finding`",
    );
}
