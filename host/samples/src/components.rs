//! Which component images the sample holds, and the labels each one carries.
//!
//! The component list comes from `data/okd-components-by-version.tsv` (ocp-build-data's
//! `for_payload` images per release, see payload-format.md §7), embedded at compile time.

use std::collections::BTreeMap;

use compose_payload::image_references::{
    COMMIT_ID_ANNOTATION, COMMIT_REF_ANNOTATION, REQUIRED_TAG_ANNOTATIONS,
    SOURCE_LOCATION_ANNOTATION, VERSION_DISPLAY_NAMES_ANNOTATION, VERSIONS_ANNOTATION,
};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The component table: `name<TAB>owner/repo<TAB>` then `x` or nothing per release column.
const TABLE: &str = include_str!("../data/okd-components-by-version.tsv");

/// The release column the base release is cut from.
const BASE_COLUMN: &str = "4.15";

/// The OS tag of an OKD/FCOS payload (FCOS payloads had no extensions image).
pub const FCOS_TAG: &str = "fedora-coreos";

/// The label that makes oc take an image's `/manifests` into the payload.
pub const OPERATOR_LABEL: &str = "io.openshift.release.operator";

/// Images that carried RHEL licensing labels in pre-SCOS OKD payloads (payload-format.md §8).
pub const RHEL_LABELLED: [&str; 4] = [
    "driver-toolkit",
    "ironic",
    "ironic-agent",
    "ironic-machine-os-downloader",
];

/// Which build of a component: the OKD/FCOS base release or the SCOS stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flavor {
    /// Built for the OKD/FCOS 4.15 base release.
    Fcos,
    /// Built for OKD/SCOS 4.17.
    Scos,
}

impl Flavor {
    /// A short word for hashing and file contents.
    pub fn word(self) -> &'static str {
        match self {
            Flavor::Fcos => "okd-fcos",
            Flavor::Scos => "okd-scos",
        }
    }
}

/// One component image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Component {
    /// The tag name, e.g. `machine-config-operator` or `machine-config-operator-x2`.
    pub name: String,
    /// The name without a scale suffix: the upstream component it copies.
    pub base: String,
    /// `owner/repo` on GitHub.
    pub repo: String,
}

/// Every row of the table as `(name, repo, present in BASE_COLUMN)`.
fn rows() -> Result<Vec<(String, String, bool)>> {
    let mut lines = TABLE.lines().enumerate();
    let header: Vec<&str> = match lines.next() {
        Some((_, h)) => h.split('\t').collect(),
        None => return Err(Error::Data("the component table is empty".to_string())),
    };
    let column = header
        .iter()
        .position(|c| *c == BASE_COLUMN)
        .ok_or_else(|| Error::Data(format!("the component table has no `{BASE_COLUMN}` column")))?;
    let mut out = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let (Some(name), Some(repo)) = (cells.first(), cells.get(1)) else {
            return Err(Error::Data(format!(
                "line {} of the component table has no name and repository",
                n + 1
            )));
        };
        let present = cells.get(column).is_some_and(|c| c.trim() == "x");
        out.push((name.to_string(), repo.to_string(), present));
    }
    Ok(out)
}

/// The components of the OKD/FCOS 4.15 base release, sorted by name: every 4.15 component
/// except the SCOS `centos-stream-coreos-9*` OS tags, plus `fedora-coreos`.
pub fn base_components() -> Result<Vec<Component>> {
    let mut out: Vec<Component> = rows()?
        .into_iter()
        .filter(|(name, _, present)| *present && !name.starts_with("centos-stream-coreos-9"))
        .map(|(name, repo, _)| Component {
            base: name.clone(),
            name,
            repo,
        })
        .collect();
    out.push(Component {
        name: FCOS_TAG.to_string(),
        base: FCOS_TAG.to_string(),
        repo: "openshift/os".to_string(),
    });
    out.sort();
    Ok(out)
}

/// The repository of `name` in any release column.
pub fn repo_of(name: &str) -> Result<String> {
    rows()?
        .into_iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, repo, _)| repo)
        .ok_or_else(|| Error::Data(format!("`{name}` is not in the component table")))
}

/// Copy `k` (2, 3, …) of a component, for `--scale`.
pub fn scaled(component: &Component, k: u32) -> Component {
    Component {
        name: format!("{}-x{k}", component.base),
        base: component.base.clone(),
        repo: component.repo.clone(),
    }
}

/// The sha256 hex of `text`: every "random-looking" value in the sample derives from one.
pub fn hash_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The 40-hex "commit" a component was built from.
pub fn commit_id(flavor: Flavor, name: &str) -> String {
    hash_hex(&format!("commit/{}/{name}", flavor.word()))[..40].to_string()
}

/// The image config labels of a component build, as its real image would carry them.
pub fn labels(
    component: &Component,
    flavor: Flavor,
    is_operator: bool,
) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        l.insert(k.to_string(), v.to_string());
    };
    let source = format!("https://github.com/{}", component.repo);
    let commit = commit_id(flavor, &component.name);
    put(COMMIT_ID_ANNOTATION, &commit);
    put(COMMIT_REF_ANNOTATION, "");
    put(SOURCE_LOCATION_ANNOTATION, &source);
    put(
        "io.openshift.build.commit.url",
        &format!("{source}/commit/{commit}"),
    );
    put("vcs-ref", &commit);
    put("vcs-type", "git");
    put("vcs-url", &source);
    put(
        "io.k8s.display-name",
        &format!("OKD {}", display_name(&component.base)),
    );
    put(
        "io.k8s.description",
        &format!("The {} component of OKD.", component.base),
    );
    put("io.openshift.tags", &format!("okd,{}", component.base));
    put("License", "ASL 2.0");
    if is_operator {
        put(OPERATOR_LABEL, "true");
    }
    match component.base.as_str() {
        "hyperkube" => put(VERSIONS_ANNOTATION, "kubernetes=1.28.7"),
        "cli" => put(VERSIONS_ANNOTATION, "kubectl=1.28.7"),
        FCOS_TAG => {
            put("com.coreos.osname", "fedora-coreos");
            put(VERSIONS_ANNOTATION, "machine-os=39.20240309.3.0");
            put(VERSION_DISPLAY_NAMES_ANNOTATION, "machine-os=Fedora CoreOS");
        }
        x if flavor == Flavor::Fcos && RHEL_LABELLED.contains(&x) => {
            put("vendor", "Red Hat, Inc.");
            put("com.redhat.component", &format!("{x}-container"));
            put(
                "com.redhat.license_terms",
                "https://www.redhat.com/agreements",
            );
            put("name", &format!("openshift/ose-{x}"));
            put("cpe", "cpe:/a:redhat:openshift:4.15::el9");
        }
        _ => {}
    }
    l
}

