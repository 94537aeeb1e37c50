//! Generates the sample mirror: an OCI layout holding an OKD/FCOS 4.15-shaped release, its
//! component images and the SCOS images a composed 4.17 stream swaps in, all deterministic.
//!
//! The generator must not depend on anything but its inputs (the embedded component table and
//! `scale`): same inputs, same bytes, which a test checks against the committed
//! `examples/mirror`.
//!
//! ```no_run
//! let summary = compose_samples::generate(std::path::Path::new("examples/mirror"), 1)?;
//! println!("{} images, release {}", summary.images, summary.release_digest);
//! # Ok::<(), compose_samples::Error>(())
//! ```

#![deny(missing_docs)]

pub mod components;
pub mod error;
pub mod images;
pub mod keys;
pub mod manifests;
pub mod operators;
pub mod render;
pub mod special_manifests;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use compose_payload::timestamp::{format_rfc3339_utc, parse_rfc3339_utc};
use compose_payload::{BaseImage, Image, Release, ReleaseMetadata, build_release_image};
use compose_registry::{OciLayout, replace_layout};
use serde_json::Value;

use crate::components::{
    Component, FCOS_TAG, Flavor, base_components, commit_id, hash_hex, labels, repo_of, scaled,
    scos_os_labels, tag_annotations,
};
pub use crate::error::{Error, Result};
use crate::images::{Entry, ImageSpec, Layer, StoredImage, put_image};
use crate::manifests::release_manifests;
use crate::operators::{referenced_images, ships_manifests};
use crate::render::Context;
use crate::special_manifests::cvo_templates;

/// The base release name (a real OKD/FCOS 4.15 nightly name).
pub const BASE_RELEASE_NAME: &str = "4.15.0-0.okd-2024-03-10-010116";
/// The base release reference, the ref name of its `index.json` entry.
pub const BASE_RELEASE_REF: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";
/// When the base release was created.
pub const BASE_CREATED: &str = "2024-03-10T01:01:16Z";
/// The repository of every base component image (digest-only, no ref name).
pub const CONTENT_REPO: &str = "quay.io/openshift/okd-content";
/// The repository of the SCOS images.
pub const SCOS_REPO: &str = "quay.io/okd/scos-content";
/// The tag prefix of the SCOS images: `SCOS_REPO:SCOS_TAG_PREFIX<name>`.
pub const SCOS_TAG_PREFIX: &str = "4.17.0-okd-scos.0-";
/// The SCOS images the mirror holds for the composed stream.
pub const SCOS_IMAGES: [&str; 11] = [
    "stream-coreos",
    "stream-coreos-extensions",
    "installer",
    "installer-artifacts",
    "baremetal-installer",
    "machine-config-operator",
    "machine-os-images",
    "driver-toolkit",
    "ironic",
    "ironic-agent",
    "ironic-machine-os-downloader",
];

/// The CVO tag: the base of the release image.
const CVO: &str = "cluster-version-operator";
/// Component images are dated over the two days before the release.
const COMPONENTS_FROM: &str = "2024-03-08T00:00:00Z";
/// SCOS images are dated over the two days before 4.17.0-okd-scos.0.
const SCOS_FROM: &str = "2024-09-02T00:00:00Z";

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Entries in `index.json`.
    pub images: usize,
    /// Digest-only component images of the base release (the CVO image included).
    pub component_images: usize,
    /// SCOS images.
    pub scos_images: usize,
    /// Manifests in the release's `release-manifests/`.
    pub manifests: usize,
    /// Files in `blobs/sha256/`.
    pub blobs: usize,
    /// Bytes of all files in the layout.
    pub bytes: u64,
    /// The base release image's manifest digest.
    pub release_digest: String,
    /// Every ref name in `index.json`, sorted.
    pub refs: Vec<String>,
}

