//! The subset of Tekton's `tekton.dev/v1` types (and the Kubernetes core types they embed)
//! that an export writes, as serde structs whose field order is the order the YAML reads in:
//! `apiVersion`, `kind`, `metadata`, `spec`. Field names are Tekton's JSON names.

use std::collections::BTreeMap;

use serde::Serialize;

/// `tekton.dev/v1`.
pub const API_VERSION: &str = "tekton.dev/v1";

fn is_false(b: &bool) -> bool {
    !*b
}

/// Object metadata (name or generateName, labels, annotations).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The object's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A prefix the API server completes with a random suffix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A `Pipeline`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pipeline {
    /// `tekton.dev/v1`.
    pub api_version: String,
    /// `Pipeline`.
    pub kind: String,
    /// Name, labels, annotations.
    pub metadata: ObjectMeta,
    /// The pipeline.
    pub spec: PipelineSpec,
}

/// A pipeline's spec.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    /// What the pipeline does.
    pub description: String,
    /// Parameters.
    pub params: Vec<ParamSpec>,
    /// Workspaces the PipelineRun binds.
    pub workspaces: Vec<PipelineWorkspaceDeclaration>,
    /// The tasks, in order.
    pub tasks: Vec<PipelineTask>,
    /// Results of the run.
    pub results: Vec<PipelineResult>,
}

/// A declared parameter (pipeline or task).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamSpec {
    /// Its name.
    pub name: String,
    /// `string`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it is for.
    pub description: String,
    /// The default; a parameter without one must be given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A pipeline workspace declaration.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineWorkspaceDeclaration {
    /// Its name.
    pub name: String,
    /// What the PipelineRun must bind to it.
    pub description: String,
    /// Whether a PipelineRun may leave it unbound.
    #[serde(skip_serializing_if = "is_false")]
    pub optional: bool,
}

/// A pipeline result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineResult {
    /// Its name.
    pub name: String,
    /// `string`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it holds.
    pub description: String,
    /// `$(tasks.T.results.R)`.
    pub value: String,
}

/// One task of a pipeline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineTask {
    /// The task's name (a DNS-1123 label).
    pub name: String,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tasks that must finish first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub run_after: Vec<String>,
    /// Conditions for running at all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<WhenExpression>,
    /// Values for the task's params.
    pub params: Vec<Param>,
    /// Which pipeline workspace each task workspace is.
    pub workspaces: Vec<WorkspacePipelineTaskBinding>,
    /// The task itself.
    pub task_spec: EmbeddedTask,
}

/// A `when` expression.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WhenExpression {
    /// The value tested.
    pub input: String,
    /// `in` or `notin`.
    pub operator: String,
    /// The values it is tested against.
    pub values: Vec<String>,
}

/// A parameter value.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Param {
    /// The parameter's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A pipeline task's workspace binding.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspacePipelineTaskBinding {
    /// The task's workspace.
    pub name: String,
    /// The pipeline's workspace.
    pub workspace: String,
    /// A directory inside the pipeline workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}

/// Labels and annotations of an embedded task.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetadata {
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A task spec embedded in the pipeline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedTask {
    /// Labels and annotations of the TaskRun.
    pub metadata: TaskMetadata,
    /// What the task does.
    pub description: String,
    /// Parameters.
    pub params: Vec<ParamSpec>,
    /// Workspaces.
    pub workspaces: Vec<WorkspaceDeclaration>,
    /// Results.
    pub results: Vec<TaskResult>,
    /// Pod volumes.
    pub volumes: Vec<Volume>,
    /// Steps.
    pub steps: Vec<Step>,
}

/// A task workspace declaration.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceDeclaration {
    /// Its name.
    pub name: String,
    /// What it holds.
    pub description: String,
    /// Mounted read-only.
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// May be left unbound.
    #[serde(skip_serializing_if = "is_false")]
    pub optional: bool,
}

/// A task result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// Its name.
    pub name: String,
    /// `string`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it holds.
    pub description: String,
}

/// A pod volume (`emptyDir` or `secret`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// A scratch directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolume>,
    /// A secret's keys as files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolume>,
}

/// `emptyDir`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmptyDirVolume {
    /// The most it may hold (a quantity such as `2Gi`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<String>,
}

/// A secret volume.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolume {
    /// The secret.
    pub secret_name: String,
    /// Whether a missing secret is allowed.
    pub optional: bool,
}

/// A container step.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Its name.
    pub name: String,
    /// The image.
    pub image: String,
    /// The entrypoint.
    pub command: Vec<String>,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment.
    pub env: Vec<EnvVar>,
    /// Mounts.
    pub volume_mounts: Vec<VolumeMount>,
    /// Resources.
    pub compute_resources: ResourceRequirements,
    /// Container security.
    pub security_context: SecurityContext,
}

/// An environment variable.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// A literal value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A value read from elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    /// A key of a secret.
    pub secret_key_ref: SecretKeySelector,
}

/// A key of a secret.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// The secret.
    pub name: String,
    /// The key.
    pub key: String,
    /// Whether a missing secret or key is allowed.
    pub optional: bool,
}

/// A volume mount.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// The volume.
    pub name: String,
    /// Where.
    pub mount_path: String,
    /// Read-only.
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
}

/// Compute resources.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// What the scheduler reserves.
    pub requests: BTreeMap<String, String>,
}

/// A container's security context.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    /// Refuse to start as root.
    pub run_as_non_root: bool,
    /// No setuid escalation.
    pub allow_privilege_escalation: bool,
    /// Capabilities.
    pub capabilities: Capabilities,
    /// The image's file system is read-only.
    pub read_only_root_filesystem: bool,
    /// The seccomp profile.
    pub seccomp_profile: SeccompProfile,
}

/// Capabilities dropped.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// `ALL`.
    pub drop: Vec<String>,
}

/// A seccomp profile.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompProfile {
    /// `RuntimeDefault`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A `PipelineRun`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRun {
    /// `tekton.dev/v1`.
    pub api_version: String,
    /// `PipelineRun`.
    pub kind: String,
    /// `generateName`, labels.
    pub metadata: ObjectMeta,
    /// The run.
    pub spec: PipelineRunSpec,
}

/// A PipelineRun's spec.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRunSpec {
    /// The pipeline.
    pub pipeline_ref: PipelineRef,
    /// Parameter values.
    pub params: Vec<Param>,
    /// What each workspace is.
    pub workspaces: Vec<WorkspaceBinding>,
    /// The pods' template.
    pub task_run_template: PipelineTaskRunTemplate,
}

/// A pipeline by name.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRef {
    /// The Pipeline's name.
    pub name: String,
}

/// What a workspace is bound to.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceBinding {
    /// The pipeline workspace.
    pub name: String,
    /// A directory inside the volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// An existing claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<ClaimSource>,
    /// A claim made for the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_claim_template: Option<serde_json::Value>,
    /// A secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretBinding>,
}

/// `persistentVolumeClaim`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimSource {
    /// The claim.
    pub claim_name: String,
}

/// A secret bound as a workspace.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretBinding {
    /// The secret.
    pub secret_name: String,
    /// Which keys become which files.
    pub items: Vec<KeyToPath>,
}

/// A secret key as a file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyToPath {
    /// The key.
    pub key: String,
    /// The file.
    pub path: String,
}

/// The TaskRuns' template.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineTaskRunTemplate {
    /// The pods' template.
    pub pod_template: PodTemplate,
}

/// The pods' template.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    /// Pod security.
    pub security_context: PodSecurityContext,
}

/// Pod security.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    /// The group that owns the volumes.
    pub fs_group: u32,
}
