//! Unit tests of the run path: the working payload, the host's invariants, the registry view
//! a caller passes, the `--require-signed` refusal and a signature-writing failure. They read
//! the sample mirror (`examples/mirror`) and run plans without stages (nothing to compile).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use compose_payload::{Attachment, Release};
use compose_registry::{Mirrors, read_release_image};
use compose_runtime::{Runtime, RuntimeConfig};
use compose_stream::Stream;

use super::build::{build, check_invariants, prepare};
use super::publish::Output;
use super::{Run, RunOptions, RunOutcome, StateRead, run};
use crate::error::{Error, Result};
use crate::events::Quiet;
use crate::plan::Plan;
use crate::sources::{mirrors, parse_reference};

/// The sample mirror's base release.
const FROM: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";

fn sample_mirror() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mirror")
}

/// A stream without stages composing `4.17.0-test.0` from the sample mirror's base release.
fn stream(dir: &Path) -> Stream {
    let path = dir.join("stream.toml");
    let text = format!(
        r#"[stream]
name = "test"
release = "4.17.0-test.0"
from = "{FROM}"
to = "quay.io/okd/test-release:4.17.0-test.0"
previous = ["4.16.0-test.2", "4.16.0-test.10", "4.16.0-test.1"]
created = "2024-05-01T00:00:00Z"
metadata = {{ url = "https://example.org/4.17.0-test.0" }}

[registries."quay.io"]
mirror = "oci:{}"
"#,
        sample_mirror().display()
    );
    std::fs::write(&path, text).unwrap();
    compose_stream::load(&path, &compose_stream::LoadOptions::default()).unwrap()
}

/// The working payload prepared from the base release with `source_date_epoch`.
fn prepared(stream: &Stream, source_date_epoch: Option<u64>) -> Release {
    let mirrors = mirrors(stream).unwrap();
    let base = read_release_image(&mirrors, &parse_reference(FROM, "base").unwrap()).unwrap();
    prepare(stream, base, source_date_epoch)
}

fn options(out: PathBuf) -> RunOptions {
    RunOptions {
        out,
        source_date_epoch: Some(1_700_000_000),
        mirrors: None,
        require_signed: false,
        state: None,
        stage_cache: None,
    }
}

/// Runs a plan without stages of `stream` with `options`.
fn run_stream(stream: Stream, options: &RunOptions, cache: &Path) -> Result<RunOutcome> {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: cache.to_path_buf(),
    })
    .unwrap();
    let plan = Plan {
        stream,
        stages: Vec::new(),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(&runtime, &plan, options, &Quiet))
}

#[test]
fn prepare_renames_the_base_and_takes_the_stream_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let stream = stream(dir.path());
    let release = prepared(&stream, None);
    assert_eq!(release.name, "4.17.0-test.0");
    assert_eq!(release.metadata.version, "4.17.0-test.0");
    // Sorted as text, whatever order the stream gives.
    assert_eq!(
        release.metadata.previous,
        ["4.16.0-test.1", "4.16.0-test.10", "4.16.0-test.2"]
    );
    assert!(release.metadata.next.is_empty());
    assert_eq!(release.metadata.metadata, stream.metadata);
    assert_eq!(
        release.annotations.get("release.openshift.io/from-release"),
        Some(&FROM.to_string())
    );
    assert_eq!(release.annotations.len(), 1);
    assert!(release.attachments.is_empty());
    check_invariants(&stream, &release).unwrap();
}

