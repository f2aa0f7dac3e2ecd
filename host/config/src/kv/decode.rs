//! Key-value pairs to a dynamic configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{ConfigError, ConfigErrors, Issue, sort_errors};
use crate::locate::{KeyPath, Seg};
use crate::model::{DynamicConfig, StaticConfig};
use crate::shape::decode_dynamic;
use crate::validate::{self, Known};

/// The value tree of the pairs under `root_key` (keys outside it are left out), with
/// where each path came from. Leaves are strings; lists are still mappings with numeric
/// keys (the decoder turns them into lists where a list is expected).
struct Tree {
    value: Value,
    /// Lower-cased `a/b/c` path (below the root) to the key as written, for every node.
    keys: BTreeMap<String, String>,
    errors: Vec<ConfigError>,
}

fn build(root_key: &str, pairs: &[(String, String)], source: &str) -> Tree {
    let prefix = super::prefix(root_key);
    let mut tree = Tree {
        value: Value::Object(Map::new()),
        keys: BTreeMap::new(),
        errors: Vec::new(),
    };
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, value) in sorted {
        let relative = key.trim_start_matches('/');
        let Some(rest) = strip_prefix_ignore_case(relative, &prefix) else {
            continue;
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            tree.errors.push(located(source, key, "empty key segment"));
            continue;
        }
        if let Err(message) = insert(&mut tree, &prefix, &segments, value) {
            tree.errors.push(located(source, key, message));
        }
    }
    tree
}

fn strip_prefix_ignore_case<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let head = key.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &key[prefix.len()..])
}

fn insert(tree: &mut Tree, prefix: &str, segments: &[&str], value: &str) -> Result<(), String> {
    let mut node = &mut tree.value;
    let mut path = String::new();
    let mut written = prefix.trim_end_matches('/').to_owned();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        // A section given as an empty value (`.../tls` = ``) gains settings.
        if matches!(node, Value::String(s) if s.is_empty()) {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return Err(format!(
                "`{written}` has a value, so it cannot have sub-keys"
            ));
        };
        // Segments are case-insensitive: `entrypoints` and `entryPoints` are one key.
        let existing = map
            .keys()
            .find(|k| k.eq_ignore_ascii_case(segment))
            .cloned();
        let name = existing.unwrap_or_else(|| (*segment).to_owned());
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(&segment.to_ascii_lowercase());
        written.push('/');
        written.push_str(segment);
        tree.keys
            .entry(path.clone())
            .or_insert_with(|| written.clone());
        if last {
            match map.get(&name) {
                Some(Value::Object(children)) if !children.is_empty() && value.is_empty() => {}
                Some(Value::Object(children)) if !children.is_empty() => {
                    return Err("this key has sub-keys, so it cannot have a value".to_owned());
                }
                _ => {
                    map.insert(name, Value::String(value.to_owned()));
                }
            }
            return Ok(());
        }
        node = map.entry(name).or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

fn located(source: &str, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: Some(PathBuf::from(source)),
        ..ConfigError::new(key, message)
    }
}

impl Tree {
    /// The key, as written, of the node at `path` (or of its nearest ancestor that exists).
    fn key_of(&self, root_key: &str, path: &KeyPath) -> String {
        let mut parts: Vec<String> = path
            .0
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) => k.to_ascii_lowercase(),
                Seg::Index(i) => i.to_string(),
            })
            .collect();
        while !parts.is_empty() {
            let joined = parts.join("/");
            if let Some(key) = self.keys.get(&joined) {
                let missing = path.0.len() - parts.len();
                if missing == 0 {
                    return key.clone();
                }
                // A required key that is missing: name where it would be.
                let tail: Vec<String> = path.0[parts.len()..]
                    .iter()
                    .map(|seg| match seg {
                        Seg::Key(k) => k.clone(),
                        Seg::Index(i) => i.to_string(),
                    })
                    .collect();
                return format!("{key}/{}", tail.join("/"));
            }
            parts.pop();
        }
        let mut key = root_key.trim_matches('/').to_owned();
        for seg in &path.0 {
            key.push('/');
            match seg {
                Seg::Key(k) => key.push_str(k),
                Seg::Index(i) => key.push_str(&i.to_string()),
            }
        }
        key
    }
}

/// The value tree of the pairs under `root_key`, as a configuration file would hold it
/// (every leaf a string; lists as mappings with keys `0`, `1`, ...). Keys outside the root
/// are left out.
pub fn tree(root_key: &str, pairs: &[(String, String)]) -> Result<Value, ConfigErrors> {
    let tree = build(root_key, pairs, "kv");
    if tree.errors.is_empty() {
        Ok(lists(tree.value))
    } else {
        Err(ConfigErrors(tree.errors))
    }
}

/// The pairs under `root_key` as a YAML dynamic configuration (every value a string,
/// which the loader converts as it does for any file).
pub fn to_yaml(root_key: &str, pairs: &[(String, String)]) -> Result<String, ConfigErrors> {
    let value = tree(root_key, pairs)?;
    serde_saphyr::to_string(&value).map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            "",
            format!("cannot write YAML: {e}"),
        )])
    })
}

/// Mappings whose keys are exactly `0..n` become lists (for display).
fn lists(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let n = map.len();
            let is_list = n > 0 && (0..n).all(|i| map.contains_key(&i.to_string()));
            if is_list {
                let mut map = map;
                Value::Array(
                    (0..n)
                        .map(|i| lists(map.remove(&i.to_string()).unwrap_or(Value::Null)))
                        .collect(),
                )
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, lists(v))).collect())
            }
        }
        other => other,
    }
}

