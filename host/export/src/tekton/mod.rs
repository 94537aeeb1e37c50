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

pub mod types;

use std::collections::BTreeMap;
use std::path::{Component, Path};

use compose_pipeline::Lock;
use compose_stream::{Key, KeySource, PluginRef, Stage, Stream};

use crate::error::{Error, Result};
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
/// The default memory limit of a stage without `limits.memory` (the runtime's default).
pub const DEFAULT_STAGE_MEMORY: u64 = 256 << 20;

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

/// The params a task declares and the values the pipeline passes for them.
fn task_params(cx: &Context<'_>, names: &[String]) -> (Vec<ParamSpec>, Vec<Param>) {
    let all = pipeline_params(cx);
    let declared: Vec<ParamSpec> = names
        .iter()
        .filter_map(|n| all.iter().find(|p| &p.name == n))
        .map(|p| ParamSpec {
            default: None,
            ..p.clone()
        })
        .collect();
    let passed = declared
        .iter()
        .map(|p| Param {
            name: p.name.clone(),
            value: format!("$(params.{})", p.name),
        })
        .collect();
    (declared, passed)
}

fn task_workspaces() -> (Vec<WorkspaceDeclaration>, Vec<WorkspacePipelineTaskBinding>) {
    let declared = vec![
        WorkspaceDeclaration {
            name: "source".into(),
            description: "The repository checkout holding the stream, its lock and its files."
                .into(),
            read_only: true,
            optional: false,
        },
        WorkspaceDeclaration {
            name: "state".into(),
            description: "This run's state/ and release/.".into(),
            read_only: false,
            optional: false,
        },
        WorkspaceDeclaration {
            name: "registry-auth".into(),
            description: "A docker config.json for pulls and pushes.".into(),
            read_only: true,
            optional: true,
        },
    ];
    let bound = vec![
        WorkspacePipelineTaskBinding {
            name: "source".into(),
            workspace: "source".into(),
            sub_path: None,
        },
        WorkspacePipelineTaskBinding {
            name: "state".into(),
            workspace: "state".into(),
            // One directory per run: a claim that outlives a run never hands a new run the
            // previous one's state (which would only publish it again).
            sub_path: Some("$(context.pipelineRun.name)".into()),
        },
        WorkspacePipelineTaskBinding {
            name: "registry-auth".into(),
            workspace: "registry-auth".into(),
            sub_path: None,
        },
    ];
    (declared, bound)
}

fn security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: true,
        allow_privilege_escalation: false,
        capabilities: Capabilities {
            drop: vec!["ALL".into()],
        },
        read_only_root_filesystem: true,
        seccomp_profile: SeccompProfile {
            kind: "RuntimeDefault".into(),
        },
    }
}

/// `compose run` arguments every task starts with.
fn run_args() -> Vec<String> {
    [
        "run",
        "$(workspaces.source.path)/$(params.stream)",
        "--state",
        "$(workspaces.state.path)/state",
        "--out",
        "$(workspaces.state.path)/release",
    ]
    .into_iter()
    .map(str::to_string)
    .collect()
}

fn common_env() -> Vec<EnvVar> {
    vec![
        EnvVar {
            name: "SOURCE_DATE_EPOCH".into(),
            value: Some("$(params.source-date-epoch)".into()),
            value_from: None,
        },
        EnvVar {
            name: "DOCKER_CONFIG".into(),
            value: Some("$(workspaces.registry-auth.path)".into()),
            value_from: None,
        },
    ]
}

/// The scratch volumes every task has: the compiled-plugin cache and `/tmp` (the root file
/// system is read-only).
fn scratch_volumes() -> (Vec<Volume>, Vec<VolumeMount>) {
    let volumes = vec![
        Volume {
            name: "cache".into(),
            empty_dir: Some(EmptyDirVolume::default()),
            secret: None,
        },
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolume::default()),
            secret: None,
        },
    ];
    let mounts = vec![
        VolumeMount {
            name: "cache".into(),
            mount_path: CACHE_DIR.into(),
            read_only: false,
        },
        VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            read_only: false,
        },
    ];
    (volumes, mounts)
}

