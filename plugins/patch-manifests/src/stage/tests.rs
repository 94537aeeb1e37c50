use std::cell::RefCell;

use compose_plugin_sdk::testing::MemoryRelease;
use compose_plugin_sdk::{Attachment, Image};

use super::*;
use crate::emit;

/// A console config as the console operator ships it: comments, quoting and layout that a
/// re-serialisation would change.
const CONSOLE: &str = "\
# The console's operator config.
apiVersion: operator.openshift.io/v1
kind: Console
metadata:
  name: cluster
  annotations:
    include.release.openshift.io/self-managed-high-availability: \"true\"
    release.openshift.io/create-only: \"true\"
spec:
  managementState: Managed
  customization:
    brand: ocp
    documentationBaseURL: https://docs.okd.io/
";

/// Three documents: a Deployment, a Service and a ConfigMap, with labels and namespaces.
const OPERATOR: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: foo
  namespace: openshift-foo
  labels:
    app: foo
spec:
  ports:
  - name: https
    port: 443
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: foo
  namespace: openshift-foo
  labels:
    app: foo
    tier: control-plane
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: operator
        image: quay.io/okd/scos-content@sha256:1111111111111111111111111111111111111111111111111111111111111111
        env:
        - name: RELEASE_VERSION
          value: 0.0.1-snapshot
        volumeMounts:
        - name: config
          mountPath: /etc/config
      volumes:
      - name: config
        configMap:
          name: foo-config
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: foo-config
  namespace: openshift-foo
data:
  config.yaml: |
    level: info
";

const UNTOUCHED: &str = "# keep me exactly\nkind:   ConfigMap   # odd spacing\nmetadata: {name: 'other'}\ndata:\n    k: \"v\"\n";

const OLD_IMAGE: &str = "quay.io/okd/scos-content@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const NEW_IMAGE: &str = "quay.io/okd/scos-content@sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn release() -> MemoryRelease {
    MemoryRelease::new("4.17.0-okd-scos.0")
        .with_manifest("0000_50_console-operator_07-operator-config.yaml", CONSOLE)
        .with_manifest("0000_50_foo_03_operator.yaml", OPERATOR)
        .with_manifest("0000_90_other.yaml", UNTOUCHED)
        .with_manifest(
            "0000_70_bar.json",
            "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"bar\", \"namespace\": \"openshift-bar\"}, \"data\": {\"z\": \"1\", \"a\": \"2\"}}",
        )
}

fn config(json: &str) -> Config {
    Config::parse(json).unwrap()
}

fn read(release: &impl Release, name: &str) -> String {
    release.read_manifest(name).unwrap()
}

fn documents(release: &impl Release, name: &str) -> Vec<Value> {
    manifest::parse(name, &read(release, name)).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

fn run_on(release: &impl Release, json: &str) -> Result<Vec<Finding>, String> {
    run(&config(json), release)
}

#[test]
fn merge_patch_changes_one_file_and_deletes_with_null() {
    let release = release();
    let findings = run_on(
        &release,
        r#"{"patches": [{"name": "branding", "target": {"path": "0000_50_console-operator_*.yaml", "kind": "Console", "name": "cluster"},
            "merge": {"spec": {"customization": {"brand": "okd", "documentationBaseURL": null}}}}]}"#,
    )
    .unwrap();
    assert_eq!(
        read(&release, "0000_50_console-operator_07-operator-config.yaml"),
        "\
# The console's operator config.
apiVersion: operator.openshift.io/v1
kind: Console
metadata:
  name: cluster
  annotations:
    include.release.openshift.io/self-managed-high-availability: \"true\"
    release.openshift.io/create-only: \"true\"
spec:
  managementState: Managed
  customization:
    brand: okd
"
    );
    assert_eq!(findings.len(), 1);
    let found = &findings[0];
    assert_eq!(found.check, "patch-applied");
    assert!(found.passed);
    assert_eq!(found.severity, Severity::Info);
    assert_eq!(found.subject.as_deref(), Some("branding"));
    assert_eq!(
        found.message,
        "merge patch changed 1 document in 1 file: \
         `0000_50_console-operator_07-operator-config.yaml` (document 1 of 1 changed)"
    );
    // Untouched files keep every byte.
    assert_eq!(read(&release, "0000_90_other.yaml"), UNTOUCHED);
    assert_eq!(read(&release, "0000_50_foo_03_operator.yaml"), OPERATOR);
}

