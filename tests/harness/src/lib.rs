//! Real backends and clients for wasmgate's end-to-end tests.
//!
//! Every server binds `127.0.0.1:0`, speaks its protocol for real, and closes
//! its listener and connections when dropped (or on `shutdown().await`, which
//! also waits). Tests start the gateway in front of these backends and drive
//! it with these clients, asserting what a user would notice.
//!
//! - [`HttpBackend`]: HTTP/1.1 + h2c on one port; JSON echo of the request,
//!   streaming echo, status, delay, SSE, byte streams, WebSocket, reset,
//!   trailers.
//! - [`GrpcBackend`]: gRPC over h2c (unary, server streaming, failures), with
//!   [`grpc_unary`], [`grpc_server_stream`] and [`GrpcRequest`] as client.
//! - [`TcpEchoBackend`], [`UdpEchoBackend`]: byte and datagram echo.
//! - Clients: [`http1_client`], [`h2c_client`], [`get`], [`get_json`],
//!   [`send`], [`ws_connect`], [`raw_http`], [`slow_writer`].
//! - [`EtcdCluster`], [`RedisServer`]: real etcd and Redis processes on
//!   loopback ports (`None` when not installed, so tests can skip).
//! - [`wait_for`]: poll a condition until it holds.

mod client;
mod etcd;
mod grpc;
mod http;
mod lifecycle;
mod redis;
mod tcp;
mod udp;
mod ws;

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};

pub use crate::client::{
    Connector, HttpClient, SlowWrite, collect, get, get_json, h2c_client, h2c_client_via,
    http1_client, http1_client_via, raw_http, raw_http_timeout, send, slow_writer, wire_url,
};
pub use crate::etcd::{EtcdCluster, EtcdTls, etcdctl};
pub use crate::grpc::{
    BytesCodec, Code, GRPC_ERROR_DETAIL, GRPC_FAIL, GRPC_FAIL_CODE, GRPC_FAIL_TRAILERS_ONLY,
    GRPC_SERVER_STREAM, GRPC_UNARY, GrpcBackend, GrpcBackendBuilder, GrpcReply, GrpcRequest,
    grpc_server_stream, grpc_unary,
};
pub use crate::http::{BACKEND_HEADER, HttpBackend, HttpBackendBuilder, RecordedRequest};
pub use crate::redis::RedisServer;
pub use crate::tcp::{ProxyHeaderBackend, TcpEchoBackend};
pub use crate::udp::{UdpEchoBackend, UdpEchoBackendBuilder};
pub use crate::ws::{WsClient, ws_connect, ws_connect_via};
pub use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The error type of streaming bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of requests sent with an [`HttpClient`] and of the
/// backends' responses: any stream of `Bytes` frames.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A body holding `bytes` in one frame.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body with no data.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Polls `condition` every 10 ms until it returns `true`, or fails once
/// `timeout` has passed.
pub async fn wait_for<F, Fut>(mut condition: F, timeout: Duration) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!("condition still false after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
