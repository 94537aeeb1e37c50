//! `cargo bench --bench compose`: the speed and memory figures of BENCHMARKS.md.
//!
//! Drives the real `compose` binary on `streams/scos.toml` (the committed sample mirror) and on
//! a copy of it pointing at a generated 10x mirror, and prints a Markdown report:
//! cold run (empty plugin cache), warm run, peak memory (`/usr/bin/time -f %M`), per-stage
//! instantiate and run times (from `--json` events), and the 10x/1x ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Warm runs per payload size.
const WARM_RUNS: usize = 15;
/// Cold runs (each with an empty cache).
const COLD_RUNS: usize = 3;
/// Rounds of (one run, the same run one process per stage), interleaved.
const STAGED_ROUNDS: usize = 7;

mod provenance;

type Failure = Box<dyn std::error::Error>;

/// One run of the binary.
struct Run {
    wall: Duration,
    /// Peak resident set, KiB, when `/usr/bin/time` is there.
    peak_kib: Option<u64>,
    /// Per stage: (name, instantiate ms, run ms).
    stages: Vec<(String, f64, f64)>,
    /// Per plugin load: (stage, cached, ms).
    loads: Vec<(String, bool, f64)>,
    /// Every stage in order, run, reused or skipped.
    order: Vec<String>,
    /// The stages reused from the stage cache.
    reused: Vec<String>,
    digest: String,
}

/// A full run: every stage runs (`--no-cache`: none is reused from the stage cache).
fn compose(stream: &Path, out: &Path, cache: &Path) -> Result<Run, Failure> {
    compose_with(stream, out, cache, &["--no-cache"])
}

fn compose_with(stream: &Path, out: &Path, cache: &Path, extra: &[&str]) -> Result<Run, Failure> {
    let bin = env!("CARGO_BIN_EXE_compose");
    let time = Path::new("/usr/bin/time");
    let mut command = if time.is_file() {
        let mut c = Command::new(time);
        c.args(["-f", "peak-kib=%M", bin]);
        c
    } else {
        Command::new(bin)
    };
    command
        .args(["--json", "run"])
        .arg(stream)
        .arg("--out")
        .arg(out)
        .arg("--cache-dir")
        .arg(cache)
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SOURCE_DATE_EPOCH");
    let started = Instant::now();
    let output = command.output()?;
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("compose failed: {stderr}").into());
    }
    let peak_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-kib="))
        .and_then(|v| v.trim().parse().ok());
    let mut run = Run {
        wall,
        peak_kib,
        stages: Vec::new(),
        loads: Vec::new(),
        order: Vec::new(),
        reused: Vec::new(),
        digest: String::new(),
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let event: serde_json::Value = serde_json::from_str(line)?;
        let text = |k: &str| event[k].as_str().unwrap_or_default().to_string();
        let num = |k: &str| event[k].as_f64().unwrap_or_default();
        match event["event"].as_str() {
            Some("stage-finished") => {
                run.order.push(text("stage"));
                run.stages
                    .push((text("stage"), num("instantiate_millis"), num("run_millis")))
            }
            Some("stage-skipped") => run.order.push(text("stage")),
            Some("stage-reused") => {
                run.order.push(text("stage"));
                run.reused.push(text("stage"));
            }
            Some("state-saved") => run.digest = text("digest"),
            Some("plugin-loaded") => {
                run.loads
                    .push((text("stage"), event["cached"] == true, num("millis")))
            }
            Some("published") => run.digest = text("digest"),
            _ => {}
        }
    }
    Ok(run)
}

