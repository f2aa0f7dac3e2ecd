//! Static ("install") configuration: entry points, providers, logs.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::{RouterTls, Unsupported, null_as_default, yes};
use crate::Duration;

/// Traefik's static configuration (`traefik.yml` / `traefik.toml`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticConfig {
    /// Listening addresses, by name.
    pub entry_points: BTreeMap<String, EntryPoint>,
    /// Where dynamic configuration comes from.
    pub providers: Providers,
    /// Gateway log.
    pub log: Log,
    /// Access log; enabled when present.
    pub access_log: Option<AccessLog>,
    /// `global.checkNewVersion` / `global.sendAnonymousUsage`: accepted, without effect
    /// (wasmgate never contacts external services).
    pub global: Global,
    /// Plugin registry folders and the compiled-plugin cache (a wasmgate extension).
    pub plugins: super::StaticPlugins,

    /// Unsupported: `api` (dashboard and API).
    pub api: Option<Unsupported>,
    /// Unsupported: `metrics`.
    pub metrics: Option<Unsupported>,
    /// Unsupported: `tracing`.
    pub tracing: Option<Unsupported>,
    /// Unsupported: `ping`.
    pub ping: Option<Unsupported>,
    /// Unsupported: `certificatesResolvers` (ACME).
    pub certificates_resolvers: Option<Unsupported>,
    /// Unsupported: `experimental`.
    pub experimental: Option<Unsupported>,
    /// Unsupported: static `serversTransport` defaults.
    pub servers_transport: Option<Unsupported>,
    /// Unsupported: static `tcpServersTransport` defaults.
    pub tcp_servers_transport: Option<Unsupported>,
    /// Unsupported: `hostResolver`.
    pub host_resolver: Option<Unsupported>,
    /// Unsupported: `spiffe`.
    pub spiffe: Option<Unsupported>,
    /// Unsupported: `core`.
    pub core: Option<Unsupported>,
    /// Unsupported: `ocsp`.
    pub ocsp: Option<Unsupported>,
    /// Unsupported: `hub`.
    pub hub: Option<Unsupported>,
    /// Unsupported: `otel` settings shared by logs, metrics and tracing.
    pub otel: Option<Unsupported>,
}

/// `global`: accepted for compatibility, without effect.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Global {
    /// Traefik's update check; wasmgate never checks.
    pub check_new_version: Option<bool>,
    /// Traefik's usage statistics; wasmgate never sends any.
    pub send_anonymous_usage: Option<bool>,
}

/// `entryPoints.<name>`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EntryPoint {
    /// `host:port`, `:port`, optionally suffixed `/tcp` or `/udp`.
    pub address: String,
    /// Timeouts and graceful shutdown.
    pub transport: EntryPointTransport,
    /// Settings applied to every HTTP router of the entry point.
    pub http: EntryPointHttp,
    /// HTTP/2 settings.
    pub http2: Http2,
    /// Which peers' `X-Forwarded-*` headers are trusted.
    pub forwarded_headers: ForwardedHeaders,
    /// PROXY protocol acceptance; enabled when present.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// UDP session settings.
    pub udp: EntryPointUdp,

    /// Unsupported: `http3`.
    pub http3: Option<Unsupported>,
    /// Unsupported: `observability`.
    pub observability: Option<Unsupported>,
    /// Unsupported: `allowACMEByPass`.
    #[serde(rename = "allowACMEByPass")]
    pub allow_acme_by_pass: Option<Unsupported>,
    /// Unsupported: `reusePort`.
    pub reuse_port: Option<Unsupported>,
    /// Unsupported: `asDefault`.
    pub as_default: Option<Unsupported>,
}

/// Transport protocol of an entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (HTTP or raw TCP routers).
    Tcp,
    /// UDP.
    Udp,
}

