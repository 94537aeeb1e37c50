//! Patch and test stages, the run reports and `compose diff` (issue 3): the scos stream
//! patches and passes its checks, a stream that forgets the RHEL-labelled images is stopped by
//! its test stage, JUnit reports are read by a JUnit consumer nobody here wrote.

use std::path::Path;
use std::process::Command;

use crate::support::*;

const BASE: &str = "quay.io/openshift/okd:4.15.0-0.okd-2024-03-10-010116";

/// Parses a JUnit XML file with Python's `junitparser` and returns (tests, failures).
fn junit_counts(path: &Path) -> (u64, u64) {
    let script = "import sys, junitparser\n\
                  xml = junitparser.JUnitXml.fromfile(sys.argv[1])\n\
                  tests = failures = 0\n\
                  for suite in xml:\n\
                  \x20   for case in suite:\n\
                  \x20       tests += 1\n\
                  \x20       failures += sum(1 for r in case.result if isinstance(r, junitparser.Failure))\n\
                  print(tests, failures)\n";
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        o.status.success(),
        "junitparser could not read {}: {} (install it with `pip install junitparser`)",
        path.display(),
        stderr(&o)
    );
    let text = stdout(&o);
    let mut parts = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

#[test]
fn scos_run_writes_reports_a_junit_consumer_reads() {
    let s = Scratch::new();
    let out = s.path().join("okd-scos");
    ok(&s.compose(&["run", "streams/scos.toml", "--out", out.to_str().unwrap()]));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["result"], "passed");
    assert_eq!(report["summary"]["errors"], 0);
    let stages: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["select", "swap-os", "patch", "test"]);
    let (tests, failures) = junit_counts(&out.join("junit.xml"));
    assert_eq!(
        tests,
        report["summary"]["findings"].as_u64().unwrap(),
        "one test case per finding"
    );
    assert_eq!(failures, 0);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Stage `test`"), "{md}");
    assert!(!out.with_file_name("okd-scos.failed").exists());
}

#[test]
fn a_stream_that_keeps_rhel_content_is_stopped_by_its_test_stage() {
    let s = Scratch::new();
    let out = s.path().join("forgets-rhel");
    previous_output(&out);
    let before = snapshot(&out);
    let err = fails(&s.compose(&[
        "run",
        "tests/streams/forgets-rhel.toml",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(err.contains("stage `test`"), "{err}");
    assert!(err.contains("no-rhel-content"), "{err}");
    assert_eq!(snapshot(&out), before, "the output was touched");
    let failed = s.path().join("forgets-rhel.failed");
    assert!(err.contains("forgets-rhel.failed"), "{err}");
    let (_, failures) = junit_counts(&failed.join("junit.xml"));
    assert!(
        failures >= 4,
        "the four RHEL-labelled images fail: {failures}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(failed.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["result"], "failed");
    assert!(report["digest"].is_null());
}

#[test]
fn diff_shows_images_and_manifests_like_oc_changes_from() {
    let s = Scratch::new();
    let out = s.path().join("okd-scos");
    ok(&s.compose(&["run", "streams/scos.toml", "--out", out.to_str().unwrap()]));
    let out = out.to_str().unwrap();
    let o = s.compose(&["diff", BASE, out, "--stream", "streams/scos.toml"]);
    ok(&o);
    let text = stdout(&o);
    let section = |name: &str| {
        let start = text
            .find(name)
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"));
        text[start..].to_string()
    };
    assert!(
        text.starts_with("Changes from 4.15.0-0.okd-2024-03-10-010116"),
        "{text}"
    );
    let images = section("Images:");
    assert!(images.contains("  Added:\n    stream-coreos "), "{text}");
    assert!(images.contains("  Removed:\n    fedora-coreos "), "{text}");
    assert!(images.contains("    machine-config-operator "), "{text}");
    let manifests = section("Manifests:");
    assert!(
        manifests.contains("0000_50_okd-scos_00_stream-info_configmap.yaml"),
        "the overlay manifest is listed as added: {text}"
    );

    // --patch: unified diffs, including the ConfigMap now pointing at stream-coreos.
    let o = s.compose(&[
        "diff",
        BASE,
        out,
        "--stream",
        "streams/scos.toml",
        "--patch",
    ]);
    ok(&o);
    let patch = stdout(&o);
    assert!(
        patch.contains("+++ b/0000_80_machine-config-operator_05_osimageurl.yaml"),
        "{patch}"
    );
    assert!(patch.contains("+  baseOSContainerImage: "), "{patch}");

    // --json for machines; and a release against itself has no changes.
    let o = s.compose(&["--json", "diff", out, out]);
    ok(&o);
    let json: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(
        json["changes"]["images_added"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let o = s.compose(&["diff", out, out]);
    assert!(stdout(&o).contains("No changes."), "{}", stdout(&o));
}
