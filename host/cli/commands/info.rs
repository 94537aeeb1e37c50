//! `compose info RELEASE`: a release image shown the way `oc adm release info` shows it.

use std::collections::BTreeMap;

use compose_payload::image_references::{VERSION_DISPLAY_NAMES_ANNOTATION, VERSIONS_ANNOTATION};
use compose_registry::ReleaseImage;

use crate::args::InfoArgs;
use crate::commands::open_release;
use crate::output::Output;

/// `key=value,key=value` annotation values, as `oc` writes component versions.
fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
}

/// Component versions across every image: name -> (version, display name).
fn component_versions(release: &ReleaseImage) -> BTreeMap<String, (String, String)> {
    let mut versions = BTreeMap::new();
    for image in release.release.images.values() {
        let names: BTreeMap<&str, &str> = image
            .annotations
            .get(VERSION_DISPLAY_NAMES_ANNOTATION)
            .map(|t| pairs(t).collect())
            .unwrap_or_default();
        if let Some(text) = image.annotations.get(VERSIONS_ANNOTATION) {
            for (component, version) in pairs(text) {
                let display = names.get(component).copied().unwrap_or_default();
                versions.insert(
                    component.to_string(),
                    (version.to_string(), display.to_string()),
                );
            }
        }
    }
    versions
}

/// The digest part of a pullspec.
fn digest_of(pullspec: &str) -> &str {
    pullspec
        .split_once('@')
        .map_or(pullspec, |(_, digest)| digest)
}

/// Prints the release.
pub fn execute(args: &InfoArgs, output: &Output) -> anyhow::Result<()> {
    let (image, location) = open_release(&args.release, args.stream.as_deref())?;
    let release = &image.release;
    let os = image
        .config
        .get("os")
        .and_then(|v| v.as_str())
        .unwrap_or("linux");
    let arch = image
        .config
        .get("architecture")
        .and_then(|v| v.as_str())
        .unwrap_or("amd64");
    let versions = component_versions(&image);
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "name": release.name,
            "digest": image.digest,
            "created": release.created,
            "os": os,
            "architecture": arch,
            "pullFrom": format!("{location}@{}", image.digest),
            "metadata": release.metadata,
            "manifests": release.manifests.len(),
            "componentVersions": versions.iter().map(|(k, (v, d))| (k.clone(), serde_json::json!({"version": v, "displayName": d}))).collect::<serde_json::Map<_, _>>(),
            "images": release.images.values().map(|i| serde_json::json!({"name": i.name, "pullspec": i.pullspec})).collect::<Vec<_>>(),
        }));
        return Ok(());
    }
    let mut text = String::new();
    let mut line = |s: String| {
        text.push_str(&s);
        text.push('\n');
    };
    line(format!("Name:           {}", release.name));
    line(format!("Digest:         {}", image.digest));
    line(format!("Created:        {}", release.created));
    line(format!("OS/Arch:        {os}/{arch}"));
    line(format!("Manifests:      {}", release.manifests.len()));
    line(String::new());
    line(format!("Pull From: {location}@{}", image.digest));
    line(String::new());
    line("Release Metadata:".to_string());
    line(format!("  Version:  {}", release.metadata.version));
    if !release.metadata.previous.is_empty() {
        line(format!(
            "  Upgrades: {}",
            release.metadata.previous.join(", ")
        ));
    }
    if !release.metadata.metadata.is_empty() {
        line("  Metadata:".to_string());
        for (key, value) in &release.metadata.metadata {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            line(format!("    {key}: {value}"));
        }
    }
    if !versions.is_empty() {
        line(String::new());
        line("Component Versions:".to_string());
        for (component, (version, display)) in &versions {
            line(
                format!("  {component} {version} {display}")
                    .trim_end()
                    .to_string(),
            );
        }
    }
    line(String::new());
    line("Images:".to_string());
    let width = release
        .images
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(4)
        .max(4);
    line(format!("  {:<width$}   DIGEST", "NAME"));
    for image in release.images.values() {
        line(format!(
            "  {:<width$}   {}",
            image.name,
            digest_of(&image.pullspec)
        ));
    }
    output.data(&text);
    Ok(())
}
