//! The image: config, manifest, and the OCI layout they are written to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use compose_payload::oci::{
    Descriptor, ImageManifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, Platform, canonical_json,
};
use compose_payload::timestamp::format_rfc3339_utc;
use compose_registry::{OciLayout, replace_layout};
use serde::Serialize;
use serde_json::json;

use crate::elf::{StaticExecutable, check_static};
use crate::error::{Error, Result};
use crate::layer::{
    BINARY_PATH, CA_BUNDLE_PATH, CACHE_PATH, COMPOSE_ID, HOME_PATH, Layer, base_entries,
    binary_entries, build as build_layer,
};

/// The CA bundle most Linux distributions keep (Debian, Ubuntu, Alpine, Arch).
pub const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// What goes into the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOptions {
    /// The static compose binary.
    pub binary: PathBuf,
    /// The CA bundle to install as `/etc/ssl/certs/ca-certificates.crt`; `None` for none.
    pub ca_bundle: Option<PathBuf>,
    /// The compose version (`org.opencontainers.image.version`).
    pub version: String,
    /// The source repository URL (`org.opencontainers.image.source`).
    pub source: String,
    /// What compose is (`org.opencontainers.image.description`).
    pub description: String,
    /// The source revision, e.g. a git commit (`org.opencontainers.image.revision`).
    pub revision: Option<String>,
    /// The creation time, seconds since 1970: every mtime, `created` and the annotation.
    pub created: u64,
}

/// A built image, held in memory until written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// What the binary is.
    pub executable: StaticExecutable,
    /// The layers, base first.
    pub layers: Vec<Layer>,
    /// The config blob (canonical JSON).
    pub config: Vec<u8>,
    /// The manifest blob (canonical JSON).
    pub manifest: Vec<u8>,
    /// `sha256:` of `manifest`: the image digest.
    pub digest: String,
    /// Whether a CA bundle was installed.
    pub has_ca_bundle: bool,
    /// The creation time, RFC 3339.
    pub created: String,
}

/// One layer of a written image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerSummary {
    /// What it holds: `base` or `compose`.
    pub name: &'static str,
    /// The blob digest.
    pub digest: String,
    /// The compressed size (the blob).
    pub size: u64,
    /// The uncompressed tar size.
    pub tar_size: u64,
}

/// What [`write_layout`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    /// The manifest digest.
    pub digest: String,
    /// The manifest size.
    pub manifest_size: u64,
    /// The config size.
    pub config_size: u64,
    /// Manifest, config and layers together: what a registry stores.
    pub total_size: u64,
    /// The layers, base first.
    pub layers: Vec<LayerSummary>,
    /// The tag in `index.json`.
    pub tag: String,
    /// The layout directory.
    pub out: PathBuf,
    /// `amd64` or `arm64`.
    pub architecture: &'static str,
    /// The creation time, RFC 3339.
    pub created: String,
}

/// The creation time from `SOURCE_DATE_EPOCH`, or 0 (1970-01-01T00:00:00Z) when it is unset
/// or empty, so that two builds of the same inputs agree.
pub fn created_from_env() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v.trim().parse().map_err(|_| Error::InvalidEpoch(v)),
        _ => Ok(0),
    }
}

/// [`HOST_CA_BUNDLE`] if this machine has it.
pub fn default_ca_bundle() -> Option<PathBuf> {
    let path = PathBuf::from(HOST_CA_BUNDLE);
    path.is_file().then_some(path)
}

/// Checks that `tag` is one a registry takes: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<()> {
    let ok = (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidTag(tag.to_string()))
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        what,
        source,
    })
}

fn json_bytes(value: &serde_json::Value, what: &'static str) -> Result<Vec<u8>> {
    canonical_json(value).map_err(|source| Error::Json { what, source })
}

