//! Shared helpers for the runtime's tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmgate_plugin::{
    Plugin, PluginRequest, PluginRuntime, PluginSpec, RuntimeConfig, WasmSource, World,
};

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A runtime with a small pool and its cache in `cache`.
pub fn runtime(cache: Option<&Path>) -> PluginRuntime {
    init_tracing();
    PluginRuntime::new(RuntimeConfig {
        cache_dir: cache.map(Path::to_path_buf),
        pool_total_instances: 64,
        pool_max_memory_bytes: 64 << 20,
        epoch_tick: Duration::from_millis(5),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

pub fn spec(name: &str, wasm: &str, world: World) -> PluginSpec {
    PluginSpec::new(name, WasmSource::Path(PathBuf::from(wasm)), world)
}

pub fn get(path: &str) -> PluginRequest {
    let mut req = PluginRequest::new(
        http::Method::GET,
        path.parse().expect("uri"),
        http::HeaderMap::new(),
    );
    req.headers.insert("host", "example.test".parse().unwrap());
    req.client_addr = Some("192.0.2.7:41000".parse().unwrap());
    req
}

pub fn header(req: &PluginRequest, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// A duration per operation, for the measurement tests' reports.
pub fn per(d: Duration, n: u32) -> String {
    format!("{:.2} us", d.as_secs_f64() * 1e6 / f64::from(n))
}

/// Times `n` warm `on-request` calls on one lease (after 1000 to warm up).
pub async fn time_warm_calls(plugin: &Arc<Plugin>, req: &mut PluginRequest, n: u32) -> Duration {
    let mut lease = plugin.lease().await.unwrap();
    for _ in 0..1000 {
        lease.on_request(req).await.unwrap();
    }
    let t = Instant::now();
    for _ in 0..n {
        lease.on_request(req).await.unwrap();
    }
    t.elapsed()
}
