//! The container image of compose itself: `compose image build` on the REAL static binary
//! (built here for `x86_64-unknown-linux-musl`), read back with skopeo, unpacked with `tar`,
//! and the unpacked `/usr/bin/compose` run on the host (it is static) to compose the SCOS
//! release with the same digest as the workspace's own binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support::*;

/// The static target.
const MUSL: &str = "x86_64-unknown-linux-musl";
/// A fixed `SOURCE_DATE_EPOCH` (2023-11-14T22:13:20Z).
const EPOCH: &str = "1700000000";
/// The image's default tag: the compose version.
const TAG: &str = env!("CARGO_PKG_VERSION");

/// The static compose the image tests put into images, once per test process.
///
/// When the tests were built for `x86_64-unknown-linux-musl` (as CI builds them: one compile
/// serves every test), the compose under test is itself static: it is used, stripped as the
/// `dist` profile strips it, into `target/tmp/`. Otherwise the static binary is built here
/// (`cargo build --profile dist --locked --target x86_64-unknown-linux-musl --bin compose` in
/// the repository, the workspace's target directory) and
/// `target/x86_64-unknown-linux-musl/dist/compose` returned.
pub(crate) fn static_compose() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let under_test = Path::new(env!("CARGO_BIN_EXE_compose"));
        let bytes = std::fs::read(under_test).expect("the compose under test is readable");
        if compose_image::check_static(under_test, &bytes).is_ok() {
            stripped_copy(under_test)
        } else {
            build_static()
        }
    })
}

/// `strip -o target/tmp/static-compose-PID BINARY` (binutils): the static compose under test
/// without its symbols and line tables, as `--profile dist` builds it.
fn stripped_copy(binary: &Path) -> PathBuf {
    let copy = per_process("static-compose-");
    let o = tool("strip")
        .arg("-o")
        .arg(&copy)
        .arg(binary)
        .output()
        .expect("strip runs");
    assert!(o.status.success(), "strip failed: {}", stderr(&o));
    copy
}

/// Builds the static binary with the `dist` profile; returns its path.
fn build_static() -> PathBuf {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc runs");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    assert!(
        sysroot.join("lib/rustlib").join(MUSL).is_dir(),
        "the Rust target `{MUSL}` is not installed (no `{}`): run `.ci/run` or `rustup target add {MUSL}`",
        sysroot.join("lib/rustlib").join(MUSL).display()
    );
    let musl_gcc = Command::new("sh")
        .args(["-c", "command -v musl-gcc"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        musl_gcc,
        "`musl-gcc` is missing (the static build compiles C code with it): run `.ci/run` or `apt-get install -y musl-tools`"
    );
    let o = cargo()
        .args(["build", "--profile", "dist", "--locked", "--target", MUSL])
        .args(["--bin", "compose"])
        .current_dir(repo())
        .output()
        .expect("cargo runs");
    let log = stderr(&o);
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    assert!(
        o.status.success(),
        "the static build failed (`cargo build --profile dist --locked --target {MUSL} --bin compose`):\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    let binary = repo().join("target").join(MUSL).join("dist/compose");
    assert!(binary.is_file(), "`{}` was not built", binary.display());
    binary
}

/// A dynamically linked executable of the system (`sh`, through its links): what
/// `compose image build` must refuse.
fn dynamic_executable() -> PathBuf {
    let o = Command::new("sh")
        .args(["-c", "command -v sh"])
        .output()
        .expect("sh runs");
    let sh = std::fs::canonicalize(stdout(&o).trim()).expect("sh resolves");
    let bytes = std::fs::read(&sh).unwrap();
    assert!(
        compose_image::check_static(&sh, &bytes).is_err(),
        "`{}` is static: the test needs a dynamically linked executable",
        sh.display()
    );
    sh
}

/// `compose ARGS` (the workspace's binary) with `SOURCE_DATE_EPOCH` = [`EPOCH`].
fn compose_at_epoch(s: &Scratch, args: &[&str]) -> Output {
    compose_env(s, args, &[("SOURCE_DATE_EPOCH", EPOCH)])
}

/// `compose image build --binary BINARY --out OUT [extra]`; returns the printed digest after
/// checking the rest of the line.
fn image_build(s: &Scratch, binary: &Path, out: &Path, extra: &[&str]) -> (String, Output) {
    let mut args = vec![
        "image",
        "build",
        "--binary",
        binary.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = compose_at_epoch(s, &args);
    ok(&o);
    let line = stdout(&o);
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields.len(),
        3,
        "`<digest> <tag> <out>` expected, got {line:?}"
    );
    assert!(fields[0].starts_with("sha256:"), "{line}");
    assert_eq!(fields[1], TAG);
    assert_eq!(fields[2], out.to_str().unwrap());
    (fields[0].to_string(), o)
}

/// Extracts every layer of `layout:TAG`, base first, into `rootfs` with the system `tar`;
/// returns `tar -tv` listings of the layers.
fn unpack(layout: &Path, rootfs: &Path) -> Vec<String> {
    let manifest = skopeo_inspect(layout, TAG, &["--raw"]);
    std::fs::create_dir_all(rootfs).unwrap();
    let mut listings = Vec::new();
    for layer in manifest["layers"].as_array().expect("layers") {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let digest = layer["digest"].as_str().unwrap();
        let blob = layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        let o = tool("tar")
            .args(["-xzf"])
            .arg(&blob)
            .args(["--no-same-owner", "-C"])
            .arg(rootfs)
            .output()
            .unwrap();
        assert!(o.status.success(), "tar -x failed: {}", stderr(&o));
        let o = tool("tar")
            .args(["--numeric-owner", "-tvzf"])
            .arg(&blob)
            .output()
            .unwrap();
        assert!(o.status.success(), "tar -t failed: {}", stderr(&o));
        listings.push(stdout(&o));
    }
    listings
}

/// The `tar -tv` line of `path` in `listing`, split into fields.
fn listed<'a>(listing: &'a str, path: &str) -> Vec<&'a str> {
    listing
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.last() == Some(&path))
        .unwrap_or_else(|| panic!("`{path}` is not in the layer:\n{listing}"))
}

