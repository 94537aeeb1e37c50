//! `compose export tekton STREAM [--image IMAGE] [--out FILE]`: the stream as a Tekton
//! Pipeline (one task per stage, pinned by the stream's lock) and an example PipelineRun.

use std::path::{Component, Path};

use anyhow::{Context, bail};

use crate::args::{ExportCommand, ExportTektonArgs, Global};
use crate::commands::{load_stream, plugin_fetcher, registries, stream_source};
use crate::output::Output;

/// Runs `compose export …`.
pub async fn execute(
    command: &ExportCommand,
    global: &Global,
    output: &Output,
) -> anyhow::Result<()> {
    match command {
        ExportCommand::Tekton(args) => tekton(args, global, output).await,
    }
}

/// Checks the stream against its lock like `run --locked`, exports it and writes the YAML.
async fn tekton(args: &ExportTektonArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let mut stream = load_stream(&args.stream)?;
    let name = stream.name.clone();
    let lock_path = compose_pipeline::lock_path(&stream.path);
    if !lock_path.is_file() {
        bail!(
            "stream `{name}` has no lock file `{}`: every task of the pipeline runs with `--locked`, so write it first with `compose lock {}`",
            lock_path.display(),
            args.stream.display()
        );
    }
    let registries = registries(global)?;
    let source = stream_source(&stream, &registries)?;
    let fetcher = plugin_fetcher(global, source.clone());
    let lock = compose_pipeline::lock::enforce(&mut stream, source.as_ref(), &fetcher)
        .with_context(|| {
            format!("checking stream `{name}` against its lock: the pipeline would refuse to run")
        })?;

    let image = args
        .image
        .clone()
        .unwrap_or_else(|| format!("ghcr.io/okd-project/compose:{}", env!("CARGO_PKG_VERSION")));
    let stream_path = match &args.stream_path {
        Some(path) => path.clone(),
        None => workspace_path(&args.stream)?,
    };
    let options = compose_export::tekton::Options {
        image: image.clone(),
        stream_path: stream_path.clone(),
        name: args.name.clone(),
    };
    let export = compose_export::tekton::export(&stream, &lock, &options)
        .with_context(|| format!("exporting stream `{name}` to Tekton"))?;
    let yaml = export.to_yaml()?;

    let mut notes = Vec::new();
    if !image.contains("@sha256:") {
        notes.push(format!(
            "the image `{image}` is not pinned by digest: pass `--image REPO@sha256:…` so that every task runs the same compose"
        ));
    }
    notes.extend(export.notes.iter().cloned());

    if let Some(out) = &args.out {
        crate::files::write_output_file(
            out,
            yaml.as_bytes(),
            &[&args.stream, &stream.path, &lock_path],
            args.force,
        )?;
    } else if !output.is_json() {
        output.data(&yaml);
    }
    let tasks = export.pipeline.spec.tasks.len();
    let pipeline = export.pipeline.metadata.name.as_deref().unwrap_or_default();
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "exported",
            "format": "tekton",
            "pipeline": pipeline,
            "tasks": tasks,
            "stream-path": stream_path,
            "path": args.out,
            "notes": notes,
            "yaml": if args.out.is_none() { Some(&yaml) } else { None },
        }));
        return Ok(());
    }
    output.status(&format!(
        "locked  base {} and {} plugin{} match `{}`",
        lock.base.digest,
        lock.plugins.len(),
        if lock.plugins.len() == 1 { "" } else { "s" },
        lock_path.display()
    ));
    for note in &notes {
        output.status(&format!("note    {note}"));
    }
    output.status(&format!(
        "wrote   Pipeline `{pipeline}` ({tasks} tasks, stream `{stream_path}` in the source workspace) and an example PipelineRun{}",
        match &args.out {
            Some(out) => format!(" to {}", out.display()),
            None => String::new(),
        }
    ));
    Ok(())
}

/// The stream file's path inside the source workspace: relative to the repository checkout
/// holding it (the nearest directory above it with a `.git`), else to the current directory.
fn workspace_path(stream: &Path) -> anyhow::Result<String> {
    let absolute = std::fs::canonicalize(stream)
        .with_context(|| format!("resolving the stream path `{}`", stream.display()))?;
    let checkout = absolute
        .ancestors()
        .skip(1)
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf);
    let cwd = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .context("reading the current directory")?;
    for root in checkout.iter().chain(std::iter::once(&cwd)) {
        if let Ok(rel) = absolute.strip_prefix(root)
            && !rel.as_os_str().is_empty()
        {
            return Ok(slashes(rel));
        }
    }
    bail!(
        "the stream `{}` is neither in a git checkout nor under the current directory: pass `--stream-path` with its path in the repository checkout the pipeline's `source` workspace holds",
        stream.display()
    )
}

fn slashes(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}
