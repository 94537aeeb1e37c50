//! WebAssembly components as OCI artifacts, in the layout the CNCF Wasm working group
//! specifies (the one `wkg`, `oras` and wasm runtimes read): an image manifest whose config
//! has the media type `application/vnd.wasm.config.v0+json` and whose one layer is the
//! component, `application/wasm`. The manifest carries the standard annotations
//! (`org.opencontainers.image.created`, `source`, `version`, `description`).

use std::collections::BTreeMap;

use compose_payload::oci::{
    Descriptor, ImageManifest, OCI_MANIFEST, canonical_json, is_manifest, sha256_digest,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::source::ImageSource;

/// The config media type of a Wasm artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of a Wasm artifact.
pub const WASM_LAYER: &str = "application/wasm";
/// Annotation: when the artifact was made (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Annotation: where the plugin's source is (a URL).
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
/// Annotation: the plugin's version.
pub const ANNOTATION_VERSION: &str = "org.opencontainers.image.version";
/// Annotation: one sentence about the plugin.
pub const ANNOTATION_DESCRIPTION: &str = "org.opencontainers.image.description";

/// The `component` part of a Wasm artifact config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentSummary {
    /// Interfaces the component imports (`okd:compose/log@0.1.0`).
    #[serde(default)]
    pub imports: Vec<String>,
    /// Interfaces the component exports (`okd:compose/stage@0.1.0`).
    #[serde(default)]
    pub exports: Vec<String>,
    /// The world it targets, when known (`okd:compose/plugin@0.1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The config blob of a Wasm artifact (`application/vnd.wasm.config.v0+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When it was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Always `wasm`.
    pub architecture: String,
    /// The WASI version it targets: `wasip2` for components.
    pub os: String,
    /// The digests of the layers, in order.
    #[serde(default)]
    pub layer_digests: Vec<String>,
    /// What the component imports and exports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentSummary>,
}

/// What is said about a component when it is published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactInfo {
    /// Creation time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// Source URL.
    pub source: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Imports, exports and world.
    pub component: ComponentSummary,
}

/// A component packed as a Wasm artifact, ready to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmArtifact {
    /// The manifest bytes (canonical JSON).
    pub manifest: Vec<u8>,
    /// Their digest.
    pub manifest_digest: String,
    /// The config bytes.
    pub config: Vec<u8>,
    /// The layer: the component's digest.
    pub wasm_digest: String,
}

impl WasmArtifact {
    /// Packs `wasm` with `info`.
    pub fn build(wasm: &[u8], info: &ArtifactInfo) -> Result<WasmArtifact> {
        let wasm_digest = sha256_digest(wasm);
        let config = WasmConfig {
            created: Some(info.created.clone()),
            author: None,
            architecture: "wasm".into(),
            os: "wasip2".into(),
            layer_digests: vec![wasm_digest.clone()],
            component: Some(info.component.clone()),
        };
        let json_error = |source| Error::BadContent {
            reference: "the artifact being built".into(),
            store: "memory".into(),
            what: "Wasm artifact",
            source,
        };
        let config = canonical_json(&config).map_err(json_error)?;
        let mut annotations = BTreeMap::new();
        annotations.insert(ANNOTATION_CREATED.to_string(), info.created.clone());
        for (key, value) in [
            (ANNOTATION_SOURCE, &info.source),
            (ANNOTATION_VERSION, &info.version),
            (ANNOTATION_DESCRIPTION, &info.description),
        ] {
            if let Some(value) = value {
                annotations.insert(key.to_string(), value.clone());
            }
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_string()),
            config: Descriptor::of(WASM_CONFIG, &config),
            layers: vec![Descriptor::new(WASM_LAYER, &wasm_digest, wasm.len() as u64)],
            annotations: Some(annotations),
        };
        let manifest = canonical_json(&manifest).map_err(json_error)?;
        Ok(WasmArtifact {
            manifest_digest: sha256_digest(&manifest),
            manifest,
            config,
            wasm_digest,
        })
    }
}

