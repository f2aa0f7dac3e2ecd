//! Entrypoints: listeners, the HTTP server on each connection, timeouts and graceful shutdown.

pub mod clienthello;
pub mod conn;
pub mod handler;
pub mod proxy_protocol;
pub mod rewind;

use crate::context::{EntryPointInfo, TrustedNets};
use crate::runtime::Live;
use conn::{Activity, TrackedIo};
use handler::ConnInfo;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How an entrypoint serves connections.
#[derive(Debug, Clone)]
pub struct EntryPointSettings {
    /// Time allowed to receive a request's headers (`respondingTimeouts.readTimeout`).
    pub read_timeout: Option<Duration>,
    /// Silence after which a keep-alive connection is closed (`respondingTimeouts.idleTimeout`).
    pub idle_timeout: Option<Duration>,
    /// After a stop signal, how long new connections are still accepted.
    pub accept_grace: Duration,
    /// After accepting stops, how long in-flight requests may finish.
    pub grace: Duration,
    /// HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// `proxyProtocol`: the peers whose PROXY header is accepted; `None` when disabled.
    pub proxy_protocol: Option<Arc<TrustedNets>>,
}

/// A bound entrypoint.
pub struct EntryPoint {
    /// What requests see of this entrypoint.
    pub info: Arc<EntryPointInfo>,
    /// How connections are served.
    pub settings: EntryPointSettings,
    /// The listening socket.
    pub listener: TcpListener,
}

impl EntryPoint {
    /// The address actually bound (resolves port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts and serves connections until `stop` turns true; then keeps accepting for the
    /// accept grace period, stops, and lets open connections finish for the grace period.
    pub async fn serve(self, live: Arc<Live>, mut stop: watch::Receiver<bool>) {
        let EntryPoint {
            info,
            settings,
            listener,
        } = self;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.read_timeout)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(settings.max_concurrent_streams);
        let builder = Arc::new(builder);
        let (close_tx, close_rx) = watch::channel(false);
        let open = Arc::new(());
        let mut accept_deadline: Option<tokio::time::Instant> = None;
        loop {
            let grace_over = async {
                match accept_deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, client) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(entrypoint = %info.name, error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let accepted = Accepted {
                        client,
                        entrypoint: info.clone(),
                        handshake_timeout: settings.read_timeout.unwrap_or(Duration::from_secs(60)),
                        live: live.clone(),
                        builder: builder.clone(),
                        idle_timeout: settings.idle_timeout,
                        close: close_rx.clone(),
                        open: open.clone(),
                        proxy_protocol: settings.proxy_protocol.clone(),
                    };
                    tokio::spawn(accept_connection(stream, accepted));
                }
                changed = stop.changed(), if accept_deadline.is_none() => {
                    if changed.is_err() || *stop.borrow() {
                        tracing::info!(entrypoint = %info.name, accept_grace = ?settings.accept_grace, "stopping");
                        accept_deadline = Some(tokio::time::Instant::now() + settings.accept_grace);
                    }
                }
                () = grace_over => break,
            }
        }
        drop(listener);
        let _ = close_tx.send(true);
        let deadline = tokio::time::Instant::now() + settings.grace;
        while Arc::strong_count(&open) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = Arc::strong_count(&open) - 1;
        if left > 0 {
            tracing::warn!(entrypoint = %info.name, connections = left, "grace period over, closing connections");
        }
    }
}

/// The first byte of a TLS handshake record.
pub(crate) const TLS_HANDSHAKE: u8 = 0x16;

/// What serving one accepted connection needs.
pub struct Accepted {
    /// The client's address (replaced by a trusted PROXY header's).
    pub client: SocketAddr,
    /// The entrypoint.
    pub entrypoint: Arc<EntryPointInfo>,
    /// Time allowed for the PROXY header, the ClientHello and the TLS handshake.
    pub handshake_timeout: Duration,
    /// The live state.
    pub live: Arc<Live>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    idle_timeout: Option<Duration>,
    close: watch::Receiver<bool>,
    /// Held while the connection is open (graceful shutdown counts these).
    pub open: Arc<()>,
    /// Peers whose PROXY header is accepted; `None` when the entrypoint takes none.
    pub proxy_protocol: Option<Arc<TrustedNets>>,
}

