//! PROXY protocol (v1 text, v2 binary): reading the header a load balancer in front of the
//! gateway sends, and writing one toward backends.

use ppp::{HeaderResult, PartialResult};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature; v1 starts with `PROXY `.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_SIGNATURE: &[u8] = b"PROXY ";
/// Longest header read (v2 with TLVs).
const MAX_HEADER: usize = 4096;

/// A PROXY header's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes the header took at the start of the buffer.
    pub len: usize,
    /// The original client, when the header carries one (not for `LOCAL`/`UNKNOWN`).
    pub client: Option<SocketAddr>,
}

/// Why a PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The header is malformed.
    #[error("invalid PROXY protocol header: {0}")]
    Invalid(String),
    /// The client stopped before the header ended.
    #[error("connection closed in the middle of the PROXY header")]
    Closed,
    /// The header did not arrive in time.
    #[error("incomplete PROXY header after {0:?}")]
    Timeout(Duration),
    /// Reading failed.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
}

/// Whether `data` could still be the start of a PROXY header.
fn maybe_header(data: &[u8]) -> bool {
    [V1_SIGNATURE, V2_SIGNATURE].iter().any(|sig| {
        let n = data.len().min(sig.len());
        data[..n] == sig[..n]
    })
}

/// Reads into `buf` until it starts with a whole PROXY header (`Some`) or cannot be one
/// (`None`: the bytes read so far belong to the connection).
pub async fn read<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    timeout: Duration,
) -> Result<Option<Received>, ProxyError> {
    let work = async {
        loop {
            if !buf.is_empty() && !maybe_header(buf) {
                return Ok(None);
            }
            if buf.len() >= V1_SIGNATURE.len().min(V2_SIGNATURE.len()) {
                let parsed = HeaderResult::parse(buf);
                if parsed.is_complete() {
                    return received(parsed).map(Some);
                }
            }
            if buf.len() >= MAX_HEADER {
                return Err(ProxyError::Invalid("header too long".into()));
            }
            buf.reserve(512);
            if stream.read_buf(buf).await? == 0 {
                return if buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ProxyError::Closed)
                };
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(ProxyError::Timeout(timeout)))
}

fn received(parsed: HeaderResult<'_>) -> Result<Received, ProxyError> {
    match parsed {
        HeaderResult::V1(Ok(h)) => {
            let client = match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => {
                    Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
                }
                ppp::v1::Addresses::Tcp6(a) => {
                    Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
                }
                ppp::v1::Addresses::Unknown => None,
            };
            Ok(Received {
                len: h.header.len(),
                client,
            })
        }
        HeaderResult::V2(Ok(h)) => {
            let client = match (h.command, h.addresses) {
                (ppp::v2::Command::Local, _) => None,
                (_, ppp::v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
                }
                (_, ppp::v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
                }
                _ => None,
            };
            Ok(Received {
                len: h.len(),
                client,
            })
        }
        HeaderResult::V1(Err(e)) => Err(ProxyError::Invalid(format!("{e:?}"))),
        HeaderResult::V2(Err(e)) => Err(ProxyError::Invalid(format!("{e:?}"))),
    }
}

/// The header announcing `client` (connected to `local`) to a backend, in `version` 1 or 2.
pub fn header(version: u8, client: SocketAddr, local: SocketAddr) -> Vec<u8> {
    // Mixed families cannot be expressed; map the client into the local address's family.
    let (client, local) = match (client, local) {
        (SocketAddr::V4(c), SocketAddr::V6(l)) => (
            SocketAddr::new(IpAddr::V6(c.ip().to_ipv6_mapped()), c.port()),
            SocketAddr::V6(l),
        ),
        (SocketAddr::V6(c), SocketAddr::V4(l)) => match c.ip().to_ipv4_mapped() {
            Some(ip) => (SocketAddr::new(IpAddr::V4(ip), c.port()), SocketAddr::V4(l)),
            None => (
                SocketAddr::V6(c),
                SocketAddr::new(IpAddr::V6(l.ip().to_ipv6_mapped()), l.port()),
            ),
        },
        pair => pair,
    };
    if version == 1 {
        let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
        return format!(
            "PROXY {family} {} {} {} {}\r\n",
            client.ip(),
            local.ip(),
            client.port(),
            local.port()
        )
        .into_bytes();
    }
    ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        (client, local),
    )
    .build()
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(bytes: &[u8]) -> (Result<Option<Received>, ProxyError>, Vec<u8>) {
        let mut buf = Vec::new();
        let mut src = bytes;
        let r = read(&mut src, &mut buf, Duration::from_secs(1)).await;
        (r, buf)
    }

    #[tokio::test]
    async fn v1_and_v2_round_trip() {
        let client: SocketAddr = "203.0.113.7:4242".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        for version in [1, 2] {
            let mut bytes = header(version, client, local);
            let len = bytes.len();
            bytes.extend_from_slice(b"payload");
            let (r, buf) = read_all(&bytes).await;
            let got = r.unwrap().unwrap();
            assert_eq!(got.client, Some(client), "v{version}");
            assert_eq!(got.len, len);
            assert_eq!(&buf[got.len..], &bytes[len..buf.len()]);
        }
    }

    #[tokio::test]
    async fn other_bytes_are_not_a_header() {
        let (r, buf) = read_all(b"GET / HTTP/1.1\r\n").await;
        assert!(r.unwrap().is_none());
        assert_eq!(buf[0], b'G');
        let (r, _) = read_all(b"PROXY garbage\r\n").await;
        assert!(r.is_err());
    }
}
