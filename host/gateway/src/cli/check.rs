//! `wasmgate check`: validate configuration files, reporting every error found.

use crate::gateway::GatewayConfig;
use crate::plugins::PluginHost;
use crate::provider::DynamicSource;
use crate::runtime::Builder;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wasmgate_config::{DynamicConfig, StaticConfig};
use wasmgate_plugin::PluginSet;

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
        let base = file.parent().unwrap_or(Path::new("."));
        return match wasmgate_config::load_dynamic(file) {
            Ok(dynamic) => check_dynamic(&StaticConfig::default(), base, &dynamic),
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
    check_dynamic(&cfg.static_cfg, &cfg.base_dir, &dynamic)
}

/// Loads the plugins and builds a validated configuration without serving it, for the
/// errors only the gateway finds (plugin sources, grants, unsupported combinations).
fn check_dynamic(static_cfg: &StaticConfig, base: &Path, dynamic: &DynamicConfig) -> Vec<String> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return vec![format!("cannot start the async runtime: {e}")],
    };
    runtime.block_on(async {
        let host = match PluginHost::new(static_cfg, base) {
            Ok(h) => h,
            Err(e) => return vec![format!("cannot start the plugin runtime: {e}")],
        };
        let specs = match host.specs(dynamic) {
            Ok(s) => s,
            Err(errs) => return errs.iter().map(ToString::to_string).collect(),
        };
        let set = match host.reload(&PluginSet::new(), specs).await {
            Ok((set, _)) => set,
            Err(e) => return vec![e],
        };
        match Builder::new(static_cfg).build(dynamic, &set, 1) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(ToString::to_string).collect(),
        }
    })
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
