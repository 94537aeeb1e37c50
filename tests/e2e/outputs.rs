//! The user's files: `--out` replaces only an output compose wrote, never an input of the
//! run, and files the command line writes never overwrite an input or, unasked, anything else.

use std::path::Path;

use crate::support::*;

/// A scratch copy of `streams/` and of the sample mirror (a real copy, not a link, so that a
/// wrong replace would show).
fn workspace_with_mirror() -> Scratch {
    let s = Scratch::new();
    copy_dir(&repo().join("streams"), &s.path().join("streams"));
    copy_dir(
        &repo().join("examples/mirror"),
        &s.path().join("examples/mirror"),
    );
    s
}

fn run_to(s: &Scratch, out: &Path) -> std::process::Output {
    compose_in(
        s,
        s.path(),
        &["run", "streams/scos.toml", "--out", out.to_str().unwrap()],
        &[],
    )
}

#[test]
fn out_refuses_what_compose_did_not_write_and_the_runs_inputs() {
    let s = workspace_with_mirror();
    let mirror = s.path().join("examples/mirror");
    let streams = s.path().join("streams");

    // A directory holding a user's files.
    let mine = s.write("mine/notes.txt", "keep me");
    let mine_dir = mine.parent().unwrap().to_path_buf();
    let before = untouched(&mine_dir);
    let err = fails(&run_to(&s, &mine_dir));
    assert!(err.contains("refusing to replace"), "{err}");
    assert!(err.contains("notes.txt"), "{err}");
    assert!(
        untouched(&mine_dir) == before,
        "the user's directory was touched"
    );

    // A regular file.
    let file = s.write("release.txt", "mine");
    let err = fails(&run_to(&s, &file));
    assert!(err.contains("it is a file, not a directory"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");

    // The current directory, the stream's directory, an ancestor of both.
    for out in [Path::new("."), streams.as_path(), s.path()] {
        let err = fails(&run_to(&s, out));
        assert!(
            err.contains("refusing to replace"),
            "{}: {err}",
            out.display()
        );
    }

    // The mirror, even when it carries compose's marker (the sample generator writes it).
    std::fs::write(mirror.join(".compose-output"), "{}").unwrap();
    let blobs = std::fs::read_dir(mirror.join("blobs/sha256"))
        .unwrap()
        .count();
    let err = fails(&run_to(&s, &mirror));
    assert!(err.contains("an input of this run"), "{err}");
    assert_eq!(
        std::fs::read_dir(mirror.join("blobs/sha256"))
            .unwrap()
            .count(),
        blobs
    );
    assert!(streams.join("scos.toml").is_file());

    // A directory granted to a stage (`patch` reads `overlays/scos`), marker or not.
    let granted = streams.join("overlays/scos");
    std::fs::write(granted.join(".compose-output"), "{}").unwrap();
    let before = untouched(&granted);
    let err = fails(&run_to(&s, &granted));
    assert!(err.contains("an input of this run"), "{err}");
    assert!(
        untouched(&granted) == before,
        "the granted directory was touched"
    );
    std::fs::remove_file(granted.join(".compose-output")).unwrap();

    // The state directory of a stage-at-a-time run.
    let state = s.path().join("state");
    let staged = |out: &Path, only: &str| {
        compose_in(
            &s,
            s.path(),
            &[
                "run",
                "streams/scos.toml",
                "--out",
                out.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
                "--only",
                only,
            ],
            &[],
        )
    };
    ok(&staged(&s.path().join("staged-out"), "select"));
    let before = untouched(&state);
    let err = fails(&staged(&state, "swap-os"));
    assert!(err.contains("an input of this run"), "{err}");
    assert!(
        untouched(&state) == before,
        "the state directory was touched"
    );

    // An empty directory, then the output compose wrote there: replaced.
    let out = s.path().join("out/okd");
    std::fs::create_dir_all(&out).unwrap();
    ok(&run_to(&s, &out));
    assert!(out.join(".compose-output").is_file());
    ok(&run_to(&s, &out));
    // No temporaries left beside it.
    let hidden: Vec<String> = std::fs::read_dir(s.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn a_swap_interrupted_by_a_kill_is_repaired_by_the_next_run() {
    let s = workspace_with_mirror();
    let out = s.path().join("out/okd");
    ok(&run_to(&s, &out));
    let index = std::fs::read(out.join("index.json")).unwrap();
    // What a process killed between the two renames leaves: the old output aside, the new
    // one complete in its temporary, no output.
    let aside = s.path().join("out/.okd.old-killed1");
    std::fs::create_dir(&aside).unwrap();
    std::fs::rename(&out, aside.join("okd")).unwrap();
    let staged = s.path().join("out/.okd.new-killed2");
    std::fs::create_dir_all(staged.join("blobs")).unwrap();
    ok(&run_to(&s, &out));
    assert_eq!(std::fs::read(out.join("index.json")).unwrap(), index);
    assert!(!aside.exists(), "the stale old output was not removed");
    assert!(!staged.exists(), "the stale temporary was not removed");
}

#[test]
fn files_the_command_line_writes_never_replace_inputs() {
    let s = Scratch::new();
    copy_dir(&repo().join("streams"), &s.path().join("streams"));
    std::os::unix::fs::symlink(repo().join("examples"), s.path().join("examples")).unwrap();
    let here = |args: &[&str]| compose_in(&s, s.path(), args, &[]);
    ok(&here(&["lock", "streams/scos.toml"]));
    let stream_before = std::fs::read(s.path().join("streams/scos.toml")).unwrap();
    for target in [
        "streams/scos.toml",
        "./streams/scos.toml",
        "streams/scos.lock",
    ] {
        let err = fails(&here(&[
            "export",
            "tekton",
            "streams/scos.toml",
            "--out",
            target,
            "--force",
        ]));
        assert!(err.contains("it is the input"), "{target}: {err}");
    }
    assert_eq!(
        std::fs::read(s.path().join("streams/scos.toml")).unwrap(),
        stream_before
    );
    // Another existing file: only with --force; the same bytes again are fine.
    let other = s.write("pipeline.yaml", "mine\n");
    let err = fails(&here(&[
        "export",
        "tekton",
        "streams/scos.toml",
        "--out",
        "pipeline.yaml",
    ]));
    assert!(err.contains("pass `--force`"), "{err}");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "mine\n");
    ok(&here(&[
        "export",
        "tekton",
        "streams/scos.toml",
        "--out",
        "pipeline.yaml",
        "--force",
    ]));
    ok(&here(&[
        "export",
        "tekton",
        "streams/scos.toml",
        "--out",
        "pipeline.yaml",
    ]));
    assert!(
        std::fs::read_to_string(&other)
            .unwrap()
            .contains("kind: Pipeline")
    );
}

#[test]
fn a_stage_that_crashes_leaves_its_report_in_out_failed() {
    let s = Scratch::new();
    let stream = s.write(
        "crash.toml",
        &format!(
            r#"[stream]
name = "crash"
release = "4.17.0-okd-scos.0"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "misbehave"
plugin = "{}"
"#,
            repo().join("examples/mirror").display(),
            crate::sandbox::guest("guest-panic"),
        ),
    );
    let out = s.path().join("out");
    let err = fails(&s.compose(&[
        "run",
        stream.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(err.contains("stage `misbehave`"), "{err}");
    assert!(!out.exists());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path().join("out.failed/report.json")).unwrap())
            .unwrap();
    let text = report.to_string();
    assert!(text.contains("stage-completed"), "{text}");
    assert!(text.contains("misbehave"), "{text}");
    assert!(s.path().join("out.failed/junit.xml").is_file());
}
