//! Typed deserialization of a parsed document, with error recovery.
//!
//! Deserialization runs on the generic tree; each failure is recorded as an [`Issue`] and
//! the offending entry removed (or fixed), then deserialization is retried, so one pass
//! reports every unknown key and every ill-typed value of a document. Fixes that mirror
//! Traefik's own leniency are applied silently:
//! - key names are case-insensitive (`healthcheck` is `healthCheck`);
//! - scalars are converted as Traefik's string-based decoder does (`port: 443` for a
//!   string option, `priority: "10"` for a number, `"true"` for a boolean, and
//!   `entryPoints: web,websecure` for a list);
//! - `null` means "not set", and an empty mapping is accepted where a list is expected.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::Issue;
use crate::locate::{KeyPath, Seg};
use crate::suggest::closest;

/// Upper bound on retries for one document (each fixes one problem).
const MAX_ATTEMPTS: usize = 2000;

/// The outcome of decoding one document.
pub(crate) struct Decoded<T> {
    /// The configuration, without the entries that had problems; `None` when the document
    /// as a whole is unusable (e.g. not a mapping).
    pub(crate) config: Option<T>,
    /// Problems found.
    pub(crate) issues: Vec<Issue>,
    /// Paths whose problems were reported here: validation stays quiet about them (a
    /// misspelt `rule` is reported once, not again as a missing rule).
    pub(crate) reported: BTreeSet<KeyPath>,
    /// Named entries dropped because their type could not be determined
    /// (e.g. `http.services.x`): they exist, so references to them are not errors.
    pub(crate) dropped: BTreeSet<KeyPath>,
}
/// All `backtick-quoted` words of a serde message, in order.
pub(crate) fn backticked(message: &str) -> Vec<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Decodes `value` into `T`, recovering from every error it can.
pub(crate) fn decode<T: DeserializeOwned>(mut value: Value) -> Decoded<T> {
    let mut issues = Vec::new();
    let mut reported = BTreeSet::new();
    let mut dropped = BTreeSet::new();
    if let Value::Null = value {
        value = Value::Object(Map::new());
    }
    if !value.is_object() {
        issues.push(Issue::new(
            KeyPath::root(),
            format!(
                "a configuration document must be a mapping of keys, found {}",
                describe(&value)
            ),
        ));
        return Decoded {
            config: None,
            issues,
            reported,
            dropped,
        };
    }
    for _ in 0..MAX_ATTEMPTS {
        let err = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(config) => {
                return Decoded {
                    config: Some(config),
                    issues,
                    reported,
                    dropped,
                };
            }
            Err(err) => err,
        };
        let segs = to_segs(err.path());
        let message = err.inner().to_string();
        let fixed = recover(
            &mut value,
            segs,
            &message,
            &mut issues,
            &mut reported,
            &mut dropped,
        );
        if !fixed {
            break;
        }
    }
    Decoded {
        config: None,
        issues,
        reported,
        dropped,
    }
}

fn to_segs(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    let mut segs = Vec::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => segs.push(Seg::Index(*index)),
            Segment::Map { key } => segs.push(Seg::Key(key.clone())),
            Segment::Enum { variant } => segs.push(Seg::Key(variant.clone())),
            Segment::Unknown => break,
        }
    }
    segs
}

/// Handles one deserialization error; false when nothing could be done about it.
fn recover(
    value: &mut Value,
    segs: Vec<Seg>,
    message: &str,
    issues: &mut Vec<Issue>,
    reported: &mut BTreeSet<KeyPath>,
    dropped: &mut BTreeSet<KeyPath>,
) -> bool {
    let path = KeyPath(segs.clone());
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let words = backticked(message);
        let field = rest.split('`').next().unwrap_or_default().to_string();
        let expected: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
        let parent = if path.last_key() == Some(field.as_str()) {
            path.parent()
        } else {
            path.clone()
        };
        return unknown_key(value, &parent, &field, &expected, issues, reported);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let words = backticked(message);
        let variant = rest.split('`').next().unwrap_or_default().to_string();
        let expected: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
        if rename_key(value, &path, &variant, &expected) {
            return true;
        }
        let suggestion = closest(&variant, expected.iter().copied());
        issues.push(
            Issue::new(
                path.key(&variant),
                format!("unknown type (expected one of `{}`)", expected.join("`, `")),
            )
            .suggest(suggestion),
        );
        reported.insert(path.clone());
        dropped.insert(path.clone());
        return remove_at(value, &path.0);
    }
    let Some(target) = get_mut(value, &segs) else {
        issues.push(Issue::new(path, message.to_string()));
        return false;
    };
    if target.is_null() {
        // `key:` with no value means "not set".
        return remove_silently_or_report(
            value,
            &path,
            "a value is required here",
            issues,
            reported,
        );
    }
    if let Some(coerced) = coerce(target, message) {
        *target = coerced;
        return true;
    }
    let friendly = friendly_message(message);
    issues.push(Issue::new(path.clone(), friendly));
    reported.insert(path.clone());
    remove_at(value, &path.0)
}

