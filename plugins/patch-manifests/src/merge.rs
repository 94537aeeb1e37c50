//! Merge patches: RFC 7386 JSON merge patch, and the strategic merge kustomize applies.
//!
//! Both work on [`Value`]s parsed from the manifests, so the keys of a map keep their order: a
//! key that is replaced stays where it was, a new key goes last, a removed key leaves the others
//! in order.

use serde_yaml::{Mapping, Value};

/// The key of a map that asks the strategic merge to do something other than merge.
pub const DIRECTIVE: &str = "$patch";

/// `$patch: delete`: in a list item, removes the item of its merge key; in a map, removes the
/// map.
pub const DELETE: &str = "delete";

/// `$patch: replace`: in a map, replaces the map by the patch's; as a list item of its own
/// (`- $patch: replace`), replaces the list by the patch's other items.
pub const REPLACE: &str = "replace";

/// The key list items are merged by where Kubernetes gives no other.
pub const MERGE_KEY: &str = "name";

/// The keys the items of the list under `field` are merged by, as Kubernetes' API types declare
/// them (`patchMergeKey`, and the list-map keys where there are several): `containerPort` for a
/// container's ports (`port` for a Service's), `mountPath` for volumeMounts, `devicePath` for
/// volumeDevices, `ip` for hostAliases, `topologyKey` and `whenUnsatisfiable` for
/// topologySpreadConstraints, `type` for conditions, …; `name` for every other list (containers,
/// env, volumes, and the lists of custom resources).
pub fn merge_keys(field: Option<&str>, items: &[Value]) -> &'static [&'static str] {
    match field {
        Some("ports") => {
            let container = items.iter().any(|item| {
                item.as_mapping()
                    .is_some_and(|map| map.contains_key("containerPort"))
            });
            if container {
                &["containerPort"]
            } else {
                &["port"]
            }
        }
        Some("volumeMounts") => &["mountPath"],
        Some("volumeDevices") => &["devicePath"],
        Some("hostAliases" | "podIPs" | "hostIPs") => &["ip"],
        Some("topologySpreadConstraints") => &["topologyKey", "whenUnsatisfiable"],
        Some("conditions") => &["type"],
        Some("readinessGates") => &["conditionType"],
        Some("resizePolicy") => &["resourceName"],
        Some("ownerReferences") => &["uid"],
        _ => &[MERGE_KEY],
    }
}

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

/// Applies a strategic merge patch the way kustomize (Kubernetes' strategic merge) does:
/// - maps merge recursively and a `null` value removes a key; a map holding `$patch: delete` is
///   removed, one holding `$patch: replace` replaces the target's;
/// - a list of maps that all have the list's merge keys ([`merge_keys`]: `name` for
///   containers, env, volumes; `containerPort` for ports, `mountPath` for volumeMounts, …),
///   patched by such a list, merges item by item: an item of known keys is merged into it, an
///   item of new keys is appended, and an item holding `$patch: delete` removes the item of its
///   keys; an item `$patch: replace` makes the list the patch's other items;
/// - any other value, lists of scalars included, replaces the target.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    strategic_field(target, patch, None);
}

fn strategic_field(target: &mut Value, patch: &Value, field: Option<&str>) {
    match (&mut *target, patch) {
        (Value::Mapping(_), Value::Mapping(map)) if directive(map) == Some(REPLACE) => {
            *target = cleaned(patch);
        }
        (Value::Mapping(target), Value::Mapping(patch)) => {
            for (key, value) in patch {
                if key.as_str() == Some(DIRECTIVE) {
                    continue;
                }
                let deletes = value
                    .as_mapping()
                    .is_some_and(|map| directive(map) == Some(DELETE));
                if value.is_null() || deletes {
                    target.shift_remove(key);
                } else if let Some(existing) = target.get_mut(key) {
                    strategic_field(existing, value, key.as_str());
                } else {
                    target.insert(key.clone(), cleaned(value));
                }
            }
        }
        (Value::Sequence(_), Value::Sequence(patch)) if patch.iter().any(is_replace_item) => {
            *target = cleaned(&Value::Sequence(
                patch
                    .iter()
                    .filter(|item| !is_replace_item(item))
                    .cloned()
                    .collect(),
            ));
        }
        (Value::Sequence(items), Value::Sequence(patch))
            if {
                let keys = merge_keys(field, patch);
                keyed_items(patch, keys) && (items.is_empty() || keyed_items(items, keys))
            } =>
        {
            let keys = merge_keys(field, patch);
            for item in patch {
                let id = item_keys(item, keys);
                let position = items
                    .iter()
                    .position(|existing| item_keys(existing, keys) == id);
                match (position, is_delete(item)) {
                    (Some(at), true) => {
                        items.remove(at);
                    }
                    (None, true) => {}
                    (Some(at), false) => strategic_field(&mut items[at], item, None),
                    (None, false) => items.push(cleaned(item)),
                }
            }
        }
        (target, patch) => *target = cleaned(patch),
    }
}

