//! `gen-sample-mirror OUT_DIR [--scale N]`: writes the sample mirror (see `compose_samples`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: gen-sample-mirror OUT_DIR [--scale N]";

fn parse_args() -> Result<(PathBuf, u32)> {
    let mut out = None;
    let mut scale = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scale" => {
                let value = args.next().context("`--scale` needs a value")?;
                scale = value
                    .parse()
                    .with_context(|| format!("`--scale {value}` must be a whole number"))?;
            }
            "-h" | "--help" => bail!("{USAGE}"),
            _ if arg.starts_with('-') => bail!("unknown option `{arg}`\n{USAGE}"),
            _ if out.is_none() => out = Some(PathBuf::from(arg)),
            _ => bail!("unexpected argument `{arg}`\n{USAGE}"),
        }
    }
    Ok((out.context(USAGE)?, scale))
}

fn run() -> Result<()> {
    let (out, scale) = parse_args()?;
    let start = Instant::now();
    let summary = compose_samples::generate(&out, scale)
        .with_context(|| format!("generating the sample mirror in `{}`", out.display()))?;
    let elapsed = start.elapsed();
    println!("wrote {} (scale {scale}) in {:.2?}", out.display(), elapsed);
    println!(
        "  images: {} ({} base components, {} SCOS, 1 release)",
        summary.images, summary.component_images, summary.scos_images
    );
    println!("  release manifests: {}", summary.manifests);
    println!("  blobs: {}, bytes: {}", summary.blobs, summary.bytes);
    println!("  release digest: {}", summary.release_digest);
    for r in &summary.refs {
        println!("  ref: {r}");
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