/// Writes the sample mirror to `out` (replacing it atomically). `scale` (≥ 1) multiplies the
/// component images (copies named `<name>-x2`, …) and the operator manifests for benchmarks;
/// scale 1 is the committed sample.
pub fn generate(out: &Path, scale: u32) -> Result<Summary> {
    if scale == 0 {
        return Err(Error::InvalidScale(scale));
    }
    let components = base_components()?;
    for image in referenced_images() {
        if !components.iter().any(|c| c.name == image) {
            return Err(Error::Data(format!(
                "`{image}` is referenced but not in 4.15"
            )));
        }
    }
    let mut written = None;
    replace_layout(out, |layout: &mut OciLayout| -> Result<()> {
        written = Some(fill(layout, &components, scale)?);
        Ok(())
    })?;
    let (release_digest, manifests, component_images) =
        written.ok_or_else(|| Error::Data("the layout was not filled".to_string()))?;
    let layout = OciLayout::open(out)?;
    let mut refs: Vec<String> = layout
        .index()
        .manifests
        .iter()
        .filter_map(|d| d.ref_name().map(str::to_string))
        .collect();
    refs.sort();
    let (blobs, blob_bytes) = dir_stats(&out.join("blobs").join("sha256"))?;
    let (_, top_bytes) = dir_stats(out)?;
    Ok(Summary {
        images: layout.index().manifests.len(),
        component_images,
        scos_images: SCOS_IMAGES.len(),
        manifests,
        blobs,
        bytes: blob_bytes + top_bytes,
        release_digest,
        refs,
    })
}