/// A Wasm artifact read from a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledArtifact {
    /// The manifest digest (what `@sha256:` pins).
    pub manifest_digest: String,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The wasm layer.
    pub layer: Descriptor,
}

/// Checks that `manifest_bytes` (of `reference`) is a Wasm artifact: an image manifest with
/// the Wasm config media type and exactly one `application/wasm` layer. Returns the layer.
pub fn wasm_layer(reference: &str, manifest_bytes: &[u8]) -> Result<(ImageManifest, Descriptor)> {
    let bad = |reason: String| Error::NotAWasmArtifact {
        reference: reference.to_string(),
        reason,
    };
    let manifest: ImageManifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| bad(format!("its manifest does not parse: {e}")))?;
    if let Some(media_type) = &manifest.media_type
        && !is_manifest(media_type)
    {
        return Err(bad(format!(
            "it is a `{media_type}`, not an image manifest"
        )));
    }
    if manifest.config.media_type != WASM_CONFIG {
        return Err(bad(format!(
            "its config media type is `{}`, not `{WASM_CONFIG}`",
            manifest.config.media_type
        )));
    }
    let wasm: Vec<&Descriptor> = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == WASM_LAYER)
        .collect();
    let [layer] = wasm.as_slice() else {
        return Err(bad(format!(
            "it has {} `{WASM_LAYER}` layers, not one",
            wasm.len()
        )));
    };
    let layer = (*layer).clone();
    Ok((manifest, layer))
}

/// Reads the Wasm artifact `reference` from `source`: the manifest (verified) and its wasm
/// layer descriptor.
pub fn read_wasm_artifact(
    source: &dyn ImageSource,
    reference: &Reference,
) -> Result<PulledArtifact> {
    let descriptor = source.resolve(reference)?;
    let bytes = source.blob(reference, &descriptor.digest)?;
    let (manifest, layer) = wasm_layer(&reference.to_string(), &bytes)?;
    Ok(PulledArtifact {
        manifest_digest: descriptor.digest,
        manifest,
        layer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_cncf_layout() {
        let info = ArtifactInfo {
            created: "2024-09-10T00:00:00Z".into(),
            source: Some("https://example.org/p".into()),
            version: Some("1.2.3".into()),
            description: None,
            component: ComponentSummary {
                imports: vec!["okd:compose/log@0.1.0".into()],
                exports: vec!["okd:compose/stage@0.1.0".into()],
                target: None,
            },
        };
        let a = WasmArtifact::build(b"\0asm fake", &info).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(m["mediaType"], OCI_MANIFEST);
        assert_eq!(m["config"]["mediaType"], WASM_CONFIG);
        assert_eq!(m["layers"][0]["mediaType"], WASM_LAYER);
        assert_eq!(m["layers"][0]["digest"], a.wasm_digest);
        assert_eq!(m["annotations"][ANNOTATION_VERSION], "1.2.3");
        assert_eq!(m["annotations"][ANNOTATION_CREATED], "2024-09-10T00:00:00Z");
        assert!(m["annotations"].get(ANNOTATION_DESCRIPTION).is_none());
        let c: serde_json::Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(c["architecture"], "wasm");
        assert_eq!(c["os"], "wasip2");
        assert_eq!(c["layerDigests"][0], a.wasm_digest);
        assert_eq!(c["component"]["exports"][0], "okd:compose/stage@0.1.0");
        // Deterministic.
        assert_eq!(WasmArtifact::build(b"\0asm fake", &info).unwrap(), a);
        let (_, layer) = wasm_layer("x", &a.manifest).unwrap();
        assert_eq!(layer.digest, a.wasm_digest);
    }

    #[test]
    fn refuses_other_artifacts() {
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1},"layers":[]}"#;
        let err = wasm_layer("quay.io/a/b:1", image).unwrap_err().to_string();
        assert!(
            err.contains("quay.io/a/b:1") && err.contains(WASM_CONFIG),
            "{err}"
        );
        assert!(wasm_layer("x", b"[").is_err());
    }
}
