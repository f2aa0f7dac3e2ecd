//! The shape of service and middleware entries: exactly one type key each.
//!
//! Checked before typed decoding, so that a misspelt or missing type, two types at once, or
//! a key next to the type (`middlewares` beside `loadBalancer`) gets a precise message
//! instead of serde's "expected map with a single key".

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::decode::{Decoded, backticked, decode};
use crate::error::Issue;
use crate::features::unsupported_key;
use crate::locate::KeyPath;
use crate::model::{Middleware, Service, TcpMiddleware, TcpService, UdpService};
use crate::suggest::closest;

/// A position in the dynamic configuration holding an externally tagged enum.
struct EnumPosition {
    section: [&'static str; 2],
    what: &'static str,
    variants: fn() -> Vec<String>,
    /// Traefik keys allowed next to the type key that wasmgate does not support.
    unsupported_siblings: &'static [&'static str],
}

const DYNAMIC_ENUMS: &[EnumPosition] = &[
    EnumPosition {
        section: ["http", "services"],
        what: "service",
        variants: variants_of::<Service>,
        unsupported_siblings: &["middlewares"],
    },
    EnumPosition {
        section: ["http", "middlewares"],
        what: "middleware",
        variants: variants_of::<Middleware>,
        unsupported_siblings: &[],
    },
    EnumPosition {
        section: ["tcp", "services"],
        what: "TCP service",
        variants: variants_of::<TcpService>,
        unsupported_siblings: &[],
    },
    EnumPosition {
        section: ["tcp", "middlewares"],
        what: "TCP middleware",
        variants: variants_of::<TcpMiddleware>,
        unsupported_siblings: &[],
    },
    EnumPosition {
        section: ["udp", "services"],
        what: "UDP service",
        variants: variants_of::<UdpService>,
        unsupported_siblings: &[],
    },
];

/// The variant names of an externally tagged enum, read from serde's own error message.
pub(crate) fn variants_of<T: DeserializeOwned>() -> Vec<String> {
    let mut probe = Map::new();
    probe.insert("\u{1}".to_string(), Value::Null);
    match serde_json::from_value::<T>(Value::Object(probe)) {
        Ok(_) => Vec::new(),
        Err(e) => backticked(&e.to_string()).into_iter().skip(1).collect(),
    }
}

/// Decodes the dynamic configuration (checking service and middleware types first).
pub(crate) fn decode_dynamic<T: DeserializeOwned>(mut value: Value) -> Decoded<T> {
    let mut issues = Vec::new();
    let mut reported = BTreeSet::new();
    let mut dropped = BTreeSet::new();
    for position in DYNAMIC_ENUMS {
        check_enum_position(
            &mut value,
            position,
            &mut issues,
            &mut reported,
            &mut dropped,
        );
    }
    let mut decoded = decode(value);
    issues.append(&mut decoded.issues);
    decoded.issues = issues;
    decoded.reported.append(&mut reported);
    decoded.dropped.append(&mut dropped);
    hint_misplaced(&mut decoded.issues, STATIC_SECTIONS, "static");
    decoded
}

/// Decodes the static configuration.
pub(crate) fn decode_static<T: DeserializeOwned>(value: Value) -> Decoded<T> {
    let mut decoded = decode(value);
    hint_misplaced(&mut decoded.issues, DYNAMIC_SECTIONS, "dynamic");
    decoded
}

const STATIC_SECTIONS: &[&str] = &[
    "entryPoints",
    "providers",
    "log",
    "accessLog",
    "api",
    "metrics",
    "tracing",
    "ping",
    "certificatesResolvers",
    "global",
    "experimental",
    "serversTransport",
];

const DYNAMIC_SECTIONS: &[&str] = &["http", "tcp", "udp", "tls"];

/// Explains top-level keys that belong to the other kind of configuration.
fn hint_misplaced(issues: &mut [Issue], sections: &[&str], kind: &str) {
    for issue in issues.iter_mut() {
        if issue.path.0.len() == 1
            && let Some(key) = issue.path.last_key()
            && sections.iter().any(|s| s.eq_ignore_ascii_case(key))
        {
            issue.message = format!(
                "unknown key: `{key}` belongs in the {kind} configuration, not in this file"
            );
            issue.suggestion = None;
        }
    }
}

/// Looks up `key` in `object`, exactly or ignoring ASCII case; returns the actual key.
fn find_key(object: &Map<String, Value>, key: &str) -> Option<String> {
    if object.contains_key(key) {
        return Some(key.to_string());
    }
    object.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

fn check_enum_position(
    root: &mut Value,
    position: &EnumPosition,
    issues: &mut Vec<Issue>,
    reported: &mut BTreeSet<KeyPath>,
    dropped: &mut BTreeSet<KeyPath>,
) {
    let [section, kind] = position.section;
    let Some(Value::Object(top)) = Some(&mut *root) else {
        return;
    };
    let Some(section_key) = find_key(top, section) else {
        return;
    };
    let Some(Value::Object(section_obj)) = top.get_mut(&section_key) else {
        return;
    };
    let Some(kind_key) = find_key(section_obj, kind) else {
        return;
    };
    let Some(Value::Object(entries)) = section_obj.get_mut(&kind_key) else {
        return;
    };
    let variants = (position.variants)();
    let expected = variants.join("`, `");
    let mut to_drop = Vec::new();
    for (name, entry) in entries.iter_mut() {
        let entry_path = KeyPath::of(&[section, kind, name]);
        let Value::Object(body) = entry else {
            issues.push(Issue::new(
                entry_path.clone(),
                format!("a {} needs a type: one of `{expected}`", position.what),
            ));
            to_drop.push(name.clone());
            continue;
        };
        let mut found = Vec::new();
        let mut had_issue = false;
        for key in body.keys().cloned().collect::<Vec<_>>() {
            if let Some(variant) = variants.iter().find(|v| v.eq_ignore_ascii_case(&key)) {
                if *variant != key {
                    let v = body.remove(&key).unwrap_or(Value::Null);
                    body.insert(variant.clone(), v);
                }
                found.push(variant.clone());
                continue;
            }
            let key_path = entry_path.key(&key);
            had_issue = true;
            reported.insert(key_path.clone());
            if let Some(sibling) = position
                .unsupported_siblings
                .iter()
                .find(|s| s.eq_ignore_ascii_case(&key))
            {
                issues.push(Issue::new(
                    key_path,
                    unsupported_key(&entry_path.key(*sibling)),
                ));
            } else {
                let suggestion = closest(&key, variants.iter().map(String::as_str));
                issues.push(
                    Issue::new(
                        key_path,
                        format!(
                            "unknown {} type (expected one of `{expected}`)",
                            position.what
                        ),
                    )
                    .suggest(suggestion),
                );
            }
            body.remove(&key);
        }
        found.sort();
        match found.as_slice() {
            [] => {
                if !had_issue {
                    issues.push(Issue::new(
                        entry_path.clone(),
                        format!("a {} needs a type: one of `{expected}`", position.what),
                    ));
                }
                to_drop.push(name.clone());
            }
            [_] => {}
            [first, rest @ ..] => {
                for other in rest {
                    let key_path = entry_path.key(other);
                    issues.push(Issue::new(
                        key_path.clone(),
                        format!(
                            "a {} has exactly one type; `{first}` and `{other}` cannot be combined",
                            position.what
                        ),
                    ));
                    reported.insert(key_path);
                    body.remove(other);
                }
            }
        }
    }
    for name in to_drop {
        entries.remove(&name);
        let path = KeyPath::of(&[section, kind, &name]);
        reported.insert(path.clone());
        dropped.insert(path);
    }
}
