//! Real upstream manifests (`tests/fixtures/upstream`, see its SOURCES.md) built into a base
//! release the way `oc adm release new` writes a payload, and the sample stream run over it
//! with its default checks: the run passes, and every corpus file comes out byte for byte as oc
//! would have rendered it under the new release name (the release rename), including the file
//! that is not a manifest and the byte order mark of a console quick start. Every file under
//! tests/fixtures/upstream/OPERATOR/ is taken, so a file added there (and to SOURCES.md) is
//! tested without touching this file.

use std::collections::BTreeMap;
use std::path::Path;

use compose_payload::oci::OCI_MANIFEST;
use compose_payload::release::is_manifest_name;
use compose_payload::{Descriptor, build_release_image, read_release_layer};
use compose_registry::{OciLayout, Reference, read_base_image, read_release_image};

use crate::support::*;

const BASE_REF: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";
const BASE: &str = "4.15.0-0.okd-2024-03-10-010116";
const RELEASE: &str = "4.17.0-okd-scos.0";
const BOM: &[u8] = b"\xef\xbb\xbf";
const MERGE_PATCH: &str = "0000_10_kube-apiserver-operator_01_config.crd.yaml-merge-patch";
const QUICKSTART: &str = "0000_50_console-operator_impersonate-user.yaml";

/// The operators whose sample manifests give way to the corpus's real ones (the console
/// operator keeps its own: the stream patches its Deployment; the corpus adds a quick start).
const REPLACED: [&str; 6] = [
    "cluster-authentication-operator",
    "cluster-kube-apiserver-operator",
    "cluster-update-keys",
    "machine-config-operator",
    "cluster-network-operator",
    "cluster-ingress-operator",
];

/// The sample's files of those operators that the stream's stages edit, kept: the
/// machine-config operator's ConfigMaps that oc renders from the release's images
/// (`swap-os-image` points `machine-config-osimageurl` at the new OS image).
const KEEP: [&str; 2] = [
    "0000_80_machine-config-operator_05_osimageurl.yaml",
    "0000_80_machine-config-operator_02_images.configmap.yaml",
];

/// The corpus: every file under tests/fixtures/upstream/OPERATOR/ (SOURCES.md aside), as
/// (path under tests/fixtures/upstream, the operator image that ships it), sorted.
fn corpus() -> Vec<(String, String)> {
    let root = repo().join("tests/fixtures/upstream");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap();
        if !dir.file_type().unwrap().is_dir() {
            continue;
        }
        let operator = dir.file_name().to_str().unwrap().to_string();
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let file = file.unwrap().file_name().to_str().unwrap().to_string();
            out.push((format!("{operator}/{file}"), operator.clone()));
        }
    }
    out.sort();
    out
}

#[test]
fn the_corpus_holds_every_file_sources_md_lists() {
    let sources =
        std::fs::read_to_string(repo().join("tests/fixtures/upstream/SOURCES.md")).unwrap();
    let listed: Vec<String> = sources
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l[3..].split('`').next().unwrap().to_string())
        .collect();
    let files: Vec<String> = corpus().into_iter().map(|(path, _)| path).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(sorted, files, "SOURCES.md and the files differ");
    for operator in [
        "machine-config-operator",
        "cluster-network-operator",
        "cluster-ingress-operator",
    ] {
        assert!(
            files
                .iter()
                .filter(|f| f.starts_with(&format!("{operator}/")))
                .count()
                >= 3,
            "{operator}: {files:?}"
        );
    }
}

