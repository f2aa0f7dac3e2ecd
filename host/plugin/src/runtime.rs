//! The process-wide [`PluginRuntime`]: one engine (component model, pooling
//! allocator, epoch interruption), its epoch ticker, and loading.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime::component::{HasSelf, InstancePre, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, WasmBacktraceDetails,
};

use crate::bindings;
use crate::cache;
use crate::error::PluginError;
use crate::grants;
use crate::kv::{KvStore, MemoryKv};
use crate::outbound::OutboundCtx;
use crate::plugin::{Linked, Plugin, WorldPre, new_store, ticks};
use crate::spec::{PluginSpec, RuntimeConfig, WasmSource, World};
use crate::state::{HostState, PluginShared};

/// Counters of the runtime, for tests, metrics and the admin API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Components compiled by Cranelift.
    pub compiled: u64,
    /// Components loaded from the artifact cache.
    pub cache_loads: u64,
    /// Instances alive now, across every plugin (ready in a pool or in use); instances of
    /// plugins that were replaced or removed are gone once their last request finished.
    pub live_instances: u64,
}

/// Owns the process's one [`Engine`]; cheap to clone.
#[derive(Clone)]
pub struct PluginRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: RuntimeConfig,
    kv: Arc<dyn KvStore>,
    compiled: AtomicU64,
    cache_loads: AtomicU64,
    live_instances: Arc<AtomicU64>,
    stop_ticker: Arc<AtomicBool>,
    pooling: bool,
    /// Every plugin loaded, for the idle trimmer (touched at load and by
    /// the trimmer, never by a request).
    loaded: Arc<Mutex<Vec<Weak<Plugin>>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

fn engine_config(rc: &RuntimeConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true)
        .epoch_interruption(true)
        .wasm_backtrace_details(WasmBacktraceDetails::Disable)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    // For profiling plugins: writes /tmp/perf-PID.map, which names the
    // compiled guest functions for perf and callgrind-based tools.
    if std::env::var_os("WASMGATE_PERFMAP").is_some_and(|v| v == "1") {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if pooling {
        let n = rc.pool_total_instances.max(1);
        let mut p = PoolingAllocationConfig::default();
        p.total_component_instances(n)
            .total_core_instances(n.saturating_mul(8))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(8))
            .total_stacks(n)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_memory_size(rc.pool_max_memory_bytes);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    c
}

impl PluginRuntime {
    /// A runtime with the in-process key-value store.
    pub fn new(config: RuntimeConfig) -> Result<Self, PluginError> {
        Self::with_kv(config, Arc::new(MemoryKv::new()))
    }

