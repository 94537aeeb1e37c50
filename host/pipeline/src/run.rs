//! Running a plan: load the base release, run every stage in its sandbox, check the result,
//! build the release image and publish it. Nothing is written unless every stage passed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use compose_payload::release::BASE_TAG;
use compose_payload::{Release, build_release_image};
use compose_registry::{ImageSource, Mirrors, ReleaseImage, read_base_image, read_release_image};
use compose_runtime::{Finding, HostServices, Runtime, Severity};
use compose_stream::Stream;

use crate::error::{Error, Result};
use crate::events::{Event, Observer, millis};
use crate::plan::{Plan, PlannedStage};
use crate::report::{self, Report};
use crate::signing;
use crate::sources::{RegistryView, mirrors, parse_reference};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The output OCI layout directory.
    pub out: PathBuf,
    /// `SOURCE_DATE_EPOCH`, if set: the creation time of the release.
    pub source_date_epoch: Option<u64>,
    /// The real registries: references no `[registries]` entry serves are read from the
    /// registry they name. `None`: only the stream's mirrors are read.
    pub registries: Option<Arc<compose_registry::RemoteRegistries>>,
    /// Fail unless the release is signed (every declared key available, a signature made).
    pub require_signed: bool,
}

/// What one stage did.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// The stage.
    pub stage: String,
    /// Its plugin.
    pub plugin: String,
    /// The plugin's wasm digest.
    pub digest: String,
    /// Instantiation time, milliseconds.
    pub instantiate_millis: f64,
    /// Run time, milliseconds.
    pub run_millis: f64,
    /// Findings.
    pub findings: Vec<Finding>,
}

/// What a successful run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// The stream.
    pub stream: String,
    /// The release name.
    pub release: String,
    /// The release image's manifest digest.
    pub digest: String,
    /// The output directory.
    pub out: PathBuf,
    /// Per-stage reports.
    pub stages: Vec<StageReport>,
    /// Wall time of the whole run, milliseconds.
    pub total_millis: f64,
    /// The signatures published with the release.
    pub signatures: compose_signing::publish::Published,
}

