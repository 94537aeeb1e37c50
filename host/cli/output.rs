//! The only place that writes to stdout and stderr.
//!
//! stdout carries data (release info, `--json` events and results); progress, logs and
//! errors go to stderr. On a terminal a stage shows a live line; elsewhere (CI, pipes) every
//! event is one plain line.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use compose_pipeline::{Event, Observer};
use compose_runtime::Severity;
use tracing_subscriber::EnvFilter;

/// Renders results and events as text or JSON Lines.
pub struct Output {
    json: bool,
    live: bool,
    lock: Mutex<()>,
}

impl Output {
    /// Text or JSON output; live progress only on an interactive terminal outside CI.
    pub fn new(json: bool) -> Self {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
        Output {
            json,
            live: !json && !ci && std::io::stderr().is_terminal(),
            lock: Mutex::new(()),
        }
    }

    /// Whether output is JSON Lines.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Writes data to stdout.
    pub fn data(&self, text: &str) {
        let _guard = self.lock.lock();
        let mut out = std::io::stdout().lock();
        // A closed stdout (`compose info … | head`) is not an error worth reporting.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Writes one JSON value as a line to stdout.
    pub fn json_line(&self, value: &serde_json::Value) {
        self.data(&format!("{value}\n"));
    }

    /// Writes a status line to stderr.
    pub fn status(&self, text: &str) {
        let _guard = self.lock.lock();
        let mut err = std::io::stderr().lock();
        if self.live {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{text}");
    }

    fn live_line(&self, text: &str) {
        if self.live {
            let _guard = self.lock.lock();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{text}");
            let _ = err.flush();
        }
    }

    /// Prints an error with its causes, as `error: …` then `caused by: …` lines.
    pub fn error(&self, error: &anyhow::Error) {
        if self.json {
            let chain: Vec<String> = error.chain().map(|c| c.to_string()).collect();
            self.json_line(&serde_json::json!({"event": "error", "message": chain.first(), "causes": chain.get(1..)}));
        }
        let mut text = String::new();
        for (i, cause) in error.chain().enumerate() {
            let line = cause.to_string();
            let line = line.trim_end();
            if i == 0 {
                text.push_str(&format!("error: {line}\n"));
            } else {
                text.push_str(&format!("  caused by: {line}\n"));
            }
        }
        self.status(text.trim_end());
    }

    /// The status line of a finished push: digest, time, blobs uploaded and skipped.
    pub fn pushed(&self, report: &compose_registry::PushReport, millis: f64) {
        self.status(&format!(
            "pushed  {} {} in {millis:.0} ms ({} of {} blobs uploaded, {} KiB; {} already there)",
            report.reference,
            report.digest,
            report.uploaded,
            report.blobs,
            report.uploaded_bytes.div_ceil(1024),
            report.skipped
        ));
    }
}

impl Observer for Output {
    fn event(&self, event: &Event) {
        if self.json {
            if let Ok(value) = serde_json::to_value(event) {
                self.json_line(&value);
            }
            return;
        }
        match event {
            Event::PluginLoaded {
                stage,
                plugin,
                digest,
                cached,
                millis,
            } => {
                let how = if *cached { "cached" } else { "compiled" };
                tracing::info!(stage, plugin, digest, "plugin {how} in {millis:.1} ms");
            }
            Event::PluginPulled {
                stage,
                reference,
                manifest_digest,
                cached,
                contacted,
                millis,
                ..
            } => {
                let how = match (cached, contacted) {
                    (true, false) => "from the cache (no network)",
                    (true, true) => "from the cache (tag resolved)",
                    _ => "pulled",
                };
                self.status(&format!(
                    "plugin  {stage}: oci://{reference} {how} ({manifest_digest}) in {millis:.0} ms"
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
                self.status(&format!(
                    "stage   {stage}: {verdict} in {run_millis:.1} ms (instantiate {instantiate_millis:.2} ms), {} finding{}{}",
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
            Event::Unsigned { reason } => {
                self.status(&format!("warning: the release is UNSIGNED: {reason}"))
            }
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

/// Installs the log subscriber: stderr, text or JSON, level from `-v` or `RUST_LOG`.
pub fn init_logging(verbose: u8, json: bool) {
    let default = match verbose {
        0 => "warn,compose_runtime=info",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colors())
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.without_time().init();
    }
}

/// Colours only for a person at a terminal: not in CI, not in a pipe, not with `NO_COLOR`.
fn colors() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
        && std::env::var("CI").map_or(true, |v| v.is_empty() || v == "false")
}
