//! compose-samples