/// The `$patch` directive of a map, if any.
fn directive(map: &Mapping) -> Option<&str> {
    map.get(DIRECTIVE).and_then(Value::as_str)
}

/// Whether every item is a map with every merge key set to a scalar.
fn keyed_items(items: &[Value], keys: &[&str]) -> bool {
    !items.is_empty() && items.iter().all(|item| item_keys(item, keys).is_some())
}

/// The values of an item's merge keys, if it has them all (as scalars).
fn item_keys<'a>(item: &'a Value, keys: &[&str]) -> Option<Vec<&'a Value>> {
    let map = item.as_mapping()?;
    keys.iter()
        .map(|key| {
            map.get(*key)
                .filter(|v| !v.is_mapping() && !v.is_sequence() && !v.is_null())
        })
        .collect()
}

fn is_delete(item: &Value) -> bool {
    item.as_mapping().and_then(directive) == Some(DELETE)
}

/// A list item `$patch: replace` (with nothing else).
fn is_replace_item(item: &Value) -> bool {
    item.as_mapping()
        .is_some_and(|map| map.len() == 1 && directive(map) == Some(REPLACE))
}

/// A patch value as it is inserted where the target had nothing: without `null` entries,
/// directives and what they delete.
fn cleaned(value: &Value) -> Value {
    match value {
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .filter(|(key, value)| {
                    !value.is_null()
                        && key.as_str() != Some(DIRECTIVE)
                        && value
                            .as_mapping()
                            .is_none_or(|map| directive(map) != Some(DELETE))
                })
                .map(|(key, value)| (key.clone(), cleaned(value)))
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(
            items
                .iter()
                .filter(|item| !is_delete(item) && !is_replace_item(item))
                .map(cleaned)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Lists Kubernetes merges by keys other than `name`: a patch for one of them whose items lack
/// the keys would replace the target's list, which Kubernetes refuses.
const KEYED_LISTS: &[&str] = &[
    "ports",
    "volumeMounts",
    "volumeDevices",
    "hostAliases",
    "topologySpreadConstraints",
    "readinessGates",
    "resizePolicy",
];

/// Checks that the map items of a patch list under one of the [`KEYED_LISTS`] have the list's
/// merge keys (a list holding `- $patch: replace` is exempt: it replaces).
fn check_keyed_list(field: Option<&str>, items: &[Value], path: &str) -> Result<(), String> {
    let Some(field) = field.filter(|f| KEYED_LISTS.contains(f)) else {
        return Ok(());
    };
    if items.iter().any(is_replace_item) {
        return Ok(());
    }
    let keys = merge_keys(Some(field), items);
    for (i, item) in items.iter().enumerate() {
        if item.is_mapping() && item_keys(item, keys).is_none() {
            let (keys, service) = if field == "ports" {
                ("containerPort".to_string(), " (`port` in a Service)")
            } else {
                (keys.join("`, `"), "")
            };
            return Err(format!(
                "`{path}[{i}]`: a `{field}` item needs the merge key `{keys}`{service}, which \
                 Kubernetes merges the list by; to replace the whole list instead, add an item \
                 `{{ \"{DIRECTIVE}\" = \"{REPLACE}\" }}`"
            ));
        }
    }
    Ok(())
}

/// Checks the directives of a strategic patch: `$patch: delete` in a list item that has its
/// list's merge keys, or in a map under a key; `$patch: replace` in a map under a key, or as a
/// list item of its own. Returns where the first bad one is (`spec.containers[0]`).
pub fn check_directives(patch: &Value) -> Result<(), String> {
    /// Where a value stands: at the root, under a key, or as an item of the list under a key.
    enum At<'a> {
        Root,
        Key,
        Item(Option<&'a str>, &'a [Value]),
    }
    fn walk(value: &Value, path: &str, at: &At<'_>) -> Result<(), String> {
        match value {
            Value::Mapping(map) => {
                if let Some(found) = map.get(DIRECTIVE) {
                    let place = if path.is_empty() { "the patch" } else { path };
                    let bad = |what: &str| {
                        Err(format!(
                            "`{DIRECTIVE}: {}` at `{place}`: {what}",
                            found.as_str().unwrap_or("…")
                        ))
                    };
                    match (found.as_str(), at) {
                        (Some(DELETE), At::Item(field, items)) => {
                            let keys = merge_keys(*field, items);
                            if item_keys(value, keys).is_none() {
                                return bad(&format!(
                                    "a list item to delete needs its list's merge key{} `{}`",
                                    if keys.len() > 1 { "s" } else { "" },
                                    keys.join("`, `")
                                ));
                            }
                        }
                        (Some(REPLACE), At::Item(..)) if map.len() == 1 => {}
                        (Some(REPLACE), At::Item(..)) => {
                            return bad("a list item `$patch: replace` holds nothing else");
                        }
                        (Some(DELETE | REPLACE), At::Key) => {}
                        (Some(DELETE | REPLACE), At::Root) => {
                            return bad("not at the root of the patch");
                        }
                        _ => {
                            return bad(&format!(
                                "only `{DIRECTIVE}: {DELETE}` and `{DIRECTIVE}: {REPLACE}` are \
                                 supported"
                            ));
                        }
                    }
                }
                for (key, value) in map {
                    let name = match key {
                        Value::String(s) => s.clone(),
                        other => format!("{other:?}"),
                    };
                    let child = if path.is_empty() {
                        name
                    } else {
                        format!("{path}.{name}")
                    };
                    match value {
                        Value::Sequence(items) => {
                            check_keyed_list(key.as_str(), items, &child)?;
                            for (i, item) in items.iter().enumerate() {
                                walk(
                                    item,
                                    &format!("{child}[{i}]"),
                                    &At::Item(key.as_str(), items),
                                )?;
                            }
                        }
                        value => walk(value, &child, &At::Key)?,
                    }
                }
                Ok(())
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), &At::Item(None, items))?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(patch, "", &At::Root)
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
    fn strategic_merge_uses_kubernetes_merge_keys() {
        let mut doc = yaml(
            "\
containers:
- name: a
  ports:
  - containerPort: 8443
    name: https
  - containerPort: 9090
  volumeMounts:
  - name: config
    mountPath: /etc/config
  - name: config
    mountPath: /etc/config-copy
    subPath: x
  volumeDevices:
  - name: disk
    devicePath: /dev/xvda
hostAliases:
- ip: 10.0.0.1
  hostnames: [a]
topologySpreadConstraints:
- topologyKey: zone
  whenUnsatisfiable: DoNotSchedule
  maxSkew: 1
- topologyKey: zone
  whenUnsatisfiable: ScheduleAnyway
  maxSkew: 1
",
        );
        strategic_merge(
            &mut doc,
            &yaml(
                "\
containers:
- name: a
  ports:
  - containerPort: 8443
    protocol: TCP
  - containerPort: 9090
    $patch: delete
  - containerPort: 80
  volumeMounts:
  - mountPath: /etc/config-copy
    readOnly: true
  - name: config
    mountPath: /etc/third
  volumeDevices:
  - devicePath: /dev/xvda
    name: renamed
hostAliases:
- ip: 10.0.0.1
  hostnames: [b]
- ip: 10.0.0.2
  hostnames: [c]
topologySpreadConstraints:
- topologyKey: zone
  whenUnsatisfiable: ScheduleAnyway
  maxSkew: 2
",
            ),
        );
        assert_eq!(
            doc,
            yaml(
                "\
containers:
- name: a
  ports:
  - containerPort: 8443
    name: https
    protocol: TCP
  - containerPort: 80
  volumeMounts:
  - name: config
    mountPath: /etc/config
  - name: config
    mountPath: /etc/config-copy
    subPath: x
    readOnly: true
  - name: config
    mountPath: /etc/third
  volumeDevices:
  - name: renamed
    devicePath: /dev/xvda
hostAliases:
- ip: 10.0.0.1
  hostnames: [b]
- ip: 10.0.0.2
  hostnames: [c]
topologySpreadConstraints:
- topologyKey: zone
  whenUnsatisfiable: DoNotSchedule
  maxSkew: 1
- topologyKey: zone
  whenUnsatisfiable: ScheduleAnyway
  maxSkew: 2
"
            )
        );
        // A Service's ports merge by `port`.
        let mut svc = yaml("ports:\n- port: 443\n  name: https\n- port: 80\n  name: http\n");
        strategic_merge(&mut svc, &yaml("ports:\n- port: 80\n  targetPort: 8080\n"));
        assert_eq!(
            svc,
            yaml(
                "ports:\n- port: 443\n  name: https\n- port: 80\n  name: http\n  targetPort: 8080\n"
            )
        );
    }

    #[test]
    fn strategic_merge_replace_and_delete_directives() {
        let mut doc = yaml("a:\n  x: 1\n  y: 2\nb:\n  z: 1\nl:\n- name: p\n- name: q\n");
        strategic_merge(
            &mut doc,
            &yaml(
                "a:\n  $patch: replace\n  w: 3\nb:\n  $patch: delete\nl:\n- $patch: replace\n- name: r\n  m: {$patch: delete}\nnew:\n  k: {$patch: delete}\n  v: 1\n",
            ),
        );
        assert_eq!(doc, yaml("a:\n  w: 3\nl:\n- name: r\nnew:\n  v: 1\n"));
    }

    #[test]
    fn directives_are_checked() {
        check_directives(&yaml("c:\n- name: a\n  $patch: delete\n")).unwrap();
        check_directives(&yaml("ports:\n- containerPort: 80\n  $patch: delete\n")).unwrap();
        check_directives(&yaml("c:\n  $patch: delete\n")).unwrap();
        check_directives(&yaml("c:\n  $patch: replace\n  a: 1\n")).unwrap();
        check_directives(&yaml("c:\n- $patch: replace\n- name: a\n")).unwrap();
        assert_eq!(
            check_directives(&yaml("c:\n- name: a\n  $patch: replace\n")).unwrap_err(),
            "`$patch: replace` at `c[0]`: a list item `$patch: replace` holds nothing else"
        );
        assert_eq!(
            check_directives(&yaml("volumeMounts:\n- name: a\n  $patch: delete\n")).unwrap_err(),
            "`volumeMounts[0]`: a `volumeMounts` item needs the merge key `mountPath`, which \
             Kubernetes merges the list by; to replace the whole list instead, add an item \
             `{ \"$patch\" = \"replace\" }`"
        );
        assert_eq!(
            check_directives(&yaml("conditions:\n- status: x\n  $patch: delete\n")).unwrap_err(),
            "`$patch: delete` at `conditions[0]`: a list item to delete needs its list's merge \
             key `type`"
        );
        assert_eq!(
            check_directives(&yaml("c:\n  $patch: merge\n")).unwrap_err(),
            "`$patch: merge` at `c`: only `$patch: delete` and `$patch: replace` are supported"
        );
        assert!(check_directives(&yaml("c:\n- $patch: delete\n")).is_err());
        // Items of a list Kubernetes merges by other keys need them.
        assert_eq!(
            check_directives(&yaml(
                "spec:\n  ports:\n  - name: https\n    protocol: TCP\n"
            ))
            .unwrap_err(),
            "`spec.ports[0]`: a `ports` item needs the merge key `containerPort` (`port` in a Service), \
             which Kubernetes merges the list by; to replace the whole list instead, add an item \
             `{ \"$patch\" = \"replace\" }`"
        );
        check_directives(&yaml("ports:\n- $patch: replace\n- name: https\n")).unwrap();
        check_directives(&yaml("ports:\n- containerPort: 1\n- port: 2\n")).unwrap_err();
        check_directives(&yaml("volumeMounts:\n- mountPath: /a\n  name: a\n")).unwrap();
        assert!(check_directives(&yaml("$patch: delete\n")).is_err());
    }
}
