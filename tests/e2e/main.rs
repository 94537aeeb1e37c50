//! End-to-end tests: the real `compose` binary, the real builtin plugins, the sample mirror,
//! and tools nobody on the project wrote (skopeo, tar) reading the result back.

// A test fails by panicking: unwrap and expect are the assertions here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod checks;
mod cli;
mod fuzz_stream;
mod grant_globs;
mod host_faults;
mod image;
mod languages;
mod layout;
mod messages;
mod outputs;
mod parted;
mod patch_layout;
mod payload_writes;
mod plugin_logic;
mod plugin_trust;
mod provenance;
mod real_payloads;
mod registry;
mod registry_direct;
mod remote_info;
mod rerun;
mod sandbox;
mod scos;
mod signing;
mod staged;
mod support;
mod tekton;
mod tekton_rules;
mod tekton_run;
mod terminal;
mod wit_versions;
