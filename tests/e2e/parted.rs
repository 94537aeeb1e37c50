//! Checks in parts (`okd:compose@0.3.0`, world `parted-check`, `wit/check-parts.wit`): the
//! host lists a check's parts, runs each read-only, refuses the registry while listing them,
//! and on a rerun runs only the parts whose settings or registry answers changed, with the
//! findings of the others taken from the stage cache, in their places.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::sandbox::guest;
use crate::support::*;

/// The reference part `c` reads the config of (a tag of the sample mirror).
const QUERIED: &str = "quay.io/okd/scos-content:4.17.0-okd-scos.0-installer";

/// A stream with one stage, `only`, running `guest-parted` with `config` (a TOML inline
/// table), granted `quay.io/okd/*`, over the mirror `mirror`.
fn parted_stream(s: &Scratch, mirror: &Path, config: &str) -> PathBuf {
    parted_stream_with(s, mirror, config, "")
}

/// [`parted_stream`] with more lines (`limits = …`) in the stage table.
fn parted_stream_with(s: &Scratch, mirror: &Path, config: &str, stage_extra: &str) -> PathBuf {
    crate::languages::one_stage_stream_over(
        s,
        mirror,
        &guest("guest-parted"),
        &format!("grants = {{ registry = [\"quay.io/okd/*\"] }}\nconfig = {config}\n{stage_extra}"),
    )
}

/// The config of three parts, `a`, `b` (with settings `b`) and `c` (reading [`QUERIED`]).
fn three_parts(b: &str, extra: &str) -> String {
    format!(
        r#"{{ parts = [{{ id = "a", settings = "1" }}, {{ id = "b", settings = "{b}" }}, {{ id = "c", settings = "1" }}], query = {{ c = "{QUERIED}" }}{extra} }}"#
    )
}

/// `compose --json run STREAM --out OUT [extra]`, OUT in the scratch.
fn run(s: &Scratch, stream: &Path, out: &str, extra: &[&str]) -> Output {
    compose_run(s, (stream, &s.path().join(out)), true, extra, &[])
}

/// The `stage-finished` event of stage `only`.
fn finished(o: &Output) -> serde_json::Value {
    events(o, "stage-finished")
        .into_iter()
        .find(|e| e["stage"] == "only")
        .unwrap_or_else(|| panic!("`only` did not run: {}{}", stdout(o), stderr(o)))
}

