//! The WIT compatibility rule (`wit/deps/okd-compose@0.2.0/stage.wit`): the host links every released version of
//! `okd:compose` side by side. A component built against 0.1.0 keeps loading and running on a
//! host that also offers 0.2.0; a component of 0.2.0's new `check` world runs read-only; a
//! component built against a version the host does not offer is refused before it runs.

use crate::sandbox::guest;
use crate::support::*;

/// Runs `stream` into a fresh output and returns the findings of stage `only`.
fn run_findings(s: &Scratch, stream: &std::path::Path) -> Vec<serde_json::Value> {
    let out = s.path().join("out");
    let o = compose_run(s, (stream, &out), false, &[], &[]);
    ok(&o);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "only")
        .unwrap_or_else(|| panic!("no stage `only` in {report}"))["findings"]
        .as_array()
        .unwrap()
        .clone()
}

/// What `compose plugin inspect` says a component imports and exports.
fn inspect(s: &Scratch, wasm: &str) -> String {
    let o = s.compose(&["plugin", "inspect", wasm]);
    ok(&o);
    stdout(&o)
}

#[test]
fn a_plugin_built_against_0_1_0_runs_on_a_host_that_offers_0_2_0() {
    let s = Scratch::new();
    // The guests are built against the released 0.1.0 (`wit/deps/okd-compose@0.1.0`).
    let writer = guest("guest-writer");
    let text = inspect(&s, &writer);
    assert!(text.contains("okd:compose/stage@0.1.0"), "{text}");
    assert!(!text.contains("@0.2.0"), "{text}");
    // Its writes go through the 0.1.0 `payload`, into the same payload.
    let config = r#"{ write = [{ path = "0000_99_v01.yaml", content = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: v01\n" }] }"#;
    let stream = crate::languages::one_stage_stream(&s, &writer, config);
    run_findings(&s, &stream);
    let layout = s.path().join("out");
    let top = s.path().join("top");
    extract_top_layer(&layout, "4.17.0-okd-scos.0", &top);
    let written = std::fs::read_to_string(top.join("release-manifests/0000_99_v01.yaml")).unwrap();
    assert!(written.contains("name: v01"), "{written}");

    let s = Scratch::new();
    let well_behaved = guest("guest-well-behaved");
    let found = run_findings(
        &s,
        &crate::languages::one_stage_stream(&s, &well_behaved, "{}"),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["passed"], true, "{found:?}");
}

#[test]
fn a_check_of_0_2_0_runs_and_reads_the_payload() {
    let s = Scratch::new();
    let check = guest("guest-check");
    let text = inspect(&s, &check);
    assert!(text.contains("okd:compose/check-stage@0.2.0"), "{text}");
    let found = run_findings(&s, &crate::languages::one_stage_stream(&s, &check, "{}"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["check"], "read");
    assert_eq!(found[0]["subject"], "4.17.0-okd-scos.0");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.ends_with("images, signature-verification absent")
            && !message.starts_with("0 manifests"),
        "{message}"
    );
}

#[test]
fn a_check_that_writes_is_stopped_before_the_payload_changes() {
    for call in [
        "write-manifest",
        "remove-manifest",
        "set-metadata",
        "put-image",
        "remove-image",
        "rewrite-pullspec",
        "attach",
    ] {
        let s = Scratch::new();
        let stream = crate::languages::one_stage_stream(
            &s,
            &guest("guest-check"),
            &format!(r#"{{ write = "{call}" }}"#),
        );
        let out = s.path().join("out");
        let err = fails(&s.compose(&[
            "run",
            stream.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]));
        assert!(
            err.contains(&format!(
                "stage `only`: plugin `{}` was stopped: it is a read-only check (it exports `okd:compose/check-stage`), and `{call}` would change the payload",
                guest("guest-check")
            )),
            "{call}: {err}"
        );
        assert!(!out.exists(), "{call}: a release was written");
    }
}

#[test]
fn a_plugin_built_against_a_version_the_host_does_not_offer_is_refused_naming_them() {
    let s = Scratch::new();
    let future = guest("guest-future-wit");
    let stream = crate::languages::one_stage_stream(&s, &future, "{}");
    for command in ["plan", "run"] {
        let err = fails(&s.compose(&[command, stream.to_str().unwrap()]));
        assert!(
            err.contains(&format!(
                "plugin `{future}` was built against okd:compose@1.0.0 (it uses `okd:compose/"
            )) && err.contains(
                "which this host does not offer: it offers okd:compose 0.1.x, 0.2.x, 0.3.x;"
            ),
            "`compose {command}` must name the plugin and the versions:\n{err}"
        );
        assert!(!err.contains("must never run"), "the stage ran:\n{err}");
    }
}