fn result_args(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .flat_map(|r| ["--result".to_string(), format!("{r}=$(results.{r}.path)")])
        .collect()
}

fn task_results(names: &[&str]) -> Vec<TaskResult> {
    RESULTS
        .iter()
        .filter(|(n, _)| names.contains(n))
        .map(|(name, description)| TaskResult {
            name: name.to_string(),
            kind: "string".into(),
            description: description.to_string(),
        })
        .collect()
}

fn plugin_kind(stage: &Stage) -> &'static str {
    match stage.plugin {
        PluginRef::Builtin(_) => "builtin plugin",
        PluginRef::File(_) => "plugin file",
        PluginRef::Oci(_) => "plugin artifact",
    }
}

fn stage_task(cx: &Context<'_>, stage: &Stage, previous: Option<&str>) -> Result<PipelineTask> {
    let locked = cx
        .lock
        .plugins
        .iter()
        .find(|p| p.stage == stage.name)
        .ok_or_else(|| Error::Lock {
            stream: cx.stream.name.clone(),
            message: format!("stage `{}` is not in the lock", stage.name),
        })?;
    let mut annotations = BTreeMap::new();
    annotations.insert(ANNOTATION_PLUGIN.to_string(), stage.plugin_text.clone());
    annotations.insert(ANNOTATION_PLUGIN_DIGEST.to_string(), locked.wasm.clone());
    if let Some(manifest) = &locked.manifest {
        annotations.insert(ANNOTATION_PLUGIN_MANIFEST.to_string(), manifest.clone());
    }

    let mut param_names: Vec<String> = ["image", "stream", "source-date-epoch"]
        .into_iter()
        .map(str::to_string)
        .collect();
    let (mut volumes, mut mounts) = scratch_volumes();
    let mut env = common_env();
    for key_name in &stage.grants.keys {
        let Some(key) = cx.stream.keys.get(key_name) else {
            continue; // the stream loader refuses a grant of an undeclared key
        };
        let param = key_secret_param(key_name);
        if key_uses_secret(key) {
            param_names.push(param.clone());
        }
        let dir = format!("{KEYS_DIR}/{key_name}");
        if key_mounts_secret(key) {
            volumes.push(Volume {
                name: key_volume(key_name),
                empty_dir: None,
                secret: Some(SecretVolume {
                    secret_name: format!("$(params.{param})"),
                    optional: key.optional,
                }),
            });
            mounts.push(VolumeMount {
                name: key_volume(key_name),
                mount_path: dir.clone(),
                read_only: true,
            });
        }
        for (source, file) in [
            (&key.private_key, "private-key"),
            (&key.public_key, "public-key"),
        ] {
            match source {
                Some(KeySource::Env(var)) => env.push(EnvVar {
                    name: var.clone(),
                    value: Some(format!("{dir}/{file}")),
                    value_from: None,
                }),
                Some(KeySource::File(path)) => {
                    annotations.insert(
                        format!("compose.okd.io/key-{key_name}-{file}"),
                        format!(
                            "file {} in the source workspace",
                            in_workspace(cx.stream, cx.options, path)
                        ),
                    );
                }
                None => {}
            }
        }
        if let Some(var) = &key.passphrase_env {
            env.push(EnvVar {
                name: var.clone(),
                value: None,
                value_from: Some(EnvVarSource {
                    secret_key_ref: SecretKeySelector {
                        name: format!("$(params.{param})"),
                        key: "passphrase".into(),
                        optional: true,
                    },
                }),
            });
        }
    }

    let (params, passed) = task_params(cx, &param_names);
    let (workspaces, bindings) = task_workspaces();
    let mut args = run_args();
    args.extend(
        ["--only", &stage.name, "--locked", "--cache-dir", CACHE_DIR]
            .into_iter()
            .map(str::to_string),
    );
    let result_names: Vec<&str> = RESULTS.iter().map(|(n, _)| *n).collect();
    args.extend(result_args(&result_names));
    let memory = mebibytes(stage.limits.memory.unwrap_or(DEFAULT_STAGE_MEMORY)) + HOST_MEMORY_MIB;
    let description = format!(
        "Stage `{}` of stream `{}`: {} `{}` ({}), with `compose run --only {} --locked`.",
        stage.name,
        cx.stream.name,
        plugin_kind(stage),
        stage.plugin_text,
        locked.wasm,
        stage.name
    );
    Ok(PipelineTask {
        name: stage.name.clone(),
        description: None,
        run_after: previous.map(str::to_string).into_iter().collect(),
        when: Vec::new(),
        params: passed,
        workspaces: bindings,
        task_spec: EmbeddedTask {
            metadata: TaskMetadata {
                labels: cx.labels.clone(),
                annotations,
            },
            description,
            params,
            workspaces,
            results: task_results(&result_names),
            volumes,
            steps: vec![compose_step(args, env, mounts, memory)],
        },
    })
}

