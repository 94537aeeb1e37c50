//! Provenance cost per run (issue 17): `cargo bench --bench compose -- provenance`.
//!
//! Runs `streams/scos.toml` warm, unsigned (no key: the statement only) and signed (a copy of
//! the stream granting its `sign` stage an OpenPGP and a cosign-format key: the DSSE envelope
//! and the `.att` attestation too), and reads what the run itself measured: the `done` event's
//! `provenance.millis` (building the statement, reading the stream file, signing, writing the
//! files and the attestation, and any wait for the binary's digest). The binary's digest is
//! computed once per process, in the background from the start of the run: its time is shown
//! apart.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::Failure;

/// Warm runs per variant.
const RUNS: usize = 15;

/// One warm run: (wall ms, provenance ms, signed).
fn run(
    stream: &Path,
    out: &Path,
    cache: &Path,
    env: &[(&str, &Path)],
) -> Result<(f64, f64, bool), Failure> {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(["--json", "run"])
        .arg(stream)
        .arg("--out")
        .arg(out)
        .arg("--cache-dir")
        .arg(cache)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("COMPOSE_RELEASE_KEY")
        .env_remove("COMPOSE_RELEASE_KEY_PASSPHRASE")
        .envs(env.iter().copied())
        .output()?;
    let wall = started.elapsed().as_secs_f64() * 1000.0;
    if !output.status.success() {
        return Err(format!(
            "compose failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let event: serde_json::Value = serde_json::from_str(line)?;
        if event["event"] == "done" {
            let provenance = &event["result"]["provenance"];
            let millis = provenance["millis"]
                .as_f64()
                .ok_or("the `done` event has no provenance.millis")?;
            return Ok((wall, millis, provenance["tag"].is_string()));
        }
    }
    Err("no `done` event".into())
}

/// Prints the provenance section of BENCHMARKS.md.
pub fn figures(repo: &Path, scratch: &Path) -> Result<(), Failure> {
    let stream = repo.join("streams/scos.toml");
    let keys = scratch.join("provenance-keys");
    let generated = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(["keys", "generate", "bench", "--cosign", "--out"])
        .arg(&keys)
        .output()?;
    if !generated.status.success() {
        return Err(format!(
            "compose keys generate: {}",
            String::from_utf8_lossy(&generated.stderr)
        )
        .into());
    }
    let signed_stream = scratch.join("scos-signed.toml");
    let text = std::fs::read_to_string(&stream)?
        .replace(
            "mirror = \"oci:../examples/mirror\"",
            &format!(
                "mirror = \"oci:{}\"",
                repo.join("examples/mirror").display()
            ),
        )
        .replace(
            "files = [\"overlays/scos\"]",
            &format!(
                "files = [\"{}\"]",
                repo.join("streams/overlays/scos").display()
            ),
        )
        .replace(
            "grants = { keys = [\"release\"] }",
            "grants = { keys = [\"release\", \"cosign\"] }",
        )
        .replace(
            "key = \"release\"\n",
            "key = \"release\"\ncosign-key = \"cosign\"\n",
        );
    let text = format!(
        "{text}\n[keys.cosign]\nprivate-key = \"{}\"\n",
        keys.join("bench.cosign.key").display()
    );
    std::fs::write(&signed_stream, text)?;
    let openpgp = keys.join("bench.priv.asc");
    let cache = scratch.join("provenance-cache");
    let out = scratch.join("provenance-out");
    let mut rows = Vec::new();
    for (label, stream, env) in [
        ("unsigned (statement only)", &stream, vec![]),
        (
            "signed (DSSE envelope, `.att` attestation)",
            &signed_stream,
            vec![("COMPOSE_RELEASE_KEY", openpgp.as_path())],
        ),
    ] {
        // Warms the plugin cache (and, the first time, computes the binary's digest).
        let first = run(stream, &out, &cache, &env)?;
        if rows.is_empty() {
            println!(
                "\nFirst run with an empty cache (plugins compiled, the binary hashed): provenance {:.1} ms of a {:.0} ms run.",
                first.1, first.0
            );
        }
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            runs.push(run(stream, &out, &cache, &env)?);
        }
        let expected = env.len() == 1;
        if runs.iter().any(|r| r.2 != expected) {
            return Err(format!("{label}: the provenance was not {label}").into());
        }
        let mut provenance: Vec<f64> = runs.iter().map(|r| r.1).collect();
        provenance.sort_by(f64::total_cmp);
        let wall = crate::median(runs.iter().map(|r| r.0).collect());
        rows.push((label, provenance, wall));
    }
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_compose"))?;
    let started = Instant::now();
    let digest = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&bytes)
    };
    let hashed = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "\n## Provenance, per warm run of `streams/scos.toml` (sample payload), {RUNS} runs\n"
    );
    println!("| provenance | median ms | max ms | run wall median ms |");
    println!("|---|---|---|---|");
    for (label, provenance, wall) in &rows {
        println!(
            "| {label} | {:.2} | {:.2} | {wall:.0} |",
            provenance[provenance.len() / 2],
            provenance.last().copied().unwrap_or_default()
        );
    }
    println!(
        "\nHashing the binary (SHA-256 of {:.0} MiB; {}…) takes {hashed:.0} ms: done once per build of the binary, in the background from the start of the first run, then read from `<cache>/builder/`.",
        bytes.len() as f64 / (1024.0 * 1024.0),
        &hex::encode(digest)[..12]
    );
    Ok(())
}
