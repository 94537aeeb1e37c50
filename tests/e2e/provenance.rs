//! The SLSA provenance of every release (issue 17), checked by tools nobody here wrote:
//! Python's `securesystemslib` (its DSSE `Envelope.verify`, PAE and all) and the `sigstore`
//! crate verify the signed envelope; skopeo reads the cosign attestation (`sha256-<hex>.att`)
//! from the output and from the registry it was pushed to. `compose verify --provenance`
//! refuses a tampered statement, another key, another release's attestation and inputs that
//! differ from the lock.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::signing::keys;
use crate::support::*;

const RELEASE: &str = "4.17.0-okd-scos.0";
const PASSPHRASE: (&str, &str) = ("TEST_PASSPHRASE", "correct horse");

/// A signing stream granting the `sign` stage an OpenPGP key and a cosign-format key (which
/// also signs the provenance); `release` names the release.
fn signing_stream(s: &Scratch, file: &str, release: &str, to: &str) -> PathBuf {
    let k = keys();
    let text = format!(
        r#"[stream]
name = "okd-scos"
release = "{release}"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"
to = "{to}"
signature-store = "file:///var/lib/okd-scos/signatures"

[registries."quay.io"]
mirror = "oci:{mirror}"

[keys.release]
private-key = "{openpgp}"
passphrase = "env:TEST_PASSPHRASE"

[keys.cosign]
private-key = "{cosign}"
passphrase = "env:TEST_PASSPHRASE"

[[stage]]
name = "select"
plugin = "select-images"
grants = {{ registry = ["quay.io/openshift/*"] }}
limits = {{ memory = "128MiB", timeout = "30s" }}

[[stage]]
name = "sign"
plugin = "sign"
grants = {{ keys = ["release", "cosign"] }}
config = {{ key = "release", cosign-key = "cosign" }}
"#,
        mirror = repo().join("examples/mirror").display(),
        openpgp = k.str("release.priv.asc"),
        cosign = k.str("release.cosign.key"),
    );
    s.write(file, &text)
}

