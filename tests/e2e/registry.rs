//! Real registries: Debian's `docker-registry` (CNCF distribution) on 127.0.0.1, filled with
//! the sample mirror by skopeo, read back by skopeo. Nothing here talks to anything but
//! loopback.
//!
//! The harness owns its registries: each test starts its own on a free port with its own
//! storage and config, and kills it on drop. The sample mirror is pushed once (200 `skopeo
//! copy`s) into a fixture storage under `target/tmp`, keyed by the mirror's `index.json`, and
//! each test starts from a copy of it.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::Digest as _;

use crate::support::*;

const RELEASE: &str = "4.17.0-okd-scos.0";
const BASE: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";
/// `bot` / `s3cret` (bcrypt, cost 4), for the registry that requires credentials.
const HTPASSWD: &str = "bot:$2b$04$XtdKPZVxm.LiVmLtBIsDyuhFAGfXZnkyApv.ov.XWaNWOwo2fnstm\n";

// ------------------------------------------------------------------------------------------
// The registry harness.

/// A `docker-registry serve` process on 127.0.0.1, killed on drop.
pub(crate) struct Registry {
    child: Arc<Mutex<Child>>,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// The storage root (kept when the registry is stopped, to restart on it).
    storage: PathBuf,
    _dir: tempfile::TempDir,
}

pub(crate) fn registry_binary() -> &'static str {
    for name in ["docker-registry", "registry"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if found {
            return name;
        }
    }
    panic!(
        "the registry tests need CNCF distribution: run `.ci/run` or `apt-get install -y docker-registry`"
    );
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `GET /v2/` answers (any status) at `addr`.
pub(crate) fn answers(addr: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

impl Registry {
    /// A registry on a fresh, empty storage.
    pub(crate) fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        Registry::serve(dir, storage, false)
    }

    /// A registry on a copy of the fixture: the whole sample mirror pushed by skopeo.
    pub(crate) fn with_mirror() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        copy_dir(fixture_storage(), &storage);
        Registry::serve(dir, storage, false)
    }

    /// [`Registry::with_mirror`] wanting `bot` / `s3cret`.
    fn with_mirror_and_auth() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        copy_dir(fixture_storage(), &storage);
        Registry::serve(dir, storage, true)
    }

    /// A registry that wants `bot` / `s3cret` (htpasswd, Basic auth).
    fn with_auth() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        Registry::serve(dir, storage, true)
    }

    /// Stops this registry and starts another on its storage (on another port).
    fn restart(&mut self) {
        self.stop();
        let (child, addr) = spawn_registry(self._dir.path(), &self.storage, false);
        self.child = Arc::new(Mutex::new(child));
        self.addr = addr;
    }

    fn serve(dir: tempfile::TempDir, storage: PathBuf, auth: bool) -> Registry {
        let (child, addr) = spawn_registry(dir.path(), &storage, auth);
        Registry {
            child: Arc::new(Mutex::new(child)),
            addr,
            storage,
            _dir: dir,
        }
    }

    /// Kills the registry (its storage stays).
    fn stop(&self) {
        kill(&self.child);
    }
}

/// Starts `docker-registry serve` on a free loopback port with `storage`, its config and log
/// in `dir`; waits until it answers.
fn spawn_registry(dir: &Path, storage: &Path, auth: bool) -> (Child, String) {
    let bin = registry_binary();
    for _ in 0..5 {
        let addr = format!("127.0.0.1:{}", free_port());
        let auth_section = if auth {
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, HTPASSWD).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: compose-test\n    path: {}\n",
                htpasswd.display()
            )
        } else {
            String::new()
        };
        let config = dir.join(format!("config-{}.yml", addr.replace([':', '.'], "-")));
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{auth_section}http:\n  addr: {addr}\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the registry starts");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if answers(&addr) {
                return (child, addr);
            }
            if child.try_wait().unwrap().is_some() {
                break; // the port was taken meanwhile: try another
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
    panic!("the registry did not come up; its log:\n{log}");
}

