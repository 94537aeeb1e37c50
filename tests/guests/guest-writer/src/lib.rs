//! A stage that writes into the payload what its config says, to prove the host checks every
//! write as it happens:
//!
//! - `{"write": [{"path": P, "content": C}, …]}` writes each manifest in order and fails with
//!   the host's message at the first refusal (`"ignore-errors": true` goes on instead, as a
//!   careless stage would);
//! - `{"flood": N}` writes N-byte ConfigMaps under new names in an endless loop, ignoring
//!   every error, as a runaway plugin would;
//! - `{"attach": [{"kind": K, "media-type": M, "data": D}, …]}` attaches each (the data as
//!   UTF-8 bytes).
//!
//! Imports only `log` (and `release`, through `stage`).

use bindings::exports::okd::compose::stage::{Finding, Guest, Info};
use bindings::okd::compose::log::{Level, log};
use bindings::okd::compose::release::{Attachment, Payload};
use serde_json::Value;

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package okd-test:guest;

            world writer {
                import okd:compose/log@0.1.0;
                export okd:compose/stage@0.1.0;
            }
        ",
        path: "../../../wit/deps/okd-compose@0.1.0",
        world: "okd-test:guest/writer",
        generate_all,
    });

    use super::Writer;
    export!(Writer);
}

struct Writer;

/// The string `key` of `value`, or an error naming it.
fn text<'a>(value: &'a Value, key: &str) -> Result<&'a str, String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("config: `{key}` must be a string"))
}

/// Writes ConfigMaps of about `size` bytes under new names, forever, ignoring errors.
fn flood(release: &Payload, size: usize) -> ! {
    let filler = "x".repeat(size);
    let mut n: u64 = 0;
    loop {
        n += 1;
        let content = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flood-{n}\n  namespace: openshift-flood\ndata:\n  filler: {filler}\n"
        );
        let _ = release.write_manifest(&format!("0000_99_flood_{n:08}.yaml"), &content);
    }
}

impl Guest for Writer {
    fn describe() -> Info {
        Info {
            name: "guest-writer".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Writes what its config says into the payload".into(),
            config_schema: None,
        }
    }

    fn run(config: String, release: &Payload) -> Result<Vec<Finding>, String> {
        let config: Value =
            serde_json::from_str(&config).map_err(|e| format!("config is not JSON: {e}"))?;
        let ignore = config
            .get("ignore-errors")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let Some(size) = config.get("flood").and_then(Value::as_u64) {
            log(Level::Info, "guest-writer: writing manifests without end");
            flood(release, usize::try_from(size).unwrap_or(1024));
        }
        for write in config
            .get("write")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = text(write, "path")?;
            match release.write_manifest(path, text(write, "content")?) {
                Ok(()) => log(Level::Info, &format!("guest-writer: wrote {path}")),
                Err(e) if ignore => log(Level::Warn, &format!("guest-writer: ignored: {e}")),
                Err(e) => return Err(e),
            }
        }
        for attachment in config
            .get("attach")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            release.attach(&Attachment {
                kind: text(attachment, "kind")?.to_string(),
                media_type: text(attachment, "media-type")?.to_string(),
                data: text(attachment, "data")?.as_bytes().to_vec(),
            });
        }
        Ok(Vec::new())
    }
}
