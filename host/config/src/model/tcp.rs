//! `tcp` and `udp`: routers, services, middlewares and servers transports.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{CertAndKey, Domain, Unsupported};
use crate::Duration;

/// The `tcp` section of the dynamic configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpConfig {
    /// Routers, by name.
    pub routers: BTreeMap<String, TcpRouter>,
    /// Services, by name.
    pub services: BTreeMap<String, TcpService>,
    /// Middlewares, by name.
    pub middlewares: BTreeMap<String, TcpMiddleware>,
    /// How to connect to backend servers, by name.
    pub servers_transports: BTreeMap<String, TcpServersTransport>,
}

/// `tcp.routers.<name>`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpRouter {
    /// Entry points; empty means all.
    pub entry_points: Vec<String>,
    /// Rule, e.g. ``HostSNI(`example.com`)``.
    pub rule: String,
    /// `v3` (default) or `v2`.
    pub rule_syntax: Option<String>,
    /// Priority; 0 means the length of the rule.
    pub priority: i64,
    /// TCP middlewares.
    pub middlewares: Vec<String>,
    /// Target service.
    pub service: Option<String>,
    /// TLS termination or passthrough.
    #[serde(deserialize_with = "super::null_as_default")]
    pub tls: Option<TcpRouterTls>,
}

/// `tcp.routers.<name>.tls`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpRouterTls {
    /// Forward TLS untouched to the backend.
    pub passthrough: bool,
    /// Name of a `tls.options` entry.
    pub options: Option<String>,
    /// Name of a certificate resolver.
    pub cert_resolver: Option<String>,
    /// Domains to obtain certificates for.
    pub domains: Vec<Domain>,
}

/// `tcp.services.<name>`: exactly one kind of service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum TcpService {
    /// Balance over servers.
    LoadBalancer(TcpLoadBalancer),
    /// Weighted round robin over other services.
    Weighted(TcpWeighted),
}

/// `tcp.services.<name>.loadBalancer`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpLoadBalancer {
    /// Backend servers.
    pub servers: Vec<TcpServer>,
    /// Name of a `tcp.serversTransports` entry.
    pub servers_transport: Option<String>,
    /// Send a PROXY protocol header to servers.
    pub proxy_protocol: Option<ProxyProtocolVersion>,
    /// Deprecated: delay before closing the write side, in milliseconds.
    pub termination_delay: Option<i64>,
    /// Unsupported: `healthCheck` (TCP health checks).
    pub health_check: Option<Unsupported>,
}

/// A TCP backend server.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpServer {
    /// `host:port`.
    pub address: String,
    /// Connect with TLS.
    pub tls: bool,
}

/// `proxyProtocol` towards backends.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ProxyProtocolVersion {
    /// 1 or 2 (default 2).
    pub version: Option<i64>,
}

/// `tcp.services.<name>.weighted`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpWeighted {
    /// Child services.
    pub services: Vec<super::WeightedService>,
    /// Unsupported: `healthCheck`.
    pub health_check: Option<Unsupported>,
}

/// `tcp.middlewares.<name>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum TcpMiddleware {
    /// Allow only some client IPs.
    #[serde(rename = "ipAllowList")]
    IpAllowList(TcpIpAllowList),
    /// Deprecated name of `ipAllowList`.
    #[serde(rename = "ipWhiteList")]
    IpWhiteList(TcpIpAllowList),
    /// Limit simultaneous connections per client IP.
    InFlightConn(InFlightConn),
    /// A `tcp-filter` plugin: `plugin: { <plugin name>: <settings> }`.
    Plugin(BTreeMap<String, serde_json::Value>),
}

/// `tcp.middlewares.<name>.ipAllowList`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpIpAllowList {
    /// Allowed IPs and CIDR ranges.
    pub source_range: Vec<String>,
}

/// `tcp.middlewares.<name>.inFlightConn`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct InFlightConn {
    /// Maximum simultaneous connections per client IP.
    pub amount: i64,
}

/// `tcp.serversTransports.<name>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpServersTransport {
    /// Connect timeout (default 30s).
    pub dial_timeout: Duration,
    /// TCP keep-alive period (default 15s).
    pub dial_keep_alive: Duration,
    /// Delay before closing the write side (default 100ms).
    pub termination_delay: Duration,
    /// Send a PROXY protocol header to servers.
    pub proxy_protocol: Option<ProxyProtocolVersion>,
    /// TLS towards servers.
    pub tls: Option<TcpServersTransportTls>,
}

impl Default for TcpServersTransport {
    fn default() -> Self {
        TcpServersTransport {
            dial_timeout: Duration::from_secs(30),
            dial_keep_alive: Duration::from_secs(15),
            termination_delay: Duration::from_millis(100),
            proxy_protocol: None,
            tls: None,
        }
    }
}

/// `tcp.serversTransports.<name>.tls`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TcpServersTransportTls {
    /// SNI server name.
    pub server_name: Option<String>,
    /// Skip certificate verification.
    pub insecure_skip_verify: bool,
    /// CA files to trust.
    #[serde(rename = "rootCAs")]
    pub root_cas: Vec<String>,
    /// Client certificates.
    pub certificates: Vec<CertAndKey>,
    /// Expected URI SAN of server certificates.
    #[serde(rename = "peerCertURI")]
    pub peer_cert_uri: Option<String>,
    /// Unsupported: `spiffe`.
    pub spiffe: Option<Unsupported>,
    /// Unsupported: `peerCertSANs`.
    #[serde(rename = "peerCertSANs")]
    pub peer_cert_sans: Option<Unsupported>,
}

/// The `udp` section of the dynamic configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UdpConfig {
    /// Routers, by name.
    pub routers: BTreeMap<String, UdpRouter>,
    /// Services, by name.
    pub services: BTreeMap<String, UdpService>,
}

/// `udp.routers.<name>`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UdpRouter {
    /// Entry points; empty means all UDP entry points.
    pub entry_points: Vec<String>,
    /// Target service.
    pub service: Option<String>,
}

/// `udp.services.<name>`: exactly one kind of service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum UdpService {
    /// Balance over servers.
    LoadBalancer(UdpLoadBalancer),
    /// Weighted round robin over other services.
    Weighted(UdpWeighted),
}

/// `udp.services.<name>.loadBalancer`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UdpLoadBalancer {
    /// Backend servers.
    pub servers: Vec<UdpServer>,
}

/// A UDP backend server.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UdpServer {
    /// `host:port`.
    pub address: String,
}

/// `udp.services.<name>.weighted`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UdpWeighted {
    /// Child services.
    pub services: Vec<super::WeightedService>,
}