#[test]
fn json_patch_each_operation() {
    let release = release();
    run_on(
        &release,
        r#"{"patches": [{"name": "ops", "target": {"kind": "Deployment", "name": "foo"}, "json-patch": [
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "add", "path": "/spec/paused", "value": false},
            {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "A", "value": "b"}},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
            {"op": "move", "from": "/metadata/labels/tier", "path": "/metadata/annotations"},
            {"op": "remove", "path": "/spec/template/spec/volumes"}
        ]}]}"#,
    )
    .unwrap();
    let docs = documents(&release, "0000_50_foo_03_operator.yaml");
    let deployment = &docs[1];
    assert_eq!(deployment["spec"]["replicas"], yaml("2"));
    assert_eq!(deployment["spec"]["paused"], yaml("false"));
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["env"][1],
        yaml("{name: A, value: b}")
    );
    assert_eq!(
        deployment["metadata"]["labels"],
        yaml("{app: foo, copied: foo}")
    );
    assert_eq!(deployment["metadata"]["annotations"], yaml("control-plane"));
    assert!(
        deployment["spec"]["template"]["spec"]
            .get("volumes")
            .is_none()
    );
}

#[test]
fn failing_operation_names_patch_file_document_and_operation() {
    let release = release();
    let error = run_on(
        &release,
        r#"{"patches": [{"name": "guard", "target": {"kind": "Deployment"}, "json-patch": [
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "test", "path": "/spec/replicas", "value": 5}
        ]}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        error,
        "patch \"guard\": 0000_50_foo_03_operator.yaml document 2 (Deployment/foo): \
         json-patch operation 2 (test /spec/replicas): test failed: the value is 3, expected 5"
    );
    let error = run_on(
        &release,
        r#"{"patches": [{"name": "x", "target": {"kind": "Deployment"}, "json-patch": [
            {"op": "replace", "path": "/spec/x", "value": 3}
        ]}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        error,
        "patch \"x\": 0000_50_foo_03_operator.yaml document 2 (Deployment/foo): \
         json-patch operation 1 (replace /spec/x): path not found: `/spec` has no key `x`"
    );
    // Nothing was written.
    assert_eq!(read(&release, "0000_50_foo_03_operator.yaml"), OPERATOR);
}

#[test]
fn strategic_merge_of_containers_env_and_volumes() {
    let release = release();
    let findings = run_on(
        &release,
        r#"{"patches": [{"name": "env", "target": {"kind": "Deployment", "name": "foo"}, "strategic":
            {"spec": {"template": {"spec": {
                "containers": [
                    {"name": "operator", "env": [{"name": "RELEASE_VERSION", "value": "4.17.0-okd-scos.0"}, {"name": "NEW", "value": "x"}],
                     "volumeMounts": [{"name": "extra", "mountPath": "/etc/extra"}]},
                    {"name": "sidecar", "image": "quay.io/x@sha256:aa"}
                ],
                "volumes": [{"name": "extra", "emptyDir": {}}]
            }}}}}]}"#,
    )
    .unwrap();
    let docs = documents(&release, "0000_50_foo_03_operator.yaml");
    assert_eq!(
        emit::document(&docs[1]["spec"]).unwrap(),
        "\
replicas: 1
template:
  spec:
    containers:
    - name: operator
      image: quay.io/okd/scos-content@sha256:1111111111111111111111111111111111111111111111111111111111111111
      env:
      - name: RELEASE_VERSION
        value: 4.17.0-okd-scos.0
      - name: NEW
        value: x
      volumeMounts:
      - name: config
        mountPath: /etc/config
      - name: extra
        mountPath: /etc/extra
    - name: sidecar
      image: quay.io/x@sha256:aa
    volumes:
    - name: config
      configMap:
        name: foo-config
    - name: extra
      emptyDir: {}
"
    );
    assert!(
        findings[0]
            .message
            .starts_with("strategic merge patch changed 1 document")
    );
}

