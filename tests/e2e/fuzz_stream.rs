//! Fuzzing `streams/scos.toml`: a few hundred deterministic mutations (lines deleted,
//! duplicated and swapped, values of other types, bytes inserted, truncation, deep nesting,
//! huge values, mistyped keys). Each must be accepted, or refused with exit 1 and a
//! `file:line:column`, never a crash or a hang, each within a bounded time. Every mutation is
//! validated in-process through `compose_stream::load`; a seeded subset also runs through the
//! binary (`validate`, and `plan` for a few), which adds the stock plugins' config schemas.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// How many mutations are validated in-process.
const MUTATIONS: usize = 400;
/// Every how many-th mutation also runs `compose validate`.
const BINARY_EVERY: usize = 4;
/// Every how many-th mutation also runs `compose plan`.
const PLAN_EVERY: usize = 20;
/// The longest one in-process validation may take.
const IN_PROCESS_LIMIT: Duration = Duration::from_secs(3);
/// The longest one run of the binary may take.
const BINARY_LIMIT: Duration = Duration::from_secs(30);

/// SplitMix64: a small, seeded, deterministic generator (no dependency, same cases every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values of every TOML type, and some that are not TOML.
const VALUES: &[&str] = &[
    "42",
    "-1",
    "3.14",
    "nan",
    "true",
    "\"\"",
    "\"text\"",
    "\"UPPER case\"",
    "[]",
    "[1, \"a\"]",
    "{}",
    "{ x = 1 }",
    "1979-05-27T07:32:00Z",
    "2024-02-30T00:00:00Z",
    "\"oci:/\"",
    "\"/\"",
    "\"../../..\"",
    "\"env:\"",
    "\"0s\"",
    "\"99999999999999999999GiB\"",
    "'''multi\nline'''",
    "\"unterminated",
    "",
];

/// Byte strings inserted at random places.
const BYTES: &[&[u8]] = &[
    b"\xff",
    b"\xc3\x28",
    b"\0",
    b"[",
    b"]",
    b"\"",
    b"=",
    b"\n",
    b"[[stage]]\n",
    b"[stream]\n",
    b"\\u0000",
    b"\r",
    b"#",
    b"{",
    b".",
];

/// One mutation of `base`, chosen by `rng`; returns its bytes and a name for messages.
fn mutate(base: &str, rng: &mut Rng, case: usize) -> (Vec<u8>, String) {
    let lines: Vec<&str> = base.lines().collect();
    let n = lines.len();
    let join = |lines: &[String]| {
        let mut text = lines.join("\n");
        text.push('\n');
        text.into_bytes()
    };
    let owned = || lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    // The lines that set a value (`key = value`), where most interesting mutations go.
    let assignments: Vec<usize> = (0..n)
        .filter(|&i| {
            let l = lines[i].trim_start();
            !l.starts_with('#') && l.contains(" = ")
        })
        .collect();
    if n == 0 || assignments.is_empty() {
        let mut bytes = base.as_bytes().to_vec();
        bytes.push(b'[');
        return (bytes, "append `[`".to_string());
    }
    let kind = case % 11;
    match kind {
        0 => {
            let mut l = owned();
            let i = rng.below(n);
            l.remove(i);
            (join(&l), format!("delete line {}", i + 1))
        }
        1 => {
            let mut l = owned();
            let i = rng.below(n);
            l.insert(i, l[i].clone());
            (join(&l), format!("duplicate line {}", i + 1))
        }
        2 => {
            let mut l = owned();
            let (i, j) = (rng.below(n), rng.below(n));
            l.swap(i, j);
            (join(&l), format!("swap lines {} and {}", i + 1, j + 1))
        }
        3 | 4 => {
            let mut l = owned();
            let i = *rng.pick(&assignments);
            let value = *rng.pick(VALUES);
            let key = l[i].split(" = ").next().unwrap_or_default().to_string();
            l[i] = format!("{key} = {value}");
            (join(&l), format!("line {}: `{key} = {value}`", i + 1))
        }
        5 => {
            let mut bytes = base.as_bytes().to_vec();
            let at = rng.below(bytes.len());
            let insert = *rng.pick(BYTES);
            bytes.splice(at..at, insert.iter().copied());
            (bytes, format!("insert {insert:?} at byte {at}"))
        }
        6 => {
            let at = rng.below(base.len());
            (
                base.as_bytes()[..at].to_vec(),
                format!("truncate at byte {at}"),
            )
        }
        7 => {
            let mut l = owned();
            let i = *rng.pick(&assignments);
            let depth = [10, 79, 81, 200, 5_000][rng.below(5)];
            let key = l[i].split(" = ").next().unwrap_or_default().to_string();
            let value = match rng.below(3) {
                0 => format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
                1 => format!("{}1{}", "{ a = ".repeat(depth), " }".repeat(depth)),
                _ => {
                    l.insert(i, format!("{}x = 1", "a.".repeat(depth)));
                    "\"x\"".to_string()
                }
            };
            let at = l.iter().position(|x| x.starts_with(&key)).unwrap_or(i);
            l[at] = format!("{key} = {value}");
            (join(&l), format!("line {}: nesting {depth} deep", i + 1))
        }
        8 => {
            let mut l = owned();
            let i = *rng.pick(&assignments);
            let size = [1 << 10, 1 << 20, 12 << 20][rng.below(3)];
            let key = l[i].split(" = ").next().unwrap_or_default().to_string();
            let c = *rng.pick(&['x', 'X', '/', '9', 'é']);
            l[i] = format!("{key} = \"{}\"", c.to_string().repeat(size));
            (join(&l), format!("line {}: {size}-character value", i + 1))
        }
        9 => {
            let mut l = owned();
            let i = *rng.pick(&assignments);
            let line = l[i].clone();
            let (key, value) = line.split_once(" = ").unwrap_or((line.as_str(), ""));
            let key = key.trim_end();
            let mistyped = match rng.below(3) {
                0 => format!("{key}z"),
                1 => key.replace('-', "_"),
                _ => key.to_uppercase(),
            };
            l[i] = format!("{mistyped} = {value}");
            (join(&l), format!("line {}: key `{mistyped}`", i + 1))
        }
        _ => {
            // Several mutations at once.
            let first_kind = case / 11 * 11 + rng.below(10);
            let (first, a) = mutate(base, rng, first_kind);
            let text = String::from_utf8_lossy(&first).into_owned();
            let second_kind = rng.below(10);
            let (second, b) = mutate(&text, rng, second_kind);
            (second, format!("{a}, then {b}"))
        }
    }
}

