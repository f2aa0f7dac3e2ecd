//! TCP routing: routers matched on the TLS ClientHello (SNI, ALPN) and the client address,
//! TLS termination or passthrough, TCP middlewares and balanced TCP services.
//!
//! A [`TcpRuntime`] is part of each published configuration; a connection keeps the one it
//! was accepted under until it ends.

pub mod build;
pub mod dial;
pub mod middleware;
pub mod serve;
pub mod service;

use std::collections::HashMap;
use std::sync::Arc;
use wasmgate_rules::TcpRouteTable;

pub use build::TcpBuilder;
pub use middleware::TcpMiddlewareRt;
pub use service::TcpServiceRt;

/// What a TCP router does with TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// No `tls`: the router takes plain (non-TLS) connections.
    Plain,
    /// `tls`: the gateway terminates TLS and relays the decrypted bytes.
    Terminate,
    /// `tls.passthrough`: the TLS bytes go to the server untouched.
    Passthrough,
}

/// A TCP router, ready to serve.
#[derive(Debug)]
pub struct TcpRouterRt {
    /// The router's name.
    pub name: Arc<str>,
    /// Termination, passthrough or plain.
    pub tls: TlsMode,
    /// Its middlewares, in order.
    pub middlewares: Vec<Arc<TcpMiddlewareRt>>,
    /// Its service.
    pub service: Arc<TcpServiceRt>,
}

/// The TCP routers of one entrypoint.
#[derive(Debug, Default)]
pub struct TcpEntryRoutes {
    /// Routers without `tls`, for plain connections.
    pub plain: TcpRouteTable<Arc<TcpRouterRt>>,
    /// Routers with `tls` (terminated or passed through), for TLS connections.
    pub tls: TcpRouteTable<Arc<TcpRouterRt>>,
}

impl TcpEntryRoutes {
    /// Whether the entrypoint has no TCP router.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.tls.is_empty()
    }
}

/// The TCP side of one published configuration.
#[derive(Debug, Default)]
pub struct TcpRuntime {
    /// TCP routers per entrypoint.
    pub entrypoints: HashMap<String, TcpEntryRoutes>,
    /// Every TCP service by name, for plugins that route to one.
    pub services: HashMap<String, Arc<TcpServiceRt>>,
}

impl TcpRuntime {
    /// The TCP routers of entrypoint `name`, if it has any.
    pub fn routes(&self, entrypoint: &str) -> Option<&TcpEntryRoutes> {
        self.entrypoints.get(entrypoint).filter(|r| !r.is_empty())
    }
}
