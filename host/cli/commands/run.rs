//! `compose run STREAM [--out DIR] [--locked] [--push [--to REF]]`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use compose_registry::{OciLayout, PushReport, Reference};

use crate::args::{Global, RunArgs};
use crate::commands::{load_stream, plugin_fetcher, registries, runtime, stream_source};
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
    let registries = registries(global)?;
    let source = stream_source(&stream, &registries)?;
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
    let plan = compose_pipeline::plan_with(&runtime, stream, output, Some(&fetcher))
        .with_context(|| format!("planning stream `{name}`"))?;
    let options = compose_pipeline::RunOptions {
        out,
        source_date_epoch,
        registries: Some(registries.clone()),
        require_signed: args.require_signed,
    };
    let outcome = compose_pipeline::run(&runtime, &plan, &options, output)
        .await
        .with_context(|| format!("running stream `{name}`; nothing was written"))?;
    let pushed = match &target {
        Some(target) => Some(push(&registries, &outcome, target).await?),
        None => None,
    };
    if output.is_json() {
        if let Some((report, attachments, millis)) = &pushed {
            output.json_line(&serde_json::json!({
                "event": "pushed", "result": report, "attachments": attachments, "millis": millis,
            }));
        }
        output.json_line(&serde_json::json!({"event": "done", "result": outcome}));
    } else {
        if let Some((report, attachments, millis)) = &pushed {
            output.status(&format!(
                "pushed  {} {} in {millis:.0} ms ({} of {} blobs uploaded, {} KiB; {} already there)",
                report.reference,
                report.digest,
                report.uploaded,
                report.blobs,
                report.uploaded_bytes.div_ceil(1024),
                report.skipped
            ));
            for a in attachments {
                output.status(&format!("pushed  {} {}", a.reference, a.digest));
            }
        }
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

/// Pushes the release of `outcome` to `target`, then every other tagged image of the output
/// layout (the signing work's `sha256-<hex>.sig` attachments) to the same repository: the
/// release first, so an attachment never names a missing image.
async fn push(
    registries: &Arc<compose_registry::RemoteRegistries>,
    outcome: &compose_pipeline::RunOutcome,
    target: &Reference,
) -> anyhow::Result<(PushReport, Vec<PushReport>, f64)> {
    let started = std::time::Instant::now();
    let layout = OciLayout::open(&outcome.out)
        .with_context(|| format!("opening the output `{}`", outcome.out.display()))?;
    let attachments: Vec<String> = layout
        .index()
        .manifests
        .iter()
        .filter_map(|d| d.ref_name())
        .filter(|name| *name != outcome.release)
        .map(str::to_string)
        .collect();
    let layout: Arc<OciLayout> = Arc::new(layout);
    let retry = || {
        format!(
            "pushing release `{}` to `{target}`; the output `{}` is complete, run again to retry the push",
            outcome.release,
            outcome.out.display()
        )
    };
    let release = Reference::parse(&format!("localhost/release:{}", outcome.release))?;
    let report = compose_registry::push_image(registries, layout.clone(), &release, target)
        .await
        .with_context(retry)?;
    let mut pushed = Vec::new();
    for tag in attachments {
        let Ok(source) = Reference::parse(&format!("localhost/release:{tag}")) else {
            continue; // not a tag a registry takes
        };
        let dest = Reference {
            tag: Some(tag),
            digest: None,
            ..target.clone()
        };
        let report = compose_registry::push_image(registries, layout.clone(), &source, &dest)
            .await
            .with_context(retry)?;
        pushed.push(report);
    }
    Ok((report, pushed, started.elapsed().as_secs_f64() * 1000.0))
}
