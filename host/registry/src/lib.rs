//! compose-registry
