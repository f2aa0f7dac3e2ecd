//! `http`: routers, services and servers transports.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Middleware, Unsupported, null_as_default, yes};
use crate::Duration;

/// The `http` section of the dynamic configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpConfig {
    /// Routers, by name.
    pub routers: BTreeMap<String, Router>,
    /// Services, by name.
    pub services: BTreeMap<String, Service>,
    /// Middlewares, by name.
    pub middlewares: BTreeMap<String, Middleware>,
    /// How to talk to backend servers, by name.
    pub servers_transports: BTreeMap<String, ServersTransport>,
}

/// `http.routers.<name>`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Router {
    /// Entry points the router listens on; empty means all default entry points.
    pub entry_points: Vec<String>,
    /// The matching rule, e.g. ``Host(`example.com`) && PathPrefix(`/api`)``.
    pub rule: String,
    /// `v3` (default) or `v2`.
    pub rule_syntax: Option<String>,
    /// Priority; 0 (default) means the length of the rule.
    pub priority: i64,
    /// Middlewares applied in order; names may carry `@provider`.
    pub middlewares: Vec<String>,
    /// Target service; may carry `@provider` (e.g. `whoami@internal`).
    pub service: Option<String>,
    /// TLS termination; present (even empty) means the router only serves HTTPS.
    #[serde(deserialize_with = "null_as_default")]
    pub tls: Option<RouterTls>,
    /// Per-router logging/metrics/tracing switches.
    pub observability: Option<RouterObservability>,
    /// Unsupported: `parentRefs` (multi-layer routing).
    pub parent_refs: Option<Unsupported>,
}

/// `http.routers.<name>.tls` (also used by entry points).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RouterTls {
    /// Name of a `tls.options` entry.
    pub options: Option<String>,
    /// Name of a certificate resolver.
    pub cert_resolver: Option<String>,
    /// Domains to obtain certificates for.
    pub domains: Vec<Domain>,
}

/// A main domain and its subject alternative names.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Domain {
    /// Main domain.
    pub main: String,
    /// Alternative names.
    pub sans: Vec<String>,
}

/// `http.routers.<name>.observability`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RouterObservability {
    /// Write access-log lines for this router (default true).
    pub access_logs: Option<bool>,
    /// Collect metrics for this router (default true).
    pub metrics: Option<bool>,
    /// Trace this router (default true).
    pub tracing: Option<bool>,
    /// `minimal` or `detailed`.
    pub trace_verbosity: Option<String>,
}

/// `http.services.<name>`: exactly one kind of service.
// Configuration is built once per reload; variant sizes do not matter, plain variants keep
// pattern matching simple.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum Service {
    /// Load-balance over servers.
    LoadBalancer(LoadBalancer),
    /// Weighted round robin over other services.
    Weighted(Weighted),
    /// Send to one service, copy a share of requests to others.
    Mirroring(Mirroring),
    /// Use a fallback service while the main one is unhealthy.
    Failover(Failover),
    /// Unsupported: highest-random-weight (rendezvous hashing) over services.
    HighestRandomWeight(Weighted),
}

impl Service {
    /// The Traefik key of this service type, e.g. `loadBalancer`.
    pub fn kind(&self) -> &'static str {
        match self {
            Service::LoadBalancer(_) => "loadBalancer",
            Service::Weighted(_) => "weighted",
            Service::Mirroring(_) => "mirroring",
            Service::Failover(_) => "failover",
            Service::HighestRandomWeight(_) => "highestRandomWeight",
        }
    }

    /// Names of the services this one sends traffic to (empty for a load balancer).
    pub fn children(&self) -> Vec<&str> {
        match self {
            Service::LoadBalancer(_) => Vec::new(),
            Service::Weighted(w) | Service::HighestRandomWeight(w) => {
                w.services.iter().map(|s| s.name.as_str()).collect()
            }
            Service::Mirroring(m) => std::iter::once(m.service.as_str())
                .chain(m.mirrors.iter().map(|x| x.name.as_str()))
                .collect(),
            Service::Failover(f) => vec![f.service.as_str(), f.fallback.as_str()],
        }
    }
}