/// A copy of `streams/` the mutated files can sit in: relative paths (`overlays/scos`,
/// `oci:../examples/mirror`) resolve as they do in the repository.
fn stream_dir(s: &Scratch) -> PathBuf {
    let streams = s.path().join("streams");
    copy_dir(&repo().join("streams/overlays"), &streams.join("overlays"));
    std::fs::create_dir_all(s.path().join("examples")).unwrap();
    std::os::unix::fs::symlink(
        repo().join("examples/mirror"),
        s.path().join("examples/mirror"),
    )
    .unwrap();
    streams
}

/// Whether `text` points at `file:line:column` of the stream.
fn located(text: &str, file: &Path) -> bool {
    let name = file.file_name().unwrap().to_string_lossy();
    text.match_indices(&format!("{name}:")).any(|(i, m)| {
        let rest = &text[i + m.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or_default();
        let column = parts.next().unwrap_or_default();
        !line.is_empty()
            && line.chars().all(|c| c.is_ascii_digit())
            && !column.is_empty()
            && column.chars().all(|c| c.is_ascii_digit())
    })
}

/// Runs the binary with a deadline: the process is killed, and the test fails, past it.
fn run_bounded(s: &Scratch, args: &[&str], limit: Duration) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(args)
        .current_dir(repo())
        .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
        .env("HOME", s.path())
        .env("CI", "true")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut std::io::BufReader::new(stderr), &mut text).unwrap();
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("`compose {}` hung past {limit:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.signal().is_none(),
        "`compose {}` was killed by signal {:?}:\n{}",
        args.join(" "),
        status.signal(),
        clip(&text)
    );
    (status.code(), text, started.elapsed())
}

/// At most a few kilobytes of `text`, for assertion messages.
fn clip(text: &str) -> String {
    text.chars().take(3_000).collect()
}

#[test]
fn hundreds_of_mutated_streams_are_refused_with_a_place_or_accepted() {
    let s = Scratch::new();
    let streams = stream_dir(&s);
    let base = std::fs::read_to_string(repo().join("streams/scos.toml")).unwrap();
    let options = compose_stream::LoadOptions {
        builtins: compose_builtins::all()
            .iter()
            .map(|b| b.name.to_string())
            .collect(),
    };
    // The first run compiles the stock plugins into the scratch cache; the others reuse it.
    let (code, text, warm_up) = run_bounded(
        &s,
        &[
            "validate",
            repo().join("streams/scos.toml").to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    assert_eq!(code, Some(0), "{}", clip(&text));
    let started = Instant::now();
    let mut rng = Rng(0x5c05_2024);
    let (mut refused, mut accepted, mut through_binary) = (0, 0, 0);
    let mut slowest = Duration::ZERO;
    for case in 0..MUTATIONS {
        let (bytes, what) = mutate(&base, &mut rng, case);
        let file = streams.join(format!("m{case}.toml"));
        std::fs::write(&file, &bytes).unwrap();

        let t = Instant::now();
        let result = compose_stream::load(&file, &options);
        let took = t.elapsed();
        slowest = slowest.max(took);
        assert!(
            took < IN_PROCESS_LIMIT,
            "case {case} ({what}) took {took:?} to validate"
        );
        match &result {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused += 1;
                let text = e.to_string();
                assert!(
                    located(&text, &file),
                    "case {case} ({what}) is refused without file:line:column:\n{}",
                    clip(&text)
                );
                assert!(
                    text.len() < 64 << 10,
                    "case {case} ({what}): {} bytes of errors",
                    text.len()
                );
            }
        }

        if case % BINARY_EVERY == 0 {
            through_binary += 1;
            let path = file.to_str().unwrap();
            let mut verbs = vec!["validate"];
            if case % PLAN_EVERY == 0 {
                verbs.push("plan");
            }
            for verb in verbs {
                let (code, text, _) = run_bounded(&s, &[verb, path], BINARY_LIMIT);
                match code {
                    Some(0) => assert!(
                        result.is_ok(),
                        "case {case} ({what}): `{verb}` passed what the library refused"
                    ),
                    Some(1 | 2) => assert!(
                        located(&text, &file),
                        "case {case} ({what}): `{verb}` refused without file:line:column:\n{}",
                        clip(&text)
                    ),
                    other => panic!(
                        "case {case} ({what}): `{verb}` exited {other:?}:\n{}",
                        clip(&text)
                    ),
                }
            }
        }
        std::fs::remove_file(&file).unwrap();
    }
    eprintln!(
        "{MUTATIONS} mutations: {refused} refused, {accepted} accepted, {through_binary} \
         through the binary; slowest in-process {slowest:?}; {:?} in all after a {warm_up:?} \
         warm-up",
        started.elapsed()
    );
    assert!(
        refused > MUTATIONS / 2,
        "only {refused} of {MUTATIONS} mutations were refused: the mutations are too weak"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
}
