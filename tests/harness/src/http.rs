//! [`HttpBackend`]: an HTTP/1.1 and h2c (prior knowledge) server on one
//! listener, with routes that exercise what a proxy must get right.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::lifecycle::{GuardedExecutor, Shutdown, Spawner, lifecycle};
use crate::{Body, BoxError, empty, full};

/// The `x-backend` header every [`HttpBackend`] response carries.
pub const BACKEND_HEADER: &str = "x-backend";

/// What an [`HttpBackend`] saw of the last request it received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Request method.
    pub method: Method,
    /// Request target as received (origin-form for HTTP/1.1, full URI for h2).
    pub uri: Uri,
    /// Protocol version the request arrived with.
    pub version: Version,
    /// All request headers.
    pub headers: HeaderMap,
}

/// Configures an [`HttpBackend`] before it starts.
#[derive(Clone, Debug)]
pub struct HttpBackendBuilder {
    name: String,
    fixed_body: Option<Bytes>,
    status: Option<StatusCode>,
}

/// A real HTTP server on `127.0.0.1:0` speaking HTTP/1.1 and h2c (prior
/// knowledge) on the same port. Every task and connection it owns is closed
/// when it is dropped.
///
/// Routes (unless [`HttpBackendBuilder::fixed_body`] or
/// [`HttpBackendBuilder::status`] is set, which answer every path the same):
///
/// | path | answer |
/// | --- | --- |
/// | any other | 200 JSON `{"backend","method","path","query","version","headers","body_len"}` |
/// | `/echo` | streams the request body back, copying `content-type` |
/// | `/status/{code}` | that status, empty body |
/// | `/delay/{ms}` | sleeps, then the default JSON answer |
/// | `/sse?n=N&interval_ms=M` | `text/event-stream`, `data: i\n\n` for i in 0..N, one frame each, M ms apart |
/// | `/stream-bytes?n=N&chunk=K[&interval_ms=M]` | N frames of K bytes `x` |
/// | `/ws` | WebSocket upgrade, echoes text and binary messages |
/// | `/reset` | drops the connection (HTTP/1.1) or resets the stream (h2) without answering |
/// | `/trailers` | a body followed by the trailer `x-trailer: yes` |
///
/// Every response carries `x-backend: NAME`.
#[derive(Debug)]
pub struct HttpBackend {
    name: String,
    addr: SocketAddr,
    stats: Arc<Stats>,
    shutdown: Shutdown,
}

#[derive(Debug, Default)]
struct Stats {
    requests: AtomicUsize,
    connections: AtomicUsize,
    last: Mutex<Option<RecordedRequest>>,
}

/// Shared by the connections of one backend. Holds no [`Spawner`] on purpose
/// (see `lifecycle`): the backend keeps an `Arc` to its stats only.
#[derive(Debug)]
struct Config {
    name: String,
    backend_header: HeaderValue,
    fixed_body: Option<Bytes>,
    status: Option<StatusCode>,
}

impl HttpBackend {
    /// Starts configuring a backend called `name` (reported in its answers).
    pub fn builder(name: impl Into<String>) -> HttpBackendBuilder {
        HttpBackendBuilder {
            name: name.into(),
            fixed_body: None,
            status: None,
        }
    }

    /// The backend's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `h2c://127.0.0.1:PORT`: the same listener, for upstreams configured to
    /// speak HTTP/2 with prior knowledge.
    pub fn h2c_url(&self) -> String {
        format!("h2c://{}", self.addr)
    }

    /// How many requests (any route, any protocol) have arrived so far.
    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    /// How many TCP connections have been accepted so far.
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// The last request received, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.stats
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Closes the listener and every connection, and waits until they are
    /// gone. Dropping the backend does the same without waiting.
    pub async fn shutdown(self) {
        self.shutdown.shutdown().await;
    }
}

impl HttpBackendBuilder {
    /// Answers every path with this body (status 200 unless
    /// [`status`](Self::status) is set).
    pub fn fixed_body(mut self, body: impl Into<Bytes>) -> Self {
        self.fixed_body = Some(body.into());
        self
    }

    /// Answers every path with this status (body: the default JSON, or the
    /// [`fixed_body`](Self::fixed_body)).
    ///
    /// # Panics
    /// If `code` is not a valid HTTP status code.
    pub fn status(mut self, code: u16) -> Self {
        self.status = Some(StatusCode::from_u16(code).expect("valid HTTP status code"));
        self
    }

    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(self) -> HttpBackend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let stats = Arc::new(Stats::default());
        let config = Arc::new(Config {
            backend_header: HeaderValue::from_str(&self.name)
                .unwrap_or_else(|_| HeaderValue::from_static("invalid-name")),
            name: self.name.clone(),
            fixed_body: self.fixed_body,
            status: self.status,
        });
        let (shutdown, spawner) = lifecycle();
        let accept = accept_loop(listener, config, stats.clone(), spawner.clone());
        spawner.spawn(accept);
        tracing::debug!(name = %self.name, %addr, "http backend listening");
        HttpBackend {
            name: self.name,
            addr,
            stats,
            shutdown,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<Config>,
    stats: Arc<Stats>,
    spawner: Spawner,
) {
    let builder = auto::Builder::new(GuardedExecutor(spawner.clone()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "http backend accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        stats.connections.fetch_add(1, Ordering::SeqCst);
        let (config, stats, conn_spawner) = (config.clone(), stats.clone(), spawner.clone());
        let builder = builder.clone();
        spawner.spawn(async move {
            let service = service_fn(move |req| {
                handle(config.clone(), stats.clone(), conn_spawner.clone(), req)
            });
            if let Err(error) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, %error, "http backend connection ended with an error");
            }
        });
    }
}