/// oc's version substitution (`NewComponentVersionsMapper`): `(\W|^)0\.0\.1-snapshot` followed
/// by no `[a-z0-9-]` becomes `version`. Written here independently of compose's own rule.
fn oc_versions(data: &[u8], version: &str) -> Vec<u8> {
    const SNAPSHOT: &[u8] = b"0.0.1-snapshot";
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let at_start = i == 0 || !(data[i - 1].is_ascii_alphanumeric() || data[i - 1] == b'_');
        let next = data.get(i + SNAPSHOT.len()).copied();
        let component =
            next.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if at_start && data[i..].starts_with(SNAPSHOT) && !component {
            out.extend_from_slice(version.as_bytes());
            i += SNAPSHOT.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// The payload file name oc gives a file of an operator's manifest directory, and its bytes
/// as oc writes them for release `version` (the quick start with the byte order mark the
/// console quick starts ship with).
fn as_oc_writes(path: &str, operator: &str, version: &str) -> (String, Vec<u8>) {
    let data = std::fs::read(repo().join("tests/fixtures/upstream").join(path)).unwrap();
    let file = Path::new(path).file_name().unwrap().to_str().unwrap();
    let name = if file.starts_with("0000_") {
        file.to_string()
    } else {
        format!("0000_50_{operator}_{file}")
    };
    let mut data = oc_versions(&data, version);
    if operator == "console-operator" {
        data.splice(0..0, BOM.iter().copied());
    }
    (name, data)
}

/// The files of the release layer of the only image of an OCI layout.
fn payload_files(layout: &Path) -> BTreeMap<String, Vec<u8>> {
    let layout = OciLayout::open(layout).unwrap();
    let image = layout
        .index()
        .manifests
        .iter()
        .find(|d| d.media_type == OCI_MANIFEST)
        .unwrap()
        .clone();
    let manifest: serde_json::Value =
        serde_json::from_slice(&layout.read_blob(&image.digest).unwrap()).unwrap();
    let top = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    read_release_layer(&layout.read_blob(&top).unwrap()).unwrap()
}

/// A layout holding just the manifest, config and top layer of `digest` from `from`: enough
/// for `compose diff`.
fn single_image_layout(from: &OciLayout, digest: &str, size: u64, to: &Path) {
    let mut layout = OciLayout::create(to).unwrap();
    let manifest_bytes = from.read_blob(digest).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    layout.write_blob(&manifest_bytes).unwrap();
    for digest in [
        manifest["config"]["digest"].as_str().unwrap(),
        manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
            .as_str()
            .unwrap(),
    ] {
        layout.write_blob(&from.read_blob(digest).unwrap()).unwrap();
    }
    layout.set_ref(Descriptor::new(OCI_MANIFEST, digest, size), "base");
    layout.save_index().unwrap();
}

/// Replaces the sample base release in a copy of the mirror by one that carries the corpus
/// instead of the sample's manifests of the same operators. Returns the old base's
/// descriptor.
fn build_corpus_base(mirror: &Path) -> Descriptor {
    let mut layout = OciLayout::open(mirror).unwrap();
    let old = layout.find(BASE_REF).unwrap();
    let base = read_release_image(&layout, &Reference::parse(BASE_REF).unwrap()).unwrap();
    let mut release = base.release.clone();
    let corpus = corpus();
    release.manifests.retain(|name, _| {
        KEEP.contains(&name.as_str())
            || !REPLACED
                .iter()
                .any(|operator| name.contains(&format!("_{operator}_")))
    });
    for (path, operator) in &corpus {
        let (name, data) = as_oc_writes(path, operator, BASE);
        if is_manifest_name(&name) {
            release
                .write_manifest(&name, String::from_utf8(data).unwrap())
                .unwrap();
        } else {
            release.write_file(&name, data).unwrap();
        }
    }
    let cvo = release.images["cluster-version-operator"].pullspec.clone();
    let base_image = read_base_image(&layout, &cvo).unwrap();
    let built = build_release_image(&release, &base_image).unwrap();
    layout.write_blob(&built.layer.gzip).unwrap();
    layout.write_blob(&built.config).unwrap();
    layout.write_blob(&built.manifest).unwrap();
    layout.set_ref(built.manifest_descriptor(), BASE_REF);
    layout.save_index().unwrap();
    old
}

#[test]
fn the_sample_stream_over_real_upstream_manifests_passes_and_keeps_their_bytes() {
    let s = Scratch::new();
    let mirror = s.path().join("examples/mirror");
    copy_dir(&repo().join("examples/mirror"), &mirror);
    copy_dir(&repo().join("streams"), &s.path().join("streams"));
    let old = build_corpus_base(&mirror);

    // The base as oc wrote it: the version substituted, the other file kept.
    let base_files = {
        let layout = OciLayout::open(&mirror).unwrap();
        let d = layout.find(BASE_REF).unwrap();
        single_image_layout(&layout, &d.digest, d.size, &s.path().join("corpus-base"));
        single_image_layout(
            &layout,
            &old.digest,
            old.size,
            &s.path().join("sample-base"),
        );
        payload_files(&s.path().join("corpus-base"))
    };
    let auth = "0000_50_cluster-authentication-operator_07_deployment.yaml";
    let auth_text = String::from_utf8(base_files[auth].clone()).unwrap();
    assert!(
        auth_text.contains(&format!("\"{BASE}_openshift\"")),
        "{auth_text}"
    );
    assert_eq!(base_files[MERGE_PATCH].len(), 164);
    assert!(base_files[QUICKSTART].starts_with(BOM));

    // `compose diff` shows the file that is not a manifest.
    let diff = s.compose(&[
        "diff",
        s.path().join("sample-base").to_str().unwrap(),
        s.path().join("corpus-base").to_str().unwrap(),
    ]);
    ok(&diff);
    let text = stdout(&diff);
    assert!(
        text.contains(&format!("Other files:\n  Added:\n    {MERGE_PATCH}\n")),
        "{text}"
    );

    // The sample stream, default checks included, over the corpus base.
    let run = compose_in(
        &s,
        s.path(),
        &["run", "streams/scos.toml", "--out", "out"],
        &[],
    );
    ok(&run);
    let out = payload_files(&s.path().join("out"));
    for (path, operator) in &corpus() {
        let (name, want) = as_oc_writes(path, operator, RELEASE);
        assert_eq!(
            String::from_utf8_lossy(&out[&name]),
            String::from_utf8_lossy(&want),
            "{name}: not as oc would write it for {RELEASE}"
        );
        assert_eq!(out[&name], want, "{name}");
    }
    let auth_out = String::from_utf8(out[auth].clone()).unwrap();
    assert!(
        auth_out.contains(&format!("value: \"{RELEASE}_openshift\"")),
        "{auth_out}"
    );
    assert!(!auth_out.contains(BASE), "{auth_out}");
    assert!(out[QUICKSTART].starts_with(BOM));
}
