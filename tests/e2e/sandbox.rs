//! The sandbox: purpose-built misbehaving plugins (tests/guests) each fail with a clear error
//! naming the stage, the host survives, and the output directory is untouched.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::*;

/// Builds the test guests once per test process and returns the directory of their `.wasm`.
fn guests() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = repo().join("target/wasm-guests");
        let status = crate::support::cargo()
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
    previous_output(&out);
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
    // `-vv` logs the memory peak of each stage that runs (the guide says so, for sizing
    // `limits.memory`); `--no-cache`, or the stage would be reused from the run above.
    let o = s.compose(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-cache",
        "-vv",
    ]);
    ok(&o);
    let log = stderr(&o);
    assert!(
        log.lines()
            .any(|l| l.contains("stage finished") && l.contains("memory_peak=")),
        "{log}"
    );
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

/// A stage sees no environment variable and no argument of the process that runs it, and
/// cannot open a network connection, not even to a port listening on loopback.
#[test]
fn a_guest_has_no_environment_and_no_network() {
    let s = Scratch::new();
    let listener = Unreached::listen();
    let address = listener.address.clone();
    let file = s.write(
        "sandbox.toml",
        &stream(
            "guest-escape",
            &format!("config = {{ connect = \"{address}\" }}"),
        ),
    );
    let out = s.path().join("out");
    let o = compose_run(
        &s,
        (&file, &out),
        false,
        &[],
        &[("COMPOSE_TEST_SECRET", "must-not-reach-a-stage")],
    );
    let err = fails(&o);
    assert!(err.contains("no file access"), "{err}");
    assert!(
        err.contains("environment: 0 variables, 0 arguments"),
        "{err}"
    );
    assert!(
        err.contains(&format!("network: cannot connect to {address}")),
        "{err}"
    );
    assert!(!err.contains("connected to"), "{err}");
    listener.check();
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

/// Granted one key, a stage asking the host to sign with another gets an error naming the
/// key and the stage; granted that key, it signs.
#[test]
fn a_stage_signs_only_with_the_keys_it_was_granted() {
    let s = Scratch::new();
    let k = crate::signing::keys();
    let with_keys = |granted: &str| {
        format!(
            "{}\n[keys.other]\nprivate-key = \"{}\"\n\n[keys.release]\nprivate-key = \"{}\"\npassphrase = \"env:TEST_PASSPHRASE\"\n",
            stream(
                "guest-sign-without-grant",
                &format!("grants = {{ keys = [\"{granted}\"] }}")
            ),
            k.str("other.priv.asc"),
            k.str("release.priv.asc"),
        )
    };
    let message = |text: &str| {
        let file = s.write("keys.toml", text);
        let out = s.path().join("out");
        let _ = std::fs::remove_dir_all(&out);
        ok(&compose_env(
            &s,
            &[
                "run",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &[("TEST_PASSPHRASE", "correct horse")],
        ));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        let finding = &report["stages"][0]["findings"][0];
        (
            finding["passed"].as_bool().unwrap(),
            finding["message"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        message(&with_keys("other")),
        (
            false,
            "sign failed: key `release` is not granted to stage `misbehave`".to_string()
        )
    );
    let (passed, signed) = message(&with_keys("release"));
    assert!(passed, "{signed}");
    assert!(signed.starts_with("signed: "), "{signed}");
    // `describe` runs with no grants, even for a stage granted the key.
    let file = s.write("keys.toml", &with_keys("release"));
    let plan = compose_env(
        &s,
        &["plan", file.to_str().unwrap()],
        &[("TEST_PASSPHRASE", "correct horse")],
    );
    ok(&plan);
    assert!(
        stdout(&plan).contains("refused while describing: key `release` is not granted"),
        "{}",
        stdout(&plan)
    );
}

#[test]
fn importing_the_registry_without_a_grant_is_refused_before_running() {
    let s = Scratch::new();
    let (err, _) = run_fails(&s, &stream("guest-registry-without-grant", ""));
    assert!(err.contains("okd:compose/registry@0.1.0"), "{err}");
    assert!(err.contains("grants.registry"), "{err}");
}

/// A TCP server on 127.0.0.1 that accepts every connection and never answers (nor closes it);
/// returns its address.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => held.push(stream),
                Err(_) => break,
            }
        }
    });
    addr
}

