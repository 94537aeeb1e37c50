//! How each pipeline event reads: recorded for the run's summary, then shown as a line
//! (or a live line on a terminal) or as one `--json` event.

use super::*;

impl Output {
    /// Keeps what the end-of-run summary shows.
    fn record_event(&self, event: &Event) {
        match event {
            Event::BaseLoaded { reference, .. } => {
                self.record(|r| r.base = Some(reference.clone()));
            }
            Event::StageFinished {
                stage,
                run_millis,
                findings,
                ..
            } => {
                let failed = findings.iter().filter(|f| !f.passed).count();
                let status = if findings
                    .iter()
                    .any(|f| !f.passed && f.severity == Severity::Error)
                {
                    "FAILED"
                } else {
                    "ok"
                };
                self.record(|r| {
                    r.stages.push(StageRow {
                        name: stage.clone(),
                        status: status.to_string(),
                        millis: Some(*run_millis),
                        findings: Some((findings.len(), failed)),
                    });
                });
            }
            Event::StageReused {
                stage, findings, ..
            } => {
                let failed = findings.iter().filter(|f| !f.passed).count();
                self.record(|r| {
                    r.stages.push(StageRow {
                        name: stage.clone(),
                        status: "reused".to_string(),
                        millis: None,
                        findings: Some((findings.len(), failed)),
                    });
                });
            }
            Event::StageSkipped { stage, .. } | Event::StageAlreadyRan { stage } => {
                let status = if matches!(event, Event::StageSkipped { .. }) {
                    "skipped"
                } else {
                    "already ran"
                };
                self.record(|r| {
                    r.stages.push(StageRow {
                        name: stage.clone(),
                        status: status.to_string(),
                        millis: None,
                        findings: None,
                    });
                });
            }
            Event::Signed { .. } => self.record(|r| r.signed = true),
            Event::Published {
                release,
                digest,
                location,
            } => self.record(|r| {
                r.published = Some((release.clone(), digest.clone(), location.clone()));
            }),
            _ => {}
        }
    }
}

