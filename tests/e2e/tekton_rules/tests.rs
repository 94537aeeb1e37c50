//! One deliberately broken pipeline per rule: each must be caught, by that rule.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};

use std::sync::OnceLock;

use super::*;
use crate::tekton::{lock_and_export, workspace};

/// The scos stream's export (`compose lock`, then `compose export tekton`) as JSON
/// documents: the baseline each test breaks one way.
fn scos_documents() -> Vec<Value> {
    static DOCS: OnceLock<Vec<Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let s = workspace();
        let out = lock_and_export(&s, "scos.toml");
        parse_documents(&std::fs::read_to_string(out).unwrap()).unwrap()
    })
    .clone()
}

#[test]
fn the_scos_export_breaks_no_rule() {
    let violations = check(&scos_documents());
    assert!(violations.is_empty(), "{violations:#?}");
}

/// The scos export with `edit` applied, checked.
fn broken(edit: impl FnOnce(&mut Vec<Value>)) -> Vec<Violation> {
    let mut docs = scos_documents();
    edit(&mut docs);
    check(&docs)
}

/// Asserts that `rule` caught something whose message contains `needle`.
#[track_caller]
fn caught(violations: &[Violation], rule: Rule, needle: &str) {
    assert!(
        violations
            .iter()
            .any(|v| v.rule == rule && v.message.contains(needle)),
        "expected a `{}` violation mentioning `{needle}`, got:\n{}",
        rule.id(),
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn task(docs: &mut [Value], index: usize) -> &mut Value {
    &mut docs[0]["spec"]["tasks"][index]
}

fn step(docs: &mut [Value], index: usize) -> &mut Value {
    &mut task(docs, index)["taskSpec"]["steps"][0]
}

#[test]
fn the_exported_scos_pipeline_passes() {
    let docs = scos_documents();
    let violations = check(&docs);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn task_names_must_be_unique_dns_labels() {
    let v = broken(|d| task(d, 1)["name"] = json!("Swap_OS"));
    caught(&v, Rule::TaskName, "`Swap_OS` must be a DNS-1123 label");
    let v = broken(|d| task(d, 1)["name"] = json!("select"));
    caught(&v, Rule::TaskName, "`select` is used twice");
    let v = broken(|d| task(d, 1)["name"] = json!("x".repeat(64)));
    caught(&v, Rule::TaskName, "at most 63");
}

#[test]
fn a_task_is_exactly_one_kind() {
    let v = broken(|d| task(d, 0)["taskRef"] = json!({"name": "t"}));
    caught(&v, Rule::TaskKind, "it has taskRef, taskSpec");
    let v = broken(|d| {
        task(d, 0).as_object_mut().unwrap().remove("taskSpec");
    });
    caught(&v, Rule::TaskKind, "it has none");
}

#[test]
fn run_after_names_other_existing_tasks() {
    // The task a runAfter points to is renamed.
    let v = broken(|d| task(d, 0)["name"] = json!("choose"));
    caught(
        &v,
        Rule::RunAfter,
        "runs after `select`, which is not a task",
    );
    let v = broken(|d| task(d, 2)["runAfter"] = json!(["patch"]));
    caught(&v, Rule::RunAfter, "`patch` cannot run after itself");
    let v = broken(|d| task(d, 2)["runAfter"] = json!("swap-os"));
    caught(&v, Rule::FieldType, "`runAfter` must be a list");
}

#[test]
fn the_graph_has_no_cycle() {
    let v = broken(|d| task(d, 0)["runAfter"] = json!(["test"]));
    caught(
        &v,
        Rule::Cycle,
        "select -> swap-os -> patch -> sign -> test -> select",
    );
    // A result reference is a dependency too: an earlier task using a later one's result.
    let v = broken(|d| {
        task(d, 0)["params"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "x", "value": "$(tasks.patch.results.findings)"}));
    });
    caught(&v, Rule::Cycle, "select -> swap-os -> patch -> select");
}

#[test]
fn pipeline_params_used_are_declared() {
    let v = broken(|d| task(d, 5)["when"][0]["input"] = json!("$(params.target)"));
    caught(&v, Rule::PipelineParam, "declares no param `target`");
    let v = broken(|d| task(d, 0)["params"][0]["value"] = json!("$(params['img'])"));
    caught(&v, Rule::PipelineParam, "declares no param `img`");
}

#[test]
fn param_names_types_and_defaults_are_valid() {
    let v = broken(|d| d[0]["spec"]["params"][0]["name"] = json!("1image"));
    caught(&v, Rule::ParamName, "`1image` must start with a letter");
    let v = broken(|d| d[0]["spec"]["params"][1]["name"] = json!("image"));
    caught(&v, Rule::ParamName, "`image` is declared twice");
    let v = broken(|d| d[0]["spec"]["params"][0]["default"] = json!(["a"]));
    caught(&v, Rule::ParamName, "type string but its default is a list");
    let v = broken(|d| {
        let params = task(d, 0)["params"].as_array_mut().unwrap();
        let first = params[0].clone();
        params.push(first);
    });
    caught(&v, Rule::ParamName, "passes param `image` twice");
}

#[test]
fn task_spec_params_used_are_declared_in_it() {
    let v = broken(|d| {
        let params = task(d, 0)["taskSpec"]["params"].as_array_mut().unwrap();
        params.retain(|p| p["name"] != "stream");
    });
    caught(
        &v,
        Rule::TaskParam,
        "its taskSpec declares no param `stream`",
    );
}

#[test]
fn task_spec_params_without_default_are_passed() {
    let v = broken(|d| {
        let params = task(d, 3)["params"].as_array_mut().unwrap();
        params.retain(|p| p["name"] != "key-release-secret");
    });
    caught(
        &v,
        Rule::TaskParamMissing,
        "task `sign` needs param `key-release-secret`",
    );
}

#[test]
fn workspace_variables_name_declared_workspaces() {
    let v = broken(|d| step(d, 1)["args"][1] = json!("$(workspaces.src.path)/x"));
    caught(&v, Rule::WorkspaceVariable, "declares no workspace `src`");
    let v = broken(|d| task(d, 1)["workspaces"][1]["subPath"] = json!("$(workspaces.cache.bound)"));
    caught(
        &v,
        Rule::WorkspaceVariable,
        "the pipeline declares no workspace `cache`",
    );
}

#[test]
fn workspace_bindings_match_both_sides() {
    let v = broken(|d| task(d, 0)["workspaces"][0]["workspace"] = json!("checkout"));
    caught(
        &v,
        Rule::WorkspaceBinding,
        "to `checkout`, which the pipeline does not declare",
    );
    let v = broken(|d| task(d, 0)["workspaces"][0]["name"] = json!("checkout"));
    caught(
        &v,
        Rule::WorkspaceBinding,
        "binds workspace `checkout`, which its taskSpec does not declare",
    );
    caught(
        &v,
        Rule::WorkspaceBinding,
        "declares workspace `source` but the pipeline task does not bind it",
    );
    let v = broken(|d| d[0]["spec"]["workspaces"][0]["optional"] = json!(true));
    caught(
        &v,
        Rule::WorkspaceBinding,
        "pipeline workspace `source` is optional but task `select` requires",
    );
    let v = broken(|d| d[0]["spec"]["workspaces"][1]["name"] = json!("source"));
    caught(
        &v,
        Rule::WorkspaceBinding,
        "workspace `source` is declared twice",
    );
}

#[test]
fn result_variables_name_declared_results() {
    let v = broken(|d| step(d, 2)["args"][12] = json!("release-digest=$(results.digest.path)"));
    caught(&v, Rule::ResultVariable, "declares no result `digest`");
}

#[test]
fn result_names_match_the_pattern_and_are_unique() {
    let v = broken(|d| task(d, 0)["taskSpec"]["results"][0]["name"] = json!("-digest"));
    caught(&v, Rule::ResultName, "`-digest` must be letters");
    let v = broken(|d| d[0]["spec"]["results"][1]["name"] = json!("release-digest"));
    caught(&v, Rule::ResultName, "`release-digest` is declared twice");
}

#[test]
fn task_result_references_name_a_task_that_declares_the_result() {
    let v = broken(|d| {
        d[0]["spec"]["results"][0]["value"] = json!("$(tasks.verify.results.release-digest)")
    });
    caught(
        &v,
        Rule::ResultReference,
        "names task `verify`, which is not in the pipeline",
    );
    let v = broken(|d| {
        d[0]["spec"]["results"][0]["value"] = json!("$(tasks.publish.results.findings)")
    });
    caught(
        &v,
        Rule::ResultReference,
        "task `publish` declares no result `findings`",
    );
    let v = broken(|d| {
        task(d, 2)["params"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "x", "value": "$(tasks.patch.results.findings)"}));
    });
    caught(
        &v,
        Rule::ResultReference,
        "`patch` cannot use its own result",
    );
}