/// (files, bytes) of the regular files directly in `dir`.
fn dir_stats(dir: &Path) -> Result<(usize, u64)> {
    let io = |source| compose_registry::Error::Io {
        action: "listing",
        path: dir.to_path_buf(),
        source,
    };
    let mut files = 0;
    let mut bytes = 0;
    for entry in fs::read_dir(dir).map_err(io)? {
        let meta = entry.map_err(io)?.metadata().map_err(io)?;
        if meta.is_file() {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok((files, bytes))
}

/// A time in the two days after `from`, fixed by `name`.
fn created_at(from: &str, name: &str) -> Result<String> {
    let start = parse_rfc3339_utc(from).map_err(|source| Error::Payload {
        subject: name.to_string(),
        source,
    })?;
    let offset = u64::from_str_radix(&hash_hex(name)[..8], 16).unwrap_or(0) % 172_800;
    Ok(format_rfc3339_utc(start + offset))
}

/// The single-layer image of a component build.
fn component_spec(
    c: &Component,
    flavor: Flavor,
    labels: BTreeMap<String, String>,
) -> Result<ImageSpec> {
    let created = match flavor {
        Flavor::Fcos => created_at(COMPONENTS_FROM, &c.name)?,
        Flavor::Scos => created_at(SCOS_FROM, &format!("scos/{}", c.name))?,
    };
    let (entry, created_by, entrypoint) = match c.base.as_str() {
        FCOS_TAG => (
            Entry::file(
                "usr/lib/os-release",
                0o644,
                "NAME=\"Fedora Linux\"\nVERSION=\"39.20240309.3.0 (CoreOS)\"\nID=fedora\nVERSION_ID=39\nVARIANT=\"CoreOS\"\nVARIANT_ID=coreos\nOSTREE_VERSION='39.20240309.3.0'\n",
            ),
            "ostree container encapsulate fedora-coreos 39.20240309.3.0",
            vec!["/bin/bash".to_string()],
        ),
        "stream-coreos" => (
            Entry::file(
                "usr/lib/os-release",
                0o644,
                "NAME=\"CentOS Stream CoreOS\"\nID=\"scos\"\nID_LIKE=\"rhel fedora\"\nVERSION=\"9.0.20240903-0\"\nVERSION_ID=\"4.17\"\nVARIANT=\"CoreOS\"\nVARIANT_ID=coreos\nOPENSHIFT_VERSION=\"4.17\"\nOSTREE_VERSION='9.0.20240903-0'\n",
            ),
            "ostree container encapsulate scos 9.0.20240903-0",
            vec!["/bin/bash".to_string()],
        ),
        "stream-coreos-extensions" => (
            Entry::file(
                "usr/share/rpm-ostree/extensions.json",
                0o644,
                "{\"extensions\": [\"kernel-rt\", \"kerberos\", \"usbguard\", \"sandboxed-containers\", \"ipsec\", \"wasm\"]}\n",
            ),
            "COPY extensions /usr/share/rpm-ostree/",
            vec!["/bin/bash".to_string()],
        ),
        _ => (
            Entry::file(
                &format!("usr/share/doc/okd/{}/build-info", c.base),
                0o644,
                format!(
                    "component={}\nsource=https://github.com/{}\ncommit={}\nbuild={}\n",
                    c.name,
                    c.repo,
                    commit_id(flavor, &c.name),
                    flavor.word()
                ),
            ),
            "COPY build-info /usr/share/doc/okd/",
            vec![format!("/usr/bin/{}", c.base)],
        ),
    };
    Ok(ImageSpec {
        name: c.name.clone(),
        created,
        layers: vec![Layer {
            entries: vec![entry],
            created_by: created_by.to_string(),
        }],
        labels,
        entrypoint,
    })
}

/// The CVO image: a base OS layer (with the shell and coreutils a CVO update pod needs) and a
/// layer with the operator and its `/manifests` templates.
fn cvo_spec(c: &Component, labels: BTreeMap<String, String>) -> Result<ImageSpec> {
    let tool = |name: &str| {
        Entry::file(
            &format!("usr/bin/{name}"),
            0o755,
            format!("#!/bin/false\n# placeholder for `{name}` in the compose sample mirror\n"),
        )
    };
    let mut base = vec![
        Entry::dir("etc"),
        Entry::file(
            "etc/os-release",
            0o644,
            "NAME=\"CentOS Stream\"\nVERSION=\"9\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"9\"\nPLATFORM_ID=\"platform:el9\"\n",
        ),
        Entry::file(
            "etc/passwd",
            0o644,
            "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n",
        ),
        Entry::file("etc/group", 0o644, "root:x:0:\nnobody:x:65534:\n"),
        Entry::dir("usr"),
        Entry::dir("usr/bin"),
    ];
    base.extend(["sh", "bash", "cp", "mkdir", "mv", "rm", "cat"].map(tool));
    let mut operator = vec![
        Entry::dir("manifests"),
        Entry::file(
            "usr/bin/cluster-version-operator",
            0o755,
            "#!/bin/false\n# placeholder for the cluster-version-operator binary\n",
        ),
    ];
    for (name, text) in cvo_templates() {
        operator.push(Entry::file(&format!("manifests/{name}"), 0o644, text));
    }
    Ok(ImageSpec {
        name: c.name.clone(),
        created: created_at(COMPONENTS_FROM, &c.name)?,
        layers: vec![
            Layer {
                entries: base,
                created_by: "ADD centos-stream-9-minimal.tar.xz /".to_string(),
            },
            Layer {
                entries: operator,
                created_by: "COPY install /manifests; COPY cluster-version-operator /usr/bin/"
                    .to_string(),
            },
        ],
        labels,
        entrypoint: vec!["/usr/bin/cluster-version-operator".to_string()],
    })
}

/// Fills `layout`; returns (release digest, manifest count, component image count).
fn fill(
    layout: &mut OciLayout,
    components: &[Component],
    scale: u32,
) -> Result<(String, usize, usize)> {
    let mut images = BTreeMap::new();
    let mut pullspecs = BTreeMap::new();
    let mut cvo: Option<StoredImage> = None;
    for k in 1..=scale {
        for original in components {
            let c = if k == 1 {
                original.clone()
            } else {
                scaled(original, k)
            };
            let l = labels(&c, Flavor::Fcos, ships_manifests(&c.base, k > 1));
            let spec = if k == 1 && c.name == CVO {
                cvo_spec(&c, l.clone())?
            } else {
                component_spec(&c, Flavor::Fcos, l.clone())?
            };
            let stored = put_image(layout, &spec)?;
            layout.add_untagged(stored.descriptor.clone());
            let pullspec = format!("{CONTENT_REPO}@{}", stored.descriptor.digest);
            images.insert(
                c.name.clone(),
                Image {
                    name: c.name.clone(),
                    pullspec: pullspec.clone(),
                    annotations: tag_annotations(&l),
                },
            );
            pullspecs.insert(c.name.clone(), pullspec);
            if k == 1 && c.name == CVO {
                cvo = Some(stored);
            }
        }
    }
    let cvo = cvo.ok_or_else(|| Error::Data(format!("`{CVO}` is not a 4.15 component")))?;
    let component_images = images.len();

    let manifests = release_manifests(&Context {
        release: BASE_RELEASE_NAME,
        pullspecs: &pullspecs,
        scale,
    })?;
    let manifest_count = manifests.len();
    let mut metadata = ReleaseMetadata::new(BASE_RELEASE_NAME);
    metadata.previous = vec![
        "4.14.0-0.okd-2024-01-26-175629".to_string(),
        "4.15.0-0.okd-2024-02-23-163410".to_string(),
    ];
    metadata.metadata.insert(
        "url".to_string(),
        Value::String(format!(
            "https://github.com/okd-project/okd/releases/tag/{BASE_RELEASE_NAME}"
        )),
    );
    let release = Release {
        name: BASE_RELEASE_NAME.to_string(),
        metadata,
        images,
        manifests,
        files: BTreeMap::new(),
        annotations: BTreeMap::from([(
            "release.openshift.io/from-image-stream".to_string(),
            "origin/4.15".to_string(),
        )]),
        created: BASE_CREATED.to_string(),
        attachments: Vec::new(),
    };
    let base = BaseImage {
        manifest: cvo.manifest,
        config: cvo.config,
        digest: cvo.descriptor.digest,
    };
    let built = build_release_image(&release, &base).map_err(|source| Error::Payload {
        subject: BASE_RELEASE_NAME.to_string(),
        source,
    })?;
    layout.write_blob(&built.layer.gzip)?;
    layout.write_blob(&built.config)?;
    layout.write_blob(&built.manifest)?;
    layout.set_ref(built.manifest_descriptor(), BASE_RELEASE_REF);

    for name in SCOS_IMAGES {
        let c = Component {
            name: name.to_string(),
            base: name.to_string(),
            repo: repo_of(name)?,
        };
        let l = if name.starts_with("stream-coreos") {
            scos_os_labels(name)
        } else {
            labels(&c, Flavor::Scos, ships_manifests(name, false))
        };
        let stored = put_image(layout, &component_spec(&c, Flavor::Scos, l)?)?;
        layout.set_ref(
            stored.descriptor,
            &format!("{SCOS_REPO}:{SCOS_TAG_PREFIX}{name}"),
        );
    }
    layout.save_index()?;
    Ok((built.manifest_digest, manifest_count, component_images))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use compose_payload::image_references::{COMMIT_ID_ANNOTATION, VERSIONS_ANNOTATION};
    use compose_registry::{ImageSource, Mirrors, Reference, read_release_image};

    /// Every file under `dir` by relative path.
    fn files(dir: &Path) -> BTreeMap<PathBuf, PathBuf> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), path);
                }
            }
        }
        out
    }

    #[test]
    fn committed_mirror_matches_the_generator() {
        let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mirror");
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("mirror");
        generate(&fresh, 1).unwrap();
        let hint = "regenerate with `cargo run --release -p compose-samples --bin \
                    gen-sample-mirror -- examples/mirror` and commit the result";
        let (want, got) = (files(&fresh), files(&committed));
        assert_eq!(
            want.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>(),
            "examples/mirror has other files than the generator writes; {hint}"
        );
        for (rel, path) in &want {
            assert!(
                fs::read(path).unwrap() == fs::read(&got[rel]).unwrap(),
                "examples/mirror/{} differs from the generator's; {hint}",
                rel.display()
            );
        }
    }

    #[test]
    fn the_release_reads_back_through_a_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("mirror");
        let summary = generate(&out, 1).unwrap();
        assert_eq!(summary.component_images, 188);
        assert_eq!(summary.images, 188 + 1 + SCOS_IMAGES.len());
        assert!(summary.manifests >= 600);
        assert_eq!(summary.refs.len(), 1 + SCOS_IMAGES.len());
        assert!(summary.refs.contains(&BASE_RELEASE_REF.to_string()));
        assert!(
            summary
                .refs
                .contains(&format!("{SCOS_REPO}:{SCOS_TAG_PREFIX}stream-coreos"))
        );

        let layout: Arc<dyn ImageSource> = Arc::new(OciLayout::open(&out).unwrap());
        let mirrors = Mirrors::new(vec![("quay.io".to_string(), layout)]).unwrap();
        let image =
            read_release_image(&mirrors, &Reference::parse(BASE_RELEASE_REF).unwrap()).unwrap();
        assert_eq!(image.digest, summary.release_digest);
        assert_eq!(image.release.name, BASE_RELEASE_NAME);
        assert_eq!(image.release.images.len(), 188);
        assert_eq!(image.release.manifests.len(), summary.manifests);
        assert_eq!(image.manifest.layers.len(), 3);

        // The base-image digest label names the CVO tag's digest, as --from-release needs.
        let label = image.config["config"]["Labels"]["io.openshift.release.base-image-digest"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            image.release.images[CVO].pullspec,
            format!("{CONTENT_REPO}@{label}")
        );

        let fcos = &image.release.images[FCOS_TAG];
        assert_eq!(
            fcos.annotations[VERSIONS_ANNOTATION],
            "machine-os=39.20240309.3.0"
        );
        assert_eq!(
            image.release.images["hyperkube"].annotations[VERSIONS_ANNOTATION],
            "kubernetes=1.28.7"
        );
        assert_eq!(
            image.release.images["cli"].annotations[COMMIT_ID_ANNOTATION].len(),
            40
        );

        // Component images are real: their configs carry the labels.
        let ironic = Reference::parse(&image.release.images["ironic"].pullspec).unwrap();
        let config = mirrors.config(&ironic).unwrap();
        assert_eq!(config["config"]["Labels"]["vendor"], "Red Hat, Inc.");
        let mco =
            Reference::parse(&image.release.images["machine-config-operator"].pullspec).unwrap();
        assert_eq!(
            mirrors.config(&mco).unwrap()["config"]["Labels"]["io.openshift.release.operator"],
            "true"
        );
        let scos = Reference::parse(&format!("{SCOS_REPO}:{SCOS_TAG_PREFIX}ironic")).unwrap();
        assert!(
            mirrors.config(&scos).unwrap()["config"]["Labels"]
                .get("vendor")
                .is_none()
        );
    }

    #[test]
    fn scale_multiplies_images_and_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let one = generate(&dir.path().join("one"), 1).unwrap();
        let two = generate(&dir.path().join("two"), 2).unwrap();
        assert_eq!(two.component_images, 2 * one.component_images);
        assert!(
            two.manifests > 2 * one.manifests - 60,
            "{} vs {}",
            two.manifests,
            one.manifests
        );
        assert_eq!(two.refs, one.refs);
        assert_ne!(two.release_digest, one.release_digest);
        assert!(matches!(
            generate(&dir.path().join("zero"), 0),
            Err(Error::InvalidScale(0))
        ));
    }
}
