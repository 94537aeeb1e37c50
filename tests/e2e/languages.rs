//! Plugins in other languages (issue 6): the community streams with the Python and JavaScript
//! example plugins, deny-only `wasi:http`, and `compose plugin new` for
//! each language, all through the real binary and the real toolchains (componentize-py,
//! componentize-js through Node, cargo for wasm32-wasip2; `.ci/run` installs them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::*;

/// Runs a build command, failing the test with its output and a hint when it fails.
fn build(command: &mut Command, what: &str) {
    let o = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {command:?}: {e}; run `.ci/run`"));
    assert!(
        o.status.success(),
        "{what} failed ({:?}); run `.ci/run` to install the toolchains\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
}

/// `examples/plugins/hpc-python/hpc.wasm`, built once per test process with its `build.sh`.
pub(crate) fn hpc_plugin() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = repo().join("examples/plugins/hpc-python");
        build(
            Command::new("python3")
                .args(["-m", "unittest", "--quiet"])
                .current_dir(&dir),
            "the HPC plugin's unit tests",
        );
        build(
            &mut Command::new(dir.join("build.sh")),
            "examples/plugins/hpc-python/build.sh",
        );
        dir.join("hpc.wasm")
    })
}

/// `examples/plugins/edge-js/node_modules`, installed once (`npm install`) if missing, as
/// `.ci/run` installs it: `--no-save`, so the tracked `package-lock.json` is not rewritten.
fn node_modules() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = repo().join("examples/plugins/edge-js");
        let modules = dir.join("node_modules");
        if !modules.join("@bytecodealliance/componentize-js").is_dir() {
            build(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--no-save"])
                    .current_dir(&dir),
                "npm install in examples/plugins/edge-js",
            );
        }
        modules
    })
}

/// `examples/plugins/edge-js/edge.wasm`, built once per test process (tests, then build).
pub(crate) fn edge_plugin() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = repo().join("examples/plugins/edge-js");
        node_modules();
        build(
            Command::new("npm").args(["test"]).current_dir(&dir),
            "the edge plugin's unit tests",
        );
        build(
            Command::new("node").arg("build.mjs").current_dir(&dir),
            "examples/plugins/edge-js/build.mjs",
        );
        dir.join("edge.wasm")
    })
}

/// Runs a repository stream into the scratch directory; returns the report and the extracted
/// `release-manifests/`.
fn run_stream(s: &Scratch, stream: &str, release: &str) -> (serde_json::Value, PathBuf) {
    let out = s.path().join("out");
    ok(&s.compose(&["run", stream, "--out", out.to_str().unwrap()]));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let x = s.path().join("extracted");
    extract_top_layer(&out, release, &x);
    (report, x.join("release-manifests"))
}

/// The findings of one stage of a report.
fn findings<'a>(report: &'a serde_json::Value, stage: &str) -> &'a Vec<serde_json::Value> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .unwrap_or_else(|| panic!("no stage `{stage}` in {report}"))["findings"]
        .as_array()
        .unwrap()
}

/// Asserts the stock test stage ran and every one of its checks passed.
fn test_stage_passed(report: &serde_json::Value) {
    let found = findings(report, "test");
    assert!(
        found.len() >= 7,
        "the test stage ran every check: {found:?}"
    );
    assert!(
        found.iter().all(|f| f["passed"] == true),
        "a check of the test stage failed: {found:?}"
    );
}

