//! End-to-end tests: the real `compose` binary, the real builtin plugins, the sample mirror,
//! and tools nobody on the project wrote (skopeo, tar) reading the result back.

mod bad_input;
mod sandbox;
mod scos;
mod support;
