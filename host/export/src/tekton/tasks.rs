//! The tasks of an exported pipeline: one per stage (`compose run --only STAGE`) and the
//! `publish` task, with what every task shares (parameters, workspaces, security context,
//! environment, scratch volumes, results).

use super::*;

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

pub(super) fn stage_task(
    cx: &Context<'_>,
    stage: &Stage,
    previous: Option<&str>,
) -> Result<PipelineTask> {
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
    let memory = mebibytes(stage.limits.effective_memory()) + HOST_MEMORY_MIB;
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

pub(super) fn publish_task(cx: &Context<'_>, name: &str, last: &str) -> PipelineTask {
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
