//! What stages report: findings and their severity, and what a plugin says about itself,
//! converted from the records of every version of the WIT package.

use serde::{Deserialize, Serialize};

use crate::bindings::v0_1::exports::okd::compose::stage as v0_1;
use crate::bindings::v0_2::okd::compose0_2_0::types as v0_2;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Shown in the report only.
    Info,
    /// Reported; the run goes on.
    Warning,
    /// Fails the run when not passed.
    Error,
}

/// One result of one check, as a stage reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check id.
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// How serious a failure is.
    pub severity: Severity,
    /// What was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A sentence for humans.
    pub message: String,
}

/// Converts the `finding` and `info` records of one version of the WIT package.
macro_rules! from_wit {
    ($wit:ident) => {
        impl From<$wit::Finding> for Finding {
            fn from(f: $wit::Finding) -> Self {
                Finding {
                    check: f.check,
                    passed: f.passed,
                    severity: match f.severity {
                        $wit::Severity::Info => Severity::Info,
                        $wit::Severity::Warning => Severity::Warning,
                        $wit::Severity::Error => Severity::Error,
                    },
                    subject: f.subject,
                    message: f.message,
                }
            }
        }

        impl From<$wit::Info> for PluginInfo {
            fn from(info: $wit::Info) -> Self {
                PluginInfo {
                    name: info.name,
                    version: info.version,
                    description: info.description,
                    config_schema: info.config_schema,
                }
            }
        }
    };
}

from_wit!(v0_1);
from_wit!(v0_2);

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginInfo {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// One sentence.
    pub description: String,
    /// JSON schema of its config, if any.
    pub config_schema: Option<String>,
}
