//! A stream as a Tekton (`tekton.dev/v1`) Pipeline: one task per stage, in stream order,
//! each running the same `compose` image with `compose run --only STAGE --locked` against a
//! state directory that the tasks share through the `state` workspace, then a `publish` task
//! that pushes the release when the `to` parameter is set. The plugins and the base release
//! are the ones the stream's lock pins by digest; every task refuses any other.
//!
//! [`export`] builds the documents (the Pipeline and an example PipelineRun) and renders them
//! as multi-document YAML with [`Export::to_yaml`]. The tests hold a checker of the rules
//! Tekton's controller and webhook apply (`tests/e2e/tekton_rules.rs`) and Tekton's own
//! OpenAPI schemas; every exported pipeline passes both there.

mod document;
mod tasks;
pub mod types;

use std::collections::BTreeMap;
use std::path::{Component, Path};

use compose_pipeline::Lock;
use compose_stream::{Key, KeySource, PluginRef, Stage, Stream};

use crate::error::{Error, Result};
use document::{header, notes, pipeline_run};
use tasks::{publish_task, stage_task};
use types::*;

/// The `compose` binary in the image (a distroless image: no shell, so no `script`).
pub const COMPOSE_BINARY: &str = "/usr/bin/compose";
/// Where each task's compiled-plugin cache is mounted (an `emptyDir`: compiled native code is
/// never shared through the state volume).
pub const CACHE_DIR: &str = "/var/cache/compose";
/// Where a key's secret is mounted: `KEYS_DIR/NAME/private-key`.
pub const KEYS_DIR: &str = "/var/run/compose/keys";
/// The uid and gid of the compose image (`65532`, distroless's "nonroot").
pub const COMPOSE_ID: u32 = 65532;
/// What a task requests on top of its stage's memory limit: the host, its runtime and the
/// release payload it holds.
pub const HOST_MEMORY_MIB: u64 = 256;
/// Labels on every exported object.
const LABEL_NAME: &str = "app.kubernetes.io/name";
const LABEL_PART_OF: &str = "app.kubernetes.io/part-of";
const LABEL_STREAM: &str = "compose.okd.io/stream";
/// Annotations.
const ANNOTATION_PLUGIN: &str = "compose.okd.io/plugin";
const ANNOTATION_PLUGIN_DIGEST: &str = "compose.okd.io/plugin-digest";
const ANNOTATION_PLUGIN_MANIFEST: &str = "compose.okd.io/plugin-manifest";

/// The results every stage task writes (`compose run --result NAME=PATH`).
const RESULTS: [(&str, &str); 3] = [
    (
        "release-digest",
        "The sha256 digest of the release image after this task's stages (a digest: Tekton results must stay under 4 KiB, the release itself stays in the state workspace).",
    ),
    (
        "findings",
        "How many findings this task's stages reported (a count; the findings themselves are in the state workspace's journal).",
    ),
    (
        "failed-findings",
        "How many of them failed with severity error (a count; the task fails when it is not 0).",
    ),
];

/// What the export needs besides the stream and its lock.
#[derive(Debug, Clone)]
pub struct Options {
    /// The compose image every task runs, e.g. `ghcr.io/okd-project/compose@sha256:…`.
    pub image: String,
    /// The stream file's path inside the source workspace, e.g. `streams/scos.toml`.
    pub stream_path: String,
    /// The Pipeline's name (default `compose-<stream name>`).
    pub name: Option<String>,
}

/// The exported documents and what a person must know before applying them.
#[derive(Debug, Clone)]
pub struct Export {
    /// The Pipeline.
    pub pipeline: Pipeline,
    /// An example PipelineRun of it.
    pub run: PipelineRun,
    /// Things to prepare in the cluster or the source workspace, one sentence each.
    pub notes: Vec<String>,
    header: String,
}

impl Export {
    /// The documents as JSON values, the Pipeline first.
    pub fn documents(&self) -> Result<Vec<serde_json::Value>> {
        let json = |context: &str, value: serde_json::Result<serde_json::Value>| {
            value.map_err(|source| Error::Json {
                context: context.to_string(),
                source,
            })
        };
        Ok(vec![
            json(
                "converting the Pipeline",
                serde_json::to_value(&self.pipeline),
            )?,
            json(
                "converting the PipelineRun",
                serde_json::to_value(&self.run),
            )?,
        ])
    }