/// Decodes key-value pairs in Traefik's layout under `root_key` into a dynamic
/// configuration and validates it (against `static_cfg` when given). Every error names its
/// key (`root/http/routers/x/priority`) and carries `source` (e.g. `etcd`) as its file.
pub fn decode(
    root_key: &str,
    pairs: &[(String, String)],
    static_cfg: Option<&StaticConfig>,
    source: &str,
) -> Result<DynamicConfig, ConfigErrors> {
    decode_inner(root_key, pairs, Some(static_cfg), source)
}

/// Like [`decode`], without checking references between names (for a configuration that
/// is merged with other providers' before it is validated as a whole).
pub fn decode_unvalidated(
    root_key: &str,
    pairs: &[(String, String)],
    source: &str,
) -> Result<DynamicConfig, ConfigErrors> {
    decode_inner(root_key, pairs, None, source)
}

fn decode_inner(
    root_key: &str,
    pairs: &[(String, String)],
    validate_with: Option<Option<&StaticConfig>>,
    source: &str,
) -> Result<DynamicConfig, ConfigErrors> {
    let tree = build(root_key, pairs, source);
    let mut errors = tree.errors.clone();
    let decoded = decode_dynamic::<DynamicConfig>(tree.value.clone());
    let locate = |issue: Issue| ConfigError {
        file: Some(PathBuf::from(source)),
        suggestion: issue.suggestion.clone(),
        ..ConfigError::new(tree.key_of(root_key, &issue.path), issue.message)
    };
    errors.extend(decoded.issues.into_iter().map(locate));
    let Some(config) = decoded.config else {
        sort_errors(&mut errors);
        return Err(ConfigErrors(errors));
    };
    let known = Known {
        dropped: &decoded.dropped,
        complete: true,
    };
    if let Some(static_cfg) = validate_with {
        for issue in validate::validate_dynamic(static_cfg, &config, &known) {
            let reported = (1..=issue.path.0.len()).any(|n| {
                decoded
                    .reported
                    .contains(&KeyPath(issue.path.0[..n].to_vec()))
            });
            if !reported {
                errors.push(locate(issue));
            }
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        sort_errors(&mut errors);
        Err(ConfigErrors(errors))
    }
}

/// The problems of the layout itself: keys that do not map onto the dynamic
/// configuration, values of the wrong type, and Traefik features wasmgate does not
/// implement. References between names and the values of rules are not checked.
pub fn layout_errors(root_key: &str, pairs: &[(String, String)]) -> Vec<ConfigError> {
    let tree = build(root_key, pairs, "kv");
    let mut errors = tree.errors.clone();
    let decoded = decode_dynamic::<DynamicConfig>(tree.value.clone());
    let locate = |issue: Issue| ConfigError {
        file: Some(PathBuf::from("kv")),
        suggestion: issue.suggestion.clone(),
        ..ConfigError::new(tree.key_of(root_key, &issue.path), issue.message)
    };
    errors.extend(decoded.issues.into_iter().map(locate));
    if let Some(config) = &decoded.config {
        let known = Known {
            dropped: &decoded.dropped,
            complete: true,
        };
        errors.extend(
            validate::validate_dynamic(None, config, &known)
                .into_iter()
                .map(locate)
                .filter(ConfigError::is_unsupported),
        );
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn decodes_routers_services_lists_and_empty_sections() {
        let config = decode(
            "traefik",
            &pairs(&[
                ("traefik/http/routers/api/rule", "Host(`a.example`)"),
                ("traefik/http/routers/api/service", "api"),
                ("traefik/http/routers/api/priority", "42"),
                ("traefik/http/routers/api/entrypoints/0", "web"),
                ("traefik/http/routers/api/tls", ""),
                (
                    "traefik/http/services/api/loadBalancer/servers/0/url",
                    "http://127.0.0.1:1",
                ),
                (
                    "traefik/http/services/api/loadBalancer/servers/1/url",
                    "http://127.0.0.1:2",
                ),
                ("other/http/routers/x/rule", "ignored"),
            ]),
            None,
            "etcd",
        )
        .unwrap();
        let router = &config.http.routers["api"];
        assert_eq!(router.priority, 42);
        assert_eq!(router.entry_points, vec!["web".to_owned()]);
        assert!(router.tls.is_some());
        assert_eq!(config.http.routers.len(), 1);
    }

    #[test]
    fn an_error_names_the_key() {
        let errors = decode(
            "traefik",
            &pairs(&[
                ("traefik/http/routers/api/rule", "Path(`/`)"),
                ("traefik/http/routers/api/service", "api"),
                ("traefik/http/routers/api/priority", "high"),
                (
                    "traefik/http/services/api/loadBalancer/servers/0/url",
                    "http://127.0.0.1:1",
                ),
            ]),
            None,
            "etcd",
        )
        .unwrap_err()
        .to_string();
        assert!(
            errors.contains("etcd: traefik/http/routers/api/priority: "),
            "{errors}"
        );
    }

    #[test]
    fn a_value_with_sub_keys_is_an_error() {
        let errors = tree(
            "traefik",
            &pairs(&[
                ("traefik/http/routers/api", "x"),
                ("traefik/http/routers/api/rule", "y"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(errors.contains("traefik/http/routers/api/rule"), "{errors}");
    }
}
