//! Checking a stage's `config` against the JSON schema its plugin publishes (`describe`), so
//! that `validate` and `plan` refuse, with `file:line`, a config the plugin would refuse only
//! when its stage runs.
//!
//! The validator is small on purpose: it knows the subset of JSON Schema (draft 2020-12) that
//! the stock plugins' schemas use — `type`, `properties`, `additionalProperties`, `required`,
//! `items`, `enum`, `const`, `minLength`/`maxLength`, `minItems`/`maxItems`,
//! `minProperties`/`maxProperties`, `minimum`/`maximum`, `oneOf`/`anyOf`/`allOf`, `not` and
//! `$ref` to `#`, `#/$defs/…` or `#/definitions/…`. Annotations (`title`, `description`,
//! `default`, …) and keywords it does not know are ignored, so an unusual schema is checked
//! less, never refused: the plugin still checks its config when it runs. A full validator
//! crate (`jsonschema`) would pull in a regex engine, an HTTP client and ~40 crates for this.

use serde_json::Value;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, Diagnostics, shown};
use crate::error::{Error, Result};
use crate::model::Stream;

/// How deep `$ref`s may chain on one value before the schema is judged circular.
const MAX_REF_DEPTH: usize = 32;

/// One step into a config: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// Where in a config a problem is, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The path from the config's root to the offending value (or to the unknown key).
    pub path: Vec<Step>,
    /// What is wrong.
    pub message: String,
    /// Whether the problem is the last key of `path` itself (an unknown key), rather than its
    /// value.
    pub at_key: bool,
}

/// `patches[0].target`, or `config` for the root.
pub fn display_path(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(&shown(key));
            }
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    if text.is_empty() {
        "config".to_string()
    } else {
        text
    }
}

/// Every place where `value` does not fit `schema`.
pub fn validate(value: &Value, schema: &Value) -> Vec<ConfigProblem> {
    let mut checker = Checker {
        root: schema,
        problems: Vec::new(),
    };
    checker.check(value, schema, &mut Vec::new(), 0);
    checker.problems
}

struct Checker<'s> {
    root: &'s Value,
    problems: Vec<ConfigProblem>,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

/// How a schema type is said to a TOML writer.
fn type_phrase(ty: &str) -> &str {
    match ty {
        "object" => "a table",
        "array" => "an array",
        "string" => "a string",
        "boolean" => "a boolean (`true` or `false`)",
        "integer" => "an integer",
        "number" => "a number",
        "null" => "null",
        other => other,
    }
}