/// Runs `stream` into `out` with `SOURCE_DATE_EPOCH`; returns the release digest and the run.
fn run(s: &Scratch, stream: &Path, out: &Path, extra: &[&str]) -> (String, Output) {
    let mut args = vec![
        "run",
        stream.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = compose_env(s, &args, &[PASSPHRASE, ("SOURCE_DATE_EPOCH", "1700000000")]);
    ok(&o);
    let digest = stdout(&o).split_whitespace().next().unwrap().to_string();
    (digest, o)
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

fn att_tag(digest: &str) -> String {
    format!("sha256-{}.att", hex(digest))
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

fn blob(out: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(out.join("blobs/sha256").join(hex(digest))).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", ::hex::encode(sha2::Sha256::digest(bytes)))
}

/// The attestation manifest of `digest` in the output, as skopeo reads it.
fn attestation_manifest(out: &Path, digest: &str) -> serde_json::Value {
    let o = tool("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{}", out.display(), att_tag(digest)))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo: {}", stderr(&o));
    json(&o.stdout)
}

/// Replaces the DSSE envelope of the `.att` attestation of `digest` in `out` by `envelope`,
/// as someone with write access to the output could: new layer blob, new manifest, index.
fn replace_envelope(out: &Path, digest: &str, envelope: &[u8]) {
    let write = |bytes: &[u8]| {
        let d = sha256(bytes);
        std::fs::write(out.join("blobs/sha256").join(hex(&d)), bytes).unwrap();
        d
    };
    let mut manifest = attestation_manifest(out, digest);
    manifest["layers"][0]["digest"] = write(envelope).into();
    manifest["layers"][0]["size"] = envelope.len().into();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = write(&manifest);
    let mut index = json(&std::fs::read(out.join("index.json")).unwrap());
    for entry in index["manifests"].as_array_mut().unwrap() {
        if entry["annotations"]["org.opencontainers.image.ref.name"] == att_tag(digest).as_str() {
            entry["digest"] = manifest_digest.clone().into();
            entry["size"] = manifest.len().into();
        }
    }
    std::fs::write(out.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// `compose verify OUT --key … --provenance [--lock LOCK]`.
fn verify(s: &Scratch, out: &Path, keys: &[String], lock: Option<&Path>) -> Output {
    let mut args = vec![
        "verify".to_string(),
        out.display().to_string(),
        "--provenance".into(),
    ];
    for k in keys {
        args.extend(["--key".to_string(), k.clone()]);
    }
    if let Some(lock) = lock {
        args.extend(["--lock".to_string(), lock.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    compose_env(s, &args, &[])
}

/// securesystemslib's DSSE verification: the envelope file, a PEM ECDSA public key.
const SSLIB_VERIFY: &str = r#"
import json, sys
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
envelope = Envelope.from_dict(json.load(open(sys.argv[1])))
pem = open(sys.argv[2]).read()
# cosign signs with an empty key id; securesystemslib matches signatures to keys by id.
key = SSlibKey("", "ecdsa", "ecdsa-sha2-nistp256", {"public": pem})
envelope.verify([key], 1)
assert envelope.payload_type == "application/vnd.in-toto+json", envelope.payload_type
statement = json.loads(envelope.payload)
print(statement["subject"][0]["digest"]["sha256"])
"#;

fn sslib_verify(s: &Scratch, envelope: &Path, public: &str) -> Output {
    let script = s.write("sslib_verify.py", SSLIB_VERIFY);
    tool("python3")
        .arg(script)
        .arg(envelope)
        .arg(public)
        .output()
        .unwrap()
}

/// The statement without `runDetails.metadata` (the times).
fn timeless(mut statement: serde_json::Value) -> serde_json::Value {
    let metadata = statement["predicate"]["runDetails"]
        .as_object_mut()
        .unwrap()
        .remove("metadata")
        .unwrap();
    for time in ["startedOn", "finishedOn"] {
        let t = metadata[time].as_str().unwrap();
        assert!(
            t.len() == 20 && t.ends_with('Z') && t.starts_with("20"),
            "{t}"
        );
    }
    statement
}

#[test]
fn signed_provenance_is_verified_by_securesystemslib_sigstore_and_compose() {
    let s = Scratch::new();
    let k = keys();
    let stream = signing_stream(&s, "signed.toml", RELEASE, "quay.io/okd/scos-release:4.17");
    ok(&compose_env(&s, &["lock", stream.to_str().unwrap()], &[]));
    let lock = stream.with_extension("lock");
    let out = s.path().join("out");
    let (digest, o) = run(&s, &stream, &out, &[]);
    assert!(
        stderr(&o).contains(&format!(
            "provenance signed by key `cosign` at tag {}",
            att_tag(&digest)
        )),
        "{}",
        stderr(&o)
    );

    // The statement: in-toto v1, SLSA provenance v1, about this release, from these inputs.
    let statement = json(&std::fs::read(out.join("provenance.json")).unwrap());
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], hex(&digest));
    let definition = &statement["predicate"]["buildDefinition"];
    assert_eq!(
        definition["externalParameters"]["stream"]["digest"],
        sha256(&std::fs::read(&stream).unwrap()).as_str()
    );
    assert_eq!(
        definition["internalParameters"]["SOURCE_DATE_EPOCH"],
        1_700_000_000
    );
    let stages = definition["internalParameters"]["stages"]
        .as_array()
        .unwrap();
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0]["limits"]["memory"], 128 * 1024 * 1024);
    assert_eq!(
        stages[1]["grants"]["keys"],
        serde_json::json!(["release", "cosign"])
    );
    let locked: toml_like::Lock = toml_like::read(&lock);
    let deps = definition["resolvedDependencies"].as_array().unwrap();
    let dep = |name: &str| {
        deps.iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("no dependency {name}: {deps:#?}"))
    };
    assert_eq!(dep("base")["digest"]["sha256"], hex(&locked.base));
    for (stage, wasm) in &locked.plugins {
        assert_eq!(
            dep(&format!("stage/{stage}/component"))["digest"]["sha256"],
            hex(wasm)
        );
    }
    let builder = &statement["predicate"]["runDetails"]["builder"];
    assert_eq!(builder["version"]["compose"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        builder["builderDependencies"][0]["digest"]["sha256"],
        hex(&sha256(
            &std::fs::read(env!("CARGO_BIN_EXE_compose")).unwrap()
        ))
    );

    // Deterministic apart from the times: a second run differs only in runDetails.metadata.
    let again = s.path().join("again");
    let (digest2, _) = run(&s, &stream, &again, &[]);
    assert_eq!(digest2, digest);
    let statement2 = json(&std::fs::read(again.join("provenance.json")).unwrap());
    assert_eq!(timeless(statement.clone()), timeless(statement2));

    // The cosign attestation, as skopeo reads it: one DSSE layer, the predicate type
    // annotation, the envelope of the file beside it.
    let manifest = attestation_manifest(&out, &digest);
    let layer = &manifest["layers"][0];
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
    assert_eq!(
        layer["annotations"]["predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    let envelope_bytes = blob(&out, layer["digest"].as_str().unwrap());
    assert_eq!(
        envelope_bytes,
        std::fs::read(out.join("provenance.dsse.json")).unwrap()
    );
    let envelope = json(&envelope_bytes);
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");

    // securesystemslib verifies the DSSE envelope (computing the PAE itself) with the
    // stream's cosign public key, and refuses another key and a changed statement.
    let envelope_file = out.join("provenance.dsse.json");
    let o = sslib_verify(&s, &envelope_file, &k.str("release.cosign.pub"));
    assert!(o.status.success(), "securesystemslib: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), hex(&digest));
    let o = sslib_verify(&s, &envelope_file, &k.str("other.cosign.pub"));
    assert!(!o.status.success(), "securesystemslib accepted another key");
    // The payload is the statement file, byte for byte.
    let payload = std::fs::read(out.join("provenance.json")).unwrap();
    assert_eq!(envelope["payload"], base64(&payload).as_str());
    let tampered_payload = String::from_utf8(payload.clone())
        .unwrap()
        .replace(hex(&locked.base), &"0".repeat(64));
    assert_ne!(tampered_payload.as_bytes(), payload.as_slice());
    let mut tampered = envelope.clone();
    tampered["payload"] = base64(tampered_payload.as_bytes()).into();
    let tampered_file = s.write(
        "tampered.dsse.json",
        &serde_json::to_string(&tampered).unwrap(),
    );
    let o = sslib_verify(&s, &tampered_file, &k.str("release.cosign.pub"));
    assert!(
        !o.status.success(),
        "securesystemslib accepted a tampered statement"
    );

    // The sigstore crate agrees on the signature over the DSSE pre-authentication encoding.
    let sigstore_verify = |public: &str, payload: &[u8]| {
        use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
        let pem = std::fs::read(public).unwrap();
        let key =
            CosignVerificationKey::from_pem(&pem, &SigningScheme::ECDSA_P256_SHA256_ASN1).unwrap();
        let payload_type = "application/vnd.in-toto+json";
        let mut pae = format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .into_bytes();
        pae.extend_from_slice(payload);
        let sig = envelope["signatures"][0]["sig"].as_str().unwrap();
        key.verify_signature(Signature::Base64Encoded(sig.as_bytes()), &pae)
    };
    sigstore_verify(&k.str("release.cosign.pub"), &payload).expect("sigstore-rs verifies");
    assert!(sigstore_verify(&k.str("other.cosign.pub"), &payload).is_err());
    assert!(sigstore_verify(&k.str("release.cosign.pub"), tampered_payload.as_bytes()).is_err());

    // compose verify: the signature, the subject and every input against the lock.
    let good = [k.str("release.pub.asc"), k.str("release.cosign.pub")];
    let o = verify(&s, &out, &good, Some(&lock));
    ok(&o);
    assert!(
        stdout(&o).contains(&format!("ok   provenance `{}`", att_tag(&digest))),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("its inputs match"), "{}", stdout(&o));

    // Another key: refused.
    let err = fails(&verify(
        &s,
        &out,
        &[k.str("release.pub.asc"), k.str("other.cosign.pub")],
        None,
    ));
    assert!(err.contains("the provenance signature"), "{err}");

    // A lock the inputs do not match: refused, naming the input.
    let text = std::fs::read_to_string(&lock).unwrap();
    let drifted = s.write(
        "drifted.lock",
        &text.replace(hex(&locked.base), &"1".repeat(64)),
    );
    let err = fails(&verify(&s, &out, &good, Some(&drifted)));
    assert!(
        err.contains("differ from the lock") && err.contains("base release"),
        "{err}"
    );

    // A tampered statement (signature kept): refused.
    let tampered_out = s.path().join("tampered");
    copy_dir(&out, &tampered_out);
    replace_envelope(
        &tampered_out,
        &digest,
        &serde_json::to_vec(&tampered).unwrap(),
    );
    let err = fails(&verify(&s, &tampered_out, &good, None));
    assert!(err.contains("the provenance signature"), "{err}");

    // Another release's attestation (validly signed): refused, it is about another digest.
    let other_stream = signing_stream(
        &s,
        "other.toml",
        "4.17.0-okd-scos.1",
        "quay.io/okd/scos-release:4.17",
    );
    let other_out = s.path().join("other");
    let (other_digest, _) = run(&s, &other_stream, &other_out, &[]);
    assert_ne!(other_digest, digest);
    let swapped = s.path().join("swapped");
    copy_dir(&out, &swapped);
    replace_envelope(
        &swapped,
        &digest,
        &std::fs::read(other_out.join("provenance.dsse.json")).unwrap(),
    );
    let err = fails(&verify(&s, &swapped, &good, None));
    assert!(err.contains(&format!("not the release {digest}")), "{err}");
}

#[test]
fn unsigned_runs_write_the_statement_and_say_so() {
    let s = Scratch::new();
    let out = s.path().join("okd-scos");
    let o = compose_env(
        &s,
        &["run", "streams/scos.toml", "--out", out.to_str().unwrap()],
        &[],
    );
    ok(&o);
    let digest = stdout(&o).split_whitespace().next().unwrap().to_string();
    assert!(
        stderr(&o).contains("/provenance.json, not signed: "),
        "{}",
        stderr(&o)
    );
    let statement = json(&std::fs::read(out.join("provenance.json")).unwrap());
    assert_eq!(statement["subject"][0]["digest"]["sha256"], hex(&digest));
    assert!(!out.join("provenance.dsse.json").exists());
    let index = std::fs::read_to_string(out.join("index.json")).unwrap();
    assert!(!index.contains(".att"), "{index}");
    let err = fails(&verify(&s, &out, &[keys().str("release.cosign.pub")], None));
    assert!(err.contains("no signed SLSA provenance"), "{err}");
}

#[test]
fn the_attestation_is_pushed_next_to_the_release() {
    let registry = crate::registry::Registry::start();
    let s = Scratch::new();
    let to = format!("{}/okd/scos-release:{RELEASE}", registry.addr);
    let stream = signing_stream(&s, "signed.toml", RELEASE, &to);
    let out = s.path().join("out");
    let (digest, _) = run(&s, &stream, &out, &["--push"]);
    let remote = format!("{}/okd/scos-release:{}", registry.addr, att_tag(&digest));
    let o = tool("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{remote}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo: {}", stderr(&o));
    let local = attestation_manifest(&out, &digest);
    assert_eq!(json(&o.stdout), local);
}

/// Standard, padded base64 (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The few fields of a lock file the tests compare against.
mod toml_like {
    use std::path::Path;

    pub struct Lock {
        pub base: String,
        pub plugins: Vec<(String, String)>,
    }

    /// Reads `digest = "…"` (base) and every `[[plugin]]`'s `stage` and `wasm`.
    pub fn read(path: &Path) -> Lock {
        let text = std::fs::read_to_string(path).unwrap();
        let value = |line: &str| line.split('"').nth(1).unwrap().to_string();
        let mut base = String::new();
        let mut plugins = Vec::new();
        let mut stage = String::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with("digest = ") && base.is_empty() {
                base = value(line);
            } else if line.starts_with("stage = ") {
                stage = value(line);
            } else if line.starts_with("wasm = ") {
                plugins.push((stage.clone(), value(line)));
            }
        }
        Lock { base, plugins }
    }
}