/// One run of `stream` one process per stage against a fresh state directory: the total wall
/// time, the digest the last process published, and the state's size on disk in bytes.
fn staged(
    stream: &Path,
    stages: &[String],
    dir: &Path,
    cache: Option<&Path>,
) -> Result<(Duration, String, u64), Failure> {
    let state = dir.join("state");
    let state_arg = state.to_string_lossy().into_owned();
    let mut total = Duration::ZERO;
    let mut digest = String::new();
    for stage in stages {
        // No cache given: every process starts with an empty one (a Tekton task's emptyDir).
        let fresh = dir.join(format!("cache-{stage}"));
        let run = compose_with(
            stream,
            &dir.join("out"),
            cache.unwrap_or(&fresh),
            &["--state", &state_arg, "--only", stage],
        )?;
        total += run.wall;
        digest = run.digest;
    }
    Ok((total, digest, dir_size(&state)))
}

/// Bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Interleaved rounds of one run and the same run one process per stage; prints a table row
/// with both medians and their ratio, and fails if the digests differ.
fn staged_overhead(
    label: &str,
    stream: &Path,
    scratch: &Path,
    cache: Option<&Path>,
) -> Result<(), Failure> {
    let fresh = |name: String| scratch.join(format!("{label}-{name}-cache"));
    let first = compose(
        stream,
        &scratch.join(format!("{label}-single")),
        &cache.map_or_else(|| fresh("first".into()), Path::to_path_buf),
    )?;
    let mut single = Vec::new();
    let mut split = Vec::new();
    let mut state_bytes = 0;
    for round in 0..STAGED_ROUNDS {
        let run = compose(
            stream,
            &scratch.join(format!("{label}-single-{round}")),
            &cache.map_or_else(|| fresh(format!("single-{round}")), Path::to_path_buf),
        )?;
        single.push(ms(run.wall));
        let dir = scratch.join(format!("{label}-staged-{round}"));
        let (wall, digest, bytes) = staged(stream, &first.order, &dir, cache)?;
        if digest != run.digest {
            return Err(format!(
                "{label}: staged digest {digest} != single-run digest {}",
                run.digest
            )
            .into());
        }
        split.push(ms(wall));
        state_bytes = bytes;
    }
    let (single, split) = (median(single), median(split));
    println!(
        "| {label} | {} | {single:.0} | {split:.0} | {:.2} | {:.1} |",
        first.order.len(),
        split / single,
        state_bytes as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// `stream`'s text with the `test` stage's config changed to variant `round` (an allowed tag
/// of the no-rhel-content check that matches nothing: the same checks, another config).
fn test_config_variant(text: &str, round: usize) -> String {
    const TABLE: &str = "[stage.config.checks.no-rhel-content]\n";
    let allow = format!("allow = [\"rerun-{round}\"]\n");
    if text.contains(TABLE) {
        text.replacen(TABLE, &format!("{TABLE}{allow}"), 1)
    } else {
        format!("{text}\n{TABLE}{allow}")
    }
}

/// Interleaved rounds of a full run (`--no-cache`) and a rerun after changing only the `test`
/// stage's config; prints a table row with both medians and their ratio, and fails unless the
/// rerun ran `test` alone and published the full run's digest.
fn rerun_figures(label: &str, text: &str, scratch: &Path, cache: &Path) -> Result<(), Failure> {
    let stream = scratch.join(format!("rerun-{label}.toml"));
    // Every stage recorded once, with the first variant.
    std::fs::write(&stream, test_config_variant(text, 0))?;
    compose(
        &stream,
        &scratch.join(format!("rerun-{label}-prime")),
        cache,
    )?;
    let mut full = Vec::new();
    let mut rerun = Vec::new();
    for round in 1..=STAGED_ROUNDS {
        std::fs::write(&stream, test_config_variant(text, round))?;
        let changed = compose_with(
            &stream,
            &scratch.join(format!("rerun-{label}-{round}")),
            cache,
            &[],
        )?;
        let ran: Vec<&str> = changed.stages.iter().map(|s| s.0.as_str()).collect();
        if ran != ["test"] {
            return Err(format!("{label}: the rerun ran {ran:?}, not only `test`").into());
        }
        let whole = compose(
            &stream,
            &scratch.join(format!("rerun-{label}-full-{round}")),
            cache,
        )?;
        if whole.digest != changed.digest {
            return Err(format!(
                "{label}: rerun digest {} != full run digest {}",
                changed.digest, whole.digest
            )
            .into());
        }
        rerun.push(ms(changed.wall));
        full.push(ms(whole.wall));
    }
    let (full, rerun) = (median(full), median(rerun));
    println!(
        "| {label} | {full:.0} | {rerun:.0} | {:.0}% |",
        rerun / full * 100.0
    );
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Warm runs of `stream`; returns the runs.
fn warm(stream: &Path, scratch: &Path, cache: &Path) -> Result<Vec<Run>, Failure> {
    compose(stream, &scratch.join("warmup"), cache)?;
    (0..WARM_RUNS)
        .map(|i| compose(stream, &scratch.join(format!("warm-{i}")), cache))
        .collect()
}

fn report(label: &str, runs: &[Run]) {
    let walls: Vec<f64> = runs.iter().map(|r| ms(r.wall)).collect();
    let peak = runs.iter().filter_map(|r| r.peak_kib).max();
    println!(
        "| {label} | {:.0} | {:.0} | {:.0} | {} |",
        median(walls.clone()),
        walls.iter().copied().fold(f64::INFINITY, f64::min),
        walls.iter().copied().fold(0.0, f64::max),
        peak.map_or("n/a".to_string(), |k| format!("{:.1}", k as f64 / 1024.0)),
    );
}

fn stages(label: &str, runs: &[Run]) {
    let Some(first) = runs.first() else { return };
    for (i, (stage, _, _)) in first.stages.iter().enumerate() {
        let inst = median(runs.iter().map(|r| r.stages[i].1).collect());
        let run = median(runs.iter().map(|r| r.stages[i].2).collect());
        println!("| {label} | {stage} | {inst:.3} | {run:.1} |");
    }
}

/// The rerun figures: a table of [`rerun_figures`] at 1x (`stream`) and 10x (`stream10`).
fn rerun_table(
    repo: &Path,
    stream: &Path,
    stream10: &Path,
    scratch: &Path,
    cache: &Path,
) -> Result<(), Failure> {
    println!(
        "\n## Rerun after changing only the `test` stage's config, against a full warm run (`--no-cache`), medians of {STAGED_ROUNDS} interleaved rounds\n"
    );
    println!("| payload | full run ms | rerun ms | rerun / full |");
    println!("|---|---|---|---|");
    rerun_figures(
        "sample",
        &absolute_paths(
            &std::fs::read_to_string(stream)?,
            repo,
            &repo.join("examples/mirror"),
        ),
        scratch,
        cache,
    )?;
    rerun_figures("10x", &std::fs::read_to_string(stream10)?, scratch, cache)?;
    Ok(())
}

/// scos.toml's text with its mirror at `mirror` and its overlay grant absolute: the copy can
/// sit anywhere.
fn absolute_paths(text: &str, repo: &Path, mirror: &Path) -> String {
    text.replace(
        "mirror = \"oci:../examples/mirror\"",
        &format!("mirror = \"oci:{}\"", mirror.display()),
    )
    .replace(
        "files = [\"overlays/scos\"]",
        &format!(
            "files = [\"{}\"]",
            repo.join("streams/overlays/scos").display()
        ),
    )
}

fn main() -> Result<(), Failure> {
    // `cargo bench` passes `--bench`; nothing to parse.
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir()?;
    let scratch = scratch.path();
    let stream = repo.join("streams/scos.toml");
    // `cargo bench --bench compose -- provenance`: only the provenance figures.
    if std::env::args().any(|a| a == "provenance") {
        return provenance::figures(&repo, scratch);
    }
    // `cargo bench --bench compose -- rerun`: only the rerun figures.
    let only_rerun = std::env::args().any(|a| a == "rerun");

    // Cold: an empty cache every time (compiles every plugin).
    let mut cold = Vec::new();
    for i in 0..if only_rerun { 0 } else { COLD_RUNS } {
        let cache = scratch.join(format!("cold-cache-{i}"));
        cold.push(compose(
            &stream,
            &scratch.join(format!("cold-{i}")),
            &cache,
        )?);
    }
    let cache = scratch.join("cache");
    let warm1 = if only_rerun {
        Vec::new()
    } else {
        warm(&stream, scratch, &cache)?
    };

    // 10x: a generated mirror and a copy of the stream pointing at it.
    let started = Instant::now();
    let summary = compose_samples::generate(&scratch.join("mirror-10x"), 10)?;
    let generated = started.elapsed();
    let text = absolute_paths(
        &std::fs::read_to_string(&stream)?,
        &repo,
        &scratch.join("mirror-10x"),
    );
    // The 10x copies (`<tag>-xN`) of the RHEL-labelled and OS images are synthetic filler the
    // stream does not replace: the test stage still runs those two checks on them, as
    // warnings.
    let text = format!(
        "{text}\n[stage.config.checks.no-rhel-content]\nseverity = \"warning\"\n\n\
         [stage.config.checks.os-image]\nseverity = \"warning\"\n"
    );
    let stream10 = scratch.join("scos-10x.toml");
    std::fs::write(&stream10, text)?;
    if only_rerun {
        return rerun_table(&repo, &stream, &stream10, scratch, &cache);
    }
    let warm10 = warm(&stream10, scratch, &cache)?;

    let digests: std::collections::BTreeSet<&str> =
        warm1.iter().map(|r| r.digest.as_str()).collect();
    println!("## `compose run streams/scos.toml` (the real binary, {WARM_RUNS} warm runs)\n");
    println!("| run | median ms | min ms | max ms | peak RSS MiB |");
    println!("|---|---|---|---|---|");
    report("cold (empty plugin cache)", &cold);
    report("warm, sample payload (188 images, 708 manifests)", &warm1);
    report(
        &format!(
            "warm, 10x payload ({} images, {} manifests)",
            summary.component_images, summary.manifests
        ),
        &warm10,
    );
    println!();
    println!(
        "10x / 1x wall ratio: {:.2} (10x mirror generated in {:.1} s); distinct digests over warm runs: {}",
        median(warm10.iter().map(|r| ms(r.wall)).collect())
            / median(warm1.iter().map(|r| ms(r.wall)).collect()),
        generated.as_secs_f64(),
        digests.len()
    );
    println!("\n## Plugin load (compile, or deserialize from the cache), medians\n");
    println!("| stage | cold compile ms | cached load ms |");
    println!("|---|---|---|");
    if let Some(first) = cold.first() {
        for (i, (stage, _, _)) in first.loads.iter().enumerate() {
            let compile = median(cold.iter().map(|r| r.loads[i].2).collect());
            let cached = median(warm1.iter().map(|r| r.loads[i].2).collect());
            println!("| {stage} | {compile:.1} | {cached:.2} |");
        }
    }
    println!("\n## Per stage, warm, medians\n");
    println!("| payload | stage | instantiate ms | run ms |");
    println!("|---|---|---|---|");
    stages("sample", &warm1);
    stages("10x", &warm10);

    println!(
        "\n## Stage at a time: one process per stage (`--state DIR --only STAGE`) against one run, medians of {STAGED_ROUNDS} interleaved rounds\n"
    );
    println!(
        "| payload | processes | one run ms | one process per stage ms (sum) | ratio | state MiB |"
    );
    println!("|---|---|---|---|---|---|");
    staged_overhead("sample", &stream, scratch, Some(&cache))?;
    staged_overhead("10x", &stream10, scratch, Some(&cache))?;
    staged_overhead("sample, empty plugin caches", &stream, scratch, None)?;

    rerun_table(&repo, &stream, &stream10, scratch, &cache)?;
    provenance::figures(&repo, scratch)?;
    Ok(())
}
