//! Reading a TLS ClientHello before choosing a TCP router: the server name (SNI) and the
//! offered ALPN protocols, from a hello that may arrive over several reads and several TLS
//! records. The bytes read are kept so they can be replayed to rustls or to a backend.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest ClientHello accepted (records and handshake header included).
pub const MAX_HELLO: usize = 64 * 1024;

/// The record type of TLS handshake records.
const HANDSHAKE: u8 = 0x16;

/// What a ClientHello says about where the client wants to go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hello {
    /// The server name, lower-cased, if sent.
    pub sni: Option<String>,
    /// Offered ALPN protocols, in the client's order.
    pub alpn: Vec<String>,
}

/// Why a ClientHello could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    /// The bytes are not a TLS ClientHello.
    #[error("not a TLS ClientHello: {0}")]
    Malformed(&'static str),
    /// The hello is larger than [`MAX_HELLO`].
    #[error("ClientHello larger than {MAX_HELLO} bytes")]
    TooLarge,
    /// The client closed before sending a whole hello.
    #[error("connection closed in the middle of the ClientHello")]
    Closed,
    /// The client did not send a whole hello in time.
    #[error("incomplete ClientHello after {0:?}")]
    Timeout(Duration),
    /// Reading failed.
    #[error("reading the ClientHello: {0}")]
    Io(#[from] io::Error),
}

/// Reads from `stream` into `buf` until `buf[from..]` holds a whole ClientHello, within
/// `timeout`. Everything read stays in `buf`.
pub async fn read<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    from: usize,
    timeout: Duration,
) -> Result<Hello, HelloError> {
    let work = async {
        loop {
            if let Some(hello) = parse(&buf[from..])? {
                return Ok(hello);
            }
            if buf.len() - from >= MAX_HELLO {
                return Err(HelloError::TooLarge);
            }
            buf.reserve(4096);
            if stream.read_buf(buf).await? == 0 {
                return Err(HelloError::Closed);
            }
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(HelloError::Timeout(timeout)))
}

/// Parses a ClientHello from the start of `data`: `Ok(None)` when more bytes are needed.
pub fn parse(data: &[u8]) -> Result<Option<Hello>, HelloError> {
    // Gather the handshake bytes carried by consecutive handshake records.
    let mut handshake = Vec::new();
    let mut rest = data;
    loop {
        let Some(header) = rest.get(..5) else {
            return Ok(None);
        };
        if header[0] != HANDSHAKE {
            return Err(HelloError::Malformed(if handshake.is_empty() {
                "not a handshake record"
            } else {
                "hello interrupted by another record type"
            }));
        }
        if header[1] != 3 {
            return Err(HelloError::Malformed("unknown record version"));
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if len == 0 || len > 16384 + 2048 {
            return Err(HelloError::Malformed("bad record length"));
        }
        let Some(payload) = rest.get(5..5 + len) else {
            // A partial record: use what has arrived to fail early on garbage.
            handshake.extend_from_slice(&rest[5..]);
            check_header(&handshake)?;
            return Ok(None);
        };
        handshake.extend_from_slice(payload);
        rest = &rest[5 + len..];
        if let Some(body_len) = check_header(&handshake)?
            && handshake.len() >= 4 + body_len
        {
            return client_hello(&handshake[4..4 + body_len]).map(Some);
        }
    }
}

/// Checks the handshake message header; returns the body length once known.
fn check_header(handshake: &[u8]) -> Result<Option<usize>, HelloError> {
    match handshake.first() {
        None => return Ok(None),
        Some(1) => {}
        Some(_) => {
            return Err(HelloError::Malformed(
                "first handshake message is not a ClientHello",
            ));
        }
    }
    let Some(len) = handshake.get(1..4) else {
        return Ok(None);
    };
    let len = (usize::from(len[0]) << 16) | (usize::from(len[1]) << 8) | usize::from(len[2]);
    if len + 4 > MAX_HELLO {
        return Err(HelloError::TooLarge);
    }
    Ok(Some(len))
}

/// A cursor over a ClientHello body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloError> {
        if self.0.len() < n {
            return Err(HelloError::Malformed("truncated ClientHello"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<usize, HelloError> {
        Ok(usize::from(self.take(1)?[0]))
    }

    fn u16(&mut self) -> Result<usize, HelloError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn vec8(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u8()?;
        self.take(n)
    }

    fn vec16(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn client_hello(body: &[u8]) -> Result<Hello, HelloError> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy version, random
    r.vec8()?; // session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression methods
    let mut hello = Hello::default();
    if r.0.is_empty() {
        return Ok(hello);
    }
    let mut exts = Reader(r.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let mut data = Reader(exts.vec16()?);
        match kind {
            0 => {
                let mut names = Reader(data.vec16()?);
                while !names.0.is_empty() {
                    let name_type = names.u8()?;
                    let name = names.vec16()?;
                    if name_type == 0 {
                        let name = std::str::from_utf8(name)
                            .map_err(|_| HelloError::Malformed("server name is not text"))?;
                        hello.sni = Some(name.trim_end_matches('.').to_ascii_lowercase());
                    }
                }
            }
            16 => {
                let mut protos = Reader(data.vec16()?);
                while !protos.0.is_empty() {
                    let p = protos.vec8()?;
                    hello.alpn.push(String::from_utf8_lossy(p).into_owned());
                }
            }
            _ => {}
        }
    }
    Ok(hello)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A real ClientHello, as rustls sends it.
    fn real_hello(sni: &str, alpn: &[&str]) -> Vec<u8> {
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let name = rustls::pki_types::ServerName::try_from(sni.to_owned()).unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut out = Vec::new();
        conn.write_tls(&mut out).unwrap();
        out
    }

    /// Re-frames one-record hello bytes into records of at most `size` handshake bytes.
    fn split_records(hello: &[u8], size: usize) -> Vec<u8> {
        let payload = &hello[5..];
        let mut out = Vec::new();
        for chunk in payload.chunks(size) {
            out.extend_from_slice(&[HANDSHAKE, hello[1], hello[2]]);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    #[test]
    fn reads_sni_and_alpn() {
        let hello = real_hello("App.Example.COM", &["h2", "http/1.1"]);
        let got = parse(&hello).unwrap().unwrap();
        assert_eq!(got.sni.as_deref(), Some("app.example.com"));
        assert_eq!(got.alpn, ["h2", "http/1.1"]);
    }

    #[test]
    fn needs_more_until_the_last_byte() {
        let hello = real_hello("a.test", &[]);
        for cut in 0..hello.len() {
            assert!(parse(&hello[..cut]).unwrap().is_none(), "cut at {cut}");
        }
        assert!(parse(&hello).unwrap().is_some());
    }

    #[test]
    fn hello_split_over_many_records() {
        let hello = real_hello("split.test", &["x"]);
        for size in [1, 3, 7, 50] {
            let framed = split_records(&hello, size);
            for cut in 0..framed.len() {
                assert!(parse(&framed[..cut]).unwrap().is_none());
            }
            let got = parse(&framed).unwrap().unwrap();
            assert_eq!(got.sni.as_deref(), Some("split.test"), "records of {size}");
        }
    }

    #[tokio::test]
    async fn hello_over_several_reads_keeps_every_byte() {
        let framed = split_records(&real_hello("reads.test", &[]), 10);
        let (mut client, mut server) = tokio::io::duplex(64);
        let sent = framed.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for chunk in sent.chunks(3) {
                client.write_all(chunk).await.unwrap();
                tokio::task::yield_now().await;
            }
            std::future::pending::<()>().await;
        });
        let mut buf = b"PREFIX".to_vec();
        let hello = read(&mut server, &mut buf, 6, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(hello.sni.as_deref(), Some("reads.test"));
        assert_eq!(&buf[6..], &framed[..]);
    }

    #[test]
    fn garbage_is_refused_at_once() {
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\n"),
            Err(HelloError::Malformed(_))
        ));
        assert!(matches!(
            parse(&[HANDSHAKE, 3, 1, 0, 10, 2]),
            Err(HelloError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn incomplete_hello_times_out() {
        let hello = real_hello("slow.test", &[]);
        let (mut client, mut server) = tokio::io::duplex(64);
        use tokio::io::AsyncWriteExt;
        client.write_all(&hello[..20]).await.unwrap();
        let mut buf = Vec::new();
        let r = read(&mut server, &mut buf, 0, Duration::from_millis(50)).await;
        assert!(matches!(r, Err(HelloError::Timeout(_))));
    }
}
