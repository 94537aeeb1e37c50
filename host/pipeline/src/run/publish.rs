//! Where a run writes: the output it publishes the release to (checked before any stage
//! runs), the state a stage-at-a-time process saves, and the reports of a failed run.

use std::path::{Path, PathBuf};

use compose_payload::Release;
use compose_registry::{ImageSource, OciLayout};
use compose_stream::Stream;

use super::build::Built;
use super::{Run, Working};
use crate::error::{Error, Result, SigningFailure};
use crate::events::{Event, Observer};
use crate::report::{self, Report, StageReport};
use crate::signing::{self, RunKeys};
use crate::state::{JOURNAL, Journal, StateOptions};

/// What [`Run::publish`] wrote.
pub(super) struct Published {
    /// The published digest.
    pub digest: String,
    /// The signatures written beside the release.
    pub signatures: compose_signing::publish::Published,
    /// The provenance written beside it.
    pub provenance: crate::provenance::ProvenanceOutcome,
}

impl Run<'_> {
    /// Writes the state directory (unless this process ran nothing: a retried task leaves the
    /// state exactly as it was, byte for byte and file for file), recording the digest after
    /// the last stage it ran.
    pub(super) fn save_state(
        &self,
        state: &StateOptions,
        work: &mut Working,
        built: &Built,
        blobs: &dyn ImageSource,
        pending: &[String],
        observer: &dyn Observer,
    ) -> Result<()> {
        let ran_nothing = self.selected.run.is_empty() && self.done > 0;
        if ran_nothing {
            return Ok(());
        }
        if !self.selected.run.is_empty()
            && let Some(last) = work.journal.stages.last_mut()
        {
            last.release_digest = Some(built.0.clone());
        }
        save_state(&state.dir, &work.release, &work.journal, built, blobs)?;
        observer.event(&Event::StateSaved {
            dir: state.dir.display().to_string(),
            digest: built.0.clone(),
            pending: pending.to_vec(),
        });
        Ok(())
    }

    /// Checks the release and writes it, its signatures, its provenance and its reports to
    /// the output, all at once.
    pub(super) fn publish(
        &self,
        work: &Working,
        built: Built,
        blobs: &dyn ImageSource,
        provenance: crate::provenance::Prepared,
        observer: &dyn Observer,
    ) -> Result<Published> {
        let (release, journal) = (&work.release, &work.journal);
        let out = &self.options.out;
        let (digest, built, base_ref) = built;
        // The digest signed must be the digest published.
        let signed = signing::check_before_publish(release, &self.keys, &digest)?;
        if signed == 0 {
            let reason = unsigned_reason(journal, &self.keys);
            if self.options.require_signed {
                return Err(Error::Signing(format!(
                    "`--require-signed`: the release is unsigned: {reason}"
                )));
            }
            observer.event(&Event::Unsigned { reason });
        }
        let stream = &self.plan.stream;
        let reports = journal.reports();
        let mut files = Report::new(&stream.name, &release.name, Some(&digest), &reports).files();
        files.extend(provenance.files().iter().cloned());
        let output = Output {
            out,
            ref_name: &release.name,
            built: &built,
            blobs,
            base_ref: &base_ref,
            files: &files,
        };
        let lookaside = signing::lookaside_repository(stream);
        let (signatures, attestation) = output.write(|layout| {
            let published = compose_signing::publish::write_signatures(
                layout,
                &release.attachments,
                &digest,
                lookaside.as_deref(),
            )?;
            Ok((published, provenance.attach(layout, &digest)?))
        })?;
        // A report of an earlier failed run no longer describes this output.
        report::remove_failed_report(out);
        if signed > 0 {
            observer.event(&Event::Signed {
                openpgp: signatures.openpgp,
                cosign: signatures.cosign,
                store: signatures
                    .store
                    .as_ref()
                    .map(|s| out.join(s).display().to_string()),
                cosign_tag: signatures.cosign_manifest.as_ref().map(|(t, _)| t.clone()),
            });
        }
        let provenance = provenance.published(out, attestation, observer);
        observer.event(&Event::Published {
            release: release.name.clone(),
            digest: digest.clone(),
            location: out.display().to_string(),
        });
        Ok(Published {
            digest,
            signatures,
            provenance,
        })
    }
}