fn quoted_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|s| format!("`{}`", shown(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'s> Checker<'s> {
    fn problem(&mut self, path: &[Step], message: String) {
        self.problems.push(ConfigProblem {
            path: path.to_vec(),
            message,
            at_key: false,
        });
    }

    /// The schema `$ref` points at, for local references.
    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        self.root.pointer(pointer)
    }

    fn check(&mut self, value: &Value, schema: &'s Value, path: &mut Vec<Step>, refs: usize) {
        let Some(schema) = schema.as_object() else {
            // `true` accepts everything; `false` nothing.
            if schema == &Value::Bool(false) {
                self.problem(path, "is not allowed here".to_string());
            }
            return;
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            match self.resolve(reference) {
                Some(target) if refs < MAX_REF_DEPTH => self.check(value, target, path, refs + 1),
                _ => {}
            }
        }
        if let Some(ty) = schema.get("type") {
            let types: Vec<&str> = match ty {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
                let wanted: Vec<&str> = types.iter().map(|t| type_phrase(t)).collect();
                self.problem(
                    path,
                    format!("must be {}, not {}", wanted.join(" or "), type_name(value)),
                );
                // Nothing else about a value of the wrong type is worth saying.
                return;
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            let texts: Vec<String> = options.iter().map(Value::to_string).collect();
            self.problem(
                path,
                format!(
                    "must be one of {}, not {}",
                    texts.join(", "),
                    shown(&value.to_string())
                ),
            );
        }
        if let Some(expected) = schema.get("const")
            && expected != value
        {
            self.problem(path, format!("must be {expected}"));
        }
        match value {
            Value::String(s) => self.string(s, schema, path),
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or(0.0);
                if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                    && n < min
                {
                    self.problem(path, format!("must be at least {min}"));
                }
                if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                    && n > max
                {
                    self.problem(path, format!("must be at most {max}"));
                }
            }
            Value::Array(items) => self.array(items, schema, path),
            Value::Object(members) => self.object(members, schema, path),
            Value::Null | Value::Bool(_) => {}
        }
        self.combinators(value, schema, path, refs);
    }

    fn string(&mut self, s: &str, schema: &serde_json::Map<String, Value>, path: &[Step]) {
        let chars = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && chars < min
        {
            self.problem(
                path,
                if min == 1 {
                    "must not be empty".to_string()
                } else {
                    format!("must be at least {min} characters")
                },
            );
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            self.problem(path, format!("must be at most {max} characters"));
        }
    }

    fn array(
        &mut self,
        items: &[Value],
        schema: &'s serde_json::Map<String, Value>,
        path: &mut Vec<Step>,
    ) {
        let n = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && n < min
        {
            self.problem(path, format!("must have at least {min} item(s)"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && n > max
        {
            self.problem(path, format!("must have at most {max} item(s)"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                self.check(item, item_schema, path, 0);
                path.pop();
            }
        }
    }

    fn object(
        &mut self,
        members: &serde_json::Map<String, Value>,
        schema: &'s serde_json::Map<String, Value>,
        path: &mut Vec<Step>,
    ) {
        let n = members.len() as u64;
        if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
            && n < min
        {
            self.problem(path, format!("must have at least {min} entr(ies)"));
        }
        if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
            && n > max
        {
            self.problem(path, format!("must have at most {max} entr(ies)"));
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            let missing: Vec<&str> = required
                .iter()
                .filter_map(Value::as_str)
                .filter(|key| !members.contains_key(*key))
                .collect();
            if !missing.is_empty() {
                self.problem(
                    path,
                    format!(
                        "is missing required key(s) {}",
                        quoted_list(missing.into_iter())
                    ),
                );
            }
        }
        let additional = schema.get("additionalProperties");
        for (key, member) in members {
            path.push(Step::Key(key.clone()));
            if let Some(member_schema) = properties.and_then(|p| p.get(key)) {
                self.check(member, member_schema, path, 0);
            } else {
                match additional {
                    Some(Value::Bool(false)) => {
                        let mut names: Vec<&str> = properties
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        names.sort_unstable();
                        let known = quoted_list(names.into_iter());
                        self.problems.push(ConfigProblem {
                            path: path.clone(),
                            message: if known.is_empty() {
                                format!("unknown key `{}`: this table takes no keys", shown(key))
                            } else {
                                format!("unknown key `{}`; known keys: {known}", shown(key))
                            },
                            at_key: true,
                        });
                    }
                    Some(extra) if extra.is_object() => self.check(member, extra, path, 0),
                    _ => {}
                }
            }
            path.pop();
        }
    }

    /// `allOf`, `anyOf`, `oneOf` and `not`.
    fn combinators(
        &mut self,
        value: &Value,
        schema: &'s serde_json::Map<String, Value>,
        path: &mut Vec<Step>,
        refs: usize,
    ) {
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.check(value, sub, path, refs);
            }
        }
        let root = self.root;
        let matches = |sub: &'s Value| {
            let mut trial = Checker {
                root,
                problems: Vec::new(),
            };
            trial.check(value, sub, &mut Vec::new(), refs);
            trial.problems.is_empty()
        };
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
            && !any.iter().any(matches)
        {
            self.problem(
                path,
                "matches none of the forms it may take (`anyOf`)".into(),
            );
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            let matched = one.iter().filter(|sub| matches(sub)).count();
            if matched != 1 {
                // The common form, `oneOf: [{required: [a]}, {required: [b]}]`, said plainly.
                let keys: Option<Vec<&str>> = one
                    .iter()
                    .map(|sub| {
                        let required = sub.get("required")?.as_array()?;
                        match required.as_slice() {
                            [key] => key.as_str(),
                            _ => None,
                        }
                    })
                    .collect();
                let message = match keys {
                    Some(keys) => format!(
                        "must have exactly one of {} ({matched} given)",
                        quoted_list(keys.into_iter())
                    ),
                    None => format!(
                        "must match exactly one of the forms it may take (`oneOf`), matches {matched}"
                    ),
                };
                self.problem(path, message);
            }
        }
        if let Some(not) = schema.get("not")
            && matches(not)
        {
            self.problem(path, "has a form that is not allowed (`not`)".into());
        }
    }
}

/// Checks the `config` of each stage against the schema `schema_of` gives for it (`None`: the
/// plugin publishes none, nothing to check). Problems point into the stream file, which is read
/// again to locate them; every problem of every stage is reported at once.
pub fn check_configs(
    stream: &Stream,
    schema_of: &mut dyn FnMut(usize) -> Option<Value>,
) -> Result<()> {
    let mut found: Vec<(usize, ConfigProblem)> = Vec::new();
    for (i, stage) in stream.stages.iter().enumerate() {
        let Some(schema) = schema_of(i) else { continue };
        found.extend(validate(&stage.config, &schema).into_iter().map(|p| (i, p)));
    }
    if found.is_empty() {
        return Ok(());
    }
    let source = std::fs::read_to_string(&stream.path).unwrap_or_default();
    let items = locate_problems(&source, stream, &found);
    Err(Error::Invalid(Box::new(Diagnostics {
        path: stream.path.clone(),
        source,
        items,
    })))
}

fn locate_problems(
    source: &str,
    stream: &Stream,
    found: &[(usize, ConfigProblem)],
) -> Vec<Diagnostic> {
    let document = DeTable::parse(source).ok();
    let stages: Vec<&Spanned<DeValue<'_>>> = document
        .as_ref()
        .and_then(|d| member(d.get_ref(), "stage"))
        .and_then(|s| match s.get_ref() {
            DeValue::Array(a) => Some(a.iter().collect()),
            _ => None,
        })
        .unwrap_or_default();
    let mut items: Vec<Diagnostic> = found
        .iter()
        .map(|(i, problem)| {
            let stage = &stream.stages[*i];
            let span = stages
                .get(*i)
                .map(|table| locate(table, &problem.path, problem.at_key));
            let message = format!(
                "stage `{}` (plugin `{}`): config {}{}",
                shown(&stage.name),
                shown(&stage.plugin_text),
                if problem.path.is_empty() || problem.at_key {
                    String::new()
                } else {
                    format!("`{}` ", display_path(&problem.path))
                },
                problem.message
            );
            Diagnostic {
                span,
                message,
                hint: Some(
                    "the plugin publishes its config schema: `compose plugin info PLUGIN` shows it"
                        .into(),
                ),
            }
        })
        .collect();
    items.sort_by_key(|d| d.span.as_ref().map_or(usize::MAX, |s| s.start));
    items
}

/// The member `key` of a table.
fn member<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

/// The member `key` of a table, with its key's span.
fn member_with_key<'a, 'i>(
    table: &'a DeTable<'i>,
    key: &str,
) -> Option<(std::ops::Range<usize>, &'a Spanned<DeValue<'i>>)> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(k, v)| (k.span(), v))
}