/// `http.services.<name>.loadBalancer`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadBalancer {
    /// Backend servers.
    pub servers: Vec<Server>,
    /// Forward the client's `Host` header (default true).
    pub pass_host_header: bool,
    /// Response streaming.
    pub response_forwarding: ResponseForwarding,
    /// Name of an `http.serversTransports` entry.
    pub servers_transport: Option<String>,
    /// Active health checking.
    pub health_check: Option<HealthCheck>,
    /// Session affinity.
    pub sticky: Option<Sticky>,
    /// `wrr` (default); `p2c`, `hrw` and `leasttime` are unsupported.
    pub strategy: Option<String>,
    /// Unsupported: `passiveHealthCheck`.
    pub passive_health_check: Option<Unsupported>,
}

impl Default for LoadBalancer {
    fn default() -> Self {
        LoadBalancer {
            servers: Vec::new(),
            pass_host_header: yes(),
            response_forwarding: ResponseForwarding::default(),
            servers_transport: None,
            health_check: None,
            sticky: None,
            strategy: None,
            passive_health_check: None,
        }
    }
}

/// One backend server.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Server {
    /// `http://`, `https://` or `h2c://` URL.
    pub url: String,
    /// Relative weight (default 1).
    pub weight: Option<i64>,
    /// Keep the URL's path as a prefix of forwarded requests.
    pub preserve_path: bool,
}

/// `loadBalancer.responseForwarding`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ResponseForwarding {
    /// Flush period while streaming a response (default 100ms; negative: flush every write).
    pub flush_interval: Duration,
}

impl Default for ResponseForwarding {
    fn default() -> Self {
        ResponseForwarding {
            flush_interval: Duration::from_millis(100),
        }
    }
}

/// `loadBalancer.healthCheck`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheck {
    /// Scheme to use instead of the server's.
    pub scheme: Option<String>,
    /// `http` (default) or `grpc`.
    pub mode: Option<String>,
    /// Path to request.
    pub path: String,
    /// HTTP method (default GET).
    pub method: Option<String>,
    /// Expected status; 0 means any 2xx/3xx.
    pub status: u16,
    /// Port to use instead of the server's.
    pub port: Option<u16>,
    /// Interval between checks (default 30s).
    pub interval: Duration,
    /// Interval while a server is unhealthy (default: `interval`).
    pub unhealthy_interval: Option<Duration>,
    /// Timeout of one check (default 5s).
    pub timeout: Duration,
    /// `Host` header to send.
    pub hostname: Option<String>,
    /// Follow redirects (default true).
    pub follow_redirects: bool,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            scheme: None,
            mode: None,
            path: String::new(),
            method: None,
            status: 0,
            port: None,
            interval: Duration::from_secs(30),
            unhealthy_interval: None,
            timeout: Duration::from_secs(5),
            hostname: None,
            follow_redirects: yes(),
            headers: BTreeMap::new(),
        }
    }
}

/// `sticky`: cookie-based session affinity.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Sticky {
    /// The affinity cookie.
    pub cookie: Option<StickyCookie>,
}

/// `sticky.cookie`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StickyCookie {
    /// Cookie name (default: derived from the service name).
    pub name: Option<String>,
    /// `Secure` attribute.
    pub secure: bool,
    /// `HttpOnly` attribute.
    pub http_only: bool,
    /// `SameSite` attribute: `none`, `lax` or `strict`.
    pub same_site: Option<String>,
    /// `Max-Age` attribute in seconds.
    pub max_age: i64,
    /// `Path` attribute (default `/`).
    pub path: Option<String>,
    /// `Domain` attribute.
    pub domain: Option<String>,
}

/// An empty `healthCheck: {}` on weighted, mirroring and failover services: propagate the
/// health of the child services.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheckPropagation {}

/// `http.services.<name>.weighted` (and `highestRandomWeight`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Weighted {
    /// Child services and their weights.
    pub services: Vec<WeightedService>,
    /// Session affinity.
    pub sticky: Option<Sticky>,
    /// Health propagation.
    pub health_check: Option<HealthCheckPropagation>,
}

/// A child of a weighted service.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct WeightedService {
    /// Service name; may carry `@provider`.
    pub name: String,
    /// Relative weight (default 1).
    pub weight: Option<i64>,
}