/// The one step of every task: `/usr/bin/compose ARGS` in the `image` parameter, non-root,
/// requesting `memory_mib` MiB.
fn compose_step(
    args: Vec<String>,
    env: Vec<EnvVar>,
    mounts: Vec<VolumeMount>,
    memory_mib: u64,
) -> Step {
    Step {
        name: "compose".into(),
        image: "$(params.image)".into(),
        command: vec![COMPOSE_BINARY.into()],
        args,
        env,
        volume_mounts: mounts,
        compute_resources: ResourceRequirements {
            requests: [("memory".to_string(), format!("{memory_mib}Mi"))]
                .into_iter()
                .collect(),
        },
        security_context: security_context(),
    }
}

fn publish_task(cx: &Context<'_>, name: &str, last: &str) -> PipelineTask {
    let param_names: Vec<String> = ["image", "stream", "to", "source-date-epoch"]
        .into_iter()
        .map(str::to_string)
        .collect();
    let (params, passed) = task_params(cx, &param_names);
    let (workspaces, bindings) = task_workspaces();
    let (volumes, mounts) = scratch_volumes();
    let mut args = run_args();
    args.extend(
        [
            "--locked",
            "--cache-dir",
            CACHE_DIR,
            "--push",
            "--to",
            "$(params.to)",
        ]
        .into_iter()
        .map(str::to_string),
    );
    args.extend(result_args(&["release-digest"]));
    let description = format!(
        "Push release {} of stream `{}` (every stage has run: compose publishes again and pushes it to the `to` parameter).",
        cx.stream.release, cx.stream.name
    );
    PipelineTask {
        name: name.to_string(),
        description: None,
        run_after: vec![last.to_string()],
        when: vec![WhenExpression {
            input: "$(params.to)".into(),
            operator: "notin".into(),
            values: vec![String::new()],
        }],
        params: passed,
        workspaces: bindings,
        task_spec: EmbeddedTask {
            metadata: TaskMetadata {
                labels: cx.labels.clone(),
                annotations: BTreeMap::new(),
            },
            description,
            params,
            workspaces,
            results: task_results(&["release-digest"]),
            volumes,
            steps: vec![compose_step(args, common_env(), mounts, HOST_MEMORY_MIB)],
        },
    }
}

/// The claim the example PipelineRun binds (the checkout in `source/`, the runs' state in
/// `runs/`).
pub const SOURCE_CLAIM: &str = "compose-source";
/// The secret the example PipelineRun binds as `registry-auth`.
pub const REGISTRY_AUTH_SECRET: &str = "compose-registry-auth";
/// The `source-date-epoch` the example PipelineRun sets (2024-03-10T01:01:16Z).
pub const EXAMPLE_SOURCE_DATE_EPOCH: &str = "1710032476";

