//! UDP proxying (Traefik's `udp` routers and services).
//!
//! A UDP entrypoint keeps one session per client address. A session owns a dedicated upstream
//! socket connected to the server its service picked when the session began; datagrams are
//! relayed both ways through it until the session has been idle for the entrypoint's
//! `udp.timeout`. Routers and services reload with the dynamic configuration: new sessions use
//! the new configuration, open sessions keep their upstream until they expire.

mod build;
mod listener;
mod session;

use crate::service::Wrr;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub use build::build;
pub use listener::{DEFAULT_MAX_SESSIONS, UdpEntryPoint};

/// The UDP part of a published configuration: the router serving each UDP entrypoint.
#[derive(Debug, Default)]
pub struct UdpRuntime {
    /// The route of each entrypoint some router names.
    by_entrypoint: HashMap<String, UdpRoute>,
    /// The route of every other UDP entrypoint (a router without `entryPoints`).
    all: Option<UdpRoute>,
}

impl UdpRuntime {
    /// The route serving `entrypoint`, if any router does.
    pub fn route(&self, entrypoint: &str) -> Option<&UdpRoute> {
        self.by_entrypoint.get(entrypoint).or(self.all.as_ref())
    }
}

/// A UDP router, ready to serve.
#[derive(Debug, Clone)]
pub struct UdpRoute {
    /// The router's name.
    pub router: Arc<str>,
    /// Its service.
    pub service: Arc<UdpServiceRt>,
}

/// A UDP service: picks the server a new session goes to.
#[derive(Debug)]
pub enum UdpServiceRt {
    /// `loadBalancer`: round robin over its servers.
    LoadBalancer {
        /// The service's name.
        name: Arc<str>,
        /// Its servers, resolved when the configuration was built.
        servers: Wrr<SocketAddr>,
    },
    /// `weighted`: weighted round robin over other services.
    Weighted {
        /// The service's name.
        name: Arc<str>,
        /// The child services and their weights.
        children: Wrr<Arc<UdpServiceRt>>,
    },
}

impl UdpServiceRt {
    /// The service's name.
    pub fn name(&self) -> &str {
        match self {
            UdpServiceRt::LoadBalancer { name, .. } | UdpServiceRt::Weighted { name, .. } => name,
        }
    }

    /// The server for a new session, or `None` when the service has no server to offer.
    pub fn pick(&self) -> Option<SocketAddr> {
        match self {
            UdpServiceRt::LoadBalancer { servers, .. } => servers.pick().copied(),
            UdpServiceRt::Weighted { children, .. } => children.pick()?.pick(),
        }
    }
}
