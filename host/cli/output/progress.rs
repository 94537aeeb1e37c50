//! Registry reads ahead and pushes on the live line of a terminal: images read of the total,
//! blobs and bytes pushed. Only installed on a live terminal ([`super::Output::registry_progress`]);
//! CI, pipes and `--json` keep their plain lines.

use compose_registry::{Progress, PushProgress};

/// Draws registry progress on the live line (see [`super::show_live_line`]).
pub(super) struct RegistryProgress;

impl Progress for RegistryProgress {
    fn images_read(&self, registry: &str, done: usize, total: usize) {
        super::show_live_line(&fit_to_terminal(&read_line(registry, done, total)), true);
    }

    fn pushing(&self, target: &str, state: PushProgress) {
        super::show_live_line(&fit_to_terminal(&push_line(target, state)), true);
    }

    fn finished(&self) {
        super::clear_live();
    }
}

/// The terminal's width: `$COLUMNS`, else 80.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(80)
}

/// `line` cut to the terminal's width, leaving room for the ticking seconds: a live line that
/// wraps could not be drawn again in place.
fn fit_to_terminal(line: &str) -> String {
    super::fit(line, terminal_width().saturating_sub(6).max(20))
}

/// The live line of a read ahead: `registry reading images from HOST: 120/188`.
pub(super) fn read_line(registry: &str, done: usize, total: usize) -> String {
    format!("registry reading images from {registry}: {done}/{total}")
}

/// The live line of a push: `push    TARGET: 3/4 blobs, 60 KiB of at most 84 KiB`.
pub(super) fn push_line(target: &str, state: PushProgress) -> String {
    format!(
        "push    {target}: {}/{} blobs, {} of at most {}",
        state.blobs_done,
        state.blobs,
        size(state.bytes),
        size(state.total_bytes)
    )
}

/// A byte count for people: `512 B`, `84 KiB`, `12.5 MiB`, `1.2 GiB`.
fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{} KiB", bytes.div_ceil(1024))
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::output::{Output, Terminal, fit, write_above};

    #[test]
    fn reads_and_pushes_render_at_a_fixed_width() {
        assert_eq!(
            read_line("127.0.0.1:5000", 120, 188),
            "registry reading images from 127.0.0.1:5000: 120/188"
        );
        let state = PushProgress {
            blobs_done: 3,
            blobs: 4,
            bytes: 61_000,
            total_bytes: 86_000,
        };
        let line = push_line("127.0.0.1:5000/okd/scos-release:4.17.0-okd-scos.0", state);
        assert_eq!(
            line,
            "push    127.0.0.1:5000/okd/scos-release:4.17.0-okd-scos.0: 3/4 blobs, 60 KiB of at most 84 KiB"
        );
        // Cut to a 60-column terminal, it stays one line.
        assert_eq!(
            fit(&line, 60),
            "push    127.0.0.1:5000/okd/scos-release:4.17.0-okd-scos.0: …"
        );
        assert_eq!(size(900), "900 B");
        assert_eq!(size(13 << 20), "13.0 MiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn log_lines_go_above_a_progress_line() {
        let terminal = Terminal {
            live: true,
            line: Some((
                read_line("127.0.0.1:5000", 7, 188),
                std::time::Instant::now(),
            )),
            ticking: false,
        };
        let mut screen = Vec::new();
        write_above(&mut screen, &terminal, b" WARN slow registry\n").unwrap();
        assert_eq!(
            String::from_utf8(screen).unwrap(),
            "\r\x1b[2K WARN slow registry\n\r\x1b[2Kregistry reading images from 127.0.0.1:5000: 7/188"
        );
    }

    #[test]
    fn no_progress_off_a_terminal() {
        // `--json`, or stderr not a terminal (a pipe, as under `cargo test` in CI): reads and
        // pushes report nothing, so the plain lines stay as they are.
        assert!(Output::new(true).registry_progress().is_none());
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            assert!(Output::new(false).registry_progress().is_none());
        }
    }
}