    /// A runtime whose plugins' `kv` imports use `kv`.
    pub fn with_kv(config: RuntimeConfig, kv: Arc<dyn KvStore>) -> Result<Self, PluginError> {
        let (engine, pooling) = match config
            .pooling
            .then(|| Engine::new(&engine_config(&config, true)))
        {
            Some(Ok(e)) => (e, true),
            other => {
                if let Some(Err(e)) = other {
                    tracing::warn!(error = %e, "cannot reserve the plugin instance pool; using on-demand allocation");
                }
                let e = Engine::new(&engine_config(&config, false))
                    .map_err(|e| PluginError::Engine(e.to_string()))?;
                (e, false)
            }
        };
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), config.epoch_tick, stop_ticker.clone())?;
        let loaded = Arc::new(Mutex::new(Vec::new()));
        if !config.idle_timeout.is_zero() {
            spawn_trimmer(loaded.clone(), config.idle_timeout, stop_ticker.clone())?;
        }
        Ok(PluginRuntime {
            inner: Arc::new(Inner {
                engine,
                config,
                kv,
                compiled: AtomicU64::new(0),
                cache_loads: AtomicU64::new(0),
                live_instances: Arc::new(AtomicU64::new(0)),
                stop_ticker,
                pooling,
                loaded,
            }),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Whether the pooling allocator is in use (false after a fallback).
    pub fn pooling(&self) -> bool {
        self.inner.pooling
    }

    /// Compile and cache counters.
    pub fn stats(&self) -> RuntimeStats {
        RuntimeStats {
            compiled: self.inner.compiled.load(Ordering::Relaxed),
            cache_loads: self.inner.cache_loads.load(Ordering::Relaxed),
            live_instances: self.inner.live_instances.load(Ordering::Relaxed),
        }
    }

    /// Reads the component's bytes.
    pub async fn read_wasm(&self, name: &str, source: &WasmSource) -> Result<Bytes, PluginError> {
        let _ = name;
        match source {
            WasmSource::Bytes(b) => Ok(b.clone()),
            WasmSource::Path(p) => {
                tokio::fs::read(p)
                    .await
                    .map(Bytes::from)
                    .map_err(|e| PluginError::Io {
                        path: p.display().to_string(),
                        source: e,
                    })
            }
        }
    }

    /// Loads a plugin: compiles (or loads from the artifact cache) off the
    /// async runtime, checks its imports against its grants, links it, and
    /// starts one instance (running `configure`) so a broken plugin is refused
    /// here rather than on the first request.
    pub async fn load(&self, spec: PluginSpec) -> Result<Arc<Plugin>, PluginError> {
        let bytes = self.read_wasm(&spec.name, &spec.wasm).await?;
        let sha = {
            let b = bytes.clone();
            spawn_blocking(move || cache::content_hash(&b)).await?
        };
        self.load_bytes(spec, bytes, sha).await
    }

    pub(crate) async fn load_bytes(
        &self,
        spec: PluginSpec,
        bytes: Bytes,
        sha: String,
    ) -> Result<Arc<Plugin>, PluginError> {
        let name = spec.name.clone();
        let config_err = |message: String| PluginError::Config {
            plugin: name.clone(),
            message,
        };
        if spec.limits.max_instances == 0 {
            return Err(config_err("max instances must be at least 1".into()));
        }
        if spec.limits.max_memory_bytes > self.inner.config.pool_max_memory_bytes {
            return Err(config_err(format!(
                "memory limit {} exceeds the instance pool's maximum of {} bytes (static \
                 `plugins.pool.maxMemory`)",
                spec.limits.max_memory_bytes, self.inner.config.pool_max_memory_bytes
            )));
        }
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&spec.settings_json) {
            return Err(config_err(format!("settings are not valid JSON: {e}")));
        }

        let start = Instant::now();
        let engine = self.inner.engine.clone();
        let dir = self.inner.config.cache_dir.clone();
        let compiled = {
            let sha = sha.clone();
            let bytes = bytes.clone();
            spawn_blocking(move || cache::load_or_compile(&engine, dir.as_deref(), &bytes, &sha))
                .await?
                .map_err(|e| PluginError::Compile {
                    plugin: name.clone(),
                    message: format!("{e:#}"),
                })?
        };
        let counter = if compiled.from_cache {
            &self.inner.cache_loads
        } else {
            &self.inner.compiled
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let component = compiled.component;

        grants::check_imports(&self.inner.engine, &component, &name, &spec.grants)?;
        let link_err = |e: wasmtime::Error| PluginError::Compile {
            plugin: name.clone(),
            message: format!("{e:#}"),
        };
        let shared = Arc::new(PluginShared {
            live: self.inner.live_instances.clone(),
            name: Arc::from(name.as_str()),
            limits: spec.limits.clone(),
            kv: spec.grants.kv.then(|| self.inner.kv.clone()),
            outbound: spec.grants.outbound_http.as_ref().map(|allow| OutboundCtx {
                allow: allow.clone(),
                max_timeout: self.inner.config.outbound_max_timeout,
                max_body: self.inner.config.outbound_max_body_bytes,
            }),
        });
        // A plugin that needs no I/O but its stdio is linked with synchronous
        // `wasi:io` and, when all its imports then are synchronous, called
        // without a fiber; otherwise with the async linker, as before.
        let io_free = !spec.grants.kv && spec.grants.outbound_http.is_none();
        let sync_pre = if io_free {
            let linker = self.linker(&spec, true).map_err(link_err)?;
            let p = linker.instantiate_pre(&component).map_err(link_err)?;
            self.runs_sync(&p, &shared, &spec).then_some(p)
        } else {
            None
        };
        let sync_calls = sync_pre.is_some();
        let pre = match sync_pre {
            Some(p) => p,
            None => {
                let linker = self.linker(&spec, false).map_err(link_err)?;
                linker.instantiate_pre(&component).map_err(link_err)?
            }
        };
        let pre = match spec.world {
            World::HttpMiddleware => WorldPre::Middleware(
                bindings::middleware::HttpMiddlewarePre::new(pre).map_err(link_err)?,
            ),
            World::RouteMatcher => {
                WorldPre::Matcher(bindings::matcher::RouteMatcherPre::new(pre).map_err(link_err)?)
            }
            World::TcpFilter => {
                WorldPre::Tcp(bindings::tcp::TcpFilterPre::new(pre).map_err(link_err)?)
            }
        };
        let plugin = Arc::new(Plugin::new(
            spec,
            sha,
            compiled.from_cache,
            self.inner.engine.clone(),
            self.inner.config.epoch_tick,
            Linked { pre, sync_calls },
            shared,
        ));
        plugin.prewarm().await?;
        if let Ok(mut loaded) = self.inner.loaded.lock() {
            loaded.retain(|p| p.strong_count() > 0);
            loaded.push(Arc::downgrade(&plugin));
        }
        tracing::info!(
            plugin = %name,
            world = %plugin.world(),
            from_cache = plugin.loaded_from_cache(),
            sync_calls,
            elapsed = ?start.elapsed(),
            "plugin loaded"
        );
        Ok(plugin)
    }

    /// Whether instances of `pre` can be called synchronously: wasmtime
    /// refuses a synchronous instantiation at once when any import is async.
    /// The probe instance (start functions run, `configure` does not) is
    /// dropped.
    fn runs_sync(
        &self,
        pre: &InstancePre<HostState>,
        shared: &Arc<PluginShared>,
        spec: &PluginSpec,
    ) -> bool {
        let init = ticks(spec.limits.init_timeout, self.inner.config.epoch_tick);
        let mut store = new_store(&self.inner.engine, shared.clone(), init);
        pre.instantiate(&mut store).is_ok()
    }

    /// The imports a plugin may use: WASI (with synchronous `wasi:io` when
    /// `sync_io`), the HTTP types, `log`, and what it is granted.
    fn linker(&self, spec: &PluginSpec, sync_io: bool) -> wasmtime::Result<Linker<HostState>> {
        let mut linker = Linker::new(&self.inner.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        if sync_io {
            crate::sync_io::add_to_linker(&mut linker)?;
        }
        bindings::types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        crate::headers::add_to_linker(&mut linker)?;
        bindings::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        if spec.grants.kv {
            bindings::kv::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        }
        if spec.grants.outbound_http.is_some() {
            bindings::outbound_http::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        }
        Ok(linker)
    }
}

async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PluginError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PluginError::Engine(format!("compile task failed: {e}")))
}

