//! [`GrpcBackend`]: a real gRPC server (HTTP/2 cleartext, length-prefixed
//! messages, status in trailers) built on tonic's server plumbing with a
//! raw-bytes codec, and a matching client.
//!
//! Service `wasmgate.test.Echo`, messages are raw bytes:
//!
//! | method | behaviour |
//! | --- | --- |
//! | [`GRPC_UNARY`] | answers the request payload |
//! | [`GRPC_SERVER_STREAM`] | answers `x-count` messages (metadata, default 3), message `i` being the payload followed by `#i`, `x-interval-ms` apart (default 0) |
//! | [`GRPC_FAIL`] | response headers, then trailers with [`GRPC_FAIL_CODE`], the payload as `grpc-message` and `x-error-detail: failed on purpose` |
//! | [`GRPC_FAIL_TRAILERS_ONLY`] | the same status as a trailers-only response (status in the headers, no body) |
//! | anything else | `UNIMPLEMENTED` |
//!
//! Every response carries the metadata `x-backend: NAME`.

use std::future::{Future, Ready, ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, stream};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::server::{Grpc, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};

pub use tonic::Code;

use crate::client::{HttpClient, h2c_client, h2c_client_via, wire_url};
use crate::lifecycle::{GuardedExecutor, Shutdown, Spawner, lifecycle};
use crate::{BACKEND_HEADER, BoxError};

/// Unary echo: the answer is the request payload.
pub const GRPC_UNARY: &str = "/wasmgate.test.Echo/Unary";
/// Server streaming: `x-count` messages, payload followed by `#i`.
pub const GRPC_SERVER_STREAM: &str = "/wasmgate.test.Echo/ServerStream";
/// Fails with [`GRPC_FAIL_CODE`] in trailers that follow the response headers.
pub const GRPC_FAIL: &str = "/wasmgate.test.Echo/Fail";
/// Fails with [`GRPC_FAIL_CODE`] as a trailers-only response.
pub const GRPC_FAIL_TRAILERS_ONLY: &str = "/wasmgate.test.Echo/FailTrailersOnly";
/// The status code of [`GRPC_FAIL`] and [`GRPC_FAIL_TRAILERS_ONLY`].
pub const GRPC_FAIL_CODE: Code = Code::FailedPrecondition;
/// The custom metadata entry of the failing methods' status.
pub const GRPC_ERROR_DETAIL: (&str, &str) = ("x-error-detail", "failed on purpose");

/// A tonic codec whose messages are the raw bytes of each gRPC frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A gRPC server on `127.0.0.1:0` (HTTP/2 prior knowledge only). Closes its
/// listener and connections when dropped.
#[derive(Debug)]
pub struct GrpcBackend {
    name: String,
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    shutdown: Shutdown,
}

/// Configures a [`GrpcBackend`] before it starts.
#[derive(Clone, Debug)]
pub struct GrpcBackendBuilder {
    name: String,
}

impl GrpcBackend {
    /// Starts configuring a backend called `name` (sent as `x-backend`).
    pub fn builder(name: impl Into<String>) -> GrpcBackendBuilder {
        GrpcBackendBuilder { name: name.into() }
    }

    /// The backend's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (the server speaks HTTP/2 only).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `h2c://127.0.0.1:PORT`, the form an upstream definition would use.
    pub fn h2c_url(&self) -> String {
        format!("h2c://{}", self.addr)
    }

    /// How many gRPC calls (any method) have arrived so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Closes the listener and every connection and waits until they are
    /// gone. Dropping the backend does the same without waiting.
    pub async fn shutdown(self) {
        self.shutdown.shutdown().await;
    }
}