/// A parsed entry point address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddress {
    /// Host or IP to bind; empty means all interfaces.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `/tcp` (default) or `/udp`.
    pub protocol: Protocol,
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl ListenAddress {
    /// Parses Traefik's address syntax: `host:port`, `:port`, `[v6]:port`, with an optional
    /// `/tcp` or `/udp` suffix.
    pub fn parse(address: &str) -> Result<ListenAddress, String> {
        let (addr, protocol) = match address.rsplit_once('/') {
            Some((a, p)) if p.eq_ignore_ascii_case("tcp") => (a, Protocol::Tcp),
            Some((a, p)) if p.eq_ignore_ascii_case("udp") => (a, Protocol::Udp),
            Some((_, p)) => {
                return Err(format!("unknown protocol `{p}` (use `/tcp` or `/udp`)"));
            }
            None => (address, Protocol::Tcp),
        };
        let Some((host, port)) = addr.rsplit_once(':') else {
            return Err(format!(
                "`{address}` has no port (write `:80` or `host:80`)"
            ));
        };
        let host = match host.strip_prefix('[') {
            Some(inner) => inner
                .strip_suffix(']')
                .ok_or_else(|| format!("unbalanced `[` in `{address}`"))?,
            None if host.contains(':') => {
                return Err(format!(
                    "IPv6 host in `{address}` must be written in brackets, e.g. `[::1]:80`"
                ));
            }
            None => host,
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port `{port}` in `{address}`"))?;
        Ok(ListenAddress {
            host: host.to_string(),
            port,
            protocol,
        })
    }
}

impl EntryPoint {
    /// The parsed [`EntryPoint::address`].
    pub fn listen_address(&self) -> Result<ListenAddress, String> {
        ListenAddress::parse(&self.address)
    }
}

/// `entryPoints.<name>.transport`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EntryPointTransport {
    /// Read/write/idle timeouts.
    pub responding_timeouts: RespondingTimeouts,
    /// Graceful shutdown.
    pub life_cycle: LifeCycle,
    /// Unsupported: `keepAliveMaxRequests`.
    pub keep_alive_max_requests: Option<Unsupported>,
    /// Unsupported: `keepAliveMaxTime`.
    pub keep_alive_max_time: Option<Unsupported>,
}

/// `transport.respondingTimeouts`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RespondingTimeouts {
    /// Maximum time to read a whole request, body included (default 60s; 0 = none).
    pub read_timeout: Duration,
    /// Maximum time to write a response (default 0 = none).
    pub write_timeout: Duration,
    /// Keep-alive idle timeout (default 180s).
    pub idle_timeout: Duration,
}

impl Default for RespondingTimeouts {
    fn default() -> Self {
        RespondingTimeouts {
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::ZERO,
            idle_timeout: Duration::from_secs(180),
        }
    }
}

/// `transport.lifeCycle`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LifeCycle {
    /// How long to keep accepting requests after a shutdown signal (default 0).
    pub request_accept_grace_timeout: Duration,
    /// How long active requests get to finish on shutdown (default 10s).
    pub grace_time_out: Duration,
}

impl Default for LifeCycle {
    fn default() -> Self {
        LifeCycle {
            request_accept_grace_timeout: Duration::ZERO,
            grace_time_out: Duration::from_secs(10),
        }
    }
}

/// `entryPoints.<name>.http`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EntryPointHttp {
    /// Redirect everything to another entry point.
    pub redirections: Option<Redirections>,
    /// Middlewares prepended to every router of this entry point.
    pub middlewares: Vec<String>,
    /// TLS settings applied to every router of this entry point.
    #[serde(deserialize_with = "null_as_default")]
    pub tls: Option<RouterTls>,
    /// Unsupported: `encodeQuerySemicolons`.
    pub encode_query_semicolons: Option<Unsupported>,
    /// Unsupported: `sanitizePath`.
    pub sanitize_path: Option<Unsupported>,
    /// Unsupported: `maxHeaderBytes`.
    pub max_header_bytes: Option<Unsupported>,
    /// Unsupported: `encodedCharacters`.
    pub encoded_characters: Option<Unsupported>,
}

/// `http.redirections`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Redirections {
    /// Redirect to another entry point.
    pub entry_point: Option<RedirectEntryPoint>,
}