#[test]
fn multi_document_file_changes_only_the_matching_document() {
    let release = release();
    let before = documents(&release, "0000_50_foo_03_operator.yaml");
    let findings = run_on(
        &release,
        r#"{"patches": [{"name": "cm", "target": {"kind": "ConfigMap", "namespace": "openshift-foo"},
            "merge": {"data": {"extra": "yes"}}}]}"#,
    )
    .unwrap();
    let after = documents(&release, "0000_50_foo_03_operator.yaml");
    assert_eq!(after.len(), 3);
    assert_eq!(after[0], before[0]);
    assert_eq!(after[1], before[1]);
    assert_ne!(after[2], before[2]);
    assert_eq!(after[2]["data"]["extra"], yaml("'yes'"));
    let text = read(&release, "0000_50_foo_03_operator.yaml");
    assert_eq!(text.matches("\n---\n").count(), 2, "{text}");
    assert!(
        text.ends_with("data:\n  config.yaml: |\n    level: info\n  extra: \"yes\"\n"),
        "{text}"
    );
    assert_eq!(
        findings[0].message,
        "merge patch changed 1 document in 1 file: `0000_50_foo_03_operator.yaml` (document 3 of 3 changed)"
    );
}

#[test]
fn targets_by_each_field() {
    // Which documents of which files each target selects, by the documents it changes.
    let cases = [
        (
            r#"{"path": "0000_50_foo_*"}"#,
            vec![("0000_50_foo_03_operator.yaml", vec![1, 2, 3])],
        ),
        (
            r#"{"api-version": "apps/v1"}"#,
            vec![("0000_50_foo_03_operator.yaml", vec![2])],
        ),
        (
            r#"{"kind": "ConfigMap"}"#,
            vec![
                ("0000_50_foo_03_operator.yaml", vec![3]),
                ("0000_70_bar.json", vec![1]),
                ("0000_90_other.yaml", vec![1]),
            ],
        ),
        (
            r#"{"name": "foo"}"#,
            vec![("0000_50_foo_03_operator.yaml", vec![1, 2])],
        ),
        (
            r#"{"namespace": "openshift-bar"}"#,
            vec![("0000_70_bar.json", vec![1])],
        ),
        (
            r#"{"labels": {"app": "foo", "tier": "control-plane"}}"#,
            vec![("0000_50_foo_03_operator.yaml", vec![2])],
        ),
        (
            r#"{"labels": {"app": "foo"}}"#,
            vec![("0000_50_foo_03_operator.yaml", vec![1, 2])],
        ),
        (
            r#"{"kind": "Service", "name": "foo", "namespace": "openshift-foo", "api-version": "v1", "path": "*.yaml"}"#,
            vec![("0000_50_foo_03_operator.yaml", vec![1])],
        ),
    ];
    for (target, expected) in cases {
        let release = release();
        run_on(
            &release,
            &format!(r#"{{"patches": [{{"name": "mark", "target": {target}, "merge": {{"marked": true}}}}]}}"#),
        )
        .unwrap();
        let mut found = Vec::new();
        for name in release.manifests() {
            let marked: Vec<usize> = documents(&release, &name)
                .iter()
                .enumerate()
                .filter(|(_, d)| d.get("marked").is_some())
                .map(|(i, _)| i + 1)
                .collect();
            if !marked.is_empty() {
                found.push((name, marked));
            }
        }
        let expected: Vec<(String, Vec<usize>)> = expected
            .into_iter()
            .map(|(n, d)| (n.to_string(), d))
            .collect();
        assert_eq!(found, expected, "target {target}");
    }
}

#[test]
fn required_target_matching_nothing_is_an_error_optional_a_warning() {
    let release = release();
    let error = run_on(
        &release,
        r#"{"patches": [{"name": "missing", "target": {"kind": "Console", "name": "nope"}, "merge": {"a": 1}}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        error,
        "patch \"missing\": target matched no document (kind \"Console\", name \"nope\"; 0 candidate manifests read); \
         set `optional = true` on the patch to allow this"
    );
    let findings = run_on(
        &release,
        r#"{"patches": [{"name": "missing", "optional": true, "target": {"path": "9999_*"}, "merge": {"a": 1}}]}"#,
    )
    .unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].check, "patch-applied");
    assert!(!findings[0].passed);
    assert_eq!(findings[0].severity, Severity::Warning);
    assert_eq!(
        findings[0].message,
        "optional patch skipped: target matched no document (path \"9999_*\"; 0 candidate manifests read)"
    );
}