/// Runs a plan and publishes the release into `options.out`.
pub async fn run(
    runtime: &Runtime,
    plan: &Plan,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<RunOutcome> {
    let started = Instant::now();
    plan.check_grants()?;
    let stream = &plan.stream;
    let keys = signing::load_keys(stream)?;
    if options.require_signed && !keys.keys.absent.is_empty() {
        return Err(Error::Signing(format!(
            "`--require-signed`: the release would not be signed: {}",
            keys.keys
                .absent
                .iter()
                .map(|(k, why)| format!("key `{k}`: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    let mirrors = Arc::new(match &options.registries {
        Some(registries) => crate::sources::mirrors_with(stream, registries)?,
        None => mirrors(stream)?,
    });
    let from = parse_reference(&stream.from, "base release")?;
    let base = read_release_image(mirrors.as_ref(), &from).map_err(|source| Error::Registry {
        context: format!("reading the base release `{}`", stream.from),
        source: Box::new(source),
    })?;
    observer.event(&Event::BaseLoaded {
        reference: stream.from.clone(),
        digest: base.digest.clone(),
        name: base.release.name.clone(),
        images: base.release.images.len(),
        manifests: base.release.manifests.len(),
    });
    let mut release = prepare(stream, &base, options.source_date_epoch);

    let services = HostServices {
        registry: Arc::new(RegistryView::new(mirrors.clone())),
        signer: Arc::new(compose_signing::StreamSigner::new(
            keys.keys.clone(),
            options.source_date_epoch,
        )),
        digest: digest_fn(mirrors.clone()),
    };
    let current_digest = |release: &Release| build(mirrors.as_ref(), release).map(|(d, _, _)| d);
    let total = plan.stages.len();
    let mut reports = Vec::with_capacity(total);
    for (i, planned) in plan.stages.iter().enumerate() {
        if let Some(reason) = signing::skip_reason(&planned.stage, &keys.keys) {
            tracing::warn!(stage = planned.stage.name, "stage skipped: {reason}");
            observer.event(&Event::StageSkipped {
                stage: planned.stage.name.clone(),
                reason,
            });
            continue;
        }
        let spec = signing::stage_spec(
            &planned.spec,
            &planned.stage,
            stream,
            options.source_date_epoch,
        );
        observer.event(&Event::StageStarted {
            stage: planned.stage.name.clone(),
            plugin: planned.plugin.label().to_string(),
            index: i + 1,
            total,
        });
        let outcome = runtime
            .run_stage(&planned.plugin, &spec, release, &services)
            .await?;
        release = outcome.release;
        signing::after_stage(&planned.stage.name, &mut release, &keys, &current_digest)?;
        let (report, failed) = finish_stage(
            planned,
            outcome.instantiate,
            outcome.run,
            outcome.findings,
            observer,
        );
        reports.push(report);
        if failed > 0 {
            let dir = report::failed_report_dir(&options.out);
            let written = Report::new(&stream.name, &stream.release, None, &reports);
            let report = match report::write_files(&dir, &written) {
                Ok(()) => Some(dir),
                Err(e) => {
                    tracing::warn!("cannot write the report to `{}`: {e}", dir.display());
                    None
                }
            };
            return Err(Error::ChecksFailed {
                stage: planned.stage.name.clone(),
                count: failed,
                report,
            });
        }
    }

    check_invariants(stream, &release)?;
    let (digest, built, base_ref) = build(mirrors.as_ref(), &release)?;
    // The digest signed must be the digest published.
    let signed = signing::check_before_publish(&release, &keys, &digest)?;
    if signed == 0 {
        let reason = if keys.keys.absent.is_empty() {
            "no stage signed it (add a `sign` stage granted a key)".to_string()
        } else {
            format!(
                "optional key{} {} not available",
                if keys.keys.absent.len() == 1 { "" } else { "s" },
                keys.keys
                    .absent
                    .iter()
                    .map(|(k, why)| format!("`{k}` ({why})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        if options.require_signed {
            return Err(Error::Signing(format!(
                "`--require-signed`: the release is unsigned: {reason}"
            )));
        }
        observer.event(&Event::Unsigned { reason });
    }
    let files = Report::new(&stream.name, &release.name, Some(&digest), &reports).files();
    let lookaside = signing::lookaside_repository(stream);
    let mut published = compose_signing::publish::Published::default();
    compose_registry::write_release_layout_with(
        &options.out,
        &release.name,
        &built,
        mirrors.as_ref(),
        &base_ref,
        &files,
        |layout| {
            published = compose_signing::publish::write_signatures(
                layout,
                &release.attachments,
                &digest,
                lookaside.as_deref(),
            )
            .map_err(|e| compose_registry::Error::Client(e.to_string()))?;
            Ok(())
        },
    )
    .map_err(|source| Error::Registry {
        context: format!("writing the release to `{}`", options.out.display()),
        source: Box::new(source),
    })?;
    // A report of an earlier failed run no longer describes this output.
    let _ = std::fs::remove_dir_all(report::failed_report_dir(&options.out));
    if signed > 0 {
        observer.event(&Event::Signed {
            openpgp: published.openpgp,
            cosign: published.cosign,
            store: published
                .store
                .as_ref()
                .map(|s| options.out.join(s).display().to_string()),
            cosign_tag: published.cosign_manifest.as_ref().map(|(t, _)| t.clone()),
        });
    }
    observer.event(&Event::Published {
        release: release.name.clone(),
        digest: digest.clone(),
        location: options.out.display().to_string(),
    });
    Ok(RunOutcome {
        stream: stream.name.clone(),
        release: release.name,
        digest,
        out: options.out.clone(),
        stages: reports,
        total_millis: millis(started.elapsed()),
        signatures: published,
    })
}

/// The working payload: the base release renamed to the stream's release, with the stream's
/// metadata and a reproducible creation time.
fn prepare(stream: &Stream, base: &ReleaseImage, source_date_epoch: Option<u64>) -> Release {
    let mut release = base.release.clone();
    let old_name = release.name.clone();
    release.rename(&stream.release);
    release.rewrite_version(&old_name, &stream.release);
    release.metadata.previous = stream.previous.clone();
    release.metadata.previous.sort();
    release.metadata.next.clear();
    release.metadata.metadata = stream.metadata.clone();
    release.annotations.clear();
    release.annotations.insert(
        "release.openshift.io/from-release".into(),
        stream.from.clone(),
    );
    release.attachments.clear();
    release.created = match (source_date_epoch, &stream.created) {
        (Some(epoch), _) => compose_payload::timestamp::format_rfc3339_utc(epoch),
        (None, Some(created)) => created.clone(),
        (None, None) => base.release.created.clone(),
    };
    release
}

/// How a stage's `payload.digest()` is answered: build the image as it stands.
fn digest_fn(mirrors: Arc<Mirrors>) -> compose_runtime::DigestFn {
    Arc::new(move |release: &Release| {
        build(mirrors.as_ref(), release)
            .map(|(digest, _, _)| digest)
            .map_err(|e| e.to_string())
    })
}

/// The digest `release` would have as a release image (built on the base its
/// `cluster-version-operator` tag names, read from `source`).
pub(crate) fn build_digest(
    source: &dyn ImageSource,
    release: &Release,
) -> std::result::Result<String, String> {
    build(source, release)
        .map(|(digest, _, _)| digest)
        .map_err(|e| e.to_string())
}

/// Builds the release image on the base the `cluster-version-operator` tag names.
fn build(
    source: &dyn ImageSource,
    release: &Release,
) -> Result<(
    String,
    compose_payload::BuiltImage,
    compose_registry::Reference,
)> {
    let cvo = release.images.get(BASE_TAG).ok_or_else(|| {
        Error::Invariant(format!(
            "the `{BASE_TAG}` image is missing: it is the base of the release image"
        ))
    })?;
    let base_ref = parse_reference(&cvo.pullspec, "base image")?;
    let base = read_base_image(source, &cvo.pullspec).map_err(|source| Error::Registry {
        context: format!("reading the base image `{}`", cvo.pullspec),
        source: Box::new(source),
    })?;
    let built = build_release_image(release, &base).map_err(|source| Error::Payload {
        context: format!("building the release image `{}`", release.name),
        source,
    })?;
    Ok((built.manifest_digest.clone(), built, base_ref))
}

/// What the host checks before it publishes, whatever the stages did.
fn check_invariants(stream: &Stream, release: &Release) -> Result<()> {
    if release.name != stream.release || release.metadata.version != stream.release {
        return Err(Error::Invariant(format!(
            "the release name must stay `{}`",
            stream.release
        )));
    }
    let unpinned: Vec<&str> = release
        .images
        .values()
        .filter(|i| !i.pullspec.contains("@sha256:"))
        .map(|i| i.name.as_str())
        .collect();
    if !unpinned.is_empty() {
        return Err(Error::Invariant(format!(
            "every image must be pinned by digest (`repo@sha256:…`); not pinned: {}",
            unpinned
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// Reports a stage that ran: emits `stage-finished` and returns the stage's report with the
/// number of its findings that failed with severity `error`.
pub(crate) fn finish_stage(
    planned: &PlannedStage,
    instantiate: std::time::Duration,
    run: std::time::Duration,
    findings: Vec<Finding>,
    observer: &dyn Observer,
) -> (StageReport, usize) {
    observer.event(&Event::StageFinished {
        stage: planned.stage.name.clone(),
        instantiate_millis: millis(instantiate),
        run_millis: millis(run),
        findings: findings.clone(),
    });
    let failed = findings
        .iter()
        .filter(|f| !f.passed && f.severity == Severity::Error)
        .count();
    let report = StageReport {
        stage: planned.stage.name.clone(),
        plugin: planned.plugin.label().to_string(),
        digest: planned.plugin.digest().to_string(),
        instantiate_millis: millis(instantiate),
        run_millis: millis(run),
        findings,
    };
    (report, failed)
}
