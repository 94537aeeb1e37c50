//! `compose run streams/scos.toml`: the default job, read back by skopeo and tar.

use std::collections::BTreeMap;

use crate::support::*;

const RELEASE: &str = "4.17.0-okd-scos.0";

#[test]
fn scos_stream_composes_a_release_oc_and_skopeo_can_read() {
    let s = Scratch::new();
    let out = s.path().join("okd-scos");
    let run = s.compose(&["run", "streams/scos.toml", "--out", out.to_str().unwrap()]);
    ok(&run);

    // The layout: index.json names the release.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        RELEASE
    );

    // skopeo reads the image and its labels.
    let inspect = skopeo_inspect(&out, RELEASE, &[]);
    let digest = inspect["Digest"].as_str().unwrap().to_string();
    assert!(
        stdout(&run).starts_with(&digest),
        "run prints the digest first: {}",
        stdout(&run)
    );
    let labels = &inspect["Labels"];
    assert_eq!(labels["io.openshift.release"], RELEASE);
    assert_eq!(
        labels.as_object().unwrap().len(),
        2,
        "exactly the two release labels: {labels}"
    );
    let config = skopeo_inspect(&out, RELEASE, &["--config"]);
    assert_eq!(config["os"], "linux");

    // tar extracts release-manifests/ from the top layer.
    let x = s.path().join("extracted");
    extract_top_layer(&out, RELEASE, &x);
    let dir = x.join("release-manifests");
    let refs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("image-references")).unwrap()).unwrap();
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("release-metadata")).unwrap()).unwrap();

    // release-metadata is valid and agrees with image-references and the label.
    assert_eq!(meta["kind"], "cincinnati-metadata-v0");
    assert_eq!(meta["version"], RELEASE);
    assert_eq!(refs["kind"], "ImageStream");
    assert_eq!(refs["apiVersion"], "image.openshift.io/v1");
    assert_eq!(refs["metadata"]["name"], RELEASE);
    assert_eq!(
        labels["io.openshift.release.base-image-digest"],
        tag_digest(&refs, "cluster-version-operator")
    );

    // Every component pinned by digest; the OS swapped.
    let tags = tags(&refs);
    assert!(tags.len() >= 180, "only {} images", tags.len());
    for (name, pullspec) in &tags {
        assert!(
            pullspec.contains("@sha256:"),
            "`{name}` is not pinned: {pullspec}"
        );
    }
    assert!(!tags.contains_key("fedora-coreos"));
    let os = tags
        .get("stream-coreos")
        .expect("stream-coreos is in the release");
    let ext = tags
        .get("stream-coreos-extensions")
        .expect("stream-coreos-extensions");
    assert!(os.starts_with("quay.io/okd/scos-content@sha256:"));
    assert!(tags["installer"].starts_with("quay.io/okd/scos-content@sha256:"));

    // The machine-config operator's OS image ConfigMap points at SCOS.
    let cm =
        std::fs::read_to_string(dir.join("0000_80_machine-config-operator_05_osimageurl.yaml"))
            .unwrap();
    assert!(
        cm.contains(&format!("baseOSContainerImage: \"{os}\""))
            || cm.contains(&format!("baseOSContainerImage: {os}")),
        "{cm}"
    );
    assert!(
        cm.contains(&format!("baseOSExtensionsContainerImage: \"{ext}\""))
            || cm.contains(&format!("baseOSExtensionsContainerImage: {ext}")),
        "{cm}"
    );
    assert!(
        cm.contains(RELEASE),
        "releaseVersion names the new release: {cm}"
    );

    // No manifest still points at the FCOS image.
    let manifests = std::fs::read_dir(&dir).unwrap().count() - 2;
    assert!(manifests >= 600, "only {manifests} manifests");
    for e in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(
            !text.contains("fedora-coreos@"),
            "a manifest still names fedora-coreos"
        );
    }

    // `compose info` reads it back like `oc adm release info`.
    let info = s.compose(&["info", out.to_str().unwrap()]);
    ok(&info);
    let text = stdout(&info);
    assert!(
        text.contains(&format!("Name:           {RELEASE}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Digest:         {digest}")),
        "{text}"
    );
    assert!(
        text.contains("machine-os 9.0.20240903-0 CentOS Stream CoreOS"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("stream-coreos ") && l.contains("sha256:")),
        "{text}"
    );

    // A second run, with a warm cache, gives a byte-identical image.
    let out2 = s.path().join("again");
    ok(&s.compose(&["run", "streams/scos.toml", "--out", out2.to_str().unwrap()]));
    assert_eq!(
        skopeo_inspect(&out2, RELEASE, &[])["Digest"],
        digest.as_str()
    );
    assert_eq!(snapshot(&out).len(), snapshot(&out2).len());
}

#[test]
fn json_events_describe_the_run() {
    let s = Scratch::new();
    let out = s.path().join("o");
    let run = s.compose(&[
        "run",
        "streams/scos.toml",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&run);
    let events: Vec<serde_json::Value> = stdout(&run)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "stage-finished").count(),
        4,
        "{kinds:?}"
    );
    assert_eq!(*kinds.last().unwrap(), "done");
    assert!(kinds.contains(&"published"));
}

#[test]
fn plan_shows_plugins_digests_and_grants() {
    let s = Scratch::new();
    let plan = s.compose(&["plan", "streams/scos.toml"]);
    ok(&plan);
    let text = stdout(&plan);
    assert!(text.contains("1. select"), "{text}");
    assert!(text.contains("2. swap-os"), "{text}");
    assert!(text.contains("builtin:select-images sha256:"), "{text}");
    assert!(text.contains("okd:compose/registry@0.2.0"), "{text}");
    assert!(!text.contains("REFUSED"), "{text}");
}

fn tags(refs: &serde_json::Value) -> BTreeMap<String, String> {
    refs["spec"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["from"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn tag_digest(refs: &serde_json::Value, name: &str) -> String {
    let tags = tags(refs);
    tags[name].split_once('@').unwrap().1.to_string()
}
