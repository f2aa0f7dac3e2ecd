//! Traefik's KV layout: every key of Traefik's own KV provider test decodes into the
//! dynamic configuration, except those of features wasmgate reports as unsupported.

#![allow(clippy::print_stdout)]
use std::path::{Path, PathBuf};

use wasmgate_config::kv;

/// Keys that decode; raise it when support grows.
const MIN_DECODING: usize = 216;

fn kv_keys() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("WASMGATE_CONFORMANCE_DIR").map(|d| PathBuf::from(d).join("kv_keys.json")),
        Some(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/conformance/traefik/kv_keys.json"),
        ),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// True when `key` is `prefix` or below it.
fn under(key: &str, prefix: &str) -> bool {
    key.eq_ignore_ascii_case(prefix)
        || (key.len() > prefix.len()
            && key[..prefix.len()].eq_ignore_ascii_case(prefix)
            && key.as_bytes()[prefix.len()] == b'/')
}

#[test]
fn traefik_kv_keys_decode() {
    let Some(path) = kv_keys() else {
        eprintln!("skipping: Traefik conformance data not found");
        return;
    };
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let pairs: Vec<(String, String)> = data["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap().to_owned(),
                p["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let errors = kv::layout_errors(kv::DEFAULT_ROOT_KEY, &pairs);
    let mut failing = Vec::new();
    for (key, _) in &pairs {
        if let Some(e) = errors.iter().find(|e| under(key, &e.key_path)) {
            failing.push(format!("{key}: {}", e.message));
        }
    }
    let ok = pairs.len() - failing.len();
    println!("kv layout conformance: {ok}/{}", pairs.len());
    let mut reasons: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    reasons.sort();
    reasons.dedup();
    for reason in &reasons {
        println!("  not decoded: {reason}");
    }
    assert!(
        ok >= MIN_DECODING,
        "only {ok} keys decode:\n{}",
        failing.join("\n")
    );
}
