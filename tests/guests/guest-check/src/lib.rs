//! A read-only check built against `okd:compose@0.2.0`, world `check` (the new world of 0.2.0):
//! it proves the host runs such a component and keeps it read-only.
//!
//! It reports what it read (`{"check": "read", "message": "N manifests, M images, …"}`), and
//! says whether the payload carries the host's `signature-verification` attachment. With
//! `{"write": CALL}` in its config it first tries that write (`write-manifest`,
//! `remove-manifest`, `set-metadata`, `put-image`, `remove-image`, `rewrite-pullspec`,
//! `attach`), which the host must refuse by stopping it.

use bindings::exports::okd::compose0_2_0::check_stage::Guest;
use bindings::okd::compose0_2_0::log::{Level, log};
use bindings::okd::compose0_2_0::release::{Attachment, Image, Payload};
use bindings::okd::compose0_2_0::types::{Finding, Info, Severity};

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "okd:compose/check@0.2.0",
        generate_all,
    });

    use super::ReadOnly;
    export!(ReadOnly);
}

struct ReadOnly;

/// Tries the write `call`; whatever the host answers, a read-only check must not get past it.
fn write(call: &str, release: &Payload) -> Result<(), String> {
    let manifest = "0000_99_guest-check.yaml";
    match call {
        "write-manifest" => release
            .write_manifest(manifest, "apiVersion: v1\nkind: ConfigMap\n")
            .map_err(|e| format!("write-manifest: {e}"))?,
        "remove-manifest" => {
            let first = release.manifests().into_iter().next().unwrap_or_default();
            release.remove_manifest(&first);
        }
        "set-metadata" => release
            .set_metadata(&release.metadata())
            .map_err(|e| format!("set-metadata: {e}"))?,
        "put-image" => release
            .put_image(&Image {
                name: "guest-check".into(),
                pullspec: "quay.io/okd/x@sha256:0000000000000000000000000000000000000000000000000000000000000000".into(),
                annotations: vec![],
            })
            .map_err(|e| format!("put-image: {e}"))?,
        "remove-image" => {
            let first = release.images().into_iter().next().map(|i| i.name);
            release.remove_image(&first.unwrap_or_default());
        }
        "rewrite-pullspec" => {
            release
                .rewrite_pullspec("quay.io/nothing/here:1", "quay.io/nothing/else:1")
                .map_err(|e| format!("rewrite-pullspec: {e}"))?;
        }
        "attach" => release.attach(&Attachment {
            kind: "sbom".into(),
            media_type: "application/spdx+json".into(),
            data: b"{}".to_vec(),
        }),
        other => return Err(format!("unknown write `{other}`")),
    }
    Ok(())
}

impl Guest for ReadOnly {
    fn describe() -> Info {
        Info {
            name: "guest-check".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A read-only check of okd:compose@0.2.0".into(),
            config_schema: None,
        }
    }

    fn run(config: String, release: &Payload) -> Result<Vec<Finding>, String> {
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| format!("config: {e}"))?;
        if let Some(call) = config.get("write").and_then(serde_json::Value::as_str) {
            write(call, release)?;
            return Ok(vec![Finding {
                check: "wrote".into(),
                passed: true,
                severity: Severity::Info,
                subject: Some(call.into()),
                message: format!("a read-only check wrote with `{call}`"),
            }]);
        }
        log(Level::Info, "guest-check: reading");
        let verification = release
            .attachments()
            .iter()
            .any(|a| a.kind == "signature-verification");
        Ok(vec![Finding {
            check: "read".into(),
            passed: true,
            severity: Severity::Info,
            subject: Some(release.name()),
            message: format!(
                "{} manifests, {} images, signature-verification {}",
                release.manifests().len(),
                release.images().len(),
                if verification { "present" } else { "absent" }
            ),
        }])
    }
}
