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

/// Aligns cells the way Go's `text/tabwriter` does with oc's settings (minimum width 0,
/// padding 1, spaces): every cell but a row's last is padded to its column's widest cell
/// plus one space; the last cell is written as it is.
fn tabulate(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let width = cell.chars().count() + 1;
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut text = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            text.push_str(cell);
            if i < last {
                let pad = widths.get(i).copied().unwrap_or(0) - cell.chars().count();
                text.push_str(&" ".repeat(pad));
            }
        }
        text.push('\n');
    }
    text
}

/// The text view, laid out as `oc adm release info` lays it out. `now` (seconds since the
/// epoch) dates the `--size` ages.
fn describe(
    image: &ReleaseImage,
    location: &str,
    versions: &BTreeMap<String, ComponentVersion>,
    view: View,
    fetched: Option<&(BTreeMap<String, ComponentImage>, Vec<String>)>,
    now: u64,
) -> String {
    let release = &image.release;
    let (os, arch) = platform(&image.config);
    let mut text = String::new();
    let mut line = |s: &str| {
        text.push_str(s);
        text.push('\n');
    };
    line(&format!("Name:           {}", release.name));
    line(&format!("Digest:         {}", image.digest));
    line(&format!("Created:        {}", release.created));
    line(&format!("OS/Arch:        {os}/{arch}"));
    line(&format!("Manifests:      {}", release.manifests.len()));
    line("");
    line(&format!("Pull From: {location}@{}", image.digest));
    line("");
    line("Release Metadata:");
    line(&format!("  Version:  {}", release.metadata.version));
    if release.metadata.previous.is_empty() {
        line("  Upgrades: <none>");
    } else {
        line(&format!(
            "  Upgrades: {}",
            release.metadata.previous.join(", ")
        ));
    }
    let metadata: Vec<Vec<String>> = release
        .metadata
        .metadata
        .iter()
        .filter(|(_, v)| !is_empty_value(v))
        .map(|(key, value)| {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            vec![format!("    {key}:"), value]
        })
        .collect();
    line("  Metadata:");
    text.push_str(&tabulate(&metadata));
    if !versions.is_empty() {
        text.push('\n');
        text.push_str("Component Versions:\n");
        let rows: Vec<Vec<String>> = versions
            .iter()
            .map(|(k, v)| vec![format!("  {k}"), v.version.clone(), v.display_name.clone()])
            .collect();
        text.push_str(&tabulate(&rows));
    }
    text.push_str("\nImages:\n");
    let images = release.images.values();
    let rows: Vec<Vec<String>> = match view {
        View::Digests => std::iter::once(vec!["  NAME".to_string(), "DIGEST".to_string()])
            .chain(images.map(|i| {
                vec![
                    format!("  {}", i.name),
                    digest_of(&i.pullspec).unwrap_or(&i.pullspec).to_string(),
                ]
            }))
            .collect(),
        View::Pullspecs => std::iter::once(vec!["  NAME".to_string(), "PULL SPEC".to_string()])
            .chain(images.map(|i| vec![format!("  {}", i.name), i.pullspec.clone()]))
            .collect(),
        View::Commits => std::iter::once(
            ["  NAME", "REPO", "COMMIT", ""]
                .map(str::to_string)
                .to_vec(),
        )
        .chain(images.map(|i| {
            vec![
                format!("  {}", i.name),
                annotation(i, SOURCE_LOCATION_ANNOTATION).to_string(),
                annotation(i, COMMIT_ID_ANNOTATION).to_string(),
            ]
        }))
        .collect(),
        View::CommitUrls => std::iter::once(["  NAME", "URL", ""].map(str::to_string).to_vec())
            .chain(images.map(|i| {
                vec![
                    format!("  {}", i.name),
                    commit_url(
                        annotation(i, SOURCE_LOCATION_ANNOTATION),
                        annotation(i, COMMIT_ID_ANNOTATION),
                    ),
                ]
            }))
            .collect(),
        View::Size => {
            let empty = BTreeMap::new();
            let found = fetched.map_or(&empty, |(found, _)| found);
            let (rows, total) = size_rows(release, found, now);
            text.push_str(&tabulate(&rows));
            text.push('\n');
            text.push_str(&total);
            text.push('\n');
            Vec::new()
        }
    };
    text.push_str(&tabulate(&rows));
    if let Some((_, warnings)) = fetched.filter(|(_, w)| !w.is_empty()) {
        text.push_str("\nWarnings:\n");
        for warning in warnings {
            text.push_str(&format!("* {warning}\n"));
        }
    }
    text.push('\n');
    text
}

/// An annotation of a tag, empty when absent.
fn annotation<'a>(image: &'a compose_payload::Image, key: &str) -> &'a str {
    image.annotations.get(key).map_or("", String::as_str)
}