fn kill(child: &Mutex<Child>) {
    if let Ok(mut child) = child.lock() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The sample mirror as a registry storage: built once (and kept under `target/tmp`, keyed by
/// the mirror's `index.json`) by starting a registry and `skopeo copy`ing every image into
/// it: tagged images under their tag, the digest-only component images by digest.
pub(crate) fn fixture_storage() -> &'static Path {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mirror = repo().join("examples/mirror");
        let index = std::fs::read(mirror.join("index.json")).unwrap();
        let key = hex::encode(&sha2::Sha256::digest(&index)[..8]);
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let done = root.join(format!("registry-fixture-{key}"));
        if done.join("complete").is_file() {
            return done.join("storage");
        }
        let work = tempfile::Builder::new()
            .prefix(&format!("registry-fixture-{key}.tmp-"))
            .tempdir_in(&root)
            .unwrap();
        // skopeo's `oci:` transport names images by ref name only: a layout whose index gives
        // every image one (`d-<hex>`), sharing the mirror's blobs.
        let layout = work.path().join("layout");
        std::fs::create_dir_all(&layout).unwrap();
        std::os::unix::fs::symlink(mirror.join("blobs"), layout.join("blobs")).unwrap();
        std::fs::copy(mirror.join("oci-layout"), layout.join("oci-layout")).unwrap();
        let mut index: serde_json::Value = serde_json::from_slice(&index).unwrap();
        let mut jobs = Vec::new();
        for entry in index["manifests"].as_array_mut().unwrap() {
            let digest = entry["digest"].as_str().unwrap().to_string();
            let name = entry["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .map(str::to_string);
            let local = format!("d-{}", &digest[7..]);
            entry["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": local});
            let dest = match name {
                Some(name) => name.split_once('/').unwrap().1.to_string(),
                None => format!("openshift/okd-content@{digest}"),
            };
            jobs.push((local, dest));
        }
        std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
        let storage = work.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let registry = Registry::serve(
            tempfile::tempdir_in(work.path()).unwrap(),
            storage.clone(),
            false,
        );
        let jobs = Mutex::new(jobs);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    loop {
                        let Some((local, dest)) = jobs.lock().unwrap().pop() else {
                            return;
                        };
                        let o = tool("skopeo")
                            .args(["copy", "-q", "--dest-tls-verify=false"])
                            .arg(format!("oci:{}:{local}", layout.display()))
                            .arg(format!("docker://{}/{dest}", registry.addr))
                            .output()
                            .unwrap();
                        assert!(o.status.success(), "skopeo copy to {dest}: {}", stderr(&o));
                    }
                });
            }
        });
        drop(registry);
        std::fs::write(work.path().join("complete"), b"").unwrap();
        let work = work.keep();
        // Another test process may have finished first: either copy will do.
        if std::fs::rename(&work, &done).is_err() {
            let _ = std::fs::remove_dir_all(&work);
        }
        done.join("storage")
    })
}

// ------------------------------------------------------------------------------------------
// Helpers.

