//! Snapshot tests of what compose prints: every command's help, and the plain (non-terminal)
//! output and main errors of `validate`, `plan`, `run`, `info`, `diff`, `verify`, `lock`,
//! `export tekton` and `plugin new`, each as a whole transcript (the command, its exit code,
//! stdout and stderr) in `tests/e2e/snapshots/`, so a reviewer reads the full text a user
//! sees. What varies between runs (the scratch directory, the repository's path, digests,
//! key fingerprints, times) is redacted first (see [`redact`]).
//!
//! The library is `insta` (as uv uses) rather than `snapbox`/`trycmd` (as cargo uses): without
//! its default features it builds only `similar` and `once_cell` on top of what the lock file
//! already has, a snapshot is one readable file per message, and `INSTA_UPDATE=always`
//! rewrites every changed snapshot in one run, no extra tool needed (README, Testing).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use insta::assert_snapshot;
use regex::Regex;

use crate::support::*;

const BASE: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";

/// `text` with what varies between runs replaced by a placeholder: the scratch directory
/// (`[SCRATCH]`), the repository (`[REPO]`), `sha256:` digests (`sha256:[DIGEST]`), other runs
/// of 40 or more hex digits (`[HEX]`: commits, fingerprints, digests in file names), 16-digit
/// OpenPGP key IDs (`[KEYID]`) and durations (`[TIME]`: `12 ms`, `3.4 ms`, `1.5 s`,
/// `2 min 5 s`).
pub fn redact(scratch: &Path, text: &str) -> String {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    static DIGEST: OnceLock<Regex> = OnceLock::new();
    static HEX: OnceLock<Regex> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (r"\b[0-9A-F]{16}\b", "[KEYID]"),
            (r"\b\d+ min \d+ s\b", "[TIME]"),
            (r"\b\d+(\.\d+)? ms\b", "[TIME]"),
            (r"\b\d+\.\d+ s\b", "[TIME]"),
        ]
        .into_iter()
        .map(|(re, with)| (Regex::new(re).unwrap(), with))
        .collect()
    });
    let mut text = text
        .replace(scratch.to_str().unwrap(), "[SCRATCH]")
        .replace(repo().to_str().unwrap(), "[REPO]");
    let digest = DIGEST.get_or_init(|| Regex::new(r"sha256:[0-9a-f]{64}\b").unwrap());
    text = digest.replace_all(&text, "sha256:[DIGEST]").into_owned();
    // Hex, not a long number a test wrote.
    let hex = HEX.get_or_init(|| Regex::new(r"\b[0-9a-fA-F]{40,}\b").unwrap());
    text = hex
        .replace_all(&text, |c: &regex::Captures| {
            let run = &c[0];
            if run.bytes().all(|b| b.is_ascii_digit()) {
                run.to_string()
            } else {
                "[HEX]".to_string()
            }
        })
        .into_owned();
    for (re, with) in rules {
        text = re.replace_all(&text, *with).into_owned();
    }
    text
}

#[test]
fn redact_hides_what_varies_and_nothing_else() {
    let scratch = Path::new("/tmp/.tmpAbC");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let text = format!(
        "{digest} in /tmp/.tmpAbC/out from {}/streams: {} key 0123456789ABCDEF in 12.5 ms, \
         1.5 s, 2 min 5 s; 3 images, 30s, 120ms, 4.17.0-okd-scos.0, abcdef, {}",
        repo().display(),
        "f".repeat(40),
        "7".repeat(40)
    );
    let sevens = "7".repeat(40);
    assert_eq!(
        redact(scratch, &text),
        format!(
            "sha256:[DIGEST] in [SCRATCH]/out from [REPO]/streams: [HEX] key [KEYID] in [TIME], \
             [TIME], [TIME]; 3 images, 30s, 120ms, 4.17.0-okd-scos.0, abcdef, {sevens}"
        )
    );
}

/// The whole of what a command printed, redacted: `$ compose ARGS`, its exit code, then
/// stdout and stderr.
pub fn transcript(scratch: &Path, args: &[&str], out: &Output) -> String {
    let code = out
        .status
        .code()
        .map_or_else(|| format!("{:?}", out.status), |c| c.to_string());
    redact(
        scratch,
        &format!(
            "$ compose {}\nexit: {code}\n--- stdout\n{}--- stderr\n{}",
            args.join(" "),
            stdout(out),
            stderr(out)
        ),
    )
}

