//! Running the binary in an isolated directory, and reading results with outside tools.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory with its own plugin cache.
///
/// The cache starts with the plugins this test process has compiled so far (hard links to
/// [`compiled_plugins`]), as a user's cache holds the plugins they ran before, and gives back
/// the ones it compiled when it is dropped: compiling the stock plugins takes about 3 s of CPU
/// and the Python example about 24 s, once per process instead of once per test. Tests about
/// compiling itself use [`Scratch::isolated`].
pub struct Scratch {
    pub dir: tempfile::TempDir,
    /// Whether this scratch shares compiled plugins with the others.
    shares_compiled: bool,
}

impl Scratch {
    /// A scratch whose plugin cache starts with the plugins compiled so far.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let shared = compiled_plugins();
        // The key that seals the shared compiled code: without it every entry is recompiled.
        std::fs::copy(shared.join(CACHE_KEY), cache.join(CACHE_KEY)).unwrap();
        for (name, path) in compiled_in(shared) {
            std::fs::hard_link(&path, cache.join(name)).unwrap();
        }
        Scratch {
            dir,
            shares_compiled: true,
        }
    }

    /// A scratch with an empty plugin cache of its own, shared with no other: for tests of
    /// compiling, of the cache's files, or that change them in place.
    pub fn isolated() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
            shares_compiled: false,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `compose ARGS` from the repository root with this scratch's cache.
    pub fn compose(&self, args: &[&str]) -> Output {
        compose_env(self, args, &[])
    }

    /// Writes a file into the scratch directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    /// Gives the plugins this scratch compiled to the ones that come after it (a file that is
    /// already shared is left as it is: links are made, never overwritten).
    fn drop(&mut self) {
        if !self.shares_compiled {
            return;
        }
        let shared = compiled_plugins();
        for (name, path) in compiled_in(&self.path().join("cache")) {
            let _ = std::fs::hard_link(&path, shared.join(name));
        }
    }
}

/// The compiled-plugin cache's key file (`host/runtime/src/cache.rs`).
const CACHE_KEY: &str = "cache.key";

/// The compiled plugins (`*.cwasm`) in a plugin cache directory, by file name.
fn compiled_in(cache: &Path) -> Vec<(std::ffi::OsString, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .map(|e| (e.file_name(), e.path()))
        .collect()
}

/// `target/tmp/PREFIXPID` for this test process, not there yet; what earlier test processes
/// that are gone left under `PREFIX` is removed.
pub fn per_process(prefix: &str) -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(prefix)
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let path = tmp.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    let _ = std::fs::remove_file(&path);
    path
}

/// This test process's shared compiled plugins: a plugin cache under `target/tmp`, made by
/// composing `streams/scos.toml` once (so it holds the stock plugins and a key), that every
/// [`Scratch::new`] starts from. Directories of test processes that are gone are removed.
pub fn compiled_plugins() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = per_process("e2e-compiled-");
        let warm = Scratch::isolated();
        let mut command = Command::new(env!("CARGO_BIN_EXE_compose"));
        command
            .args(["run", "streams/scos.toml", "--out"])
            .arg(warm.path().join("out"))
            .current_dir(repo())
            .env("COMPOSE_CACHE_DIR", &dir)
            .env("CI", "true")
            .env("HOME", warm.path());
        without_host_env(&mut command);
        let o = command.output().expect("the compose binary runs");
        ok(&o);
        assert!(
            dir.join(CACHE_KEY).is_file() && !compiled_in(&dir).is_empty(),
            "composing scos left no compiled plugins in `{}`",
            dir.display()
        );
        dir
    })
}

/// Runs `compose ARGS` from the repository root with extra environment variables.
pub fn compose_env(s: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Output {
    compose_in(s, &repo(), args, env)
}

/// `compose [--json] run STREAM --out OUT [extra]` with extra environment variables; the
/// caller asserts how it ended.
pub fn compose_run(
    s: &Scratch,
    (stream, out): (&Path, &Path),
    json: bool,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut args = Vec::with_capacity(6 + extra.len());
    if json {
        args.push("--json");
    }
    args.extend(["run", path_str(stream), "--out", path_str(out)]);
    args.extend_from_slice(extra);
    compose_env(s, &args, env)
}

/// A path as the UTF-8 text the tests' scratch paths always are.
fn path_str(path: &Path) -> &str {
    path.to_str().expect("a scratch path is UTF-8")
}

/// Removes from `command` what of the host's environment compose reads (registry
/// credentials, configuration, `SOURCE_DATE_EPOCH`, log filters, keys).
pub fn without_host_env(command: &mut Command) {
    for var in [
        "REGISTRY_AUTH_FILE",
        "DOCKER_CONFIG",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "SOURCE_DATE_EPOCH",
        "RUST_LOG",
        "COMPOSE_RELEASE_KEY",
        "COMPOSE_RELEASE_KEY_PASSPHRASE",
    ] {
        command.env_remove(var);
    }
}

/// Runs `compose ARGS` in `dir` with this scratch's plugin cache and home, and extra
/// environment variables: nothing of the caller's environment that changes a run (credentials
/// files, keys, `SOURCE_DATE_EPOCH`, log filters) reaches it.
pub fn compose_in(s: &Scratch, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_compose"));
    command
        .args(args)
        .current_dir(dir)
        .env("COMPOSE_CACHE_DIR", s.path().join("cache"))
        .env("CI", "true")
        .env("HOME", s.path());
    without_host_env(&mut command);
    command.envs(env.iter().copied());
    command.output().expect("the compose binary runs")
}

/// Copies the directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `--json` events of kind `name` a command printed, in order.
pub fn events(o: &Output, name: &str) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == name)
        .collect()
}

