//! `compose run STREAM [--out DIR]`.

use std::path::PathBuf;

use anyhow::Context;

use crate::args::{Global, RunArgs};
use crate::commands::{load_stream, runtime};
use crate::output::Output;

/// Plans and runs the stream, then prints a summary.
pub async fn execute(args: &RunArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let stream = load_stream(&args.stream)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&stream.name));
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => Some(
            v.parse::<u64>()
                .with_context(|| format!("`SOURCE_DATE_EPOCH` must be whole seconds, not `{v}`"))?,
        ),
        _ => None,
    };
    let runtime = runtime(global)?;
    let name = stream.name.clone();
    let plan = compose_pipeline::plan(&runtime, stream, output)
        .with_context(|| format!("planning stream `{name}`"))?;
    let options = compose_pipeline::RunOptions {
        out,
        source_date_epoch,
    };
    let outcome = compose_pipeline::run(&runtime, &plan, &options, output)
        .await
        .with_context(|| format!("running stream `{name}`; nothing was written"))?;
    if output.is_json() {
        output.json_line(&serde_json::json!({"event": "done", "result": outcome}));
    } else {
        output.data(&format!(
            "{} {} {}\n",
            outcome.digest,
            outcome.release,
            outcome.out.display()
        ));
        output.status(&format!("done in {:.0} ms", outcome.total_millis));
    }
    Ok(())
}