/// Runs `compose ARGS` in `dir` and returns its transcript.
fn run_in(s: &Scratch, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    transcript(s.path(), args, &compose_in(s, dir, args, env))
}

/// The subcommands a help text lists (`help` aside).
fn subcommands(help: &str) -> Vec<String> {
    let Some(at) = help.find("\nCommands:\n") else {
        return Vec::new();
    };
    help[at + 11..]
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn help_of_every_command() {
    let s = Scratch::new();
    let mut queue = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(command) = queue.pop() {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let out = s.compose(&args);
        ok(&out);
        let help = stdout(&out);
        for sub in subcommands(&help) {
            let mut next = command.clone();
            next.push(sub);
            queue.push(next);
        }
        let name = if command.is_empty() {
            "help".to_string()
        } else {
            format!("help_{}", command.join("_"))
        };
        assert_snapshot!(name, transcript(s.path(), &args, &out));
        seen += 1;
    }
    // compose, its 13 commands, plugin's 4 and keys' and export's and image's one each.
    assert!(seen >= 21, "{seen} help texts");
}

/// A stream keeping `images` of the base release as release `release`.
fn tiny_stream(s: &Scratch, file: &str, release: &str, images: &[&str]) -> PathBuf {
    s.write(
        file,
        &format!(
            r#"[stream]
name = "tiny"
release = "{release}"
from = "{BASE}"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "select"
plugin = "select-images"
grants = {{ registry = ["quay.io/openshift/*"] }}

[stage.config]
include = {images:?}
"#,
            repo().join("examples/mirror").display()
        ),
    )
}

/// Runs a tiny stream into `SCRATCH/NAME` and returns that directory.
fn tiny_release(s: &Scratch, name: &str, release: &str, images: &[&str]) -> PathBuf {
    let stream = tiny_stream(s, &format!("{name}.toml"), release, images);
    let out = s.path().join(name);
    ok(&s.compose(&[
        "run",
        stream.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    out
}

#[test]
fn validate_plan_and_run_of_the_sample_stream() {
    let s = Scratch::new();
    let repo = repo();
    let out = s.path().join("out");
    let out = out.to_str().unwrap();
    assert_snapshot!(
        "validate_ok",
        run_in(&s, &repo, &["validate", "streams/scos.toml"], &[])
    );
    assert_snapshot!(
        "plan",
        run_in(&s, &repo, &["plan", "streams/scos.toml"], &[])
    );
    assert_snapshot!(
        "run_plain",
        run_in(&s, &repo, &["run", "streams/scos.toml", "--out", out], &[])
    );
}

#[test]
fn info_of_a_release_and_its_oc_options() {
    let s = Scratch::new();
    let out = tiny_release(
        &s,
        "tiny",
        "4.17.0-okd-tiny.0",
        &["cluster-version-operator", "cli", "tests"],
    );
    let out = out.to_str().unwrap();
    // `--commits` and `--commit-urls`: see cli.rs.
    for (name, args) in [
        ("info_plain", &["info", out][..]),
        ("info_json", &["info", out, "-o", "json"]),
        ("info_image_for", &["info", out, "--image-for", "cli"]),
        ("info_pullspecs", &["info", out, "--pullspecs"]),
        (
            "info_unknown_tag",
            &["info", out, "--image-for", "no-such-tag"],
        ),
    ] {
        assert_snapshot!(name, run_in(&s, &repo(), args, &[]));
    }
}

/// Two releases of the same name, one with `installer` instead of `tests`: the images differ,
/// and no manifest (the release name is in many).
#[test]
fn diff_of_two_releases() {
    let s = Scratch::new();
    let a = tiny_release(
        &s,
        "a",
        "4.17.0-okd-tiny.0",
        &["cluster-version-operator", "cli", "tests"],
    );
    let b = tiny_release(
        &s,
        "b",
        "4.17.0-okd-tiny.0",
        &["cluster-version-operator", "cli", "installer"],
    );
    assert_snapshot!(
        "diff",
        run_in(
            &s,
            &repo(),
            &["diff", a.to_str().unwrap(), b.to_str().unwrap()],
            &[]
        )
    );
}

/// A tiny stream signed by `key` (a private key file), granted to its `sign` stage.
fn signed_stream(s: &Scratch, key: &str) -> PathBuf {
    let text = std::fs::read_to_string(tiny_stream(
        s,
        "unsigned.toml",
        "4.17.0-okd-tiny.0",
        &["cluster-version-operator", "cli"],
    ))
    .unwrap();
    s.write(
        "signed.toml",
        &format!(
            "{text}
[keys.release]
private-key = \"{key}\"
passphrase = \"env:TEST_PASSPHRASE\"

[[stage]]
name = \"sign\"
plugin = \"sign\"
grants = {{ keys = [\"release\"] }}
config = {{ key = \"release\" }}
"
        )
        .replacen(
            "[stream]\n",
            "[stream]\nto = \"quay.io/okd/tiny-release:4.17.0-okd-tiny.0\"\n\
             signature-store = \"file:///var/lib/tiny/signatures\"\n",
            1,
        ),
    )
}

#[test]
fn verify_accepts_its_key_and_refuses_another() {
    let s = Scratch::new();
    let keys = crate::signing::keys();
    let stream = signed_stream(&s, &keys.str("release.priv.asc"));
    let out = s.path().join("out");
    let out = out.to_str().unwrap();
    // The signature's time is the build time: fixed, for the same text every run.
    let env = [
        ("TEST_PASSPHRASE", "correct horse"),
        ("SOURCE_DATE_EPOCH", "1700000000"),
    ];
    // The keys live outside the scratch directory: shown by name only.
    let key = |name: &str| keys.str(name);
    let hide_keys = |text: String| text.replace(&key(""), "[KEYS]/");
    assert_snapshot!(
        "run_signed",
        hide_keys(run_in(
            &s,
            &repo(),
            &["run", stream.to_str().unwrap(), "--out", out],
            &env
        ))
    );
    let release = key("release.pub.asc");
    let other = key("other.pub.asc");
    assert_snapshot!(
        "verify_ok",
        hide_keys(run_in(
            &s,
            &repo(),
            &["verify", out, "--key", &release],
            &[]
        ))
    );
    assert_snapshot!(
        "verify_refused",
        hide_keys(run_in(&s, &repo(), &["verify", out, "--key", &other], &[]))
    );
    let missing = s.path().join("missing.pub");
    assert_snapshot!(
        "verify_missing_key",
        run_in(
            &s,
            &repo(),
            &["verify", out, "--key", missing.to_str().unwrap()],
            &[]
        )
    );
}

#[test]
fn a_missing_key_file_and_a_refused_output_are_errors() {
    let s = Scratch::new();
    let stream = signed_stream(&s, "keys/missing.priv.asc");
    let out = s.path().join("out");
    let out_str = out.to_str().unwrap();
    assert_snapshot!(
        "run_missing_key_file",
        run_in(
            &s,
            &repo(),
            &["run", stream.to_str().unwrap(), "--out", out_str],
            &[("TEST_PASSPHRASE", "x")]
        )
    );
    assert!(!out.exists(), "nothing is written");

    // An output directory holding files compose did not write.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let unsigned = s.path().join("unsigned.toml");
    assert_snapshot!(
        "run_out_refused",
        run_in(
            &s,
            &repo(),
            &["run", unsigned.to_str().unwrap(), "--out", out_str],
            &[]
        )
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn lock_and_export_tekton() {
    let s = crate::tekton::workspace();
    let here = s.path().to_path_buf();
    assert_snapshot!(
        "lock",
        run_in(&s, &here, &["lock", "streams/scos.toml"], &[])
    );
    let lock = std::fs::read_to_string(here.join("streams/scos.lock")).unwrap();
    assert_snapshot!("lock_file", redact(&here, &lock));
    let args = [
        "export",
        "tekton",
        "streams/scos.toml",
        "--image",
        "ghcr.io/okd-project/compose:snapshot",
    ];
    let out = compose_in(&s, &here, &args, &[]);
    ok(&out);
    // The head of the Pipeline: its name, parameters and workspaces.
    let yaml = stdout(&out);
    let head: String = yaml.lines().take(40).map(|l| format!("{l}\n")).collect();
    assert_snapshot!("export_tekton_head", redact(&here, &head));
}

#[test]
fn plugin_new_says_what_it_wrote() {
    let s = Scratch::new();
    let dir = s.path().join("stamp-release");
    assert_snapshot!(
        "plugin_new_rust",
        run_in(
            &s,
            s.path(),
            &[
                "plugin",
                "new",
                "--lang",
                "rust",
                "stamp-release",
                "--dir",
                dir.to_str().unwrap()
            ],
            &[]
        )
    );
    assert_snapshot!(
        "plugin_new_bad_name",
        run_in(
            &s,
            s.path(),
            &["plugin", "new", "--lang", "rust", "Bad_Name"],
            &[]
        )
    );
}