fn pipeline_run(cx: &Context<'_>, pipeline: &str) -> PipelineRun {
    PipelineRun {
        api_version: API_VERSION.into(),
        kind: "PipelineRun".into(),
        metadata: ObjectMeta {
            name: None,
            generate_name: Some(format!("{pipeline}-")),
            labels: cx.labels.clone(),
            annotations: BTreeMap::new(),
        },
        spec: PipelineRunSpec {
            pipeline_ref: PipelineRef {
                name: pipeline.to_string(),
            },
            params: vec![Param {
                name: "source-date-epoch".into(),
                value: EXAMPLE_SOURCE_DATE_EPOCH.into(),
            }],
            // One claim for both: with Tekton's default affinity assistant (coschedule:
            // workspaces) a TaskRun may mount only one PersistentVolumeClaim.
            workspaces: vec![
                WorkspaceBinding {
                    name: "source".into(),
                    sub_path: Some("source".into()),
                    persistent_volume_claim: Some(ClaimSource {
                        claim_name: SOURCE_CLAIM.into(),
                    }),
                    volume_claim_template: None,
                    secret: None,
                },
                WorkspaceBinding {
                    name: "state".into(),
                    sub_path: Some("runs".into()),
                    persistent_volume_claim: Some(ClaimSource {
                        claim_name: SOURCE_CLAIM.into(),
                    }),
                    volume_claim_template: None,
                    secret: None,
                },
                WorkspaceBinding {
                    name: "registry-auth".into(),
                    sub_path: None,
                    persistent_volume_claim: None,
                    volume_claim_template: None,
                    secret: Some(SecretBinding {
                        secret_name: REGISTRY_AUTH_SECRET.into(),
                        items: vec![KeyToPath {
                            key: "config.json".into(),
                            path: "config.json".into(),
                        }],
                    }),
                },
            ],
            task_run_template: PipelineTaskRunTemplate {
                pod_template: PodTemplate {
                    security_context: PodSecurityContext {
                        fs_group: COMPOSE_ID,
                    },
                },
            },
        },
    }
}

