use super::*;
use serde_json::json;

const SCHEMA: &str = r##"{
      "type": "object",
      "additionalProperties": false,
      "$defs": { "severity": { "type": "string", "enum": ["info", "warning", "error"] } },
      "required": ["images"],
      "properties": {
        "remove": { "type": "array", "items": { "type": "string", "minLength": 1 } },
        "images": { "type": "object", "additionalProperties": { "type": "string" }, "minProperties": 1 },
        "severity": { "$ref": "#/$defs/severity" },
        "patches": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["name"],
            "properties": {
              "name": { "type": "string" },
              "merge": { "type": "object" },
              "strategic": { "type": "object" }
            },
            "oneOf": [ { "required": ["merge"] }, { "required": ["strategic"] } ]
          }
        }
      }
    }"##;

fn problems(config: Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    validate(&config, &schema)
        .into_iter()
        .map(|p| format!("{}: {}", display_path(&p.path), p.message))
        .collect()
}

#[test]
fn a_fitting_config_has_no_problems() {
    let ok = json!({"images": {"a": "b"}, "remove": ["x"], "severity": "error",
                        "patches": [{"name": "p", "merge": {}}]});
    assert_eq!(problems(ok), Vec::<String>::new());
}

#[test]
fn each_kind_of_misfit_is_named_with_its_path() {
    let bad = json!({"images": {}, "remove": ["", 3], "severity": "fatal", "imagez": 1,
                         "patches": [{"name": "p"}, {"name": "q", "merge": {}, "strategic": {}, "x": 1}]});
    let p = problems(bad);
    let expected = [
        "images: must have at least 1 entr(ies)",
        "imagez: unknown key `imagez`; known keys: `images`, `patches`, `remove`, `severity`",
        "patches[0]: must have exactly one of `merge`, `strategic` (0 given)",
        "patches[1].x: unknown key `x`; known keys: `merge`, `name`, `strategic`",
        "patches[1]: must have exactly one of `merge`, `strategic` (2 given)",
        "remove[0]: must not be empty",
        "remove[1]: must be a string, not an integer",
        "severity: must be one of \"info\", \"warning\", \"error\", not \"fatal\"",
    ];
    for e in expected {
        assert!(p.iter().any(|x| x == e), "{e} not in {p:#?}");
    }
    assert_eq!(p.len(), expected.len(), "{p:#?}");
    assert_eq!(
        problems(json!({})),
        ["config: is missing required key(s) `images`"]
    );
    assert_eq!(
        problems(json!({"images": "x"})),
        ["images: must be a table, not a string"]
    );
}

#[test]
fn a_circular_schema_ends() {
    let schema = json!({"$ref": "#", "type": "object"});
    assert!(validate(&json!({}), &schema).is_empty());
    assert!(!validate(&json!(1), &schema).is_empty());
}