/// The span of `path` under the stage table `stage`: the value (or, with `at_key`, the key) it
/// ends at, or the nearest enclosing place that the file shows.
fn locate(stage: &Spanned<DeValue<'_>>, path: &[Step], at_key: bool) -> std::ops::Range<usize> {
    let DeValue::Table(table) = stage.get_ref() else {
        return stage.span();
    };
    let Some((config_key, config)) = member_with_key(table, "config") else {
        return member_with_key(table, "plugin").map_or(stage.span(), |(k, _)| k);
    };
    let mut best = usable(config.span()).unwrap_or(config_key);
    let mut here = config;
    for (n, step) in path.iter().enumerate() {
        let last = n + 1 == path.len();
        let next = match (step, here.get_ref()) {
            (Step::Key(key), DeValue::Table(t)) => match member_with_key(t, key) {
                Some((key_span, value)) => {
                    if last && at_key {
                        return key_span;
                    }
                    best = usable(value.span()).unwrap_or(key_span);
                    value
                }
                None => break,
            },
            (Step::Index(i), DeValue::Array(a)) => match a.get(*i) {
                Some(value) => {
                    if let Some(span) = usable(value.span()) {
                        best = span;
                    }
                    value
                }
                None => break,
            },
            _ => break,
        };
        here = next;
    }
    best
}

/// A span worth pointing at: not empty.
fn usable(span: std::ops::Range<usize>) -> Option<std::ops::Range<usize>> {
    (span.end > span.start).then_some(span)
}

#[cfg(test)]
mod tests;
