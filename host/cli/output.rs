//! The only place that writes to stdout and stderr.
//!
//! stdout carries data (release info, `--json` events and results); progress, logs and
//! errors go to stderr. On a terminal a stage (or a plugin compile) shows a live line with its
//! elapsed time, log lines are printed above it, and a run ends with a summary table;
//! elsewhere (CI, pipes) every event is one plain line.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use compose_pipeline::{Event, Observer};
use compose_runtime::Severity;
use tracing_subscriber::EnvFilter;

mod progress;

/// The state of stderr on a terminal: every writer to stderr (status lines, the live line,
/// log lines) holds this lock, so that a line is never written into another.
struct Terminal {
    /// Whether stderr is a live terminal (see [`Output::new`]).
    live: bool,
    /// The live line on screen, with when it was first drawn.
    line: Option<(String, Instant)>,
    /// Whether the thread redrawing the live line's elapsed time runs.
    ticking: bool,
}

static TERMINAL: Mutex<Terminal> = Mutex::new(Terminal {
    live: false,
    line: None,
    ticking: false,
});

/// Runs `f` with the terminal state (a poisoned lock is taken over: its state is plain data).
fn with_terminal<T>(f: impl FnOnce(&mut Terminal) -> T) -> T {
    let mut guard = TERMINAL.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}

/// The live line as drawn: the text, then the elapsed seconds once there are any.
fn live_text(text: &str, since: Instant) -> String {
    let secs = since.elapsed().as_secs();
    if secs == 0 {
        text.to_string()
    } else {
        format!("{text} {secs}s")
    }
}

/// Draws the live line again (after a line was printed above it, or for its clock).
fn redraw(err: &mut impl Write, terminal: &Terminal) {
    if let Some((text, since)) = &terminal.line {
        let _ = write!(err, "\r\x1b[2K{}", live_text(text, *since));
    }
    let _ = err.flush();
}

/// Shows `text` as the live line of a live terminal, with its elapsed seconds ticking: since
/// now, or, with `keep_clock`, since the line up was first drawn (a progress line updated in
/// place).
fn show_live_line(text: &str, keep_clock: bool) {
    let start_clock = with_terminal(|t| {
        if !t.live {
            return false;
        }
        let since = match (&t.line, keep_clock) {
            (Some((_, since)), true) => *since,
            _ => Instant::now(),
        };
        t.line = Some((text.to_string(), since));
        redraw(&mut std::io::stderr().lock(), t);
        !std::mem::replace(&mut t.ticking, true)
    });
    if start_clock {
        // Redraws the clock of whatever live line is up; ends with the process.
        let _ = std::thread::Builder::new()
            .name("live-line".to_string())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(500));
                    with_terminal(|t| {
                        if t.line.is_some() {
                            redraw(&mut std::io::stderr().lock(), t);
                        }
                    });
                }
            });
    }
}

/// Removes the live line of a live terminal.
fn clear_live() {
    with_terminal(|t| {
        if t.live && t.line.take().is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    });
}

/// Whether stderr gets live progress: an interactive terminal, outside CI, not `--json`.
fn live_terminal(json: bool) -> bool {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    !json && !ci && std::io::stderr().is_terminal()
}

/// One stage's line of the end-of-run summary.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRow {
    /// The stage.
    pub name: String,
    /// `ok`, `FAILED`, `skipped` or `already ran`.
    pub status: String,
    /// Its run time, when it ran.
    pub millis: Option<f64>,
    /// Its findings and how many of them did not pass, when it ran.
    pub findings: Option<(usize, usize)>,
}

/// What a run did, gathered from its events for the end-of-run summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRecord {
    /// The stages, in the order they finished (or were skipped).
    pub stages: Vec<StageRow>,
    /// The base release's reference.
    pub base: Option<String>,
    /// The release name, digest and where it was written, once published.
    pub published: Option<(String, String, String)>,
    /// Whether signatures were published with it.
    pub signed: bool,
    /// Where it was pushed.
    pub pushed: Vec<String>,
}

/// Renders results and events as text or JSON Lines.
pub struct Output {
    json: bool,
    live: bool,
    lock: Mutex<()>,
    record: Mutex<RunRecord>,
}