/// A copy of the repository's `streams/` (files by symlinks, directories such as `overlays/`
/// copied, so that grants stay inside the stream's directory and `../examples/mirror` still
/// resolves) with `scos.toml` rewritten by `edit`; returns the
/// path of the rewritten stream, named `name`.
pub(crate) fn stream_copy(s: &Scratch, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let tree = s.path().join("tree");
    let streams = tree.join("streams");
    if !streams.is_dir() {
        std::fs::create_dir_all(&streams).unwrap();
        for entry in std::fs::read_dir(repo()).unwrap() {
            let entry = entry.unwrap();
            let n = entry.file_name();
            if n != "streams" && n != "target" {
                std::os::unix::fs::symlink(entry.path(), tree.join(&n)).unwrap();
            }
        }
        for entry in std::fs::read_dir(repo().join("streams")).unwrap() {
            let entry = entry.unwrap();
            let n = entry.file_name();
            let text = n.to_string_lossy();
            if entry.path().is_dir() {
                // Granted directories must resolve inside the stream's directory: a copy.
                copy_dir(&entry.path(), &streams.join(&n));
            } else if !text.ends_with(".toml") && !text.ends_with(".lock") {
                std::os::unix::fs::symlink(entry.path(), streams.join(&n)).unwrap();
            }
        }
    }
    let text = std::fs::read_to_string(repo().join("streams/scos.toml")).unwrap();
    let path = streams.join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// `scos.toml` reading every `quay.io` reference from `registry` instead of the mirror.
pub(crate) fn from_registry(text: String, registry: &str) -> String {
    let mirror = "mirror = \"oci:../examples/mirror\"";
    assert!(
        text.contains(mirror),
        "streams/scos.toml no longer says `{mirror}`"
    );
    text.replace(mirror, &format!("registry = \"{registry}\""))
}

fn compose(s: &Scratch, args: &[&str]) -> Output {
    compose_env(s, args, &[])
}

/// `skopeo inspect [extra] docker://REF` over plain HTTP, as JSON.
fn skopeo_remote(reference: &str, extra: &[&str]) -> Result<serde_json::Value, String> {
    let o = tool("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .args(extra)
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    if !o.status.success() {
        return Err(stderr(&o));
    }
    Ok(serde_json::from_slice(&o.stdout).expect("skopeo prints JSON"))
}

/// The digest `compose run streams/scos.toml` gives offline, from the sample mirror.
fn offline_digest(s: &Scratch) -> String {
    let out = s.path().join("offline");
    let o = compose(
        s,
        &["run", "streams/scos.toml", "--out", out.to_str().unwrap()],
    );
    ok(&o);
    stdout(&o).split_whitespace().next().unwrap().to_string()
}

/// A first-party plugin component, as built for embedding.
pub(crate) fn plugin_wasm(name: &str) -> PathBuf {
    let path = repo()
        .join("target/wasm-plugins/wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.is_file(),
        "`{}` is missing: building compose builds it",
        path.display()
    );
    path
}

// ------------------------------------------------------------------------------------------
// The tests.

#[test]
fn scos_reads_from_a_registry_and_pushes_the_release_to_it() {
    let s = Scratch::new();
    let expected = offline_digest(&s);
    let registry = Registry::with_mirror();
    let stream = stream_copy(&s, "scos.toml", |t| from_registry(t, &registry.addr));
    let target = format!("{}/okd/scos-release:{RELEASE}", registry.addr);
    let out = s.path().join("okd-scos");
    let run = |s: &Scratch| {
        compose(
            s,
            &[
                "--json",
                "run",
                stream.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--push",
                "--to",
                &target,
            ],
        )
    };

    // Read from the registry: the same release as from the mirror, byte for byte.
    let first = run(&s);
    ok(&first);
    let done = &events(&first, "done")[0]["result"];
    assert_eq!(
        done["digest"],
        expected.as_str(),
        "registry and mirror disagree"
    );
    let base = &events(&first, "base-loaded")[0];
    assert_eq!(base["reference"], BASE);

    // Pushed: every blob uploaded the first time.
    let pushed = &events(&first, "pushed")[0]["result"];
    assert_eq!(pushed["digest"], expected.as_str());
    assert!(pushed["blobs"].as_u64().unwrap() >= 3, "{pushed}");
    assert_eq!(pushed["uploaded"], pushed["blobs"], "{pushed}");

    // skopeo reads it back: the tag names the release, the manifest is the local one.
    let remote = skopeo_remote(&target, &[]).unwrap();
    assert_eq!(remote["Digest"], expected.as_str());
    assert_eq!(remote["Labels"]["io.openshift.release"], RELEASE);
    let local = skopeo_inspect(&out, RELEASE, &[]);
    assert_eq!(local["Digest"], remote["Digest"]);
    let raw = tool("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{target}"))
        .output()
        .unwrap();
    let local_manifest = std::fs::read(
        out.join("blobs/sha256")
            .join(expected.trim_start_matches("sha256:")),
    )
    .unwrap();
    assert_eq!(raw.stdout, local_manifest);
    // Every blob is there: skopeo copies the whole image out.
    let copy = s.path().join("copied");
    let o = tool("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{target}"))
        .arg(format!("oci:{}:{RELEASE}", copy.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    // The unchanged release pushed again uploads no blob.
    let second = run(&s);
    ok(&second);
    let again = &events(&second, "pushed")[0]["result"];
    assert_eq!(again["digest"], expected.as_str());
    assert_eq!(again["uploaded"], 0, "{again}");
    assert_eq!(
        again["uploaded_bytes"], 0,
        "the tag was already there: {again}"
    );
    assert_eq!(again["skipped"], again["blobs"], "{again}");
}

/// `verify --policy` runs the policy's checks through the command's one registry view: the
/// policy stream's mirrors and registries, with the command line's credentials. The `test`
/// stage of a stream reading from a registry that wants credentials queries every image
/// config there (the RHEL-content check): without `--creds` reaching the checks, each query
/// is refused and the check fails.
#[test]
fn verify_policy_checks_read_the_registries_with_the_command_lines_credentials() {
    let s = Scratch::new();
    let registry = Registry::with_mirror_and_auth();
    let stream = stream_copy(&s, "scos.toml", |t| from_registry(t, &registry.addr));
    let out = s.path().join("okd-scos");
    let k = crate::signing::keys();
    let private = k.str("release.priv.asc");
    let run = compose_env(
        &s,
        &[
            "--creds",
            "bot:s3cret",
            "run",
            stream.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[
            ("COMPOSE_RELEASE_KEY", private.as_str()),
            ("COMPOSE_RELEASE_KEY_PASSPHRASE", "correct horse"),
        ],
    );
    ok(&run);
    let public = k.str("release.pub.asc");
    let verify = |creds: &[&str]| {
        let mut args = creds.to_vec();
        args.extend([
            "verify",
            out.to_str().unwrap(),
            "--key",
            &public,
            "--policy",
            stream.to_str().unwrap(),
        ]);
        compose(&s, &args)
    };
    let passed = verify(&["--creds", "bot:s3cret"]);
    ok(&passed);
    let err = stderr(&passed);
    assert!(err.contains("stage   test: ok"), "{err}");
    // Without credentials the registry refuses the checks' queries: the policy fails.
    let refused = verify(&[]);
    let err = fails(&refused);
    assert!(err.contains("no-rhel-content"), "{err}");
}

#[test]
fn plugins_are_shared_as_wasm_artifacts_pinned_and_locked() {
    let s = Scratch::new();
    let expected = offline_digest(&s);
    let registry = Registry::start();
    let wasm = plugin_wasm("select-images");
    let tagged = format!("oci://{}/compose/select-images:1.0", registry.addr);

    // Push, then check the layout with skopeo: the CNCF Wasm artifact media types.
    let o = compose(
        &s,
        &[
            "plugin",
            "push",
            wasm.to_str().unwrap(),
            &tagged,
            "--source",
            "https://github.com/okd-project/compose",
        ],
    );
    ok(&o);
    let line = stdout(&o);
    let (digest, pinned) = line.trim().split_once(' ').unwrap();
    assert_eq!(pinned, format!("{tagged}@{digest}"));
    let raw = skopeo_remote(
        &format!("{}/compose/select-images:1.0", registry.addr),
        &["--raw"],
    )
    .unwrap();
    assert_eq!(
        raw["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        raw["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = raw["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    let bytes = std::fs::read(&wasm).unwrap();
    assert_eq!(layers[0]["size"], bytes.len() as u64);
    assert_eq!(
        layers[0]["digest"],
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
    );
    let annotations = &raw["annotations"];
    for key in ["source", "version", "description", "created"] {
        assert!(
            annotations[format!("org.opencontainers.image.{key}")].is_string(),
            "no {key} annotation: {annotations}"
        );
    }
    // Version and description are the plugin's own, as its `describe` gives them (what
    // `compose plan` shows for the builtin).
    let plan = compose(&s, &["--json", "plan", "streams/scos.toml"]);
    ok(&plan);
    let described_by_plan = |name: &str| {
        stdout(&plan)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .flat_map(|e| e["stages"].as_array().cloned().unwrap_or_default())
            .find(|stage| stage["name"] == name)
            .unwrap_or_else(|| panic!("plan describes {name}"))
    };
    let described = described_by_plan("select-images");
    assert_eq!(
        annotations["org.opencontainers.image.version"],
        described["version"]
    );
    assert_eq!(
        annotations["org.opencontainers.image.description"],
        described["description"]
    );
    // `--version` and `--description` replace them.
    let other = format!("oci://{}/compose/select-images:own", registry.addr);
    ok(&compose(
        &s,
        &[
            "plugin",
            "push",
            wasm.to_str().unwrap(),
            &other,
            "--version",
            "9.9.9",
            "--description",
            "our own build",
        ],
    ));
    let own = skopeo_remote(
        &format!("{}/compose/select-images:own", registry.addr),
        &["--raw"],
    )
    .unwrap();
    assert_eq!(
        own["annotations"]["org.opencontainers.image.version"],
        "9.9.9"
    );
    assert_eq!(
        own["annotations"]["org.opencontainers.image.description"],
        "our own build"
    );
    // A read-only check in parts describes itself too.
    let check = format!("oci://{}/compose/test-release:1.0", registry.addr);
    ok(&compose(
        &s,
        &[
            "plugin",
            "push",
            plugin_wasm("test-release").to_str().unwrap(),
            &check,
        ],
    ));
    let pushed = skopeo_remote(
        &format!("{}/compose/test-release:1.0", registry.addr),
        &["--raw"],
    )
    .unwrap();
    let test_release = described_by_plan("test-release");
    assert_eq!(
        pushed["annotations"]["org.opencontainers.image.description"],
        test_release["description"]
    );
    let config = skopeo_remote(
        &format!("{}/compose/select-images:1.0", registry.addr),
        &["--raw", "--config"],
    )
    .unwrap();
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"][0], layers[0]["digest"]);

    // Pull and inspect.
    let pulled = s.path().join("pulled.wasm");
    ok(&compose(
        &s,
        &["plugin", "pull", &tagged, "--out", pulled.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(&pulled).unwrap(), bytes);
    let o = compose(&s, &["plugin", "inspect", &tagged]);
    ok(&o);
    let text = stdout(&o);
    assert!(text.contains("world       okd:compose/plugin@"), "{text}");
    assert!(text.contains("exports     okd:compose/stage@"), "{text}");
    assert!(text.contains(digest), "{text}");

    // A stream running it by digest composes the same release as the builtin.
    let by_digest = stream_copy(&s, "pinned.toml", |t| {
        t.replacen(
            "plugin = \"select-images\"",
            &format!("plugin = \"{pinned}\""),
            1,
        )
    });
    let out = s.path().join("out");
    let run_pinned = |s: &Scratch| {
        compose(
            s,
            &[
                "--json",
                "run",
                by_digest.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    let o = run_pinned(&s);
    ok(&o);
    assert_eq!(events(&o, "done")[0]["result"]["digest"], expected.as_str());
    // `plugin pull` filled the plugin cache: nothing to download.
    assert_eq!(events(&o, "plugin-pulled")[0]["cached"], true);

    // A wrong digest is refused, naming both digests.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let bad = stream_copy(&s, "wrong.toml", |t| {
        t.replacen(
            "plugin = \"select-images\"",
            &format!("plugin = \"{tagged}@{wrong}\""),
            1,
        )
    });
    let err = fails(&compose(
        &s,
        &["run", bad.to_str().unwrap(), "--out", out.to_str().unwrap()],
    ));
    assert!(
        err.contains("digest mismatch") && err.contains(&wrong) && err.contains(digest),
        "{err}"
    );

    // `compose lock` pins the tag; `--locked` runs, then refuses once the tag moves.
    let by_tag = stream_copy(&s, "tagged.toml", |t| {
        t.replacen(
            "plugin = \"select-images\"",
            &format!("plugin = \"{tagged}\""),
            1,
        )
    });
    let locked_run = |s: &Scratch| {
        compose(
            s,
            &[
                "run",
                by_tag.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--locked",
            ],
        )
    };
    let err = fails(&locked_run(&s));
    assert!(
        err.contains("tagged.lock") && err.contains("compose lock"),
        "{err}"
    );
    ok(&compose(&s, &["lock", by_tag.to_str().unwrap()]));
    let lock = std::fs::read_to_string(by_tag.with_extension("lock")).unwrap();
    assert!(lock.contains(&format!("manifest = \"{digest}\"")), "{lock}");
    assert!(lock.contains(BASE), "{lock}");
    ok(&locked_run(&s));
    ok(&compose(
        &s,
        &[
            "plugin",
            "push",
            wasm.to_str().unwrap(),
            &tagged,
            "--version",
            "9.9.9",
        ],
    ));
    let err = fails(&locked_run(&s));
    assert!(err.contains("drifted"), "{err}");
    assert!(
        err.contains(&format!(
            "stage `select`: plugin `{tagged}` locked at `{digest}`"
        )),
        "{err}"
    );

    // With the registry gone, the pinned plugin still runs: it comes from the cache.
    registry.stop();
    let o = run_pinned(&s);
    ok(&o);
    let pulled = &events(&o, "plugin-pulled")[0];
    assert_eq!(pulled["cached"], true);
    assert_eq!(pulled["contacted"], false);
}

#[test]
fn a_push_stopped_midway_leaves_no_tag_and_a_rerun_completes() {
    let s = Scratch::new();
    let registry = Registry::with_mirror();
    let stream = stream_copy(&s, "scos.toml", |t| from_registry(t, &registry.addr));
    let out = s.path().join("okd-scos");

    // A proxy in front of the registry that kills it when the manifest upload starts: every
    // blob went through, the manifest and the tag did not.
    let proxy = KillingProxy::start(&registry);
    let through_proxy = format!("{}/okd/scos-release:{RELEASE}", proxy.addr);
    let o = compose(
        &s,
        &[
            "run",
            stream.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--push",
            "--to",
            &through_proxy,
        ],
    );
    let err = fails(&o);
    assert!(proxy.tripped(), "the manifest upload never started:\n{err}");
    assert!(
        err.contains(&proxy.addr),
        "the error names the registry: {err}"
    );
    assert!(
        err.contains("okd/scos-release"),
        "the error names the reference: {err}"
    );
    assert!(err.contains("attempts"), "the push was retried: {err}");
    assert!(err.contains("run again to retry the push"), "{err}");
    // The output layout is written all the same.
    let local = skopeo_inspect(&out, RELEASE, &[]);

    // The registry back on the same storage: no tag points at the half-pushed release.
    let mut registry = registry;
    registry.restart();
    let target = format!("{}/okd/scos-release:{RELEASE}", registry.addr);
    let missing = skopeo_remote(&target, &["--raw"]).unwrap_err();
    assert!(missing.contains("manifest unknown"), "{missing}");

    // Pushing again completes, uploading nothing twice.
    let stream = stream_copy(&s, "scos.toml", |t| from_registry(t, &registry.addr));
    let o = compose(
        &s,
        &[
            "--json",
            "run",
            stream.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--push",
            "--to",
            &target,
        ],
    );
    ok(&o);
    let pushed = &events(&o, "pushed")[0]["result"];
    assert_eq!(
        pushed["uploaded"], 0,
        "the blobs were already there: {pushed}"
    );
    let remote = skopeo_remote(&target, &[]).unwrap();
    assert_eq!(remote["Digest"], local["Digest"]);
}

#[test]
fn credentials_come_from_the_flag_or_the_auth_file() {
    let s = Scratch::new();
    let registry = Registry::with_auth();
    let wasm = plugin_wasm("select-images");
    let reference = format!("oci://{}/compose/select-images:1.0", registry.addr);
    let push = |creds: &[&str]| {
        let mut args = creds.to_vec();
        args.extend(["plugin", "push", wasm.to_str().unwrap(), &reference]);
        compose(&s, &args)
    };
    let err = fails(&push(&[]));
    assert!(
        err.contains("refused access") && err.contains("--creds"),
        "{err}"
    );
    let err = fails(&push(&["--creds", "bot:wrong"]));
    assert!(err.contains("refused access"), "{err}");
    ok(&push(&["--creds", "bot:s3cret"]));

    let auth = s.write(
        "auth.json",
        &format!(
            r#"{{"auths": {{"{}": {{"auth": "Ym90OnMzY3JldA=="}}}}}}"#,
            registry.addr
        ),
    );
    let out = s.path().join("p.wasm");
    let pull = ["plugin", "pull", &reference, "--out", out.to_str().unwrap()];
    ok(&compose_env(
        &s,
        &pull,
        &[("REGISTRY_AUTH_FILE", auth.to_str().unwrap())],
    ));
    // `~/.docker/config.json` works too (HOME is the scratch directory).
    std::fs::create_dir_all(s.path().join(".docker")).unwrap();
    std::fs::copy(&auth, s.path().join(".docker/config.json")).unwrap();
    std::fs::remove_dir_all(s.path().join("cache")).unwrap();
    ok(&compose(&s, &pull));
}

#[test]
fn plain_http_is_refused_for_registries_off_loopback() {
    let s = Scratch::new();
    // Not on loopback and not named insecure: refused in the stream file, with a hint.
    let stream = stream_copy(&s, "remote.toml", |t| {
        from_registry(t, "http://registry.invalid:5000")
    });
    let err = fails(&compose(&s, &["validate", stream.to_str().unwrap()]));
    assert!(
        err.contains("plain HTTP is only allowed for loopback hosts"),
        "{err}"
    );
    assert!(
        err.contains("--insecure-registry registry.invalid"),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------------
// A proxy that stops the registry when the manifest upload begins.

struct KillingProxy {
    addr: String,
    tripped: Arc<AtomicBool>,
}

impl KillingProxy {
    fn start(registry: &Registry) -> KillingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let tripped = Arc::new(AtomicBool::new(false));
        let upstream = registry.addr.clone();
        let child = registry.child.clone();
        let flag = tripped.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if flag.load(Ordering::SeqCst) {
                    // The registry is gone: connections are dropped at once.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let flag = flag.clone();
                let child = child.clone();
                // Client to registry: watch for a manifest PUT.
                std::thread::spawn(move || {
                    let (mut from, mut to) = (client, server);
                    let mut window: Vec<u8> = Vec::new();
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        window.extend_from_slice(&buf[..n]);
                        if manifest_put(&window) {
                            flag.store(true, Ordering::SeqCst);
                            kill(&child);
                            let _ = from.shutdown(Shutdown::Both);
                            let _ = to.shutdown(Shutdown::Both);
                            break;
                        }
                        let keep = window.len().saturating_sub(256);
                        window.drain(..keep);
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                });
                // Registry to client: copied as is.
                std::thread::spawn(move || {
                    let (mut from, mut to) = (s2, c2);
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        });
        KillingProxy { addr, tripped }
    }

    fn tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }
}

/// Whether `bytes` hold the request line of a manifest upload.
fn manifest_put(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.match_indices("PUT /v2/").any(|(i, _)| {
        text[i..]
            .split("\r\n")
            .next()
            .is_some_and(|line| line.contains("/manifests/") && line.ends_with("HTTP/1.1"))
    })
}

// ------------------------------------------------------------------------------------------
// The figures of BENCHMARKS.md, section "Registries (issue 4)":
//   cargo test --release --test e2e registry::figures -- --ignored --nocapture

/// Runs `command` and returns its wall time in milliseconds, asserting success.
fn timed(command: &mut Command) -> (f64, Output) {
    let started = Instant::now();
    let o = command.output().unwrap();
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    assert!(o.status.success(), "{command:?} failed:\n{}", stderr(&o));
    (millis, o)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[test]
#[ignore = "prints the registry figures of BENCHMARKS.md"]
fn figures() {
    const RUNS: usize = 5;
    let s = Scratch::new();
    let layout = s.path().join("okd-scos");
    ok(&compose(
        &s,
        &[
            "run",
            "streams/scos.toml",
            "--out",
            layout.to_str().unwrap(),
        ],
    ));
    let mine = Registry::start();
    let theirs = Registry::start();
    let bin = env!("CARGO_BIN_EXE_compose");
    let push = |i: usize| {
        let mut c = Command::new(bin);
        // `--no-cache`: every figure is of a whole run, not of one that reuses stages.
        c.args(["--json", "run", "--no-cache", "streams/scos.toml", "--out"])
            .arg(&layout)
            .args(["--push", "--to"])
            .arg(format!("{}/okd/scos-release-{i}:{RELEASE}", mine.addr))
            .current_dir(repo())
            .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
            .env("CI", "true");
        c
    };
    let skopeo_push = |i: usize| {
        let mut c = tool("skopeo");
        c.args(["copy", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:{RELEASE}", layout.display()))
            .arg(format!(
                "docker://{}/okd/scos-release-{i}:{RELEASE}",
                theirs.addr
            ));
        c
    };
    let pushed = |o: &Output| {
        let e = &events(o, "pushed")[0];
        (
            e["millis"].as_f64().unwrap(),
            e["result"]["uploaded"].as_u64().unwrap(),
            e["result"]["blobs"].as_u64().unwrap(),
            e["result"]["uploaded_bytes"].as_u64().unwrap(),
        )
    };
    let (mut first, mut first_inner, mut second, mut second_inner) =
        (vec![], vec![], vec![], vec![]);
    let (mut sk_first, mut sk_second) = (vec![], vec![]);
    let mut uploads = (0, 0, 0, 0);
    for i in 0..RUNS {
        let (wall, o) = timed(&mut push(i));
        let (inner, uploaded, blobs, bytes) = pushed(&o);
        assert_eq!(uploaded, blobs, "a first push uploads every blob");
        first.push(wall);
        first_inner.push(inner);
        uploads.0 = uploaded;
        uploads.1 = bytes;
        let (wall, o) = timed(&mut push(i));
        let (inner, uploaded, _, bytes) = pushed(&o);
        assert_eq!(uploaded, 0, "an unchanged release uploads no blob");
        second.push(wall);
        second_inner.push(inner);
        uploads.2 = uploaded;
        uploads.3 = bytes;
        sk_first.push(timed(&mut skopeo_push(i)).0);
        sk_second.push(timed(&mut skopeo_push(i)).0);
    }
    // The run alone, to tell the push from the rest of `compose run --push`.
    let mut run_only = vec![];
    for _ in 0..RUNS {
        let mut c = Command::new(bin);
        c.args(["run", "--no-cache", "streams/scos.toml", "--out"])
            .arg(&layout)
            .current_dir(repo())
            .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
            .env("CI", "true");
        run_only.push(timed(&mut c).0);
    }

    // The same run reading every image from a registry instead of the mirror.
    let mirror = Registry::with_mirror();
    let remote_stream = stream_copy(&s, "scos.toml", |t| from_registry(t, &mirror.addr));
    let mut run_remote = vec![];
    for _ in 0..RUNS {
        let mut c = Command::new(bin);
        c.args(["run", "--no-cache"])
            .arg(&remote_stream)
            .arg("--out")
            .arg(s.path().join("from-registry"))
            .current_dir(repo())
            .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
            .env("CI", "true");
        run_remote.push(timed(&mut c).0);
    }

    // `compose info REF` straight from the registry (as `oc adm release info REF`), and the same
    // release from the mirror for reference.
    let base_path = BASE.strip_prefix("quay.io/").unwrap();
    let remote_base = format!("{}/{base_path}", mirror.addr);
    let (mut info_remote, mut info_mirror) = (vec![], vec![]);
    for _ in 0..RUNS {
        let info = |args: &[&str]| {
            let mut c = Command::new(bin);
            c.arg("info")
                .args(args)
                .current_dir(repo())
                .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
                .env("CI", "true");
            c
        };
        info_remote.push(timed(&mut info(&[&remote_base])).0);
        info_mirror.push(timed(&mut info(&[BASE, "--stream", "streams/scos.toml"])).0);
    }

    // Plugin pulls: cold (empty cache / empty layout) and cached, by tag and by digest.
    let wasm = plugin_wasm("select-images");
    let tagged = format!("oci://{}/compose/select-images:1.0", mine.addr);
    let o = compose(&s, &["plugin", "push", wasm.to_str().unwrap(), &tagged]);
    ok(&o);
    let pinned = stdout(&o).split_whitespace().nth(1).unwrap().to_string();
    let (mut cold, mut warm_tag, mut warm_digest, mut sk_cold, mut sk_warm) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..RUNS {
        let cache = s.path().join(format!("plugin-cache-{i}"));
        let pull = |reference: &str| {
            let mut c = Command::new(bin);
            c.args(["plugin", "pull", reference, "--out"])
                .arg(s.path().join("p.wasm"))
                .env("COMPOSE_CACHE_DIR", &cache)
                .env("CI", "true");
            c
        };
        cold.push(timed(&mut pull(&tagged)).0);
        warm_tag.push(timed(&mut pull(&tagged)).0);
        warm_digest.push(timed(&mut pull(&pinned)).0);
        let dir = s.path().join(format!("skopeo-plugin-{i}"));
        let copy = || {
            let mut c = tool("skopeo");
            c.args(["copy", "-q", "--src-tls-verify=false"])
                .arg(format!("docker://{}/compose/select-images:1.0", mine.addr))
                .arg(format!("oci:{}:1.0", dir.display()));
            c
        };
        sk_cold.push(timed(&mut copy()).0);
        sk_warm.push(timed(&mut copy()).0);
    }

    let size = std::fs::metadata(&wasm).unwrap().len();
    println!("\n| what (median of {RUNS}, wall ms) | compose | skopeo 1.9.3 |");
    println!("|---|---:|---:|");
    println!(
        "| first push of the scos release ({} blobs, {} KiB uploaded) | {:.0} (push alone: {:.0}) | {:.0} |",
        uploads.0,
        uploads.1.div_ceil(1024),
        median(first),
        median(first_inner),
        median(sk_first)
    );
    println!(
        "| second push, unchanged release ({} blobs, {} bytes uploaded) | {:.0} (push alone: {:.0}) | {:.0} |",
        uploads.2,
        uploads.3,
        median(second),
        median(second_inner),
        median(sk_second)
    );
    println!(
        "| `compose run` without `--push` (for reference) | {:.0} | |",
        median(run_only)
    );
    println!(
        "| `compose run`, every image read from the registry (no mirror) | {:.0} | |",
        median(run_remote)
    );
    println!(
        "| `compose info REF`, the base release read from the registry | {:.0} | |",
        median(info_remote)
    );
    println!(
        "| `compose info REF --stream streams/scos.toml`, the same release from the mirror | {:.0} | |",
        median(info_mirror)
    );
    println!(
        "| plugin pull, cold ({size} B component; skopeo: to an empty OCI layout) | {:.0} | {:.0} |",
        median(cold),
        median(sk_cold)
    );
    println!(
        "| plugin pull, cached, by tag (one manifest request; skopeo: same layout again) | {:.0} | {:.0} |",
        median(warm_tag),
        median(sk_warm)
    );
    println!(
        "| plugin pull, cached, pinned by digest (no network) | {:.0} | |",
        median(warm_digest)
    );
}
