//! wasmgate library.