#[test]
fn pipeline_results_are_task_result_references_only() {
    let v = broken(|d| d[0]["spec"]["results"][0]["value"] = json!("sha256:0"));
    caught(&v, Rule::PipelineResult, "must be a task result reference");
    let v = broken(|d| d[0]["spec"]["results"][0]["value"] = json!("$(params.image)"));
    caught(&v, Rule::PipelineResult, "may only reference task results");
}

#[test]
fn steps_have_unique_names_and_an_image() {
    let v = broken(|d| {
        let steps = task(d, 0)["taskSpec"]["steps"].as_array_mut().unwrap();
        let first = steps[0].clone();
        steps.push(first);
    });
    caught(&v, Rule::Step, "step name `compose` is used twice");
    let v = broken(|d| {
        step(d, 0).as_object_mut().unwrap().remove("image");
    });
    caught(&v, Rule::Step, "a step needs an image");
    let v = broken(|d| task(d, 0)["taskSpec"]["steps"] = json!([]));
    caught(&v, Rule::Step, "task `select` has no steps");
}

#[test]
fn volume_mounts_name_declared_volumes() {
    let v = broken(|d| step(d, 3)["volumeMounts"][0]["name"] = json!("plugin-cache"));
    caught(
        &v,
        Rule::Volume,
        "mounts volume `plugin-cache`, which task `sign` does not declare",
    );
    let v = broken(|d| task(d, 3)["taskSpec"]["volumes"][1]["name"] = json!("cache"));
    caught(&v, Rule::Volume, "volume `cache` is declared twice");
}

