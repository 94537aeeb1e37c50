//! Signed plugins and trust policies, against the tests' own registry (CNCF distribution on
//! loopback): `compose plugin push --sign` and `compose plugin sign` attach cosign-format
//! signatures that tools nobody here wrote read back (skopeo fetches the `.sig` manifest and
//! its payload, the `sigstore` crate checks the signature, OpenSSL computes the key
//! fingerprint the lock records); under `[trust]`, `run`, `plan`, `lock` and `export tekton`
//! refuse an unsigned plugin, one signed by another key and a tampered artifact before any
//! stage runs (or the component is even downloaded).

use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::Digest as _;

use crate::registry::Registry;
use crate::registry::plugin_wasm;
use crate::signing::keys;
use crate::support::*;

const PASSPHRASE: (&str, &str) = ("TEST_PASSPHRASE", "correct horse");

fn compose(s: &Scratch, args: &[&str]) -> Output {
    compose_env(s, args, &[PASSPHRASE])
}

/// `compose plugin push FILE REF [extra]`: the pinned reference and the artifact digest.
fn push(s: &Scratch, wasm: &Path, reference: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["plugin", "push", wasm.to_str().unwrap(), reference];
    args.extend_from_slice(extra);
    let o = compose(s, &args);
    ok(&o);
    let out = stdout(&o);
    let (digest, pinned) = out.lines().next().unwrap().split_once(' ').unwrap();
    (pinned.to_string(), digest.to_string())
}

/// A stream in `s` with the cosign public keys `release` and `other` under `keys/`: a builtin
/// stage, then `plugin`; `trust` is the text of the policy (`[trust]` table and/or nothing),
/// `stage_trust` a `trust = […]` line for the `oci://` stage.
fn stream(s: &Scratch, name: &str, plugin: &str, trust: &str, stage_trust: &str) -> PathBuf {
    let k = keys();
    for key in ["release", "other"] {
        let to = s.path().join(format!("keys/{key}.cosign.pub"));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(k.str(&format!("{key}.cosign.pub")), &to).unwrap();
    }
    s.write(
        name,
        &format!(
            r#"[stream]
name = "trusted"
release = "4.17.0-okd-scos.0"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"

[registries."quay.io"]
mirror = "oci:{mirror}"
{trust}
[[stage]]
name = "builtin"
plugin = "select-images"
grants = {{ registry = ["quay.io/openshift/*"] }}

[[stage]]
name = "select"
plugin = "{plugin}"
grants = {{ registry = ["quay.io/openshift/*"] }}
{stage_trust}
"#,
            mirror = repo().join("examples/mirror").display(),
        ),
    )
}

const TRUST_RELEASE: &str = "\n[trust]\nplugins = [\"keys/release.cosign.pub\"]\n";
const TRUST_OTHER: &str = "\n[trust]\nplugins = [\"keys/other.cosign.pub\"]\n";

/// The `.sig` manifest of `digest` in `repository` (`HOST/PATH`) and its payload layers
/// (payload bytes, signature), as skopeo reads them from the registry.
fn skopeo_signatures(s: &Scratch, repository: &str, digest: &str) -> Vec<(Vec<u8>, String)> {
    let tag = format!("{}.sig", digest.replacen(':', "-", 1));
    let layout = s.path().join(format!("sig-{}", &digest[7..19]));
    let _ = std::fs::remove_dir_all(&layout);
    let o = tool("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{repository}:{tag}"))
        .arg(format!("oci:{}:sig", layout.display()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo copy of the signature: {}",
        stderr(&o)
    );
    let manifest = skopeo_inspect(&layout, "sig", &["--raw"]);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            assert_eq!(
                layer["mediaType"],
                "application/vnd.dev.cosign.simplesigning.v1+json"
            );
            let digest = layer["digest"].as_str().unwrap();
            let payload = std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
            let signature = layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap()
                .to_string();
            (payload, signature)
        })
        .collect()
}

/// Whether the `sigstore` crate verifies `signature` over `payload` with the PEM public key
/// at `public`.
fn sigstore_verifies(public: &str, payload: &[u8], signature: &str) -> bool {
    use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
    let pem = std::fs::read(public).unwrap();
    let key =
        CosignVerificationKey::from_pem(&pem, &SigningScheme::ECDSA_P256_SHA256_ASN1).unwrap();
    key.verify_signature(Signature::Base64Encoded(signature.as_bytes()), payload)
        .is_ok()
}

/// `sha256:` of the DER SubjectPublicKeyInfo of a PEM public key, computed with OpenSSL.
fn openssl_fingerprint(public: &str) -> String {
    let o = tool("openssl")
        .args(["pkey", "-pubin", "-outform", "DER", "-in", public])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&o.stdout)))
}

