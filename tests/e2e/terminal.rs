//! What a person sees on a terminal: `compose run` in a pseudo-terminal (util-linux `script`),
//! its live lines (plugin compiles, the running stage) and the end-of-run summary, snapshotted
//! in `tests/e2e/snapshots/` (see `messages.rs` for the library and the redactions).
//!
//! The bytes written to the terminal are replayed as a screen log (see [`screen`]): every
//! line that stays on screen, and every live line that was drawn and then cleared, marked
//! `~`, without the ticking clock of a live line, which depends on the machine's speed.

use insta::assert_snapshot;
use regex::Regex;

use crate::messages::redact;
use crate::support::*;

/// Runs `compose ARGS` from the repository root on a pseudo-terminal `columns` wide, outside
/// CI and without colours, with this scratch's plugin cache (empty at first), and returns
/// what it wrote to the terminal (stdout and stderr, as the terminal shows them).
fn on_a_terminal(s: &Scratch, args: &[&str], columns: u16) -> (bool, Vec<u8>) {
    on_a_terminal_with_ci(s, args, columns, "false")
}

/// [`on_a_terminal`] with the `CI` variable set to `ci`.
fn on_a_terminal_with_ci(s: &Scratch, args: &[&str], columns: u16, ci: &str) -> (bool, Vec<u8>) {
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let mut line = quote(env!("CARGO_BIN_EXE_compose"));
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let mut command = tool("script");
    command
        .args(["--quiet", "--return", "--echo", "never", "--command"])
        .arg(&line)
        .arg("/dev/null")
        .current_dir(repo())
        .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
        .env("HOME", s.path())
        .env("CI", ci)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("COLUMNS", columns.to_string());
    without_host_env(&mut command);
    let out = command.output().unwrap();
    assert!(
        out.stderr.is_empty(),
        "script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), out.stdout)
}

/// Replays terminal output as a screen log: a line ended by a newline stays (as it is); a
/// line cleared by `\r ESC[2K` before its end was a live line (`~ TEXT`, its clock `Ns`
/// removed, the same live line drawn again in a row shown once).
fn screen(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    let clock = Regex::new(r" \d+s$").unwrap();
    let mut log: Vec<String> = Vec::new();
    let mut last_live: Option<String> = None;
    let mut current = String::new();
    let mut rest = text.as_str();
    loop {
        let clear = rest.find("\r\x1b[2K");
        let newline = rest.find('\n');
        match (clear, newline) {
            (Some(c), n) if n.is_none_or(|n| c < n) => {
                current.push_str(&rest[..c]);
                rest = &rest[c + "\r\x1b[2K".len()..];
                if !current.is_empty() {
                    let live = format!("~ {}", clock.replace(&current, ""));
                    if last_live.as_ref() != Some(&live) {
                        log.push(live.clone());
                        last_live = Some(live);
                    }
                }
                current.clear();
            }
            (_, Some(n)) => {
                current.push_str(&rest[..n]);
                rest = &rest[n + 1..];
                log.push(std::mem::take(&mut current));
                last_live = None;
            }
            (_, None) => {
                current.push_str(rest);
                if !current.is_empty() {
                    log.push(format!("~ {current}"));
                }
                break;
            }
        }
    }
    let mut out = log.join("\n");
    out.push('\n');
    assert!(!out.contains('\x1b'), "an escape sequence is left: {out:?}");
    out
}

#[test]
fn screen_replays_live_lines_and_keeps_lines() {
    let bytes =
        b"\r\x1b[2Kplugin compiling x \xe2\x80\xa6\r\x1b[2Kplugin compiling x \xe2\x80\xa6 1s\
\r\x1b[2Kplugin compiled x\r\n\r\x1b[2Kstage [1/2] a \xe2\x80\xa6\r\x1b[2K INFO log\r\n\
\r\x1b[2Kstage [1/2] a \xe2\x80\xa6\r\x1b[2Kstage a: ok\r\ndone\r\n";
    assert_eq!(
        screen(bytes),
        "~ plugin compiling x …\nplugin compiled x\n~ stage [1/2] a …\n INFO log\n\
         ~ stage [1/2] a …\nstage a: ok\ndone\n"
    );
}

/// The screen log redacted (see `redact`), and in the summary's table every run of spaces
/// between cells made two: the widths of its right-aligned TIME column depend on the
/// durations. (host/cli/output.rs's unit tests pin the table's alignment with fixed
/// durations.)
fn redact_screen(s: &Scratch, text: &str) -> String {
    let text = redact(s.path(), text);
    let cells = Regex::new(r"(\S) {2,}").unwrap();
    let mut out = String::new();
    let mut in_table = false;
    for line in text.lines() {
        if line == "summary" {
            in_table = true;
        } else if line.is_empty() {
            in_table = false;
        }
        if in_table {
            out.push_str(&cells.replace_all(line, "$1  "));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[test]
fn a_run_on_a_terminal_shows_live_lines_and_ends_with_a_summary() {
    let s = Scratch::isolated();
    let out = s.path().join("out");
    let (success, bytes) = on_a_terminal(
        &s,
        &["run", "streams/scos.toml", "--out", out.to_str().unwrap()],
        72,
    );
    let text = screen(&bytes);
    assert!(success, "{text}");
    assert_snapshot!("terminal_run", redact_screen(&s, &text));
}

/// Under CI (`CI=true`), even on a terminal, the output is plain lines: no live line is drawn
/// and cleared.
#[test]
fn under_ci_a_terminal_gets_plain_lines() {
    let s = Scratch::new();
    let out = s.path().join("out");
    let (success, bytes) = on_a_terminal_with_ci(
        &s,
        &["run", "streams/scos.toml", "--out", out.to_str().unwrap()],
        72,
        "true",
    );
    let text = String::from_utf8_lossy(&bytes);
    assert!(success, "{text}");
    assert!(!text.contains("\x1b[2K"), "a live line was drawn: {text:?}");
    assert!(text.contains("stage   select: ok"), "{text}");
    // The same run outside CI draws live lines.
    let (success, bytes) = on_a_terminal(
        &s,
        &["run", "streams/scos.toml", "--out", out.to_str().unwrap()],
        72,
    );
    assert!(success);
    assert!(String::from_utf8_lossy(&bytes).contains("\x1b[2K"));
}
