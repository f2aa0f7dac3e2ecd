//! The live state: what a request reads, built from a dynamic configuration.

pub mod build;
mod services;

use crate::middleware::Chain;
use crate::service::ServiceRt;
use std::collections::HashMap;
use std::sync::Arc;
use wasmgate_rules::RouteTable;

pub use build::{BuildError, Builder};

/// A router, ready to serve.
#[derive(Debug)]
pub struct RouterRt {
    /// The router's name.
    pub name: Arc<str>,
    /// Its middlewares, flattened.
    pub chain: Chain,
    /// Its service.
    pub service: Arc<ServiceRt>,
    /// Whether its requests are written to the access log (`observability.accessLogs`).
    pub access_log: bool,
}

/// The routers of one entrypoint: those for plain connections and those with `tls`.
#[derive(Debug, Default)]
pub struct EntryRoutes {
    /// Routers without `tls`.
    pub plain: RouteTable<Arc<RouterRt>>,
    /// Routers with `tls`, for connections that completed a TLS handshake.
    pub tls: RouteTable<Arc<RouterRt>>,
}

impl EntryRoutes {
    /// The table for a connection.
    pub fn for_connection(&self, tls: bool) -> &RouteTable<Arc<RouterRt>> {
        if tls { &self.tls } else { &self.plain }
    }

    /// Routers in both tables.
    pub fn len(&self) -> usize {
        self.plain.len() + self.tls.len()
    }

    /// Whether there is no router.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One published configuration. Requests take an `Arc` of it when they start and keep it to
/// the end, so a request never sees half of one configuration and half of another.
#[derive(Debug, Default)]
pub struct RuntimeConfig {
    /// The routers of each entrypoint, ordered by priority.
    pub entrypoints: HashMap<String, EntryRoutes>,
    /// Certificates and TLS options; `None` until a configuration is published.
    pub tls: Option<Arc<crate::tls::TlsRuntime>>,
    /// Counts published configurations, starting at 1.
    pub generation: u64,
    /// TCP routers, services and middlewares.
    pub tcp: crate::tcp::TcpRuntime,
    /// The router serving each UDP entrypoint.
    pub udp: crate::udp::UdpRuntime,
}

/// The state shared by every entrypoint: the published configuration and request-wide services.
#[derive(Debug)]
pub struct Live {
    /// The configuration requests read; replaced whole on reload.
    pub config: arc_swap::ArcSwap<RuntimeConfig>,
    /// Where access-log lines go, if anywhere.
    pub access_log: Option<crate::accesslog::AccessLog>,
    /// Requests served since start.
    pub requests: std::sync::atomic::AtomicU64,
}

impl Live {
    /// Live state serving `config`.
    pub fn new(
        config: RuntimeConfig,
        access_log: Option<crate::accesslog::AccessLog>,
    ) -> Arc<Self> {
        Arc::new(Live {
            config: arc_swap::ArcSwap::from_pointee(config),
            access_log,
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }
}