fn tag_names(manifests: &Path) -> Vec<String> {
    let refs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifests.join("image-references")).unwrap())
            .unwrap();
    refs["spec"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn hpc_stream_adds_a_huge_page_machine_config_with_the_python_plugin() {
    hpc_plugin();
    let s = Scratch::new();
    let (report, manifests) = run_stream(&s, "streams/hpc.toml", "4.17.0-okd-scos-hpc.0");

    let mc = read(&manifests.join("0000_90_hpc_01_machineconfig-hpc-hugepages.yaml"));
    assert!(mc.contains("kind: MachineConfig"), "{mc}");
    assert!(
        mc.contains("machineconfiguration.openshift.io/role: hpc"),
        "{mc}"
    );
    for arg in [
        "- hugepagesz=1G",
        "- hugepages=64",
        "- default_hugepagesz=1G",
        "nohz_full=2-31",
        "- intel_iommu=on",
    ] {
        assert!(
            mc.contains(arg),
            "`{arg}` missing from the MachineConfig:\n{mc}"
        );
    }
    let tuned = read(&manifests.join("0000_90_hpc_02_tuned-openshift-node-hpc.yaml"));
    assert!(tuned.contains("kind: Tuned") && tuned.contains("name: openshift-node-hpc"));
    assert!(tuned.contains("include=openshift-node"), "{tuned}");
    let pool = read(&manifests.join("0000_90_hpc_00_machineconfigpool-hpc.yaml"));
    assert!(pool.contains("kind: MachineConfigPool"), "{pool}");

    let hpc = findings(&report, "hpc");
    assert_eq!(
        hpc.iter()
            .filter(|f| f["check"] == "manifest-added")
            .count(),
        3,
        "{hpc:?}"
    );
    assert!(hpc.iter().all(|f| f["passed"] == true), "{hpc:?}");
    test_stage_passed(&report);
}

#[test]
fn edge_stream_drops_optional_operators_with_the_javascript_plugin() {
    edge_plugin();
    let s = Scratch::new();
    let (report, manifests) = run_stream(&s, "streams/edge.toml", "4.17.0-okd-scos-edge.0");

    let tags = tag_names(&manifests);
    for gone in [
        "cluster-baremetal-operator",
        "baremetal-operator",
        "ironic",
        "ironic-agent",
        "cluster-autoscaler",
        "cluster-autoscaler-operator",
        "insights-operator",
        "cluster-samples-operator",
    ] {
        assert!(
            !tags.iter().any(|t| t == gone),
            "image `{gone}` is still in the release"
        );
    }
    for kept in [
        "console",
        "machine-config-operator",
        "stream-coreos",
        "kube-rbac-proxy",
    ] {
        assert!(tags.iter().any(|t| t == kept), "image `{kept}` was dropped");
    }
    let names: Vec<String> = std::fs::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for operator in [
        "cluster-baremetal-operator",
        "cluster-autoscaler-operator",
        "insights-operator",
        "cluster-samples-operator",
    ] {
        let left: Vec<&String> = names
            .iter()
            .filter(|n| n.contains(&format!("_{operator}_")))
            .collect();
        assert!(
            left.is_empty(),
            "manifests of `{operator}` remain: {left:?}"
        );
    }
    assert!(names.iter().any(|n| n.contains("_console-operator_")));

    let trim = findings(&report, "trim");
    let count = |check: &str| trim.iter().filter(|f| f["check"] == check).count();
    assert_eq!(count("operator-dropped"), 4, "{trim:?}");
    assert_eq!(count("image-dropped"), 13, "{trim:?}");
    assert!(count("manifest-dropped") > 40, "{trim:?}");
    assert!(trim.iter().all(|f| f["passed"] == true), "{trim:?}");
    test_stage_passed(&report);

    // `plan` shows the JavaScript component's wasi:http imports as linked deny-only.
    let plan = s.compose(&["plan", "streams/edge.toml"]);
    ok(&plan);
    let text = stdout(&plan);
    assert!(
        text.lines()
            .any(|l| l.contains("wasi:http/outgoing-handler")
                && l.contains("linked, every request denied")),
        "{text}"
    );
}

#[test]
fn openstack_stream_patches_with_stock_stages_only() {
    let s = Scratch::new();
    let (report, manifests) =
        run_stream(&s, "streams/openstack.toml", "4.17.0-okd-scos-openstack.0");
    let defaults =
        read(&manifests.join("0000_50_okd-openstack_01_cloud-provider-defaults_configmap.yaml"));
    assert!(defaults.contains("lb-provider = ovn"), "{defaults}");
    let info = read(&manifests.join("0000_50_okd-openstack_00_stream-info_configmap.yaml"));
    assert!(info.contains("stream: okd-scos-openstack"), "{info}");
    let console = std::fs::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("_console-operator_"))
        .map(|p| read(&p))
        .find(|t| t.contains("kind: Deployment"))
        .unwrap();
    assert!(console.contains("OKD_STREAM"), "{console}");
    assert!(console.contains("okd-scos-openstack"), "{console}");
    let ccm = std::fs::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy()
                .contains("_cluster-cloud-controller-manager-operator_11_deployment")
        })
        .map(|p| read(&p))
        .next()
        .unwrap();
    assert!(ccm.contains("okd.io/platform: openstack"), "{ccm}");
    let patch = findings(&report, "patch");
    assert!(
        patch
            .iter()
            .any(|f| f["check"] == "patch-applied" && f["subject"] == "ccm-platform"),
        "{patch:?}"
    );
    test_stage_passed(&report);
}