#[test]
fn untouched_files_stay_byte_identical_and_output_is_deterministic() {
    let json = r#"{"patches": [
        {"name": "a", "target": {"kind": "Deployment"}, "strategic": {"spec": {"template": {"spec": {"containers": [{"name": "operator", "args": ["--v=2"]}]}}}}},
        {"name": "b", "target": {"kind": "Console"}, "merge": {"spec": {"customization": {"brand": "okd"}}}},
        {"name": "c", "target": {"path": "0000_70_bar.json"}, "json-patch": [{"op": "add", "path": "/data/m", "value": "3"}]}
    ]}"#;
    let first = release();
    let second = release();
    run_on(&first, json).unwrap();
    run_on(&second, json).unwrap();
    for name in first.manifests() {
        assert_eq!(read(&first, &name), read(&second, &name), "{name}");
    }
    assert_eq!(read(&first, "0000_90_other.yaml"), UNTOUCHED);
    // JSON stays JSON, keys in the file's order.
    assert_eq!(
        read(&first, "0000_70_bar.json"),
        "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"ConfigMap\",\n  \"metadata\": {\n    \"name\": \"bar\",\n    \"namespace\": \"openshift-bar\"\n  },\n  \"data\": {\n    \"z\": \"1\",\n    \"a\": \"2\",\n    \"m\": \"3\"\n  }\n}\n"
    );
    // Applying the same patches again changes nothing and writes nothing.
    let patched: Vec<String> = first.manifests().iter().map(|n| read(&first, n)).collect();
    let counting = Counting::new(first);
    let findings = run_on(&counting, json).unwrap();
    assert!(
        counting.writes.borrow().is_empty(),
        "{:?}",
        counting.writes.borrow()
    );
    let again: Vec<String> = counting
        .inner
        .manifests()
        .iter()
        .map(|n| read(&counting.inner, n))
        .collect();
    assert_eq!(again, patched);
    assert_eq!(
        findings[1].message,
        "merge patch changed 0 documents in 0 files; 1 document matched but already had the patched content"
    );
}

#[test]
fn unparsable_candidate_is_an_error_naming_the_file() {
    let release = release().with_manifest("0000_50_broken.yaml", "kind: Deployment\n  bad: [\n");
    let error = run_on(
        &release,
        r#"{"patches": [{"name": "p", "target": {"kind": "Deployment"}, "merge": {"a": 1}}]}"#,
    )
    .unwrap_err();
    assert!(
        error.starts_with("patch \"p\": 0000_50_broken.yaml: not valid YAML:"),
        "{error}"
    );
}

