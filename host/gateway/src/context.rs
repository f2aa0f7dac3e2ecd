//! Per-request context: what the entrypoint knew at accept time and what routing decided.

use http::HeaderValue;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

/// A set of trusted networks (CIDRs), for X-Forwarded-* from proxies in front of the gateway.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedNets {
    nets: Vec<(IpAddr, u8)>,
    /// Trust every client.
    pub insecure: bool,
}

impl TrustedNets {
    /// Parses `10.0.0.0/8`-style ranges or single addresses.
    pub fn parse(ranges: &[String], insecure: bool) -> Result<Self, String> {
        let mut nets = Vec::with_capacity(ranges.len());
        for r in ranges {
            nets.push(parse_cidr(r)?);
        }
        Ok(TrustedNets { nets, insecure })
    }

    /// Whether `ip` is trusted.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.insecure
            || self
                .nets
                .iter()
                .any(|&(net, len)| cidr_contains(net, len, ip))
    }
}

/// Parses `addr/len` or a bare address.
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("`{s}` has an invalid prefix length"))?,
        None => max,
    };
    Ok((ip, len))
}

/// Whether `ip` lies in `net/len` (IPv4-mapped IPv6 addresses count as IPv4).
pub fn cidr_contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
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
    fn cidrs() {
        let t = TrustedNets::parse(&["10.0.0.0/8".into(), "::1".into()], false).unwrap();
        assert!(t.contains("10.2.3.4".parse().unwrap()));
        assert!(t.contains("::ffff:10.2.3.4".parse().unwrap()));
        assert!(t.contains("::1".parse().unwrap()));
        assert!(!t.contains("11.0.0.1".parse().unwrap()));
        assert!(TrustedNets::parse(&["10.0.0.0/33".into()], false).is_err());
        assert!(cidr_contains(
            "0.0.0.0".parse().unwrap(),
            0,
            "8.8.8.8".parse().unwrap()
        ));
    }
}
