//! `compose info RELEASE`: a release image shown the way `oc adm release info` shows it, with
//! the options scripts use with oc: `--image-for`, `--pullspecs`, `--commits`,
//! `--commit-urls`, `--size` and `-o json|name|digest|pullspec` (oc's `ReleaseInfo` JSON).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use anyhow::bail;
use compose_payload::image_references::{
    COMMIT_ID_ANNOTATION, SOURCE_LOCATION_ANNOTATION, VERSION_DISPLAY_NAMES_ANNOTATION,
    VERSIONS_ANNOTATION,
};
use compose_payload::{Descriptor, ImageManifest, Release, ReleaseMetadata};
use compose_registry::{ImageSource, Reference, ReleaseImage};
use serde::Serialize;
use serde_json::Value;

use crate::args::{Global, InfoArgs, InfoFormat};
use crate::commands::{load_stream, open_release, registries, stream_source};
use crate::output::Output;

mod render;

use render::describe;

/// How many component images `--size` reads at once (oc reads 4 per registry).
const PARALLEL_READS: usize = 4;

/// `key=value,key=value` annotation values, as `oc` writes component versions.
fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// A component's version and display name, as oc's `displayVersions` holds them (oc's
/// `ComponentVersion` has no JSON tags: Go's field names are the keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct ComponentVersion {
    #[serde(rename = "Version")]
    version: String,
    #[serde(rename = "DisplayName")]
    display_name: String,
}

/// Component versions across every image, as oc combines them: `kubectl` counts only from
/// the `cli` and `cli-artifacts` images; of several versions the lowest is shown.
fn component_versions(release: &Release) -> BTreeMap<String, ComponentVersion> {
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut names: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for image in release.images.values() {
        let Some(text) = image.annotations.get(VERSIONS_ANNOTATION) else {
            continue;
        };
        let display: BTreeMap<&str, &str> = image
            .annotations
            .get(VERSION_DISPLAY_NAMES_ANNOTATION)
            .map(|t| pairs(t).collect())
            .unwrap_or_default();
        for (component, version) in pairs(text) {
            if component == "kubectl" && image.name != "cli" && image.name != "cli-artifacts" {
                continue;
            }
            versions.entry(component).or_default().insert(version);
            if let Some(name) = display.get(component).filter(|n| !n.is_empty()) {
                names.entry(component).or_default().insert(name);
            }
        }
    }
    versions
        .into_iter()
        .filter_map(|(component, set)| {
            let version = set.first()?;
            let display_name = names
                .get(component)
                .and_then(|n| n.first())
                .copied()
                .unwrap_or_default();
            Some((
                component.to_string(),
                ComponentVersion {
                    version: version.to_string(),
                    display_name: display_name.to_string(),
                },
            ))
        })
        .collect()
}

/// The digest part of a pullspec, if it has one.
fn digest_of(pullspec: &str) -> Option<&str> {
    pullspec.split_once('@').map(|(_, digest)| digest)
}

/// A component image read for `--size` or `--include-images`.
#[derive(Debug, Clone)]
struct ComponentImage {
    /// Its manifest digest.
    digest: String,
    /// Its manifest.
    manifest: ImageManifest,
    /// Its config, when it could be read.
    config: Option<Value>,
}

/// An image of oc's `ReleaseInfo.images`.
#[derive(Serialize)]
struct ImageJson<'a> {
    name: &'a str,
    digest: &'a str,
    #[serde(rename = "contentDigest")]
    content_digest: &'a str,
    #[serde(rename = "listDigest")]
    list_digest: &'a str,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    layers: &'a [Descriptor],
    config: Option<&'a Value>,
}

/// oc's `ReleaseInfo`, field for field (`oc adm release info -o json`).
#[derive(Serialize)]
struct ReleaseInfoJson<'a> {
    image: &'a str,
    digest: &'a str,
    #[serde(rename = "contentDigest")]
    content_digest: &'a str,
    #[serde(rename = "listDigest")]
    list_digest: &'a str,
    config: &'a Value,
    metadata: &'a ReleaseMetadata,
    references: Value,
    versions: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "displayVersions")]
    display_versions: &'a BTreeMap<String, ComponentVersion>,
    images: Option<BTreeMap<&'a str, ImageJson<'a>>>,
    warnings: Option<&'a [String]>,
}