/// Tells TLS from plain HTTP by the first byte, completes the TLS handshake when there is
/// one (certificate and options chosen from the ClientHello's SNI), then serves HTTP. With
/// TCP routers or PROXY protocol on the entrypoint, [`crate::tcp::serve`] decides first.
async fn accept_connection(stream: tokio::net::TcpStream, accepted: Accepted) {
    if accepted.proxy_protocol.is_some()
        || accepted
            .live
            .config
            .load()
            .tcp
            .routes(&accepted.entrypoint.name)
            .is_some()
    {
        return crate::tcp::serve::connection(stream, accepted).await;
    }
    let mut first = [0u8; 1];
    match tokio::time::timeout(accepted.handshake_timeout, stream.peek(&mut first)).await {
        Ok(Ok(1)) => {}
        _ => return,
    }
    if first[0] != TLS_HANDSHAKE {
        return accepted.http(stream, false).await;
    }
    accepted.http_tls(stream).await;
}

impl Accepted {
    /// Serves HTTP on `stream` (already decrypted when `tls`).
    pub async fn http<S>(self, stream: S, tls: bool)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let conn = Arc::new(ConnInfo {
            client: self.client,
            entrypoint: self.entrypoint,
            tls,
        });
        serve_connection(
            stream,
            conn,
            self.live,
            self.builder,
            self.idle_timeout,
            self.close,
            self.open,
        )
        .await;
    }

    /// Completes a TLS handshake on `stream` (certificate and options by SNI), then serves
    /// HTTP on it.
    pub async fn http_tls<S>(self, stream: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        if let Some(stream) = self.tls_handshake(stream).await {
            self.http(stream, true).await;
        }
    }

    /// Completes a TLS handshake with the configuration's certificates; `None` (logged) when
    /// it fails.
    pub async fn tls_handshake<S>(&self, stream: S) -> Option<tokio_rustls::server::TlsStream<S>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let client = self.client;
        let entrypoint = &self.entrypoint.name;
        let Some(tls) = self.live.config.load().tls.clone() else {
            tracing::debug!(%client, "TLS handshake refused: no certificate loaded yet");
            return None;
        };
        let handshake = async {
            let start =
                tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream)
                    .await?;
            let config = tls.config_for(start.client_hello().server_name());
            start.into_stream(config).await
        };
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(Ok(s)) => Some(s),
            Ok(Err(e)) => {
                tracing::debug!(%client, %entrypoint, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%client, %entrypoint, "TLS handshake timed out");
                None
            }
        }
    }
}

async fn serve_connection<S>(
    stream: S,
    conn: Arc<ConnInfo>,
    live: Arc<Live>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    idle_timeout: Option<Duration>,
    mut close: watch::Receiver<bool>,
    _open: Arc<()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let io = TokioIo::new(TrackedIo::new(stream, activity.clone()));
    let svc_conn = conn.clone();
    let service = service_fn(move |req| {
        let conn = svc_conn.clone();
        let live = live.clone();
        async move { Ok::<_, std::convert::Infallible>(handler::handle(req, &conn, &live).await) }
    });
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let mut closing = *close.borrow();
    if closing {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        let idle_check = async {
            match idle_timeout {
                Some(limit) if !closing => {
                    let idle = activity.idle_for();
                    if idle < limit {
                        tokio::time::sleep(limit - idle).await;
                    }
                }
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(client = %conn.client, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = close.changed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = idle_check => {
                if idle_timeout.is_some_and(|limit| activity.idle_for() >= limit) {
                    tracing::debug!(client = %conn.client, "idle timeout");
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
