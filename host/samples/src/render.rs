//! The building blocks the sample manifests share: what they are rendered against, the
//! profile annotations, plural names and CustomResourceDefinitions.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::operators::Operator;

/// What the manifests are rendered against.
pub struct Context<'a> {
    /// The release name (rendered where operators have `0.0.1-snapshot`).
    pub release: &'a str,
    /// Tag name → digest pullspec, for every image of the release.
    pub pullspecs: &'a BTreeMap<String, String>,
    /// How many copies of each operator (`--scale`).
    pub scale: u32,
}

impl Context<'_> {
    pub(crate) fn image(&self, name: &str) -> Result<&str> {
        self.pullspecs.get(name).map(String::as_str).ok_or_else(|| {
            Error::Data(format!(
                "the manifests reference `{name}`, which is not built"
            ))
        })
    }
}

/// The profile annotations most manifests carry.
const PROFILES: [&str; 3] = [
    "include.release.openshift.io/ibm-cloud-managed",
    "include.release.openshift.io/self-managed-high-availability",
    "include.release.openshift.io/single-node-developer",
];

/// The `annotations:` block (at `indent` spaces) of an operator's manifests.
pub(crate) fn annotations(
    operator: Option<&Operator>,
    indent: usize,
    extra: &[(&str, &str)],
) -> String {
    let pad = " ".repeat(indent);
    let mut pairs: BTreeMap<&str, String> = PROFILES
        .iter()
        .map(|p| (*p, "\"true\"".to_string()))
        .collect();
    if let Some(o) = operator {
        if let Some(cap) = o.capability {
            pairs.insert("capability.openshift.io/name", cap.to_string());
        }
        if o.tech_preview {
            pairs.insert(
                "release.openshift.io/feature-set",
                "TechPreviewNoUpgrade".to_string(),
            );
        }
    }
    for (k, v) in extra {
        pairs.insert(k, (*v).to_string());
    }
    let mut out = format!("{pad}annotations:\n");
    for (k, v) in pairs {
        out.push_str(&format!("{pad}  {k}: {v}\n"));
    }
    out
}

/// `KubeAPIServer` → `kubeapiservers`, `DNS` → `dnses`, `Policy` → `policies`.
pub(crate) fn plural(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// A CustomResourceDefinition.
pub(crate) fn crd(
    operator: Option<&Operator>,
    kind: &str,
    group: &str,
    plural: &str,
    scope: &str,
    pr: u32,
) -> String {
    let singular = kind.to_lowercase();
    format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {plural}.{group}\n{}spec:\n  group: {group}\n  names:\n    kind: {kind}\n    listKind: {kind}List\n    plural: {plural}\n    singular: {singular}\n  scope: {scope}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        description: \"{kind} holds cluster-wide configuration. Compatibility level 1: stable within a major release for a minimum of 12 months or 3 minor releases (whichever is longer).\"\n        type: object\n        required:\n        - spec\n        properties:\n          apiVersion:\n            type: string\n          kind:\n            type: string\n          metadata:\n            type: object\n          spec:\n            type: object\n            x-kubernetes-preserve-unknown-fields: true\n          status:\n            type: object\n            x-kubernetes-preserve-unknown-fields: true\n    subresources:\n      status: {{}}\n",
        annotations(
            operator,
            2,
            &[
                (
                    "api-approved.openshift.io",
                    &format!("https://github.com/openshift/api/pull/{pr}")
                ),
                ("api.openshift.io/merged-by-featuregates", "\"true\""),
            ]
        )
    )
}
