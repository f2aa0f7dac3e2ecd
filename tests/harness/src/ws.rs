//! WebSocket: the server side of [`HttpBackend`](crate::HttpBackend)'s `/ws`
//! route (HTTP/1.1 Upgrade) and a client.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use http::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::lifecycle::Spawner;
use crate::{Body, empty, full};

/// A client WebSocket as returned by [`ws_connect`].
pub type WsClient = WebSocketStream<TcpStream>;

/// Answers an Upgrade request with 101 and runs the echo loop on the
/// upgraded connection; anything else gets 400.
pub(crate) fn upgrade(mut req: Request<Incoming>, spawner: &Spawner) -> Response<Body> {
    let wants_websocket = req
        .headers()
        .get(UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    let key = req.headers().get(SEC_WEBSOCKET_KEY).cloned();
    let (true, Some(key)) = (wants_websocket, key) else {
        let mut response = Response::new(full("expected a WebSocket upgrade\n"));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
    };

    let on_upgrade = hyper::upgrade::on(&mut req);
    spawner.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "websocket upgrade failed");
                return;
            }
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        echo(ws).await;
    });

    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
            .expect("base64 is a valid header value"),
    );
    response
}

/// Echoes text and binary messages until the peer closes. Pings are answered
/// and the close handshake completed by tungstenite itself.
async fn echo<S>(mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = ws.next().await {
        match message {
            Ok(message) if message.is_text() || message.is_binary() => {
                if let Err(error) = ws.send(message).await {
                    tracing::debug!(%error, "websocket echo send failed");
                    return;
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(%error, "websocket echo read failed");
                return;
            }
        }
    }
}

/// Opens a WebSocket to `url` (`ws://HOST:PORT/PATH`): a plain TCP
/// connection to HOST:PORT and the HTTP/1.1 Upgrade handshake.
pub async fn ws_connect(url: &str) -> anyhow::Result<WsClient> {
    let request = url.into_client_request()?;
    let authority = request
        .uri()
        .authority()
        .ok_or_else(|| anyhow::anyhow!("no host in {url}"))?;
    let host_port = format!(
        "{}:{}",
        authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']'),
        authority.port_u16().unwrap_or(80)
    );
    let stream = TcpStream::connect(host_port.as_str()).await?;
    stream.set_nodelay(true)?;
    let (ws, _response) = tokio_tungstenite::client_async(request, stream).await?;
    Ok(ws)
}

/// Opens a WebSocket on a TCP connection to `addr`, sending `request` as the
/// handshake. Use it to reach a gateway while naming another host: build the
/// request with `"ws://app.test/ws".into_client_request()` (from
/// [`tokio_tungstenite::tungstenite::client::IntoClientRequest`]) and adjust
/// its headers.
pub async fn ws_connect_via<R>(addr: SocketAddr, request: R) -> anyhow::Result<WsClient>
where
    R: IntoClientRequest + Unpin,
{
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (ws, _response) = tokio_tungstenite::client_async(request, stream).await?;
    Ok(ws)
}
