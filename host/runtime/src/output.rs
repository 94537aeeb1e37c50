//! What a guest writes for people: stdout, stderr and `log` lines, under one cap per stage run.
//!
//! Everything a stage writes counts against [`OUTPUT_CAP`], in the order it is written. Past
//! the cap, output is dropped (the guest's writes still succeed: a chatty plugin is not a
//! crashed one) and one warning says how much was dropped.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Most bytes of output (stdout, stderr and `log` lines together) kept from one stage run:
/// 1 MiB. The rest is dropped, with one warning.
pub const OUTPUT_CAP: usize = 1024 * 1024;

/// How much a guest may write in one `write` call of a stream (the cap is checked per byte).
const WRITE_PERMIT: usize = 64 * 1024;

/// The output of one stage run, shared by its stdout, its stderr and its `log` calls.
#[derive(Clone)]
pub(crate) struct GuestOutput {
    captured: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Bytes counted against the cap so far.
    used: usize,
    /// Bytes dropped past the cap.
    dropped: u64,
}

impl GuestOutput {
    /// An empty output with the whole cap to spend.
    pub fn new() -> Self {
        GuestOutput {
            captured: Arc::new(Mutex::new(Captured::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A poisoned lock only means a writer panicked mid-append: the bytes are still bytes.
        self.captured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a `log` line of `len` bytes is within the cap (it is counted if so, dropped
    /// whole otherwise).
    pub fn admit_log(&self, len: usize) -> bool {
        let mut c = self.lock();
        let len = len.saturating_add(1);
        if c.used.saturating_add(len) <= OUTPUT_CAP {
            c.used += len;
            true
        } else {
            c.dropped = c.dropped.saturating_add(len as u64);
            false
        }
    }

    /// Keeps what fits of `bytes` written to stdout (or stderr) and drops the rest.
    fn write(&self, stderr: bool, bytes: &[u8]) {
        let mut c = self.lock();
        let room = OUTPUT_CAP.saturating_sub(c.used);
        let kept = bytes.len().min(room);
        c.used += kept;
        c.dropped = c.dropped.saturating_add((bytes.len() - kept) as u64);
        let buffer = if stderr { &mut c.stderr } else { &mut c.stdout };
        buffer.extend_from_slice(&bytes[..kept]);
    }

    /// The guest's stdout.
    pub fn stdout(&self) -> GuestPipe {
        GuestPipe {
            output: self.clone(),
            stderr: false,
        }
    }

    /// The guest's stderr.
    pub fn stderr(&self) -> GuestPipe {
        GuestPipe {
            output: self.clone(),
            stderr: true,
        }
    }

    /// Bytes dropped past the cap so far.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Logs every stdout and stderr line captured since the last flush, tagged with the
    /// stage, then the warning if output was dropped meanwhile; returns the last stderr lines.
    /// What was written still counts against the cap (the calls of a check in parts share
    /// one output).
    pub fn flush(&self, stage: &str, plugin: &str) -> String {
        let mut c = self.lock();
        let (stdout, stderr) = (std::mem::take(&mut c.stdout), std::mem::take(&mut c.stderr));
        let dropped = std::mem::take(&mut c.dropped);
        drop(c);
        let stdout = String::from_utf8_lossy(&stdout);
        let stderr = String::from_utf8_lossy(&stderr);
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            tracing::info!(stage, plugin, stream = "stdout", "{line}");
        }
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            tracing::warn!(stage, plugin, stream = "stderr", "{line}");
        }
        if dropped > 0 {
            tracing::warn!(
                stage,
                plugin,
                dropped,
                "the stage wrote more than its output cap of {} MiB (stdout, stderr and log lines together): the remaining {} bytes were dropped",
                OUTPUT_CAP >> 20,
                dropped
            );
        }
        let last: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(3)
            .collect();
        last.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

/// The guest's stdout or stderr: never full, never closed.
#[derive(Clone)]
pub(crate) struct GuestPipe {
    output: GuestOutput,
    stderr: bool,
}

impl IsTerminal for GuestPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.output.write(self.stderr, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.output.write(self.stderr, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_stderr_and_log_lines_share_one_cap() {
        let output = GuestOutput::new();
        let mut stdout = output.stdout();
        let mut stderr = output.stderr();
        let half = vec![b'a'; OUTPUT_CAP / 2];
        assert!(stdout.write(Bytes::from(half.clone())).is_ok());
        assert!(output.admit_log(OUTPUT_CAP / 4));
        assert!(stderr.write(Bytes::from(half)).is_ok());
        // Full: a log line is dropped whole, writes still succeed and are dropped.
        assert!(!output.admit_log(10));
        assert!(stdout.write(Bytes::from_static(b"more")).is_ok());
        assert_eq!(stdout.check_write().ok(), Some(WRITE_PERMIT));
        let c = output.lock();
        assert_eq!(c.used, OUTPUT_CAP);
        assert_eq!(
            c.stdout.len() + c.stderr.len() + OUTPUT_CAP / 4 + 1,
            OUTPUT_CAP
        );
        drop(c);
        // The stderr write kept what fitted; the rest, the log line and `more` were dropped.
        let expected = (OUTPUT_CAP / 2 - (OUTPUT_CAP / 4 - 1)) as u64 + 11 + 4;
        assert_eq!(output.dropped(), expected);
    }

    #[test]
    fn a_flush_takes_what_was_written_since_the_last_and_the_cap_stays_spent() {
        let output = GuestOutput::new();
        let mut stderr = output.stderr();
        assert!(stderr.write(Bytes::from_static(b"first call\n")).is_ok());
        assert_eq!(output.flush("s", "p"), "first call");
        assert!(stderr.write(Bytes::from_static(b"second call\n")).is_ok());
        assert_eq!(output.flush("s", "p"), "second call");
        assert_eq!(output.flush("s", "p"), "");
        // The next call of the same stage has what is left of the one cap.
        assert_eq!(output.lock().used, 23);
        assert!(!output.admit_log(OUTPUT_CAP - 23));
        assert!(output.admit_log(OUTPUT_CAP - 24));
    }
}
