//! Clients: hyper-util HTTP/1.1 and h2c clients, request helpers, and raw TCP
//! clients for protocol-level tests.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Body, BoxError, empty};

/// The client type returned by [`http1_client`], [`h2c_client`] and their
/// `_via` variants.
pub type HttpClient = Client<Connector, Body>;

/// Connects plain TCP for [`HttpClient`]: to the host and port of the
/// request URI (`http://`, `h2c://` or `ws://`; port 80 if none), or always to
/// one pinned address (like `curl --resolve`), whatever host the URI names.
#[derive(Clone, Debug, Default)]
pub struct Connector {
    pinned: Option<SocketAddr>,
}

impl Connector {
    /// Connects to whatever each URI names.
    pub fn new() -> Self {
        Self { pinned: None }
    }

    /// Connects every request to `addr`, keeping the URI's host as the
    /// request's `Host` / `:authority`.
    pub fn pinned(addr: SocketAddr) -> Self {
        Self { pinned: Some(addr) }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let pinned = self.pinned;
        Box::pin(async move {
            let stream = match pinned {
                Some(addr) => TcpStream::connect(addr).await?,
                None => {
                    let host = uri.host().ok_or("URI has no host")?;
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    let port = uri.port_u16().unwrap_or(80);
                    TcpStream::connect((host, port)).await?
                }
            };
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// An HTTP/1.1 client (keep-alive pool, no HTTP/2).
pub fn http1_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(Connector::new())
}

/// An HTTP/2 client using prior knowledge over cleartext (h2c).
pub fn h2c_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(Connector::new())
}

/// An HTTP/1.1 client whose connections all go to `addr`.
pub fn http1_client_via(addr: SocketAddr) -> HttpClient {
    Client::builder(TokioExecutor::new()).build(Connector::pinned(addr))
}

/// An h2c client whose connections all go to `addr`.
pub fn h2c_client_via(addr: SocketAddr) -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(Connector::pinned(addr))
}

/// Rewrites `h2c://` and `ws://` URLs to `http://`, the scheme requests carry
/// on the wire; other URLs are returned unchanged.
pub fn wire_url(url: &str) -> String {
    for scheme in ["h2c://", "ws://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            return format!("http://{rest}");
        }
    }
    url.to_owned()
}

/// Sends `request` and reads the whole response body.
pub async fn send(
    client: &HttpClient,
    request: Request<Body>,
) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    let response = client.request(request).await.context("sending request")?;
    collect(response).await
}

/// GETs `url` (`http://` or `h2c://`) and reads the whole response body.
pub async fn get(client: &HttpClient, url: &str) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    let request = Request::get(wire_url(url)).body(empty())?;
    send(client, request).await
}

/// GETs `url` and parses the body as JSON (whatever the status).
pub async fn get_json(client: &HttpClient, url: &str) -> anyhow::Result<serde_json::Value> {
    let (status, _, body) = get(client, url).await?;
    serde_json::from_slice(&body).with_context(|| {
        format!(
            "status {status}, body not JSON: {}",
            String::from_utf8_lossy(&body)
        )
    })
}

/// Reads a response's status, headers and whole body.
pub async fn collect(
    response: Response<Incoming>,
) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.context("reading response body")?;
    Ok((parts.status, parts.headers, body.to_bytes()))
}

/// Writes `bytes` to a new TCP connection to `addr` and returns everything
/// the server sends until it closes the connection, or until 5 s have passed.
pub async fn raw_http(addr: SocketAddr, bytes: impl AsRef<[u8]>) -> anyhow::Result<String> {
    raw_http_timeout(addr, bytes, Duration::from_secs(5)).await
}

/// [`raw_http`] with a chosen overall timeout. Send `Connection: close` to
/// avoid waiting for it on keep-alive connections.
pub async fn raw_http_timeout(
    addr: SocketAddr,
    bytes: impl AsRef<[u8]>,
    timeout: Duration,
) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(bytes.as_ref()).await?;
    let mut received = Vec::new();
    let _ = tokio::time::timeout(timeout, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    Ok(String::from_utf8_lossy(&received).into_owned())
}

/// What [`slow_writer`] observed.
#[derive(Clone, Debug)]
pub struct SlowWrite {
    /// Bytes written before the server closed the connection (or all).
    pub written: usize,
    /// Time from connecting until the server closed the connection (EOF or
    /// reset), or `None` if it was still open when the writer gave up.
    pub closed_after: Option<Duration>,
    /// Everything the server sent.
    pub response: String,
}

/// Connects to `addr` and writes `bytes` one byte at a time, sleeping
/// `per_byte_delay` after each, stopping as soon as the server closes the
/// connection. After the last byte it waits up to 5 s more for the server to
/// answer and close. Tests header-read timeouts (slowloris).
pub async fn slow_writer(
    addr: SocketAddr,
    bytes: impl AsRef<[u8]>,
    per_byte_delay: Duration,
) -> anyhow::Result<SlowWrite> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let start = Instant::now();
    let (mut read_half, mut write_half) = stream.into_split();
    let closed = Arc::new(AtomicBool::new(false));
    let received = Arc::new(Mutex::new(Vec::new()));
    let (reader_closed, reader_received) = (closed.clone(), received.clone());
    let mut reader = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            match read_half.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => lock(&reader_received).extend_from_slice(&buf[..n]),
            }
        }
        reader_closed.store(true, Ordering::SeqCst);
        start.elapsed()
    });

    let mut written = 0;
    let mut write_failed_at = None;
    for byte in bytes.as_ref() {
        if closed.load(Ordering::SeqCst) {
            break;
        }
        if write_half
            .write_all(std::slice::from_ref(byte))
            .await
            .is_err()
        {
            write_failed_at = Some(start.elapsed());
            break;
        }
        written += 1;
        tokio::time::sleep(per_byte_delay).await;
    }

    let read_closed_at = match tokio::time::timeout(Duration::from_secs(5), &mut reader).await {
        Ok(joined) => Some(joined?),
        Err(_) => {
            reader.abort();
            None
        }
    };
    let closed_after = match (read_closed_at, write_failed_at) {
        (Some(read), Some(write)) => Some(read.min(write)),
        (read, write) => read.or(write),
    };
    let response = String::from_utf8_lossy(&lock(&received)).into_owned();
    Ok(SlowWrite {
        written,
        closed_after,
        response,
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