/// Builds the image: checks the binary is a static executable, reads the CA bundle, builds both
/// layers, the config and the manifest. Same options, same bytes.
pub fn build(options: &ImageOptions) -> Result<Image> {
    let binary = read(&options.binary, "the compose binary")?;
    let executable = check_static(&options.binary, &binary)?;
    let bundle = match &options.ca_bundle {
        Some(path) => {
            let bytes = read(path, "the CA bundle")?;
            if !bytes
                .windows(27)
                .any(|w| w == b"-----BEGIN CERTIFICATE-----")
            {
                return Err(Error::NotACaBundle { path: path.clone() });
            }
            Some(bytes)
        }
        None => None,
    };
    let created = format_rfc3339_utc(options.created);
    let base = build_layer(base_entries(bundle.as_deref()), options.created)?;
    let top = build_layer(binary_entries(binary), options.created)?;

    let mut env = vec![
        "PATH=/usr/bin:/bin".to_string(),
        format!("HOME=/{HOME_PATH}"),
        format!("COMPOSE_CACHE_DIR=/{CACHE_PATH}"),
    ];
    if bundle.is_some() {
        env.push(format!("SSL_CERT_FILE=/{CA_BUNDLE_PATH}"));
    }
    let mut labels = BTreeMap::from([
        ("org.opencontainers.image.title", "compose".to_string()),
        ("org.opencontainers.image.version", options.version.clone()),
        ("org.opencontainers.image.source", options.source.clone()),
        (
            "org.opencontainers.image.description",
            options.description.clone(),
        ),
    ]);
    if let Some(revision) = &options.revision {
        labels.insert("org.opencontainers.image.revision", revision.clone());
    }
    let base_what = if bundle.is_some() {
        "passwd, group, nsswitch.conf, CA bundle"
    } else {
        "passwd, group, nsswitch.conf, no CA bundle"
    };
    let config = json!({
        "architecture": executable.architecture,
        "os": "linux",
        "created": created,
        "config": {
            "User": format!("{COMPOSE_ID}:{COMPOSE_ID}"),
            "Entrypoint": [format!("/{BINARY_PATH}")],
            "Env": env,
            "WorkingDir": format!("/{HOME_PATH}"),
            "Labels": labels,
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": [base.diff_id, top.diff_id],
        },
        "history": [
            {
                "created": created,
                "created_by": format!("compose image build: minimal base ({base_what})"),
            },
            {
                "created": created,
                "created_by": format!("compose image build: /{BINARY_PATH} {}", options.version),
            },
        ],
    });
    let config = json_bytes(&config, "config")?;

    let mut annotations = BTreeMap::from([
        (
            "org.opencontainers.image.created".to_string(),
            created.clone(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            options.version.clone(),
        ),
        (
            "org.opencontainers.image.source".to_string(),
            options.source.clone(),
        ),
    ]);
    if let Some(revision) = &options.revision {
        annotations.insert(
            "org.opencontainers.image.revision".to_string(),
            revision.clone(),
        );
    }
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config: Descriptor::of(OCI_CONFIG, &config),
        layers: [&base, &top]
            .iter()
            .map(|l| Descriptor::of(OCI_LAYER_GZIP, &l.gzip))
            .collect(),
        annotations: Some(annotations),
    };
    let manifest = canonical_json(&manifest).map_err(|source| Error::Json {
        what: "manifest",
        source,
    })?;
    Ok(Image {
        executable,
        digest: compose_payload::sha256_digest(&manifest),
        layers: vec![base, top],
        config,
        manifest,
        has_ca_bundle: bundle.is_some(),
        created,
    })
}

/// Writes `image` as an OCI image layout at `out`, tagged `tag` in `index.json`, all or
/// nothing (the previous layout stays until the new one is complete). An existing `out` that
/// is neither an OCI layout nor an empty directory is refused, not replaced.
pub fn write_layout(image: &Image, out: &Path, tag: &str) -> Result<ImageSummary> {
    validate_tag(tag)?;
    if out.exists() && !out.join("oci-layout").is_file() {
        let empty = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_none());
        if !empty {
            return Err(Error::OutputInUse(out.to_path_buf()));
        }
    }
    let mut descriptor = Descriptor::of(OCI_MANIFEST, &image.manifest);
    descriptor.platform = Some(Platform {
        architecture: image.executable.architecture.to_string(),
        os: "linux".to_string(),
        variant: None,
    });
    replace_layout(out, |layout: &mut OciLayout| -> Result<()> {
        for layer in &image.layers {
            layout.write_blob(&layer.gzip)?;
        }
        layout.write_blob(&image.config)?;
        layout.write_blob(&image.manifest)?;
        layout.set_ref(descriptor, tag);
        layout.save_index()?;
        Ok(())
    })?;
    let layers: Vec<LayerSummary> = ["base", "compose"]
        .into_iter()
        .zip(&image.layers)
        .map(|(name, l)| LayerSummary {
            name,
            digest: l.digest.clone(),
            size: l.gzip.len() as u64,
            tar_size: l.tar_size,
        })
        .collect();
    let manifest_size = image.manifest.len() as u64;
    let config_size = image.config.len() as u64;
    Ok(ImageSummary {
        digest: image.digest.clone(),
        manifest_size,
        config_size,
        total_size: manifest_size + config_size + layers.iter().map(|l| l.size).sum::<u64>(),
        layers,
        tag: tag.to_string(),
        out: out.to_path_buf(),
        architecture: image.executable.architecture,
        created: image.created.clone(),
    })
}
