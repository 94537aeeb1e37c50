//! RFC 7386 JSON merge patch over parsed manifests.
//!
//! It works on the [`Value`]s parsed from the manifests, so the keys of a map keep their order:
//! a key that is replaced stays where it was, a new key goes last, a removed key leaves the others
//! in order; and values the patch does not touch keep their YAML form (tags, non-string keys,
//! `.inf`), so the layout-preserving writer ([`crate::layout`]) edits only the changed lines.
//!
//! Not the `json-patch` crate (5.0.0, tried for issue 15): its `merge` works on
//! `serde_json::Value` and removes a key with `Map::remove`, which moves the map's last key into
//! the hole (`preserve_order`) or sorts every key (without it), so the writer rewrites the whole
//! document; the conversion to JSON turns `.inf` into `null`, a key `1` into `"1"` and a tagged
//! value into a map; and the plugin grew from 507,344 to 564,906 bytes. The tests
//! `null_removes_a_key_and_keeps_the_order_of_the_others` and
//! `untouched_yaml_values_keep_their_form` pin these.

use serde_yaml::{Mapping, Value};

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

    #[test]
    fn null_removes_a_key_and_keeps_the_order_of_the_others() {
        // `json_patch::merge` (serde_json's `Map::remove`) would give `c, b` or sort the keys.
        let mut doc = yaml("z: 0\nspec:\n  a: 1\n  b: 2\n  c: 3\n");
        merge_patch(&mut doc, &yaml("spec:\n  a: null\n  d: 4\n"));
        assert_eq!(text(&doc), "z: 0\nspec:\n  b: 2\n  c: 3\n  d: 4\n");
    }

    #[test]
    fn untouched_yaml_values_keep_their_form() {
        // Through `serde_json::Value` these would become `null`, `"1"` and `{"!Ref": x}`.
        let mut doc = yaml("limit: .inf\nkeys:\n  1: one\ntagged: !Ref x\nb: 1\n");
        merge_patch(&mut doc, &yaml("b: 2\n"));
        assert_eq!(
            doc,
            yaml("limit: .inf\nkeys:\n  1: one\ntagged: !Ref x\nb: 2\n")
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
}
