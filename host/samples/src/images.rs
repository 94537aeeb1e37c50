//! Small, real, deterministic images: gzip tar layers, OCI configs and manifests written into
//! an OCI layout.

use std::collections::BTreeMap;

use compose_payload::oci::{
    Descriptor, ImageManifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, canonical_json,
    sha256_digest,
};
use compose_payload::timestamp::parse_rfc3339_utc;
use compose_registry::OciLayout;
use serde_json::{Value, json};
use tar::{EntryType, Header};

use crate::error::{Error, Result};

/// `PATH` of every sample image, as UBI/CentOS-based images set it.
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One tar entry: a directory when `path` ends in `/`, else a regular file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The path inside the image, without a leading `/`.
    pub path: String,
    /// The permission bits.
    pub mode: u32,
    /// The file content (empty for directories).
    pub data: Vec<u8>,
}

impl Entry {
    /// A regular file.
    pub fn file(path: &str, mode: u32, data: impl Into<Vec<u8>>) -> Entry {
        Entry {
            path: path.to_string(),
            mode,
            data: data.into(),
        }
    }

    /// A directory.
    pub fn dir(path: &str) -> Entry {
        Entry {
            path: format!("{}/", path.trim_end_matches('/')),
            mode: 0o755,
            data: Vec::new(),
        }
    }
}

/// A layer and the history line that made it.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Its entries, in order.
    pub entries: Vec<Entry>,
    /// The `created_by` of its history entry.
    pub created_by: String,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// A name for messages.
    pub name: String,
    /// `created`, `YYYY-MM-DDTHH:MM:SSZ`; also every file's mtime.
    pub created: String,
    /// The layers, base first.
    pub layers: Vec<Layer>,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `config.Entrypoint`.
    pub entrypoint: Vec<String>,
}

/// An image written into the layout.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The manifest descriptor (for `index.json`).
    pub descriptor: Descriptor,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config.
    pub config: Value,
}

/// A gzip tar (level 6, gzip mtime 0, uid/gid 0, every mtime `mtime`) and its diff ID.
fn gzip_tar(image: &str, entries: &[Entry], mtime: u64) -> Result<(Vec<u8>, String)> {
    let err = |source| Error::Layer {
        image: image.to_string(),
        source,
    };
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = Header::new_gnu();
        let kind = if entry.path.ends_with('/') {
            EntryType::Directory
        } else {
            EntryType::Regular
        };
        header.set_entry_type(kind);
        header.set_mode(entry.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_size(entry.data.len() as u64);
        tar.append_data(&mut header, &entry.path, entry.data.as_slice())
            .map_err(err)?;
    }
    let tar = tar.into_inner().map_err(err)?;
    let gzip = compose_payload::gzip::compress(&tar);
    Ok((gzip, sha256_digest(&tar)))
}

/// Builds `spec` and writes its blobs into `layout` (the index is left to the caller).
pub fn put_image(layout: &OciLayout, spec: &ImageSpec) -> Result<StoredImage> {
    let mtime = parse_rfc3339_utc(&spec.created).map_err(|source| Error::Payload {
        subject: spec.name.clone(),
        source,
    })?;
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for layer in &spec.layers {
        let (gzip, diff_id) = gzip_tar(&spec.name, &layer.entries, mtime)?;
        let digest = layout.write_blob(&gzip)?;
        layers.push(Descriptor::new(OCI_LAYER_GZIP, &digest, gzip.len() as u64));
        diff_ids.push(diff_id);
        history.push(json!({"created": spec.created, "created_by": layer.created_by}));
    }
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": spec.created,
        "config": {
            "Env": [PATH_ENV, "container=oci"],
            "Entrypoint": spec.entrypoint,
            "Labels": spec.labels,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let json_err = |what| {
        let image = spec.name.clone();
        move |source| Error::Json {
            image,
            what,
            source,
        }
    };
    let config_bytes = canonical_json(&config).map_err(json_err("config"))?;
    let config_digest = layout.write_blob(&config_bytes)?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config: Descriptor::new(OCI_CONFIG, &config_digest, config_bytes.len() as u64),
        layers,
        annotations: None,
    };
    let manifest_bytes = canonical_json(&manifest).map_err(json_err("manifest"))?;
    let digest = layout.write_blob(&manifest_bytes)?;
    Ok(StoredImage {
        descriptor: Descriptor::new(OCI_MANIFEST, &digest, manifest_bytes.len() as u64),
        manifest,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use compose_registry::{ImageSource, Reference};
    use std::io::Read;

    fn spec() -> ImageSpec {
        ImageSpec {
            name: "cli".into(),
            created: "2024-03-09T10:00:00Z".into(),
            layers: vec![Layer {
                entries: vec![
                    Entry::dir("usr/share/doc/okd"),
                    Entry::file("usr/share/doc/okd/cli", 0o644, "component=cli\n"),
                ],
                created_by: "COPY build-info /usr/share/doc/okd/".into(),
            }],
            labels: BTreeMap::from([("a".to_string(), "b".to_string())]),
            entrypoint: vec!["/usr/bin/oc".into()],
        }
    }

    #[test]
    fn images_are_real_and_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let a = put_image(&layout, &spec()).unwrap();
        let b = put_image(&layout, &spec()).unwrap();
        assert_eq!(a.descriptor, b.descriptor);

        let r = Reference::parse(&format!("quay.io/x/y@{}", a.descriptor.digest)).unwrap();
        let config = layout.config(&r).unwrap();
        assert_eq!(config["config"]["Labels"]["a"], "b");
        let layer = layout.blob(&r, &a.manifest.layers[0].digest).unwrap();
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&layer[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], sha256_digest(&tar));
        let mut archive = tar::Archive::new(&tar[..]);
        let paths: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(paths, vec!["usr/share/doc/okd/", "usr/share/doc/okd/cli"]);
    }
}