impl GrpcBackendBuilder {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(self) -> GrpcBackend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(AtomicUsize::new(0));
        let name_value = HeaderValue::from_str(&self.name)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-name"));
        let (shutdown, spawner) = lifecycle();
        let accept = accept_loop(listener, name_value, requests.clone(), spawner.clone());
        spawner.spawn(accept);
        tracing::debug!(name = %self.name, %addr, "grpc backend listening");
        GrpcBackend {
            name: self.name,
            addr,
            requests,
            shutdown,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    name: HeaderValue,
    requests: Arc<AtomicUsize>,
    spawner: Spawner,
) {
    let mut builder = auto::Builder::new(GuardedExecutor(spawner.clone()));
    builder = builder.http2_only();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (name, requests, builder) = (name.clone(), requests.clone(), builder.clone());
        spawner.spawn(async move {
            let service = service_fn(move |req: http::Request<Incoming>| {
                requests.fetch_add(1, Ordering::SeqCst);
                dispatch(name.clone(), req)
            });
            if let Err(error) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "grpc backend connection ended with an error");
            }
        });
    }
}

async fn dispatch(
    name: HeaderValue,
    req: http::Request<Incoming>,
) -> Result<http::Response<tonic::body::Body>, std::convert::Infallible> {
    let mut grpc = Grpc::new(BytesCodec);
    let response = match req.uri().path() {
        GRPC_UNARY => grpc.unary(Echo { name }, req).await,
        GRPC_SERVER_STREAM => grpc.server_streaming(Repeat { name }, req).await,
        GRPC_FAIL => grpc.server_streaming(FailInTrailers { name }, req).await,
        GRPC_FAIL_TRAILERS_ONLY => grpc.unary(FailTrailersOnly { name }, req).await,
        path => Status::unimplemented(format!("no method {path}")).into_http(),
    };
    Ok(response)
}

fn with_backend<T>(message: T, name: &HeaderValue) -> Response<T> {
    let mut response = Response::new(message);
    if let Ok(value) = MetadataValue::try_from(name.as_bytes()) {
        response.metadata_mut().insert(BACKEND_HEADER, value);
    }
    response
}

fn fail_status(payload: &Bytes, name: &HeaderValue) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert(
        GRPC_ERROR_DETAIL.0,
        MetadataValue::from_static(GRPC_ERROR_DETAIL.1),
    );
    if let Ok(value) = MetadataValue::try_from(name.as_bytes()) {
        metadata.insert(BACKEND_HEADER, value);
    }
    Status::with_metadata(GRPC_FAIL_CODE, String::from_utf8_lossy(payload), metadata)
}

fn metadata_u64(request: &Request<Bytes>, key: &str, default: u64) -> u64 {
    request
        .metadata()
        .get(key)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

type MessageStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

struct Echo {
    name: HeaderValue,
}

impl UnaryService<Bytes> for Echo {
    type Response = Bytes;
    type Future = Ready<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        ready(Ok(with_backend(request.into_inner(), &self.name)))
    }
}

struct Repeat {
    name: HeaderValue,
}

impl ServerStreamingService<Bytes> for Repeat {
    type Response = Bytes;
    type ResponseStream = MessageStream;
    type Future = Ready<Result<Response<MessageStream>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let count = metadata_u64(&request, "x-count", 3);
        let interval = Duration::from_millis(metadata_u64(&request, "x-interval-ms", 0));
        let payload = request.into_inner();
        let messages = stream::unfold(0u64, move |i| {
            let payload = payload.clone();
            async move {
                if i >= count {
                    return None;
                }
                if i > 0 && !interval.is_zero() {
                    tokio::time::sleep(interval).await;
                }
                let mut message = BytesMut::from(&payload[..]);
                message.put_slice(format!("#{i}").as_bytes());
                Some((Ok(message.freeze()), i + 1))
            }
        });
        let messages: MessageStream = Box::pin(messages);
        ready(Ok(with_backend(messages, &self.name)))
    }
}

struct FailInTrailers {
    name: HeaderValue,
}

impl ServerStreamingService<Bytes> for FailInTrailers {
    type Response = Bytes;
    type ResponseStream = MessageStream;
    type Future = Ready<Result<Response<MessageStream>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let status = fail_status(request.get_ref(), &self.name);
        let messages: MessageStream = Box::pin(stream::once(ready(Err(status))));
        ready(Ok(with_backend(messages, &self.name)))
    }
}

