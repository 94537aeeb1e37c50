//! Merge patches: RFC 7386 JSON merge patch, and the strategic merge kustomize applies.
//!
//! Both work on [`Value`]s parsed from the manifests, so the keys of a map keep their order: a
//! key that is replaced stays where it was, a new key goes last, a removed key leaves the others
//! in order.

use serde_yaml::{Mapping, Value};

/// The key of a list item that asks the strategic merge to do something other than merge.
pub const DIRECTIVE: &str = "$patch";

/// The only directive supported: in a list item with a `name`, removes the item of that name.
pub const DELETE: &str = "delete";

/// The key list items are merged by.
pub const MERGE_KEY: &str = "name";

/// Applies an RFC 7386 merge patch: maps merge recursively, `null` removes a key, anything
/// else (lists included) replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Mapping(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_mapping() {
        *target = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.shift_remove(key);
        } else if let Some(existing) = target.get_mut(key) {
            merge_patch(existing, value);
        } else {
            let mut new = Value::Null;
            merge_patch(&mut new, value);
            target.insert(key.clone(), new);
        }
    }
}

/// Applies a strategic merge patch the way kustomize does for the lists of a pod template:
/// - maps merge recursively and a `null` value removes a key;
/// - a list whose items all are maps with a `name` (containers, initContainers, env, volumes,
///   volumeMounts, ports, …), patched by such a list, merges item by item by `name`: an item of
///   a known name is merged into it, an item of a new name is appended, and an item holding
///   `$patch: delete` removes the item of its name;
/// - any other value, lists of scalars included, replaces the target.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    match (&mut *target, patch) {
        (Value::Mapping(target), Value::Mapping(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.shift_remove(key);
                } else if let Some(existing) = target.get_mut(key) {
                    strategic_merge(existing, value);
                } else {
                    target.insert(key.clone(), cleaned(value));
                }
            }
        }
        (Value::Sequence(items), Value::Sequence(patch))
            if named_items(patch) && (items.is_empty() || named_items(items)) =>
        {
            for item in patch {
                let name = item_name(item);
                let position = items
                    .iter()
                    .position(|existing| item_name(existing) == name);
                match (position, is_delete(item)) {
                    (Some(at), true) => {
                        items.remove(at);
                    }
                    (None, true) => {}
                    (Some(at), false) => strategic_merge(&mut items[at], item),
                    (None, false) => items.push(cleaned(item)),
                }
            }
        }
        (target, patch) => *target = cleaned(patch),
    }
}

/// Whether every item is a map with a string `name`.
fn named_items(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|item| item_name(item).is_some())
}

fn item_name(item: &Value) -> Option<&str> {
    item.as_mapping()?.get(MERGE_KEY)?.as_str()
}

fn is_delete(item: &Value) -> bool {
    item.as_mapping()
        .and_then(|map| map.get(DIRECTIVE))
        .and_then(Value::as_str)
        == Some(DELETE)
}