#[test]
fn a_host_call_blocked_on_a_silent_registry_ends_at_the_stage_deadline() {
    let s = Scratch::new();
    let registry = silent_server();
    // The base release still comes from the mirror; the stage's `resolve` of
    // `quay.io/okd/scos-content:x` goes to the registry that never answers.
    let text = stream(
        "guest-registry-without-grant",
        "grants = { registry = [\"quay.io/okd/*\"] }\nlimits = { timeout = \"2s\" }",
    )
    .replace(
        "\n[[stage]]",
        &format!("\n[registries.\"quay.io/okd\"]\nregistry = \"http://{registry}\"\n\n[[stage]]"),
    );
    let (err, took) = run_fails(&s, &text);
    assert!(err.contains("time limit of 2s"), "{err}");
    assert!(err.contains("guest_registry_without_grant"), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {err}");
}

#[test]
fn a_run_export_of_the_wrong_type_is_refused_when_the_plugin_loads() {
    let s = Scratch::new();
    // A well-behaved first stage: refusing the second plugin must come before it runs.
    let text = stream("guest-wrong-run", "").replace(
        "\n[[stage]]",
        &format!(
            "\n[[stage]]\nname = \"first\"\nplugin = \"{}\"\n\n[[stage]]",
            guest("guest-well-behaved")
        ),
    );
    let file = s.write("sandbox.toml", &text);
    let out = s.path().join("out");
    let plan = ["plan", file.to_str().unwrap(), "-v"];
    let run = [
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-v",
    ];
    for args in [&plan[..], &run[..]] {
        let command = args[0];
        let err = fails(&s.compose(args));
        assert!(err.contains("stage `misbehave`"), "{command}: {err}");
        assert!(err.contains("guest_wrong_run.wasm"), "{command}: {err}");
        assert!(err.contains("export `run`"), "{command}: {err}");
        assert!(err.contains("wrong type"), "{command}: {err}");
        assert!(
            !err.contains("hello from stdout"),
            "{command}: a stage ran: {err}"
        );
        assert!(!out.exists(), "{command}: wrote an output");
    }
}

#[test]
fn plan_describes_a_plugin_within_its_stage_limits() {
    let s = Scratch::new();
    let file = s.write(
        "sandbox.toml",
        &stream("guest-slow-describe", "limits = { timeout = \"1s\" }"),
    );
    let started = Instant::now();
    let o = s.compose(&["plan", file.to_str().unwrap()]);
    let took = started.elapsed();
    let err = fails(&o);
    assert!(err.contains("time limit of 1s"), "{err}");
    assert!(err.contains("stage `misbehave`"), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {err}");
}

#[test]
fn guest_output_is_capped_per_stage_and_never_crashes_the_guest() {
    let s = Scratch::new();
    let mib = 1024 * 1024;
    // 8 MiB of log lines, then 8 MiB on stdout and 1 MiB on stderr: every write must succeed
    // (the guest's finding says so), and one cap of 1 MiB bounds all three.
    let file = s.write(
        "chatty.toml",
        &stream(
            "guest-chatty",
            &format!(
                "config = {{ log = {}, stdout = {}, stderr = {} }}",
                8 * mib,
                8 * mib,
                mib
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
    assert_eq!(
        log.matches("output cap of 1 MiB").count(),
        1,
        "not one warning: {}",
        &log[log.len().saturating_sub(2000)..]
    );
    assert!(
        log.contains("guest-chatty log line 00000000"),
        "the first lines are kept"
    );
    // The log lines came first and took the cap but a few bytes: at most the start of one
    // stdout line, and nothing of stderr, is left.
    assert!(
        log.matches("guest-chatty stdout line").count() <= 1,
        "stdout past the cap was kept"
    );
    assert!(
        !log.contains("guest-chatty stderr line"),
        "stderr past the cap was kept"
    );
    assert!(
        !log.contains("guest-chatty log line 00100000"),
        "log lines past the cap were kept"
    );
    // 1 MiB of guest output, each line tagged with the stage and plugin.
    assert!(log.len() < 5 * mib, "{} bytes of log", log.len());
}

#[test]
fn a_tampered_plugin_cache_is_recompiled_with_a_warning() {
    let s = Scratch::isolated();
    let text = stream("guest-chatty", "config = { stdout = 200 }").replace(
        "\n[[stage]]",
        &format!(
            "\n[[stage]]\nname = \"first\"\nplugin = \"{}\"\n\n[[stage]]",
            guest("guest-well-behaved")
        ),
    );
    let file = s.write("two.toml", &text);
    let out = s.path().join("out");
    let run = || {
        let o = s.compose(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-v",
            // The stages must run (not be reused) for their logs to show which code ran.
            "--no-cache",
        ]);
        ok(&o);
        stderr(&o)
    };
    let warning = "does not match the plugin it is named for";
    // Each stage ran its own plugin: the first prints `hello from stdout`, the second (the
    // stage `misbehave`) numbered lines.
    let ran_the_right_plugins = |log: &str| {
        let tagged = |needle: &str, stage: &str| {
            log.lines()
                .any(|l| l.contains(needle) && l.contains(&format!("stage=\"{stage}\"")))
        };
        assert!(tagged("hello from stdout", "first"), "{log}");
        assert!(tagged("guest-chatty stdout line", "misbehave"), "{log}");
        assert!(!tagged("hello from stdout", "misbehave"), "{log}");
        assert!(!tagged("guest-chatty stdout line", "first"), "{log}");
    };
    let log = run();
    ran_the_right_plugins(&log);
    assert!(!log.contains(warning), "{log}");

    let cached = |name: &str| {
        let wasm = std::fs::read(guest(name)).unwrap();
        let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wasm));
        let found: Vec<PathBuf> = std::fs::read_dir(s.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy().into_owned();
                n.starts_with(&hex) && n.ends_with(".cwasm")
            })
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        found[0].clone()
    };
    let (a, b) = (cached("guest-well-behaved"), cached("guest-chatty"));

    // Swapped: each file holds the other plugin's compiled code.
    let swap = s.path().join("swap");
    std::fs::rename(&a, &swap).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&swap, &b).unwrap();
    let log = run();
    assert_eq!(log.matches(warning).count(), 2, "{log}");
    ran_the_right_plugins(&log);
    // Recompiled and rewritten: the next run trusts the cache again.
    let log = run();
    assert!(!log.contains(warning), "{log}");
    ran_the_right_plugins(&log);

    // Flipped bytes, all over the compiled code.
    let mut bytes = std::fs::read(&a).unwrap();
    for i in (64..bytes.len()).step_by(997) {
        bytes[i] ^= 0x5a;
    }
    std::fs::write(&a, &bytes).unwrap();
    let log = run();
    assert_eq!(log.matches(warning).count(), 1, "{log}");
    ran_the_right_plugins(&log);
}