impl Observer for Output {
    fn event(&self, event: &Event) {
        self.record_event(event);
        if self.json {
            if let Ok(value) = serde_json::to_value(event) {
                self.json_line(&value);
            }
            return;
        }
        match event {
            Event::PluginLoading { stage, plugin } => {
                self.live_line(&format!(
                    "plugin  {stage}: compiling {plugin} (once; cached for later runs) …"
                ));
            }
            Event::PluginLoaded {
                stage,
                plugin,
                digest,
                cached,
                millis,
            } => {
                let how = if *cached { "cached" } else { "compiled" };
                if self.live && !*cached {
                    self.status(&format!(
                        "plugin  {stage}: compiled {plugin} in {}",
                        duration(*millis)
                    ));
                } else {
                    self.clear_live_line();
                }
                tracing::info!(stage, plugin, digest, "plugin {how} in {millis:.1} ms");
            }
            Event::PluginPulled {
                stage,
                reference,
                manifest_digest,
                cached,
                contacted,
                millis,
                signed_by,
                ..
            } => {
                let how = match (cached, contacted) {
                    (true, false) => "from the cache (no network)",
                    (true, true) => "from the cache (tag resolved)",
                    _ => "pulled",
                };
                let signed = signed_by
                    .as_ref()
                    .map(|key| format!(", signed by {key}"))
                    .unwrap_or_default();
                self.status(&format!(
                    "plugin  {stage}: oci://{reference} {how} ({manifest_digest}){signed} in {millis:.0} ms"
                ));
            }
            Event::BaseLoaded {
                reference,
                name,
                images,
                manifests,
                ..
            } => self.status(&format!(
                "base    {name} ({images} images, {manifests} manifests) from {reference}"
            )),
            Event::StateLoaded {
                dir,
                digest,
                stages,
            } => self.status(&format!(
                "state   {dir}: {} stage{} ran ({}), release {digest}",
                stages.len(),
                if stages.len() == 1 { "" } else { "s" },
                if stages.is_empty() {
                    "none".to_string()
                } else {
                    stages.join(", ")
                }
            )),
            Event::StageAlreadyRan { stage } => self.status(&format!(
                "stage   {stage}: already ran in the state (same plugin and config), not run again"
            )),
            Event::StateSaved {
                dir,
                digest,
                pending,
            } => self.status(&format!(
                "state   saved {dir}: release {digest}; {}",
                if pending.is_empty() {
                    "every stage ran".to_string()
                } else {
                    format!("still to run: {}", pending.join(", "))
                }
            )),
            Event::StageStarted {
                stage,
                plugin,
                index,
                total,
            } => self.live_line(&format!("stage   [{index}/{total}] {stage} ({plugin}) …")),
            Event::StageFinished {
                stage,
                instantiate_millis,
                run_millis,
                findings,
                reused_parts,
                parts,
            } => {
                let failed = findings.iter().filter(|f| !f.passed).count();
                let verdict = if findings
                    .iter()
                    .any(|f| !f.passed && f.severity == Severity::Error)
                {
                    "FAILED"
                } else {
                    "ok"
                };
                let reused = if reused_parts.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} of {parts} parts reused from the stage cache ({})",
                        reused_parts.len(),
                        reused_parts.join(", ")
                    )
                };
                self.status(&format!(
                    "stage   {stage}: {verdict} in {run_millis:.1} ms (instantiate {instantiate_millis:.2} ms), {} finding{}{}{reused}",
                    findings.len(),
                    if findings.len() == 1 { "" } else { "s" },
                    if failed > 0 { format!(", {failed} not passed") } else { String::new() }
                ));
                for f in findings
                    .iter()
                    .filter(|f| !f.passed && f.severity != Severity::Info)
                {
                    self.status(&format!(
                        "        {:?} {} {}: {}",
                        f.severity,
                        f.check,
                        f.subject.as_deref().unwrap_or("-"),
                        f.message
                    ));
                }
            }
            Event::Published {
                release,
                digest,
                location,
            } => self.status(&format!("wrote   {release} {digest} to {location}")),
            Event::StageSkipped { stage, reason } => {
                self.status(&format!("stage   {stage}: SKIPPED: {reason}"))
            }
            Event::StageReused {
                stage,
                cached,
                findings,
                ..
            } => {
                let failed = findings.iter().filter(|f| !f.passed).count();
                self.status(&format!(
                    "stage   {stage}: reused (cached {cached}), {} finding{}{}",
                    findings.len(),
                    if findings.len() == 1 { "" } else { "s" },
                    if failed > 0 {
                        format!(", {failed} not passed")
                    } else {
                        String::new()
                    }
                ));
            }
            Event::Unsigned { reason } => {
                self.status(&format!("warning: the release is UNSIGNED: {reason}"))
            }
            Event::Provenance {
                statement,
                key,
                tag,
                unsigned,
            } => match (key, unsigned) {
                (Some(key), _) => self.status(&format!(
                    "provenance signed by key `{key}` at tag {}; statement {statement}",
                    tag.as_deref().unwrap_or("-")
                )),
                (None, why) => self.status(&format!(
                    "provenance statement {statement}, not signed: {}",
                    why.as_deref().unwrap_or("no key")
                )),
            },
            Event::Signed {
                openpgp,
                cosign,
                store,
                cosign_tag,
            } => self.status(&format!(
                "signed  {openpgp} OpenPGP signature{}{}, {cosign} cosign-format{}",
                if *openpgp == 1 { "" } else { "s" },
                store
                    .as_ref()
                    .map(|s| format!(" in {s}"))
                    .unwrap_or_default(),
                cosign_tag
                    .as_ref()
                    .map(|t| format!(" at tag {t}"))
                    .unwrap_or_default()
            )),
        }
    }
}