/// `http.redirections.entryPoint`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RedirectEntryPoint {
    /// Target entry point name, or a port such as `:443`.
    pub to: String,
    /// Scheme of the redirect (default `https`).
    pub scheme: String,
    /// 308/301 instead of 307/302 (default true).
    pub permanent: bool,
    /// Priority of the generated redirect router (default: just below the maximum).
    pub priority: i64,
}

impl Default for RedirectEntryPoint {
    fn default() -> Self {
        RedirectEntryPoint {
            to: String::new(),
            scheme: "https".to_string(),
            permanent: true,
            priority: i64::from(i32::MAX) - 1,
        }
    }
}

/// `entryPoints.<name>.http2`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Http2 {
    /// Maximum concurrent streams per connection (default 250).
    pub max_concurrent_streams: u32,
}

impl Default for Http2 {
    fn default() -> Self {
        Http2 {
            max_concurrent_streams: 250,
        }
    }
}

/// `entryPoints.<name>.forwardedHeaders`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ForwardedHeaders {
    /// Peers (IPs or CIDRs) whose `X-Forwarded-*` headers are kept.
    #[serde(rename = "trustedIPs")]
    pub trusted_ips: Vec<String>,
    /// Trust every peer.
    pub insecure: bool,
    /// Unsupported: `connection`.
    pub connection: Option<Unsupported>,
}

/// `entryPoints.<name>.proxyProtocol`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ProxyProtocol {
    /// Peers (IPs or CIDRs) allowed to send a PROXY header.
    #[serde(rename = "trustedIPs")]
    pub trusted_ips: Vec<String>,
    /// Accept PROXY headers from anyone.
    pub insecure: bool,
}

/// `entryPoints.<name>.udp`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EntryPointUdp {
    /// Idle session timeout (default 3s).
    pub timeout: Duration,
    /// Most sessions open at once (wasmgate's own key; default 4096). Datagrams from new
    /// clients beyond it are dropped.
    pub max_sessions: Option<u64>,
}

impl Default for EntryPointUdp {
    fn default() -> Self {
        EntryPointUdp {
            timeout: Duration::from_secs(3),
            max_sessions: None,
        }
    }
}

/// `providers`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Providers {
    /// Minimum time between two applied configuration changes (default 2s).
    pub providers_throttle_duration: Duration,
    /// The file provider.
    pub file: Option<FileProvider>,

    /// Unsupported: `providers.docker`.
    pub docker: Option<Unsupported>,
    /// Unsupported: `providers.swarm`.
    pub swarm: Option<Unsupported>,
    /// Unsupported: `providers.kubernetesIngress`.
    pub kubernetes_ingress: Option<Unsupported>,
    /// Unsupported: `providers.kubernetesIngressNGINX`.
    #[serde(rename = "kubernetesIngressNGINX")]
    pub kubernetes_ingress_nginx: Option<Unsupported>,
    /// Unsupported: `providers.kubernetesCRD`.
    #[serde(rename = "kubernetesCRD")]
    pub kubernetes_crd: Option<Unsupported>,
    /// Unsupported: `providers.kubernetesGateway`.
    pub kubernetes_gateway: Option<Unsupported>,
    /// Unsupported: `providers.knative`.
    pub knative: Option<Unsupported>,
    /// Unsupported: `providers.rest`.
    pub rest: Option<Unsupported>,
    /// Unsupported: `providers.consulCatalog`.
    pub consul_catalog: Option<Unsupported>,
    /// Unsupported: `providers.nomad`.
    pub nomad: Option<Unsupported>,
    /// Unsupported: `providers.ecs`.
    pub ecs: Option<Unsupported>,
    /// Unsupported: `providers.consul`.
    pub consul: Option<Unsupported>,
    /// The etcd provider: dynamic configuration in Traefik's KV layout.
    pub etcd: Option<EtcdProvider>,
    /// Unsupported: `providers.zooKeeper`.
    pub zoo_keeper: Option<Unsupported>,
    /// Unsupported: `providers.redis`.
    pub redis: Option<Unsupported>,
    /// Unsupported: `providers.http`.
    pub http: Option<Unsupported>,
    /// Unsupported: `providers.plugin`.
    pub plugin: Option<Unsupported>,
}

