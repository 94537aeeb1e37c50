//! The sandbox: purpose-built misbehaving plugins (tests/guests) each fail with a clear error
//! naming the stage, the host survives, and the output directory is untouched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::*;

/// Builds the test guests once per test process and returns the directory of their `.wasm`.
fn guests() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = repo().join("target/wasm-guests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(repo().join("tests/guests/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building tests/guests failed");
        target.join("wasm32-wasip2/release")
    })
}

pub(crate) fn guest(name: &str) -> String {
    let path = guests().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path.display().to_string()
}

/// A stream over the sample mirror with one stage running the guest `name`.
fn stream(name: &str, stage_extra: &str) -> String {
    format!(
        r#"[stream]
name = "sandbox"
release = "4.17.0-okd-scos.0"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "misbehave"
plugin = "{}"
{stage_extra}
"#,
        repo().join("examples/mirror").display(),
        guest(name),
    )
}

/// Runs the stream and expects failure with the output directory untouched.
fn run_fails(s: &Scratch, text: &str) -> (String, Duration) {
    let file = s.write("sandbox.toml", text);
    let out = s.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("previous-release"), "keep me").unwrap();
    let before = snapshot(&out);
    let started = Instant::now();
    let o = s.compose(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let took = started.elapsed();
    let err = fails(&o);
    assert_eq!(snapshot(&out), before, "the output directory was touched");
    assert!(
        err.contains("stage `misbehave`"),
        "the error names no stage: {err}"
    );
    (err, took)
}

#[test]
fn a_well_behaved_guest_publishes_and_its_output_is_logged_with_the_stage() {
    let s = Scratch::new();
    let granted = s.path().join("granted");
    std::fs::create_dir_all(&granted).unwrap();
    std::fs::write(granted.join("data.txt"), "twelve bytes").unwrap();
    let file = s.write(
        "ok.toml",
        &stream(
            "guest-well-behaved",
            &format!(
                "config = {{ read = \"/granted/data.txt\" }}\ngrants = {{ files = [\"{}\"] }}",
                granted.display()
            ),
        ),
    );
    let out = s.path().join("out");
    let o = s.compose(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-v",
    ]);
    ok(&o);
    let log = stderr(&o);
    assert!(log.contains("hello from stdout"), "{log}");
    assert!(log.contains("misbehave"), "{log}");
    assert!(out.join("index.json").is_file());
}

#[test]
fn a_granted_directory_is_read_only() {
    let s = Scratch::new();
    let granted = s.path().join("granted");
    std::fs::create_dir_all(&granted).unwrap();
    let (err, _) = run_fails(
        &s,
        &stream(
            "guest-well-behaved",
            &format!(
                "config = {{ write = \"/granted/new.txt\" }}\ngrants = {{ files = [\"{}\"] }}",
                granted.display()
            ),
        ),
    );
    assert!(
        !granted.join("new.txt").exists(),
        "the guest wrote into a read-only grant"
    );
    assert!(err.contains("failed"), "{err}");
}

#[test]
fn reading_an_ungranted_file_fails() {
    let s = Scratch::new();
    let granted = s.path().join("granted");
    std::fs::create_dir_all(&granted).unwrap();
    std::fs::write(s.path().join("secret.txt"), "secret").unwrap();
    let (err, _) = run_fails(
        &s,
        &stream(
            "guest-escape",
            &format!(
                "config = {{ path = \"/granted/../secret.txt\" }}\ngrants = {{ files = [\"{}\"] }}",
                granted.display()
            ),
        ),
    );
    assert!(err.contains("no file access"), "{err}");
    assert!(!err.contains("read 6 bytes"), "{err}");
}

#[test]
fn a_guest_that_loops_forever_is_stopped_at_its_time_limit() {
    let s = Scratch::new();
    let (err, took) = run_fails(&s, &stream("guest-spin", "limits = { timeout = \"1s\" }"));
    assert!(err.contains("time limit of 1s"), "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_guest_that_allocates_past_its_limit_is_stopped() {
    let s = Scratch::new();
    let (err, _) = run_fails(
        &s,
        &stream("guest-balloon", "limits = { memory = \"64MiB\" }"),
    );
    assert!(err.contains("memory limit of 64 MiB"), "{err}");
}

#[test]
fn a_panicking_guest_fails_the_run_with_its_message() {
    let s = Scratch::new();
    let (err, _) = run_fails(&s, &stream("guest-panic", ""));
    assert!(err.contains("crashed"), "{err}");
    assert!(err.contains("deliberate panic"), "{err}");
}

#[test]
fn importing_the_signer_without_a_key_grant_is_refused_before_running() {
    let s = Scratch::new();
    let (err, _) = run_fails(&s, &stream("guest-sign-without-grant", ""));
    assert!(err.contains("okd:compose/signer@0.1.0"), "{err}");
    assert!(err.contains("grants.keys"), "{err}");
    let file = s.path().join("sandbox.toml");
    let o = s.compose(&["plan", file.to_str().unwrap()]);
    let plan = stdout(&o);
    assert!(plan.contains("REFUSED"), "{plan}");
}

#[test]
fn importing_the_registry_without_a_grant_is_refused_before_running() {
    let s = Scratch::new();
    let (err, _) = run_fails(&s, &stream("guest-registry-without-grant", ""));
    assert!(err.contains("okd:compose/registry@0.1.0"), "{err}");
    assert!(err.contains("grants.registry"), "{err}");
}
