//! compose-runtime