#[test]
fn add_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scos  # comment kept\n";
    std::fs::write(dir.path().join("0000_50_scos_config.yaml"), overlay).unwrap();
    std::fs::write(dir.path().join("0000_51_scos.json"), "{\"kind\": \"X\"}").unwrap();
    std::fs::write(dir.path().join("0000_52_two.yml"), "a: 1\n---\nb: 2\n").unwrap();
    std::fs::write(dir.path().join("README.md"), "not a manifest").unwrap();
    std::fs::write(dir.path().join(".hidden.yaml"), "a: 1").unwrap();
    std::fs::create_dir(dir.path().join("sub.yaml")).unwrap();
    let path = dir.path().to_str().unwrap();

    let release = release();
    let findings = run_on(&release, &format!(r#"{{"add": [{path:?}]}}"#)).unwrap();
    assert_eq!(read(&release, "0000_50_scos_config.yaml"), overlay);
    assert_eq!(read(&release, "0000_51_scos.json"), "{\"kind\": \"X\"}");
    assert!(release.read_manifest("README.md").is_none());
    assert!(release.read_manifest(".hidden.yaml").is_none());
    let checks: Vec<(&str, Option<&str>)> = findings
        .iter()
        .map(|f| (f.check.as_str(), f.subject.as_deref()))
        .collect();
    assert_eq!(
        checks,
        [
            ("manifest-added", Some("0000_50_scos_config.yaml")),
            ("manifest-added", Some("0000_51_scos.json")),
            ("manifest-added", Some("0000_52_two.yml")),
        ]
    );
    assert_eq!(
        findings[2].message,
        format!("added `0000_52_two.yml` from `{path}/0000_52_two.yml` (2 documents)")
    );

    // Adding a name the payload has is an error naming the file; nothing is written.
    let error = run_on(&release, &format!(r#"{{"add": [{path:?}]}}"#)).unwrap_err();
    assert_eq!(
        error,
        format!(
            "add `{path}`: `0000_50_scos_config.yaml` is already a manifest of the payload \
             (remove it first with `remove`, or rename the file)"
        )
    );
    // ... unless `remove` takes it out first: remove runs before add.
    run_on(
        &release,
        &format!(r#"{{"remove": ["0000_5[012]_*"], "add": [{path:?}]}}"#),
    )
    .unwrap();
    assert_eq!(read(&release, "0000_50_scos_config.yaml"), overlay);

    std::fs::write(dir.path().join("0000_53_bad.yaml"), "a: [\n").unwrap();
    let fresh = MemoryRelease::new("x");
    let error = run_on(&fresh, &format!(r#"{{"add": [{path:?}]}}"#)).unwrap_err();
    assert!(
        error.starts_with(&format!("add `{path}`: `0000_53_bad.yaml`: not valid YAML")),
        "{error}"
    );
    assert!(fresh.manifests().is_empty(), "checked before writing");

    let error = run_on(&fresh, r#"{"add": ["/no/such/dir"]}"#).unwrap_err();
    assert!(
        error.starts_with("add `/no/such/dir`: cannot read the directory:"),
        "{error}"
    );
    let empty = tempfile::tempdir().unwrap();
    let error = run_on(
        &fresh,
        &format!(r#"{{"add": [{:?}]}}"#, empty.path().to_str().unwrap()),
    )
    .unwrap_err();
    assert!(
        error.ends_with("the directory holds no `.yaml`, `.yml` or `.json` file"),
        "{error}"
    );
}

#[test]
fn remove_by_glob() {
    let release = release();
    let findings = run_on(&release, r#"{"remove": ["0000_50_*", "*.json"]}"#).unwrap();
    assert_eq!(release.manifests(), ["0000_90_other.yaml"]);
    let subjects: Vec<&str> = findings
        .iter()
        .filter_map(|f| f.subject.as_deref())
        .collect();
    assert_eq!(
        subjects,
        [
            "0000_50_console-operator_07-operator-config.yaml",
            "0000_50_foo_03_operator.yaml",
            "0000_70_bar.json"
        ]
    );
    assert!(
        findings
            .iter()
            .all(|f| f.check == "manifest-removed" && f.passed)
    );
    assert_eq!(
        findings[2].message,
        "removed `0000_70_bar.json` (matched `*.json`)"
    );
    let error = run_on(&release, r#"{"remove": ["0000_50_*"]}"#).unwrap_err();
    assert_eq!(error, "remove `0000_50_*`: matches no manifest");
}

#[test]
fn replace_images_after_patches() {
    let release = release();
    // The patch puts the old pullspec in a second place; the replacement, which runs after the
    // patches, rewrites it there too.
    let findings = run_on(
        &release,
        &format!(
            r#"{{"patches": [{{"name": "p", "target": {{"kind": "Console"}}, "merge": {{"spec": {{"image": "{OLD_IMAGE}"}}}}}}],
                "replace-images": [{{"from": "{OLD_IMAGE}", "to": "{NEW_IMAGE}"}}]}}"#
        ),
    )
    .unwrap();
    assert!(!read(&release, "0000_50_foo_03_operator.yaml").contains(OLD_IMAGE));
    assert!(read(&release, "0000_50_foo_03_operator.yaml").contains(NEW_IMAGE));
    assert!(read(&release, "0000_50_console-operator_07-operator-config.yaml").contains(NEW_IMAGE));
    let found = &findings[1];
    assert_eq!(found.check, "image-replaced");
    assert_eq!(found.subject.as_deref(), Some(OLD_IMAGE));
    assert_eq!(
        found.message,
        format!(
            "replaced `{OLD_IMAGE}` by `{NEW_IMAGE}` in 2 manifests: \
             `0000_50_console-operator_07-operator-config.yaml`, `0000_50_foo_03_operator.yaml`"
        )
    );
    let json = format!(r#"{{"replace-images": [{{"from": "{OLD_IMAGE}", "to": "{NEW_IMAGE}"}}]}}"#);
    let error = run_on(&release, &json).unwrap_err();
    assert_eq!(
        error,
        format!(
            "replace-images `{OLD_IMAGE}`: no manifest holds `{OLD_IMAGE}` (set `optional = true` to allow this)"
        )
    );
    let json = format!(
        r#"{{"replace-images": [{{"from": "{OLD_IMAGE}", "to": "{NEW_IMAGE}", "optional": true}}]}}"#
    );
    let findings = run_on(&release, &json).unwrap();
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(!findings[0].passed);
}

#[test]
fn long_file_lists_are_cut_short() {
    let mut release = MemoryRelease::new("x");
    for i in 0..12 {
        release = release.with_manifest(&format!("{i:02}.yaml"), &format!("image: {OLD_IMAGE}\n"));
    }
    let json = format!(r#"{{"replace-images": [{{"from": "{OLD_IMAGE}", "to": "{NEW_IMAGE}"}}]}}"#);
    let findings = run_on(&release, &json).unwrap();
    assert!(
        findings[0].message.ends_with(
            "in 12 manifests: `00.yaml`, `01.yaml`, `02.yaml`, `03.yaml`, `04.yaml`, `05.yaml`, \
             `06.yaml`, `07.yaml`, `08.yaml`, `09.yaml` and 2 more"
        ),
        "{}",
        findings[0].message
    );
}

#[test]
fn patches_apply_in_order_to_the_results_of_the_previous_ones() {
    let release = release();
    run_on(
        &release,
        r#"{"patches": [
            {"name": "label", "target": {"kind": "Console"}, "merge": {"metadata": {"labels": {"brand": "okd"}}}},
            {"name": "by-label", "target": {"labels": {"brand": "okd"}}, "json-patch": [{"op": "add", "path": "/spec/x", "value": 1}]}
        ]}"#,
    )
    .unwrap();
    let docs = documents(&release, "0000_50_console-operator_07-operator-config.yaml");
    assert_eq!(docs[0]["spec"]["x"], yaml("1"));
}

/// A [`Release`] that counts what crosses the ABI: manifests read and written, listings, greps.
struct Counting {
    inner: MemoryRelease,
    reads: RefCell<Vec<String>>,
    writes: RefCell<Vec<String>>,
    listings: RefCell<usize>,
    greps: RefCell<Vec<String>>,
}

impl Counting {
    fn new(inner: MemoryRelease) -> Self {
        Self {
            inner,
            reads: RefCell::default(),
            writes: RefCell::default(),
            listings: RefCell::default(),
            greps: RefCell::default(),
        }
    }
}

impl Release for Counting {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn metadata(&self) -> String {
        self.inner.metadata()
    }
    fn set_metadata(&self, json: &str) -> Result<(), String> {
        self.inner.set_metadata(json)
    }
    fn images(&self) -> Vec<Image> {
        self.inner.images()
    }
    fn image(&self, name: &str) -> Option<Image> {
        self.inner.image(name)
    }
    fn put_image(&self, image: &Image) -> Result<(), String> {
        self.inner.put_image(image)
    }
    fn remove_image(&self, name: &str) -> bool {
        self.inner.remove_image(name)
    }
    fn manifests(&self) -> Vec<String> {
        *self.listings.borrow_mut() += 1;
        self.inner.manifests()
    }
    fn grep_manifests(&self, needle: &str) -> Vec<String> {
        self.greps.borrow_mut().push(needle.to_string());
        self.inner.grep_manifests(needle)
    }
    fn read_manifest(&self, path: &str) -> Option<String> {
        self.reads.borrow_mut().push(path.to_string());
        self.inner.read_manifest(path)
    }
    fn write_manifest(&self, path: &str, content: &str) -> Result<(), String> {
        self.writes.borrow_mut().push(path.to_string());
        self.inner.write_manifest(path, content)
    }
    fn remove_manifest(&self, path: &str) -> bool {
        self.inner.remove_manifest(path)
    }
    fn rewrite_pullspec(&self, old: &str, new: &str) -> Result<Vec<String>, String> {
        self.inner.rewrite_pullspec(old, new)
    }
    fn attach(&self, attachment: &Attachment) {
        self.inner.attach(attachment)
    }
    fn attachments(&self) -> Vec<Attachment> {
        self.inner.attachments()
    }
}

/// 2,000 manifests that look alike, one of them the target.
fn big_release() -> Counting {
    let mut release = MemoryRelease::new("4.17.0-okd-scos.0");
    for i in 0..2000 {
        let text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: operator-{i}\n  namespace: openshift-{i}\nspec:\n  replicas: 1\n"
        );
        release =
            release.with_manifest(&format!("0000_50_component-{i:04}_deployment.yaml"), &text);
    }
    Counting::new(release)
}

#[test]
fn a_path_target_reads_only_the_matching_files() {
    let release = big_release();
    run_on(
        &release,
        r#"{"patches": [{"name": "one", "target": {"path": "0000_50_component-1234_*.yaml"}, "json-patch": [{"op": "replace", "path": "/spec/replicas", "value": 3}]}]}"#,
    )
    .unwrap();
    assert_eq!(
        *release.reads.borrow(),
        ["0000_50_component-1234_deployment.yaml"]
    );
    assert_eq!(
        *release.writes.borrow(),
        ["0000_50_component-1234_deployment.yaml"]
    );
    assert_eq!(*release.listings.borrow(), 1);
}

#[test]
fn an_object_target_is_narrowed_by_the_host_before_reading() {
    let release = big_release();
    let findings = run_on(
        &release,
        r#"{"patches": [{"name": "one", "target": {"kind": "Deployment", "name": "operator-1234"}, "merge": {"spec": {"replicas": 3}}}]}"#,
    )
    .unwrap();
    assert_eq!(
        *release.reads.borrow(),
        ["0000_50_component-1234_deployment.yaml"]
    );
    assert_eq!(*release.greps.borrow(), ["operator-1234", "Deployment"]);
    assert_eq!(*release.listings.borrow(), 0);
    assert_eq!(
        findings[0].message,
        "merge patch changed 1 document in 1 file: `0000_50_component-1234_deployment.yaml` (document 1 of 1 changed)"
    );
    // A value with characters a writer may escape is not used as a needle.
    let release = big_release();
    run_on(
        &release,
        r#"{"patches": [{"name": "api", "optional": true, "target": {"api-version": "apps/v1", "namespace": "openshift-7"}, "merge": {"a": 1}}]}"#,
    )
    .unwrap();
    assert_eq!(*release.greps.borrow(), ["openshift-7"]);
    // `openshift-7` is in openshift-7, -70..-79, -700..-799: 111 files read, one matched.
    assert_eq!(release.reads.borrow().len(), 111);
    assert_eq!(
        *release.writes.borrow(),
        ["0000_50_component-0007_deployment.yaml"]
    );
}

/// The head of `quickstarts/node-with-s2i.yaml` of openshift/console-operator as its Dockerfile
/// copies it into `/manifests`: a byte order mark, a comment-free header, quoted annotations.
const QUICKSTART: &str = "\u{feff}apiVersion: console.openshift.io/v1
kind: ConsoleQuickStart
metadata:
  name: node-with-s2i
  annotations:
    include.release.openshift.io/ibm-cloud-managed: 'true'
    include.release.openshift.io/self-managed-high-availability: 'true'
    include.release.openshift.io/single-node-developer: 'true'
    capability.openshift.io/name: Console
spec:
  displayName: Get started with a sample application
  durationMinutes: 10
  icon: ''
  description: Import a Node Application from git, build, and deploy it onto OpenShift.
  tasks:
    - title: Create a sample application
      description: |-
        To create a sample application:
        1. From the **Add** page, click **Import from Git**.
";

#[test]
fn a_patch_edits_one_line_and_keeps_the_byte_order_mark() {
    let release = MemoryRelease::new("4.17.0-okd-scos.0")
        .with_manifest("0000_50_console_quickstart.yaml", QUICKSTART)
        .with_manifest("0000_50_console-operator_07-operator-config.yaml", CONSOLE);
    run_on(
        &release,
        r#"{"patches": [
            {"name": "duration", "target": {"kind": "ConsoleQuickStart"},
             "json-patch": [{"op": "replace", "path": "/spec/durationMinutes", "value": 15}]},
            {"name": "brand", "target": {"kind": "Console"},
             "strategic": {"spec": {"customization": {"brand": "okd"}}}}
        ]}"#,
    )
    .unwrap();
    assert_eq!(
        read(&release, "0000_50_console_quickstart.yaml"),
        QUICKSTART.replace("durationMinutes: 10", "durationMinutes: 15")
    );
    assert_eq!(
        read(&release, "0000_50_console-operator_07-operator-config.yaml"),
        CONSOLE.replace("brand: ocp", "brand: okd")
    );
}
