use super::*;

/// The OKD/FCOS form of the MCO's ConfigMap (4.13–4.15): the MCO `Dockerfile` comments the
/// extensions key out with `sed 's/^/#/'`, and `oc` has filled in the OS pullspec.
const FCOS_OSIMAGEURL: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: machine-config-osimageurl
  namespace: openshift-machine-config-operator
  annotations:
    include.release.openshift.io/ibm-cloud-managed: \"true\"
    include.release.openshift.io/self-managed-high-availability: \"true\"
    include.release.openshift.io/single-node-developer: \"true\"
data:
  releaseVersion: 4.15.0-0.okd-2024-03-10-010116
  baseOSContainerImage: \"quay.io/openshift/okd-content@sha256:1111111111111111111111111111111111111111111111111111111111111111\"
#  baseOSExtensionsContainerImage: \"placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos-extensions\"
  osImageURL: \"\"
";

const NEW_OS: &str = "quay.io/okd/scos-content@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const NEW_EXT: &str = "quay.io/okd/scos-content@sha256:3333333333333333333333333333333333333333333333333333333333333333";

#[test]
fn fcos_configmap_is_switched_to_scos() {
    let (out, edits) = set_configmap_data(
        FCOS_OSIMAGEURL,
        "machine-config-osimageurl",
        &[
            ("baseOSContainerImage", NEW_OS),
            ("baseOSExtensionsContainerImage", NEW_EXT),
            ("osImageURL", ""),
            ("releaseVersion", "4.17.0-okd-scos.0"),
        ],
    )
    .unwrap();
    let expected = FCOS_OSIMAGEURL
            .replace("4.15.0-0.okd-2024-03-10-010116", "4.17.0-okd-scos.0")
            .replace(
                "quay.io/openshift/okd-content@sha256:1111111111111111111111111111111111111111111111111111111111111111",
                NEW_OS,
            )
            .replace(
                "#  baseOSExtensionsContainerImage: \"placeholder.url.oc.will.replace.this.org/placeholdernamespace:fedora-coreos-extensions\"",
                &format!("  baseOSExtensionsContainerImage: \"{NEW_EXT}\""),
            );
    assert_eq!(out, expected);
    assert_eq!(
            edits,
            [
                (
                    "baseOSContainerImage".to_string(),
                    Edit::Replaced {
                        old: "quay.io/openshift/okd-content@sha256:1111111111111111111111111111111111111111111111111111111111111111".into()
                    }
                ),
                ("baseOSExtensionsContainerImage".to_string(), Edit::Uncommented),
                ("osImageURL".to_string(), Edit::Unchanged),
                (
                    "releaseVersion".to_string(),
                    Edit::Replaced { old: "4.15.0-0.okd-2024-03-10-010116".into() }
                ),
            ]
        );
}

#[test]
fn nested_look_alike_keys_and_block_scalars_are_left_alone() {
    // The 4.16+ MCO file: `streams.json` holds the same key names, deeper and in a block
    // scalar; only the top-level `data` entries may change.
    let text = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: machine-config-osimageurl
data:
  releaseVersion: 0.0.1-snapshot
  streams.json: >
    {
      \"baseOSContainerImage\": \"placeholder:rhel-coreos\",
      # not a comment: block scalar content
      \"x\": 1
    }
  osImageURL: \"\"
";
    let (out, edit) = set_data_value(text, "baseOSContainerImage", "quay.io/a@sha256:ab").unwrap();
    assert_eq!(edit, Edit::Added);
    assert_eq!(
        out,
        text.replace(
            "  osImageURL: \"\"\n",
            "  osImageURL: \"\"\n  baseOSContainerImage: quay.io/a@sha256:ab\n"
        )
    );
    // `# not a comment` is content of the block scalar, so it is not taken for a key line.
    let (_, edit) = set_data_value(text, "not a comment", "x").unwrap();
    assert_eq!(edit, Edit::Added);
}

#[test]
fn quoting_style_is_kept_when_possible() {
    let text = "kind: ConfigMap\ndata:\n  a: 'one'\n  b: \"two\"\n  c: three # keep me\n  d:\n";
    let (out, _) = set_data_value(text, "a", "it's").unwrap();
    assert!(out.contains("  a: 'it''s'\n"), "{out}");
    let (out, _) = set_data_value(text, "b", "x").unwrap();
    assert!(out.contains("  b: \"x\"\n"), "{out}");
    let (out, edit) = set_data_value(text, "c", "four").unwrap();
    assert!(out.contains("  c: four # keep me\n"), "{out}");
    assert_eq!(
        edit,
        Edit::Replaced {
            old: "three".into()
        }
    );
    // A plain value that would not read back as a string gets quoted.
    let (out, _) = set_data_value(text, "c", "true").unwrap();
    assert!(out.contains("  c: \"true\" # keep me\n"), "{out}");
    let (out, _) = set_data_value(text, "c", "").unwrap();
    assert!(out.contains("  c: \"\" # keep me\n"), "{out}");
    // An empty value gets one.
    let (out, _) = set_data_value(text, "d", "v").unwrap();
    assert!(out.ends_with("  d: v\n"), "{out}");
}

