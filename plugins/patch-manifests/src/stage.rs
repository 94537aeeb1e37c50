//! The stage: remove manifests, add manifests from granted directories, patch documents, replace
//! pullspecs, in that order, over the SDK's [`Release`] trait.
//!
//! Reading the payload costs a copy through the ABI per manifest, so a patch reads only the files
//! that can hold its target: those whose name matches `target.path`, narrowed by the host's
//! `grep-manifests` for the literal values of the target (`name`, `kind`, `namespace`, label
//! values). A file whose documents do not change is never written, so it stays byte-identical.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use compose_plugin_sdk::glob::Glob;
use compose_plugin_sdk::{Finding, Release, Severity, finding, log};
use serde_yaml::Value;

use crate::config::{Config, Kind, Patch, ReplaceImage, Target};
use crate::manifest;
use crate::{merge, strategic};

/// The file name endings `add` takes from a directory.
const MANIFEST_ENDINGS: &[&str] = &[".yaml", ".yml", ".json"];

/// At most this many `grep-manifests` calls narrow the candidates of one patch.
const MAX_GREPS: usize = 3;

/// A finding's message names at most this many files.
const LISTED: usize = 10;

/// Runs the whole stage. The first error stops it; the run then fails and nothing is published.
pub fn run(config: &Config, release: &impl Release) -> Result<Vec<Finding>, String> {
    let mut findings = Vec::new();
    for pattern in &config.remove {
        findings.extend(remove(pattern, release)?);
    }
    for dir in &config.add {
        findings.extend(add(dir, release)?);
    }
    for patch in &config.patches {
        findings.push(apply_patch(patch, release)?);
    }
    for replace in &config.replace_images {
        findings.push(replace_image(replace, release)?);
    }
    Ok(findings)
}

/// Removes the manifests whose names match `pattern`: one finding per file.
fn remove(pattern: &str, release: &impl Release) -> Result<Vec<Finding>, String> {
    let glob = Glob::new(pattern).map_err(|e| format!("remove `{pattern}`: {e}"))?;
    let names: Vec<String> = release
        .manifests()
        .into_iter()
        .filter(|name| glob.matches(name))
        .collect();
    if names.is_empty() {
        return Err(format!("remove `{pattern}`: matches no manifest"));
    }
    let mut findings = Vec::with_capacity(names.len());
    for name in names {
        release.remove_manifest(&name);
        findings.push(finding::info(
            "manifest-removed",
            Some(&name),
            format!("removed `{name}` (matched `{pattern}`)"),
        ));
    }
    log::info(format!(
        "remove `{pattern}`: {} removed",
        plural(findings.len(), "manifest")
    ));
    Ok(findings)
}

/// Adds every `*.yaml`, `*.yml` and `*.json` file of `dir` as a manifest of the same name: one
/// finding per file. Every file is checked (name free, text parses) before any is written.
fn add(dir: &str, release: &impl Release) -> Result<Vec<Finding>, String> {
    let fail = |message: String| format!("add `{dir}`: {message}");
    let entries = fs::read_dir(dir).map_err(|e| {
        fail(format!(
            "cannot read the directory: {e} (grant it with `grants.files` and name it as the \
             stage sees it, e.g. `/overlay` for `grants.files = [\"overlays/overlay\"]`)"
        ))
    })?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| fail(format!("cannot read the directory: {e}")))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let is_file = fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
        if !is_file || name.starts_with('.') || !MANIFEST_ENDINGS.iter().any(|e| name.ends_with(e))
        {
            log::debug(format!("add `{dir}`: skipping `{name}`"));
            continue;
        }
        names.push(name);
    }
    names.sort();
    if names.is_empty() {
        return Err(fail(
            "the directory holds no `.yaml`, `.yml` or `.json` file".into(),
        ));
    }
    let existing: BTreeSet<String> = release.manifests().into_iter().collect();
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        if existing.contains(&name) {
            return Err(fail(format!(
                "`{name}` is already a manifest of the payload (remove it first with `remove`, \
                 or rename the file)"
            )));
        }
        let path = Path::new(dir).join(&name);
        let text =
            fs::read_to_string(&path).map_err(|e| fail(format!("cannot read `{name}`: {e}")))?;
        let documents =
            manifest::parse(&name, &text).map_err(|e| fail(format!("`{name}`: {e}")))?;
        files.push((name, text, documents.len()));
    }
    let mut findings = Vec::with_capacity(files.len());
    for (name, text, count) in files {
        release
            .write_manifest(&name, &text)
            .map_err(|e| fail(format!("cannot write `{name}`: {e}")))?;
        findings.push(finding::info(
            "manifest-added",
            Some(&name),
            format!(
                "added `{name}` from `{}` ({})",
                Path::new(dir).join(&name).display(),
                plural(count, "document")
            ),
        ));
    }
    log::info(format!(
        "add `{dir}`: {} added",
        plural(findings.len(), "manifest")
    ));
    Ok(findings)
}