struct FailTrailersOnly {
    name: HeaderValue,
}

impl UnaryService<Bytes> for FailTrailersOnly {
    type Response = Bytes;
    type Future = Ready<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        ready(Err(fail_status(request.get_ref(), &self.name)))
    }
}

/// The outcome of a gRPC call, as a client sees it.
#[derive(Clone, Debug)]
pub struct GrpcReply {
    /// Messages received, in order (one for a successful unary call).
    pub messages: Vec<Bytes>,
    /// When each message arrived, measured from the start of the call.
    pub arrivals: Vec<Duration>,
    /// Final status code. Transport failures and non-gRPC answers (a proxy's
    /// 502, a reset stream) appear here as tonic maps them.
    pub code: Code,
    /// Final status message (`grpc-message`).
    pub message: String,
    /// Response metadata: headers and trailers, without `grpc-status`,
    /// `grpc-message` and `grpc-status-details-bin`.
    pub metadata: HeaderMap,
}

impl GrpcReply {
    /// The first message, if any: the answer of a unary call.
    pub fn body(&self) -> Option<&Bytes> {
        self.messages.first()
    }

    /// A metadata value as text, if present and printable.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(|value| value.to_str().ok())
    }

    fn from_status(status: Status, mut metadata: HeaderMap) -> Self {
        metadata.extend(status.metadata().clone().into_headers());
        GrpcReply {
            messages: Vec::new(),
            arrivals: Vec::new(),
            code: status.code(),
            message: status.message().to_owned(),
            metadata,
        }
    }
}

/// A gRPC call to make, for calls that need more than [`grpc_unary`] and
/// [`grpc_server_stream`] offer.
#[derive(Clone, Debug)]
pub struct GrpcRequest {
    target: String,
    path: String,
    payload: Bytes,
    metadata: HeaderMap,
    via: Option<SocketAddr>,
    timeout: Duration,
}

