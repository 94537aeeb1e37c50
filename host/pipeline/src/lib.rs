//! compose-pipeline