/// Replaces a pullspec across all manifests through the host.
fn replace_image(replace: &ReplaceImage, release: &impl Release) -> Result<Finding, String> {
    let (from, to) = (&replace.from, &replace.to);
    let changed = release
        .rewrite_pullspec(from, to)
        .map_err(|e| format!("replace-images `{from}`: {e}"))?;
    if changed.is_empty() {
        let message = format!("no manifest holds `{from}`");
        if replace.optional {
            return Ok(finding::warning(
                "image-replaced",
                Some(from),
                format!("{message} (optional: nothing replaced)"),
            ));
        }
        return Err(format!(
            "replace-images `{from}`: {message} (set `optional = true` to allow this)"
        ));
    }
    Ok(finding::info(
        "image-replaced",
        Some(from),
        format!(
            "replaced `{from}` by `{to}` in {}: {}",
            plural(changed.len(), "manifest"),
            capped(changed.iter().map(|n| format!("`{n}`")).collect())
        ),
    ))
}

/// The manifests that can hold a document the target matches, sorted.
fn candidates(target: &Target, release: &impl Release) -> Result<Vec<String>, String> {
    let mut names: Option<BTreeSet<String>> = None;
    if let Some(path) = &target.path {
        let glob = Glob::new(path).map_err(|e| e.to_string())?;
        names = Some(
            release
                .manifests()
                .into_iter()
                .filter(|name| glob.matches(name))
                .collect(),
        );
    }
    for needle in needles(target).into_iter().take(MAX_GREPS) {
        if names.as_ref().is_some_and(BTreeSet::is_empty) {
            break;
        }
        let found: BTreeSet<String> = release.grep_manifests(needle).into_iter().collect();
        names = Some(match names {
            Some(names) => names.intersection(&found).cloned().collect(),
            None => found,
        });
    }
    Ok(match names {
        Some(names) => names.into_iter().collect(),
        None => release.manifests(),
    })
}

/// Literal values of the target that the text of a matching file must contain, most selective
/// first. Only values a YAML or JSON writer never escapes are used (no `/`, `\`, quotes or
/// non-ASCII), so a file that holds the value always contains its text.
fn needles(target: &Target) -> Vec<&str> {
    let literal = |s: &&str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '\\' | '"' | '\''))
    };
    let mut needles: Vec<&str> = [&target.name, &target.kind, &target.namespace]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .collect();
    needles.extend(target.labels.values().map(String::as_str));
    needles.extend(target.api_version.as_deref());
    needles.retain(literal);
    needles
}

/// Whether a document matches the target's object fields (the path is matched by
/// [`candidates`]).
fn matches(target: &Target, document: &Value) -> bool {
    let metadata = document.get("metadata");
    let field = |value: Option<&Value>, expected: &Option<String>| match expected {
        None => true,
        Some(expected) => value.and_then(Value::as_str) == Some(expected.as_str()),
    };
    field(document.get("apiVersion"), &target.api_version)
        && field(document.get("kind"), &target.kind)
        && field(metadata.and_then(|m| m.get("name")), &target.name)
        && field(metadata.and_then(|m| m.get("namespace")), &target.namespace)
        && target.labels.iter().all(|(key, value)| {
            metadata
                .and_then(|m| m.get("labels"))
                .and_then(|labels| labels.get(key.as_str()))
                .and_then(Value::as_str)
                == Some(value.as_str())
        })
}

/// Applies one operation to one document.
fn apply_kind(kind: Kind<'_>, document: &mut Value) -> Result<(), String> {
    match kind {
        Kind::Merge(patch) => {
            merge::merge_patch(document, patch);
            Ok(())
        }
        Kind::Strategic(patch) => {
            strategic::strategic_merge(document, patch);
            Ok(())
        }
        Kind::JsonPatch(ops) => {
            for (i, op) in ops.iter().enumerate() {
                op.apply(document)
                    .map_err(|e| format!("json-patch operation {} ({op}): {e}", i + 1))?;
            }
            Ok(())
        }
    }
}

