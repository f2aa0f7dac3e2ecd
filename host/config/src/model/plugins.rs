//! WebAssembly plugins: where they come from, their limits, failure policy and grants.
//!
//! A wasmgate extension of Traefik's dialect. Static configuration lists the registry
//! folders and the artifact cache; dynamic configuration declares each plugin (so adding,
//! changing or removing one is a reload), and middlewares use them as Traefik does:
//! `http.middlewares.<name>.plugin.<plugin>: { settings }`. Route matchers are used in rules
//! as ``Plugin(`name`)``.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

use crate::Duration;

/// Static `plugins`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticPlugins {
    /// Registry folders searched for `name[@version]` sources, in order.
    pub registries: Vec<String>,
    /// Where compiled plugins are cached (default: the user's cache folder).
    pub cache_dir: Option<String>,
    /// Where plugins' `kv` data lives (default: in the process).
    pub kv: Option<KvBackend>,
    /// Instances of a plugin beyond one that stayed idle this long are dropped
    /// (default 30s; 0 keeps them).
    pub idle_timeout: Option<Duration>,
    /// What the instance pool shared by all plugins reserves at start.
    pub pool: PluginPool,
    /// Plugins declared at start (`wasmgate run --plugin NAME=PATH` adds here); dynamic
    /// configuration may declare more, and may not redeclare these.
    pub definitions: PluginDefs,
}

/// Static `plugins.pool`: the instance pool every plugin's instances come from, reserved
/// (as address space, not memory) when the gateway starts.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginPool {
    /// Instance slots across all plugins (default 1000); each reserves a few GiB of
    /// address space.
    pub instances: Option<u32>,
    /// The largest `limits.memory` a plugin may ask for (default `256MiB`).
    pub max_memory: Option<ByteSize>,
}

/// Static `plugins.kv`: a store shared by every gateway instead of one per process.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct KvBackend {
    /// Keep plugin data in Redis.
    pub redis: Option<RedisKv>,
}

/// Static `plugins.kv.redis`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RedisKv {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Prefix of every key (default `wasmgate`); each plugin adds its own name.
    pub key_prefix: String,
    /// Longest wait for one command; past it the plugin gets an error (default 100ms).
    pub timeout: Duration,
}

impl Default for RedisKv {
    fn default() -> Self {
        RedisKv {
            url: String::new(),
            key_prefix: "wasmgate".to_owned(),
            timeout: Duration::from_millis(100),
        }
    }
}

/// Dynamic `plugins.<name>`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginDef {
    /// A path to a `.wasm` component, or `name[@version]` from a registry folder.
    pub source: String,
    /// Settings given to `configure`, for uses that carry none of their own (route matchers,
    /// TCP filters); a middleware's settings replace them.
    pub settings: Option<serde_json::Value>,
    /// Resource limits per instance.
    pub limits: PluginLimits,
    /// What a request gets when the plugin fails.
    pub failure_policy: FailurePolicy,
    /// Host interfaces the plugin may import beyond logging.
    pub grants: PluginGrants,
    /// Which bodies the gateway buffers (up to `limits.maxBody`) so the plugin can read or
    /// replace them; others stream past the plugin untouched.
    pub body: PluginBody,
    /// Whether a request keeps one instance from `on-request` to `on-response` (the
    /// default), so the plugin can keep that request's state in memory between its phases.
    /// `false` borrows an instance for each call only: `on-response` may run on another
    /// instance, and requests waiting on their service hold none, so a few instances serve
    /// any number of them and stay warm in the CPU's caches.
    pub instance_per_request: Option<bool>,
}

/// `plugins.<name>.body`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PluginBody {
    /// No body is buffered (the default): bodies stream.
    #[default]
    None,
    /// The request body.
    Request,
    /// The response body.
    Response,
    /// Both.
    Both,
}

impl PluginBody {
    /// Whether the request body is buffered.
    pub fn request(self) -> bool {
        matches!(self, PluginBody::Request | PluginBody::Both)
    }

    /// Whether the response body is buffered.
    pub fn response(self) -> bool {
        matches!(self, PluginBody::Response | PluginBody::Both)
    }
}

/// `plugins.<name>.limits`; unset fields take the runtime's defaults.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginLimits {
    /// Linear memory per instance, e.g. `32MiB`.
    pub memory: Option<ByteSize>,
    /// Time per call, e.g. `50ms`.
    pub timeout: Option<Duration>,
    /// Instances kept and used at once.
    pub max_instances: Option<u32>,
    /// Largest body a plugin may read or write.
    pub max_body: Option<ByteSize>,
}

/// What happens to a request when its plugin traps, times out or runs out of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailurePolicy {
    /// Answer 500 (the default).
    #[default]
    FailClosed,
    /// Continue without the plugin.
    FailOpen,
}

/// `plugins.<name>.grants`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PluginGrants {
    /// The `kv` interface (a per-plugin key-value namespace).
    pub kv: bool,
    /// The `outbound-http` interface, to these hosts (`host` or `host:port`) only.
    #[serde(rename = "outboundHTTP", alias = "outboundHttp")]
    pub outbound_http: Vec<String>,
}

/// A number of bytes: an integer, or a string with a unit (`512KiB`, `32MiB`, `1GB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `123`, `64KiB`, `32MiB`, `1GiB`, `10KB`, `5MB`, `1GB`.
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{s}` is not a size (e.g. `32MiB`)"))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit `{other}` (use KiB, MiB, GiB, KB, MB or GB)"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// Plugins declared in a dynamic configuration, by name.
pub type PluginDefs = BTreeMap<String, PluginDef>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("32MiB").unwrap().0, 32 << 20);
        assert_eq!(ByteSize::parse("1000").unwrap().0, 1000);
        assert_eq!(ByteSize::parse("5MB").unwrap().0, 5_000_000);
        assert!(ByteSize::parse("5XB").is_err());
        assert!(ByteSize::parse("MiB").is_err());
    }
}