/// Reads the manifest and config of every image of `release` through `source`, a few at a
/// time; an image that cannot be read is a warning (`tag "NAME": …`), as in oc.
fn read_images(
    release: &Release,
    source: &dyn ImageSource,
) -> (BTreeMap<String, ComponentImage>, Vec<String>) {
    let work: Vec<(&str, &str)> = release
        .images
        .values()
        .map(|i| (i.name.as_str(), i.pullspec.as_str()))
        .collect();
    let next = Mutex::new(work.into_iter());
    let found = Mutex::new(BTreeMap::new());
    let warnings = Mutex::new(Vec::new());
    let read = |pullspec: &str| -> anyhow::Result<ComponentImage> {
        let reference = Reference::parse(pullspec)?;
        let (digest, manifest) = source.manifest(&reference)?;
        let config = source
            .blob(&reference, &manifest.config.digest)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        Ok(ComponentImage {
            digest,
            manifest,
            config,
        })
    };
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_READS {
            scope.spawn(|| {
                loop {
                    let item = next.lock().ok().and_then(|mut it| it.next());
                    let Some((name, pullspec)) = item else { break };
                    match read(pullspec) {
                        Ok(image) => {
                            if let Ok(mut found) = found.lock() {
                                found.insert(name.to_string(), image);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut warnings) = warnings.lock() {
                                warnings.push(format!("tag \"{name}\": {e:#}"));
                            }
                        }
                    }
                }
            });
        }
    });
    let mut warnings = warnings.into_inner().unwrap_or_default();
    warnings.sort();
    (found.into_inner().unwrap_or_default(), warnings)
}

/// Where `--size` reads component images: the `--stream` mirrors first, then the registries.
fn image_source(
    args: &InfoArgs,
    global: &Global,
) -> anyhow::Result<std::sync::Arc<dyn ImageSource>> {
    let remotes = registries(global)?;
    Ok(match &args.stream {
        Some(stream) => stream_source(&load_stream(stream)?, &remotes)?,
        None => remotes,
    })
}

/// Prints the release.
pub fn execute(args: &InfoArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let (image, location) = open_release(&args.release, args.stream.as_deref(), global)?;
    let release = &image.release;
    if let Some(name) = &args.image_for {
        output.data(&format!("{}\n", image_for(release, name, &args.release)?));
        return Ok(());
    }
    match args.output {
        Some(InfoFormat::Name) => {
            output.data(&lines(release.images.keys().map(String::as_str)));
            return Ok(());
        }
        Some(InfoFormat::Pullspec) => {
            output.data(&lines(release.images.values().map(|i| i.pullspec.as_str())));
            return Ok(());
        }
        Some(InfoFormat::Digest) => {
            let mut digests = Vec::new();
            for i in release.images.values() {
                match digest_of(&i.pullspec) {
                    Some(digest) => digests.push(digest),
                    None => output.status(&format!("error: {} does not point to a digest", i.name)),
                }
            }
            output.data(&lines(digests.into_iter()));
            return Ok(());
        }
        Some(InfoFormat::Json) | None => {}
    }
    let versions = component_versions(release);
    let fetched = if args.size || (args.include_images && args.output == Some(InfoFormat::Json)) {
        let source = image_source(args, global)?;
        Some(read_images(release, source.as_ref()))
    } else {
        None
    };
    if args.output == Some(InfoFormat::Json) {
        let text = release_info_json(&image, &args.release, &versions, fetched.as_ref())?;
        output.data(&format!("{text}\n"));
        return Ok(());
    }
    if output.is_json() {
        output.json_line(&legacy_json(&image, &location, &versions));
        return Ok(());
    }
    let view = if args.size {
        View::Size
    } else if args.commit_urls {
        View::CommitUrls
    } else if args.commits {
        View::Commits
    } else if args.pullspecs {
        View::Pullspecs
    } else {
        View::Digests
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    output.data(&describe(
        &image,
        &location,
        &versions,
        view,
        fetched.as_ref(),
        now,
    ));
    Ok(())
}

/// The pull spec of the tag `name`, or oc's error.
fn image_for(release: &Release, name: &str, shown_as: &str) -> anyhow::Result<String> {
    match release.images.get(name).filter(|i| !i.pullspec.is_empty()) {
        Some(image) => Ok(image.pullspec.clone()),
        None => bail!("no image tag \"{name}\" exists in the release image {shown_as}"),
    }
}

/// One item a line.
fn lines<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.map(|i| format!("{i}\n")).collect()
}

