//! `wasmgate run`.

use crate::gateway::{Gateway, GatewayConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

pub(super) fn run(
    config: Option<PathBuf>,
    log_level: Option<String>,
    plugins: &[String],
    workers: Option<usize>,
) -> ExitCode {
    let cfg = match config {
        Some(path) => GatewayConfig::from_file(&path),
        None => GatewayConfig::embedded_default(),
    };
    let mut cfg = match cfg {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wasmgate: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    for p in plugins {
        let Some((name, source)) = p
            .split_once('=')
            .filter(|(n, s)| !n.is_empty() && !s.is_empty())
        else {
            eprintln!("wasmgate: --plugin `{p}`: expected NAME=PATH");
            return ExitCode::FAILURE;
        };
        // A path on the command line is relative to the working directory.
        let is_path = source.ends_with(".wasm") || source.contains('/');
        let source = match std::env::current_dir() {
            Ok(cwd) if is_path => cwd.join(source).display().to_string(),
            _ => source.to_owned(),
        };
        let def = wasmgate_config::PluginDef {
            source,
            ..Default::default()
        };
        cfg.static_cfg
            .plugins
            .definitions
            .insert(name.to_owned(), def);
    }
    init_logging(&cfg, log_level);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers.filter(|n| *n > 0) {
        builder.worker_threads(n);
    }
    let runtime = match super::start_runtime(&mut builder) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        // Listening for SIGTERM before serving: one sent as soon as requests are answered
        // drains the gateway instead of killing it.
        let stop = StopSignal::install();
        let gateway = match Gateway::start(cfg).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!("{e:#}");
                return ExitCode::FAILURE;
            }
        };
        for (name, addr) in gateway.addrs() {
            tracing::info!(entrypoint = %name, url = %format!("http://{addr}/"), "ready");
        }
        stop.wait().await;
        tracing::info!("stop signal received, draining");
        gateway.shutdown().await;
        tracing::info!("stopped");
        ExitCode::SUCCESS
    })
}

/// SIGTERM and SIGINT, caught from the moment it is installed (a signal that
/// arrives before [`StopSignal::wait`] is not lost).
pub(super) struct StopSignal(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

impl StopSignal {
    /// Replaces the default action of SIGTERM and SIGINT (ending the process).
    pub(super) fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        StopSignal(
            signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok(),
        )
    }

    /// Returns on SIGTERM or SIGINT.
    pub(super) async fn wait(self) {
        match self.0 {
            Some((mut term, mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

fn init_logging(cfg: &GatewayConfig, cli_level: Option<String>) {
    let level = cli_level
        .or_else(|| std::env::var("RUST_LOG").ok())
        .or_else(|| cfg.static_cfg.log.level.clone().map(|l| l.to_lowercase()))
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = cfg.static_cfg.log.format.as_deref() == Some("json");
    let file = cfg
        .static_cfg
        .log
        .file_path
        .as_deref()
        .filter(|p| !p.is_empty());
    let file = match file.map(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
    }) {
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            eprintln!("wasmgate: log.filePath: {e}; logging to stderr");
            None
        }
        None => None,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (file, json) {
        (Some(f), true) => builder.json().with_writer(std::sync::Mutex::new(f)).init(),
        (Some(f), false) => builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .init(),
        (None, true) => builder.json().with_writer(std::io::stderr).init(),
        (None, false) => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init(),
    }
}
