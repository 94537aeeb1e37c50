use super::*;
use compose_payload::Image;

use super::render::{commit_url, human_size, short_human_duration};

fn tag(name: &str, pullspec: &str, annotations: &[(&str, &str)]) -> Image {
    Image {
        name: name.to_string(),
        pullspec: pullspec.to_string(),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn sample() -> ReleaseImage {
    let mut release = Release::new("4.17.0-okd-scos.0", "2024-09-04T10:00:00Z");
    release.metadata.previous = vec!["4.16.0-okd-scos.9".to_string()];
    release
        .metadata
        .metadata
        .insert("url".to_string(), Value::from("https://example.com/4.17"));
    release
        .metadata
        .metadata
        .insert("empty".to_string(), Value::from(""));
    for image in [
        tag(
            "cli",
            &format!("quay.io/okd/scos-content@{D1}"),
            &[
                (COMMIT_ID_ANNOTATION, "abc123"),
                (
                    SOURCE_LOCATION_ANNOTATION,
                    "https://github.com/openshift/oc",
                ),
                (VERSIONS_ANNOTATION, "kubectl=1.30.4"),
            ],
        ),
        tag(
            "machine-os-content",
            &format!("quay.io/okd/scos-content@{D2}"),
            &[
                (COMMIT_ID_ANNOTATION, "def456"),
                (SOURCE_LOCATION_ANNOTATION, "https://gitlab.com/okd/os"),
                (VERSIONS_ANNOTATION, "machine-os=9.0.1,kubectl=1.29.0"),
                (
                    VERSION_DISPLAY_NAMES_ANNOTATION,
                    "machine-os=CentOS Stream CoreOS",
                ),
            ],
        ),
        tag("tools", "quay.io/okd/tools:latest", &[]),
    ] {
        release.images.insert(image.name.clone(), image);
    }
    ReleaseImage {
        reference: "localhost/release:x".to_string(),
        digest: "sha256:feedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeed"
            .to_string(),
        manifest: ImageManifest {
            schema_version: 2,
            media_type: None,
            config: Descriptor::new("application/vnd.oci.image.config.v1+json", D1, 1),
            layers: Vec::new(),
            annotations: None,
        },
        config: serde_json::json!({"os": "linux", "architecture": "amd64", "created": "2024-09-04T10:00:00Z"}),
        release,
    }
}

fn text(view: View, fetched: Option<&(BTreeMap<String, ComponentImage>, Vec<String>)>) -> String {
    let image = sample();
    let versions = component_versions(&image.release);
    describe(
        &image,
        "quay.io/okd/scos-release",
        &versions,
        view,
        fetched,
        1_725_444_000 + 3 * 86_400,
    )
}

#[test]
fn the_default_view_is_laid_out_as_oc_lays_it_out() {
    let expected = format!(
        "Name:           4.17.0-okd-scos.0
Digest:         sha256:feedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeed
Created:        2024-09-04T10:00:00Z
OS/Arch:        linux/amd64
Manifests:      0

Pull From: quay.io/okd/scos-release@sha256:feedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeedfeed

Release Metadata:
  Version:  4.17.0-okd-scos.0
  Upgrades: 4.16.0-okd-scos.9
  Metadata:
    url: https://example.com/4.17

Component Versions:
  kubectl    1.30.4 \n  machine-os 9.0.1  CentOS Stream CoreOS

Images:
  NAME               DIGEST
  cli                {D1}
  machine-os-content {D2}
  tools              quay.io/okd/tools:latest

"
    );
    assert_eq!(text(View::Digests, None), expected);
}

#[test]
fn commits_pullspecs_and_commit_urls_use_ocs_columns() {
    let images = |view| {
        let t = text(view, None);
        t[t.find("Images:\n").unwrap()..].to_string()
    };
    assert_eq!(
        images(View::Commits),
        "Images:\n  NAME               REPO                            COMMIT \n  cli                https://github.com/openshift/oc abc123\n  machine-os-content https://gitlab.com/okd/os       def456\n  tools                                              \n\n"
    );
    assert_eq!(
        images(View::CommitUrls),
        "Images:\n  NAME               URL \n  cli                https://github.com/openshift/oc/commit/abc123\n  machine-os-content https://gitlab.com/okd/os def456\n  tools               \n\n"
    );
    assert_eq!(
        images(View::Pullspecs),
        format!(
            "Images:\n  NAME               PULL SPEC\n  cli                quay.io/okd/scos-content@{D1}\n  machine-os-content quay.io/okd/scos-content@{D2}\n  tools              quay.io/okd/tools:latest\n\n"
        )
    );
}

#[test]
fn kubectl_counts_only_from_the_cli_images_and_display_names_are_kept() {
    let versions = component_versions(&sample().release);
    assert_eq!(versions["kubectl"].version, "1.30.4");
    assert_eq!(versions["machine-os"].display_name, "CentOS Stream CoreOS");
}

fn layer(digest: &str, size: u64) -> Descriptor {
    Descriptor::new("application/vnd.oci.image.layer.v1.tar+gzip", digest, size)
}

fn fetched_image(layers: Vec<Descriptor>, created: &str) -> ComponentImage {
    ComponentImage {
        digest: D1.to_string(),
        manifest: ImageManifest {
            schema_version: 2,
            media_type: None,
            config: layer(D1, 1),
            layers,
            annotations: None,
        },
        config: Some(serde_json::json!({"created": created})),
    }
}

#[test]
fn size_shows_ages_sizes_unique_sizes_bases_and_the_total() {
    let mib = 1024 * 1024;
    let mut found = BTreeMap::new();
    found.insert(
        "cli".to_string(),
        fetched_image(
            vec![
                layer("sha256:base1", 80 * mib),
                layer("sha256:cli", 5 * mib),
            ],
            "2024-09-05T10:00:00.123Z",
        ),
    );
    found.insert(
        "machine-os-content".to_string(),
        fetched_image(
            vec![layer("sha256:base2", 700 * mib)],
            "2024-08-01T00:00:00Z",
        ),
    );
    let fetched = (found, vec!["tag \"tools\": no such image".to_string()]);
    let t = text(View::Size, Some(&fetched));
    let images = &t[t.find("Images:\n").unwrap()..];
    assert_eq!(
        images,
        "Images:\n  NAME                AGE  LAYERS  SIZE MB  UNIQUE MB  BASE\n  cli                  2d       2     85.0       85.0  A\n  machine-os-content  37d       1    700.0      700.0   B\n  tools                                               \n\n  823.1MB across 3 layers, 2 different base images\n\nWarnings:\n* tag \"tools\": no such image\n\n"
    );
}

#[test]
fn human_sizes_and_durations_match_go_units_and_kubernetes() {
    assert_eq!(human_size(0), "0B");
    assert_eq!(human_size(999), "999B");
    assert_eq!(human_size(1000), "1kB");
    assert_eq!(human_size(1_234_567), "1.235MB");
    assert_eq!(human_size(12_300_000_000), "12.3GB");
    assert_eq!(short_human_duration(59), "59s");
    assert_eq!(short_human_duration(3 * 3600), "3h");
    assert_eq!(short_human_duration(400 * 86_400), "1y");
    assert_eq!(short_human_duration(-5), "<invalid>");
}

#[test]
fn commit_urls_link_github_sources_only() {
    assert_eq!(
        commit_url("https://github.com/openshift/api", "abc"),
        "https://github.com/openshift/api/commit/abc"
    );
    assert_eq!(
        commit_url("git@github.com:openshift/api", "abc"),
        "https://github.com/openshift/api/commit/abc"
    );
    assert_eq!(
        commit_url("https://gitlab.com/x/y", "abc"),
        "https://gitlab.com/x/y abc"
    );
    assert_eq!(commit_url("", ""), " ");
}

#[test]
fn image_for_prints_the_pullspec_or_names_the_missing_tag() {
    let image = sample();
    assert_eq!(
        image_for(&image.release, "cli", "r").unwrap(),
        format!("quay.io/okd/scos-content@{D1}")
    );
    let err = image_for(&image.release, "nope", "quay.io/okd/r:1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no image tag \"nope\" exists in the release image quay.io/okd/r:1"
    );
}

#[test]
fn json_has_ocs_release_info_fields() {
    let image = sample();
    let versions = component_versions(&image.release);
    let text = release_info_json(&image, "quay.io/okd/r:1", &versions, None).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["image"], "quay.io/okd/r:1");
    assert_eq!(v["digest"], image.digest.as_str());
    assert_eq!(v["contentDigest"], image.digest.as_str());
    assert_eq!(v["config"]["architecture"], "amd64");
    assert_eq!(v["metadata"]["kind"], "cincinnati-metadata-v0");
    assert_eq!(v["metadata"]["version"], "4.17.0-okd-scos.0");
    assert_eq!(v["metadata"]["previous"][0], "4.16.0-okd-scos.9");
    assert_eq!(v["references"]["kind"], "ImageStream");
    assert_eq!(v["references"]["apiVersion"], "image.openshift.io/v1");
    assert_eq!(v["references"]["metadata"]["name"], "4.17.0-okd-scos.0");
    let tags = v["references"]["spec"]["tags"].as_array().unwrap();
    assert_eq!(tags[0]["name"], "cli");
    assert_eq!(tags[0]["from"]["kind"], "DockerImage");
    assert_eq!(
        tags[0]["from"]["name"],
        format!("quay.io/okd/scos-content@{D1}").as_str()
    );
    assert_eq!(tags[0]["annotations"][COMMIT_ID_ANNOTATION], "abc123");
    assert_eq!(v["versions"]["machine-os"], "9.0.1");
    assert_eq!(v["displayVersions"]["machine-os"]["Version"], "9.0.1");
    assert_eq!(
        v["displayVersions"]["machine-os"]["DisplayName"],
        "CentOS Stream CoreOS"
    );
    assert!(v["images"].is_null() && v["warnings"].is_null(), "{v}");
    // Indented by two spaces, as oc's `json.MarshalIndent(release, "", "  ")`.
    assert!(text.starts_with("{\n  \"image\": "), "{text}");
}