/// The labels of the SCOS OS images (`stream-coreos`, `stream-coreos-extensions`).
pub fn scos_os_labels(name: &str) -> BTreeMap<String, String> {
    let component = Component {
        name: name.to_string(),
        base: name.to_string(),
        repo: "openshift/os".to_string(),
    };
    let mut l = labels(&component, Flavor::Scos, false);
    let mut put = |k: &str, v: &str| {
        l.insert(k.to_string(), v.to_string());
    };
    put("com.coreos.osname", "scos");
    put("com.coreos.stream", "c9s");
    put("io.openshift.os.streamclass", "centos-9");
    put(VERSIONS_ANNOTATION, "machine-os=9.0.20240903-0");
    put(
        VERSION_DISPLAY_NAMES_ANNOTATION,
        "machine-os=CentOS Stream CoreOS",
    );
    if name.ends_with("-extensions") {
        put("io.openshift.os.extensions", "true");
    } else {
        put("containers.bootc", "1");
    }
    l
}

/// The image-references tag annotations oc copies from an image's labels: the three build
/// annotations always (empty when unlabelled), the version annotations when present.
pub fn tag_annotations(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    for key in REQUIRED_TAG_ANNOTATIONS {
        a.insert(
            key.to_string(),
            labels.get(key).cloned().unwrap_or_default(),
        );
    }
    for key in [VERSIONS_ANNOTATION, VERSION_DISPLAY_NAMES_ANNOTATION] {
        if let Some(v) = labels.get(key) {
            a.insert(key.to_string(), v.clone());
        }
    }
    a
}

/// `cluster-dns-operator` → `Cluster DNS Operator`-ish title case for display labels.
fn display_name(name: &str) -> String {
    name.split('-')
        .map(|w| match w {
            "dns" | "csi" | "api" | "olm" | "ovn" | "cni" | "nfs" | "aws" | "gcp" | "ibm"
            | "vpc" | "cvo" => w.to_uppercase(),
            _ => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_release_has_the_4_15_components_and_fcos() {
        let c = base_components().unwrap();
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        // 187 for_payload images in 4.15 (payload-format.md §7) plus fedora-coreos.
        assert_eq!(names.len(), 188);
        assert!(names.contains(&"fedora-coreos"));
        assert!(names.contains(&"sdn"));
        assert!(!names.iter().any(|n| n.starts_with("centos-stream-coreos")));
        assert!(!names.contains(&"stream-coreos"));
        assert!(!names.contains(&"metallb-frr"));
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(repo_of("stream-coreos").unwrap(), "openshift/os");
        assert!(repo_of("nope").is_err());
    }

    #[test]
    fn labels_follow_the_component() {
        let mco = Component {
            name: "machine-config-operator".into(),
            base: "machine-config-operator".into(),
            repo: "openshift/machine-config-operator".into(),
        };
        let l = labels(&mco, Flavor::Fcos, true);
        assert_eq!(l[OPERATOR_LABEL], "true");
        assert_eq!(l[COMMIT_ID_ANNOTATION].len(), 40);
        assert_eq!(l[COMMIT_REF_ANNOTATION], "");
        assert_eq!(
            l["io.openshift.build.commit.url"],
            format!(
                "https://github.com/openshift/machine-config-operator/commit/{}",
                l[COMMIT_ID_ANNOTATION]
            )
        );
        assert_ne!(
            labels(&mco, Flavor::Scos, true)[COMMIT_ID_ANNOTATION],
            l[COMMIT_ID_ANNOTATION]
        );

        let ironic = Component {
            name: "ironic".into(),
            base: "ironic".into(),
            repo: "openshift/ironic-image".into(),
        };
        let fcos = labels(&ironic, Flavor::Fcos, false);
        assert_eq!(fcos["vendor"], "Red Hat, Inc.");
        assert_eq!(fcos["name"], "openshift/ose-ironic");
        let scos = labels(&ironic, Flavor::Scos, false);
        assert!(!scos.contains_key("vendor") && !scos.contains_key("cpe"));

        let os = scos_os_labels("stream-coreos");
        assert_eq!(os["containers.bootc"], "1");
        let ext = scos_os_labels("stream-coreos-extensions");
        assert_eq!(ext["io.openshift.os.extensions"], "true");
        assert!(!ext.contains_key("containers.bootc"));

        let a = tag_annotations(&os);
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            vec![
                COMMIT_ID_ANNOTATION,
                COMMIT_REF_ANNOTATION,
                SOURCE_LOCATION_ANNOTATION,
                VERSION_DISPLAY_NAMES_ANNOTATION,
                VERSIONS_ANNOTATION,
            ]
        );
        assert_eq!(display_name("cluster-dns-operator"), "Cluster DNS Operator");
    }
}
