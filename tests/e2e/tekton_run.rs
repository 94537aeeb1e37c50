//! The exported Pipeline, run the way Tekton runs it: every task in `runAfter` order, its
//! `when` judged, every `$(params…)`, `$(workspaces…)`, `$(results…)`, `$(tasks…)` and
//! `$(context…)` reference substituted, its volumes (emptyDirs, the key secret) and mounts
//! made, its env (values and `secretKeyRef`s) set and nothing else, its `command` and `args`
//! executed as one process with the static binary the compose image holds, its result files
//! read back under Tekton's 4 KiB limit. No cluster: a small executor of what the YAML says.
//!
//! The pipeline must publish the digest one `compose run` publishes, sign in the one task that
//! mounts the key, and push with its `publish` task.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use compose_export::tekton::parse_documents;
use serde_json::Value;

use crate::registry::Registry;
use crate::signing::keys;
use crate::support::*;
use crate::tekton::{lock_and_export, workspace};

/// Tekton's limit on a task's results.
const RESULT_LIMIT: usize = 4096;

/// The run's name (`$(context.pipelineRun.name)`).
const RUN: &str = "compose-okd-scos-x7k2q";

/// One task's outcome.
struct TaskRun {
    results: BTreeMap<String, String>,
    stderr: String,
}

