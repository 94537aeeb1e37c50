//! The documents around the pipeline: the example PipelineRun and the commented header
//! with the notes a reader needs before running it.

use super::*;

pub(super) fn pipeline_run(cx: &Context<'_>, pipeline: &str) -> PipelineRun {
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
pub(super) fn notes(cx: &Context<'_>) -> Vec<String> {
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

pub(super) fn header(cx: &Context<'_>, pipeline: &str, notes: &[String]) -> String {
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
