//! The exporter on the repository's streams and on purpose-built ones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use compose_pipeline::lock::{LOCK_VERSION, LockedImage, LockedPlugin};
use serde_json::Value;

use super::*;

/// The builtin plugins a stream may name (what `compose_builtins::all()` embeds).
const BUILTINS: [&str; 5] = [
    "select-images",
    "swap-os-image",
    "patch-manifests",
    "sign",
    "test-release",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn options() -> compose_stream::LoadOptions {
    compose_stream::LoadOptions {
        builtins: BUILTINS.iter().map(|b| b.to_string()).collect(),
    }
}

/// A lock for `stream` with made-up digests (`sha256:` + the stage's index repeated).
pub(super) fn fake_lock(stream: &Stream) -> Lock {
    Lock {
        version: LOCK_VERSION,
        stream: stream.name.clone(),
        base: LockedImage {
            reference: stream.from.clone(),
            digest: format!("sha256:{}", "b".repeat(64)),
        },
        plugins: stream
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| LockedPlugin {
                stage: s.name.clone(),
                plugin: s.plugin_text.clone(),
                manifest: matches!(s.plugin, PluginRef::Oci(_))
                    .then(|| format!("sha256:{}", "f".repeat(64))),
                wasm: format!("sha256:{}", i.to_string().repeat(64)),
                signed_by: None,
            })
            .collect(),
    }
}

/// A stream file of the repository, loaded from the repository's `streams/`.
pub(super) fn repo_stream(name: &str) -> Stream {
    compose_stream::load(&repo().join("streams").join(name), &options()).unwrap()
}

/// A stream from text, as if it were the file `streams/test.toml` of the repository.
fn stream_from(text: &str) -> Stream {
    compose_stream::parse(
        &repo().join("streams/test.toml"),
        text.to_string(),
        &options(),
    )
    .unwrap_or_else(|e| panic!("test stream: {e}"))
}

pub(super) fn export_options(stream_path: &str) -> Options {
    Options {
        image: format!("ghcr.io/okd-project/compose@sha256:{}", "a".repeat(64)),
        stream_path: stream_path.to_string(),
        name: None,
    }
}

const HEAD: &str = r#"
[stream]
name = "t"
release = "4.17.0-t.0"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"

[registries."quay.io"]
mirror = "oci:../examples/mirror"
"#;

fn tasks(doc: &Value) -> &Vec<Value> {
    doc["spec"]["tasks"].as_array().unwrap()
}

fn task<'a>(doc: &'a Value, name: &str) -> &'a Value {
    tasks(doc)
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task `{name}`"))
}

