//! Conformance: the YAML configuration examples of Traefik's documentation.
//!
//! Loads and validates every example, prints how many load and why the others are
//! rejected, and guards against regressions.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wasmgate_config::{ConfigError, ConfigErrors, load_dynamic, load_static};

/// Examples that load and validate; raise it when support grows.
const MIN_LOADING: usize = 58;

fn examples_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("WASMGATE_CONFORMANCE_DIR")
            .map(|d| PathBuf::from(d).join("config_examples")),
        Some(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/conformance/traefik/config_examples"),
        ),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("INDEX.json").is_file())
}

/// Static configuration is recognised by its top-level keys.
fn is_static(text: &str) -> bool {
    const STATIC_KEYS: &[&str] = &[
        "entryPoints:",
        "providers:",
        "log:",
        "accessLog:",
        "api:",
        "metrics:",
        "tracing:",
        "ping:",
        "certificatesResolvers:",
        "global:",
        "experimental:",
    ];
    const DYNAMIC_KEYS: &[&str] = &["http:", "tcp:", "udp:", "tls:"];
    let top: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with([' ', '\t', '#']) && !l.trim().is_empty())
        .collect();
    top.iter()
        .any(|l| STATIC_KEYS.iter().any(|k| l.starts_with(k)))
        && !top
            .iter()
            .any(|l| DYNAMIC_KEYS.iter().any(|k| l.starts_with(k)))
}

/// A key path with names and indices generalised: `http.routers.*.parentRefs`.
fn generalise(key_path: &str) -> String {
    const NAMED: &[&str] = &[
        "routers",
        "services",
        "middlewares",
        "serversTransports",
        "options",
        "stores",
        "entryPoints",
        "plugin",
    ];
    let mut out: Vec<String> = Vec::new();
    let mut name_next = false;
    for seg in key_path.split('.') {
        let seg = match seg.find('[') {
            Some(i) => format!("{}[]", &seg[..i]),
            None => seg.to_string(),
        };
        if name_next {
            out.push("*".to_string());
            name_next = false;
        } else {
            name_next = NAMED.contains(&seg.as_str()) && out.len() <= 2;
            out.push(seg);
        }
    }
    out.join(".")
}

/// The reason an error rejects a file, for the summary table.
fn reason(e: &ConfigError) -> String {
    if e.is_unsupported() {
        let what = e.message.split_once(": ").map_or("", |(_, w)| w);
        if let Some(rest) = what.strip_prefix('`') {
            return format!("unsupported: {}", generalise(rest.trim_end_matches('`')));
        }
        let what = what.split(" (").next().unwrap_or(what);
        return format!("unsupported: {what}");
    }
    if e.message.starts_with("unknown key") {
        return format!("unknown key: {}", generalise(&e.key_path));
    }
    if e.message.starts_with("invalid YAML") {
        return "invalid YAML".to_string();
    }
    if e.message.starts_with("expected ") && e.message.contains(", found ") {
        return format!("wrong type: {}", generalise(&e.key_path));
    }
    let head = e.message.split('`').next().unwrap_or(&e.message).trim();
    format!("{head} ({})", generalise(&e.key_path))
}

#[test]
fn traefik_documentation_examples() {
    let Some(dir) = examples_dir() else {
        println!("config examples not found (set WASMGATE_CONFORMANCE_DIR); skipping");
        return;
    };
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("INDEX.json")).unwrap()).unwrap();
    let files = index["files"].as_array().unwrap();
    let mut loaded = 0;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut problems = Vec::new();
    for entry in files {
        let name = entry["file"].as_str().unwrap();
        let valid_yaml = entry["valid_yaml"].as_bool().unwrap_or(true);
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| -> Result<(), ConfigErrors> {
            if is_static(&text) {
                load_static(&path).map(|_| ())
            } else {
                load_dynamic(&path).map(|_| ())
            }
        });
        let result = match outcome {
            Ok(r) => r,
            Err(_) => {
                problems.push(format!("{name}: panicked"));
                continue;
            }
        };
        match result {
            Ok(()) => {
                loaded += 1;
                if !valid_yaml {
                    problems.push(format!("{name}: invalid YAML was accepted"));
                }
            }
            Err(errors) => {
                if !valid_yaml && !errors.iter().any(|e| e.message.starts_with("invalid YAML")) {
                    problems.push(format!(
                        "{name}: invalid YAML not reported as such: {errors}"
                    ));
                }
                for e in &errors {
                    if e.file.is_none() || (e.line.is_none() && e.key_path.is_empty()) {
                        problems.push(format!("{name}: error without location: {e}"));
                    }
                }
                let mut file_reasons: Vec<String> = errors.iter().map(reason).collect();
                file_reasons.sort();
                file_reasons.dedup();
                for r in file_reasons {
                    *reasons.entry(r).or_default() += 1;
                }
                if std::env::var_os("WASMGATE_EXAMPLES_VERBOSE").is_some() {
                    println!("--- {name}\n{errors}");
                }
                failures.push((name.to_string(), errors.0[0].to_string()));
            }
        }
    }
    println!("config examples: {loaded}/{} load", files.len());
    println!("\nrejection reasons (files affected):");
    let mut table: Vec<_> = reasons.into_iter().collect();
    table.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (reason, count) in &table {
        println!("  {count:>3}  {reason}");
    }
    println!("\nrejected files (first error):");
    for (name, first) in &failures {
        println!("  {name}\n      {first}");
    }
    assert!(problems.is_empty(), "problems:\n{}", problems.join("\n"));
    assert!(
        loaded >= MIN_LOADING,
        "only {loaded} examples load; at least {MIN_LOADING} did before"
    );
}
