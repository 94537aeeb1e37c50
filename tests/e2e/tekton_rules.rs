//! The rules a Tekton controller and its admission webhook apply to a `tekton.dev/v1`
//! Pipeline (and a PipelineRun of it) before running it, checked without a cluster.
//!
//! They follow Tekton's `PipelineSpec.Validate`, `TaskSpec.Validate` and the PipelineRun
//! reconciler's binding checks: names, the task graph, variable references (`$(params.…)`,
//! `$(workspaces.…)`, `$(results.…)`, `$(tasks.…)`, `$(context.…)`), workspace bindings,
//! results, steps and volumes, and the webhook's strict decoding (a field Tekton's Go types
//! do not have is refused). The checker reads any parsed document ([`serde_json::Value`]),
//! not the exporter's own types, so it also judges hand-edited YAML.
//!
//! One rule is stricter than Tekton: a `$(params.X)` inside an embedded `taskSpec` must be
//! declared in that taskSpec's `params` (Tekton would also accept a pipeline parameter
//! propagated into it); declaring them keeps every task self-contained and reusable as a
//! `Task`, where Tekton does require it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use compose_export::tekton::types::API_VERSION;
use compose_export::tekton::{is_dns1123_label, parse_documents};

/// Which rule a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// The document is not an object of a known `tekton.dev/v1` kind, or lacks a field.
    Document,
    /// `metadata.name`: at most 63 characters, no `.` (Tekton's object-name rule).
    ObjectName,
    /// A field Tekton's Go types do not have (the webhook decodes strictly).
    UnknownField,
    /// A field of the wrong JSON type.
    FieldType,
    /// Task names: unique DNS-1123 labels.
    TaskName,
    /// A task is exactly one of `taskRef`, `taskSpec`, `pipelineRef`, `pipelineSpec`.
    TaskKind,
    /// `runAfter` names existing other tasks.
    RunAfter,
    /// The task graph (`runAfter` and result references) has no cycle.
    Cycle,
    /// Parameter names match `^[_a-zA-Z][_a-zA-Z0-9.-]*$`, are unique, and have a known
    /// type whose default matches.
    ParamName,
    /// Every `$(params.X)` in the pipeline's tasks, `when` and results is a pipeline param.
    PipelineParam,
    /// Every `$(params.X)` in a taskSpec is one of its params.
    TaskParam,
    /// Every taskSpec param without a default is passed by its pipeline task.
    TaskParamMissing,
    /// Every `$(workspaces.W.…)` names a declared workspace.
    WorkspaceVariable,
    /// Workspace declarations are unique; bindings name a pipeline workspace and a task
    /// workspace; required task workspaces are bound, and not to an optional pipeline
    /// workspace.
    WorkspaceBinding,
    /// Every `$(results.R.path)` in a taskSpec is one of its results.
    ResultVariable,
    /// Result names match `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$` and are unique.
    ResultName,
    /// Every `$(tasks.T.results.R)` names an existing task that declares `R`, not the task
    /// itself.
    ResultReference,
    /// Pipeline results are task result references only.
    PipelineResult,
    /// Steps: at least one, names unique DNS-1123 labels, an image each.
    Step,
    /// Volume names unique; every `volumeMount` names a volume.
    Volume,
    /// `when`: an input, `in` or `notin`, at least one value.
    When,
    /// `$(context.X)` is a variable Tekton provides.
    ContextVariable,
    /// A PipelineRun names a pipeline, binds every required workspace with exactly one
    /// volume source and gives every parameter without a default.
    PipelineRun,
}

impl Rule {
    /// A short stable name for the rule.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Document => "document",
            Rule::ObjectName => "object-name",
            Rule::UnknownField => "unknown-field",
            Rule::FieldType => "field-type",
            Rule::TaskName => "task-name",
            Rule::TaskKind => "task-kind",
            Rule::RunAfter => "run-after",
            Rule::Cycle => "cycle",
            Rule::ParamName => "param-name",
            Rule::PipelineParam => "pipeline-param",
            Rule::TaskParam => "task-param",
            Rule::TaskParamMissing => "task-param-missing",
            Rule::WorkspaceVariable => "workspace-variable",
            Rule::WorkspaceBinding => "workspace-binding",
            Rule::ResultVariable => "result-variable",
            Rule::ResultName => "result-name",
            Rule::ResultReference => "result-reference",
            Rule::PipelineResult => "pipeline-result",
            Rule::Step => "step",
            Rule::Volume => "volume",
            Rule::When => "when",
            Rule::ContextVariable => "context-variable",
            Rule::PipelineRun => "pipeline-run",
        }
    }
}

/// A broken rule: which, where (the document and a JSON path in it) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// `Pipeline/NAME` or `PipelineRun/NAME`.
    pub document: String,
    /// Where in the document, e.g. `spec.tasks[2].runAfter[0]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} [{}]",
            self.document,
            self.path,
            self.message,
            self.rule.id()
        )
    }
}

/// Checks every Pipeline and PipelineRun in `docs`; other documents are ignored. A
/// PipelineRun is checked against the Pipeline it names when that Pipeline is in `docs`.
pub fn check(docs: &[Value]) -> Vec<Violation> {
    let mut out = Vec::new();
    let pipelines: BTreeMap<&str, &Value> = docs
        .iter()
        .filter(|d| d["kind"] == "Pipeline")
        .filter_map(|d| d["metadata"]["name"].as_str().map(|n| (n, d)))
        .collect();
    for (i, doc) in docs.iter().enumerate() {
        let kind = doc["kind"].as_str().unwrap_or("");
        let name = doc["metadata"]["name"]
            .as_str()
            .or(doc["metadata"]["generateName"].as_str())
            .unwrap_or("");
        let mut c = Checker {
            document: if name.is_empty() {
                format!("document {}", i + 1)
            } else {
                format!("{kind}/{name}")
            },
            out: &mut out,
        };
        match kind {
            "Pipeline" | "PipelineRun" => {
                if doc["apiVersion"] != API_VERSION {
                    c.add(
                        Rule::Document,
                        "apiVersion",
                        format!(
                            "apiVersion is {}, these rules are those of {}",
                            doc["apiVersion"], API_VERSION
                        ),
                    );
                }
                if kind == "Pipeline" {
                    c.pipeline(doc);
                } else {
                    c.pipeline_run(doc, &pipelines);
                }
            }
            _ => {}
        }
    }
    out
}