/// A patch value as it is inserted where the target had nothing: without `null` entries and
/// directives, and without list items that delete.
fn cleaned(value: &Value) -> Value {
    match value {
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .filter(|(key, value)| !value.is_null() && key.as_str() != Some(DIRECTIVE))
                .map(|(key, value)| (key.clone(), cleaned(value)))
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .filter(|item| !is_delete(item))
                .map(cleaned)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Checks the directives of a strategic patch: `$patch` may only appear as `$patch: delete` in
/// a list item that has a `name`. Returns where the first bad one is (`spec.containers[0]`).
pub fn check_directives(patch: &Value) -> Result<(), String> {
    fn walk(value: &Value, at: &str, in_list: bool) -> Result<(), String> {
        match value {
            Value::Mapping(map) => {
                if let Some(directive) = map.get(DIRECTIVE) {
                    let named = map.get(MERGE_KEY).and_then(Value::as_str).is_some();
                    if !(in_list && named && directive.as_str() == Some(DELETE)) {
                        let at = if at.is_empty() { "the patch" } else { at };
                        return Err(format!(
                            "`{DIRECTIVE}` at `{at}`: only `{DIRECTIVE}: {DELETE}` in a list item \
                             with a `{MERGE_KEY}` is supported"
                        ));
                    }
                }
                for (key, value) in map {
                    let key = match key {
                        Value::String(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    let path = if at.is_empty() {
                        key
                    } else {
                        format!("{at}.{key}")
                    };
                    walk(value, &path, false)?;
                }
                Ok(())
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{at}[{i}]"), true)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(patch, "", false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    fn text(value: &Value) -> String {
        emit::document(value).unwrap()
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = yaml(
            "kind: Console\nspec:\n  customization:\n    brand: ocp\n    logo: x\n  list: [1, 2]\nstatus: {}\n",
        );
        merge_patch(
            &mut doc,
            &yaml(
                "spec:\n  customization:\n    brand: okd\n    logo: null\n    new:\n      a: 1\n      b: null\n  list: [3]\nstatus: null\nextra: x\n",
            ),
        );
        assert_eq!(
            text(&doc),
            "kind: Console\nspec:\n  customization:\n    brand: okd\n    new:\n      a: 1\n  list:\n  - 3\nextra: x\n"
        );
        // A non-map patch replaces; a map patch of a scalar target makes it a map.
        let mut doc = yaml("a: 1\n");
        merge_patch(&mut doc, &yaml("a:\n  b: 2\n"));
        assert_eq!(text(&doc), "a:\n  b: 2\n");
        merge_patch(&mut doc, &yaml("[1]"));
        assert_eq!(text(&doc), "- 1\n");
        // RFC 7386 appendix A examples.
        for (target, patch, result) in [
            ("{a: b}", "{a: c}", "{a: c}"),
            ("{a: b}", "{b: c}", "{a: b, b: c}"),
            ("{a: b}", "{a: null}", "{}"),
            ("{a: b, b: c}", "{a: null}", "{b: c}"),
            ("{a: [b]}", "{a: c}", "{a: c}"),
            ("{a: c}", "{a: [b]}", "{a: [b]}"),
            ("{a: {b: c}}", "{a: {b: d, c: null}}", "{a: {b: d}}"),
            ("{a: [{b: c}]}", "{a: [1]}", "{a: [1]}"),
            ("[a, b]", "[c, d]", "[c, d]"),
            ("{a: b}", "[c]", "[c]"),
            ("{a: foo}", "null", "null"),
            ("{a: foo}", "bar", "bar"),
            ("{e: null}", "{a: 1}", "{e: null, a: 1}"),
            ("[1, 2]", "{a: b, c: null}", "{a: b}"),
            ("{}", "{a: {bb: {ccc: null}}}", "{a: {bb: {}}}"),
        ] {
            let mut doc = yaml(target);
            merge_patch(&mut doc, &yaml(patch));
            assert_eq!(doc, yaml(result), "{target} + {patch}");
        }
    }

    const DEPLOYMENT: &str = "\
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: operator
        image: quay.io/a@sha256:aa
        env:
        - name: A
          value: a
        - name: B
          value: b
        volumeMounts:
        - name: config
          mountPath: /etc/config
      - name: sidecar
        image: quay.io/b@sha256:bb
      volumes:
      - name: config
        configMap:
          name: cfg
      nodeSelector:
        role: master
      tolerations:
      - key: x
        operator: Exists
      args:
      - --a
";

    #[test]
    fn strategic_merge_merges_named_items_by_name() {
        let mut doc = yaml(DEPLOYMENT);
        strategic_merge(
            &mut doc,
            &yaml(
                "\
spec:
  template:
    spec:
      containers:
      - name: operator
        env:
        - name: B
          value: changed
        - name: C
          value: c
        - name: A
          $patch: delete
        volumeMounts:
        - name: extra
          mountPath: /etc/extra
      - name: new
        image: quay.io/c@sha256:cc
      volumes:
      - name: config
        configMap:
          name: other
      - name: extra
        emptyDir: {}
      nodeSelector:
        role: null
        zone: a
      tolerations:
      - key: \"y\"
        operator: Exists
      args:
      - --b
",
            ),
        );
        assert_eq!(
            text(&doc),
            "\
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: operator
        image: quay.io/a@sha256:aa
        env:
        - name: B
          value: changed
        - name: C
          value: c
        volumeMounts:
        - name: config
          mountPath: /etc/config
        - name: extra
          mountPath: /etc/extra
      - name: sidecar
        image: quay.io/b@sha256:bb
      - name: new
        image: quay.io/c@sha256:cc
      volumes:
      - name: config
        configMap:
          name: other
      - name: extra
        emptyDir: {}
      nodeSelector:
        zone: a
      tolerations:
      - key: \"y\"
        operator: Exists
      args:
      - --b
"
        );
    }

    #[test]
    fn strategic_merge_new_values_are_cleaned() {
        let mut doc = yaml("a: 1\n");
        strategic_merge(
            &mut doc,
            &yaml(
                "b:\n  c: null\n  d: 1\n  items:\n  - name: x\n    $patch: delete\n  - name: \"y\"\n",
            ),
        );
        assert_eq!(text(&doc), "a: 1\nb:\n  d: 1\n  items:\n  - name: \"y\"\n");
        // An empty target list takes the named items.
        let mut doc = yaml("env: []\n");
        strategic_merge(&mut doc, &yaml("env:\n- name: A\n  value: a\n"));
        assert_eq!(text(&doc), "env:\n- name: A\n  value: a\n");
        // Target items without names: replaced, not merged.
        let mut doc = yaml("l:\n- a: 1\n");
        strategic_merge(&mut doc, &yaml("l:\n- name: A\n"));
        assert_eq!(text(&doc), "l:\n- name: A\n");
    }

    #[test]
    fn directives_are_checked() {
        check_directives(&yaml("c:\n- name: a\n  $patch: delete\n")).unwrap();
        assert_eq!(
            check_directives(&yaml("c:\n- name: a\n  $patch: replace\n")).unwrap_err(),
            "`$patch` at `c[0]`: only `$patch: delete` in a list item with a `name` is supported"
        );
        assert!(check_directives(&yaml("c:\n  $patch: delete\n  name: a\n")).is_err());
        assert!(check_directives(&yaml("c:\n- $patch: delete\n")).is_err());
        assert!(check_directives(&yaml("$patch: delete\n")).is_err());
    }
}