/// What a patch did to one file.
struct FileResult {
    name: String,
    documents: usize,
    matched: Vec<usize>,
    changed: Vec<usize>,
}

/// Applies one patch to every document its target matches; writes the files that changed.
fn apply_patch(patch: &Patch, release: &impl Release) -> Result<Finding, String> {
    let name = &patch.name;
    let fail = |message: String| format!("patch {name:?}: {message}");
    let kind = patch.kind().map_err(fail)?;
    let candidates = candidates(&patch.target, release).map_err(fail)?;
    log::debug(format!(
        "patch {name:?}: reading {} candidate manifests",
        candidates.len()
    ));
    let mut results = Vec::new();
    for file in &candidates {
        let Some(text) = release.read_manifest(file) else {
            continue;
        };
        let original = manifest::parse(file, &text).map_err(|e| fail(format!("{file}: {e}")))?;
        let mut documents = original.clone();
        let mut result = FileResult {
            name: file.clone(),
            documents: documents.len(),
            matched: Vec::new(),
            changed: Vec::new(),
        };
        for (i, document) in documents.iter_mut().enumerate() {
            if !matches(&patch.target, document) {
                continue;
            }
            result.matched.push(i + 1);
            let mut patched = document.clone();
            apply_kind(kind, &mut patched).map_err(|e| {
                fail(format!(
                    "{file} document {} ({}): {e}",
                    i + 1,
                    manifest::label(document)
                ))
            })?;
            if patched != *document {
                *document = patched;
                result.changed.push(i + 1);
            }
        }
        if !result.changed.is_empty() {
            let rewritten = manifest::rewrite(file, &text, &original, &documents)
                .map_err(|e| fail(format!("{file}: {e}")))?;
            for (document, why) in &rewritten.whole {
                let what = if *document == 0 {
                    "the file".to_string()
                } else {
                    format!("document {document}")
                };
                log::warn(format!(
                    "patch {name:?}: {file}: {what} written whole, comments and layout not kept \
                     ({why})"
                ));
            }
            release
                .write_manifest(file, &rewritten.text)
                .map_err(|e| fail(format!("cannot write {file}: {e}")))?;
        }
        if !result.matched.is_empty() {
            results.push(result);
        }
    }

    let matched: usize = results.iter().map(|r| r.matched.len()).sum();
    let changed: usize = results.iter().map(|r| r.changed.len()).sum();
    if matched == 0 {
        let message = format!(
            "target matched no document ({}; {} read)",
            patch.target.describe(),
            plural(candidates.len(), "candidate manifest")
        );
        if patch.optional {
            log::warn(format!("patch {name:?}: {message}"));
            return Ok(finding::make(
                "patch-applied",
                false,
                Severity::Warning,
                Some(name),
                format!("optional patch skipped: {message}"),
            ));
        }
        return Err(fail(format!(
            "{message}; set `optional = true` on the patch to allow this"
        )));
    }

    let written: Vec<String> = results
        .iter()
        .filter(|r| !r.changed.is_empty())
        .map(|r| {
            format!(
                "`{}` ({} of {} changed)",
                r.name,
                documents_list(&r.changed),
                r.documents
            )
        })
        .collect();
    let files_written = written.len();
    let mut message = format!(
        "{} changed {} in {}",
        kind.title(),
        plural(changed, "document"),
        plural(files_written, "file"),
    );
    if files_written > 0 {
        message.push_str(": ");
        message.push_str(&capped(written));
    }
    if matched > changed {
        let unchanged = matched - changed;
        message.push_str(&format!(
            "; {} matched but already had the patched content",
            plural(unchanged, "document")
        ));
    }
    log::info(format!("patch {name:?}: {message}"));
    Ok(finding::info("patch-applied", Some(name), message))
}

/// `document 2` or `documents 1, 3`.
fn documents_list(indices: &[usize]) -> String {
    let list: Vec<String> = indices.iter().map(usize::to_string).collect();
    if indices.len() == 1 {
        format!("document {}", list.join(", "))
    } else {
        format!("documents {}", list.join(", "))
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// At most [`LISTED`] items, comma-separated, and how many more there are.
fn capped(mut items: Vec<String>) -> String {
    let more = items.len().saturating_sub(LISTED);
    items.truncate(LISTED);
    let mut text = items.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

#[cfg(test)]
mod tests;
