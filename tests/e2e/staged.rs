//! Stage at a time: `compose run --state DIR --only STAGE`, one process per stage, publishes
//! the release one `compose run` publishes, byte for byte; and a state is refused, untouched,
//! whenever it cannot carry the run on.

use std::path::Path;
use std::process::Output;

use crate::signing::keys;
use crate::support::*;

const EPOCH: &str = "1700000000";
const SCOS_STAGES: [&str; 5] = ["select", "swap-os", "patch", "sign", "test"];

/// The environment of a signed scos run (the key only where `signing` is true).
fn env(signing: bool) -> Vec<(&'static str, String)> {
    let mut env = vec![("SOURCE_DATE_EPOCH", EPOCH.to_string())];
    if signing {
        env.push(("COMPOSE_RELEASE_KEY", keys().str("release.priv.asc")));
        env.push((
            "COMPOSE_RELEASE_KEY_PASSPHRASE",
            "correct horse".to_string(),
        ));
    }
    env
}

fn run(s: &Scratch, args: &[&str], env: &[(&'static str, String)]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    compose_env(s, args, &env)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The first word of the last stdout line: the digest `compose run` prints.
fn printed_digest(o: &Output) -> String {
    let out = stdout(o);
    let line = out.lines().last().unwrap_or_default();
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn journal(state: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(state.join("journal.json")).unwrap()).unwrap()
}

#[test]
fn one_process_per_stage_publishes_the_single_run_release_byte_for_byte() {
    let s = Scratch::new();
    let single = s.path().join("single");
    let o = run(
        &s,
        &["run", "streams/scos.toml", "--out", path(&single)],
        &env(true),
    );
    ok(&o);
    let expected = printed_digest(&o);
    assert!(expected.starts_with("sha256:"), "{}", stdout(&o));

    let state = s.path().join("state");
    let staged = s.path().join("staged");
    let mut digests = Vec::new();
    for (i, stage) in SCOS_STAGES.iter().enumerate() {
        let digest_file = s.path().join(format!("{stage}.digest"));
        let findings_file = s.path().join(format!("{stage}.findings"));
        let o = run(
            &s,
            &[
                "run",
                "streams/scos.toml",
                "--state",
                path(&state),
                "--only",
                stage,
                "--out",
                path(&staged),
                "--result",
                &format!("release-digest={}", path(&digest_file)),
                "--result",
                &format!("findings={}", path(&findings_file)),
            ],
            // Only the process that signs holds the private key.
            &env(*stage == "sign"),
        );
        ok(&o);
        let digest = std::fs::read_to_string(&digest_file).unwrap();
        assert_eq!(digest, printed_digest(&o), "stage {stage}");
        let findings: usize = std::fs::read_to_string(&findings_file)
            .unwrap()
            .parse()
            .unwrap();
        if *stage == "test" {
            assert!(
                findings >= 8,
                "the test stage reports its checks: {findings}"
            );
        }
        let recorded = journal(&state);
        let stages = recorded["stages"].as_array().unwrap();
        assert_eq!(stages.len(), i + 1, "{recorded:#}");
        assert_eq!(stages[i]["stage"], *stage);
        assert_eq!(stages[i]["release_digest"], digest.as_str());
        // The state is a release image any OCI tool reads, at the digest the task reported.
        let inspected = skopeo_inspect(&state, "4.17.0-okd-scos.0", &[]);
        assert_eq!(inspected["Digest"], digest.as_str());
        let published = staged.join("index.json").exists();
        assert_eq!(published, i + 1 == SCOS_STAGES.len(), "after {stage}");
        digests.push(digest);
    }
    assert_eq!(digests.last().unwrap(), &expected);
    // The sign stage changed the release (the verification ConfigMap); the test stage did not.
    assert_ne!(digests[2], digests[3]);
    assert_eq!(digests[3], digests[4]);
    // Signed by the sign process, verified by the test process through the journal's public key.
    let recorded = journal(&state);
    assert!(
        recorded["public_keys"]["release"]
            .as_str()
            .unwrap()
            .contains("PGP PUBLIC KEY BLOCK")
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(staged.join("report.json")).unwrap()).unwrap();
    let verify = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|st| st["findings"].as_array().unwrap())
        .find(|f| f["check"] == "signatures-verify")
        .cloned()
        .expect("a signatures-verify finding");
    assert_eq!(verify["passed"], true, "{verify:#}");
    assert_eq!(report["stages"].as_array().unwrap().len(), 5);

    // Release image, signatures (store, lookaside, cosign manifest): identical files.
    let a = release_files(&single);
    let b = release_files(&staged);
    assert!(
        a.iter().any(|(p, _)| p.ends_with("signature-1")),
        "the signatures are published: {:?}",
        a.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert_eq!(
        a.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        b.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>()
    );
    for ((p, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{} differs", p.display());
    }
}

#[test]
fn ranges_reruns_and_refusals() {
    let s = Scratch::new();
    let state = s.path().join("state");
    let out = s.path().join("out");
    let st = path(&state);
    let base = [
        "run",
        "streams/scos.toml",
        "--state",
        st,
        "--out",
        path(&out),
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .chain(extra)
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
    };
    let go = |extra: &[&str], env: &[(&'static str, String)]| {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&s, &args, env)
    };
    let plain = env(false);

    // A stage that is not next: refused, and nothing is written.
    let err = fails(&go(&["--only", "patch"], &plain));
    assert!(
        err.contains("stage `patch` cannot run yet: stage `select` has not run"),
        "{err}"
    );
    assert!(!state.exists());
    let err = fails(&go(&["--only", "nope"], &plain));
    assert!(err.contains("has no stage `nope`"), "{err}");

    // `--until`: the first two stages in one process.
    let o = go(&["--until", "swap-os"], &plain);
    ok(&o);
    assert!(
        stderr(&o).contains("still to run: patch, sign, test"),
        "{}",
        stderr(&o)
    );
    let before = untouched(&state);

    // Running a stage again is a no-op (a retried task), and leaves the state as it was:
    // not one file written, replaced or renamed.
    let o = go(&["--only", "swap-os"], &plain);
    ok(&o);
    assert!(
        stderr(&o).contains("swap-os: already ran"),
        "{}",
        stderr(&o)
    );
    assert_eq!(journal(&state)["stages"].as_array().unwrap().len(), 2);
    assert!(
        untouched(&state) == before,
        "a no-op rerun wrote into the state"
    );

    // Another SOURCE_DATE_EPOCH, another stream, a changed stage config: refused, untouched.
    let err = fails(&go(
        &["--only", "patch"],
        &[("SOURCE_DATE_EPOCH", "1600000000".to_string())],
    ));
    assert!(
        err.contains("every process of one run must use the same"),
        "{err}"
    );
    let other = run(
        &s,
        &[
            "run",
            "streams/openstack.toml",
            "--state",
            st,
            "--out",
            path(&out),
        ],
        &plain,
    );
    let err = fails(&other);
    assert!(err.contains("the state"), "{err}");
    assert!(err.contains("is for stream `okd-scos`"), "{err}");
    let changed = std::fs::read_to_string(repo().join("streams/scos.toml"))
        .unwrap()
        .replace(
            "remove = [\"fedora-coreos\"]",
            "remove = [\"fedora-coreos\", \"tests\"]",
        )
        .replace(
            "oci:../examples/mirror",
            &format!("oci:{}", repo().join("examples/mirror").display()),
        )
        .replace(
            "files = [\"overlays/scos\"]",
            &format!(
                "files = [\"{}\"]",
                repo().join("streams/overlays/scos").display()
            ),
        );
    let changed = s.write("changed/scos.toml", &changed);
    let err = fails(&run(
        &s,
        &[
            "run",
            path(&changed),
            "--state",
            st,
            "--out",
            path(&out),
            "--only",
            "patch",
        ],
        &plain,
    ));
    assert!(
        err.contains("stage `swap-os` ran in the state") && err.contains("with another config"),
        "{err}"
    );
    assert!(
        untouched(&state) == before,
        "a refused run wrote into the state"
    );

    // `--push` before the last stage: the stage runs, the state is saved, the push refused.
    let err = fails(&go(
        &[
            "--only",
            "patch",
            "--push",
            "--to",
            "127.0.0.1:9/okd/scos:1",
        ],
        &plain,
    ));
    assert!(
        err.contains("the release is not complete, stages still to run: sign, test"),
        "{err}"
    );
    assert_eq!(journal(&state)["stages"].as_array().unwrap().len(), 3);

    // `--from`: the rest in one process publishes the release.
    let o = go(&["--from", "patch", "--until", "sign"], &plain);
    ok(&o);
    let journal_now = journal(&state);
    let sign = &journal_now["stages"][3];
    assert_eq!(sign["stage"], "sign");
    assert!(
        sign["skipped"]
            .as_str()
            .unwrap()
            .contains("optional key `release` is absent"),
        "{sign:#}"
    );
    assert!(!out.exists());
    let o = go(&[], &plain);
    ok(&o);
    assert!(
        stderr(&o).contains("the release is UNSIGNED"),
        "{}",
        stderr(&o)
    );
    assert!(out.join("index.json").exists());
    let staged = printed_digest(&o);

    // Every stage ran: running again only publishes again, the same release.
    let o = go(&[], &plain);
    ok(&o);
    assert_eq!(printed_digest(&o), staged);

    let single = s.path().join("single");
    let o = run(
        &s,
        &["run", "streams/scos.toml", "--out", path(&single)],
        &plain,
    );
    ok(&o);
    assert_eq!(printed_digest(&o), staged);
}

#[test]
fn a_failing_stage_leaves_the_state_as_it_was_and_reports() {
    let s = Scratch::new();
    let state = s.path().join("state");
    let out = s.path().join("out");
    let failed_file = s.path().join("failed");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "run".to_string(),
            "tests/streams/forgets-rhel.toml".to_string(),
            "--state".to_string(),
            path(&state).to_string(),
            "--out".to_string(),
            path(&out).to_string(),
            "--result".to_string(),
            format!("failed-findings={}", path(&failed_file)),
        ];
        a.extend(extra.iter().map(|e| e.to_string()));
        a
    };
    let call = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&s, &a, &env(false))
    };
    // Every stage in one process: the last one (test) fails.
    let err = fails(&call(&[]));
    assert!(err.contains("stage `test`"), "{err}");
    assert!(
        err.contains("the state and the output were left as they were"),
        "{err}"
    );
    let failed: usize = std::fs::read_to_string(&failed_file)
        .unwrap()
        .parse()
        .unwrap();
    assert!(failed >= 4, "{failed}");
    assert!(s.path().join("out.failed/junit.xml").exists());
    assert!(!out.exists());
    // Nothing of that process was saved: the state does not exist.
    assert!(!state.exists());
}

#[test]
fn a_process_compiles_only_the_plugins_of_its_stages() {
    let s = Scratch::isolated();
    let state = s.path().join("state");
    let loaded = |o: &Output| -> Vec<String> {
        stdout(o)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["event"] == "plugin-loaded")
            .map(|e| e["stage"].as_str().unwrap().to_string())
            .collect()
    };
    let o = run(
        &s,
        &[
            "--json",
            "run",
            "streams/scos.toml",
            "--state",
            path(&state),
            "--only",
            "select",
        ],
        &env(false),
    );
    ok(&o);
    assert_eq!(loaded(&o), ["select"]);
    let o = run(
        &s,
        &[
            "--json",
            "run",
            "streams/scos.toml",
            "--state",
            path(&state),
            "--until",
            "patch",
        ],
        &env(false),
    );
    ok(&o);
    assert_eq!(loaded(&o), ["swap-os", "patch"]);
}

