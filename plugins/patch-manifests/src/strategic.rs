//! Kustomize's strategic merge (Kubernetes' strategic merge patch): maps merge, lists of maps
//! merge item by item by their Kubernetes merge keys, and `$patch` directives delete or replace.
//!
//! No library implements it over `serde_json`/`serde_yaml` values (kustomize's is Go, driven by
//! the Kubernetes API types' `patchMergeKey` tags), so it is written here; [`merge_keys`] holds
//! the keys those tags declare. It works on [`Value`]s parsed from the manifests, so the keys of
//! a map keep their order: a key that is replaced stays where it was, a new key goes last, a
//! removed key leaves the others in order.

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
mod tests;