/// Traefik-style conversions of a scalar to the type the error says was expected.
fn coerce(target: &Value, message: &str) -> Option<Value> {
    let expected = message.split(", expected ").nth(1).unwrap_or_default();
    match target {
        Value::Object(m) if m.is_empty() && expected.starts_with("a sequence") => {
            Some(Value::Array(Vec::new()))
        }
        // The key-value layout stores list items under `0`, `1`, ...
        Value::Object(m)
            if expected.starts_with("a sequence")
                && (0..m.len()).all(|i| m.contains_key(&i.to_string())) =>
        {
            Some(Value::Array(
                (0..m.len())
                    .filter_map(|i| m.get(&i.to_string()).cloned())
                    .collect(),
            ))
        }
        // ... and a section present without settings as an empty value.
        Value::String(s)
            if s.is_empty()
                && (expected.starts_with("struct ") || expected.starts_with("a map")) =>
        {
            Some(Value::Object(Map::new()))
        }
        Value::String(s) if expected.starts_with("a sequence") => Some(Value::Array(
            s.split(',')
                .map(|item| Value::String(item.trim().to_string()))
                .collect(),
        )),
        Value::String(s) if expects_integer(expected) => {
            if let Ok(n) = s.trim().parse::<i64>() {
                Some(Value::from(n))
            } else {
                s.trim().parse::<u64>().ok().map(Value::from)
            }
        }
        Value::String(s) if expected.starts_with("a boolean") => {
            match s.trim().to_ascii_lowercase().as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            }
        }
        Value::String(s) if expected.starts_with("f64") || expected.starts_with("f32") => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Value::Number(n) if expected.starts_with("a string") => Some(Value::String(n.to_string())),
        Value::Bool(b) if expected.starts_with("a string") => Some(Value::String(b.to_string())),
        _ => None,
    }
}

fn expects_integer(expected: &str) -> bool {
    matches!(
        expected,
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize"
    )
}