#[test]
fn created_is_source_date_epoch_then_the_stream_then_the_base() {
    let dir = tempfile::tempdir().unwrap();
    let mut stream = stream(dir.path());
    assert_eq!(
        prepared(&stream, Some(1_700_000_000)).created,
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(prepared(&stream, None).created, "2024-05-01T00:00:00Z");
    stream.created = None;
    let base = read_release_image(
        &mirrors(&stream).unwrap(),
        &parse_reference(FROM, "base").unwrap(),
    )
    .unwrap();
    let base_created = base.release.created.clone();
    assert!(!base_created.is_empty());
    assert_eq!(prepare(&stream, base, None).created, base_created);
}

#[test]
fn invariants_refuse_a_renamed_release_and_an_unpinned_image() {
    let dir = tempfile::tempdir().unwrap();
    let stream = stream(dir.path());
    let mut renamed = prepared(&stream, None);
    renamed.metadata.version = "4.17.0-other.0".into();
    let err = check_invariants(&stream, &renamed).unwrap_err();
    assert!(matches!(err, Error::Invariant(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the composed release cannot be published: the release name must stay `4.17.0-test.0`"
    );
    let mut unpinned = prepared(&stream, None);
    let image = unpinned.images.values_mut().next().unwrap();
    image.pullspec = "quay.io/okd/scos-content:latest".into();
    let name = image.name.clone();
    let err = check_invariants(&stream, &unpinned).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the composed release cannot be published: every image must be pinned by digest (`repo@sha256:…`); not pinned: `{name}`"
        )
    );
}

#[test]
fn a_run_without_stages_publishes_the_prepared_base() {
    let dir = tempfile::tempdir().unwrap();
    let stream = stream(dir.path());
    let expected = build(
        &mirrors(&stream).unwrap(),
        &prepared(&stream, Some(1_700_000_000)),
        None,
    )
    .unwrap()
    .0;
    let out = dir.path().join("out");
    let outcome = run_stream(stream, &options(out.clone()), &dir.path().join("cache")).unwrap();
    assert!(outcome.published);
    assert_eq!(outcome.digest, expected);
    assert_eq!(outcome.release, "4.17.0-test.0");
    assert!(out.join("index.json").is_file());
    assert!(out.join(crate::report::REPORT_JSON).is_file());
}

#[test]
fn the_run_reads_through_the_registry_view_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let stream = stream(dir.path());
    let out = dir.path().join("out");
    // A view serving nothing: the base release cannot be read, though the stream's mirror has it.
    let options = RunOptions {
        mirrors: Some(Arc::new(Mirrors::new(Vec::new()).unwrap())),
        ..options(out.clone())
    };
    let err = run_stream(stream, &options, &dir.path().join("cache")).unwrap_err();
    assert!(matches!(err, Error::Registry { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("reading the base release `{FROM}`")
    );
    assert!(!out.exists());
}

#[test]
fn require_signed_refuses_to_publish_an_unsigned_release() {
    let dir = tempfile::tempdir().unwrap();
    let stream = stream(dir.path());
    let out = dir.path().join("out");
    let options = RunOptions {
        require_signed: true,
        ..options(out.clone())
    };
    let err = run_stream(stream, &options, &dir.path().join("cache")).unwrap_err();
    assert!(matches!(err, Error::Signing(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "`--require-signed`: the release is unsigned: no stage signed it (add a `sign` stage granted a key)"
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn a_signature_that_cannot_be_written_is_a_signing_error() {
    let dir = tempfile::tempdir().unwrap();
    let stream = stream(dir.path());
    let mirrors = mirrors(&stream).unwrap();
    let release = prepared(&stream, None);
    let (digest, built, base_ref) = build(&mirrors, &release, None).unwrap();
    let out = dir.path().join("out");
    let output = Output {
        out: &out,
        ref_name: &release.name,
        built: &built,
        blobs: &mirrors,
        base_ref: &base_ref,
        files: &[],
    };
    // A cosign signature that is not a cosign envelope cannot be written.
    let garbage = [Attachment {
        kind: compose_signing::attach::KIND_COSIGN.to_string(),
        media_type: "application/json".to_string(),
        data: b"not an envelope".to_vec(),
    }];
    let err = output
        .write(|layout| compose_signing::publish::write_signatures(layout, &garbage, &digest, None))
        .unwrap_err();
    let Error::WritingSignatures { source, .. } = &err else {
        panic!("not a signing error: {err:?}");
    };
    assert!(
        !matches!(source.0, compose_signing::Error::Io { .. }),
        "{source:?}"
    );
    // The message is the one a registry error gave: the context, then the signer's error.
    assert_eq!(
        err.to_string(),
        format!("writing the release to `{}`", out.display())
    );
    let cause = std::error::Error::source(&err).unwrap();
    assert!(
        cause.to_string().starts_with("signing the release: "),
        "{cause}"
    );
    assert!(std::error::Error::source(cause).is_none());
    // A failed run, not a failure of the host.
    assert!(err.is_user_error());
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn a_run_continues_from_the_state_its_caller_read_without_reading_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let plan = Plan {
        stream: stream(dir.path()),
        stages: Vec::new(),
    };
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let options = RunOptions {
        state: Some(crate::state::StateOptions {
            dir: state_dir.clone(),
            selection: crate::state::Selection::default(),
        }),
        ..options(dir.path().join("out"))
    };
    // Read once while the directory is empty: a run that has not started.
    let read = StateRead::load(&state_dir).unwrap();
    assert_eq!(read.recorded_stages(), 0);
    // The directory changes after the read; the run goes on from what was read.
    std::fs::write(state_dir.join("notes.txt"), "mine").unwrap();
    assert!(Run::with_state(&plan, &options, Some(read), &Quiet).is_ok());
    // Read by the run itself, the directory now is refused.
    let err = Run::new(&plan, &options, &Quiet).err().unwrap().to_string();
    assert!(err.contains("is not a compose state directory"), "{err}");
}
