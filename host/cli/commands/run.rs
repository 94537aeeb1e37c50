//! `compose run STREAM [--out DIR] [--locked] [--push [--to REF]]`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use compose_registry::{ImageSource, Reference};

use crate::args::{Global, RunArgs};
use crate::commands::{
    cache_dir, load_stream, plugin_fetcher, registries, runtime, stream_mirrors,
};
use crate::output::Output;

/// Plans and runs the stream, pushes the release if asked, then prints a summary.
pub async fn execute(args: &RunArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let mut stream = load_stream(&args.stream)?;
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
    // Check the push target before any work: a typo should not cost a whole run.
    let target = if args.push {
        let text = args
            .to
            .as_deref()
            .or(stream.to.as_deref())
            .with_context(|| {
                format!(
                    "`--push` needs a target: set `to` in `{}` or pass `--to REF`",
                    args.stream.display()
                )
            })?;
        Some(
            Reference::parse(text)
                .with_context(|| format!("the push target `{text}` is not an image reference"))?,
        )
    } else {
        None
    };
    let results = parse_results(&args.results)?;
    let state = args
        .state
        .as_ref()
        .map(|dir| compose_pipeline::StateOptions {
            dir: dir.clone(),
            selection: match &args.only {
                Some(stage) => compose_pipeline::Selection::only(stage),
                None => compose_pipeline::Selection {
                    from: args.from.clone(),
                    until: args.until.clone(),
                },
            },
        });
    let registries = registries(global)?;
    // On a terminal: images read ahead of the total, blobs and bytes pushed.
    if let Some(progress) = output.registry_progress() {
        registries.set_progress(progress);
    }
    // One registry view for the whole command: the lock check, `oci://` plugins and the run.
    let mirrors = stream_mirrors(&stream, &registries)?;
    let source: Arc<dyn ImageSource> = mirrors.clone();
    let fetcher = plugin_fetcher(global, source.clone());
    let name = stream.name.clone();
    if args.locked {
        let lock = compose_pipeline::lock::enforce(&mut stream, source.as_ref(), &fetcher)
            .with_context(|| format!("checking stream `{name}` against its lock"))?;
        output.status(&format!(
            "locked  base {} and {} plugin{} match `{}`",
            lock.base.digest,
            lock.plugins.len(),
            if lock.plugins.len() == 1 { "" } else { "s" },
            compose_pipeline::lock_path(&stream.path).display()
        ));
    }
    let runtime = runtime(global)?;
    // Stage at a time: the state is read once, and only the plugins of the stages this
    // process may run are compiled.
    let read = match &state {
        Some(state) => Some(
            compose_pipeline::StateRead::load(&state.dir).with_context(|| {
                format!("running stream `{name}`; the state and the output were left as they were")
            })?,
        ),
        None => None,
    };
    let may_run = state.as_ref().zip(read.as_ref()).map(|(state, read)| {
        let names: Vec<&str> = stream.stages.iter().map(|s| s.name.as_str()).collect();
        compose_pipeline::state::may_run(&names, &state.selection, read.recorded_stages())
    });
    let load = |i: usize| may_run.as_ref().is_none_or(|range| range.contains(&i));
    let plan = compose_pipeline::plan_selected(&runtime, stream, output, Some(&fetcher), &load)
        .with_context(|| format!("planning stream `{name}`"))?;
    let options = compose_pipeline::RunOptions {
        out,
        source_date_epoch,
        mirrors: Some(mirrors),
        require_signed: args.require_signed,
        state,
        stage_cache: Some(compose_pipeline::stage_cache::CacheOptions::in_cache_dir(
            &cache_dir(global),
            !args.no_cache,
        )),
    };
    let ran = match read {
        Some(read) => {
            compose_pipeline::run_from_state(&runtime, &plan, &options, read, output).await
        }
        None => compose_pipeline::run(&runtime, &plan, &options, output).await,
    };
    let outcome = match ran {
        Ok(outcome) => outcome,
        Err(e) => {
            if let compose_pipeline::Error::ChecksFailed { count, .. } = &e {
                write_results(&results, None, &[("failed-findings", count.to_string())])?;
            }
            let what = if args.state.is_some() {
                "the state and the output were left as they were"
            } else {
                "nothing was written"
            };
            return Err(anyhow::Error::new(e).context(format!("running stream `{name}`; {what}")));
        }
    };
    let findings: usize = outcome.stages.iter().map(|s| s.findings.len()).sum();
    let failed: usize = outcome
        .stages
        .iter()
        .flat_map(|s| &s.findings)
        .filter(|f| !f.passed && f.severity == compose_runtime::Severity::Error)
        .count();
    write_results(
        &results,
        Some(&outcome.digest),
        &[
            ("findings", findings.to_string()),
            ("failed-findings", failed.to_string()),
        ],
    )?;
    let pushed = match &target {
        // Refused, with the state saved, when stages are still to run.
        Some(target) => Some(compose_pipeline::push::push(&registries, &outcome, target).await?),
        None => None,
    };
    if output.is_json() {
        if let Some(pushed) = &pushed {
            output.json_line(&serde_json::json!({
                "event": "pushed", "result": pushed.release, "attachments": pushed.attachments, "millis": pushed.millis,
            }));
        }
        output.json_line(&serde_json::json!({"event": "done", "result": outcome}));
    } else {
        if let Some(pushed) = &pushed {
            output.pushed(&pushed.release, pushed.millis);
            for a in &pushed.attachments {
                output.status(&format!("pushed  {} {}", a.reference, a.digest));
            }
        }
        let location = match (&outcome.state, outcome.published) {
            (Some(state), false) => state,
            _ => &outcome.out,
        };
        output.data(&format!(
            "{} {} {}\n",
            outcome.digest,
            outcome.release,
            location.display()
        ));
        output.status(&format!("done in {:.0} ms", outcome.total_millis));
        output.run_summary();
    }
    // The process ends after this: unmapping every compiled plugin and dropping the engine
    // would only delay the exit (about 7 ms of a 200 ms rerun at 10x the sample).
    std::mem::forget(plan);
    std::mem::forget(runtime);
    Ok(())
}

/// The result names `--result` takes.
const RESULT_NAMES: [&str; 3] = ["release-digest", "findings", "failed-findings"];

/// Parses `--result NAME=PATH` arguments.
fn parse_results(args: &[String]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    args.iter()
        .map(|arg| {
            let (name, path) = arg
                .split_once('=')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                .with_context(|| format!("`--result {arg}`: expected NAME=PATH"))?;
            if !RESULT_NAMES.contains(&name) {
                anyhow::bail!(
                    "`--result {arg}`: unknown result `{name}` (known: {})",
                    RESULT_NAMES.join(", ")
                );
            }
            Ok((name.to_string(), PathBuf::from(path)))
        })
        .collect()
}

/// Writes the requested results: `release-digest` (when known) and the `values` given. Each is
/// a few bytes, far under Tekton's 4 KiB result limit.
fn write_results(
    results: &[(String, PathBuf)],
    digest: Option<&str>,
    values: &[(&str, String)],
) -> anyhow::Result<()> {
    for (name, path) in results {
        let value = match name.as_str() {
            "release-digest" => digest.map(str::to_string),
            other => values
                .iter()
                .find(|(n, _)| *n == other)
                .map(|(_, v)| v.clone()),
        };
        if let Some(value) = value {
            std::fs::write(path, value.as_bytes())
                .with_context(|| format!("writing the result `{name}` to `{}`", path.display()))?;
        }
    }
    Ok(())
}