#[test]
fn a_stream_field_changed_between_processes_is_refused_by_name() {
    let s = Scratch::new();
    let state = s.path().join("state");
    let out = s.path().join("out");
    // The stream copied out of the tree (its relative paths made absolute), edited.
    let copy = |name: &str, edit: &dyn Fn(String) -> String| {
        let text = std::fs::read_to_string(repo().join("streams/scos.toml"))
            .unwrap()
            .replace(
                "oci:../examples/mirror",
                &format!("oci:{}", repo().join("examples/mirror").display()),
            )
            .replace(
                "files = [\"overlays/scos\"]",
                &format!(
                    "files = [\"{}\"]",
                    repo().join("streams/overlays/scos").display()
                ),
            );
        s.write(&format!("{name}/scos.toml"), &edit(text))
    };
    let go = |stream: &Path, stage: &str| {
        let args = [
            "run",
            path(stream),
            "--state",
            path(&state),
            "--out",
            path(&out),
            "--only",
            stage,
        ];
        run(&s, &args, &env(false))
    };
    let same = copy("same", &|t| t);
    ok(&go(&same, "select"));
    let before = untouched(&state);

    let created = copy("created", &|t| {
        t.replace(
            "signature-store = ",
            "created = \"2024-03-01T00:00:00Z\"\nsignature-store = ",
        )
    });
    let err = fails(&go(&created, "swap-os"));
    assert!(
        err.contains(&format!(
            "the state `{}` was made with the stream's `created` `(not set)`, the stream now says `2024-03-01T00:00:00Z`; remove `{}` to start a new run",
            state.display(),
            state.display()
        )),
        "{err}"
    );
    let metadata = copy("metadata", &|t| t.replace("stable-scos-4", "fast-scos-4"));
    assert_ne!(
        std::fs::read(&metadata).unwrap(),
        std::fs::read(&same).unwrap()
    );
    let err = fails(&go(&metadata, "swap-os"));
    assert!(
        err.contains(&format!(
            "the stream's `metadata` changed since the state `{}` was made; remove `{}` to start a new run",
            state.display(),
            state.display()
        )),
        "{err}"
    );
    assert!(
        untouched(&state) == before,
        "a refused run wrote into the state"
    );

    // The same stream from another place (relative paths, another file): the run goes on.
    let o = go(&repo().join("streams/scos.toml"), "swap-os");
    ok(&o);
    assert_eq!(journal(&state)["stages"].as_array().unwrap().len(), 2);
    assert_eq!(
        journal(&state)["inputs"]["metadata"]["io.openshift.upgrades.graph.release.channels"],
        "stable-scos-4"
    );
}
