#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::lock::{LockedImage, LockedPlugin};
use compose_signing::provenance::{BuildMetadata, RunDetails};

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn statement(dependencies: Vec<ResourceDescriptor>) -> Statement {
    Statement::new(
        ResourceDescriptor::new("r", "r", Some(&digest('9'))),
        Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.into(),
                external_parameters: serde_json::json!({}),
                internal_parameters: serde_json::json!({}),
                resolved_dependencies: dependencies,
            },
            run_details: RunDetails {
                builder: Builder {
                    id: BUILDER_ID.into(),
                    version: BTreeMap::new(),
                    builder_dependencies: vec![],
                },
                metadata: BuildMetadata {
                    started_on: String::new(),
                    finished_on: String::new(),
                },
            },
        },
    )
}

#[test]
fn lock_mismatches_name_every_drifted_input() {
    let lock = Lock {
        version: crate::lock::LOCK_VERSION,
        stream: "s".into(),
        base: LockedImage {
            reference: "quay.io/b:1".into(),
            digest: digest('a'),
        },
        plugins: vec![LockedPlugin {
            stage: "select".into(),
            plugin: "oci://r.example/p:1".into(),
            manifest: Some(digest('m')),
            wasm: digest('w'),
            signed_by: None,
        }],
    };
    let matching = vec![
        ResourceDescriptor::new(BASE_DEPENDENCY, "quay.io/b:1", Some(&digest('a'))),
        ResourceDescriptor::new(
            &component_dependency("select"),
            "oci://r.example/p:1",
            Some(&digest('w')),
        ),
        ResourceDescriptor::new(
            &artifact_dependency("select"),
            "oci://r.example/p:1",
            Some(&digest('m')),
        ),
    ];
    assert!(lock_mismatches(&statement(matching.clone()), &lock).is_empty());

    let mut drifted = matching.clone();
    drifted[0] = ResourceDescriptor::new(BASE_DEPENDENCY, "quay.io/b:1", Some(&digest('b')));
    drifted[2] = ResourceDescriptor::new(&artifact_dependency("select"), "oci://x", None);
    drifted.push(ResourceDescriptor::new(
        &component_dependency("extra"),
        "builtin:x",
        Some(&digest('e')),
    ));
    let found = lock_mismatches(&statement(drifted), &lock);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found[0].contains("base release") && found[0].contains(&digest('b')));
    assert!(found[1].contains("plugin artifact") && found[1].contains("no digest"));
    assert!(found[2].contains("stage/extra/component"));
}