impl Default for Providers {
    fn default() -> Self {
        Providers {
            providers_throttle_duration: Duration::from_secs(2),
            file: None,
            docker: None,
            swarm: None,
            kubernetes_ingress: None,
            kubernetes_ingress_nginx: None,
            kubernetes_crd: None,
            kubernetes_gateway: None,
            knative: None,
            rest: None,
            consul_catalog: None,
            nomad: None,
            ecs: None,
            consul: None,
            etcd: None,
            zoo_keeper: None,
            redis: None,
            http: None,
            plugin: None,
        }
    }
}

/// `providers.etcd`: dynamic configuration read from etcd in Traefik's KV layout.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EtcdProvider {
    /// Client URLs or `host:port` addresses of the etcd members (default `127.0.0.1:2379`).
    pub endpoints: Vec<String>,
    /// Prefix of every key (default `traefik`).
    pub root_key: String,
    /// User name for etcd authentication.
    pub username: Option<String>,
    /// Password for etcd authentication.
    pub password: Option<String>,
    /// TLS towards etcd (`https`).
    pub tls: Option<EtcdTls>,
}

impl Default for EtcdProvider {
    fn default() -> Self {
        EtcdProvider {
            endpoints: vec!["127.0.0.1:2379".to_owned()],
            root_key: "traefik".to_owned(),
            username: None,
            password: None,
            tls: None,
        }
    }
}

/// `providers.etcd.tls`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct EtcdTls {
    /// PEM file of the certificate authority that signed etcd's certificate.
    pub ca: Option<String>,
    /// PEM file of the client certificate.
    pub cert: Option<String>,
    /// PEM file of the client certificate's key.
    pub key: Option<String>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
}

/// `providers.file`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct FileProvider {
    /// A single dynamic configuration file.
    pub filename: Option<String>,
    /// A directory of dynamic configuration files (`.yml`, `.yaml`, `.toml`).
    pub directory: Option<String>,
    /// Reload on change (default true).
    pub watch: bool,
    /// Unsupported: `debugLogGeneratedTemplate`.
    pub debug_log_generated_template: Option<Unsupported>,
}

impl Default for FileProvider {
    fn default() -> Self {
        FileProvider {
            filename: None,
            directory: None,
            watch: yes(),
            debug_log_generated_template: None,
        }
    }
}

/// `log`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Log {
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` (default), `FATAL`, `PANIC`; any case.
    pub level: Option<String>,
    /// `common` (default) or `json`.
    pub format: Option<String>,
    /// Write to this file instead of standard output.
    pub file_path: Option<String>,
    /// Unsupported: `noColor`.
    pub no_color: Option<Unsupported>,
    /// Unsupported: `maxSize` (log rotation).
    pub max_size: Option<Unsupported>,
    /// Unsupported: `maxAge` (log rotation).
    pub max_age: Option<Unsupported>,
    /// Unsupported: `maxBackups` (log rotation).
    pub max_backups: Option<Unsupported>,
    /// Unsupported: `compress` (log rotation).
    pub compress: Option<Unsupported>,
    /// Unsupported: `otlp`.
    pub otlp: Option<Unsupported>,
}

/// `accessLog`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AccessLog {
    /// Write to this file instead of standard output.
    pub file_path: Option<String>,
    /// `common` (default) or `json`.
    pub format: Option<String>,
    /// Lines buffered before writing (default 0).
    pub buffering_size: i64,
    /// Unsupported: `filters`.
    pub filters: Option<Unsupported>,
    /// Unsupported: `fields`.
    pub fields: Option<Unsupported>,
    /// Unsupported: `addInternals`.
    pub add_internals: Option<Unsupported>,
    /// Unsupported: `otlp`.
    pub otlp: Option<Unsupported>,
}

impl AccessLog {
    /// True for the JSON format.
    pub fn is_json(&self) -> bool {
        self.format
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("json"))
    }
}