/// The parts a run of `only` took from the stage cache.
fn reused_parts(o: &Output) -> Vec<String> {
    let event = finished(o);
    assert_eq!(event["parts"], 3, "{event}");
    event["reused_parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// (check, message) of every finding of `only`.
fn findings(o: &Output) -> Vec<(String, String)> {
    finished(o)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_check_in_parts_runs_its_parts_in_order_read_only_with_no_registry_while_listing() {
    let s = Scratch::new();
    let parted = guest("guest-parted");
    let o = s.compose(&["plugin", "inspect", &parted]);
    ok(&o);
    let text = stdout(&o);
    assert!(
        text.contains("world       okd:compose/parted-check@0.3.0")
            && text.contains("okd:compose/check-parts@0.3.0")
            && text.contains("okd:compose/release@0.2.0"),
        "{text}"
    );

    let mirror = repo().join("examples/mirror");
    let stream = parted_stream(
        &s,
        &mirror,
        r#"{ parts = [{ id = "b", settings = "" }, { id = "a", settings = "" }] }"#,
    );
    let o = run(&s, &stream, "out", &["--no-cache"]);
    ok(&o);
    let found = findings(&o);
    let checks: Vec<&str> = found.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(checks, ["b", "a"], "the order `parts` gave");
    assert!(found[0].1.ends_with("manifests, no query"), "{found:?}");
    assert!(!found[0].1.contains(" 0 manifests"), "{found:?}");
    // Each part ran in an instance of its own (a shared one would count its second call).
    for (check, message) in &found {
        assert!(
            message.starts_with("call 1 of its instance"),
            "{check}: {message}"
        );
    }

    // A write from a part stops it, and nothing is published.
    let stream = parted_stream(
        &s,
        &mirror,
        r#"{ parts = [{ id = "a", settings = "" }], write = "a" }"#,
    );
    let err = fails(&run(&s, &stream, "out-write", &["--no-cache"]));
    assert!(
        err.contains(&format!(
            "stage `only`: plugin `{parted}` was stopped: it is a read-only check (it exports `okd:compose/check-parts`), and `write-manifest` would change the payload"
        )),
        "{err}"
    );
    assert!(!s.path().join("out-write").exists());

    // Listing parts gets no registry (its answers would be no part's), even a granted one.
    let stream = parted_stream(
        &s,
        &mirror,
        &format!(r#"{{ registry-in-parts = "{QUERIED}" }}"#),
    );
    let err = fails(&run(&s, &stream, "out-registry", &["--no-cache"]));
    assert!(
        err.contains("the registry refused while listing parts: host services are not available while describing a plugin or listing its parts"),
        "{err}"
    );

    // Two parts with one id cannot be told apart in the cache: refused.
    let stream = parted_stream(
        &s,
        &mirror,
        r#"{ parts = [{ id = "a", settings = "1" }, { id = "a", settings = "2" }] }"#,
    );
    let err = fails(&run(&s, &stream, "out-twice", &["--no-cache"]));
    assert!(err.contains("`parts` listed the part `a` twice"), "{err}");
}

#[test]
fn a_rerun_runs_only_the_parts_whose_settings_or_registry_answers_changed() {
    let s = Scratch::new();
    // A mirror of our own (a copy of the sample), whose tags we may move.
    let mirror = s.path().join("mirror");
    copy_dir(&repo().join("examples/mirror"), &mirror);
    let stream = parted_stream(&s, &mirror, &three_parts("1", ""));
    let first = run(&s, &stream, "out-1", &[]);
    ok(&first);
    assert!(reused_parts(&first).is_empty());
    let all = findings(&first);
    assert!(all[2].1.contains("config of"), "{all:?}");

    // Only `b`'s settings changed: `a` and `c` come from the cache, in their places.
    let stream = parted_stream(&s, &mirror, &three_parts("2", ""));
    let second = run(&s, &stream, "out-2", &[]);
    ok(&second);
    assert_eq!(reused_parts(&second), ["a", "c"], "{}", stderr(&second));
    assert_eq!(findings(&second), all);
    assert_eq!(
        stderr(&second).matches("part b ran").count(),
        1,
        "{}",
        stderr(&second)
    );
    assert!(!stderr(&second).contains("part a ran"));

    // A config change no part's settings name: every part is reused.
    let stream = parted_stream(&s, &mirror, &three_parts("2", r#", unused = 1"#));
    let third = run(&s, &stream, "out-3", &[]);
    ok(&third);
    assert_eq!(reused_parts(&third), ["a", "b", "c"]);

    // `--no-cache` runs every part.
    let fourth = run(&s, &stream, "out-4", &["--no-cache"]);
    ok(&fourth);
    assert!(reused_parts(&fourth).is_empty());

    // The registry answers another config for `c`'s reference: `c` runs again.
    let index_path = mirror.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let manifests = index["manifests"].as_array_mut().unwrap();
    let name = |m: &serde_json::Value| {
        m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .map(str::to_string)
    };
    let other = manifests
        .iter()
        .find(|m| name(m).is_some_and(|n| n.ends_with("-driver-toolkit")))
        .unwrap()
        .clone();
    let queried = manifests
        .iter_mut()
        .find(|m| name(m).as_deref() == Some(QUERIED))
        .unwrap();
    queried["digest"] = other["digest"].clone();
    queried["size"] = other["size"].clone();
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let stream = parted_stream(&s, &mirror, &three_parts("2", r#", unused = 2"#));
    let fifth = run(&s, &stream, "out-5", &[]);
    ok(&fifth);
    assert_eq!(reused_parts(&fifth), ["a", "b"], "{}", stderr(&fifth));

    // A part that fails is not kept: the next run runs it again.
    let stream = parted_stream(&s, &mirror, &three_parts("3", r#", fail = "b""#));
    let failed = run(&s, &stream, "out-6", &[]);
    fails(&failed);
    assert_eq!(reused_parts(&failed), ["a", "c"]);
    let stream = parted_stream(&s, &mirror, &three_parts("3", ""));
    let again = run(&s, &stream, "out-7", &[]);
    ok(&again);
    assert_eq!(reused_parts(&again), ["a", "c"], "{}", stderr(&again));

    // The plain output says which parts were reused.
    let stream = parted_stream(&s, &mirror, &three_parts("4", ""));
    let out = s.path().join("out-8");
    let plain = compose_run(&s, (&stream, &out), false, &[], &[]);
    ok(&plain);
    let text = stderr(&plain) + &stdout(&plain);
    assert!(
        text.contains("3 findings; 2 of 3 parts reused from the stage cache (a, c)"),
        "{text}"
    );
}

#[test]
fn the_parts_of_a_check_share_the_stage_time_limit() {
    let s = Scratch::new();
    let mirror = repo().join("examples/mirror");
    let limits = r#"limits = { timeout = "1s" }"#;
    // One part computing 600 ms fits in the stage's second.
    let one = parted_stream_with(
        &s,
        &mirror,
        r#"{ parts = [{ id = "a", settings = "" }], spin-ms = 600 }"#,
        limits,
    );
    ok(&run(&s, &one, "out-one", &["--no-cache"]));
    // Two do not: the limit is the stage's, not each part's.
    let two = parted_stream_with(
        &s,
        &mirror,
        r#"{ parts = [{ id = "a", settings = "" }, { id = "b", settings = "" }], spin-ms = 600 }"#,
        limits,
    );
    let err = fails(&run(&s, &two, "out-two", &["--no-cache"]));
    assert!(
        err.contains(&format!(
            "stage `only`: plugin `{}` ran past its time limit of 1s and was stopped",
            guest("guest-parted")
        )),
        "{err}"
    );
    assert!(!s.path().join("out-two").exists());
}
