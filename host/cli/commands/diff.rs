//! `compose diff A B [--patch]`: what changed between two releases, like
//! `oc adm release info --changes-from`.

use std::fmt::Write as _;

use compose_payload::diff::{ReleaseDiff, diff_releases, unified_diff};

use crate::args::{DiffArgs, Global};
use crate::commands::open_release;
use crate::output::Output;

/// The digest part of a pullspec.
fn digest_of(pullspec: &str) -> &str {
    pullspec.split_once('@').map_or(pullspec, |(_, d)| d)
}

/// Prints the differences between two releases.
pub fn execute(args: &DiffArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let stream = args.stream.as_deref();
    let (old, _) = open_release(&args.from, stream, global)?;
    let (new, _) = open_release(&args.to, stream, global)?;
    let diff = diff_releases(&old.release, &new.release);
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "from": {"name": old.release.name, "digest": old.digest},
            "to": {"name": new.release.name, "digest": new.digest},
            "changes": diff,
        }));
        return Ok(());
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Changes from {} ({}) to {} ({})\n",
        old.release.name, old.digest, new.release.name, new.digest
    );
    if diff.is_empty() {
        text.push_str("No changes.\n");
        output.data(&text);
        return Ok(());
    }
    render_images(&mut text, &diff);
    render_manifests(&mut text, &diff);
    render_files(&mut text, &diff);
    if diff.metadata_changed {
        let _ = writeln!(
            text,
            "Release Metadata:\n  from: {}\n  to:   {}\n",
            serde_json::to_string(&old.release.metadata).unwrap_or_default(),
            serde_json::to_string(&new.release.metadata).unwrap_or_default()
        );
    }
    if args.patch {
        let empty = String::new();
        for name in diff
            .manifests_removed
            .iter()
            .chain(&diff.manifests_added)
            .chain(diff.manifests_changed.iter().map(|c| &c.name))
        {
            let before = old.release.manifests.get(name).unwrap_or(&empty);
            let after = new.release.manifests.get(name).unwrap_or(&empty);
            let (a, b) = (
                if before.is_empty() {
                    "/dev/null".to_string()
                } else {
                    format!("a/{name}")
                },
                if after.is_empty() {
                    "/dev/null".to_string()
                } else {
                    format!("b/{name}")
                },
            );
            text.push_str(&unified_diff(&a, before, &b, after));
        }
    }
    output.data(&text);
    Ok(())
}

/// The files of `release-manifests/` that are not manifests (scripts, text), by name.
fn render_files(text: &mut String, diff: &ReleaseDiff) {
    let sections = [
        ("Added", &diff.files_added),
        ("Removed", &diff.files_removed),
        ("Changed", &diff.files_changed),
    ];
    if sections.iter().all(|(_, names)| names.is_empty()) {
        return;
    }
    text.push_str("Other files:\n");
    for (label, names) in sections {
        if !names.is_empty() {
            let _ = writeln!(text, "  {label}:");
            for name in names {
                let _ = writeln!(text, "    {name}");
            }
        }
    }
    text.push('\n');
}

fn render_images(text: &mut String, diff: &ReleaseDiff) {
    if diff.images_added.is_empty()
        && diff.images_removed.is_empty()
        && diff.images_changed.is_empty()
    {
        return;
    }
    let width = diff
        .images_added
        .iter()
        .chain(&diff.images_removed)
        .map(|(n, _)| n.len())
        .chain(diff.images_changed.iter().map(|c| c.name.len()))
        .max()
        .unwrap_or(4);
    text.push_str("Images:\n");
    if !diff.images_added.is_empty() {
        text.push_str("  Added:\n");
        for (name, pullspec) in &diff.images_added {
            let _ = writeln!(text, "    {name:<width$}  {pullspec}");
        }
    }
    if !diff.images_removed.is_empty() {
        text.push_str("  Removed:\n");
        for (name, pullspec) in &diff.images_removed {
            let _ = writeln!(text, "    {name:<width$}  {pullspec}");
        }
    }
    if !diff.images_changed.is_empty() {
        text.push_str("  Changed:\n");
        for c in &diff.images_changed {
            let _ = writeln!(
                text,
                "    {:<width$}  {} -> {}",
                c.name,
                digest_of(&c.old),
                digest_of(&c.new)
            );
        }
    }
    text.push('\n');
}

fn render_manifests(text: &mut String, diff: &ReleaseDiff) {
    if diff.manifests_added.is_empty()
        && diff.manifests_removed.is_empty()
        && diff.manifests_changed.is_empty()
    {
        return;
    }
    text.push_str("Manifests:\n");
    for (label, names) in [
        ("Added", &diff.manifests_added),
        ("Removed", &diff.manifests_removed),
    ] {
        if !names.is_empty() {
            let _ = writeln!(text, "  {label}:");
            for name in names {
                let _ = writeln!(text, "    {name}");
            }
        }
    }
    if !diff.manifests_changed.is_empty() {
        text.push_str("  Changed:\n");
        for c in &diff.manifests_changed {
            let _ = writeln!(
                text,
                "    {} (+{} -{})",
                c.name, c.added_lines, c.removed_lines
            );
        }
    }
    text.push('\n');
}