impl GrpcRequest {
    /// A call of `path` (e.g. [`GRPC_UNARY`]) on `target` (`http://` or
    /// `h2c://` URL; its authority becomes `:authority`).
    pub fn new(target: &str, path: &str, payload: impl Into<Bytes>) -> Self {
        GrpcRequest {
            target: wire_url(target),
            path: path.to_owned(),
            payload: payload.into(),
            metadata: HeaderMap::new(),
            via: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Connects to `addr` whatever host the target names.
    pub fn via(mut self, addr: SocketAddr) -> Self {
        self.via = Some(addr);
        self
    }

    /// Adds request metadata.
    ///
    /// # Panics
    /// If `key` or `value` is not a valid header name or value.
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        let key = http::HeaderName::try_from(key).expect("valid metadata key");
        let value = HeaderValue::try_from(value).expect("valid metadata value");
        self.metadata.append(key, value);
        self
    }

    /// Asks [`GRPC_SERVER_STREAM`] for `n` messages.
    pub fn count(self, n: usize) -> Self {
        self.metadata("x-count", &n.to_string())
    }

    /// Asks [`GRPC_SERVER_STREAM`] to pause this long between messages.
    pub fn interval(self, interval: Duration) -> Self {
        self.metadata("x-interval-ms", &interval.as_millis().to_string())
    }

    /// Gives up (with an error) on calls lasting longer; default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Makes the call as unary.
    pub async fn unary(self) -> anyhow::Result<GrpcReply> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.call(false))
            .await
            .map_err(|_| anyhow::anyhow!("gRPC call timed out after {timeout:?}"))?
    }

    /// Makes the call as server streaming and reads every message.
    pub async fn server_stream(self) -> anyhow::Result<GrpcReply> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.call(true))
            .await
            .map_err(|_| anyhow::anyhow!("gRPC call timed out after {timeout:?}"))?
    }

    async fn call(self, streaming: bool) -> anyhow::Result<GrpcReply> {
        let mut reply = self.exchange(streaming).await?;
        for status_header in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
            reply.metadata.remove(status_header);
        }
        Ok(reply)
    }

    async fn exchange(self, streaming: bool) -> anyhow::Result<GrpcReply> {
        let origin: Uri = self.target.parse()?;
        let path: PathAndQuery = self.path.parse()?;
        let client = match self.via {
            Some(addr) => h2c_client_via(addr),
            None => h2c_client(),
        };
        let mut grpc = tonic::client::Grpc::with_origin(Channel(client), origin);
        let mut request = Request::new(self.payload);
        *request.metadata_mut() = MetadataMap::from_headers(self.metadata);
        let start = Instant::now();
        grpc.ready()
            .await
            .map_err(|error| anyhow::anyhow!("gRPC channel not ready: {error}"))?;

        if !streaming {
            return Ok(match grpc.unary(request, path, BytesCodec).await {
                Ok(response) => {
                    let arrived = start.elapsed();
                    let (metadata, message, _) = response.into_parts();
                    GrpcReply {
                        messages: vec![message],
                        arrivals: vec![arrived],
                        code: Code::Ok,
                        message: String::new(),
                        metadata: metadata.into_headers(),
                    }
                }
                Err(status) => GrpcReply::from_status(status, HeaderMap::new()),
            });
        }

        let response = match grpc.server_streaming(request, path, BytesCodec).await {
            Ok(response) => response,
            Err(status) => return Ok(GrpcReply::from_status(status, HeaderMap::new())),
        };
        let (metadata, mut messages, _) = response.into_parts();
        let headers = metadata.into_headers();
        let (mut received, mut arrivals) = (Vec::new(), Vec::new());
        loop {
            match messages.message().await {
                Ok(Some(message)) => {
                    arrivals.push(start.elapsed());
                    received.push(message);
                }
                Ok(None) => break,
                Err(status) => {
                    let mut reply = GrpcReply::from_status(status, headers);
                    reply.messages = received;
                    reply.arrivals = arrivals;
                    return Ok(reply);
                }
            }
        }
        let mut metadata = headers;
        match messages.trailers().await {
            Ok(Some(trailers)) => metadata.extend(trailers.into_headers()),
            Ok(None) => {}
            Err(status) => return Ok(GrpcReply::from_status(status, metadata)),
        }
        Ok(GrpcReply {
            messages: received,
            arrivals,
            code: Code::Ok,
            message: String::new(),
            metadata,
        })
    }
}

/// Calls unary method `path` on `target` (`http://` or `h2c://` URL) over
/// h2c with `payload`.
pub async fn grpc_unary(
    target: &str,
    path: &str,
    payload: impl Into<Bytes>,
) -> anyhow::Result<GrpcReply> {
    GrpcRequest::new(target, path, payload).unary().await
}

/// Calls server-streaming method `path` on `target` over h2c, asking for `n`
/// messages (`x-count`), and reads them all.
pub async fn grpc_server_stream(
    target: &str,
    path: &str,
    payload: impl Into<Bytes>,
    n: usize,
) -> anyhow::Result<GrpcReply> {
    GrpcRequest::new(target, path, payload)
        .count(n)
        .server_stream()
        .await
}

/// Adapts an [`HttpClient`] to the request body type tonic's client sends.
#[derive(Clone, Debug)]
struct Channel(HttpClient);

impl tower_service::Service<http::Request<tonic::body::Body>> for Channel {
    type Response = http::Response<Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let response = self
            .0
            .request(request.map(|body| body.map_err(BoxError::from).boxed_unsync()));
        Box::pin(async move {
            response.await.map_err(|error| {
                // As gRPC clients do: failing to connect is UNAVAILABLE.
                if error.is_connect() {
                    Status::unavailable(format!("connect failed: {error}")).into()
                } else {
                    BoxError::from(error)
                }
            })
        })
    }
}