impl Output {
    /// Text or JSON output; live progress only on an interactive terminal outside CI.
    pub fn new(json: bool) -> Self {
        let live = live_terminal(json);
        with_terminal(|t| t.live = live);
        Output {
            json,
            live,
            lock: Mutex::new(()),
            record: Mutex::new(RunRecord::default()),
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

    /// Writes a status line to stderr; on a terminal it replaces the live line.
    pub fn status(&self, text: &str) {
        with_terminal(|t| {
            let mut err = std::io::stderr().lock();
            if self.live {
                let _ = write!(err, "\r\x1b[2K");
                t.line = None;
            }
            let _ = writeln!(err, "{text}");
        });
    }

    /// Shows `text` as the live line (terminal only), with its elapsed seconds ticking.
    fn live_line(&self, text: &str) {
        if self.live {
            show_live_line(text, false);
        }
    }

    /// On a live terminal, what shows registry reads ahead and pushes on the live line;
    /// elsewhere (CI, pipes, `--json`) nothing: their plain lines stay as they are.
    pub fn registry_progress(&self) -> Option<std::sync::Arc<dyn compose_registry::Progress>> {
        self.live
            .then(|| std::sync::Arc::new(progress::RegistryProgress) as _)
    }

    /// Removes the live line (terminal only).
    fn clear_live_line(&self) {
        if self.live {
            with_terminal(|t| {
                if t.line.take().is_some() {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K");
                    let _ = err.flush();
                }
            });
        }
    }

    /// Records a fact of the run for the summary.
    fn record(&self, f: impl FnOnce(&mut RunRecord)) {
        f(&mut self.record.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// On a terminal, the end-of-run summary: the stages (status, time, findings), the
    /// release and its digest, where it was written and pushed, and what to run next. Plain
    /// output (CI, pipes) and `--json` stay as they are.
    pub fn run_summary(&self) {
        if !self.live {
            return;
        }
        let record = self
            .record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(80);
        self.status(render_summary(&record, width).trim_end());
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
        self.record(|r| {
            r.pushed
                .push(format!("{}@{}", report.reference, report.digest))
        });
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

/// A duration for people: `850 ms`, `12.3 s`, `2 min 5 s`.
fn duration(millis: f64) -> String {
    if millis < 1000.0 {
        format!("{millis:.0} ms")
    } else if millis < 60_000.0 {
        format!("{:.1} s", millis / 1000.0)
    } else {
        let secs = (millis / 1000.0).round() as u64;
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

/// Cuts `text` to `width` characters, ending with `…` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The end-of-run summary for a terminal `width` columns wide: the stage table (cut to the
/// width), then the release, where it went and what to run next (never cut: they are
/// copied).
pub fn render_summary(record: &RunRecord, width: usize) -> String {
    let mut text = String::from("\nsummary\n");
    let rows: Vec<[String; 4]> = record
        .stages
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.status.clone(),
                s.millis.map_or_else(|| "-".to_string(), duration),
                match s.findings {
                    None => "-".to_string(),
                    Some((n, 0)) => n.to_string(),
                    Some((n, failed)) => format!("{n} ({failed} not passed)"),
                },
            ]
        })
        .collect();
    let header = ["STAGE", "STATUS", "TIME", "FINDINGS"].map(str::to_string);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // A narrow terminal cuts stage names (down to 8 columns) rather than the other columns.
    let others = 2 + 2 + widths[1] + 2 + widths[2] + 2 + widths[3];
    widths[0] = widths[0].min(width.saturating_sub(others).max(8));
    for row in std::iter::once(&header).chain(&rows) {
        let name = fit(&row[0], widths[0]);
        let line = format!(
            "  {:<w0$}  {:<w1$}  {:>w2$}  {}",
            name,
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        text.push_str(&fit(line.trim_end(), width));
        text.push('\n');
    }
    let Some((release, digest, location)) = &record.published else {
        return text;
    };
    text.push_str(&format!(
        "\n  release  {release}\n  digest   {digest}\n  written  {location}\n"
    ));
    for pushed in &record.pushed {
        text.push_str(&format!("  pushed   {pushed}\n"));
    }
    text.push_str("\nnext\n");
    text.push_str(&format!("  compose info {location}\n"));
    if record.signed {
        text.push_str(&format!("  compose verify {location} --key KEY.pub\n"));
    }
    if let Some(base) = &record.base {
        text.push_str(&format!("  compose diff {base} {location}\n"));
    }
    text
}

/// Where log lines go: stderr, printed above the live line on a terminal (which is then drawn
/// again), never into it.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        with_terminal(|t| write_above(&mut std::io::stderr().lock(), t, buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Writes `line` (whole lines) to `err`: on a terminal with a live line up, it clears that
/// line, writes `line` in its place and draws the live line again below it.
fn write_above(err: &mut impl Write, terminal: &Terminal, line: &[u8]) -> std::io::Result<()> {
    if terminal.live && terminal.line.is_some() {
        err.write_all(b"\r\x1b[2K")?;
        err.write_all(line)?;
        redraw(err, terminal);
        Ok(())
    } else {
        err.write_all(line)
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
        .with_writer(|| LogWriter)
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn record() -> RunRecord {
        RunRecord {
            stages: vec![
                StageRow {
                    name: "select".to_string(),
                    status: "ok".to_string(),
                    millis: Some(12.34),
                    findings: Some((0, 0)),
                },
                StageRow {
                    name: "swap-os".to_string(),
                    status: "ok".to_string(),
                    millis: Some(1520.0),
                    findings: Some((3, 1)),
                },
                StageRow {
                    name: "sign".to_string(),
                    status: "skipped".to_string(),
                    millis: None,
                    findings: None,
                },
                StageRow {
                    name: "test-release-with-a-very-long-stage-name".to_string(),
                    status: "FAILED".to_string(),
                    millis: Some(125_000.0),
                    findings: Some((12, 2)),
                },
            ],
            base: Some("quay.io/openshift/okd:4.15.0".to_string()),
            published: Some((
                "4.17.0-okd-scos.0".to_string(),
                "sha256:0123456789abcdef".to_string(),
                "out/okd-scos".to_string(),
            )),
            signed: true,
            pushed: vec![
                "quay.io/okd/scos-release:4.17.0-okd-scos.0@sha256:0123456789abcdef".to_string(),
            ],
        }
    }

    #[test]
    fn the_summary_renders_at_a_fixed_width() {
        let expected = "
summary
  STAGE                    STATUS        TIME  FINDINGS
  select                   ok           12 ms  0
  swap-os                  ok           1.5 s  3 (1 not passed)
  sign                     skipped          -  -
  test-release-with-a-ve…  FAILED   2 min 5 s  12 (2 not passed)

  release  4.17.0-okd-scos.0
  digest   sha256:0123456789abcdef
  written  out/okd-scos
  pushed   quay.io/okd/scos-release:4.17.0-okd-scos.0@sha256:0123456789abcdef

next
  compose info out/okd-scos
  compose verify out/okd-scos --key KEY.pub
  compose diff quay.io/openshift/okd:4.15.0 out/okd-scos
";
        assert_eq!(render_summary(&record(), 64), expected);
    }

    #[test]
    fn an_unpublished_run_shows_only_its_stages() {
        let mut r = record();
        r.published = None;
        r.stages.truncate(1);
        assert_eq!(
            render_summary(&r, 80),
            "\nsummary\n  STAGE   STATUS   TIME  FINDINGS\n  select  ok      12 ms  0\n"
        );
    }

    #[test]
    fn log_lines_go_above_the_live_line_never_into_it() {
        let terminal = Terminal {
            live: true,
            line: Some((
                "stage   [2/5] swap-os (builtin:swap-os-image) …".to_string(),
                Instant::now(),
            )),
            ticking: false,
        };
        let mut screen = Vec::new();
        write_above(&mut screen, &terminal, b" INFO swapping OS image\n").unwrap();
        assert_eq!(
            String::from_utf8(screen).unwrap(),
            "\r\x1b[2K INFO swapping OS image\n\r\x1b[2Kstage   [2/5] swap-os (builtin:swap-os-image) …"
        );
        // Plain output (no terminal): the line as it is.
        let plain = Terminal {
            live: false,
            line: None,
            ticking: false,
        };
        let mut out = Vec::new();
        write_above(&mut out, &plain, b" INFO x\n").unwrap();
        assert_eq!(out, b" INFO x\n");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(850.4), "850 ms");
        assert_eq!(duration(12_340.0), "12.3 s");
        assert_eq!(duration(125_000.0), "2 min 5 s");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
