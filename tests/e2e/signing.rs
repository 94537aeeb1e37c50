//! Signing, checked by tools nobody here wrote: GnuPG (`gpg --verify`, `gpg --decrypt`),
//! skopeo (`standalone-verify`, and a `signedBy` policy reading the lookaside of a release
//! pushed to a real registry), and for cosign-format signatures (Debian's skopeo has sigstore
//! disabled) the `sigstore` crate and the OpenSSL CLI. A tampered signature, a wrong key and a
//! release changed after signing are each rejected by those tools and by `compose verify`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use crate::support::*;

const RELEASE: &str = "4.17.0-okd-scos.0";
const TO: &str = "quay.io/okd/scos-release:4.17.0-okd-scos.0";

/// Key pairs made once per test binary with `compose keys generate` (RSA generation takes a
/// moment): `release` (OpenPGP + cosign, passphrase-protected) and `other` (OpenPGP + cosign).
pub(crate) struct Keys {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

pub(crate) fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let s = Scratch::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let out = path.to_str().unwrap();
        ok(&compose_env(
            &s,
            &[
                "keys",
                "generate",
                "release",
                "--out",
                out,
                "--cosign",
                "--passphrase-env",
                "TEST_PASSPHRASE",
            ],
            &[("TEST_PASSPHRASE", "correct horse")],
        ));
        ok(&compose_env(
            &s,
            &["keys", "generate", "other", "--out", out, "--cosign"],
            &[],
        ));
        Keys { _dir: dir, path }
    })
}

impl Keys {
    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
    pub(crate) fn str(&self, name: &str) -> String {
        self.file(name).to_str().unwrap().to_string()
    }
}

/// A stream like streams/scos.toml, signing with both key kinds; `to` and the stages after
/// `sign` can be changed.
fn stream(s: &Scratch, to: &str, after_sign: &str) -> PathBuf {
    let k = keys();
    let text = format!(
        r#"[stream]
name = "okd-scos"
release = "{RELEASE}"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"
to = "{to}"
signature-store = "file:///var/lib/okd-scos/signatures"

[registries."quay.io"]
mirror = "oci:{mirror}"

[keys.release]
private-key = "{release}"
passphrase = "env:TEST_PASSPHRASE"

[keys.cosign]
private-key = "{cosign}"
passphrase = "env:TEST_PASSPHRASE"

[[stage]]
name = "sign"
plugin = "sign"
grants = {{ keys = ["release", "cosign"] }}
config = {{ key = "release", cosign-key = "cosign" }}

{after_sign}

[[stage]]
name = "test"
plugin = "test-release"
grants = {{ registry = ["quay.io/*"] }}
config = {{ os-image = "fedora-coreos", checks = {{ no-rhel-content = {{ enabled = false }} }} }}
"#,
        mirror = repo().join("examples/mirror").display(),
        release = k.str("release.priv.asc"),
        cosign = k.str("release.cosign.key"),
    );
    s.write("signed.toml", &text)
}

/// Runs the signing stream into `out` and returns the release digest.
fn run_signed(s: &Scratch, stream: &Path, out: &Path, epoch: &str) -> String {
    let run = compose_env(
        s,
        &[
            "run",
            stream.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--require-signed",
        ],
        &[
            ("TEST_PASSPHRASE", "correct horse"),
            ("SOURCE_DATE_EPOCH", epoch),
        ],
    );
    ok(&run);
    assert!(
        stderr(&run).contains("signed  1 OpenPGP signature"),
        "{}",
        stderr(&run)
    );
    stdout(&run).split_whitespace().next().unwrap().to_string()
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

/// A GnuPG home holding `public` keys.
fn gnupg_home(public: &[&Path]) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    for key in public {
        let o = tool("gpg")
            .env("GNUPGHOME", home.path())
            .args(["--batch", "--import"])
            .arg(key)
            .output()
            .unwrap();
        assert!(o.status.success(), "gpg --import: {}", stderr(&o));
    }
    home
}

fn gpg(home: &Path, args: &[&str], file: &Path) -> Output {
    tool("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch"])
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

