//! `compose image build [--binary FILE] [--out DIR] [--tag TAG] [--ca-bundle FILE |
//! --no-ca-bundle] [--revision REV] [--push --to REF]`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use compose_image::{ImageOptions, ImageSummary};
use compose_registry::{OciLayout, PushReport, Reference};

use crate::args::{Global, ImageBuildArgs, ImageCommand};
use crate::commands::registries;
use crate::output::Output;

/// Runs a `compose image` subcommand.
pub async fn execute(
    command: &ImageCommand,
    global: &Global,
    output: &Output,
) -> anyhow::Result<()> {
    match command {
        ImageCommand::Build(args) => build(args, global, output).await,
    }
}

/// Builds the image, writes the layout, pushes it if asked, then prints a summary.
async fn build(args: &ImageBuildArgs, global: &Global, output: &Output) -> anyhow::Result<()> {
    let started = Instant::now();
    let version = env!("CARGO_PKG_VERSION");
    let tag = args.tag.clone().unwrap_or_else(|| version.to_string());
    compose_image::validate_tag(&tag).context("`--tag`")?;
    // Check the push target before any work: a typo should not cost a build.
    let target = match (&args.push, &args.to) {
        (true, Some(text)) => {
            let mut target = Reference::parse(text)
                .with_context(|| format!("the push target `{text}` is not an image reference"))?;
            if target.tag.is_none() && target.digest.is_none() {
                target.tag = Some(tag.clone());
            }
            Some(target)
        }
        _ => None,
    };
    let binary = match &args.binary {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("finding the running compose binary; name one with `--binary FILE`")?,
    };
    let ca_bundle = match (&args.ca_bundle, args.no_ca_bundle) {
        (_, true) => None,
        (Some(path), false) => Some(path.clone()),
        (None, false) => compose_image::default_ca_bundle(),
    };
    if ca_bundle.is_none() && !args.no_ca_bundle {
        output.status(&format!(
            "warning: `{}` does not exist: the image has no CA bundle and reaches no HTTPS registry; pass `--ca-bundle FILE`",
            compose_image::HOST_CA_BUNDLE
        ));
    }
    let options = ImageOptions {
        binary,
        ca_bundle,
        version: version.to_string(),
        source: env!("CARGO_PKG_REPOSITORY").to_string(),
        description: env!("CARGO_PKG_DESCRIPTION").to_string(),
        revision: args.revision.clone(),
        created: compose_image::created_from_env()?,
    };
    let image = compose_image::build(&options).with_context(|| {
        format!(
            "building the compose image from `{}`; nothing was written",
            options.binary.display()
        )
    })?;
    let summary = compose_image::write_layout(&image, &args.out, &tag)
        .with_context(|| format!("writing the compose image to `{}`", args.out.display()))?;
    let build_millis = started.elapsed().as_secs_f64() * 1000.0;
    if !output.is_json() {
        status(output, &options, &image, &summary, build_millis);
    }

    let pushed = match &target {
        Some(target) => Some(push(global, &summary, target).await?),
        None => None,
    };
    if output.is_json() {
        if let Some((report, millis)) = &pushed {
            output.json_line(&serde_json::json!({
                "event": "pushed", "result": report, "millis": millis,
            }));
        }
        output.json_line(&serde_json::json!({
            "event": "done", "result": summary, "millis": build_millis,
        }));
    } else {
        if let Some((report, millis)) = &pushed {
            output.pushed(report, *millis);
        }
        output.data(&format!(
            "{} {} {}\n",
            summary.digest,
            summary.tag,
            summary.out.display()
        ));
        output.status(&format!(
            "done in {:.0} ms",
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
    Ok(())
}

/// The text status lines of a build: the binary, the layers, what was written.
fn status(
    output: &Output,
    options: &ImageOptions,
    image: &compose_image::Image,
    summary: &ImageSummary,
    millis: f64,
) {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let exe = &image.executable;
    output.status(&format!(
        "binary  {} (static{} {} ELF, linux/{})",
        options.binary.display(),
        if exe.pie { "-PIE" } else { "" },
        exe.machine,
        exe.architecture
    ));
    match &options.ca_bundle {
        Some(path) => output.status(&format!(
            "base    CA bundle from {} (created {})",
            path.display(),
            summary.created
        )),
        None => output.status(&format!(
            "base    no CA bundle (created {})",
            summary.created
        )),
    }
    for layer in &summary.layers {
        output.status(&format!(
            "layer   {:<8}{} {:.2} MiB ({:.2} MiB unpacked)",
            layer.name,
            layer.digest,
            mib(layer.size),
            mib(layer.tar_size)
        ));
    }
    output.status(&format!(
        "wrote   compose:{} {} ({:.2} MiB) to {} in {millis:.0} ms",
        summary.tag,
        summary.digest,
        mib(summary.total_size),
        summary.out.display()
    ));
}

/// Pushes the image written at `summary.out` to `target`, as `compose run --push` pushes a
/// release: blobs first, then the manifest, the tag last.
async fn push(
    global: &Global,
    summary: &ImageSummary,
    target: &Reference,
) -> anyhow::Result<(PushReport, f64)> {
    let started = Instant::now();
    let registries = registries(global)?;
    let layout = OciLayout::open(&summary.out)
        .with_context(|| format!("opening the output `{}`", summary.out.display()))?;
    let layout: Arc<OciLayout> = Arc::new(layout);
    let source = Reference::parse(&format!("localhost/compose:{}", summary.tag))?;
    let report = compose_registry::push_image(&registries, layout, &source, target)
        .await
        .with_context(|| {
            format!(
                "pushing the compose image to `{target}`; the output `{}` is complete, run again to retry the push",
                summary.out.display()
            )
        })?;
    Ok((report, started.elapsed().as_secs_f64() * 1000.0))
}