#[test]
fn when_expressions_are_well_formed() {
    let v = broken(|d| task(d, 5)["when"][0]["operator"] = json!("ne"));
    caught(&v, Rule::When, "`in` or `notin`, not `ne`");
    let v = broken(|d| task(d, 5)["when"][0]["values"] = json!([]));
    caught(&v, Rule::When, "at least one value");
}

#[test]
fn context_variables_are_ones_tekton_provides() {
    let v = broken(|d| task(d, 0)["workspaces"][1]["subPath"] = json!("$(context.pipelineRun.id)"));
    caught(
        &v,
        Rule::ContextVariable,
        "`$(context.pipelineRun.id)` is not a context variable",
    );
    let v = broken(|d| step(d, 0)["env"][0]["value"] = json!("$(context.taskrun.name)"));
    caught(&v, Rule::ContextVariable, "`$(context.taskrun.name)`");
}

#[test]
fn unknown_fields_and_wrong_types_are_refused() {
    let v = broken(|d| task(d, 0)["retry"] = json!(2));
    caught(
        &v,
        Rule::UnknownField,
        "unknown field `retry` in a pipeline task",
    );
    let v = broken(|d| step(d, 0)["entrypoint"] = json!(["/bin/sh"]));
    caught(
        &v,
        Rule::UnknownField,
        "unknown field `entrypoint` in a step",
    );
    let v = broken(|d| d[1]["spec"]["serviceAccount"] = json!("builder"));
    caught(
        &v,
        Rule::UnknownField,
        "unknown field `serviceAccount` in a PipelineRun spec",
    );
    let v = broken(|d| d[0]["spec"]["tasks"][0]["params"] = json!({"image": "x"}));
    caught(
        &v,
        Rule::FieldType,
        "`params` must be a list, not an object",
    );
}

#[test]
fn object_names_are_short_and_dotless() {
    let v = broken(|d| d[0]["metadata"]["name"] = json!("compose.okd-scos"));
    caught(&v, Rule::ObjectName, "contains `.`");
}

#[test]
fn a_pipeline_run_binds_what_the_pipeline_needs() {
    let v = broken(|d| {
        d[1]["spec"]["workspaces"].as_array_mut().unwrap().remove(1);
    });
    caught(
        &v,
        Rule::PipelineRun,
        "requires workspace `state` to be bound",
    );
    let v = broken(|d| d[1]["spec"]["workspaces"][0]["emptyDir"] = json!({}));
    caught(&v, Rule::PipelineRun, "exactly one volume source");
    let v = broken(|d| {
        d[0]["spec"]["params"][0]
            .as_object_mut()
            .unwrap()
            .remove("default");
    });
    caught(&v, Rule::PipelineRun, "needs param `image`");
}

#[test]
fn variable_expressions_are_parsed_like_tekton() {
    assert_eq!(
        expressions("a $(params.x) b $(params['y.z'])c $(oops"),
        ["params.x", "params['y.z']"]
    );
    assert_eq!(parse_var("params.x"), Var::Param("x"));
    assert_eq!(parse_var("params[\"a.b\"]"), Var::Param("a.b"));
    assert_eq!(parse_var("params.list[*]"), Var::Param("list"));
    assert_eq!(parse_var("workspaces.state.path"), Var::Workspace("state"));
    assert_eq!(parse_var("results.findings.path"), Var::Result("findings"));
    assert_eq!(
        parse_var("tasks.select.results.release-digest"),
        Var::TaskResult("select", "release-digest")
    );
    assert_eq!(parse_var("tasks.select.status"), Var::Task("select"));
    assert_eq!(
        parse_var("context.pipelineRun.name"),
        Var::Context("pipelineRun.name")
    );
    assert!(is_param_name("_a.b-c") && !is_param_name("-a") && !is_param_name(""));
    assert!(is_result_name("a") && is_result_name("a_b.c") && !is_result_name("a-"));
}
