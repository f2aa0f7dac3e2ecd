//! `wasmgate check`: validate configuration files, reporting every error found.

use crate::gateway::GatewayConfig;
use crate::provider::DynamicSource;
use crate::runtime::Builder;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wasmgate_config::{DynamicConfig, StaticConfig};

#[allow(clippy::print_stdout)]
pub(super) fn check(files: &[PathBuf]) -> ExitCode {
    let mut failed = 0usize;
    for file in files {
        let errors = check_file(file);
        if errors.is_empty() {
            println!("ok: {}", file.display());
        } else {
            failed += 1;
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{}: {} error(s)", file.display(), errors.len());
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Every error found in one file (and, for a static file, in its file provider's files).
pub fn check_file(file: &Path) -> Vec<String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return vec![format!("{}: cannot read: {e}", file.display())],
    };
    if looks_dynamic(&text) {
        return match wasmgate_config::load_dynamic(file) {
            Ok(dynamic) => check_dynamic(None, &dynamic),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        };
    }
    let cfg = match GatewayConfig::from_file(file) {
        Ok(c) => c,
        Err(e) => return vec![format!("{e:#}")],
    };
    let dynamic = match cfg.dynamic.load(Some(&cfg.static_cfg)) {
        Ok(d) => d,
        Err(e) => return e.iter().map(ToString::to_string).collect(),
    };
    if let DynamicSource::Fixed(_) = cfg.dynamic {
        return Vec::new();
    }
    check_dynamic(Some(&cfg.static_cfg), &dynamic)
}

/// Builds a validated configuration without serving it, for the errors only the gateway finds.
fn check_dynamic(static_cfg: Option<&StaticConfig>, dynamic: &DynamicConfig) -> Vec<String> {
    let default = StaticConfig::default();
    match Builder::new(static_cfg.unwrap_or(&default)).build(dynamic, 1) {
        Ok(_) => Vec::new(),
        Err(errs) => errs.iter().map(ToString::to_string).collect(),
    }
}

/// A dynamic file has `http`, `tcp`, `udp` or `tls` at the top level; a static one does not.
fn looks_dynamic(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_end();
        ["http", "tcp", "udp", "tls"].iter().any(|k| {
            l.strip_prefix(k)
                .is_some_and(|rest| rest.starts_with(':') || rest.trim_start().starts_with('='))
                || l.strip_prefix('[')
                    .and_then(|r| r.strip_prefix(k))
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with(']'))
        })
    })
}