/// Whether oc leaves a metadata value out: an empty string, list or map.
fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `--commit-urls`: `https://github.com/ORG/REPO/commit/COMMIT` for a GitHub source, else
/// `LOCATION COMMIT`, as oc writes it. `git@github.com:ORG/REPO` counts as GitHub.
fn commit_url(location: &str, commit: &str) -> String {
    let (host, path) = if let Some((_, rest)) = location.split_once("://") {
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let host = host.rsplit('@').next().unwrap_or(host);
        (host, path.to_string())
    } else if let Some((user_host, path)) = location.split_once(':')
        && let Some((user, host)) = user_host.split_once('@')
        && !user.is_empty()
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        (host, path)
    } else {
        ("", String::new())
    };
    if host == "github.com" {
        format!("https://github.com{path}/commit/{commit}")
    } else {
        format!("{location} {commit}")
    }
}

/// The `--size` table (oc's columns: NAME, AGE, LAYERS, SIZE MB, UNIQUE MB and, with several
/// base layers, BASE) and the total line.
fn size_rows(
    release: &Release,
    found: &BTreeMap<String, ComponentImage>,
    now: u64,
) -> (Vec<Vec<String>>, String) {
    let mut layer_count: HashMap<&str, usize> = HashMap::new();
    let mut base_layer: HashMap<&str, usize> = HashMap::new();
    let mut total: u64 = 0;
    for image in found.values() {
        for (i, layer) in image.manifest.layers.iter().enumerate() {
            if i == 0 {
                base_layer.insert(&layer.digest, 0);
            }
            let count = layer_count.entry(&layer.digest).or_insert(0);
            if *count == 0 {
                total += layer.size;
            }
            *count += 1;
        }
    }
    let several_bases = base_layer.len() > 1;
    let bases = base_layer.len();
    let mut rows = vec![vec![
        "  NAME".to_string(),
        " AGE".to_string(),
        " LAYERS".to_string(),
        " SIZE MB".to_string(),
        " UNIQUE MB".to_string(),
        format!(" {}", if several_bases { "BASE" } else { "" }),
    ]];
    let mut covered: HashSet<&str> = HashSet::new();
    let mut current_base = 1;
    let mb = |bytes: u64| bytes as f64 / 1024.0 / 1024.0;
    for tag in release.images.values() {
        let Some(image) = found.get(&tag.name) else {
            rows.push(vec![
                format!("  {}", tag.name),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            continue;
        };
        let layers = &image.manifest.layers;
        let mut base = String::new();
        if several_bases
            && let Some(first) = layers.first()
            && let Some(index) = base_layer.get_mut(first.digest.as_str())
        {
            if *index == 0 {
                *index = current_base;
                current_base += 1;
            }
            base = if bases <= 5 {
                let letter = char::from(b'A' + u8::try_from(*index - 1).unwrap_or(0));
                format!("{}{letter}", " ".repeat(*index - 1))
            } else {
                index.to_string()
            };
        }
        let size: u64 = layers.iter().map(|l| l.size).sum();
        let mut unshared: u64 = layers
            .iter()
            .filter(|l| layer_count.get(l.digest.as_str()).copied().unwrap_or(0) <= 1)
            .map(|l| l.size)
            .sum();
        if unshared == 0
            && let Some(top) = layers.last()
            && covered.insert(&top.digest)
        {
            unshared = top.size;
        }
        let age = image
            .config
            .as_ref()
            .and_then(|c| c.get("created"))
            .and_then(Value::as_str)
            .and_then(created_secs)
            .map(|created| short_human_duration(now as i64 - created as i64))
            .unwrap_or_default();
        rows.push(vec![
            format!("  {}", tag.name),
            format!("{age:>4}"),
            format!("{:>7}", layers.len()),
            format!("{:>8.1}", mb(size)),
            format!("{:>10.1}", mb(unshared)),
            format!(" {base}"),
        ]);
    }
    let total_line = if several_bases {
        format!(
            "  {} across {} layers, {} different base images",
            human_size(total),
            layer_count.len(),
            base_layer.len()
        )
    } else {
        format!(
            "  {} across {} layers",
            human_size(total),
            layer_count.len()
        )
    };
    (rows, total_line)
}

/// Seconds since the epoch of an image config's `created` (RFC 3339; fractions and offsets
/// beyond the seconds are ignored).
fn created_secs(text: &str) -> Option<u64> {
    let seconds = text.get(..19)?;
    compose_payload::timestamp::parse_rfc3339_utc(&format!("{seconds}Z")).ok()
}

/// Kubernetes' `ShortHumanDuration`: `5s`, `3m`, `2h`, `4d`, `1y`.
fn short_human_duration(seconds: i64) -> String {
    match seconds {
        s if s < -1 => "<invalid>".to_string(),
        s if s < 0 => "0s".to_string(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s if s < 86_400 * 365 => format!("{}d", s / 86_400),
        s => format!("{}y", s / 86_400 / 365),
    }
}

/// docker/go-units `HumanSize`: decimal units, four significant digits (`1.235GB`).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    let digits = if size >= 1.0 {
        size.log10().floor() as i32 + 1
    } else {
        1
    };
    let decimals = usize::try_from(4 - digits).unwrap_or(0);
    let mut number = format!("{size:.decimals$}");
    if number.contains('.') {
        number = number
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string();
    }
    format!("{number}{}", UNITS[unit])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use compose_payload::Image;

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

    fn text(
        view: View,
        fetched: Option<&(BTreeMap<String, ComponentImage>, Vec<String>)>,
    ) -> String {
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
}