/// A stream over the sample mirror with one stage (`only`) running `plugin` with `config`.
pub(crate) fn one_stage_stream(s: &Scratch, plugin: &str, config: &str) -> PathBuf {
    one_stage_stream_over(
        s,
        &repo().join("examples/mirror"),
        plugin,
        &format!("config = {config}"),
    )
}

/// A stream (`one.toml`) over the mirror `mirror` with one stage (`only`) running `plugin`,
/// the stage table ending with `stage_lines` (its config, grants, limits).
pub(crate) fn one_stage_stream_over(
    s: &Scratch,
    mirror: &Path,
    plugin: &str,
    stage_lines: &str,
) -> PathBuf {
    s.write(
        "one.toml",
        &format!(
            r#"[stream]
name = "one"
release = "4.17.0-okd-scos.0"
from = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116"

[registries."quay.io"]
mirror = "oci:{}"

[[stage]]
name = "only"
plugin = "{plugin}"
{stage_lines}
"#,
            mirror.display()
        ),
    )
}

#[test]
fn an_http_request_from_a_guest_is_denied() {
    let s = Scratch::new();
    let out = s.path().join("out");
    // Runs guest-http with `config`, which must succeed (its finding says how it was refused).
    let run = |config: &str| {
        let stream = one_stage_stream(&s, &crate::sandbox::guest("guest-http"), config);
        let o = compose_run(&s, (&stream, &out), false, &[], &[]);
        ok(&o);
        o
    };
    let o = run("{}");
    assert!(
        stderr(&o).contains("denied an outgoing HTTP request to https://example.com/"),
        "{}",
        stderr(&o)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let found = findings(&report, "only");
    assert_eq!(found[0]["check"], "http-denied");
    assert_eq!(found[0]["passed"], true, "{found:?}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("HttpRequestDenied")
    );

    // To a port listening on loopback: denied too, and nothing reaches it.
    let listener = Unreached::listen();
    let address = listener.address.clone();
    let o = run(&format!("{{ authority = \"{address}\" }}"));
    assert!(
        stderr(&o).contains(&format!(
            "denied an outgoing HTTP request to http://{address}/"
        )),
        "{}",
        stderr(&o)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(findings(&report, "only")[0]["passed"], true);
    listener.check();
}

/// `compose plugin new --lang LANG NAME --dir DIR`, checked for success; returns DIR.
fn scaffold(s: &Scratch, lang: &str, name: &str) -> PathBuf {
    let dir = s.path().join(name);
    let o = s.compose(&[
        "plugin",
        "new",
        "--lang",
        lang,
        name,
        "--dir",
        dir.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(
        stdout(&o).contains(&format!("created {lang} plugin `{name}`")),
        "{}",
        stdout(&o)
    );
    dir
}

/// Runs a scaffolded component in a stream and checks the ConfigMap it adds.
fn scaffold_runs(s: &Scratch, name: &str, wasm: &Path) {
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    let stream = one_stage_stream(
        s,
        &wasm.display().to_string(),
        r#"{ message = "it works" }"#,
    );
    let out = s.path().join("out");
    ok(&s.compose(&[
        "run",
        stream.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let x = s.path().join("extracted");
    extract_top_layer(&out, "4.17.0-okd-scos.0", &x);
    let configmap = read(
        &x.join("release-manifests")
            .join(format!("0000_90_{name}_00_configmap.yaml")),
    );
    assert!(configmap.contains("message: \"it works\""), "{configmap}");
}

#[test]
fn plugin_new_rust_builds_tests_and_runs() {
    let s = Scratch::new();
    let generated = scaffold(&s, "rust", "stamp-rust");
    // The project is self-contained: the SDK is vendored as `sdk/`, nothing points back into
    // this repository, and it builds after being moved elsewhere.
    let manifest = read(&generated.join("Cargo.toml"));
    assert!(
        manifest.contains("compose-plugin-sdk = { path = \"sdk\" }"),
        "{manifest}"
    );
    for file in ["Cargo.toml", "sdk/Cargo.toml", "sdk/src/lib.rs"] {
        let text = read(&generated.join(file));
        assert!(
            !text.contains(repo().to_str().unwrap()),
            "{file} names the compose source tree:\n{text}"
        );
    }
    let dir = s.path().join("moved/elsewhere/stamp-rust");
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    std::fs::rename(&generated, &dir).unwrap();
    // One target directory for every run of this test: the SDK's dependencies build once.
    let target = repo().join("target/wasm-scaffold");
    build(
        cargo()
            .args(["test", "--release", "--offline"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&dir),
        "cargo test in the Rust scaffold",
    );
    build(
        cargo()
            .args([
                "build",
                "--release",
                "--offline",
                "--target",
                "wasm32-wasip2",
            ])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(&dir),
        "cargo build --target wasm32-wasip2 in the Rust scaffold",
    );
    scaffold_runs(
        &s,
        "stamp-rust",
        &target.join("wasm32-wasip2/release/stamp_rust.wasm"),
    );
}

#[test]
fn plugin_new_python_builds_tests_and_runs() {
    let s = Scratch::new();
    let dir = scaffold(&s, "python", "stamp-python");
    build(
        &mut Command::new(dir.join("build.sh")),
        "build.sh of the Python scaffold",
    );
    scaffold_runs(&s, "stamp-python", &dir.join("stamp-python.wasm"));
}

#[test]
fn plugin_new_js_builds_tests_and_runs() {
    let s = Scratch::new();
    let dir = scaffold(&s, "js", "stamp-js");
    // The scaffold's `npm install` would fetch the same componentize-js the edge example
    // pinned; reuse that installation.
    std::os::unix::fs::symlink(node_modules(), dir.join("node_modules")).unwrap();
    build(
        Command::new("npm").args(["run", "build"]).current_dir(&dir),
        "npm run build in the JavaScript scaffold",
    );
    scaffold_runs(&s, "stamp-js", &dir.join("stamp-js.wasm"));
}

#[test]
fn plugin_new_refuses_bad_names_and_existing_directories() {
    let s = Scratch::new();
    let err = fails(&s.compose(&["plugin", "new", "--lang", "rust", "Bad_Name"]));
    assert!(err.contains("is not a plugin name"), "{err}");
    let dir = s.path().join("taken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keep"), "x").unwrap();
    let err = fails(&s.compose(&[
        "plugin",
        "new",
        "--lang",
        "python",
        "ok-name",
        "--dir",
        dir.to_str().unwrap(),
    ]));
    assert!(err.contains("already exists and is not empty"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("keep")).unwrap(), "x");
}