#[test]
fn the_image_is_reproducible_and_runs_the_real_compose() {
    let s = Scratch::new();
    let binary = static_compose();
    let (a, b) = (s.path().join("A"), s.path().join("B"));
    let started = std::time::Instant::now();
    let (digest, first) = image_build(&s, binary, &a, &[]);
    let millis = started.elapsed().as_millis();
    let (again, _) = image_build(&s, binary, &b, &[]);
    assert_eq!(digest, again, "two builds of the same inputs differ");
    assert_eq!(
        snapshot(&a)
            .into_iter()
            .map(|(p, bytes)| (p.strip_prefix(&a).unwrap().to_path_buf(), bytes))
            .collect::<Vec<_>>(),
        snapshot(&b)
            .into_iter()
            .map(|(p, bytes)| (p.strip_prefix(&b).unwrap().to_path_buf(), bytes))
            .collect::<Vec<_>>(),
        "the two layouts are not byte-identical"
    );
    eprintln!(
        "compose image build: {digest} in {millis} ms\n{}",
        stderr(&first)
    );

    // skopeo reads it: platform, labels, user, entrypoint.
    let info = skopeo_inspect(&a, TAG, &[]);
    assert_eq!(info["Digest"], digest.as_str());
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Created"], "2023-11-14T22:13:20Z");
    let labels = &info["Labels"];
    assert_eq!(labels["org.opencontainers.image.title"], "compose");
    assert_eq!(labels["org.opencontainers.image.version"], TAG);
    assert_eq!(
        labels["org.opencontainers.image.source"],
        env!("CARGO_PKG_REPOSITORY")
    );
    assert!(labels["org.opencontainers.image.description"].is_string());
    assert_eq!(info["Layers"].as_array().unwrap().len(), 2);
    let config = skopeo_inspect(&a, TAG, &["--config"]);
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/compose"])
    );
    assert_eq!(config["config"]["WorkingDir"], "/home/compose");
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"COMPOSE_CACHE_DIR=/var/cache/compose"),
        "{env:?}"
    );

    // Unpacked with tar: the layout of a minimal base, owners and modes as intended.
    let rootfs = s.path().join("rootfs");
    let listings = unpack(&a, &rootfs);
    assert_eq!(listings.len(), 2);
    let home = listed(&listings[0], "home/compose/");
    assert_eq!(home[..2], ["drwxr-xr-x", "65532/65532"], "{home:?}");
    let tmp = listed(&listings[0], "tmp/");
    assert_eq!(tmp[..2], ["drwxrwxrwt", "0/0"], "{tmp:?}");
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd.contains("compose:x:65532:65532::/home/compose:/sbin/nologin"),
        "{passwd}"
    );
    let bin = listed(&listings[1], "usr/bin/compose");
    assert_eq!(bin[..2], ["-rwxr-xr-x", "0/0"], "{bin:?}");
    assert_eq!(
        std::fs::read(rootfs.join("usr/bin/compose")).unwrap(),
        std::fs::read(binary).unwrap()
    );

    // The unpacked binary is the real tool: it runs on the host (static) and composes the
    // SCOS release with the digest the workspace's binary gives.
    let inside = rootfs.join("usr/bin/compose");
    let version = Command::new(&inside).arg("--version").output().unwrap();
    ok(&version);
    assert_eq!(stdout(&version).trim(), format!("compose {TAG}"));
    let out = s.path().join("from-image");
    let run = Command::new(&inside)
        .args(["run", "streams/scos.toml", "--out"])
        .arg(&out)
        .current_dir(repo())
        .env("COMPOSE_CACHE_DIR", s.path().join("image-cache"))
        .env("CI", "true")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    ok(&run);
    let expected = s.compose(&[
        "run",
        "streams/scos.toml",
        "--out",
        s.path().join("from-workspace").to_str().unwrap(),
    ]);
    ok(&expected);
    let digest_of = |o: &Output| stdout(o).split_whitespace().next().unwrap().to_string();
    assert_eq!(
        digest_of(&run),
        digest_of(&expected),
        "the image's compose and the workspace's compose compose different releases"
    );
}