/// The `--json` line of earlier versions (kept for scripts that read it).
fn legacy_json(
    image: &ReleaseImage,
    location: &str,
    versions: &BTreeMap<String, ComponentVersion>,
) -> Value {
    let release = &image.release;
    let (os, arch) = platform(&image.config);
    serde_json::json!({
        "name": release.name,
        "digest": image.digest,
        "created": release.created,
        "os": os,
        "architecture": arch,
        "pullFrom": format!("{location}@{}", image.digest),
        "metadata": release.metadata,
        "manifests": release.manifests.len(),
        "componentVersions": versions.iter().map(|(k, v)| (k.clone(), serde_json::json!({"version": v.version, "displayName": v.display_name}))).collect::<serde_json::Map<_, _>>(),
        "images": release.images.values().map(|i| serde_json::json!({"name": i.name, "pullspec": i.pullspec})).collect::<Vec<_>>(),
    })
}

/// `-o json`: oc's `ReleaseInfo`, indented by two spaces as oc indents it.
fn release_info_json(
    image: &ReleaseImage,
    shown_as: &str,
    versions: &BTreeMap<String, ComponentVersion>,
    fetched: Option<&(BTreeMap<String, ComponentImage>, Vec<String>)>,
) -> anyhow::Result<String> {
    let release = &image.release;
    let references: Value =
        serde_json::from_slice(&compose_payload::write_image_references(release)?)?;
    let images = fetched.map(|(images, _)| {
        images
            .iter()
            .map(|(name, i)| {
                (
                    name.as_str(),
                    ImageJson {
                        name,
                        digest: &i.digest,
                        content_digest: &i.digest,
                        list_digest: "",
                        media_type: i
                            .manifest
                            .media_type
                            .as_deref()
                            .unwrap_or(compose_payload::oci::OCI_MANIFEST),
                        layers: &i.manifest.layers,
                        config: i.config.as_ref(),
                    },
                )
            })
            .collect()
    });
    let info = ReleaseInfoJson {
        image: shown_as,
        digest: &image.digest,
        content_digest: &image.digest,
        list_digest: "",
        config: &image.config,
        metadata: &release.metadata,
        references,
        versions: versions
            .iter()
            .map(|(k, v)| (k.as_str(), v.version.as_str()))
            .collect(),
        display_versions: versions,
        images,
        warnings: fetched.map(|(_, w)| w.as_slice()).filter(|w| !w.is_empty()),
    };
    Ok(serde_json::to_string_pretty(&info)?)
}

/// The `OS/Arch` of an image config (`unknown` when absent, as oc shows it).
fn platform(config: &Value) -> (&str, &str) {
    let field = |key: &str| {
        config
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
    };
    (field("os"), field("architecture"))
}

/// What the `Images:` section shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// `NAME DIGEST` (the default).
    Digests,
    /// `NAME PULL SPEC` (`--pullspecs`).
    Pullspecs,
    /// `NAME REPO COMMIT` (`--commits`).
    Commits,
    /// `NAME URL` (`--commit-urls`).
    CommitUrls,
    /// `NAME AGE LAYERS SIZE MB UNIQUE MB` (`--size`).
    Size,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
