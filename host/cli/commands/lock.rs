//! `compose lock STREAM`: pin the base release and every plugin by digest in `STREAM.lock`.

use anyhow::Context;

use crate::args::{Global, StreamArgs};
use crate::commands::{load_stream, plugin_fetcher, registries, stream_source};
use crate::output::Output;

/// Resolves every input of the stream and writes the lock file beside it.
pub async fn execute(args: &StreamArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let stream = load_stream(&args.stream)?;
    let registries = registries(global)?;
    let source = stream_source(&stream, &registries)?;
    let fetcher = plugin_fetcher(global, source.clone());
    let lock = compose_pipeline::lock::resolve(&stream, source.as_ref(), &fetcher)
        .with_context(|| format!("locking stream `{}`", stream.name))?;
    let path = compose_pipeline::lock_path(&stream.path);
    let previous = compose_pipeline::Lock::read(&path).ok().flatten();
    lock.write(&path)?;
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "locked", "path": path, "lock": lock,
            "changed": previous.as_ref().map(|p| p.drift(&lock)),
        }));
        return Ok(());
    }
    let mut text = format!("base    {} {}\n", lock.base.digest, lock.base.reference);
    for p in &lock.plugins {
        text.push_str(&format!(
            "plugin  {} {} ({})\n",
            p.manifest.as_deref().unwrap_or(&p.wasm),
            p.plugin,
            p.stage
        ));
    }
    output.data(&text);
    match previous.map(|p| p.drift(&lock)) {
        Some(changes) if changes.is_empty() => {
            output.status(&format!("wrote   {} (unchanged)", path.display()))
        }
        Some(changes) => output.status(&format!(
            "wrote   {}, changed:\n  - {}",
            path.display(),
            changes.join("\n  - ")
        )),
        None => output.status(&format!("wrote   {}", path.display())),
    }
    Ok(())
}