/// Increments the engine's epoch every `tick` until `stop` is set.
fn spawn_ticker(engine: Engine, tick: Duration, stop: Arc<AtomicBool>) -> Result<(), PluginError> {
    std::thread::Builder::new()
        .name("wasmgate-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })
        .map(|_| ())
        .map_err(|e| PluginError::Engine(format!("cannot start the epoch ticker: {e}")))
}

/// Every `every`, trims the idle instances of each loaded plugin, on a
/// thread of its own (dropping an instance resets its memory; that is not
/// work for the async runtime or the epoch ticker).
fn spawn_trimmer(
    loaded: Arc<Mutex<Vec<Weak<Plugin>>>>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> Result<(), PluginError> {
    std::thread::Builder::new()
        .name("wasmgate-trim".into())
        .spawn(move || {
            let step = every.min(Duration::from_millis(100));
            let mut waited = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(step);
                waited += step;
                if waited < every {
                    continue;
                }
                waited = Duration::ZERO;
                // Entries of dropped plugins are pruned at each load.
                let plugins: Vec<Arc<Plugin>> = match loaded.lock() {
                    Ok(l) => l.iter().filter_map(Weak::upgrade).collect(),
                    Err(_) => return,
                };
                for p in plugins {
                    let n = p.trim_idle();
                    if n > 0 {
                        tracing::debug!(plugin = %p.name(), dropped = n, "idle plugin instances dropped");
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(|e| PluginError::Engine(format!("cannot start the idle trimmer: {e}")))
}