#[test]
fn signatures_are_upstream_cosign_format_and_trusted_plugins_run() {
    let s = Scratch::new();
    let k = keys();
    let registry = Registry::start();
    let repository = format!("{}/compose/select-images", registry.addr);
    let tagged = format!("oci://{repository}:1.0");
    let wasm = plugin_wasm("select-images");
    let (pinned, digest) = push(
        &s,
        &wasm,
        &tagged,
        &[
            "--sign",
            &k.str("release.cosign.key"),
            "--passphrase-env",
            PASSPHRASE.0,
        ],
    );

    // skopeo reads one signature beside the artifact; sigstore-rs verifies it with the
    // release key only; its payload names the artifact's digest and repository.
    let signatures = skopeo_signatures(&s, &repository, &digest);
    assert_eq!(signatures.len(), 1);
    let (payload, signature) = &signatures[0];
    assert!(sigstore_verifies(
        &k.str("release.cosign.pub"),
        payload,
        signature
    ));
    assert!(!sigstore_verifies(
        &k.str("other.cosign.pub"),
        payload,
        signature
    ));
    let mut changed = payload.clone();
    let at = changed.len() - 3;
    changed[at] ^= 1;
    assert!(!sigstore_verifies(
        &k.str("release.cosign.pub"),
        &changed,
        signature
    ));
    let claims: serde_json::Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(
        claims["critical"]["type"],
        "cosign container image signature"
    );
    assert_eq!(
        claims["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        claims["critical"]["identity"]["docker-reference"],
        repository.as_str()
    );

    // A second key signs it too (cosign appends); signing again with it replaces its own.
    for _ in 0..2 {
        let o = compose(
            &s,
            &[
                "plugin",
                "sign",
                &pinned,
                "--key",
                &k.str("other.cosign.key"),
            ],
        );
        ok(&o);
        assert!(stderr(&o).contains("2 signatures in"), "{}", stderr(&o));
    }
    let signatures = skopeo_signatures(&s, &repository, &digest);
    assert_eq!(signatures.len(), 2);
    assert!(sigstore_verifies(
        &k.str("release.cosign.pub"),
        &signatures[0].0,
        &signatures[0].1
    ));
    assert!(sigstore_verifies(
        &k.str("other.cosign.pub"),
        &signatures[1].0,
        &signatures[1].1
    ));
    // A tag is not signed: it could move.
    let err = fails(&compose(
        &s,
        &[
            "plugin",
            "sign",
            &tagged,
            "--key",
            &k.str("other.cosign.key"),
        ],
    ));
    assert!(
        err.contains("must be pinned by digest") && err.contains(&digest),
        "{err}"
    );

    // Under `[trust]`, the plugin runs; the lock records the key that verified it, by the
    // fingerprint OpenSSL computes.
    let path = stream(&s, "trusted.toml", &tagged, TRUST_RELEASE, "");
    let out = s.path().join("out");
    let o = compose(
        &s,
        &[
            "--json",
            "run",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    ok(&o);
    assert_eq!(events(&o, "stage-finished").len(), 2, "{}", stdout(&o));
    let fingerprint = openssl_fingerprint(&k.str("release.cosign.pub"));
    assert_eq!(
        events(&o, "plugin-pulled")[0]["signed_by"],
        format!("keys/release.cosign.pub ({fingerprint})"),
        "{}",
        stdout(&o)
    );
    ok(&compose(&s, &["plan", path.to_str().unwrap()]));
    ok(&compose(&s, &["lock", path.to_str().unwrap()]));
    let lock = std::fs::read_to_string(path.with_extension("lock")).unwrap();
    assert!(
        lock.contains(&format!(
            "[plugin.signed-by]\nkey = \"keys/release.cosign.pub\"\nfingerprint = \"{fingerprint}\""
        )),
        "{lock}"
    );
    ok(&compose(
        &s,
        &[
            "run",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--locked",
        ],
    ));

    // A stage's own `trust` replaces the stream's: trusting only `other` there still runs
    // (it signed too), and the lock says so, as drift from the lock written above.
    let path = stream(
        &s,
        "trusted.toml",
        &tagged,
        TRUST_RELEASE,
        "trust = [\"keys/other.cosign.pub\"]",
    );
    let err = fails(&compose(
        &s,
        &[
            "run",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--locked",
        ],
    ));
    assert!(
        err.contains("locked as signed by key keys/release.cosign.pub"),
        "{err}"
    );
    assert!(err.contains("now by key keys/other.cosign.pub"), "{err}");

    // With the registry gone, the pinned plugin and its verified signature come from the cache.
    drop(registry);
    let path = stream(&s, "pinned.toml", &pinned, TRUST_RELEASE, "");
    let o = compose(
        &s,
        &[
            "--json",
            "run",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    ok(&o);
    assert_eq!(
        events(&o, "plugin-pulled")[0]["contacted"],
        false,
        "{}",
        stdout(&o)
    );
}

/// Asserts that `o` refused `plugin` naming its digest, `reason` and the keys tried, and
/// that no stage ran.
fn refused(o: &Output, plugin: &str, digest: &str, reason: &str) -> String {
    let err = fails(o);
    assert!(
        err.contains(&format!("stage `select`: plugin `{plugin}` ({digest}) is refused: no valid signature by a trusted key")),
        "{err}"
    );
    assert!(err.contains(reason), "{err}");
    assert!(
        err.contains("keys tried: keys/other.cosign.pub (sha256:"),
        "{err}"
    );
    assert!(events(o, "stage-started").is_empty(), "{}", stdout(o));
    err
}

#[test]
fn unsigned_foreign_and_tampered_plugins_are_refused_before_anything_runs() {
    let s = Scratch::new();
    let k = keys();
    let registry = Registry::start();
    let select = plugin_wasm("select-images");
    let sign_release = [
        "--sign",
        &k.str("release.cosign.key"),
        "--passphrase-env",
        PASSPHRASE.0,
    ];
    let out = s.path().join("out");
    let run = |path: &Path| {
        compose(
            &s,
            &[
                "--json",
                "run",
                path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };

    // Signed by a key the stream does not trust: run, plan and lock refuse it; nothing is
    // written.
    let signed = format!("oci://{}/compose/select-images:1.0", registry.addr);
    let (_, signed_digest) = push(&s, &select, &signed, &sign_release);
    let path = stream(&s, "foreign.toml", &signed, TRUST_OTHER, "");
    let reason = "1 signature found, none made by a trusted key";
    refused(&run(&path), &signed, &signed_digest, reason);
    refused(
        &compose(&s, &["plan", path.to_str().unwrap()]),
        &signed,
        &signed_digest,
        reason,
    );
    refused(
        &compose(&s, &["lock", path.to_str().unwrap()]),
        &signed,
        &signed_digest,
        reason,
    );
    assert!(!out.exists() && !path.with_extension("lock").exists());
    // … and so does a stage trusting only `other`, while the stream trusts `release`.
    let path = stream(
        &s,
        "stage.toml",
        &signed,
        TRUST_RELEASE,
        "trust = [\"keys/other.cosign.pub\"]",
    );
    refused(&run(&path), &signed, &signed_digest, reason);
    // Without any policy, the same plugin runs as before.
    ok(&run(&stream(&s, "open.toml", &signed, "", "")));
    std::fs::remove_dir_all(&out).unwrap();

    // Unsigned.
    let unsigned = format!("oci://{}/compose/unsigned:1.0", registry.addr);
    let (_, unsigned_digest) = push(&s, &select, &unsigned, &["--version", "unsigned"]);
    let path = stream(&s, "unsigned.toml", &unsigned, TRUST_OTHER, "");
    refused(
        &run(&path),
        &unsigned,
        &unsigned_digest,
        "it has no cosign signature",
    );

    // Tampered: another component pushed over the signed tag, the original signature copied
    // beside it. The signature names the original digest: refused, and the new component
    // is never downloaded.
    let other_signed = format!("oci://{}/compose/select-images:2.0", registry.addr);
    let (pinned, good_digest) = push(
        &s,
        &select,
        &other_signed,
        &["--sign", &k.str("other.cosign.key"), "--version", "2.0"],
    );
    let path = stream(&s, "tampered.toml", &other_signed, TRUST_OTHER, "");
    ok(&compose(&s, &["lock", path.to_str().unwrap()]));
    let swap = plugin_wasm("swap-os-image");
    let (_, evil_digest) = push(&s, &swap, &other_signed, &["--version", "2.0"]);
    let repository = format!("{}/compose/select-images", registry.addr);
    let o = tool("skopeo")
        .args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!(
            "docker://{repository}:{}.sig",
            good_digest.replacen(':', "-", 1)
        ))
        .arg(format!(
            "docker://{repository}:{}.sig",
            evil_digest.replacen(':', "-", 1)
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = refused(
        &run(&path),
        &other_signed,
        &evil_digest,
        &format!(
            "signature 1 by keys/other.cosign.pub is for {good_digest}, not for this artifact"
        ),
    );
    let swap_digest = hex::encode(sha2::Sha256::digest(std::fs::read(&swap).unwrap()));
    assert!(
        !s.path()
            .join(format!("cache/plugins/sha256/{swap_digest}.wasm"))
            .exists(),
        "the untrusted component was downloaded: {err}"
    );
    // `export tekton` (which checks the stream like `run --locked`) refuses it too.
    let o = compose(
        &s,
        &[
            "export",
            "tekton",
            path.to_str().unwrap(),
            "--stream-path",
            "tampered.toml",
        ],
    );
    refused(&o, &other_signed, &evil_digest, "not for this artifact");
    // Pinned to the signed digest, it still runs.
    ok(&run(&stream(&s, "pinned.toml", &pinned, TRUST_OTHER, "")));
}
