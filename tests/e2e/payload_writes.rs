//! What a stage writes into the payload: every manifest is read as the cluster-version
//! operator reads it (and refused otherwise), what a stage writes is bounded by its
//! `limits.output` as it writes, and attachments are published (SBOMs) or refused (unknown
//! kinds), never dropped. The stages are `tests/guests/guest-writer`, driven by their config.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::registry::Registry;
use crate::sandbox::guest;
use crate::support::*;

const RELEASE: &str = "4.17.0-okd-scos.0";

/// `text` as a TOML basic string (JSON string escapes are TOML's).
fn toml_str(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// A stream over the sample mirror whose one stage runs `guest-writer` with the TOML inline
/// table `config`.
fn stream(config: &str, stage_extra: &str) -> String {
    format!(
        r#"[stream]
name = "writes"
release = "{RELEASE}"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "writer"
plugin = "{}"
config = {config}
{stage_extra}
"#,
        repo().join("examples/mirror").display(),
        guest("guest-writer"),
    )
}

/// The config writing one manifest.
fn write_one(path: &str, content: &str) -> String {
    format!(
        "{{ write = [{{ path = {}, content = {} }}] }}",
        toml_str(path),
        toml_str(content)
    )
}

/// Runs the stream `text` into `<scratch>/out`.
fn run(s: &Scratch, text: &str, extra: &[&str]) -> (std::process::Output, PathBuf) {
    let file = s.write("writes.toml", text);
    let out = s.path().join("out");
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (s.compose(&args), out)
}

/// Runs the stream `text`, expects it to fail naming the stage, with nothing published.
fn run_fails(s: &Scratch, text: &str) -> String {
    let (o, out) = run(s, text, &[]);
    let err = fails(&o);
    assert!(
        err.contains("stage `writer`"),
        "the error names no stage: {err}"
    );
    assert!(!out.exists(), "a failed run published {}", out.display());
    err
}

#[test]
fn manifests_the_cvo_would_refuse_are_refused_naming_the_file_and_the_problem() {
    let s = Scratch::new();
    // Invalid YAML: the file, the document and the line.
    let err = run_fails(
        &s,
        &stream(
            &write_one(
                "0000_90_bad.yaml",
                "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: [unclosed\n",
            ),
            "",
        ),
    );
    assert!(
        err.contains("manifest `0000_90_bad.yaml`, document 2"),
        "{err}"
    );
    assert!(err.contains("cluster-version operator"), "{err}");
    // Binary bytes.
    let err = run_fails(
        &s,
        &stream(
            &write_one("0000_90_binary.yaml", "\u{0}\u{1}\u{2}ELF\u{3}"),
            "",
        ),
    );
    assert!(err.contains("manifest `0000_90_binary.yaml`"), "{err}");
    assert!(err.contains("control characters"), "{err}");
    // YAML that is not an object the CVO can apply.
    let err = run_fails(
        &s,
        &stream(&write_one("0000_90_text.yaml", "just some text\n"), ""),
    );
    assert!(
        err.contains("must be a mapping with `apiVersion` and `kind`"),
        "{err}"
    );
    let err = run_fails(
        &s,
        &stream(
            &write_one("0000_90_nokind.yml", "apiVersion: v1\nmetadata: {}\n"),
            "",
        ),
    );
    assert!(err.contains("manifest `0000_90_nokind.yml`"), "{err}");
    assert!(err.contains("no `kind`"), "{err}");
    // `.json` files too.
    let err = run_fails(
        &s,
        &stream(
            &write_one(
                "0000_90_bad.json",
                r#"{"apiVersion": "v1", "kind": "ConfigMap""#,
            ),
            "",
        ),
    );
    assert!(err.contains("manifest `0000_90_bad.json`"), "{err}");
    assert!(err.contains("invalid JSON"), "{err}");
}

#[test]
fn a_refused_manifest_is_not_published_even_when_the_stage_ignores_the_error() {
    let s = Scratch::new();
    let config = format!(
        "{{ ignore-errors = true, write = [{{ path = \"0000_90_bad.yaml\", content = {} }}, {{ path = \"0000_90_good.yaml\", content = {} }}] }}",
        toml_str("key: [unclosed\n"),
        toml_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n"),
    );
    let (o, out) = run(&s, &stream(&config, ""), &["-v"]);
    ok(&o);
    let log = stderr(&o);
    assert!(
        log.contains("ignored: manifest `0000_90_bad.yaml`"),
        "{log}"
    );
    let dest = s.path().join("layer");
    extract_top_layer(&out, RELEASE, &dest);
    let manifests = dest.join("release-manifests");
    assert!(manifests.join("0000_90_good.yaml").is_file());
    assert!(!manifests.join("0000_90_bad.yaml").exists());
}

#[test]
fn manifests_the_cvo_reads_are_published_byte_for_byte() {
    let s = Scratch::new();
    // A byte order mark (as console-operator's quick starts have), CRLF line ends, empty and
    // comment-only documents, and a JSON manifest.
    let quickstart = "\u{feff}---\r\napiVersion: console.openshift.io/v1\r\nkind: ConsoleQuickStart\r\nmetadata:\r\n  name: q\r\n---\r\n# nothing here\r\n";
    let json = "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"j\"}}";
    let config = format!(
        "{{ write = [{{ path = \"0000_90_quickstart.yaml\", content = {} }}, {{ path = \"0000_90_ns.json\", content = {} }}] }}",
        toml_str(quickstart),
        toml_str(json),
    );
    let (o, out) = run(&s, &stream(&config, ""), &[]);
    ok(&o);
    let dest = s.path().join("layer");
    extract_top_layer(&out, RELEASE, &dest);
    let manifests = dest.join("release-manifests");
    assert_eq!(
        std::fs::read(manifests.join("0000_90_quickstart.yaml")).unwrap(),
        quickstart.as_bytes()
    );
    assert_eq!(
        std::fs::read(manifests.join("0000_90_ns.json")).unwrap(),
        json.as_bytes()
    );
}

/// Runs `compose ARGS` like [`Scratch::compose`], sampling the process's peak resident memory
/// (`VmHWM`) while it runs. Returns the output, the peak in bytes and the wall time.
fn compose_measured(s: &Scratch, args: &[&str]) -> (std::process::Output, u64, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(args)
        .current_dir(repo())
        .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
        .env("CI", "true")
        .env("HOME", s.path())
        .env_remove("RUST_LOG")
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = Path::new("/proc")
        .join(child.id().to_string())
        .join("status");
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib * 1024);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output, peak, started.elapsed())
}