/// Rewrites serde's "invalid type: X, expected Y" into "expected Y', found X".
fn friendly_message(message: &str) -> String {
    let body = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "));
    let Some((found, expected)) = body.and_then(|b| b.split_once(", expected ")) else {
        return message.to_string();
    };
    let expected = match expected {
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".to_string(),
        "u8" => "an integer from 0 to 255".to_string(),
        "u16" => "an integer from 0 to 65535".to_string(),
        "u32" | "u64" | "usize" => "a non-negative integer".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "a sequence" => "a list".to_string(),
        "a map" => "a mapping".to_string(),
        e if e.starts_with("struct ") || e.starts_with("enum ") => "a mapping".to_string(),
        e => e.to_string(),
    };
    format!("expected {expected}, found {found}")
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// An unknown key in the mapping at `parent`: renamed when it only differs in case from an
/// expected key, otherwise reported (with a suggestion) and removed.
fn unknown_key(
    value: &mut Value,
    parent: &KeyPath,
    field: &str,
    expected: &[&str],
    issues: &mut Vec<Issue>,
    reported: &mut BTreeSet<KeyPath>,
) -> bool {
    if rename_key(value, parent, field, expected) {
        return true;
    }
    let suggestion = closest(field, expected.iter().copied());
    let present = |value: &mut Value, key: &str| matches!(get_mut(value, &parent.0), Some(Value::Object(m)) if m.contains_key(key));
    let issue = match suggestion {
        Some(s) if s.eq_ignore_ascii_case(field) => Issue::new(
            parent.key(field),
            format!(
                "duplicate key: `{field}` and `{s}` are the same key (keys are case-insensitive)"
            ),
        ),
        Some(s) => {
            if !present(value, s) {
                // Validation would only repeat that the intended key is missing.
                reported.insert(parent.key(s));
            }
            Issue::new(parent.key(field), "unknown key").suggest(Some(s))
        }
        None => Issue::new(parent.key(field), "unknown key"),
    };
    issues.push(issue);
    reported.insert(parent.key(field));
    remove_at(value, &parent.key(field).0)
}

/// Renames `field` of the mapping at `parent` to the expected key equal to it ignoring case.
fn rename_key(value: &mut Value, parent: &KeyPath, field: &str, expected: &[&str]) -> bool {
    let Some(canonical) = expected.iter().find(|e| e.eq_ignore_ascii_case(field)) else {
        return false;
    };
    let Some(Value::Object(map)) = get_mut(value, &parent.0) else {
        return false;
    };
    if *canonical == field || map.contains_key(*canonical) {
        return false;
    }
    let Some(v) = map.remove(field) else {
        return false;
    };
    map.insert((*canonical).to_string(), v);
    true
}

fn remove_silently_or_report(
    value: &mut Value,
    path: &KeyPath,
    message: &str,
    issues: &mut Vec<Issue>,
    reported: &mut BTreeSet<KeyPath>,
) -> bool {
    if matches!(path.0.last(), Some(Seg::Key(_))) {
        return remove_at(value, &path.0);
    }
    issues.push(Issue::new(path.clone(), message));
    reported.insert(path.clone());
    remove_at(value, &path.0)
}

fn get_mut<'a>(value: &'a mut Value, segs: &[Seg]) -> Option<&'a mut Value> {
    let mut current = value;
    for seg in segs {
        current = match (seg, current) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Removes the entry at `segs`: the key from its mapping or, for a list item, the whole
/// list (removing one item would shift the positions of the following ones).
fn remove_at(value: &mut Value, segs: &[Seg]) -> bool {
    let Some(last_key) = segs.iter().rposition(|s| matches!(s, Seg::Key(_))) else {
        return false;
    };
    let Seg::Key(key) = &segs[last_key] else {
        return false;
    };
    match get_mut(value, &segs[..last_key]) {
        Some(Value::Object(map)) => map.remove(key).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DynamicConfig, Middleware, Service};
    use crate::shape::{decode_dynamic, variants_of};

    #[test]
    fn variant_names_are_probed() {
        let v = variants_of::<Service>();
        assert!(v.contains(&"loadBalancer".to_string()), "{v:?}");
        assert!(variants_of::<Middleware>().contains(&"passTLSClientCert".to_string()));
    }

    #[test]
    fn friendly_messages() {
        assert_eq!(
            friendly_message("invalid type: string \"x\", expected i64"),
            "expected an integer, found string \"x\""
        );
        assert_eq!(
            friendly_message("invalid value: integer `-1`, expected u16"),
            "expected an integer from 0 to 65535, found integer `-1`"
        );
    }

    #[test]
    fn case_folding_and_coercion_are_silent() {
        let value = serde_json::json!({
            "HTTP": {"Routers": {"r": {"Rule": "Path(`/`)", "service": "s", "priority": "10"}},
                     "services": {"s": {"loadbalancer": {"servers": {}, "passHostHeader": "false"}}},
                     "middlewares": {"m": {"redirectScheme": {"scheme": "https", "port": 443}}}}
        });
        let d = decode_dynamic::<DynamicConfig>(value);
        assert!(d.issues.is_empty(), "{:?}", d.issues);
        let c = d.config.unwrap();
        assert_eq!(c.http.routers["r"].rule, "Path(`/`)");
        assert_eq!(c.http.routers["r"].priority, 10);
        let Service::LoadBalancer(lb) = &c.http.services["s"] else {
            panic!()
        };
        assert!(!lb.pass_host_header);
        let Middleware::RedirectScheme(rs) = &c.http.middlewares["m"] else {
            panic!()
        };
        assert_eq!(rs.port.as_deref(), Some("443"));
    }

    #[test]
    fn every_problem_is_reported() {
        let value = serde_json::json!({
            "http": {"routers": {"a": {"rulle": "x", "service": "s", "priority": "high"},
                                 "b": {"entryPoints": {"x": 1}, "servce": "s"}},
                     "services": {"s": {"loadBalancer": {}, "weighted": {}},
                                  "t": {"loadBalancr": {}}}}
        });
        let d = decode_dynamic::<DynamicConfig>(value);
        let paths: Vec<String> = d.issues.iter().map(|i| i.path.to_string()).collect();
        for expected in [
            "http.routers.a.rulle",
            "http.routers.a.priority",
            "http.routers.b.entryPoints",
            "http.routers.b.servce",
            "http.services.s.weighted",
            "http.services.t.loadBalancr",
        ] {
            assert!(
                paths.contains(&expected.to_string()),
                "{expected} missing in {paths:?}"
            );
        }
        let rulle = d
            .issues
            .iter()
            .find(|i| i.path.to_string() == "http.routers.a.rulle");
        assert_eq!(rulle.unwrap().suggestion.as_deref(), Some("rule"));
        assert!(d.dropped.contains(&KeyPath::of(&["http", "services", "t"])));
        assert!(d.config.is_some());
    }
}