    /// Multi-document YAML: a header comment saying what it is and how to apply it, then the
    /// Pipeline and the PipelineRun separated by `---`.
    pub fn to_yaml(&self) -> Result<String> {
        let yaml = |context: &str, value: serde_yaml::Result<String>| {
            value.map_err(|source| Error::Yaml {
                context: context.to_string(),
                source,
            })
        };
        let pipeline = yaml(
            "writing the Pipeline",
            serde_yaml::to_string(&self.pipeline),
        )?;
        let run = yaml("writing the PipelineRun", serde_yaml::to_string(&self.run))?;
        Ok(format!("{}---\n{pipeline}---\n{run}", self.header))
    }
}

/// Parses multi-document YAML (what [`Export::to_yaml`] writes, or any Kubernetes manifest
/// file) into JSON values, skipping empty documents.
pub fn parse_documents(text: &str) -> Result<Vec<serde_json::Value>> {
    let mut docs = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(document).map_err(|source| Error::Yaml {
                context: "reading the YAML documents".into(),
                source,
            })?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Whether `name` is a DNS-1123 label: lowercase letters, digits and `-`, starting and ending
/// with a letter or digit, at most 63 characters (what Kubernetes and Tekton require of task,
/// step and volume names).
pub fn is_dns1123_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// The stages' key names that some stage is granted, with their declarations, in name order.
fn used_keys(stream: &Stream) -> Vec<(&str, &Key)> {
    stream
        .keys
        .iter()
        .filter(|(name, _)| {
            stream
                .stages
                .iter()
                .any(|s| s.grants.keys.iter().any(|k| k == *name))
        })
        .map(|(name, key)| (name.as_str(), key))
        .collect()
}

/// Whether a key's material comes (partly) from a Kubernetes secret: `env:` private or public
/// key (mounted as files) or a passphrase variable.
fn key_uses_secret(key: &Key) -> bool {
    key_mounts_secret(key) || key.passphrase_env.is_some()
}

/// Whether a key's secret is mounted as files (an `env:` private or public key).
fn key_mounts_secret(key: &Key) -> bool {
    matches!(key.private_key, Some(KeySource::Env(_)))
        || matches!(key.public_key, Some(KeySource::Env(_)))
}

fn key_secret_param(name: &str) -> String {
    format!("key-{name}-secret")
}

fn key_volume(name: &str) -> String {
    format!("key-{name}")
}

fn string_param(name: &str, description: &str, default: Option<&str>) -> ParamSpec {
    ParamSpec {
        name: name.to_string(),
        kind: "string".into(),
        description: description.to_string(),
        default: default.map(str::to_string),
    }
}

/// `sizes` in bytes as a Kubernetes quantity in MiB, rounded up.
fn mebibytes(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// `path` lexically normalized (`a/b/../c` → `a/c`), with `/` separators.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    for component in path.components() {
        match component {
            Component::RootDir | Component::Prefix(_) => absolute = true,
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.last().is_some_and(|p| p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..".into());
                }
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Where a path the stream resolved (its directory joined with what the file says) is inside
/// the source workspace: the stream's directory there, joined with the same relative part.
fn in_workspace(stream: &Stream, options: &Options, resolved: &Path) -> String {
    let stream_dir = stream.path.parent().unwrap_or(Path::new(""));
    match resolved.strip_prefix(stream_dir) {
        Ok(rel) => {
            let ws_dir = Path::new(&options.stream_path)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            normalize(&ws_dir.join(rel))
        }
        Err(_) => normalize(resolved),
    }
}

/// Everything the tasks need in common.
struct Context<'a> {
    stream: &'a Stream,
    lock: &'a Lock,
    options: &'a Options,
    labels: BTreeMap<String, String>,
}

/// Exports `stream`, pinned by `lock`, as a Tekton Pipeline and an example PipelineRun.
///
/// Refuses a lock that does not cover the stream's stages with the same plugins, stage or
/// key names Tekton does not accept.
pub fn export(stream: &Stream, lock: &Lock, options: &Options) -> Result<Export> {
    let refuse = |message: String| Error::Stream {
        stream: stream.name.clone(),
        message,
    };
    check_lock(stream, lock)?;
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| format!("compose-{}", stream.name));
    if !is_dns1123_label(&name) {
        return Err(refuse(format!(
            "the Pipeline name `{name}` is not a valid Kubernetes name (lowercase letters, digits and `-`, at most 63 characters): choose another with `--name`"
        )));
    }
    if stream.stages.is_empty() {
        return Err(refuse(
            "the stream has no stages: there is nothing to run".into(),
        ));
    }
    for stage in &stream.stages {
        if !is_dns1123_label(&stage.name) {
            return Err(refuse(format!(
                "stage `{}` cannot be a Tekton task name: task names are DNS-1123 labels (lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters); rename the stage",
                stage.name
            )));
        }
    }
    for (key, _) in used_keys(stream) {
        let volume = key_volume(key);
        let secret = format!("compose-key-{key}");
        if !is_dns1123_label(&volume) || !is_dns1123_label(&secret) {
            return Err(refuse(format!(
                "key `{key}` cannot name a Kubernetes secret or volume (`{secret}`, `{volume}`): rename it to lowercase letters, digits and `-`"
            )));
        }
    }

    let labels: BTreeMap<String, String> = [
        (LABEL_NAME, "compose"),
        (LABEL_PART_OF, "okd"),
        (LABEL_STREAM, stream.name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cx = Context {
        stream,
        lock,
        options,
        labels,
    };

    let publish_name = ["publish", "publish-release"]
        .into_iter()
        .map(str::to_string)
        .chain((2..).map(|n| format!("publish-release-{n}")))
        .find(|candidate| !stream.stages.iter().any(|s| &s.name == candidate))
        .unwrap_or_default();
    let mut tasks = Vec::with_capacity(stream.stages.len() + 1);
    let mut previous: Option<&str> = None;
    for stage in &stream.stages {
        tasks.push(stage_task(&cx, stage, previous)?);
        previous = Some(&stage.name);
    }
    let last = previous.unwrap_or_default();
    tasks.push(publish_task(&cx, &publish_name, last));

    let mut results = vec![PipelineResult {
        name: "release-digest".into(),
        kind: "string".into(),
        description: format!(
            "The digest of release {} (published to the state workspace's release/ by the last stage).",
            stream.release
        ),
        value: format!("$(tasks.{last}.results.release-digest)"),
    }];
    for stage in &stream.stages {
        results.push(PipelineResult {
            name: format!("findings-{}", stage.name),
            kind: "string".into(),
            description: format!("How many findings stage `{}` reported.", stage.name),
            value: format!("$(tasks.{}.results.findings)", stage.name),
        });
    }

    let pipeline = Pipeline {
        api_version: API_VERSION.into(),
        kind: "Pipeline".into(),
        metadata: ObjectMeta {
            name: Some(name.clone()),
            generate_name: None,
            labels: cx.labels.clone(),
            annotations: [
                ("compose.okd.io/release", stream.release.clone()),
                ("compose.okd.io/from", lock.base.reference.clone()),
                ("compose.okd.io/from-digest", lock.base.digest.clone()),
                (
                    "compose.okd.io/lock",
                    normalize(&compose_pipeline::lock_path(Path::new(&options.stream_path))),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        },
        spec: PipelineSpec {
            description: format!(
                "{}: compose release {} from {} ({}) with the stages {} of stream `{}`, one task each, every plugin and the base release pinned by the stream's lock.",
                stream.description.as_deref().unwrap_or("OKD release stream"),
                stream.release,
                lock.base.reference,
                lock.base.digest,
                stream
                    .stages
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                stream.name
            ),
            params: pipeline_params(&cx),
            workspaces: vec![
                PipelineWorkspaceDeclaration {
                    name: "source".into(),
                    description: "A checkout of the repository holding the stream file, its lock, overlays, plugin files and local mirrors (mounted read-only by every task).".into(),
                    optional: false,
                },
                PipelineWorkspaceDeclaration {
                    name: "state".into(),
                    description: "Shared between the tasks of a run (each run uses the directory named after its PipelineRun): state/ holds compose's state directory (the release as it stands and the journal of the stages that ran), release/ the published OCI layout.".into(),
                    optional: false,
                },
                PipelineWorkspaceDeclaration {
                    name: "registry-auth".into(),
                    description: "Optional: a docker config.json with the credentials for pulls and the push.".into(),
                    optional: true,
                },
            ],
            tasks,
            results,
        },
    };

    let run = pipeline_run(&cx, &name);
    let notes = notes(&cx);
    let header = header(&cx, &name, &notes);
    let export = Export {
        pipeline,
        run,
        notes,
        header,
    };
    Ok(export)
}

/// Refuses a lock that is not this stream's or does not pin every stage's plugin.
fn check_lock(stream: &Stream, lock: &Lock) -> Result<()> {
    let refuse = |message: String| Error::Lock {
        stream: stream.name.clone(),
        message,
    };
    if lock.stream != stream.name {
        return Err(refuse(format!("the lock is for stream `{}`", lock.stream)));
    }
    if lock.base.reference != stream.from {
        return Err(refuse(format!(
            "the lock pins base release `{}`, the stream says `{}`",
            lock.base.reference, stream.from
        )));
    }
    for stage in &stream.stages {
        match lock.plugins.iter().find(|p| p.stage == stage.name) {
            None => {
                return Err(refuse(format!("stage `{}` is not in the lock", stage.name)));
            }
            Some(p) if p.plugin != stage.plugin_text => {
                return Err(refuse(format!(
                    "stage `{}`: the lock has plugin `{}`, the stream says `{}`",
                    stage.name, p.plugin, stage.plugin_text
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn pipeline_params(cx: &Context<'_>) -> Vec<ParamSpec> {
    let mut params = vec![
        string_param(
            "image",
            "The compose image every task runs (pin it by digest: the lock pins the builtin plugins of one compose build).",
            Some(&cx.options.image),
        ),
        string_param(
            "stream",
            "The stream file, relative to the source workspace.",
            Some(&cx.options.stream_path),
        ),
        string_param(
            "to",
            "Where the publish task pushes the release; empty: nothing is pushed (the release stays in the state workspace).",
            Some(cx.stream.to.as_deref().unwrap_or("")),
        ),
        string_param(
            "source-date-epoch",
            "Seconds since 1970 for the release's creation time, the same for every task (empty: the stream's `created`, else the base release's).",
            Some(""),
        ),
    ];
    for (name, key) in used_keys(cx.stream) {
        if key_uses_secret(key) {
            params.push(string_param(
                &key_secret_param(name),
                &secret_description(name, key),
                Some(&format!("compose-key-{name}")),
            ));
        }
    }
    params
}

/// What the secret of key `name` must hold.
fn secret_description(name: &str, key: &Key) -> String {
    let mut holds = Vec::new();
    if matches!(key.private_key, Some(KeySource::Env(_))) {
        holds.push("`private-key` (the armored private key)");
    }
    if matches!(key.public_key, Some(KeySource::Env(_))) {
        holds.push("`public-key` (the armored public key)");
    }
    if key.passphrase_env.is_some() {
        holds.push("optionally `passphrase` (the private key's passphrase)");
    }
    format!(
        "The secret holding signing key `{name}`: {}. {}",
        holds.join(", "),
        if key.optional {
            "The key is optional: without the secret its stages are skipped and the release is published unsigned."
        } else {
            "The key is required: the run fails without it."
        }
    )
}

/// The claim the example PipelineRun binds (the checkout in `source/`, the runs' state in
/// `runs/`).
pub const SOURCE_CLAIM: &str = "compose-source";
/// The secret the example PipelineRun binds as `registry-auth`.
pub const REGISTRY_AUTH_SECRET: &str = "compose-registry-auth";
/// The `source-date-epoch` the example PipelineRun sets (2024-03-10T01:01:16Z).
pub const EXAMPLE_SOURCE_DATE_EPOCH: &str = "1710032476";

#[cfg(test)]
mod tests;
