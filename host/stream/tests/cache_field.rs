//! The `cache` field of a stage: whether a rerun may reuse the stage's cached result.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use compose_stream::{Error, LoadOptions, parse};

fn stream(stage_extra: &str) -> Result<compose_stream::Stream, String> {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[stream]
name = "s"
release = "4.17.0-okd-scos.0"
from = "quay.io/openshift/okd:4.15.0"

[[stage]]
name = "select"
plugin = "select-images"
{stage_extra}
"#
    );
    let options = LoadOptions {
        builtins: vec!["select-images".into()],
    };
    parse(&dir.path().join("s.toml"), text, &options).map_err(|e| match e {
        Error::Invalid(d) => d.to_string(),
        other => other.to_string(),
    })
}

#[test]
fn a_stage_is_cached_unless_it_says_otherwise() {
    assert!(stream("").unwrap().stages[0].cache);
    assert!(stream("cache = true").unwrap().stages[0].cache);
    assert!(!stream("cache = false").unwrap().stages[0].cache);
}

#[test]
fn a_cache_that_is_not_a_boolean_is_located() {
    let err = stream("cache = \"no\"").unwrap_err();
    assert!(
        err.contains("s.toml:9:9: invalid type: string \"no\", expected a boolean"),
        "{err}"
    );
}
