//! Hop-by-hop header removal and the X-Forwarded-* family.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

/// Headers that describe one hop and are never forwarded (RFC 9110, 7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// X-Forwarded-For.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// X-Forwarded-Proto.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// X-Forwarded-Host.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// X-Forwarded-Port.
pub const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
/// X-Forwarded-Server.
pub const X_FORWARDED_SERVER: HeaderName = HeaderName::from_static("x-forwarded-server");
/// X-Real-Ip.
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

const FORWARDED_FAMILY: [HeaderName; 6] = [
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
    X_FORWARDED_HOST,
    X_FORWARDED_PORT,
    X_FORWARDED_SERVER,
    X_REAL_IP,
];

/// Whether the request asks for a protocol upgrade (WebSocket and friends).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers and every header the `Connection` header lists.
///
/// The X-Forwarded-* family is never removed because a client listed it: the proxy sets those
/// after this step, so a client cannot make the proxy drop them. `te: trailers` survives (gRPC
/// needs it), and with `keep_upgrade` the `Upgrade` header and `Connection: upgrade` survive.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .filter(|n| !FORWARDED_FAMILY.contains(n))
        .filter(|n| !(keep_upgrade && n == header::UPGRADE))
        .collect();
    for name in listed {
        headers.remove(name);
    }
    let te_trailers = headers
        .get(header::TE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// What the proxy knows about the client side of a request.
#[derive(Debug, Clone, Copy)]
pub struct ForwardedInfo<'a> {
    /// The client's address as seen by the entrypoint.
    pub client_ip: IpAddr,
    /// Whether the client may set X-Forwarded-* itself (trusted source or `insecure`).
    pub trusted: bool,
    /// `http`, `https`, `ws` or `wss`.
    pub proto: &'static str,
    /// The host the client asked for (Host header or :authority), with port if any; `None`
    /// when it is not a valid header value.
    pub host: Option<&'a HeaderValue>,
    /// The entrypoint's port.
    pub port: u16,
    /// The name this gateway reports in X-Forwarded-Server.
    pub server: &'a HeaderValue,
}

/// Sets X-Forwarded-For/Proto/Host/Port/Server and X-Real-Ip. Values the client sent are kept
/// only from a trusted source (and X-Forwarded-For is then appended to).
pub fn set_forwarded(headers: &mut HeaderMap, info: &ForwardedInfo<'_>) {
    if !info.trusted {
        for name in &FORWARDED_FAMILY {
            headers.remove(name);
        }
    }
    let ip = info.client_ip.to_string();
    let xff = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prior) if !prior.is_empty() => format!("{prior}, {ip}"),
        _ => ip.clone(),
    };
    if let Ok(v) = HeaderValue::try_from(xff) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    set_if_absent(
        headers,
        X_FORWARDED_PROTO,
        HeaderValue::from_static(info.proto),
    );
    if let Some(v) = info.host {
        set_if_absent(headers, X_FORWARDED_HOST, v.clone());
    }
    set_if_absent(headers, X_FORWARDED_PORT, HeaderValue::from(info.port));
    set_if_absent(headers, X_FORWARDED_SERVER, info.server.clone());
    if let Ok(v) = HeaderValue::try_from(ip) {
        set_if_absent(headers, X_REAL_IP, v);
    }
}

fn set_if_absent(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    headers.entry(name).or_insert(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    static HOST: HeaderValue = HeaderValue::from_static("a.example");

    fn info(server: &HeaderValue) -> ForwardedInfo<'_> {
        ForwardedInfo {
            client_ip: "10.1.2.3".parse().unwrap(),
            trusted: false,
            proto: "http",
            host: Some(&HOST),
            port: 8080,
            server,
        }
    }

    #[test]
    fn connection_listed_headers_go_but_forwarded_ones_stay() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            "x-secret, X-Forwarded-For, x-real-ip".parse().unwrap(),
        );
        h.insert("x-secret", "1".parse().unwrap());
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        strip_hop_by_hop(&mut h, false);
        let server = HeaderValue::from_static("gw");
        set_forwarded(&mut h, &info(&server));
        assert!(h.get("x-secret").is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get(header::TRANSFER_ENCODING).is_none());
        assert_eq!(h[X_FORWARDED_FOR], "10.1.2.3");
        assert_eq!(h[X_REAL_IP], "10.1.2.3");
        assert_eq!(h[X_FORWARDED_HOST], "a.example");
    }

    #[test]
    fn untrusted_client_cannot_spoof_forwarded_for() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, "1.1.1.1".parse().unwrap());
        h.insert(X_FORWARDED_PROTO, "https".parse().unwrap());
        let server = HeaderValue::from_static("gw");
        set_forwarded(&mut h, &info(&server));
        assert_eq!(h[X_FORWARDED_FOR], "10.1.2.3");
        assert_eq!(h[X_FORWARDED_PROTO], "http");
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, "1.1.1.1".parse().unwrap());
        set_forwarded(
            &mut h,
            &ForwardedInfo {
                trusted: true,
                ..info(&server)
            },
        );
        assert_eq!(h[X_FORWARDED_FOR], "1.1.1.1, 10.1.2.3");
    }

    #[test]
    fn upgrade_survives_when_asked() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, Upgrade".parse().unwrap());
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h[header::UPGRADE], "websocket");
        assert_eq!(h[header::CONNECTION], "upgrade");
    }
}
