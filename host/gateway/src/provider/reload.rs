//! Applying a new dynamic configuration: load, validate, build off the request path, publish.

use super::DynamicSource;
use crate::plugins::PluginHost;
use crate::runtime::{Builder, Live, RuntimeConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmgate_config::StaticConfig;
use wasmgate_plugin::PluginSet;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new configuration was published.
    Published {
        /// Its generation number.
        generation: u64,
        /// Time spent loading, validating and building it.
        took: Duration,
    },
    /// The configuration had not changed; nothing was published.
    Unchanged,
}

struct State {
    builder: Builder,
    source: DynamicSource,
    static_cfg: Arc<StaticConfig>,
    plugins: Arc<PluginHost>,
    plugin_set: PluginSet,
    tls_stamp: TlsStamp,
    etcd: Option<super::etcd::EtcdHandle>,
}

type TlsStamp = Vec<(String, Option<std::time::SystemTime>, u64)>;

/// Rebuilds and publishes the configuration. One reload runs at a time; requests never wait
/// for it.
#[derive(Clone)]
pub struct Reloader {
    state: Arc<tokio::sync::Mutex<Option<State>>>,
    live: Arc<Live>,
}

fn joined<E: ToString>(errors: impl IntoIterator<Item = E>) -> String {
    errors
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Reloader {
    /// A reloader publishing into `live`.
    pub fn new(
        builder: Builder,
        source: DynamicSource,
        static_cfg: Arc<StaticConfig>,
        plugins: Arc<PluginHost>,
        live: Arc<Live>,
    ) -> Self {
        Reloader {
            state: Arc::new(tokio::sync::Mutex::new(Some(State {
                builder,
                source,
                static_cfg,
                plugins,
                plugin_set: PluginSet::new(),
                tls_stamp: Vec::new(),
                etcd: None,
            }))),
            live,
        }
    }

    /// Adds the etcd provider: from now on each reload merges its snapshot with the file
    /// provider's configuration.
    pub async fn add_etcd(&self, etcd: super::etcd::EtcdHandle) {
        if let Some(state) = self.state.lock().await.as_mut() {
            state.etcd = Some(etcd);
        }
    }

    /// Loads, validates, loads plugins, builds and publishes. On error the current
    /// configuration stays, and the returned text lists every problem with its location.
    pub async fn reload(&self) -> Result<ReloadOutcome, String> {
        let mut guard = self.state.lock().await;
        let Some(state) = guard.take() else {
            return Err("a previous reload panicked".to_owned());
        };
        let generation = self.live.config.load().generation + 1;
        tracing::debug!(generation, "reload started");
        let started = Instant::now();
        let (state, result) = reload_steps(state, generation).await?;
        let source = state.source.describe();
        *guard = Some(state);
        match result {
            Ok(Some(runtime)) => {
                let took = started.elapsed();
                let routers: usize = runtime.entrypoints.values().map(|t| t.len()).sum();
                self.live.config.store(Arc::new(runtime));
                tracing::info!(%source, generation, routers, build_ms = took.as_secs_f64() * 1e3, "configuration published");
                Ok(ReloadOutcome::Published { generation, took })
            }
            Ok(None) => {
                tracing::debug!(%source, "configuration unchanged");
                Ok(ReloadOutcome::Unchanged)
            }
            Err(errors) => {
                tracing::error!(%source, "configuration rejected, the previous one keeps serving:\n{errors}");
                Err(errors)
            }
        }
    }
}

type Steps = (State, Result<Option<RuntimeConfig>, String>);

/// Load (blocking I/O, off the runtime), load plugins (compiles off the runtime), build
/// (off the runtime). The state always comes back, whatever fails.
async fn reload_steps(mut state: State, generation: u64) -> Result<Steps, String> {
    // Reading files, resolving registry references and hashing wasm: blocking work.
    let (state_back, loaded) = tokio::task::spawn_blocking(move || {
        let loaded = match &state.etcd {
            None => state.source.load(Some(&state.static_cfg)),
            Some(etcd) => super::aggregate::load(&state.source, etcd, &state.static_cfg),
        }
        .map_err(|e| e.to_string())
        .and_then(|d| match state.plugins.specs(&d) {
            Ok(specs) => {
                let stamp = crate::tls::files_stamp(&d.tls);
                Ok((d, specs, stamp))
            }
            Err(errors) => Err(joined(errors)),
        });
        (state, loaded)
    })
    .await
    .map_err(|e| format!("reload task failed: {e}"))?;
    state = state_back;
    let (dynamic, specs, tls_stamp) = match loaded {
        Ok(l) => l,
        Err(e) => return Ok((state, Err(e))),
    };
    let (plugin_set, plugins_changed) = match state.plugins.reload(&state.plugin_set, specs).await {
        Ok(r) => r,
        Err(e) => return Ok((state, Err(e))),
    };
    if !plugins_changed && tls_stamp == state.tls_stamp && state.builder.is_current(&dynamic) {
        return Ok((state, Ok(None)));
    }
    let (mut state, built, plugin_set) = tokio::task::spawn_blocking(move || {
        let built = state.builder.build(&dynamic, &plugin_set, generation);
        (state, built, plugin_set)
    })
    .await
    .map_err(|e| format!("reload task failed: {e}"))?;
    match built {
        Ok(runtime) => {
            state.plugin_set = plugin_set;
            state.tls_stamp = tls_stamp;
            Ok((state, Ok(Some(runtime))))
        }
        Err(errors) => Ok((state, Err(joined(errors)))),
    }
}

/// The longest a burst of changes delays a reload.
const DEBOUNCE_MAX: Duration = Duration::from_millis(500);

/// Watches the source and SIGHUP, and reloads after each burst of changes.
///
/// Changes are debounced (a burst of writes becomes one reload) and reloads are spaced by at
/// least `throttle`.
/// With `changes` from [`DynamicSource::watch`] (or `None` to reload on SIGHUP only).
pub async fn watch_loop(
    reloader: Reloader,
    changes: Option<(notify::RecommendedWatcher, tokio::sync::mpsc::Receiver<()>)>,
    throttle: Duration,
) {
    watch_providers(reloader, changes, None, throttle).await
}

/// [`watch_loop`], also reloading when another provider (etcd) signals on `provider`.
pub async fn watch_providers(
    reloader: Reloader,
    changes: Option<(notify::RecommendedWatcher, tokio::sync::mpsc::Receiver<()>)>,
    mut provider: Option<tokio::sync::mpsc::Receiver<()>>,
    throttle: Duration,
) {
    let (_watcher, mut changes) = match changes {
        Some((w, rx)) => (Some(w), Some(rx)),
        None => (None, None),
    };
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let changed = async {
            match changes.as_mut() {
                Some(rx) => rx.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        let provided = async {
            match provider.as_mut() {
                Some(rx) => rx.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        let hangup = async {
            match hup.as_mut() {
                Some(s) => s.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            alive = changed => if !alive { return },
            alive = provided => if !alive { provider = None },
            _ = hangup => tracing::info!("SIGHUP: reloading configuration"),
        }
        tracing::debug!("configuration change seen");
        // Debounce: wait until the providers have been quiet for a moment (at most
        // DEBOUNCE_MAX, so a steady stream of changes still gets applied).
        let burst_started = Instant::now();
        loop {
            let quiet = Duration::from_millis(50);
            let more = async {
                tokio::select! {
                    Some(()) = async { match changes.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => true,
                    Some(()) = async { match provider.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => true,
                    _ = tokio::time::sleep(quiet) => false,
                }
            };
            if !more.await || burst_started.elapsed() >= DEBOUNCE_MAX {
                break;
            }
        }
        let started = Instant::now();
        let _ = reloader.reload().await;
        let wait = throttle.saturating_sub(started.elapsed());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}
