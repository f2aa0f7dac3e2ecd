//! Per-request context: what the entrypoint knew at accept time and what routing decided.

use http::HeaderValue;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use wasmgate_rules::IpSet;

/// Networks whose X-Forwarded-* headers are trusted (proxies in front of the gateway).
#[derive(Debug, Clone, Default)]
pub struct TrustedNets {
    nets: IpSet,
    /// Trust every client.
    pub insecure: bool,
}

impl TrustedNets {
    /// Parses `10.0.0.0/8`-style ranges or single addresses.
    pub fn parse(ranges: &[String], insecure: bool) -> Result<Self, String> {
        let nets = IpSet::parse(ranges).map_err(|(i, e)| format!("`{}`: {e}", ranges[i]))?;
        Ok(TrustedNets { nets, insecure })
    }

    /// Whether `ip` is trusted.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.insecure || self.nets.contains(ip)
    }
}

/// What a request's entrypoint contributes to every request it accepts.
#[derive(Debug)]
pub struct EntryPointInfo {
    /// The entrypoint's name.
    pub name: String,
    /// The port it listens on.
    pub port: u16,
    /// Clients whose X-Forwarded-* headers are kept.
    pub trusted: TrustedNets,
    /// This gateway's host name, for X-Forwarded-Server.
    pub server_name: HeaderValue,
}

/// The state of one request as it moves through the gateway.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// The client's address.
    pub client: SocketAddr,
    /// The entrypoint that accepted the request.
    pub entrypoint: Arc<EntryPointInfo>,
    /// Whether the client connection is TLS.
    pub tls: bool,
    /// The host the client asked for, as sent (Host header or :authority).
    pub host: String,
    /// The router that matched.
    pub router: Option<Arc<str>>,
    /// The service that handled the request.
    pub service: Option<Arc<str>>,
    /// The upstream server chosen.
    pub upstream: Option<Arc<str>>,
    /// False when the router opted out of the access log.
    pub access_log: bool,
    /// When the request arrived.
    pub started: Instant,
}

impl RequestCtx {
    /// The client's IP address.
    pub fn client_ip(&self) -> IpAddr {
        self.client.ip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_nets() {
        let t = TrustedNets::parse(&["10.0.0.0/8".into(), "::1".into()], false).unwrap();
        assert!(t.contains("10.2.3.4".parse().unwrap()));
        assert!(t.contains("::ffff:10.2.3.4".parse().unwrap()));
        assert!(t.contains("::1".parse().unwrap()));
        assert!(!t.contains("11.0.0.1".parse().unwrap()));
        assert!(TrustedNets::parse(&["10.0.0.0/33".into()], false).is_err());
        assert!(
            TrustedNets::parse(&[], true)
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }
}
