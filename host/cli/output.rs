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

mod events;
mod summary;
use summary::{duration, fit, render_summary};

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
mod tests;
