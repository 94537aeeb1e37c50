//! compose-stream