fn fingerprint(home: &Path) -> String {
    let o = tool("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--with-colons", "--list-keys"])
        .output()
        .unwrap();
    stdout(&o)
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .unwrap()
        .to_string()
}

fn skopeo_standalone(
    home: &Path,
    manifest: &Path,
    reference: &str,
    fpr: &str,
    sig: &Path,
) -> Output {
    tool("skopeo")
        .env("GNUPGHOME", home)
        .arg("standalone-verify")
        .arg(manifest)
        .arg(reference)
        .arg(fpr)
        .arg(sig)
        .output()
        .unwrap()
}

fn verify(s: &Scratch, out: &Path, keys: &[&str]) -> Output {
    let mut args = vec!["verify", out.to_str().unwrap()];
    for k in keys {
        args.push("--key");
        args.push(k);
    }
    compose_env(s, &args, &[])
}

#[test]
fn gpg_skopeo_sigstore_openssl_and_compose_verify_accept_the_signatures() {
    let s = Scratch::new();
    let k = keys();
    let out = s.path().join("okd-scos");
    let digest = run_signed(&s, &stream(&s, TO, ""), &out, "1700000000");
    let store = out.join(format!("signatures/sha256={}/signature-1", hex(&digest)));
    let lookaside = out.join(format!(
        "signatures/okd/scos-release@sha256={}/signature-1",
        hex(&digest)
    ));
    assert_eq!(
        std::fs::read(&store).unwrap(),
        std::fs::read(&lookaside).unwrap()
    );

    // gpg --verify and gpg --decrypt: a good inline signature over the atomic signature JSON.
    let home = gnupg_home(&[&k.file("release.pub.asc")]);
    let o = gpg(home.path(), &["--verify"], &store);
    assert!(o.status.success(), "gpg --verify: {}", stderr(&o));
    assert!(stderr(&o).contains("Good signature"), "{}", stderr(&o));
    let o = gpg(home.path(), &["--decrypt"], &store);
    assert!(o.status.success(), "gpg --decrypt: {}", stderr(&o));
    let signed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(signed["critical"]["type"], "atomic container signature");
    assert_eq!(
        signed["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    assert_eq!(signed["critical"]["identity"]["docker-reference"], TO);
    assert_eq!(signed["optional"]["timestamp"], 1_700_000_000);

    // skopeo standalone-verify: the manifest, the reference, the key, the signature.
    let manifest = out.join("blobs/sha256").join(hex(&digest));
    let fpr = fingerprint(home.path());
    let o = skopeo_standalone(home.path(), &manifest, TO, &fpr, &store);
    assert!(
        o.status.success(),
        "skopeo standalone-verify: {}",
        stderr(&o)
    );
    assert!(stdout(&o).contains(&digest), "{}", stdout(&o));

    // The payload trusts the stream's key: the verification ConfigMap carries it.
    let layer = s.path().join("layer");
    extract_top_layer(&out, RELEASE, &layer);
    let cm = std::fs::read_to_string(
        layer.join("release-manifests/0000_90_cluster-update-keys_configmap.yaml"),
    )
    .unwrap();
    assert!(
        cm.contains("store-okd-scos: file:///var/lib/okd-scos/signatures"),
        "{cm}"
    );
    assert!(cm.contains("verifier-public-key-okd-scos: |"), "{cm}");
    assert!(!cm.contains("openshift-ci-release"), "{cm}");

    // cosign-format: the `.sig` manifest, verified by the OpenSSL CLI.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let tag = format!("sha256-{}.sig", hex(&digest));
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .expect("the cosign signature tag");
    let sig_manifest = skopeo_inspect(&out, &tag, &["--raw"]);
    assert_eq!(entry["digest"].as_str().unwrap().len(), 71);
    let layer0 = &sig_manifest["layers"][0];
    assert_eq!(
        layer0["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = out
        .join("blobs/sha256")
        .join(hex(layer0["digest"].as_str().unwrap()));
    let cosign: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&payload).unwrap()).unwrap();
    assert_eq!(
        cosign["critical"]["type"],
        "cosign container image signature"
    );
    assert_eq!(
        cosign["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    let b64 = layer0["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    let der = s.write("sig.b64", b64);
    let o = tool("openssl")
        .args(["base64", "-d", "-A", "-in"])
        .arg(&der)
        .arg("-out")
        .arg(s.path().join("sig.der"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let openssl = |public: &Path, data: &Path| {
        tool("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(public)
            .arg("-signature")
            .arg(s.path().join("sig.der"))
            .arg(data)
            .output()
            .unwrap()
    };
    let o = openssl(&k.file("release.cosign.pub"), &payload);
    assert!(o.status.success(), "openssl: {}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Verified OK"));
    // OpenSSL rejects another key, and a changed payload.
    assert!(
        !openssl(&k.file("other.cosign.pub"), &payload)
            .status
            .success()
    );
    let changed = s.write(
        "changed.json",
        &String::from_utf8(std::fs::read(&payload).unwrap())
            .unwrap()
            .replace("scos-release", "scos-relea5e"),
    );
    assert!(
        !openssl(&k.file("release.cosign.pub"), &changed)
            .status
            .success()
    );

    // The sigstore crate (sigstore-rs) agrees, and rejects another key and a changed payload.
    let sigstore_verify = |public: &Path, payload: &[u8]| {
        use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
        let pem = std::fs::read(public).unwrap();
        let key =
            CosignVerificationKey::from_pem(&pem, &SigningScheme::ECDSA_P256_SHA256_ASN1).unwrap();
        key.verify_signature(Signature::Base64Encoded(b64.as_bytes()), payload)
    };
    let payload_bytes = std::fs::read(&payload).unwrap();
    sigstore_verify(&k.file("release.cosign.pub"), &payload_bytes).expect("sigstore-rs verifies");
    assert!(sigstore_verify(&k.file("other.cosign.pub"), &payload_bytes).is_err());
    assert!(
        sigstore_verify(
            &k.file("release.cosign.pub"),
            &std::fs::read(&changed).unwrap()
        )
        .is_err()
    );

    // compose verify with both public keys.
    let v = verify(
        &s,
        &out,
        &[&k.str("release.pub.asc"), &k.str("release.cosign.pub")],
    );
    ok(&v);
    assert_eq!(stdout(&v).matches("ok  ").count(), 2, "{}", stdout(&v));
    // The report of the test stage says the host verified both.
    let report = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert!(report.contains("signatures-verify"), "{report}");

    // Reproducible: the same inputs and SOURCE_DATE_EPOCH give the same digest and the same
    // OpenPGP signature bytes.
    let again = s.path().join("again");
    assert_eq!(
        run_signed(&s, &stream(&s, TO, ""), &again, "1700000000"),
        digest
    );
    assert_eq!(
        std::fs::read(&store).unwrap(),
        std::fs::read(again.join(format!("signatures/sha256={}/signature-1", hex(&digest))))
            .unwrap()
    );
}

#[test]
fn tampering_wrong_keys_and_other_releases_are_rejected() {
    let s = Scratch::new();
    let k = keys();
    let out = s.path().join("okd-scos");
    let digest = run_signed(&s, &stream(&s, TO, ""), &out, "1700000000");
    let store = out.join(format!("signatures/sha256={}/signature-1", hex(&digest)));
    let manifest = out.join("blobs/sha256").join(hex(&digest));
    let good = std::fs::read(&store).unwrap();
    let release_home = gnupg_home(&[&k.file("release.pub.asc")]);
    let other_home = gnupg_home(&[&k.file("other.pub.asc")]);
    let fpr = fingerprint(release_home.path());
    let other_fpr = fingerprint(other_home.path());
    let both = [k.str("release.pub.asc"), k.str("release.cosign.pub")];
    let both: Vec<&str> = both.iter().map(String::as_str).collect();

    // A wrong key: gpg, skopeo and compose verify all refuse.
    let o = gpg(other_home.path(), &["--verify"], &store);
    assert!(!o.status.success(), "gpg accepted a wrong key");
    let o = skopeo_standalone(other_home.path(), &manifest, TO, &other_fpr, &store);
    assert!(!o.status.success(), "skopeo accepted a wrong key");
    let v = verify(
        &s,
        &out,
        &[&k.str("other.pub.asc"), &k.str("other.cosign.pub")],
    );
    let err = fails(&v);
    assert!(err.contains("2 of 2 signatures"), "{err}");
    assert!(
        stdout(&v).contains("FAIL signature-gpg #1"),
        "{}",
        stdout(&v)
    );

    // A tampered signature (one byte of the RSA signature flipped).
    let mut tampered = good.clone();
    let at = tampered.len() - 10;
    tampered[at] ^= 0x01;
    std::fs::write(&store, &tampered).unwrap();
    let o = gpg(release_home.path(), &["--verify"], &store);
    assert!(!o.status.success(), "gpg accepted a tampered signature");
    let o = skopeo_standalone(release_home.path(), &manifest, TO, &fpr, &store);
    assert!(!o.status.success(), "skopeo accepted a tampered signature");
    let err = fails(&verify(&s, &out, &both));
    assert!(err.contains("signature-gpg #1 does not verify"), "{err}");
    std::fs::write(&store, &good).unwrap();
    ok(&verify(&s, &out, &both));

    // A tampered cosign signature annotation.
    let tag = format!("sha256-{}.sig", hex(&digest));
    let index_path = out.join("index.json");
    let index_text = std::fs::read_to_string(&index_path).unwrap();
    let index: serde_json::Value = serde_json::from_str(&index_text).unwrap();
    let sig_digest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let sig_path = out.join("blobs/sha256").join(hex(&sig_digest));
    let sig_text = std::fs::read_to_string(&sig_path).unwrap();
    let mut sig_manifest: serde_json::Value = serde_json::from_str(&sig_text).unwrap();
    let annotation =
        &mut sig_manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"];
    let other_sig = {
        // A valid signature of other data by the same key is still wrong here.
        let mut b = annotation.as_str().unwrap().to_string();
        b = b.replacen('M', "N", 1);
        b
    };
    *annotation = serde_json::Value::String(other_sig);
    let new_bytes = serde_json::to_vec(&sig_manifest).unwrap();
    let new_digest = compose_hex(&new_bytes);
    std::fs::write(out.join("blobs/sha256").join(&new_digest), &new_bytes).unwrap();
    std::fs::write(
        &index_path,
        index_text.replace(hex(&sig_digest), &new_digest),
    )
    .unwrap();
    let v = verify(&s, &out, &both);
    let err = fails(&v);
    assert!(err.contains("signature-cosign #1"), "{err}");
    std::fs::write(&index_path, &index_text).unwrap();
    ok(&verify(&s, &out, &both));

    // Another release (another creation time, so another digest) with the first release's
    // signature copied in: every verifier sees it names another digest.
    let other = s.path().join("other");
    let other_digest = run_signed(&s, &stream(&s, TO, ""), &other, "1700000999");
    assert_ne!(other_digest, digest);
    let other_store = other.join(format!(
        "signatures/sha256={}/signature-1",
        hex(&other_digest)
    ));
    std::fs::write(&other_store, &good).unwrap();
    let other_manifest = other.join("blobs/sha256").join(hex(&other_digest));
    let o = skopeo_standalone(release_home.path(), &other_manifest, TO, &fpr, &other_store);
    assert!(
        !o.status.success(),
        "skopeo accepted a signature of another release"
    );
    assert!(stderr(&o).contains("does not match"), "{}", stderr(&o));
    let err = fails(&verify(&s, &other, &both));
    assert!(
        err.contains(&format!("is for {digest}, not for this release")),
        "{err}"
    );
}

/// `compose_hex(bytes)`: the hex SHA-256, with sha2 (a dev-dependency).
fn compose_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn a_stage_that_changes_the_payload_after_signing_fails_the_run() {
    let s = Scratch::new();
    let after = r#"[[stage]]
name = "late-swap"
plugin = "swap-os-image"
grants = { registry = ["quay.io/okd/*"] }
config = { remove = ["fedora-coreos"], os-image = "stream-coreos", extensions-image = "stream-coreos-extensions", images = { stream-coreos = "quay.io/okd/scos-content:4.17.0-okd-scos.0-stream-coreos", stream-coreos-extensions = "quay.io/okd/scos-content:4.17.0-okd-scos.0-stream-coreos-extensions" } }
"#;
    let out = s.path().join("okd-scos");
    let run = compose_env(
        &s,
        &[
            "run",
            stream(&s, TO, after).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[("TEST_PASSPHRASE", "correct horse")],
    );
    let err = fails(&run);
    assert!(
        err.contains("stage `late-swap` changed the payload after it was signed"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is published");
}

#[test]
fn scos_without_a_key_is_unsigned_and_require_signed_fails() {
    let s = Scratch::new();
    let out = s.path().join("okd-scos");
    let run = compose_env(
        &s,
        &["run", "streams/scos.toml", "--out", out.to_str().unwrap()],
        &[],
    );
    ok(&run);
    let err = stderr(&run);
    assert!(
        err.contains("stage   sign: SKIPPED: optional key `release` is absent"),
        "{err}"
    );
    assert!(err.contains("the release is UNSIGNED"), "{err}");
    assert!(!out.join("signatures").exists());
    // `verify` of a release without a signature fails, saying so.
    let k = keys();
    let err = fails(&verify(&s, &out, &[&k.str("release.pub.asc")]));
    assert!(err.contains("has no signatures"), "{err}");

    let strict = s.path().join("strict");
    let run = compose_env(
        &s,
        &[
            "run",
            "streams/scos.toml",
            "--out",
            strict.to_str().unwrap(),
            "--require-signed",
        ],
        &[],
    );
    let err = fails(&run);
    assert!(err.contains("`--require-signed`"), "{err}");
    assert!(!strict.exists());

    // With the key (passphrase-protected), the stock stream signs; gpg agrees.
    let k = keys();
    let run = compose_env(
        &s,
        &[
            "run",
            "streams/scos.toml",
            "--out",
            strict.to_str().unwrap(),
            "--require-signed",
        ],
        &[
            ("COMPOSE_RELEASE_KEY", &k.str("release.priv.asc")),
            ("COMPOSE_RELEASE_KEY_PASSPHRASE", "correct horse"),
        ],
    );
    ok(&run);
    let digest = stdout(&run).split_whitespace().next().unwrap().to_string();
    let home = gnupg_home(&[&k.file("release.pub.asc")]);
    let o = gpg(
        home.path(),
        &["--verify"],
        &strict.join(format!("signatures/sha256={}/signature-1", hex(&digest))),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    ok(&verify(&s, &strict, &[&k.str("release.pub.asc")]));

    // `--policy`: the stream's release checks run on the output too, signatures included.
    let policy = |key: &str| {
        compose_env(
            &s,
            &[
                "verify",
                strict.to_str().unwrap(),
                "--key",
                key,
                "--policy",
                "streams/scos.toml",
            ],
            &[],
        )
    };
    let v = policy(&k.str("release.pub.asc"));
    ok(&v);
    let err = stderr(&v);
    assert!(err.contains("stage   test: ok"), "{err}");
    // Only the checks run (the stages whose component targets the `check` world), whatever
    // they are named; the policy's other stages do not.
    for other in ["select", "swap-os", "patch", "sign"] {
        assert!(!err.contains(&format!("stage   {other}")), "{err}");
    }
    let renamed = s.write(
        "policy-renamed.toml",
        &std::fs::read_to_string(repo().join("streams/scos.toml"))
            .unwrap()
            .replace("name = \"test\"", "name = \"audit\"")
            .replace(
                "oci:../examples/mirror",
                &format!("oci:{}", repo().join("examples/mirror").display()),
            )
            .replace(
                "\"overlays/scos\"",
                &format!("\"{}\"", repo().join("streams/overlays/scos").display()),
            ),
    );
    let v = compose_env(
        &s,
        &[
            "verify",
            strict.to_str().unwrap(),
            "--key",
            &k.str("release.pub.asc"),
            "--policy",
            renamed.to_str().unwrap(),
        ],
        &[],
    );
    ok(&v);
    assert!(stderr(&v).contains("stage   audit: ok"), "{}", stderr(&v));
    let v = policy(&k.str("other.pub.asc"));
    let err = fails(&v);
    assert!(
        err.contains("Error signatures-verify signature-gpg #1"),
        "{err}"
    );

    // A wrong passphrase is reported before anything runs.
    let run = compose_env(
        &s,
        &[
            "run",
            "streams/scos.toml",
            "--out",
            strict.to_str().unwrap(),
        ],
        &[
            ("COMPOSE_RELEASE_KEY", &k.str("release.priv.asc")),
            ("COMPOSE_RELEASE_KEY_PASSPHRASE", "wrong"),
        ],
    );
    let err = fails(&run);
    assert!(err.contains("key `release`"), "{err}");
}

/// skopeo copying `reference` out of the registry under a `policy.json` that requires a
/// `signedBy` GPG signature from `keyring`, read from the lookaside directory `lookaside`
/// (through a `registries.d` file): what a cluster's container tools do.
fn check_gpg(reference: &str, keyring: &Path, lookaside: &Path) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let host = reference.split('/').next().unwrap();
    let regd = dir.path().join("registries.d");
    std::fs::create_dir_all(&regd).unwrap();
    std::fs::write(
        regd.join("default.yaml"),
        format!(
            "docker:\n  {host}:\n    lookaside: file://{}\n",
            lookaside.display()
        ),
    )
    .unwrap();
    let policy = serde_json::json!({
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {host: [{
                "type": "signedBy",
                "keyType": "GPGKeys",
                "keyPath": keyring,
                "signedIdentity": {"type": "matchRepoDigestOrExact"},
            }]},
            "dir": {"": [{"type": "insecureAcceptAnything"}]},
        },
    });
    let policy_file = dir.path().join("policy.json");
    std::fs::write(&policy_file, policy.to_string()).unwrap();
    tool("skopeo")
        .arg("--policy")
        .arg(&policy_file)
        .arg("--registries.d")
        .arg(&regd)
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dir.path().join("image").display()))
        .output()
        .unwrap()
}

#[test]
fn skopeo_signed_by_policy_accepts_the_pushed_release_and_its_lookaside() {
    let registry = crate::registry::Registry::start();
    let s = Scratch::new();
    let k = keys();
    let to = format!("{}/okd/scos-release:{RELEASE}", registry.addr);
    let out = s.path().join("okd-scos");
    let run = compose_env(
        &s,
        &[
            "run",
            stream(&s, &to, "").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--push",
        ],
        &[("TEST_PASSPHRASE", "correct horse")],
    );
    ok(&run);
    let digest = stdout(&run).split_whitespace().next().unwrap().to_string();
    // The cosign `.sig` manifest went to the registry with the release, byte for byte the
    // one in the output layout.
    let sig_tag = format!("sha256-{}.sig", hex(&digest));
    assert!(stderr(&run).contains(&sig_tag), "{}", stderr(&run));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let local = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == sig_tag.as_str())
        .unwrap_or_else(|| panic!("no `{sig_tag}` in the output's index: {index}"));
    let local = std::fs::read(
        out.join("blobs/sha256")
            .join(hex(local["digest"].as_str().unwrap())),
    )
    .unwrap();
    let remote = tool("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!(
            "docker://{}:{sig_tag}",
            to.rsplit_once(':').unwrap().0
        ))
        .output()
        .unwrap();
    assert!(remote.status.success(), "{}", stderr(&remote));
    assert_eq!(remote.stdout, local);
    let lookaside = out.join("signatures");
    let o = check_gpg(&to, &k.file("release.pub.asc"), &lookaside);
    assert!(
        o.status.success(),
        "check-gpg: {}{}",
        stdout(&o),
        stderr(&o)
    );
    // The wrong keyring is refused.
    let o = check_gpg(&to, &k.file("other.pub.asc"), &lookaside);
    assert!(
        !o.status.success(),
        "check-gpg accepted a wrong key: {}",
        stdout(&o)
    );
    // A tampered lookaside signature is refused.
    let sig = lookaside.join(format!(
        "okd/scos-release@sha256={}/signature-1",
        hex(&digest)
    ));
    let mut bytes = std::fs::read(&sig).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x01;
    std::fs::write(&sig, &bytes).unwrap();
    let o = check_gpg(&to, &k.file("release.pub.asc"), &lookaside);
    assert!(
        !o.status.success(),
        "check-gpg accepted a tampered signature"
    );
}