/// Asserts success, showing stderr otherwise.
pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "compose failed ({:?}):\n{}",
        o.status,
        stderr(o)
    );
}

/// Asserts exit code 1 and returns stderr.
pub fn fails(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1, got {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stderr(o)
}

/// `cargo`, as the test process was built with, for a nested build (the stock plugins' native
/// tests, the test guests, a scaffolded plugin, the static binary): without what the outer
/// build set that would change how or where the nested one compiles, such as the lints CI
/// runs while compiling (`RUSTC_WORKSPACE_WRAPPER=clippy-driver`, `CLIPPY_ARGS`) or a target
/// directory or target of its own.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
    ] {
        command.env_remove(var);
    }
    command
}

/// An external tool, or a failed test that says how to install it.
pub fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is required by the end-to-end tests: run `.ci/run` or `apt-get install -y skopeo umoci`"
    );
    Command::new(name)
}

/// `skopeo inspect [--raw|--config] oci:DIR:TAG` as JSON.
pub fn skopeo_inspect(layout: &Path, tag: &str, extra: &[&str]) -> serde_json::Value {
    let o = tool("skopeo")
        .arg("inspect")
        .args(extra)
        .arg(format!("oci:{}:{tag}", layout.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "skopeo inspect failed: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("skopeo prints JSON")
}

/// Extracts the top layer of the image with the system `tar` into `dest`.
pub fn extract_top_layer(layout: &Path, tag: &str, dest: &Path) {
    let manifest = skopeo_inspect(layout, tag, &["--raw"]);
    let layers = manifest["layers"].as_array().expect("layers");
    let top = layers.last().expect("a layer")["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = layout
        .join("blobs/sha256")
        .join(top.trim_start_matches("sha256:"));
    std::fs::create_dir_all(dest).unwrap();
    let o = tool("tar")
        .arg("-xzf")
        .arg(&blob)
        .arg("-C")
        .arg(dest)
        .output()
        .unwrap();
    assert!(o.status.success(), "tar failed: {}", stderr(&o));
}

/// Makes `out` look like an earlier output of compose (its marker, and a file that must
/// survive a failed run): `--out` replaces only what compose wrote.
pub fn previous_output(out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(
        out.join(".compose-output"),
        "{\"written-by\":\"compose\"}\n",
    )
    .unwrap();
    std::fs::write(out.join("previous-release"), "keep me").unwrap();
}

/// Every entry under `dir` (files and directories) with its inode, modification time and,
/// for files, bytes: equal before and after only if nothing was written, replaced or renamed.
pub fn untouched(dir: &Path) -> Vec<(PathBuf, u64, i64, i64, Vec<u8>)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let meta = std::fs::symlink_metadata(&d).unwrap();
        out.push((
            d.clone(),
            meta.ino(),
            meta.mtime(),
            meta.mtime_nsec(),
            Vec::new(),
        ));
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p, meta.ino(), meta.mtime(), meta.mtime_nsec(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// Every file under `dir` with its bytes, for "untouched" checks.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Every file of an output layout, by path relative to `dir`, except the reports and the
/// (unsigned) provenance statement, which hold timings.
pub fn release_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, _)| {
            !matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("report.json" | "junit.xml" | "report.md" | "provenance.json")
            )
        })
        .map(|(p, b)| (p.strip_prefix(dir).unwrap().to_path_buf(), b))
        .collect()
}

/// A TCP listener on loopback that nothing may reach (a stage's network is denied).
pub struct Unreached {
    listener: std::net::TcpListener,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

impl Unreached {
    /// Listens on a free loopback port.
    pub fn listen() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap().to_string();
        Unreached { listener, address }
    }

    /// Panics if a connection arrived.
    pub fn check(&self) {
        match self.listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("the listener on {} was reached: {other:?}", self.address),
        }
    }
}