#[test]
fn block_scalar_value_is_replaced_whole() {
    let text = "data:\n  a: |\n    line one\n\n    line two\n  b: x\n";
    let (out, edit) = set_data_value(text, "a", "short").unwrap();
    assert_eq!(out, "data:\n  a: short\n  b: x\n");
    assert_eq!(
        edit,
        Edit::Replaced {
            old: "|\n    line one\n\n    line two".into()
        }
    );
}

#[test]
fn added_key_goes_after_the_last_entry_and_before_the_next_block() {
    let text = "data:\n    a: x\n    b: y\nmetadata:\n  name: n\n";
    let (out, edit) = set_data_value(text, "new-key", "v").unwrap();
    assert_eq!(edit, Edit::Added);
    assert_eq!(
        out,
        "data:\n    a: x\n    b: y\n    new-key: v\nmetadata:\n  name: n\n"
    );
    // No line break at the end of the file.
    let (out, _) = set_data_value("data:\n  a: x", "b", "z").unwrap();
    assert_eq!(out, "data:\n  a: x\n  b: z");
    // Empty block, CRLF file; `y` would read back as a YAML 1.1 boolean.
    let (out, _) = set_data_value("data:\r\nkind: ConfigMap\r\n", "b", "y").unwrap();
    assert_eq!(out, "data:\r\n  b: \"y\"\r\nkind: ConfigMap\r\n");
}

#[test]
fn commented_key_variants_are_uncommented() {
    let text = "data:\n  a: x\n  # b: old\n  c: z\n";
    let (out, edit) = set_data_value(text, "b", "new").unwrap();
    assert_eq!(edit, Edit::Uncommented);
    assert_eq!(out, "data:\n  a: x\n  b: new\n  c: z\n");
    // A live entry wins over a commented one.
    let text = "data:\n#  b: old\n  b: live\n";
    let (out, edit) = set_data_value(text, "b", "new").unwrap();
    assert_eq!(edit, Edit::Replaced { old: "live".into() });
    assert_eq!(out, "data:\n#  b: old\n  b: new\n");
}

#[test]
fn crlf_and_quoted_keys() {
    let text = "data:\r\n  \"osImageURL\": \"x\"\r\n  b: y\r\n";
    let (out, _) = set_data_value(text, "osImageURL", "").unwrap();
    assert_eq!(out, "data:\r\n  \"osImageURL\": \"\"\r\n  b: y\r\n");
}

#[test]
fn multi_document_file_edits_only_the_named_configmap() {
    let other =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  releaseVersion: a\n";
    let target = "# leading comment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 'machine-config-osimageurl'\ndata:\n  releaseVersion: a\n";
    let text = format!("---\n{other}---\n{target}...\n");
    let (out, edits) = set_configmap_data(
        &text,
        "machine-config-osimageurl",
        &[("releaseVersion", "b")],
    )
    .unwrap();
    assert_eq!(
        out,
        format!(
            "---\n{other}---\n{}...\n",
            target.replace("releaseVersion: a", "releaseVersion: b")
        )
    );
    assert_eq!(edits[0].1, Edit::Replaced { old: "a".into() });
    assert_eq!(documents(&text).len(), 2);
    let error = set_configmap_data(&text, "missing", &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no ConfigMap named `missing` in the file"
    );
}

#[test]
fn unsupported_shapes_are_errors_not_corruption() {
    assert_eq!(
        set_data_value("kind: X\n", "a", "b").unwrap_err(),
        YamlError::NoDataBlock
    );
    assert_eq!(
        set_data_value("kind: X\ndata: {}\n", "a", "b").unwrap_err(),
        YamlError::DataNotABlock { line: 2 }
    );
    let error = set_data_value("data:\n  a: \"open\n", "a", "b").unwrap_err();
    assert!(
        matches!(error, YamlError::Unsupported { line: 2, .. }),
        "{error:?}"
    );
}

#[test]
fn scalars_and_lookups() {
    assert_eq!(
        scalar("quay.io/okd/scos-content@sha256:ab"),
        "quay.io/okd/scos-content@sha256:ab"
    );
    assert_eq!(scalar("4.17.0-okd-scos.0"), "4.17.0-okd-scos.0");
    assert_eq!(scalar("4.17"), "\"4.17\"");
    assert_eq!(scalar("2024-01-01"), "\"2024-01-01\"");
    assert_eq!(scalar("yes"), "\"yes\"");
    assert_eq!(scalar("a: b"), "\"a: b\"");
    assert_eq!(scalar("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
    assert_eq!(unquote("\"a\\u00e9\\\"b\""), "aé\"b");
    let doc = "kind: ConfigMap\nmetadata:\n  labels:\n    name: wrong\n  name: \"right\" # c\n";
    assert_eq!(
        scalar_at(doc, &["metadata", "name"]).as_deref(),
        Some("right")
    );
    assert_eq!(scalar_at(doc, &["kind"]).as_deref(), Some("ConfigMap"));
    assert_eq!(scalar_at(doc, &["spec", "x"]), None);
}
