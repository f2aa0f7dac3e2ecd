//! What the gateway asks the runtime to load: plugin specs, limits, grants,
//! and the runtime's own configuration.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The world a plugin implements, which decides how the gateway calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// `http-middleware`: `on-request` / `on-response`.
    HttpMiddleware,
    /// `route-matcher`: `matches`.
    RouteMatcher,
    /// `tcp-filter`: `on-connect`.
    TcpFilter,
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            World::HttpMiddleware => "http-middleware",
            World::RouteMatcher => "route-matcher",
            World::TcpFilter => "tcp-filter",
        })
    }
}

/// Where the component's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WasmSource {
    /// A `.wasm` component file.
    Path(PathBuf),
    /// The component's bytes.
    Bytes(Bytes),
}

/// Resource limits of one plugin. Every instance gets the same limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Linear memory per instance, in bytes.
    pub max_memory_bytes: usize,
    /// Wall time per call (`on-request`, `on-response`, `matches`, ...),
    /// measured with epoch ticks, so accurate to one tick.
    pub call_timeout: Duration,
    /// Wall time for instantiation plus `configure`.
    pub init_timeout: Duration,
    /// Live instances at most; also the number of concurrent calls.
    pub max_instances: usize,
    /// How long a caller waits for an instance when all are busy.
    pub acquire_timeout: Duration,
    /// Largest request or response body the plugin may read or set.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 64 << 20,
            call_timeout: Duration::from_millis(500),
            init_timeout: Duration::from_secs(2),
            max_instances: 16,
            acquire_timeout: Duration::from_millis(100),
            max_body_bytes: 1 << 20,
        }
    }
}

/// Host interfaces granted to a plugin beyond the always-granted ones
/// (`log`, the HTTP/TCP types, WASI clocks, random and stdio).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grants {
    /// `wasmgate:plugin/kv`: a key-value namespace private to the plugin.
    pub kv: bool,
    /// `wasmgate:plugin/outbound-http`: the hosts the plugin may call
    /// (`host`, `host:port` or `*.domain`); `None` means not granted.
    #[serde(rename = "outbound-http")]
    pub outbound_http: Option<Vec<String>>,
}

/// Everything needed to load one plugin.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The plugin's name, unique in a [`crate::PluginSet`]; also the kv
    /// namespace and the log target.
    pub name: String,
    /// The component.
    pub wasm: WasmSource,
    /// The settings passed to `configure`, as JSON (`{}` when none).
    pub settings_json: String,
    /// Resource limits.
    pub limits: Limits,
    /// Granted host interfaces.
    pub grants: Grants,
    /// The world the component implements.
    pub world: World,
    /// Whether a request keeps one instance for both HTTP phases (else one
    /// per call). The runtime only carries it for the gateway, which lends.
    pub instance_per_request: bool,
}

impl PluginSpec {
    /// A spec with default limits, no grants and `{}` settings.
    pub fn new(name: impl Into<String>, wasm: WasmSource, world: World) -> Self {
        PluginSpec {
            name: name.into(),
            wasm,
            settings_json: "{}".to_owned(),
            limits: Limits::default(),
            grants: Grants::default(),
            world,
            instance_per_request: true,
        }
    }
}

/// Configuration of the [`crate::PluginRuntime`] (static: read at start).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where precompiled artifacts are cached; `None` disables the disk
    /// cache. Defaults to `$XDG_CACHE_HOME/wasmgate/plugins` (or
    /// `~/.cache/wasmgate/plugins`).
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling allocator (falls back to on-demand allocation, with a
    /// warning, if the pool cannot be reserved).
    pub pooling: bool,
    /// Instances the pool can hold across all plugins.
    pub pool_total_instances: u32,
    /// The largest memory any plugin may be granted, in bytes; each pool
    /// slot is sized for it.
    pub pool_max_memory_bytes: usize,
    /// The epoch tick: the resolution of call time limits.
    pub epoch_tick: Duration,
    /// The largest timeout an `outbound-http` request may use.
    pub outbound_max_timeout: Duration,
    /// The largest body an `outbound-http` response may carry.
    pub outbound_max_body_bytes: usize,
    /// How often each plugin's pool drops the instances that stayed idle
    /// the whole time (keeping one); zero never drops them.
    pub idle_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: default_cache_dir(),
            pooling: true,
            pool_total_instances: 1000,
            pool_max_memory_bytes: 256 << 20,
            epoch_tick: Duration::from_millis(5),
            outbound_max_timeout: Duration::from_secs(10),
            outbound_max_body_bytes: 4 << 20,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// `$XDG_CACHE_HOME/wasmgate/plugins`, else `$HOME/.cache/wasmgate/plugins`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("wasmgate").join("plugins"))
}