async fn handle(
    config: Arc<Config>,
    stats: Arc<Stats>,
    spawner: Spawner,
    req: Request<Incoming>,
) -> Result<Response<Body>, BoxError> {
    stats.requests.fetch_add(1, Ordering::SeqCst);
    *stats
        .last
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(RecordedRequest {
        method: req.method().clone(),
        uri: req.uri().clone(),
        version: req.version(),
        headers: req.headers().clone(),
    });

    let mut response = route(&config, spawner, req).await?;
    response
        .headers_mut()
        .insert(BACKEND_HEADER, config.backend_header.clone());
    Ok(response)
}

async fn route(
    config: &Config,
    spawner: Spawner,
    req: Request<Incoming>,
) -> Result<Response<Body>, BoxError> {
    if config.fixed_body.is_some() || config.status.is_some() {
        let status = config.status.unwrap_or(StatusCode::OK);
        let mut response = match &config.fixed_body {
            Some(body) => {
                // Read the request fully so the connection stays reusable.
                req.into_body().collect().await?;
                Response::new(full(body.clone()))
            }
            None => describe(config, req).await?,
        };
        *response.status_mut() = status;
        return Ok(response);
    }

    let path = req.uri().path().to_owned();
    let query = query_params(req.uri());
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
    match segments.as_slice() {
        ["echo"] => Ok(echo(req)),
        ["status", code] => {
            let status = code
                .parse::<u16>()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            let mut response = Response::new(empty());
            *response.status_mut() = status;
            Ok(response)
        }
        ["delay", ms] => {
            let ms: u64 = ms.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            describe(config, req).await
        }
        ["sse"] => Ok(sse(
            param(&query, "n", 3),
            param(&query, "interval_ms", 100),
        )),
        ["stream-bytes"] => Ok(stream_bytes(
            param(&query, "n", 4),
            param(&query, "chunk", 1024),
            param(&query, "interval_ms", 0),
        )),
        ["ws"] => Ok(crate::ws::upgrade(req, &spawner)),
        ["reset"] => Err("reset requested".into()),
        ["trailers"] => Ok(trailers()),
        _ => describe(config, req).await,
    }
}

/// The default answer: a JSON description of the request.
async fn describe(config: &Config, req: Request<Incoming>) -> Result<Response<Body>, BoxError> {
    let (parts, body) = req.into_parts();
    let body_len = body.collect().await?.to_bytes().len();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values = parts
            .headers
            .get_all(name)
            .iter()
            .map(|value| serde_json::Value::from(String::from_utf8_lossy(value.as_bytes())))
            .collect();
        headers.insert(name.as_str().to_owned(), serde_json::Value::Array(values));
    }
    let json = serde_json::json!({
        "backend": config.name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_len": body_len,
    });
    let mut response = Response::new(full(serde_json::to_vec(&json)?));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

fn echo(req: Request<Incoming>) -> Response<Body> {
    let content_type = req.headers().get(CONTENT_TYPE).cloned();
    // The request body itself becomes the response body: frames are passed
    // on as they arrive, nothing is buffered.
    let mut response = Response::new(req.into_body().map_err(BoxError::from).boxed_unsync());
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}

fn sse(n: u64, interval_ms: u64) -> Response<Body> {
    let frames = stream::unfold(0u64, move |i| async move {
        if i >= n {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(interval_ms)).await;
        }
        let event = Bytes::from(format!("data: {i}\n\n"));
        Some((Ok::<_, BoxError>(Frame::data(event)), i + 1))
    });
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}

fn stream_bytes(n: u64, chunk: u64, interval_ms: u64) -> Response<Body> {
    let chunk = Bytes::from(vec![b'x'; usize::try_from(chunk).unwrap_or(0)]);
    let frames = stream::unfold(0u64, move |i| {
        let chunk = chunk.clone();
        async move {
            if i >= n {
                return None;
            }
            if i > 0 && interval_ms > 0 {
                tokio::time::sleep(Duration::from_millis(interval_ms)).await;
            }
            Some((Ok::<_, BoxError>(Frame::data(chunk)), i + 1))
        }
    });
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

fn trailers() -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert(
        HeaderName::from_static("x-trailer"),
        HeaderValue::from_static("yes"),
    );
    let frames = stream::iter([
        Ok::<_, BoxError>(Frame::data(Bytes::from_static(b"body before trailers"))),
        Ok(Frame::trailers(trailers)),
    ]);
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn query_params(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (key.to_owned(), value.to_owned()),
            None => (pair.to_owned(), String::new()),
        })
        .collect()
}

fn param(query: &HashMap<String, String>, key: &str, default: u64) -> u64 {
    query
        .get(key)
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
