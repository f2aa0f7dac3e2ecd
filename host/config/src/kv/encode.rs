//! A dynamic configuration file to key-value pairs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{ConfigError, ConfigErrors};
use crate::load::Format;
use crate::locate;

/// The pairs that store `value` (a configuration document's tree) under `root_key`:
/// one key per leaf, list items under their index, an empty mapping as an empty value.
/// `null` and empty lists have no key.
pub fn encode(root_key: &str, value: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    walk(root_key.trim_matches('/').to_owned(), value, &mut pairs);
    pairs
}

fn walk(key: String, value: &Value, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Object(map) if map.is_empty() => pairs.push((key, String::new())),
        Value::Object(map) => {
            for (k, v) in map {
                walk(format!("{key}/{k}"), v, pairs);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(format!("{key}/{i}"), v, pairs);
            }
        }
        Value::String(s) => pairs.push((key, s.clone())),
        Value::Bool(b) => pairs.push((key, b.to_string())),
        Value::Number(n) => pairs.push((key, n.to_string())),
    }
}

/// Reads and validates a dynamic configuration file (YAML or TOML) and returns the pairs
/// that store it under `root_key`. A file that does not load is refused with its errors.
pub fn encode_file(path: &Path, root_key: &str) -> Result<Vec<(String, String)>, ConfigErrors> {
    crate::load::load_dynamic(path)?;
    let unreadable = |message: String| {
        ConfigErrors(vec![ConfigError {
            file: Some(PathBuf::from(path)),
            ..ConfigError::new("", message)
        }])
    };
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    let parsed = match Format::from_path(path) {
        Some(Format::Toml) => locate::parse_toml(&text),
        _ => locate::parse_yaml(&text),
    }
    .map_err(|e| unreadable(e.message))?;
    Ok(encode(root_key, &parsed.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_through_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dynamic.yml");
        std::fs::write(
            &path,
            "http:\n  routers:\n    api:\n      rule: Path(`/api`)\n      service: api\n      priority: 7\n      entryPoints: [web]\n      tls: {}\n  services:\n    api:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:9\n",
        )
        .unwrap();
        let pairs = encode_file(&path, "traefik").unwrap();
        assert!(pairs.contains(&("traefik/http/routers/api/priority".into(), "7".into())));
        assert!(pairs.contains(&(
            "traefik/http/routers/api/entryPoints/0".into(),
            "web".into()
        )));
        assert!(pairs.contains(&("traefik/http/routers/api/tls".into(), String::new())));
        let from_kv = crate::kv::decode("traefik", &pairs, None, "kv").unwrap();
        let from_file = crate::load_dynamic(&path).unwrap();
        assert_eq!(from_kv, from_file);
    }
}
