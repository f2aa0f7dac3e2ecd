//! Traefik's configuration model, with Traefik's (camelCase) key names.
//!
//! Every type rejects unknown keys. Keys Traefik has but wasmgate does not implement are
//! modelled as [`Unsupported`] fields (or, for middleware and service types, as variants)
//! so that validation can name them instead of ignoring them.

pub mod http;
pub mod middlewares;
pub mod plugins;
pub mod static_cfg;
pub mod tcp;
pub mod tls;

use serde::{Deserialize, Deserializer};

pub use http::*;
pub use middlewares::*;
pub use plugins::*;
pub use static_cfg::*;
pub use tcp::*;
pub use tls::*;

/// The value of a Traefik option wasmgate does not implement, kept verbatim so that
/// validation can report it (it is never acted on).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(transparent)]
pub struct Unsupported(pub serde_json::Value);

/// Dynamic ("routing") configuration: what the file provider reads.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DynamicConfig {
    /// HTTP routers, services, middlewares and servers transports.
    pub http: HttpConfig,
    /// TCP routers, services, middlewares and servers transports.
    pub tcp: TcpConfig,
    /// UDP routers and services.
    pub udp: UdpConfig,
    /// Certificates, TLS options and certificate stores.
    pub tls: TlsConfig,
    /// WebAssembly plugins, by name (a wasmgate extension).
    pub plugins: PluginDefs,
}

impl DynamicConfig {
    /// True when nothing at all is configured.
    pub fn is_empty(&self) -> bool {
        self == &DynamicConfig::default()
    }
}

/// `serde(deserialize_with)` helper: an explicit `null` (e.g. `tls:` with no value) means
/// "present with default settings", as in Traefik, rather than "absent".
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

pub(crate) fn yes() -> bool {
    true
}
