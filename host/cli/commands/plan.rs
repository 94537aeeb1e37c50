//! `compose plan STREAM`: plugins with digests, imports against grants, stage order.

use anyhow::Context;

use crate::args::{Global, StreamArgs};
use crate::commands::{load_stream, runtime};
use crate::output::Output;

/// Resolves every plugin and prints the plan.
pub async fn execute(args: &StreamArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let stream = load_stream(&args.stream)?;
    crate::commands::validate::check_stock_configs(&stream, global).await?;
    let runtime = runtime(global)?;
    let name = stream.name.clone();
    let registries = crate::commands::registries(global)?;
    let source = crate::commands::stream_source(&stream, &registries)?;
    let fetcher = crate::commands::plugin_fetcher(global, source);
    let plan =
        compose_pipeline::plan_with(&runtime, stream, &compose_pipeline::Quiet, Some(&fetcher))
            .with_context(|| format!("planning stream `{name}`"))?;
    let mut text = format!(
        "stream  {}\nrelease {}\nfrom    {}\nto      {}\n",
        plan.stream.name,
        plan.stream.release,
        plan.stream.from,
        plan.stream.to.as_deref().unwrap_or("(not set)")
    );
    let mut json_stages = Vec::new();
    let mut refused = 0;
    for (i, s) in plan.stages.iter().enumerate() {
        let info = s
            .plugin()?
            .describe_within(&runtime, s.spec.limits)
            .await
            .with_context(|| {
                format!(
                    "describing plugin `{}` of stage `{}`",
                    s.label, s.stage.name
                )
            })?;
        text.push_str(&format!(
            "\n{}. {}  {} {} ({})\n   plugin  {} {}\n   limits  memory {} MiB, timeout {:?}\n",
            i + 1,
            s.stage.name,
            info.name,
            info.version,
            info.description,
            s.label,
            s.digest,
            s.spec.limits.effective_memory() >> 20,
            s.spec.limits.effective_timeout()
        ));
        // The directories the sandbox opens, as resolved (links followed): what the stage reads.
        for dir in &s.spec.grants.files {
            text.push_str(&format!(
                "   files   {:<44} read-only {}\n",
                dir.guest,
                dir.host.display()
            ));
        }
        for import in &s.imports {
            if !import.granted {
                refused += 1;
            }
            text.push_str(&format!(
                "   import  {:<44} {}\n",
                import.interface,
                if import.granted {
                    format!("granted ({})", import.reason)
                } else {
                    format!("REFUSED: {}", import.reason)
                }
            ));
        }
        json_stages.push(serde_json::json!({
            "index": i + 1,
            "stage": s.stage.name,
            "plugin": s.label,
            "digest": s.digest,
            "name": info.name,
            "version": info.version,
            "description": info.description,
            "imports": s.imports.iter().map(|i| serde_json::json!({
                "interface": i.interface, "granted": i.granted, "reason": i.reason
            })).collect::<Vec<_>>(),
            "files": s.spec.grants.files.iter().map(|d| serde_json::json!({
                "guest": d.guest, "host": d.host.display().to_string()
            })).collect::<Vec<_>>(),
            "memory": s.spec.limits.effective_memory(),
            "timeout-millis": s.spec.limits.effective_timeout().as_millis() as u64,
        }));
    }
    if output.is_json() {
        output.json_line(&serde_json::json!({"event": "plan", "stream": plan.stream.name, "stages": json_stages}));
    } else {
        output.data(&text);
    }
    if refused > 0 {
        plan.check_grants()?;
    }
    Ok(())
}
