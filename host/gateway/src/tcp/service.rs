//! TCP services: a round robin over servers, or a weighted round robin over services.

use super::dial::TcpTransport;
use crate::service::wrr::Wrr;
use std::sync::Arc;

/// A TCP backend server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpServer {
    /// `host:port`.
    pub address: String,
    /// Whether the gateway speaks TLS to it.
    pub tls: bool,
}

/// `loadBalancer`: servers taken in turn.
#[derive(Debug)]
pub struct TcpLoadBalancer {
    /// The service's name.
    pub name: Arc<str>,
    /// The servers.
    pub servers: Wrr<TcpServer>,
    /// How servers are dialled.
    pub transport: Arc<TcpTransport>,
    /// PROXY protocol version sent to servers, if any.
    pub proxy_protocol: Option<u8>,
}

/// A TCP service, ready to serve.
#[derive(Debug)]
pub enum TcpServiceRt {
    /// Servers taken in turn.
    LoadBalancer(TcpLoadBalancer),
    /// Other services, by weight.
    Weighted {
        /// The service's name.
        name: Arc<str>,
        /// The children and their weights.
        children: Wrr<Arc<TcpServiceRt>>,
    },
}

impl TcpServiceRt {
    /// The service's name.
    pub fn name(&self) -> &str {
        match self {
            TcpServiceRt::LoadBalancer(lb) => &lb.name,
            TcpServiceRt::Weighted { name, .. } => name,
        }
    }

    /// The next server to use and the balancer it belongs to; `None` when the service has
    /// no server.
    pub fn pick(&self) -> Option<(&TcpLoadBalancer, &TcpServer)> {
        match self {
            TcpServiceRt::LoadBalancer(lb) => lb.servers.pick().map(|s| (lb, s)),
            TcpServiceRt::Weighted { children, .. } => {
                // A child without servers is skipped, so one empty child does not fail all.
                for _ in 0..children.items().len().max(1) {
                    if let Some(found) = children.pick().and_then(|c| c.pick()) {
                        return Some(found);
                    }
                }
                None
            }
        }
    }
}
