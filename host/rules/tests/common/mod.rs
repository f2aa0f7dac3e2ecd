//! Helpers shared by the conformance test binaries.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The conformance data directory, or `None` (after printing why) when it
/// is absent.
pub fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("WASMGATE_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/traefik")
        }
    };
    if dir.join("http_rule_cases.json").is_file() {
        Some(dir)
    } else {
        println!("skipped: conformance data not found at {}", dir.display());
        None
    }
}

/// Reads and parses one JSON data file.
pub fn load(dir: &Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file)).expect("read conformance data");
    serde_json::from_str(&text).expect("parse conformance data")
}

/// A string field, or `""`.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}