/// What the executor binds: the workspaces' directories, the secrets by name (a directory
/// holding one file per key), the parameters the PipelineRun sets.
struct Executor {
    binary: PathBuf,
    scratch: PathBuf,
    workspaces: BTreeMap<String, PathBuf>,
    secrets: BTreeMap<String, PathBuf>,
    params: BTreeMap<String, String>,
    results: BTreeMap<String, TaskRun>,
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Replaces every `$(…)` reference through `lookup`; an unknown reference fails the test (a
/// real controller would refuse it too).
fn substitute(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find(')').expect("a closed $( reference") + start;
        let reference = &rest[start + 2..end];
        let value = lookup(reference).unwrap_or_else(|| panic!("unresolved `$({reference})`"));
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

impl Executor {
    /// Runs the Pipeline `pipeline`; returns the Pipeline's results.
    fn run(&mut self, pipeline: &Value) -> BTreeMap<String, String> {
        let spec = &pipeline["spec"];
        let mut params: BTreeMap<String, String> = list(&spec["params"])
            .iter()
            .map(|p| {
                (
                    text(&p["name"]).to_string(),
                    text(&p["default"]).to_string(),
                )
            })
            .collect();
        params.extend(self.params.clone());
        for task in list(&spec["tasks"]) {
            let name = text(&task["name"]).to_string();
            for after in list(&task["runAfter"]) {
                assert!(
                    self.results.contains_key(text(after)),
                    "`{name}` runs after `{}`, which has not run",
                    text(after)
                );
            }
            let pipeline_lookup = |r: &str| self.pipeline_reference(r, &params);
            let runs = list(&task["when"]).iter().all(|w| {
                let input = substitute(text(&w["input"]), &pipeline_lookup);
                let values: Vec<&str> = list(&w["values"]).iter().map(text).collect();
                match text(&w["operator"]) {
                    "in" => values.contains(&input.as_str()),
                    "notin" => !values.contains(&input.as_str()),
                    other => panic!("operator `{other}`"),
                }
            });
            if !runs {
                continue;
            }
            let task_params: BTreeMap<String, String> = list(&task["params"])
                .iter()
                .map(|p| {
                    (
                        text(&p["name"]).to_string(),
                        substitute(text(&p["value"]), &pipeline_lookup),
                    )
                })
                .collect();
            let mut bound = BTreeMap::new();
            for w in list(&task["workspaces"]) {
                let Some(dir) = self.workspaces.get(text(&w["workspace"])) else {
                    continue; // an optional workspace the run does not bind
                };
                let sub = substitute(text(&w["subPath"]), &pipeline_lookup);
                let dir = if sub.is_empty() {
                    dir.clone()
                } else {
                    dir.join(sub)
                };
                std::fs::create_dir_all(&dir).unwrap();
                bound.insert(text(&w["name"]).to_string(), dir);
            }
            let outcome = self.run_task(&name, &task["taskSpec"], &task_params, &bound);
            self.results.insert(name, outcome);
        }
        list(&spec["results"])
            .iter()
            .map(|r| {
                let lookup = |reference: &str| self.pipeline_reference(reference, &params);
                (
                    text(&r["name"]).to_string(),
                    substitute(text(&r["value"]), &lookup),
                )
            })
            .collect()
    }

    /// `params.X`, `context.pipelineRun.name` and `tasks.T.results.R` at the pipeline level.
    fn pipeline_reference(&self, r: &str, params: &BTreeMap<String, String>) -> Option<String> {
        if let Some(p) = r.strip_prefix("params.") {
            return params.get(p).cloned();
        }
        if r == "context.pipelineRun.name" {
            return Some(RUN.to_string());
        }
        let rest = r.strip_prefix("tasks.")?;
        let (task, result) = rest.split_once(".results.")?;
        self.results.get(task)?.results.get(result).cloned()
    }

    fn run_task(
        &self,
        name: &str,
        spec: &Value,
        given: &BTreeMap<String, String>,
        bound: &BTreeMap<String, PathBuf>,
    ) -> TaskRun {
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        for p in list(&spec["params"]) {
            let key = text(&p["name"]);
            let value = given
                .get(key)
                .cloned()
                .or_else(|| p["default"].as_str().map(str::to_string))
                .unwrap_or_else(|| panic!("task `{name}`: param `{key}` has no value"));
            params.insert(key.to_string(), value);
        }
        let dir = self.scratch.join("pods").join(name);
        let results_dir = dir.join("tekton/results");
        std::fs::create_dir_all(&results_dir).unwrap();
        let workspace_path = |w: &str| -> Option<String> {
            let declared = list(&spec["workspaces"])
                .iter()
                .find(|d| text(&d["name"]) == w)?;
            Some(match bound.get(w) {
                Some(dir) => dir.to_str().unwrap().to_string(),
                None if declared["optional"] == true => String::new(),
                None => panic!("task `{name}`: workspace `{w}` is not bound"),
            })
        };
        let lookup = |r: &str| -> Option<String> {
            if let Some(p) = r.strip_prefix("params.") {
                return params.get(p).cloned();
            }
            if let Some(w) = r.strip_prefix("workspaces.")
                && let Some(w) = w.strip_suffix(".path")
            {
                return workspace_path(w);
            }
            if let Some(res) = r.strip_prefix("results.")
                && let Some(res) = res.strip_suffix(".path")
            {
                list(&spec["results"])
                    .iter()
                    .find(|d| text(&d["name"]) == res)?;
                return Some(results_dir.join(res).to_str().unwrap().to_string());
            }
            None
        };
        // Volumes: emptyDirs are fresh directories, secrets the test's directories.
        let mut volumes: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
        for v in list(&spec["volumes"]) {
            let vname = text(&v["name"]).to_string();
            let path = if v.get("emptyDir").is_some() {
                let d = dir.join("volumes").join(&vname);
                std::fs::create_dir_all(&d).unwrap();
                Some(d)
            } else if let Some(secret) = v.get("secret") {
                let secret_name = substitute(text(&secret["secretName"]), &lookup);
                match self.secrets.get(&secret_name) {
                    Some(d) => Some(d.clone()),
                    None if secret["optional"] == true => None,
                    None => panic!("task `{name}`: secret `{secret_name}` is missing"),
                }
            } else {
                panic!("task `{name}`: volume `{vname}` of an unknown kind")
            };
            volumes.insert(vname, path);
        }
        let steps = list(&spec["steps"]);
        assert_eq!(steps.len(), 1, "task `{name}`: one step");
        let step = &steps[0];
        assert_eq!(
            substitute(text(&step["image"]), &lookup),
            params["image"],
            "task `{name}` runs the image parameter"
        );
        // Mounts: container paths become host directories in args and env.
        let mut mounts: Vec<(String, PathBuf)> = Vec::new();
        for m in list(&step["volumeMounts"]) {
            let volume = volumes
                .get(text(&m["name"]))
                .unwrap_or_else(|| panic!("task `{name}`: mount of an undeclared volume"));
            if let Some(path) = volume {
                mounts.push((text(&m["mountPath"]).to_string(), path.clone()));
            }
        }
        let host_path = |value: String| -> String {
            for (container, host) in &mounts {
                if let Some(rest) = value.strip_prefix(container.as_str()) {
                    return format!("{}{rest}", host.display());
                }
            }
            value
        };
        let command = list(&step["command"]);
        assert_eq!(command.len(), 1);
        assert_eq!(text(&command[0]), "/usr/bin/compose", "the image's binary");
        let args: Vec<String> = list(&step["args"])
            .iter()
            .map(|a| {
                // Container paths written in the YAML (`/var/cache/compose`) become host paths
                // first; then the `$(…)` references are substituted (already host paths).
                let raw = text(a).to_string();
                let mapped = match raw.split_once('=') {
                    Some((k, v)) if v.starts_with('/') => format!("{k}={}", host_path(v.into())),
                    _ => host_path(raw),
                };
                substitute(&mapped, &lookup)
            })
            .collect();
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut process = Command::new(&self.binary);
        process
            .args(&args)
            .env_clear()
            .env("HOME", &home)
            .current_dir(&home);
        for e in list(&step["env"]) {
            let key = text(&e["name"]);
            if let Some(value) = e.get("value") {
                process.env(
                    key,
                    substitute(&host_path(text(value).to_string()), &lookup),
                );
            } else if let Some(secret) = e.pointer("/valueFrom/secretKeyRef") {
                let secret_name = substitute(text(&secret["name"]), &lookup);
                let file = self
                    .secrets
                    .get(&secret_name)
                    .map(|d| d.join(text(&secret["key"])))
                    .filter(|f| f.exists());
                match file {
                    Some(f) => {
                        process.env(key, std::fs::read_to_string(f).unwrap());
                    }
                    None => assert!(
                        secret["optional"] == true,
                        "task `{name}`: secret key `{secret_name}/{}` is missing",
                        text(&secret["key"])
                    ),
                }
            }
        }
        let o = process.output().expect("the image's compose runs");
        let stderr = stderr(&o);
        assert!(
            o.status.success(),
            "task `{name}` failed ({:?}): {args:?}\n{stderr}",
            o.status
        );
        let mut results = BTreeMap::new();
        for r in list(&spec["results"]) {
            let rname = text(&r["name"]);
            if let Ok(value) = std::fs::read_to_string(results_dir.join(rname)) {
                assert!(value.len() < RESULT_LIMIT, "{name}.{rname}: {value}");
                results.insert(rname.to_string(), value);
            }
        }
        TaskRun { results, stderr }
    }
}

#[test]
fn the_exported_pipeline_run_as_tekton_runs_it_publishes_the_single_run_release() {
    let binary = crate::image::static_compose().to_path_buf();
    let s = workspace();
    let yaml = lock_and_export(&s, "scos.toml");
    let docs = parse_documents(&std::fs::read_to_string(&yaml).unwrap()).unwrap();
    let pipeline = docs.iter().find(|d| d["kind"] == "Pipeline").unwrap();
    let pipeline_run = docs.iter().find(|d| d["kind"] == "PipelineRun").unwrap();

    // The secret the sign task mounts: the generated release key and its passphrase.
    let secret = s.path().join("secrets/compose-key-release");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::copy(keys().str("release.priv.asc"), secret.join("private-key")).unwrap();
    std::fs::write(secret.join("passphrase"), "correct horse").unwrap();

    let registry = Registry::start();
    let to = format!("{}/okd/scos-release:4.17.0-okd-scos.0", registry.addr);
    let mut params: BTreeMap<String, String> = list(&pipeline_run["spec"]["params"])
        .iter()
        .map(|p| (text(&p["name"]).to_string(), text(&p["value"]).to_string()))
        .collect();
    params.insert("to".into(), to.clone());
    let epoch = params["source-date-epoch"].clone();
    let claim = s.path().join("claim");
    let mut executor = Executor {
        binary,
        scratch: s.path().to_path_buf(),
        workspaces: BTreeMap::from([
            ("source".to_string(), s.path().to_path_buf()),
            ("state".to_string(), claim.join("runs")),
        ]),
        secrets: BTreeMap::from([("compose-key-release".to_string(), secret)]),
        params,
        results: BTreeMap::new(),
    };
    let results = executor.run(pipeline);

    // One `compose run` of the same stream, key and creation time.
    let single = s.path().join("single");
    let o = compose_env(
        &s,
        &[
            "run",
            "streams/scos.toml",
            "--out",
            single.to_str().unwrap(),
        ],
        &[
            ("SOURCE_DATE_EPOCH", &epoch),
            ("COMPOSE_RELEASE_KEY", &keys().str("release.priv.asc")),
            ("COMPOSE_RELEASE_KEY_PASSPHRASE", "correct horse"),
        ],
    );
    ok(&o);
    let expected = stdout(&o).split_whitespace().next().unwrap().to_string();
    assert_eq!(results["release-digest"], expected, "{results:#?}");
    assert!(results["findings-test"].parse::<usize>().unwrap() >= 8);

    // Every task ran, in order; only the sign task had the key and signed.
    let ran: Vec<&str> = executor.results.keys().map(String::as_str).collect();
    assert_eq!(
        ran.len(),
        6,
        "select, swap-os, patch, sign, test, publish: {ran:?}"
    );
    for (task, run) in &executor.results {
        if task == "publish" {
            assert_eq!(run.results["release-digest"], expected);
        } else {
            assert_eq!(
                run.results.get("failed-findings").map(String::as_str),
                Some("0"),
                "{task}"
            );
        }
        assert!(!run.stderr.contains("UNSIGNED"), "{task}: {}", run.stderr);
    }
    assert!(executor.results["sign"].stderr.contains("stage   sign: ok"));
    let state = claim.join("runs").join(RUN);
    let journal: Value =
        serde_json::from_slice(&std::fs::read(state.join("state/journal.json")).unwrap()).unwrap();
    assert!(journal["stages"][3]["skipped"].is_null(), "{journal:#}");
    // The published layout on the claim, and the pushed release, are the single run's.
    let published = skopeo_inspect(&state.join("release"), "4.17.0-okd-scos.0", &[]);
    assert_eq!(published["Digest"], expected.as_str());
    let o = tool("skopeo")
        .args(["inspect", "--tls-verify=false", &format!("docker://{to}")])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let pushed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pushed["Digest"], expected.as_str());
}