#[test]
fn a_dynamic_binary_is_refused_and_the_output_untouched() {
    let s = Scratch::new();
    let out = s.path().join("image");
    image_build(&s, static_compose(), &out, &[]);
    let before = snapshot(&out);

    let dynamic = dynamic_executable();
    let o = compose_at_epoch(
        &s,
        &[
            "image",
            "build",
            "--binary",
            dynamic.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let err = fails(&o);
    assert!(err.contains("is dynamically linked"), "{err}");
    assert!(
        err.contains("PT_INTERP interpreter is `/") && err.contains("/ld-"),
        "the message names the interpreter: {err}"
    );
    assert!(
        err.contains("cargo build --profile dist --target x86_64-unknown-linux-musl --bin compose"),
        "{err}"
    );
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert_eq!(snapshot(&out), before, "the output changed");
    let leftovers: Vec<_> = std::fs::read_dir(s.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".image"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_image_is_pushed_like_a_release() {
    let s = Scratch::new();
    let registry = crate::registry::Registry::start();
    let target = format!("{}/okd/compose:test", registry.addr);
    let out = s.path().join("image");
    let (digest, o) = image_build(
        &s,
        static_compose(),
        &out,
        &["--push", "--to", target.as_str()],
    );
    assert!(
        stderr(&o).contains(&format!("pushed  {target} {digest}")),
        "{}",
        stderr(&o)
    );
    let remote = tool("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{target}"))
        .output()
        .unwrap();
    assert!(remote.status.success(), "{}", stderr(&remote));
    let remote: serde_json::Value = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(remote["Digest"], digest.as_str());
    assert_eq!(remote["Architecture"], "amd64");
    assert_eq!(
        remote["Labels"]["org.opencontainers.image.title"],
        "compose"
    );

    // Pushed again with --json: nothing to upload, the same digest.
    let o = compose_at_epoch(
        &s,
        &[
            "--json",
            "image",
            "build",
            "--binary",
            static_compose().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--push",
            "--to",
            &target,
        ],
    );
    ok(&o);
    let events: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pushed = events.iter().find(|e| e["event"] == "pushed").unwrap();
    assert_eq!(pushed["result"]["digest"], digest.as_str());
    assert_eq!(pushed["result"]["uploaded"], 0, "{pushed}");
    let done = events.iter().find(|e| e["event"] == "done").unwrap();
    assert_eq!(done["result"]["digest"], digest.as_str());
    assert_eq!(done["result"]["layers"].as_array().unwrap().len(), 2);
}