/// What must be prepared in the cluster or the source workspace.
fn notes(cx: &Context<'_>) -> Vec<String> {
    let stream = cx.stream;
    let mut notes = Vec::new();
    for (name, key) in used_keys(stream) {
        let stages: Vec<&str> = stream
            .stages
            .iter()
            .filter(|s| s.grants.keys.iter().any(|k| k == name))
            .map(|s| s.name.as_str())
            .collect();
        if key_uses_secret(key) {
            let mut from = Vec::new();
            if let Some(KeySource::Env(_)) = key.private_key {
                from.push("--from-file=private-key=KEY.priv.asc".to_string());
            }
            if let Some(KeySource::Env(_)) = key.public_key {
                from.push("--from-file=public-key=KEY.pub.asc".to_string());
            }
            if key.passphrase_env.is_some() {
                from.push("[--from-literal=passphrase=…]".to_string());
            }
            notes.push(format!(
                "key `{name}` (stage{} {}): create the secret with `kubectl create secret generic compose-key-{name} {}` (or name another with the `{}` parameter){}",
                if stages.len() == 1 { "" } else { "s" },
                stages.join(", "),
                from.join(" "),
                key_secret_param(name),
                if key.optional {
                    "; the key is optional: without the secret those stages are skipped and the release is unsigned"
                } else {
                    ""
                }
            ));
        }
        for (source, what) in [(&key.private_key, "private"), (&key.public_key, "public")] {
            if let Some(KeySource::File(path)) = source {
                notes.push(format!(
                    "key `{name}`: the {what} key is the file `{}` in the source workspace (not a Kubernetes secret){}",
                    in_workspace(stream, cx.options, path),
                    if what == "private" {
                        ": anyone who can read the workspace can read it; prefer `private-key = \"env:VAR\"`, which the pipeline binds to a secret"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    for stage in &stream.stages {
        if let PluginRef::File(path) = &stage.plugin {
            let digest = cx
                .lock
                .plugins
                .iter()
                .find(|p| p.stage == stage.name)
                .map(|p| p.wasm.as_str())
                .unwrap_or("-");
            notes.push(format!(
                "stage `{}`: the plugin file `{}` must be in the source workspace, built to the locked digest {digest} (build it there before a run: the task refuses any other build)",
                stage.name,
                in_workspace(stream, cx.options, path)
            ));
        }
    }
    for mirror in &stream.mirrors {
        notes.push(format!(
            "registry `{}` is read from the OCI layout `{}` in the source workspace",
            mirror.prefix,
            in_workspace(stream, cx.options, &mirror.path)
        ));
    }
    if stream
        .stages
        .iter()
        .any(|s| matches!(s.plugin, PluginRef::Builtin(_)))
    {
        notes.push(format!(
            "the lock pins the builtin plugins of this compose build ({}): the image must be the same build, or `--locked` refuses the builtin stages",
            env!("CARGO_PKG_VERSION")
        ));
    }
    notes
}

/// `text` as comment lines of at most `WIDTH` columns (longer words stay whole): the first
/// line starts with `first`, the others with `next`.
fn comment(text: &str, first: &str, next: &str) -> String {
    const WIDTH: usize = 96;
    let mut out = String::new();
    let mut line = first.to_string();
    let mut prefix = first.len();
    for word in text.split_whitespace() {
        if line.len() > prefix && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = next.to_string();
            prefix = next.len();
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn header(cx: &Context<'_>, pipeline: &str, notes: &[String]) -> String {
    let stream = cx.stream;
    let lock_path = normalize(&compose_pipeline::lock_path(Path::new(
        &cx.options.stream_path,
    )));
    let stages = stream
        .stages
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let paragraph = |text: String| comment(&text, "#", "#");
    let item = |text: String| comment(&text, "#   -", "#    ");
    let mut text = paragraph(format!(
        "Tekton (tekton.dev/v1) Pipeline `{pipeline}` and an example PipelineRun for the compose stream `{}` ({}): release {} from {}. Written by `compose export tekton` (compose {}); do not edit, export again.",
        stream.name,
        cx.options.stream_path,
        stream.release,
        cx.lock.base.reference,
        env!("CARGO_PKG_VERSION")
    ));
    text.push_str("#\n");
    text.push_str(&paragraph(format!(
        "One task per stage, in stream order ({stages}), then `publish`, which pushes the release when the `to` parameter is not empty. Every task runs the same compose image with `compose run --only STAGE --locked`: the base release and every plugin must resolve to the digests in {lock_path} (base {}), or the task refuses to run.",
        cx.lock.base.digest
    )));
    text.push_str("#\n# Before the first run:\n");
    text.push_str(&item(format!(
        "fill the PersistentVolumeClaim `{SOURCE_CLAIM}` with a checkout of the repository in its `source/` directory (with the plugin files the stream names built in it); each run keeps its state in `runs/<PipelineRun name>/` on the same claim (one claim, because Tekton's default affinity assistant lets a TaskRun mount only one);"
    )));
    text.push_str(&item(format!(
        "for pulls and the push: `kubectl create secret generic {REGISTRY_AUTH_SECRET} --from-file=config.json=$HOME/.docker/config.json`;"
    )));
    for note in notes {
        text.push_str(&item(format!("{note};")));
    }
    text.push_str("#\n");
    text.push_str(&paragraph(format!(
        "Apply: `kubectl create -f FILE` creates the Pipeline and starts a run (the PipelineRun has a generateName, so use `create`, not `apply`; create the PipelineRun document again, or `tkn pipeline start {pipeline}`, for the next run). The PipelineRun sets source-date-epoch so that every task, and every rerun, makes the same digest. On OpenShift drop its podTemplate: the restricted SCC assigns the uid and fsGroup."
    )));
    text
}

#[cfg(test)]
mod tests;