/// Why a release is unsigned: absent optional keys, skipped stages, or no signing stage.
pub(super) fn unsigned_reason(journal: &Journal, keys: &RunKeys) -> String {
    let skipped: Vec<String> = journal
        .stages
        .iter()
        .filter_map(|s| {
            s.skipped
                .as_ref()
                .map(|why| format!("stage `{}` was skipped: {why}", s.stage))
        })
        .collect();
    if !keys.keys.absent.is_empty() {
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
    } else if !skipped.is_empty() {
        skipped.join("; ")
    } else {
        "no stage signed it (add a `sign` stage granted a key)".to_string()
    }
}

/// A release image and the files to write with it into an output directory.
pub(super) struct Output<'a> {
    /// The output directory.
    pub out: &'a Path,
    /// The tag of the release in the layout (the release name).
    pub ref_name: &'a str,
    /// The release image.
    pub built: &'a compose_payload::BuiltImage,
    /// Where its blobs are read from.
    pub blobs: &'a dyn ImageSource,
    /// The base it was built on.
    pub base_ref: &'a compose_registry::Reference,
    /// The files written at the top of the output (reports, provenance).
    pub files: &'a [(&'static str, Vec<u8>)],
}

impl Output<'_> {
    /// Writes the release, the files and what `attach` writes into the layout (signatures,
    /// attestations), swapped in at once. A failure of `attach` is a signing error
    /// ([`Error::WritingSignatures`]); one of writing the release a registry error.
    pub(super) fn write<T: Default>(
        &self,
        attach: impl FnOnce(&mut OciLayout) -> compose_signing::Result<T>,
    ) -> Result<T> {
        let mut attached = None;
        let mut failed = None;
        let written = compose_registry::write_release_layout_with(
            self.out,
            self.ref_name,
            self.built,
            self.blobs,
            self.base_ref,
            self.files,
            |layout| match attach(layout) {
                Ok(value) => {
                    attached = Some(value);
                    Ok(())
                }
                Err(e) => {
                    let message = e.to_string();
                    failed = Some(e);
                    Err(compose_registry::Error::Attachment { message })
                }
            },
        );
        if let Some(e) = failed {
            return Err(Error::WritingSignatures {
                out: self.out.to_path_buf(),
                source: SigningFailure(e),
            });
        }
        written.map_err(|source| Error::Registry {
            context: format!("writing the release to `{}`", self.out.display()),
            source: Box::new(source),
        })?;
        // Written: `attach` ran.
        Ok(attached.unwrap_or_default())
    }
}

/// Writes the state directory: the release image as it stands and the journal, replacing the
/// old state all or nothing.
fn save_state(
    dir: &Path,
    release: &Release,
    journal: &Journal,
    built: &Built,
    blobs: &dyn ImageSource,
) -> Result<()> {
    let journal_bytes = journal.to_json()?;
    compose_registry::write_release_layout(
        dir,
        &release.name,
        &built.1,
        blobs,
        &built.2,
        &[(JOURNAL, journal_bytes)],
    )
    .map_err(|source| Error::Registry {
        context: format!("saving the state `{}`", dir.display()),
        source: Box::new(source),
    })
}

/// Writes the reports of a failed process to `<out>.failed/`; returns that directory, or
/// `None` (with a warning) when it cannot be written.
pub(super) fn write_failed_report(
    out: &Path,
    stream: &Stream,
    reports: &[StageReport],
) -> Option<PathBuf> {
    let dir = report::failed_report_dir(out);
    let written = Report::new(&stream.name, &stream.release, None, reports);
    match report::write_files(&dir, &written) {
        Ok(()) => Some(dir),
        Err(e) => {
            tracing::warn!("cannot write the report to `{}`: {e}", dir.display());
            None
        }
    }
}

/// Refuses an output that would replace something compose did not write (a user's files, a
/// file) or an input of the run (the stream's directory, a mirror, a granted directory, the
/// state), before any stage runs; publishing checks again.
pub(super) fn check_output(stream: &Stream, options: &super::RunOptions) -> Result<()> {
    let mut protected: Vec<PathBuf> = Vec::new();
    if let Some(dir) = stream.path.parent() {
        protected.push(if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.to_path_buf()
        });
    }
    protected.extend(stream.mirrors.iter().map(|m| m.path.clone()));
    for stage in &stream.stages {
        protected.extend(stage.grants.files.iter().map(|f| f.host.clone()));
    }
    if let Some(state) = &options.state {
        protected.push(state.dir.clone());
    }
    let refused = |source| Error::Registry {
        context: format!("cannot publish to `{}`", options.out.display()),
        source: Box::new(source),
    };
    compose_registry::check_not_protected(&options.out, &protected).map_err(refused)?;
    compose_registry::check_replaceable(&options.out).map_err(refused)
}