/// Parses multi-document YAML and [`check`]s it.
pub fn check_yaml(text: &str) -> compose_export::Result<Vec<Violation>> {
    Ok(check(&parse_documents(text)?))
}

// The fields of Tekton's v1 Go types (their JSON names), for strict decoding.
const PIPELINE_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];
const PIPELINE_SPEC_FIELDS: &[&str] = &[
    "displayName",
    "description",
    "tasks",
    "params",
    "workspaces",
    "results",
    "finally",
];
const PIPELINE_TASK_FIELDS: &[&str] = &[
    "name",
    "displayName",
    "description",
    "taskRef",
    "taskSpec",
    "when",
    "retries",
    "runAfter",
    "matrix",
    "params",
    "workspaces",
    "timeout",
    "pipelineRef",
    "pipelineSpec",
    "onError",
];
const EMBEDDED_TASK_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "spec",
    "metadata",
    "params",
    "displayName",
    "description",
    "steps",
    "volumes",
    "stepTemplate",
    "sidecars",
    "workspaces",
    "results",
];
const TASK_METADATA_FIELDS: &[&str] = &["labels", "annotations"];
const STEP_FIELDS: &[&str] = &[
    "name",
    "displayName",
    "image",
    "command",
    "args",
    "workingDir",
    "envFrom",
    "env",
    "computeResources",
    "volumeMounts",
    "volumeDevices",
    "imagePullPolicy",
    "securityContext",
    "script",
    "timeout",
    "workspaces",
    "onError",
    "stdoutConfig",
    "stderrConfig",
    "ref",
    "params",
    "results",
    "when",
];
const PARAM_SPEC_FIELDS: &[&str] = &[
    "name",
    "type",
    "description",
    "properties",
    "default",
    "enum",
];
const PARAM_FIELDS: &[&str] = &["name", "value"];
const PIPELINE_WORKSPACE_FIELDS: &[&str] = &["name", "description", "optional"];
const TASK_WORKSPACE_FIELDS: &[&str] =
    &["name", "description", "mountPath", "readOnly", "optional"];
const WORKSPACE_TASK_BINDING_FIELDS: &[&str] = &["name", "workspace", "subPath"];
const TASK_RESULT_FIELDS: &[&str] = &["name", "type", "properties", "description", "value"];
const PIPELINE_RESULT_FIELDS: &[&str] = &["name", "type", "description", "value"];
const WHEN_FIELDS: &[&str] = &["input", "operator", "values", "cel"];
const PIPELINE_RUN_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
const PIPELINE_RUN_SPEC_FIELDS: &[&str] = &[
    "pipelineRef",
    "pipelineSpec",
    "params",
    "status",
    "timeouts",
    "taskRunTemplate",
    "workspaces",
    "taskRunSpecs",
    "managedBy",
];
const PIPELINE_REF_FIELDS: &[&str] = &["name", "apiVersion", "resolver", "params"];
const TASK_RUN_TEMPLATE_FIELDS: &[&str] = &["podTemplate", "serviceAccountName"];
const WORKSPACE_BINDING_FIELDS: &[&str] = &[
    "name",
    "subPath",
    "volumeClaimTemplate",
    "persistentVolumeClaim",
    "emptyDir",
    "configMap",
    "secret",
    "projected",
    "csi",
];
/// The volume sources a workspace binding may use (exactly one).
const WORKSPACE_SOURCES: &[&str] = &[
    "volumeClaimTemplate",
    "persistentVolumeClaim",
    "emptyDir",
    "configMap",
    "secret",
    "projected",
    "csi",
];

/// Context variables of a PipelineRun (pipeline tasks; propagated into embedded taskSpecs).
const PIPELINE_CONTEXT: &[&str] = &[
    "pipelineRun.name",
    "pipelineRun.namespace",
    "pipelineRun.uid",
    "pipeline.name",
    "pipelineTask.retries",
];
/// Context variables of a TaskRun.
const TASK_CONTEXT: &[&str] = &[
    "taskRun.name",
    "taskRun.namespace",
    "taskRun.uid",
    "task.name",
    "task.retry-count",
];

/// Whether `name` matches Tekton's param name pattern `^[_a-zA-Z][_a-zA-Z0-9.-]*$`.
pub fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c == '.' || c == '-' || c.is_ascii_alphanumeric())
}

