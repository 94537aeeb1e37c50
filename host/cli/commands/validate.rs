//! `compose validate STREAM`.

use anyhow::Context;
use compose_stream::{PluginRef, Stream};

use crate::args::{Global, StreamArgs};
use crate::commands::{load_stream, runtime};
use crate::output::Output;

/// Validates the stream file (and the config of each stock stage against its plugin's schema)
/// and says so.
pub async fn execute(args: &StreamArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let stream = load_stream(&args.stream)?;
    check_stock_configs(&stream, global).await?;
    if output.is_json() {
        output.json_line(&serde_json::json!({
            "event": "valid",
            "stream": stream.name,
            "release": stream.release,
            "stages": stream.stages.iter().map(|s| &s.name).collect::<Vec<_>>(),
        }));
    } else {
        output.data(&format!(
            "{}: stream `{}` is valid ({} stage{})\n",
            args.stream.display(),
            stream.name,
            stream.stages.len(),
            if stream.stages.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(())
}

/// Checks the `config` of every stage that runs a stock (builtin) plugin against the JSON
/// schema the plugin publishes through `describe`, so that a mistyped or unknown key is refused
/// now, with its `file:line`, and not when the stage runs after the stages before it. Plugins
/// from files and registries are checked when they run (their schema needs the plugin loaded,
/// which `plan` does). The stock plugins come from the compiled-plugin cache, so this costs a
/// few milliseconds after the first run.
pub async fn check_stock_configs(stream: &Stream, global: &Global) -> anyhow::Result<()> {
    let stock: Vec<(usize, &str)> = stream
        .stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.plugin {
            PluginRef::Builtin(name) => Some((i, name.as_str())),
            _ => None,
        })
        .collect();
    if stock.is_empty() {
        return Ok(());
    }
    let runtime = runtime(global)?;
    let mut by_plugin: std::collections::BTreeMap<&str, Option<serde_json::Value>> =
        Default::default();
    let mut schemas: Vec<Option<serde_json::Value>> = vec![None; stream.stages.len()];
    for (i, name) in stock {
        if !by_plugin.contains_key(name) {
            let Some(builtin) = compose_builtins::find(name) else {
                continue;
            };
            let label = format!("builtin:{name}");
            let plugin = runtime
                .load(&label, builtin.wasm)
                .with_context(|| format!("loading plugin `{label}`"))?;
            let info = plugin
                .describe(&runtime)
                .await
                .with_context(|| format!("describing plugin `{label}`"))?;
            // A schema that is not JSON checks nothing here; the plugin checks its config when
            // it runs.
            let schema = info
                .config_schema
                .and_then(|text| serde_json::from_str(&text).ok());
            by_plugin.insert(name, schema);
        }
        if let Some(slot) = schemas.get_mut(i) {
            *slot = by_plugin.get(name).cloned().flatten();
        }
    }
    compose_stream::stage_config::check_configs(stream, &mut |i| {
        schemas.get(i).cloned().flatten()
    })?;
    Ok(())
}
