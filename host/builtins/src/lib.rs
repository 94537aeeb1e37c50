//! compose-builtins