/// Whether `name` matches Tekton's result name pattern
/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`.
pub fn is_result_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A variable reference `$(…)`, parsed.
#[derive(Debug, PartialEq, Eq)]
enum Var<'a> {
    /// `params.NAME` (NAME may carry an object key or an index).
    Param(&'a str),
    /// `workspaces.NAME.ATTR`.
    Workspace(&'a str),
    /// `results.NAME.path`.
    Result(&'a str),
    /// `tasks.TASK.results.RESULT`.
    TaskResult(&'a str, &'a str),
    /// `tasks.TASK.status` and the like: a task name only.
    Task(&'a str),
    /// `context.X`.
    Context(&'a str),
    /// Anything else (`steps.…`, `credentials.path`, …): not checked.
    Other,
}

/// Every `$(…)` expression of `text`, without `$(` and `)`.
fn expressions(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) => {
                found.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    found
}

/// `NAME` of `NAME`, `['NAME']` or `["NAME"]` at the start of `text`, and what follows.
fn name_part(text: &str) -> (&str, &str) {
    for quote in ["['", "[\""] {
        if let Some(inner) = text.strip_prefix(quote) {
            let close = if quote == "['" { "']" } else { "\"]" };
            if let Some(end) = inner.find(close) {
                return (&inner[..end], &inner[end + 2..]);
            }
        }
    }
    let text = text.strip_prefix('.').unwrap_or(text);
    let end = text.find(['.', '[']).unwrap_or(text.len());
    (&text[..end], &text[end..])
}

fn parse_var(expression: &str) -> Var<'_> {
    let expression = expression.trim();
    if let Some(rest) = expression.strip_prefix("params") {
        if rest.starts_with('[') {
            return Var::Param(name_part(rest).0);
        }
        if let Some(name) = rest.strip_prefix('.') {
            // Dots may be part of the name; the index suffix is not.
            return Var::Param(name.split('[').next().unwrap_or(name));
        }
        return Var::Other;
    }
    if let Some(rest) = expression.strip_prefix("workspaces") {
        return Var::Workspace(name_part(rest).0);
    }
    if let Some(rest) = expression.strip_prefix("results") {
        return Var::Result(name_part(rest).0);
    }
    if let Some(rest) = expression.strip_prefix("tasks.") {
        let (task, after) = name_part(rest);
        if let Some(result) = after.strip_prefix(".results") {
            return Var::TaskResult(task, name_part(result).0);
        }
        if task == "status" {
            return Var::Other; // `$(tasks.status)`, for finally tasks
        }
        return Var::Task(task);
    }
    if let Some(rest) = expression.strip_prefix("context.") {
        return Var::Context(rest);
    }
    Var::Other
}

/// Every string in `value` with its path, skipping `description` and `displayName` fields
/// (text for people, never substituted).
fn strings<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(s) => out.push((path, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if k == "description" || k == "displayName" {
                    continue;
                }
                strings(v, join(&path, k), out);
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A param name as used (`a.b` may be key `b` of object param `a`) is declared in `names`.
fn param_declared(used: &str, names: &BTreeSet<String>) -> bool {
    names.contains(used)
        || used
            .rsplit_once('.')
            .is_some_and(|(object, _)| names.contains(object))
}

/// A pipeline task as far as the rules need it.
struct TaskInfo<'a> {
    name: &'a str,
    path: String,
    value: &'a Value,
    /// The results its taskSpec declares; `None` when it has no embedded taskSpec (a
    /// `taskRef`: the results are not known here).
    results: Option<BTreeSet<String>>,
}

struct Checker<'o> {
    document: String,
    out: &'o mut Vec<Violation>,
}

impl Checker<'_> {
    fn add(&mut self, rule: Rule, path: &str, message: String) {
        self.out.push(Violation {
            rule,
            document: self.document.clone(),
            path: path.to_string(),
            message,
        });
    }

    /// Refuses fields not in `allowed` (the webhook decodes strictly).
    fn fields(&mut self, value: &Value, path: &str, allowed: &[&str], what: &str) {
        if let Value::Object(map) = value {
            for key in map.keys() {
                if !allowed.contains(&key.as_str()) {
                    self.add(
                        Rule::UnknownField,
                        &join(path, key),
                        format!("unknown field `{key}` in {what}"),
                    );
                }
            }
        }
    }

    /// `value[key]` as an array (empty when absent; a violation when not an array).
    fn array<'v>(&mut self, value: &'v Value, path: &str, key: &str) -> &'v [Value] {
        match value.get(key) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.add(
                    Rule::FieldType,
                    &join(path, key),
                    format!("`{key}` must be a list, not {}", type_name(other)),
                );
                &[]
            }
        }
    }

    /// `value[key]` as a string (`None` when absent; a violation when not a string).
    fn string<'v>(&mut self, value: &'v Value, path: &str, key: &str) -> Option<&'v str> {
        match value.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.add(
                    Rule::FieldType,
                    &join(path, key),
                    format!("`{key}` must be a string, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// `value[key]` as an object (`None` when absent; a violation when not an object).
    fn object<'v>(&mut self, value: &'v Value, path: &str, key: &str) -> Option<&'v Value> {
        match value.get(key) {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v),
            Some(other) => {
                self.add(
                    Rule::FieldType,
                    &join(path, key),
                    format!("`{key}` must be an object, not {}", type_name(other)),
                );
                None
            }
        }
    }

    fn object_name(&mut self, doc: &Value) {
        match doc["metadata"]["name"].as_str() {
            Some(name) => {
                if name.len() > 63 {
                    self.add(
                        Rule::ObjectName,
                        "metadata.name",
                        format!("`{name}` is longer than 63 characters"),
                    );
                }
                if name.contains('.') {
                    self.add(
                        Rule::ObjectName,
                        "metadata.name",
                        format!("`{name}` contains `.`, which Tekton refuses in names"),
                    );
                }
            }
            None if doc["metadata"]["generateName"].is_string() => {}
            None => self.add(
                Rule::ObjectName,
                "metadata",
                "the object has neither a name nor a generateName".into(),
            ),
        }
    }

    /// Declared params: names, uniqueness, types; returns the names.
    fn param_specs(&mut self, owner: &Value, path: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let params = self.array(owner, path, "params");
        for (i, p) in params.iter().enumerate() {
            let at = format!("{}[{i}]", join(path, "params"));
            self.fields(p, &at, PARAM_SPEC_FIELDS, "a param declaration");
            let Some(name) = self.string(p, &at, "name") else {
                self.add(Rule::ParamName, &at, "a param without a name".into());
                continue;
            };
            if !is_param_name(name) {
                self.add(
                    Rule::ParamName,
                    &join(&at, "name"),
                    format!(
                        "param name `{name}` must start with a letter or `_` and hold only letters, digits, `_`, `-` and `.`"
                    ),
                );
            }
            if !names.insert(name.to_string()) {
                self.add(
                    Rule::ParamName,
                    &join(&at, "name"),
                    format!("param `{name}` is declared twice"),
                );
            }
            let kind = match self.string(p, &at, "type") {
                Some(kind @ ("string" | "array" | "object")) => kind,
                Some(other) => {
                    self.add(
                        Rule::ParamName,
                        &join(&at, "type"),
                        format!("param `{name}` has type `{other}`: string, array or object"),
                    );
                    continue;
                }
                None => "string",
            };
            if let Some(default) = p.get("default") {
                let matches = match kind {
                    "string" => default.is_string(),
                    "array" => default.is_array(),
                    _ => default.is_object(),
                };
                if !matches {
                    self.add(
                        Rule::ParamName,
                        &join(&at, "default"),
                        format!(
                            "param `{name}` is of type {kind} but its default is {}",
                            type_name(default)
                        ),
                    );
                }
            }
        }
        names
    }

    fn pipeline(&mut self, doc: &Value) {
        self.fields(doc, "", PIPELINE_FIELDS, "a Pipeline");
        self.object_name(doc);
        let Some(spec) = self.object(doc, "", "spec") else {
            self.add(Rule::Document, "spec", "a Pipeline without a spec".into());
            return;
        };
        self.fields(spec, "spec", PIPELINE_SPEC_FIELDS, "a Pipeline spec");
        let params = self.param_specs(spec, "spec");

        // Workspaces: unique names, optional or not.
        let mut workspaces: BTreeMap<String, bool> = BTreeMap::new();
        for (i, w) in self.array(spec, "spec", "workspaces").iter().enumerate() {
            let at = format!("spec.workspaces[{i}]");
            self.fields(w, &at, PIPELINE_WORKSPACE_FIELDS, "a pipeline workspace");
            let Some(name) = self.string(w, &at, "name") else {
                self.add(
                    Rule::WorkspaceBinding,
                    &at,
                    "a workspace without a name".into(),
                );
                continue;
            };
            let optional = w["optional"].as_bool().unwrap_or(false);
            if workspaces.insert(name.to_string(), optional).is_some() {
                self.add(
                    Rule::WorkspaceBinding,
                    &join(&at, "name"),
                    format!("workspace `{name}` is declared twice"),
                );
            }
        }

        // Tasks: names, kinds, what they declare.
        let mut tasks: Vec<TaskInfo<'_>> = Vec::new();
        for section in ["tasks", "finally"] {
            for (i, t) in self.array(spec, "spec", section).iter().enumerate() {
                let at = format!("spec.{section}[{i}]");
                self.fields(t, &at, PIPELINE_TASK_FIELDS, "a pipeline task");
                let name = self.string(t, &at, "name").unwrap_or("");
                if !is_dns1123_label(name) {
                    self.add(
                        Rule::TaskName,
                        &join(&at, "name"),
                        format!(
                            "task name `{name}` must be a DNS-1123 label: lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters"
                        ),
                    );
                }
                if tasks.iter().any(|other| other.name == name) {
                    self.add(
                        Rule::TaskName,
                        &join(&at, "name"),
                        format!("task name `{name}` is used twice"),
                    );
                }
                let kinds: Vec<&str> = ["taskRef", "taskSpec", "pipelineRef", "pipelineSpec"]
                    .into_iter()
                    .filter(|k| t.get(*k).is_some_and(|v| !v.is_null()))
                    .collect();
                if kinds.len() != 1 {
                    self.add(
                        Rule::TaskKind,
                        &at,
                        format!(
                            "task `{name}` must have exactly one of taskRef, taskSpec, pipelineRef, pipelineSpec (it has {})",
                            if kinds.is_empty() {
                                "none".to_string()
                            } else {
                                kinds.join(", ")
                            }
                        ),
                    );
                }
                let results = self.object(t, &at, "taskSpec").map(|ts| {
                    ts.get("results")
                        .and_then(Value::as_array)
                        .map(|rs| {
                            rs.iter()
                                .filter_map(|r| r["name"].as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                });
                tasks.push(TaskInfo {
                    name,
                    path: at,
                    value: t,
                    results,
                });
            }
        }
        let finally_start = self.array(spec, "spec", "tasks").len();

        // Each task: runAfter, params, when, workspaces, its taskSpec.
        let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (index, task) in tasks.iter().enumerate() {
            let at = task.path.as_str();
            let deps = edges.entry(task.name).or_default();
            let run_after: Vec<&Value> = match task.value.get("runAfter") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items.iter().collect(),
                Some(other) => {
                    let message = format!("`runAfter` must be a list, not {}", type_name(other));
                    self.add(Rule::FieldType, &join(at, "runAfter"), message);
                    Vec::new()
                }
            };
            for (j, target) in run_after.into_iter().enumerate() {
                let ra = format!("{at}.runAfter[{j}]");
                let Some(target) = target.as_str() else {
                    self.add(
                        Rule::FieldType,
                        &ra,
                        "`runAfter` entries must be task names".into(),
                    );
                    continue;
                };
                if index >= finally_start {
                    self.add(
                        Rule::RunAfter,
                        &ra,
                        "finally tasks cannot use runAfter".into(),
                    );
                } else if target == task.name {
                    self.add(
                        Rule::RunAfter,
                        &ra,
                        format!("task `{target}` cannot run after itself"),
                    );
                } else if !tasks[..finally_start].iter().any(|t| t.name == target) {
                    self.add(
                        Rule::RunAfter,
                        &ra,
                        format!(
                            "task `{}` runs after `{target}`, which is not a task of the pipeline",
                            task.name
                        ),
                    );
                } else {
                    deps.insert(target);
                }
            }
            self.pipeline_task_variables(
                task,
                index >= finally_start,
                &params,
                &workspaces,
                &tasks,
                &mut edges,
            );
            self.when(task);
            self.task_workspace_bindings(task, &workspaces);
            if let Some(ts) = task.value.get("taskSpec").filter(|v| v.is_object()) {
                self.task_spec(task, ts, &tasks);
            }
        }
        self.cycles(&tasks[..finally_start], &edges);

        // Pipeline results.
        let mut result_names = BTreeSet::new();
        for (i, r) in self.array(spec, "spec", "results").iter().enumerate() {
            let at = format!("spec.results[{i}]");
            self.fields(r, &at, PIPELINE_RESULT_FIELDS, "a pipeline result");
            let name = self.string(r, &at, "name").unwrap_or("");
            self.result_name(name, &join(&at, "name"), &mut result_names);
            let value = match r.get("value") {
                Some(Value::String(s)) => vec![(join(&at, "value"), s.as_str())],
                Some(v @ (Value::Array(_) | Value::Object(_))) => {
                    let mut found = Vec::new();
                    strings(v, join(&at, "value"), &mut found);
                    found
                }
                _ => {
                    self.add(
                        Rule::PipelineResult,
                        &at,
                        format!("pipeline result `{name}` has no value"),
                    );
                    continue;
                }
            };
            for (path, text) in value {
                let exprs = expressions(text);
                if exprs.is_empty() {
                    self.add(
                        Rule::PipelineResult,
                        &path,
                        format!(
                            "pipeline result `{name}` must be a task result reference such as `$(tasks.TASK.results.RESULT)`, not `{text}`"
                        ),
                    );
                }
                for e in exprs {
                    match parse_var(e) {
                        Var::TaskResult(t, r) => self.task_result_ref(t, r, &path, None, &tasks),
                        _ => self.add(
                            Rule::PipelineResult,
                            &path,
                            format!(
                                "pipeline result `{name}` may only reference task results, not `$({e})`"
                            ),
                        ),
                    }
                }
            }
        }
    }

    fn result_name(&mut self, name: &str, path: &str, seen: &mut BTreeSet<String>) {
        if !is_result_name(name) {
            self.add(
                Rule::ResultName,
                path,
                format!(
                    "result name `{name}` must be letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit"
                ),
            );
        }
        if !seen.insert(name.to_string()) {
            self.add(
                Rule::ResultName,
                path,
                format!("result `{name}` is declared twice"),
            );
        }
    }

    /// `$(tasks.T.results.R)` at `path`: T exists, declares R, and is not `from` itself.
    fn task_result_ref(
        &mut self,
        task: &str,
        result: &str,
        path: &str,
        from: Option<&str>,
        tasks: &[TaskInfo<'_>],
    ) {
        if from == Some(task) {
            self.add(
                Rule::ResultReference,
                path,
                format!("task `{task}` cannot use its own result `{result}`"),
            );
            return;
        }
        match tasks.iter().find(|t| t.name == task) {
            None => self.add(
                Rule::ResultReference,
                path,
                format!(
                    "`$(tasks.{task}.results.{result})` names task `{task}`, which is not in the pipeline"
                ),
            ),
            Some(t) => {
                if let Some(results) = &t.results
                    && !results.contains(result)
                {
                    self.add(
                        Rule::ResultReference,
                        path,
                        format!(
                            "`$(tasks.{task}.results.{result})`: task `{task}` declares no result `{result}` (it has {})",
                            if results.is_empty() {
                                "none".to_string()
                            } else {
                                results.iter().cloned().collect::<Vec<_>>().join(", ")
                            }
                        ),
                    );
                }
            }
        }
    }

    /// Variables in a pipeline task outside its taskSpec (params, when, workspace subPaths,
    /// matrix, taskRef params): pipeline params, pipeline workspaces, task results, context.
    #[allow(clippy::too_many_arguments)]
    fn pipeline_task_variables<'t>(
        &mut self,
        task: &TaskInfo<'t>,
        finally: bool,
        params: &BTreeSet<String>,
        workspaces: &BTreeMap<String, bool>,
        tasks: &[TaskInfo<'t>],
        edges: &mut BTreeMap<&'t str, BTreeSet<&'t str>>,
    ) {
        let mut found = Vec::new();
        if let Value::Object(map) = task.value {
            for (k, v) in map {
                if k == "taskSpec"
                    || k == "pipelineSpec"
                    || k == "description"
                    || k == "displayName"
                {
                    continue;
                }
                strings(v, join(&task.path, k), &mut found);
            }
        }
        // Pass names must be unique too.
        let mut passed = BTreeSet::new();
        for (i, p) in self
            .array(task.value, &task.path, "params")
            .iter()
            .enumerate()
        {
            let at = format!("{}.params[{i}]", task.path);
            self.fields(p, &at, PARAM_FIELDS, "a param value");
            match self.string(p, &at, "name") {
                Some(name) => {
                    if !passed.insert(name) {
                        self.add(
                            Rule::ParamName,
                            &join(&at, "name"),
                            format!("task `{}` passes param `{name}` twice", task.name),
                        );
                    }
                }
                None => self.add(Rule::ParamName, &at, "a param value without a name".into()),
            }
        }
        for (path, text) in found {
            for e in expressions(text) {
                match parse_var(e) {
                    Var::Param(name) if !param_declared(name, params) => self.add(
                        Rule::PipelineParam,
                        &path,
                        format!(
                            "`$({e})` in task `{}`: the pipeline declares no param `{name}`",
                            task.name
                        ),
                    ),
                    Var::Workspace(name) if !workspaces.contains_key(name) => self.add(
                        Rule::WorkspaceVariable,
                        &path,
                        format!(
                            "`$({e})` in task `{}`: the pipeline declares no workspace `{name}`",
                            task.name
                        ),
                    ),
                    Var::TaskResult(t, r) => {
                        self.task_result_ref(t, r, &path, Some(task.name), tasks);
                        if !finally
                            && t != task.name
                            && let Some(dep) = tasks.iter().find(|x| x.name == t)
                        {
                            edges.entry(task.name).or_default().insert(dep.name);
                        }
                    }
                    Var::Task(t) if !tasks.iter().any(|x| x.name == t) => self.add(
                        Rule::ResultReference,
                        &path,
                        format!("`$({e})` names task `{t}`, which is not in the pipeline"),
                    ),
                    Var::Context(c) if !PIPELINE_CONTEXT.contains(&c) => self.add(
                        Rule::ContextVariable,
                        &path,
                        format!("`$({e})` is not a context variable of a PipelineRun"),
                    ),
                    _ => {}
                }
            }
        }
    }

    fn when(&mut self, task: &TaskInfo<'_>) {
        for (i, w) in self
            .array(task.value, &task.path, "when")
            .iter()
            .enumerate()
        {
            let at = format!("{}.when[{i}]", task.path);
            self.fields(w, &at, WHEN_FIELDS, "a when expression");
            if w.get("cel").is_some_and(|c| !c.is_null()) {
                continue;
            }
            if self.string(w, &at, "input").is_none_or(str::is_empty) {
                self.add(
                    Rule::When,
                    &join(&at, "input"),
                    "a when expression needs an input".into(),
                );
            }
            match self.string(w, &at, "operator") {
                Some("in" | "notin") => {}
                other => self.add(
                    Rule::When,
                    &join(&at, "operator"),
                    format!(
                        "operator must be `in` or `notin`, not `{}`",
                        other.unwrap_or("")
                    ),
                ),
            }
            let values = self.array(w, &at, "values");
            if values.is_empty() {
                self.add(
                    Rule::When,
                    &join(&at, "values"),
                    "a when expression needs at least one value".into(),
                );
            }
        }
    }

    fn task_workspace_bindings(&mut self, task: &TaskInfo<'_>, pipeline: &BTreeMap<String, bool>) {
        // The taskSpec's workspace declarations: name → optional.
        let declared: Option<BTreeMap<String, bool>> = task
            .value
            .get("taskSpec")
            .filter(|v| v.is_object())
            .map(|ts| {
                ts.get("workspaces")
                    .and_then(Value::as_array)
                    .map(|ws| {
                        ws.iter()
                            .filter_map(|w| {
                                w["name"].as_str().map(|n| {
                                    (n.to_string(), w["optional"].as_bool().unwrap_or(false))
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            });
        let mut bound = BTreeSet::new();
        for (i, b) in self
            .array(task.value, &task.path, "workspaces")
            .iter()
            .enumerate()
        {
            let at = format!("{}.workspaces[{i}]", task.path);
            self.fields(b, &at, WORKSPACE_TASK_BINDING_FIELDS, "a workspace binding");
            let Some(name) = self.string(b, &at, "name") else {
                self.add(
                    Rule::WorkspaceBinding,
                    &at,
                    "a workspace binding without a name".into(),
                );
                continue;
            };
            if !bound.insert(name.to_string()) {
                self.add(
                    Rule::WorkspaceBinding,
                    &join(&at, "name"),
                    format!("task `{}` binds workspace `{name}` twice", task.name),
                );
            }
            let target = match self.string(b, &at, "workspace") {
                Some(w) if !w.is_empty() => w,
                _ => name,
            };
            match pipeline.get(target) {
                None => self.add(
                    Rule::WorkspaceBinding,
                    &join(&at, "workspace"),
                    format!(
                        "task `{}` binds workspace `{name}` to `{target}`, which the pipeline does not declare",
                        task.name
                    ),
                ),
                Some(&pipeline_optional) => {
                    if pipeline_optional
                        && declared
                            .as_ref()
                            .and_then(|d| d.get(name))
                            .is_some_and(|task_optional| !task_optional)
                    {
                        self.add(
                            Rule::WorkspaceBinding,
                            &at,
                            format!(
                                "pipeline workspace `{target}` is optional but task `{}` requires its workspace `{name}`",
                                task.name
                            ),
                        );
                    }
                }
            }
            if let Some(declared) = &declared
                && !declared.contains_key(name)
            {
                self.add(
                    Rule::WorkspaceBinding,
                    &join(&at, "name"),
                    format!(
                        "task `{}` binds workspace `{name}`, which its taskSpec does not declare",
                        task.name
                    ),
                );
            }
        }
        if let Some(declared) = &declared {
            for (name, optional) in declared {
                if !optional && !bound.contains(name) {
                    self.add(
                        Rule::WorkspaceBinding,
                        &join(&task.path, "workspaces"),
                        format!(
                            "task `{}` declares workspace `{name}` but the pipeline task does not bind it",
                            task.name
                        ),
                    );
                }
            }
        }
    }

    fn task_spec(&mut self, task: &TaskInfo<'_>, ts: &Value, tasks: &[TaskInfo<'_>]) {
        let at = join(&task.path, "taskSpec");
        self.fields(ts, &at, EMBEDDED_TASK_FIELDS, "an embedded taskSpec");
        if let Some(meta) = self.object(ts, &at, "metadata") {
            self.fields(
                meta,
                &join(&at, "metadata"),
                TASK_METADATA_FIELDS,
                "taskSpec metadata",
            );
        }
        let params = self.param_specs(ts, &at);

        // Params without a default must be passed.
        let passed: BTreeSet<&str> = task
            .value
            .get("params")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        if let Some(specs) = ts.get("params").and_then(Value::as_array) {
            for (i, p) in specs.iter().enumerate() {
                if let Some(name) = p["name"].as_str()
                    && p.get("default").is_none_or(Value::is_null)
                    && !passed.contains(name)
                {
                    self.add(
                        Rule::TaskParamMissing,
                        &format!("{at}.params[{i}]"),
                        format!(
                            "task `{}` needs param `{name}` (it has no default) but the pipeline task does not pass it",
                            task.name
                        ),
                    );
                }
            }
        }

        let mut workspaces = BTreeSet::new();
        for (i, w) in self.array(ts, &at, "workspaces").iter().enumerate() {
            let wat = format!("{at}.workspaces[{i}]");
            self.fields(w, &wat, TASK_WORKSPACE_FIELDS, "a task workspace");
            if let Some(name) = self.string(w, &wat, "name")
                && !workspaces.insert(name.to_string())
            {
                self.add(
                    Rule::WorkspaceBinding,
                    &join(&wat, "name"),
                    format!("task `{}` declares workspace `{name}` twice", task.name),
                );
            }
        }
        let mut results = BTreeSet::new();
        for (i, r) in self.array(ts, &at, "results").iter().enumerate() {
            let rat = format!("{at}.results[{i}]");
            self.fields(r, &rat, TASK_RESULT_FIELDS, "a task result");
            let name = self.string(r, &rat, "name").unwrap_or("");
            self.result_name(name, &join(&rat, "name"), &mut results);
            if let Some(kind) = self.string(r, &rat, "type")
                && !matches!(kind, "string" | "array" | "object")
            {
                self.add(
                    Rule::ResultName,
                    &join(&rat, "type"),
                    format!("result `{name}` has type `{kind}`: string, array or object"),
                );
            }
        }

        // Volumes and steps.
        let mut volumes = BTreeSet::new();
        for (i, v) in self.array(ts, &at, "volumes").iter().enumerate() {
            let vat = format!("{at}.volumes[{i}]");
            let name = self.string(v, &vat, "name").unwrap_or("");
            if !is_dns1123_label(name) {
                self.add(
                    Rule::Volume,
                    &join(&vat, "name"),
                    format!("volume name `{name}` must be a DNS-1123 label"),
                );
            }
            if !volumes.insert(name.to_string()) {
                self.add(
                    Rule::Volume,
                    &join(&vat, "name"),
                    format!("volume `{name}` is declared twice"),
                );
            }
        }
        let steps = self.array(ts, &at, "steps");
        if steps.is_empty() {
            self.add(
                Rule::Step,
                &join(&at, "steps"),
                format!("task `{}` has no steps", task.name),
            );
        }
        let mut step_names = BTreeSet::new();
        for (i, s) in steps.iter().enumerate() {
            let sat = format!("{at}.steps[{i}]");
            self.fields(s, &sat, STEP_FIELDS, "a step");
            if let Some(name) = self.string(s, &sat, "name") {
                if !is_dns1123_label(name) {
                    self.add(
                        Rule::Step,
                        &join(&sat, "name"),
                        format!("step name `{name}` must be a DNS-1123 label"),
                    );
                }
                if !step_names.insert(name) {
                    self.add(
                        Rule::Step,
                        &join(&sat, "name"),
                        format!("step name `{name}` is used twice in task `{}`", task.name),
                    );
                }
            }
            let has_ref = s.get("ref").is_some_and(|r| !r.is_null());
            if !has_ref && self.string(s, &sat, "image").is_none_or(str::is_empty) {
                self.add(
                    Rule::Step,
                    &join(&sat, "image"),
                    "a step needs an image".into(),
                );
            }
            for (j, m) in self.array(s, &sat, "volumeMounts").iter().enumerate() {
                let mat = format!("{sat}.volumeMounts[{j}]");
                let name = self.string(m, &mat, "name").unwrap_or("");
                if !volumes.contains(name) {
                    self.add(
                        Rule::Volume,
                        &join(&mat, "name"),
                        format!(
                            "the step mounts volume `{name}`, which task `{}` does not declare",
                            task.name
                        ),
                    );
                }
            }
        }

        // Variables inside the taskSpec.
        let mut found = Vec::new();
        if let Value::Object(map) = ts {
            for (k, v) in map {
                if matches!(k.as_str(), "params" | "metadata") {
                    continue;
                }
                strings(v, join(&at, k), &mut found);
            }
        }
        for (path, text) in found {
            for e in expressions(text) {
                match parse_var(e) {
                    Var::Param(name) if !param_declared(name, &params) => self.add(
                        Rule::TaskParam,
                        &path,
                        format!(
                            "`$({e})` in task `{}`: its taskSpec declares no param `{name}`",
                            task.name
                        ),
                    ),
                    Var::Workspace(name) if !workspaces.contains(name) => self.add(
                        Rule::WorkspaceVariable,
                        &path,
                        format!(
                            "`$({e})` in task `{}`: its taskSpec declares no workspace `{name}`",
                            task.name
                        ),
                    ),
                    Var::Result(name) if !results.contains(name) => self.add(
                        Rule::ResultVariable,
                        &path,
                        format!(
                            "`$({e})` in task `{}`: its taskSpec declares no result `{name}`",
                            task.name
                        ),
                    ),
                    Var::TaskResult(t, r) => {
                        self.task_result_ref(t, r, &path, Some(task.name), tasks)
                    }
                    Var::Context(c)
                        if !TASK_CONTEXT.contains(&c) && !PIPELINE_CONTEXT.contains(&c) =>
                    {
                        self.add(
                            Rule::ContextVariable,
                            &path,
                            format!("`$({e})` is not a context variable Tekton provides"),
                        )
                    }
                    _ => {}
                }
            }
        }
    }

    /// Reports each cycle of the task graph once, as `a -> b -> a`.
    fn cycles(&mut self, tasks: &[TaskInfo<'_>], edges: &BTreeMap<&str, BTreeSet<&str>>) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> = tasks.iter().map(|t| (t.name, Mark::New)).collect();
        let mut cycles: Vec<Vec<&str>> = Vec::new();
        for start in tasks.iter().map(|t| t.name) {
            if marks.get(start) != Some(&Mark::New) {
                continue;
            }
            // Iterative depth-first search over "runs after" edges.
            let mut stack: Vec<(&str, Vec<&str>)> = Vec::new();
            let next = |n: &str| -> Vec<&str> {
                edges
                    .get(n)
                    .map(|d| d.iter().copied().collect())
                    .unwrap_or_default()
            };
            marks.insert(start, Mark::Active);
            stack.push((start, next(start)));
            while let Some((node, pending)) = stack.last_mut() {
                let node = *node;
                match pending.pop() {
                    Some(dep) => match marks.get(dep).copied() {
                        Some(Mark::New) => {
                            marks.insert(dep, Mark::Active);
                            let deps = next(dep);
                            stack.push((dep, deps));
                        }
                        Some(Mark::Active) => {
                            let from = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                            let mut cycle: Vec<&str> =
                                stack[from..].iter().map(|(n, _)| *n).collect();
                            cycle.push(dep);
                            cycles.push(cycle);
                        }
                        _ => {}
                    },
                    None => {
                        marks.insert(node, Mark::Done);
                        stack.pop();
                    }
                }
            }
        }
        for cycle in cycles {
            // `cycle` follows "runs after" edges: print it in run order.
            let mut order = cycle.clone();
            order.reverse();
            self.add(
                Rule::Cycle,
                "spec.tasks",
                format!(
                    "the tasks form a cycle (each runs after the one before it): {}",
                    order.join(" -> ")
                ),
            );
        }
    }

    fn pipeline_run(&mut self, doc: &Value, pipelines: &BTreeMap<&str, &Value>) {
        self.fields(doc, "", PIPELINE_RUN_FIELDS, "a PipelineRun");
        self.object_name(doc);
        let Some(spec) = self.object(doc, "", "spec") else {
            self.add(
                Rule::Document,
                "spec",
                "a PipelineRun without a spec".into(),
            );
            return;
        };
        self.fields(spec, "spec", PIPELINE_RUN_SPEC_FIELDS, "a PipelineRun spec");
        let reference = self.object(spec, "spec", "pipelineRef");
        let has_spec = spec.get("pipelineSpec").is_some_and(|v| !v.is_null());
        if reference.is_some() == has_spec {
            self.add(
                Rule::PipelineRun,
                "spec",
                "a PipelineRun needs exactly one of pipelineRef and pipelineSpec".into(),
            );
        }
        if let Some(r) = reference {
            self.fields(r, "spec.pipelineRef", PIPELINE_REF_FIELDS, "a pipelineRef");
        }
        if let Some(t) = self.object(spec, "spec", "taskRunTemplate") {
            self.fields(
                t,
                "spec.taskRunTemplate",
                TASK_RUN_TEMPLATE_FIELDS,
                "a taskRunTemplate",
            );
        }
        let mut given = BTreeSet::new();
        for (i, p) in self.array(spec, "spec", "params").iter().enumerate() {
            let at = format!("spec.params[{i}]");
            self.fields(p, &at, PARAM_FIELDS, "a param value");
            if let Some(name) = self.string(p, &at, "name")
                && !given.insert(name.to_string())
            {
                self.add(
                    Rule::PipelineRun,
                    &join(&at, "name"),
                    format!("param `{name}` is given twice"),
                );
            }
        }
        let mut bound = BTreeSet::new();
        for (i, b) in self.array(spec, "spec", "workspaces").iter().enumerate() {
            let at = format!("spec.workspaces[{i}]");
            self.fields(b, &at, WORKSPACE_BINDING_FIELDS, "a workspace binding");
            let name = self.string(b, &at, "name").unwrap_or("");
            if !bound.insert(name.to_string()) {
                self.add(
                    Rule::PipelineRun,
                    &join(&at, "name"),
                    format!("workspace `{name}` is bound twice"),
                );
            }
            let sources: Vec<&str> = WORKSPACE_SOURCES
                .iter()
                .copied()
                .filter(|s| b.get(*s).is_some_and(|v| !v.is_null()))
                .collect();
            if sources.len() != 1 {
                self.add(
                    Rule::PipelineRun,
                    &at,
                    format!(
                        "workspace binding `{name}` needs exactly one volume source ({}), it has {}",
                        WORKSPACE_SOURCES.join(", "),
                        if sources.is_empty() {
                            "none".to_string()
                        } else {
                            sources.join(", ")
                        }
                    ),
                );
            }
            if let Some(claim) = b.get("persistentVolumeClaim")
                && claim["claimName"].as_str().is_none_or(str::is_empty)
            {
                self.add(
                    Rule::PipelineRun,
                    &format!("{at}.persistentVolumeClaim.claimName"),
                    format!("workspace binding `{name}` names no claim"),
                );
            }
            if let Some(secret) = b.get("secret")
                && secret["secretName"].as_str().is_none_or(str::is_empty)
            {
                self.add(
                    Rule::PipelineRun,
                    &format!("{at}.secret.secretName"),
                    format!("workspace binding `{name}` names no secret"),
                );
            }
        }
        let Some(pipeline) = reference
            .and_then(|r| r["name"].as_str())
            .and_then(|n| pipelines.get(n))
        else {
            return; // a pipeline that is not in these documents: nothing to compare with
        };
        let pspec = &pipeline["spec"];
        for p in pspec["params"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(name) = p["name"].as_str()
                && p.get("default").is_none_or(Value::is_null)
                && !given.contains(name)
            {
                self.add(
                    Rule::PipelineRun,
                    "spec.params",
                    format!("the pipeline needs param `{name}` (it has no default)"),
                );
            }
        }
        for w in pspec["workspaces"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if let Some(name) = w["name"].as_str()
                && !w["optional"].as_bool().unwrap_or(false)
                && !bound.contains(name)
            {
                self.add(
                    Rule::PipelineRun,
                    "spec.workspaces",
                    format!("the pipeline requires workspace `{name}` to be bound"),
                );
            }
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