#[test]
fn a_stage_writing_without_end_is_stopped_at_its_output_limit() {
    let s = Scratch::new();
    // 1 MiB manifests under new names, forever, every error ignored.
    let flood = "{ flood = 1048576 }";
    for (extra, limit) in [("limits = { output = \"8MiB\" }", "8 MiB"), ("", "64 MiB")] {
        let file = s.write("flood.toml", &stream(flood, extra));
        let out = s.path().join("out");
        let (o, peak, took) = compose_measured(
            &s,
            &[
                "run",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let err = fails(&o);
        assert!(err.contains("stage `writer`"), "{err}");
        assert!(
            err.contains(&format!("wrote more than its output limit of {limit}")),
            "{err}"
        );
        assert!(err.contains("limits.output"), "{err}");
        assert!(!out.exists(), "a stopped run published");
        // Stopped as it wrote (the message says the output limit, not the time limit), with
        // bounded memory; the time taken is printed, not asserted (it depends on the load).
        assert!(peak > 0, "no memory figure read");
        assert!(peak < 768 << 20, "the host peaked at {} MiB", peak >> 20);
        eprintln!(
            "flood with output limit {limit}: stopped after {:.1} s, host peak RSS {} MiB",
            took.as_secs_f64(),
            peak >> 20
        );
    }
}

#[test]
fn an_output_limit_that_is_not_a_size_is_refused_with_its_line() {
    let s = Scratch::new();
    let file = s.write(
        "writes.toml",
        &stream("{}", "limits = { output = \"lots\" }"),
    );
    let o = s.compose(&["validate", file.to_str().unwrap()]);
    let err = fails(&o);
    assert!(err.contains("output limit"), "{err}");
    assert!(err.contains("writes.toml:"), "no file:line: {err}");
}

/// A signature a stage attaches that does not verify against the stream's keys (not made by
/// the host for this payload) is never published: the run fails, nothing is written.
#[test]
fn a_signature_that_does_not_verify_is_not_published() {
    let s = Scratch::new();
    let k = crate::signing::keys();
    for (kind, media_type) in [
        ("signature-gpg", "application/pgp-signature"),
        (
            "signature-cosign",
            "application/vnd.dev.cosign.simplesigning.v1+json",
        ),
    ] {
        let text = format!(
            "{}\n[keys.release]\nprivate-key = \"{}\"\npassphrase = \"env:TEST_PASSPHRASE\"\n",
            stream(
                &format!(
                    "{{ attach = [{{ kind = \"{kind}\", media-type = \"{media_type}\", data = \"forged\" }}] }}"
                ),
                ""
            ),
            k.str("release.priv.asc")
        );
        let file = s.write("forged.toml", &text);
        let out = s.path().join("out");
        let o = compose_run(
            &s,
            (&file, &out),
            false,
            &[],
            &[("TEST_PASSPHRASE", "correct horse")],
        );
        let err = fails(&o);
        assert!(
            err.contains(
                "refusing to publish signatures that do not verify against the stream's keys"
            ),
            "{kind}: {err}"
        );
        assert!(err.contains(&format!("{kind} #1 does not verify")), "{err}");
        assert!(err.contains("nothing was written"), "{err}");
        assert!(!out.exists(), "{kind}: something was published");
    }
}

#[test]
fn an_attachment_of_an_unknown_kind_stops_the_stage() {
    let s = Scratch::new();
    let err = run_fails(
        &s,
        &stream(
            "{ attach = [{ kind = \"report\", media-type = \"text/plain\", data = \"hi\" }] }",
            "",
        ),
    );
    assert!(err.contains("attachment kind `report`"), "{err}");
    assert!(
        err.contains("`signature-gpg`, `signature-cosign`, `sbom`"),
        "the known kinds are not listed: {err}"
    );
    // An SBOM whose JSON media type does not hold JSON.
    let err = run_fails(
        &s,
        &stream(
            "{ attach = [{ kind = \"sbom\", media-type = \"application/spdx+json\", data = \"not json\" }] }",
            "",
        ),
    );
    assert!(err.contains("is not JSON"), "{err}");
}

/// The SBOM artifact of the layout `out`: the release digest, the artifact tag, its manifest.
fn sbom_artifact(out: &Path) -> (String, String, serde_json::Value, Vec<u8>) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    let name = |e: &serde_json::Value| {
        e["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let release = entries.iter().find(|e| name(e) == RELEASE).unwrap();
    let digest = release["digest"].as_str().unwrap().to_string();
    let tag = format!("{}.sbom", digest.replacen(':', "-", 1));
    let entry = entries
        .iter()
        .find(|e| name(e) == tag)
        .unwrap_or_else(|| panic!("no `{tag}` in {index}"));
    let blob = |d: &str| {
        std::fs::read(
            out.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let bytes = blob(entry["digest"].as_str().unwrap());
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest["subject"]["digest"], digest.as_str());
    assert_eq!(manifest["subject"]["size"], release["size"]);
    assert_eq!(manifest["artifactType"], "application/spdx+json");
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/spdx+json");
    assert_eq!(blob(layer["digest"].as_str().unwrap()), SPDX.as_bytes());
    (digest, tag, manifest, bytes)
}

const SPDX: &str = r#"{"spdxVersion": "SPDX-2.3", "name": "okd-scos"}"#;

#[test]
fn an_sbom_is_published_as_an_artifact_referring_to_the_release_and_pushed() {
    let s = Scratch::new();
    let config = format!(
        "{{ attach = [{{ kind = \"sbom\", media-type = \"application/spdx+json\", data = {} }}] }}",
        toml_str(SPDX)
    );
    let registry = Registry::start();
    let target = format!("{}/okd/writes:{RELEASE}", registry.addr);
    let (o, out) = run(&s, &stream(&config, ""), &["--push", "--to", &target]);
    ok(&o);
    let (_digest, tag, _manifest, bytes) = sbom_artifact(&out);
    // The release is still the one image of the layout for the commands that read it.
    let o = s.compose(&["verify", out.to_str().unwrap()]);
    let verify = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!verify.contains("holds 2"), "{verify}");
    // Pushed beside the release, the same bytes.
    let remote = tool("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/okd/writes:{tag}", registry.addr))
        .output()
        .unwrap();
    assert!(remote.status.success(), "{}", stderr(&remote));
    assert_eq!(remote.stdout, bytes);
}