/// `http.services.<name>.mirroring`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Mirroring {
    /// Service that answers.
    pub service: String,
    /// Copy request bodies to mirrors (default true).
    pub mirror_body: bool,
    /// Largest body mirrored, in bytes (default -1: no limit).
    pub max_body_size: i64,
    /// Mirrors and their share of traffic.
    pub mirrors: Vec<Mirror>,
    /// Health propagation.
    pub health_check: Option<HealthCheckPropagation>,
}

impl Default for Mirroring {
    fn default() -> Self {
        Mirroring {
            service: String::new(),
            mirror_body: yes(),
            max_body_size: -1,
            mirrors: Vec::new(),
            health_check: None,
        }
    }
}

/// A mirror of a mirroring service.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Mirror {
    /// Service name.
    pub name: String,
    /// Percentage of requests copied (0-100).
    pub percent: i64,
}

/// `http.services.<name>.failover`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Failover {
    /// Main service.
    pub service: String,
    /// Service used while the main one is unhealthy.
    pub fallback: String,
    /// Health propagation.
    pub health_check: Option<HealthCheckPropagation>,
    /// Unsupported: `errors` (fail over on response status).
    pub errors: Option<Unsupported>,
}

/// `http.serversTransports.<name>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServersTransport {
    /// SNI server name sent to backends.
    pub server_name: Option<String>,
    /// Skip backend certificate verification.
    pub insecure_skip_verify: bool,
    /// CA certificate files to trust.
    #[serde(rename = "rootCAs")]
    pub root_cas: Vec<String>,
    /// Client certificates presented to backends.
    pub certificates: Vec<CertAndKey>,
    /// Idle connections kept per host (default 200).
    pub max_idle_conns_per_host: i64,
    /// Timeouts.
    pub forwarding_timeouts: ForwardingTimeouts,
    /// Use HTTP/1.1 only towards backends.
    #[serde(rename = "disableHTTP2")]
    pub disable_http2: bool,
    /// Expected URI SAN of backend certificates.
    #[serde(rename = "peerCertURI")]
    pub peer_cert_uri: Option<String>,
    /// TLS cipher suites towards backends.
    pub cipher_suites: Vec<String>,
    /// Minimum TLS version towards backends.
    pub min_version: Option<String>,
    /// Maximum TLS version towards backends.
    pub max_version: Option<String>,
    /// Unsupported: `spiffe`.
    pub spiffe: Option<Unsupported>,
    /// Unsupported: `peerCertSANs`.
    #[serde(rename = "peerCertSANs")]
    pub peer_cert_sans: Option<Unsupported>,
}

impl Default for ServersTransport {
    fn default() -> Self {
        ServersTransport {
            server_name: None,
            insecure_skip_verify: false,
            root_cas: Vec::new(),
            certificates: Vec::new(),
            max_idle_conns_per_host: 200,
            forwarding_timeouts: ForwardingTimeouts::default(),
            disable_http2: false,
            peer_cert_uri: None,
            cipher_suites: Vec::new(),
            min_version: None,
            max_version: None,
            spiffe: None,
            peer_cert_sans: None,
        }
    }
}

/// A certificate file and its key file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CertAndKey {
    /// PEM certificate (chain) file.
    pub cert_file: String,
    /// PEM private key file.
    pub key_file: String,
}

/// `serversTransports.<name>.forwardingTimeouts`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ForwardingTimeouts {
    /// Connect timeout (default 30s).
    pub dial_timeout: Duration,
    /// Time to wait for response headers (default 0: none).
    pub response_header_timeout: Duration,
    /// How long idle connections are kept (default 90s).
    pub idle_conn_timeout: Duration,
    /// HTTP/2 health-check ping period when a connection is idle (default 0: off).
    pub read_idle_timeout: Duration,
    /// Timeout of that ping (default 15s).
    pub ping_timeout: Duration,
}

impl Default for ForwardingTimeouts {
    fn default() -> Self {
        ForwardingTimeouts {
            dial_timeout: Duration::from_secs(30),
            response_header_timeout: Duration::ZERO,
            idle_conn_timeout: Duration::from_secs(90),
            read_idle_timeout: Duration::ZERO,
            ping_timeout: Duration::from_secs(15),
        }
    }
}
