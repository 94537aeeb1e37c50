//! Pushing a published release to a registry: the release image first, then every other
//! image tagged in the output layout beside it (the signing work's `sha256-<hex>.sig`, the
//! provenance's `.att`, an `.sbom`), to the same repository under the same tags, so that an
//! attachment never names an image the registry does not have yet.
//!
//! Progress (blobs and bytes) is reported through the [`RemoteRegistries`] the caller set a
//! progress callback on.

use std::path::Path;
use std::sync::Arc;

use compose_registry::{OciLayout, PushReport, Reference, RemoteRegistries};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::run::RunOutcome;

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    /// The release image.
    pub release: PushReport,
    /// The images tagged beside it, in the order pushed.
    pub attachments: Vec<PushReport>,
    /// Wall time of the whole push, milliseconds.
    pub millis: f64,
}

/// Pushes the release `outcome` published to `target`, then its attachments (see the module
/// documentation). Refused, before anything is pushed, when stages are still to run.
pub async fn push(
    registries: &Arc<RemoteRegistries>,
    outcome: &RunOutcome,
    target: &Reference,
) -> Result<Pushed> {
    if !outcome.published {
        return Err(Error::Incomplete {
            pending: outcome.pending.clone(),
            state: outcome.state.clone(),
        });
    }
    let started = std::time::Instant::now();
    let layout = OciLayout::open(&outcome.out).map_err(|source| Error::Registry {
        context: format!("opening the output `{}`", outcome.out.display()),
        source: Box::new(source),
    })?;
    let tags = attachment_tags(&layout, &outcome.release);
    let layout: Arc<OciLayout> = Arc::new(layout);
    let failed = |source| Error::Push {
        release: outcome.release.clone(),
        target: target.to_string(),
        out: outcome.out.clone(),
        source: Box::new(source),
    };
    let release = local_reference(&outcome.release, &outcome.out)?;
    let report = compose_registry::push_image(registries, layout.clone(), &release, target)
        .await
        .map_err(failed)?;
    let mut attachments = Vec::with_capacity(tags.len());
    for tag in tags {
        let Ok(source) = Reference::parse(&format!("localhost/release:{tag}")) else {
            continue; // not a tag a registry takes
        };
        let dest = Reference {
            tag: Some(tag),
            digest: None,
            ..target.clone()
        };
        let report = compose_registry::push_image(registries, layout.clone(), &source, &dest)
            .await
            .map_err(failed)?;
        attachments.push(report);
    }
    Ok(Pushed {
        release: report,
        attachments,
        millis: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// The tags of the output layout other than the release's own, in index order: what is
/// pushed after the release.
fn attachment_tags(layout: &OciLayout, release: &str) -> Vec<String> {
    layout
        .index()
        .manifests
        .iter()
        .filter_map(|d| d.ref_name())
        .filter(|name| *name != release)
        .map(str::to_string)
        .collect()
}

/// How the release is named inside the output layout.
fn local_reference(release: &str, out: &Path) -> Result<Reference> {
    Reference::parse(&format!("localhost/release:{release}")).map_err(|source| Error::Registry {
        context: format!(
            "naming the release `{release}` in the output `{}`",
            out.display()
        ),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(out: &Path, published: bool) -> RunOutcome {
        RunOutcome {
            stream: "okd-scos".into(),
            release: "4.17.0-okd-scos.0".into(),
            digest: "sha256:00".into(),
            out: out.to_path_buf(),
            published,
            state: (!published).then(|| "/tmp/state".into()),
            pending: if published {
                Vec::new()
            } else {
                vec!["sign".into(), "test".into()]
            },
            stages: Vec::new(),
            total_millis: 0.0,
            signatures: Default::default(),
            provenance: None,
        }
    }

    fn registries() -> Arc<RemoteRegistries> {
        Arc::new(RemoteRegistries::new(
            compose_registry::RemoteConfig::default(),
        ))
    }

    #[tokio::test]
    async fn an_incomplete_release_is_not_pushed() {
        let dir = tempfile::tempdir().unwrap();
        let target = Reference::parse("127.0.0.1:9/okd/scos:1").unwrap();
        let err = push(&registries(), &outcome(dir.path(), false), &target)
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "`--push`: the release is not complete, stages still to run: sign, test; the state `/tmp/state` was saved"
        );
    }

    #[tokio::test]
    async fn the_attachments_are_every_other_tag_in_index_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        let entry = |tag: &str| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": format!("sha256:{}", "0".repeat(64)),
                "size": 2,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            })
        };
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                entry("sha256-00.sig"),
                entry("4.17.0-okd-scos.0"),
                entry("sha256-00.att"),
                entry("sha256-00.sbom"),
            ],
        });
        std::fs::write(dir.path().join("index.json"), index.to_string()).unwrap();
        let layout = OciLayout::open(dir.path()).unwrap();
        assert_eq!(
            attachment_tags(&layout, "4.17.0-okd-scos.0"),
            ["sha256-00.sig", "sha256-00.att", "sha256-00.sbom"]
        );
        // A push that cannot reach the registry names the release, the target and the way
        // to retry.
        let target = Reference::parse("127.0.0.1:9/okd/scos:1").unwrap();
        let err = push(&registries(), &outcome(dir.path(), true), &target)
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().starts_with(&format!(
                "pushing release `4.17.0-okd-scos.0` to `127.0.0.1:9/okd/scos:1`; the output `{}` is complete, run again to retry the push",
                dir.path().display()
            )),
            "{err}"
        );
        assert!(matches!(err, Error::Push { .. }), "{err:?}");
    }
}
