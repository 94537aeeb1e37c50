//! The parts of a check in parts (`okd:compose/check-parts`), each kept on its own: a rerun of
//! the stage runs only the parts whose settings or inputs changed.
//!
//! A part's key is the key of its stage without the stage's config (the key before it, the
//! plugin, the grants, limits and granted files: [`key::parts_base_key`]) with the part's id
//! and settings (what the plugin says its findings depend on). Its entry holds its findings
//! and the registry answers it got, asked again, as a stage's are, before the findings are
//! reused. Parts are reused only where stages are: while every stage before ran from the
//! cache or was skipped, and never for a stage that is not reused itself (`cache = false`,
//! granted keys, non-deterministic).

use std::sync::Arc;

use compose_runtime::{Finding, Part, Parts, Severity};

use super::delta::Delta;
use super::key;
use super::record::{self, Recording};
use super::store::{Entry, Store};
use crate::report::StageReport;

/// The parts of one run of a check in parts, recorded and reused.
pub(crate) struct PartCache {
    pub(super) store: Store,
    /// The base of the parts' keys.
    pub(super) base: String,
    /// Whether kept parts may be reused.
    pub(super) reuse: bool,
    /// The stage, its plugin's label and digest (for the entries' reports).
    pub(super) stage: String,
    pub(super) plugin: String,
    pub(super) digest: String,
    /// The stage's recording registry: a reused part's answers are asked through it, so the
    /// stage's own entry holds them too.
    pub(super) registry: Arc<Recording>,
}

impl PartCache {
    /// The entry kept for `part`, if there is a whole one of this stage and part.
    fn entry(&self, part: &Part) -> Option<Entry> {
        let key = key::part_key(&self.base, part)?;
        self.store.entry(&key).filter(|entry| {
            entry.part.as_deref() == Some(part.id.as_str())
                && entry.report.stage == self.stage
                && entry.delta == Delta::default()
        })
    }
}

impl Parts for PartCache {
    fn reuse(&mut self, part: &Part) -> Option<Vec<Finding>> {
        if !self.reuse {
            return None;
        }
        let entry = self.entry(part)?;
        if !record::same_answers(self.registry.as_ref(), &entry.queries) {
            return None;
        }
        self.store.touch(&entry);
        Some(entry.report.findings)
    }

    fn starting(&mut self, _: &Part) {
        self.registry.begin_part();
    }

    fn ran(&mut self, part: &Part, findings: &[Finding]) {
        let queries = self.registry.part_queries();
        // As for stages: a part whose checks failed with severity `error` is not kept.
        let failed = findings
            .iter()
            .any(|f| !f.passed && f.severity == Severity::Error);
        let (Some(queries), false) = (queries, failed) else {
            return;
        };
        let Some(key) = key::part_key(&self.base, part) else {
            return;
        };
        let entry = Entry {
            format: key::FORMAT,
            key,
            stage: self.stage.clone(),
            created: super::now(),
            queries,
            part: Some(part.id.clone()),
            delta: Delta::default(),
            report: StageReport {
                stage: self.stage.clone(),
                plugin: self.plugin.clone(),
                digest: self.digest.clone(),
                instantiate_millis: 0.0,
                run_millis: 0.0,
                findings: findings.to_vec(),
            },
        };
        if let Err(e) = self.store.write(&entry, &[]) {
            tracing::warn!("the stage cache: {e}");
        }
    }
}