fn names(values: &Value) -> Vec<&str> {
    values
        .as_array()
        .map(|a| a.iter().map(|v| v["name"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

#[test]
fn scos_exports_one_task_per_stage_then_publish() {
    let stream = repo_stream("scos.toml");
    let lock = fake_lock(&stream);
    let export = export(&stream, &lock, &export_options("streams/scos.toml")).unwrap();
    let docs = export.documents().unwrap();
    let pipeline = &docs[0];
    assert_eq!(pipeline["apiVersion"], "tekton.dev/v1");
    assert_eq!(pipeline["kind"], "Pipeline");
    assert_eq!(pipeline["metadata"]["name"], "compose-okd-scos");
    let labels = &pipeline["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/name"], "compose");
    assert_eq!(labels["app.kubernetes.io/part-of"], "okd");
    assert_eq!(labels["compose.okd.io/stream"], "okd-scos");
    let annotations = &pipeline["metadata"]["annotations"];
    assert_eq!(annotations["compose.okd.io/release"], "4.17.0-okd-scos.0");
    assert_eq!(annotations["compose.okd.io/from"], stream.from.as_str());
    assert_eq!(
        annotations["compose.okd.io/from-digest"],
        lock.base.digest.as_str()
    );
    assert_eq!(annotations["compose.okd.io/lock"], "streams/scos.lock");

    let order: Vec<&str> = tasks(pipeline)
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["select", "swap-os", "patch", "sign", "test", "publish"]
    );
    for (i, t) in tasks(pipeline).iter().enumerate() {
        let after: Vec<&str> = t["runAfter"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        if i == 0 {
            assert!(after.is_empty());
        } else {
            assert_eq!(after, [order[i - 1]], "task {}", order[i]);
        }
    }
    for (i, stage) in stream.stages.iter().enumerate() {
        let t = task(pipeline, &stage.name);
        let spec = &t["taskSpec"];
        let meta = &spec["metadata"]["annotations"];
        assert_eq!(meta["compose.okd.io/plugin"], stage.plugin_text.as_str());
        assert_eq!(
            meta["compose.okd.io/plugin-digest"],
            lock.plugins[i].wasm.as_str()
        );
        let step = &spec["steps"][0];
        assert_eq!(step["image"], "$(params.image)");
        assert_eq!(step["command"], serde_json::json!(["/usr/bin/compose"]));
        let args: Vec<&str> = step["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "run",
                "$(workspaces.source.path)/$(params.stream)",
                "--state",
                "$(workspaces.state.path)/state",
                "--out",
                "$(workspaces.state.path)/release",
                "--only",
                stage.name.as_str(),
                "--locked",
                "--cache-dir",
                "/var/cache/compose",
                "--result",
                "release-digest=$(results.release-digest.path)",
                "--result",
                "findings=$(results.findings.path)",
                "--result",
                "failed-findings=$(results.failed-findings.path)",
            ]
        );
        assert_eq!(
            names(&spec["results"]),
            ["release-digest", "findings", "failed-findings"]
        );
        assert_eq!(step["securityContext"]["runAsNonRoot"], true);
        assert_eq!(step["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(step["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(
            step["securityContext"]["capabilities"]["drop"],
            serde_json::json!(["ALL"])
        );
        assert_eq!(
            step["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let volumes = names(&spec["volumes"]);
        assert!(volumes.contains(&"cache"), "{volumes:?}");
        assert_eq!(
            volumes.contains(&"key-release"),
            stage.name == "sign",
            "stage {}: {volumes:?}",
            stage.name
        );
        let ws = &spec["workspaces"];
        assert_eq!(ws[0]["name"], "source");
        assert_eq!(ws[0]["readOnly"], true);
        assert_eq!(ws[2]["optional"], true);
    }

    // The sign stage: the key secret mounted, the variables pointing at it.
    let sign = &task(pipeline, "sign")["taskSpec"];
    let volume = sign["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "key-release")
        .unwrap();
    assert_eq!(
        volume["secret"]["secretName"],
        "$(params.key-release-secret)"
    );
    assert_eq!(volume["secret"]["optional"], true);
    let env = sign["steps"][0]["env"].as_array().unwrap();
    let var = |name: &str| env.iter().find(|e| e["name"] == name).cloned();
    assert_eq!(
        var("COMPOSE_RELEASE_KEY").unwrap()["value"],
        "/var/run/compose/keys/release/private-key"
    );
    let pass = var("COMPOSE_RELEASE_KEY_PASSPHRASE").unwrap();
    assert_eq!(
        pass["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "$(params.key-release-secret)", "key": "passphrase", "optional": true})
    );
    assert_eq!(
        var("SOURCE_DATE_EPOCH").unwrap()["value"],
        "$(params.source-date-epoch)"
    );
    assert!(names(&sign["params"]).contains(&"key-release-secret"));
    let test = &task(pipeline, "test")["taskSpec"];
    assert!(!names(&test["params"]).contains(&"key-release-secret"));
    assert!(
        !test["steps"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "COMPOSE_RELEASE_KEY")
    );

    // publish: only when `to` is set, pushing.
    let publish = task(pipeline, "publish");
    assert_eq!(
        publish["when"],
        serde_json::json!([{"input": "$(params.to)", "operator": "notin", "values": [""]}])
    );
    let args = publish["taskSpec"]["steps"][0]["args"].as_array().unwrap();
    for flag in ["--locked", "--push", "--to", "$(params.to)"] {
        assert!(args.iter().any(|a| a == flag), "{flag}: {args:?}");
    }
    assert!(!args.iter().any(|a| a == "--only"));

    // Params with their defaults, results.
    let params = &pipeline["spec"]["params"];
    assert_eq!(
        names(params),
        [
            "image",
            "stream",
            "to",
            "source-date-epoch",
            "key-release-secret"
        ]
    );
    assert_eq!(params[1]["default"], "streams/scos.toml");
    assert_eq!(
        params[2]["default"],
        "quay.io/okd/scos-release:4.17.0-okd-scos.0"
    );
    assert_eq!(params[4]["default"], "compose-key-release");
    let results = &pipeline["spec"]["results"];
    assert_eq!(results[0]["value"], "$(tasks.test.results.release-digest)");
    assert_eq!(results[1]["name"], "findings-select");
    assert_eq!(results[1]["value"], "$(tasks.select.results.findings)");

    // The PipelineRun.
    let run = &docs[1];
    assert_eq!(run["kind"], "PipelineRun");
    assert_eq!(run["metadata"]["generateName"], "compose-okd-scos-");
    assert_eq!(run["spec"]["pipelineRef"]["name"], "compose-okd-scos");
    assert_eq!(
        run["spec"]["taskRunTemplate"]["podTemplate"]["securityContext"]["fsGroup"],
        65532
    );
    assert_eq!(
        run["spec"]["params"],
        serde_json::json!([{"name": "source-date-epoch", "value": "1710032476"}])
    );
    assert_eq!(
        names(&run["spec"]["workspaces"]),
        ["source", "state", "registry-auth"]
    );
}

#[test]
fn the_yaml_has_a_header_and_two_documents() {
    let stream = repo_stream("scos.toml");
    let export = export(
        &stream,
        &fake_lock(&stream),
        &export_options("streams/scos.toml"),
    )
    .unwrap();
    let yaml = export.to_yaml().unwrap();
    assert!(yaml.starts_with("# Tekton (tekton.dev/v1) Pipeline `compose-okd-scos`"));
    assert!(yaml.contains("kubectl create -f FILE"), "{yaml}");
    assert!(yaml.contains("compose-key-release"), "{yaml}");
    assert_eq!(yaml.matches("\n---\n").count(), 2, "{yaml}");
    // Field order reads naturally.
    let body = &yaml[yaml.find("---\n").unwrap() + 4..];
    assert!(body.starts_with("apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:"));
    let docs = parse_documents(&yaml).unwrap();
    assert_eq!(docs, export.documents().unwrap());
}

#[test]
fn every_repository_stream_exports_cleanly() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("streams")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let stream = compose_stream::load(&path, &options()).unwrap();
        let rel = format!("streams/{}", path.file_name().unwrap().to_string_lossy());
        let export = export(&stream, &fake_lock(&stream), &export_options(&rel))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            export.pipeline.spec.tasks.len(),
            stream.stages.len() + 1,
            "{}",
            path.display()
        );
        count += 1;
    }
    assert!(count >= 4, "only {count} streams");
}

#[test]
fn plugin_files_and_mirrors_are_named_in_the_source_workspace() {
    let stream = repo_stream("hpc.toml");
    let export = export(
        &stream,
        &fake_lock(&stream),
        &export_options("streams/hpc.toml"),
    )
    .unwrap();
    let notes = export.notes.join("\n");
    assert!(
        notes.contains("`examples/plugins/hpc-python/hpc.wasm` must be in the source workspace"),
        "{notes}"
    );
    assert!(
        notes.contains("registry `quay.io` is read from the OCI layout `examples/mirror`"),
        "{notes}"
    );
    assert!(!notes.contains("compose-key"), "{notes}");
    assert_eq!(normalize(Path::new("a/./b/../../../c")), "../c");
    assert_eq!(normalize(Path::new("/x/../y")), "/y");
}

#[test]
fn a_stage_named_publish_moves_the_publish_task() {
    let stream = stream_from(&format!(
        "{HEAD}\n[[stage]]\nname = \"publish\"\nplugin = \"test-release\"\n"
    ));
    let export = export(
        &stream,
        &fake_lock(&stream),
        &export_options("streams/test.toml"),
    )
    .unwrap();
    let names: Vec<&str> = export
        .pipeline
        .spec
        .tasks
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["publish", "publish-release"]);
    assert_eq!(export.pipeline.spec.tasks[1].run_after, ["publish"]);
    // No `to`: the publish task's condition is never met unless the run sets one.
    assert_eq!(export.pipeline.spec.params[2].default.as_deref(), Some(""));
}

#[test]
fn stage_names_tekton_refuses_are_refused() {
    for (name, why) in [
        ("select-", "DNS-1123"),
        (&"s".repeat(64) as &str, "at most 63"),
    ] {
        let stream = stream_from(&format!(
            "{HEAD}\n[[stage]]\nname = \"{name}\"\nplugin = \"test-release\"\n"
        ));
        let err = export(
            &stream,
            &fake_lock(&stream),
            &export_options("streams/test.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(&format!("stage `{name}`")), "{err}");
        assert!(err.contains(why), "{err}");
        assert!(err.contains("rename the stage"), "{err}");
    }
    // A pipeline name that is too long is refused too, naming the way out.
    let stream = stream_from(&format!(
        "{HEAD}\n[[stage]]\nname = \"a\"\nplugin = \"test-release\"\n"
    ));
    let mut options = export_options("streams/test.toml");
    options.name = Some("n".repeat(64));
    let err = export(&stream, &fake_lock(&stream), &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--name"), "{err}");
}

#[test]
fn a_lock_of_other_plugins_or_stages_is_refused() {
    let stream = repo_stream("scos.toml");
    let options = export_options("streams/scos.toml");
    let mut lock = fake_lock(&stream);
    lock.plugins.remove(1);
    let err = export(&stream, &lock, &options).unwrap_err().to_string();
    assert!(err.contains("stage `swap-os` is not in the lock"), "{err}");
    assert!(err.contains("compose lock"), "{err}");

    let mut lock = fake_lock(&stream);
    lock.plugins[0].plugin = "other".into();
    let err = export(&stream, &lock, &options).unwrap_err().to_string();
    assert!(
        err.contains("stage `select`: the lock has plugin `other`"),
        "{err}"
    );

    let mut lock = fake_lock(&stream);
    lock.stream = "elsewhere".into();
    let err = export(&stream, &lock, &options).unwrap_err().to_string();
    assert!(err.contains("the lock is for stream `elsewhere`"), "{err}");
}

#[test]
fn keys_from_files_stay_in_the_workspace_and_limits_size_the_request() {
    let stream = stream_from(&format!(
        r#"{HEAD}
[keys.file-key]
private-key = "keys/release.priv.asc"
passphrase = "env:FILE_KEY_PASS"

[keys.unused]
private-key = "env:UNUSED"

[[stage]]
name = "sign"
plugin = "sign"
grants = {{ keys = ["file-key"] }}
limits = {{ memory = "100MiB" }}
config = {{ key = "file-key" }}

[[stage]]
name = "test"
plugin = "test-release"
"#
    ));
    let export = export(
        &stream,
        &fake_lock(&stream),
        &export_options("streams/test.toml"),
    )
    .unwrap();
    let docs = export.documents().unwrap();
    let pipeline = &docs[0];
    // The unused key has no parameter; the file key has one for its passphrase.
    assert_eq!(
        names(&pipeline["spec"]["params"]),
        [
            "image",
            "stream",
            "to",
            "source-date-epoch",
            "key-file-key-secret"
        ]
    );
    let sign = &task(pipeline, "sign")["taskSpec"];
    assert_eq!(names(&sign["volumes"]), ["cache", "tmp"]);
    assert_eq!(
        sign["metadata"]["annotations"]["compose.okd.io/key-file-key-private-key"],
        "file streams/keys/release.priv.asc in the source workspace"
    );
    let env = sign["steps"][0]["env"].as_array().unwrap();
    assert!(
        env.iter().any(|e| e["name"] == "FILE_KEY_PASS"
            && e["valueFrom"]["secretKeyRef"]["key"] == "passphrase")
    );
    assert_eq!(
        sign["steps"][0]["computeResources"]["requests"]["memory"],
        "356Mi"
    );
    // Default limit: 256 MiB + 256 MiB.
    assert_eq!(
        task(pipeline, "test")["taskSpec"]["steps"][0]["computeResources"]["requests"]["memory"],
        "512Mi"
    );
    let notes = export.notes.join("\n");
    assert!(
        notes.contains(
            "the private key is the file `streams/keys/release.priv.asc` in the source workspace"
        ),
        "{notes}"
    );
    assert!(notes.contains("compose-key-file-key"), "{notes}");
}

#[test]
fn key_names_kubernetes_refuses_are_refused() {
    let stream = stream_from(&format!(
        r#"{HEAD}
[keys.Release_Key]
private-key = "env:K"

[[stage]]
name = "sign"
plugin = "sign"
grants = {{ keys = ["Release_Key"] }}
config = {{ key = "Release_Key" }}
"#
    ));
    let err = export(
        &stream,
        &fake_lock(&stream),
        &export_options("streams/test.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("key `Release_Key`"), "{err}");
    assert!(err.contains("rename it"), "{err}");
}
