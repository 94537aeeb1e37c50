use super::*;

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

fn op(json: &str) -> Operation {
    let op: Operation = serde_json::from_str(json).unwrap();
    op.check().unwrap();
    op
}

fn apply(doc: &str, ops: &[&str]) -> Result<Value, String> {
    let mut doc = yaml(doc);
    for json in ops {
        op(json).apply(&mut doc)?;
    }
    Ok(doc)
}

const DOC: &str =
    "spec:\n  replicas: 1\n  list: [a, b]\n  'a/b': slash\n  'm~n': tilde\nstatus: {}\n";

#[test]
fn add() {
    let doc = apply(
        DOC,
        &[
            r#"{"op": "add", "path": "/spec/paused", "value": true}"#,
            r#"{"op": "add", "path": "/spec/replicas", "value": 3}"#,
            r#"{"op": "add", "path": "/spec/list/1", "value": "x"}"#,
            r#"{"op": "add", "path": "/spec/list/-", "value": "z"}"#,
            r#"{"op": "add", "path": "/status/conditions", "value": [{"type": "A"}]}"#,
        ],
    )
    .unwrap();
    assert_eq!(
        doc,
        yaml(
            "spec:\n  replicas: 3\n  list: [a, x, b, z]\n  'a/b': slash\n  'm~n': tilde\n  paused: true\nstatus: {conditions: [{type: A}]}\n"
        )
    );
    // Key order: a replaced key keeps its place, a new one goes last.
    let keys: Vec<_> = doc["spec"].as_mapping().unwrap().keys().cloned().collect();
    assert_eq!(keys[0], "replicas");
    assert_eq!(keys[4], "paused");
    let root = apply(DOC, &[r#"{"op": "add", "path": "", "value": {"a": 1}}"#]).unwrap();
    assert_eq!(root, yaml("a: 1"));
    let error = apply(DOC, &[r#"{"op": "add", "path": "/nope/x", "value": 1}"#]).unwrap_err();
    assert_eq!(error, "path not found: the document has no key `nope`");
    let error = apply(
        DOC,
        &[r#"{"op": "add", "path": "/spec/list/5", "value": 1}"#],
    )
    .unwrap_err();
    assert_eq!(
        error,
        "path not found: index 5 is out of range (`/spec/list` has 2 items)"
    );
}

#[test]
fn remove_and_escaped_tokens() {
    let doc = apply(
        DOC,
        &[
            r#"{"op": "remove", "path": "/spec/a~1b"}"#,
            r#"{"op": "remove", "path": "/spec/m~0n"}"#,
            r#"{"op": "remove", "path": "/spec/list/0"}"#,
        ],
    )
    .unwrap();
    assert_eq!(doc, yaml("spec:\n  replicas: 1\n  list: [b]\nstatus: {}\n"));
    let error = apply(DOC, &[r#"{"op": "remove", "path": "/spec/nope"}"#]).unwrap_err();
    assert_eq!(error, "path not found: `/spec` has no key `nope`");
    let error = apply(DOC, &[r#"{"op": "remove", "path": "/spec/list/-"}"#]).unwrap_err();
    assert!(error.contains("`-` is not an index"), "{error}");
    let error = apply(DOC, &[r#"{"op": "remove", "path": "/spec/list/01"}"#]).unwrap_err();
    assert!(error.contains("`01` is not an index"), "{error}");
}

#[test]
fn replace() {
    let doc = apply(
        DOC,
        &[
            r#"{"op": "replace", "path": "/spec/replicas", "value": 2}"#,
            r#"{"op": "replace", "path": "/spec/list/1", "value": null}"#,
        ],
    )
    .unwrap();
    assert_eq!(doc["spec"]["replicas"], yaml("2"));
    assert_eq!(doc["spec"]["list"], yaml("[a, null]"));
    let error = apply(
        DOC,
        &[r#"{"op": "replace", "path": "/spec/x", "value": 2}"#],
    )
    .unwrap_err();
    assert_eq!(error, "path not found: `/spec` has no key `x`");
    let error = apply(
        DOC,
        &[r#"{"op": "replace", "path": "/spec/replicas/x", "value": 2}"#],
    )
    .unwrap_err();
    assert_eq!(
        error,
        "path not found: `/spec/replicas` is a scalar, not a map or a list"
    );
}

#[test]
fn move_and_copy() {
    let doc = apply(
        DOC,
        &[
            r#"{"op": "move", "from": "/spec/replicas", "path": "/status/replicas"}"#,
            r#"{"op": "copy", "from": "/spec/list", "path": "/status/list"}"#,
            r#"{"op": "move", "from": "/spec/list/0", "path": "/spec/list/-"}"#,
        ],
    )
    .unwrap();
    assert_eq!(
        doc,
        yaml(
            "spec:\n  list: [b, a]\n  'a/b': slash\n  'm~n': tilde\nstatus: {replicas: 1, list: [a, b]}\n"
        )
    );
    let error = apply(
        DOC,
        &[r#"{"op": "move", "from": "/spec", "path": "/spec/inner"}"#],
    )
    .unwrap_err();
    assert_eq!(error, "cannot move a value into one of its own children");
    let error = apply(DOC, &[r#"{"op": "copy", "from": "/nope", "path": "/x"}"#]).unwrap_err();
    assert!(error.starts_with("path not found"), "{error}");
    apply(
        DOC,
        &[r#"{"op": "move", "from": "/spec", "path": "/spec"}"#],
    )
    .unwrap();
}

#[test]
fn test_op() {
    apply(
        DOC,
        &[
            r#"{"op": "test", "path": "/spec/replicas", "value": 1.0}"#,
            r#"{"op": "test", "path": "/spec/list", "value": ["a", "b"]}"#,
            r#"{"op": "test", "path": "/status", "value": {}}"#,
        ],
    )
    .unwrap();
    let error = apply(
        DOC,
        &[r#"{"op": "test", "path": "/spec/replicas", "value": 2}"#],
    )
    .unwrap_err();
    assert_eq!(error, "test failed: the value is 1, expected 2");
    let error = apply(
        DOC,
        &[r#"{"op": "test", "path": "/spec/list/0", "value": "b"}"#],
    )
    .unwrap_err();
    assert_eq!(error, r#"test failed: the value is "a", expected "b""#);
    assert!(equal(&yaml("{a: 1, b: 2}"), &yaml("{b: 2, a: 1}")));
    assert!(!equal(&yaml("[1, 2]"), &yaml("[2, 1]")));
    assert!(!equal(&yaml("'1'"), &yaml("1")));
}

#[test]
fn shapes_are_checked() {
    let check = |json: &str| serde_json::from_str::<Operation>(json).unwrap().check();
    assert_eq!(
        check(r#"{"op": "add", "path": "/a"}"#).unwrap_err(),
        "`add` needs a `value`"
    );
    assert_eq!(
        check(r#"{"op": "remove", "path": "/a", "value": 1}"#).unwrap_err(),
        "`remove` takes no `value`"
    );
    assert_eq!(
        check(r#"{"op": "copy", "path": "/a"}"#).unwrap_err(),
        "`copy` needs a `from`"
    );
    assert_eq!(
        check(r#"{"op": "test", "path": "a", "value": 1}"#).unwrap_err(),
        "`path`: `a` is not a JSON pointer: it must be empty or start with `/`"
    );
    assert!(check(r#"{"op": "add", "path": "/a~2", "value": 1}"#).is_err());
    assert!(check(r#"{"op": "replace", "path": "/a", "value": null}"#).is_ok());
    assert!(serde_json::from_str::<Operation>(r#"{"op": "frob", "path": "/a"}"#).is_err());
    assert!(
        serde_json::from_str::<Operation>(r#"{"op": "add", "path": "/a", "value": 1, "x": 1}"#)
            .is_err()
    );
    let op = op(r#"{"op": "move", "from": "/a", "path": "/b"}"#);
    assert_eq!(op.to_string(), "move /a to /b");
}

#[test]
fn remove_keeps_the_order_of_the_other_keys() {
    // `json_patch::patch` (serde_json's `Map::remove`) would give `c, b` and `d, b, c, e`, or
    // sort the keys.
    let keys =
        |value: &Value| -> Vec<Value> { value.as_mapping().unwrap().keys().cloned().collect() };
    let doc = apply(
        "spec:\n  a: 1\n  b: 2\n  c: 3\n",
        &[r#"{"op": "remove", "path": "/spec/a"}"#],
    )
    .unwrap();
    assert_eq!(keys(&doc["spec"]), ["b", "c"].map(Value::from));
    let doc = apply(
        "a: 1\nb: 2\nc: 3\nd: 4\n",
        &[r#"{"op": "move", "from": "/a", "path": "/e"}"#],
    )
    .unwrap();
    assert_eq!(keys(&doc), ["b", "c", "d", "e"].map(Value::from));
}

#[test]
fn untouched_yaml_values_keep_their_form() {
    // Through `serde_json::Value` these would become `null`, `"1"` and `{"!Thing": {...}}`.
    let text = "limit: .inf\nkeys:\n  1: one\ntagged: !Thing {a: 1}\nb: 1\n";
    let doc = apply(
        text,
        &[
            r#"{"op": "replace", "path": "/b", "value": 2}"#,
            r#"{"op": "replace", "path": "/tagged/a", "value": 2}"#,
        ],
    )
    .unwrap();
    assert_eq!(
        doc,
        yaml("limit: .inf\nkeys:\n  1: one\ntagged: !Thing {a: 2}\nb: 2\n")
    );
    assert_eq!(doc["limit"].as_f64(), Some(f64::INFINITY));
    assert!(
        doc["keys"]
            .as_mapping()
            .unwrap()
            .contains_key(Value::from(1))
    );
    assert!(matches!(doc["tagged"], Value::Tagged(_)));
}
