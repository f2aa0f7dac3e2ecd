//! Serving one connection on an entrypoint with TCP routers or PROXY protocol: read the
//! PROXY header, tell TLS from plain bytes, read the ClientHello, then hand the connection
//! to a TCP router (passthrough, termination or plain) or to the HTTP server.

use super::middleware::{self, ConnFacts, Decision};
use super::{TcpEntryRoutes, TcpRouterRt, TlsMode, dial};
use crate::entrypoint::rewind::Rewind;
use crate::entrypoint::{Accepted, TLS_HANDSHAKE, clienthello, proxy_protocol};
use crate::proxy::relay::{Stream, relay_with};
use crate::runtime::RuntimeConfig;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wasmgate_rules::TcpRequestInfo;

/// Serves `stream` as its entrypoint's TCP routers, PROXY protocol setting and HTTP routers
/// say.
pub async fn connection(mut stream: TcpStream, mut a: Accepted) {
    let peer = a.client;
    let entrypoint = a.entrypoint.name.clone();
    // Bytes read before the connection is handed on; replayed to whoever gets it.
    let mut buf = Vec::new();
    let mut from = 0;
    if let Some(trusted) = a.proxy_protocol.clone() {
        match proxy_protocol::read(&mut stream, &mut buf, a.handshake_timeout).await {
            Ok(Some(header)) => {
                if !trusted.contains(peer.ip()) {
                    tracing::warn!(client = %peer, %entrypoint, "PROXY header from an untrusted address; connection closed");
                    return;
                }
                from = header.len;
                if let Some(client) = header.client {
                    tracing::debug!(peer = %peer, %client, "PROXY header");
                    a.client = client;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(client = %peer, %entrypoint, error = %e, "connection closed");
                return;
            }
        }
    }
    let cfg = a.live.config.load_full();
    let Some(routes) = cfg.tcp.routes(&entrypoint) else {
        return http(stream, buf, from, a).await;
    };
    let http_routers = cfg
        .entrypoints
        .get(&entrypoint)
        .is_some_and(|r| !r.is_empty());
    let plain_info = TcpRequestInfo {
        sni: None,
        alpn: &[],
        client_ip: Some(a.client.ip().to_canonical()),
    };
    // Only plain TCP routers: no need to wait for the client to speak first.
    if routes.tls.is_empty() && !http_routers {
        if let Some(route) = routes.plain.find(&plain_info) {
            let router = route.value.clone();
            return serve(&router, &cfg, None, stream, buf, from, a).await;
        }
        return;
    }
    if buf.len() == from {
        buf.reserve(4096);
        match tokio::time::timeout(a.handshake_timeout, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return,
            Err(_) => {
                // A client that waits for the server: only a plain TCP router can serve it.
                if let Some(route) = routes.plain.find(&plain_info) {
                    let router = route.value.clone();
                    return serve(&router, &cfg, None, stream, buf, from, a).await;
                }
                return;
            }
        }
    }
    if buf[from] != TLS_HANDSHAKE {
        return match routes.plain.find(&plain_info) {
            Some(route) => {
                let router = route.value.clone();
                serve(&router, &cfg, None, stream, buf, from, a).await
            }
            None => http(stream, buf, from, a).await,
        };
    }
    let hello = match clienthello::read(&mut stream, &mut buf, from, a.handshake_timeout).await {
        Ok(h) => h,
        Err(e) => {
            tracing::info!(client = %a.client, %entrypoint, error = %e, "connection cut off");
            return;
        }
    };
    match find_tls(routes, &hello, &a) {
        Some(router) => serve(&router, &cfg, Some(hello), stream, buf, from, a).await,
        None => a.http_tls(Rewind::new(buf, from, stream)).await,
    }
}

fn find_tls(
    routes: &TcpEntryRoutes,
    hello: &clienthello::Hello,
    a: &Accepted,
) -> Option<Arc<TcpRouterRt>> {
    let alpn: Vec<&str> = hello.alpn.iter().map(String::as_str).collect();
    let info = TcpRequestInfo {
        sni: hello.sni.as_deref(),
        alpn: &alpn,
        client_ip: Some(a.client.ip().to_canonical()),
    };
    routes.tls.find(&info).map(|r| r.value.clone())
}

/// Hands the connection to the HTTP server, replaying what was read.
async fn http(stream: TcpStream, buf: Vec<u8>, from: usize, a: Accepted) {
    let first = match buf.get(from) {
        Some(b) => *b,
        None => {
            let mut first = [0u8; 1];
            match tokio::time::timeout(a.handshake_timeout, stream.peek(&mut first)).await {
                Ok(Ok(1)) => first[0],
                _ => return,
            }
        }
    };
    let tls = first == TLS_HANDSHAKE;
    match (buf.len() > from, tls) {
        (false, false) => a.http(stream, false).await,
        (false, true) => a.http_tls(stream).await,
        (true, false) => a.http(Rewind::new(buf, from, stream), false).await,
        (true, true) => a.http_tls(Rewind::new(buf, from, stream)).await,
    }
}

/// Runs the router's middlewares, dials its service and relays.
async fn serve(
    router: &TcpRouterRt,
    cfg: &Arc<RuntimeConfig>,
    hello: Option<clienthello::Hello>,
    stream: TcpStream,
    buf: Vec<u8>,
    from: usize,
    a: Accepted,
) {
    let client = a.client;
    let span = tracing::debug_span!("tcp", router = %router.name, %client);
    let _enter = span.enter();
    let (sni, alpn) = hello.map(|h| (h.sni, h.alpn)).unwrap_or_default();
    let facts = ConnFacts { client, sni, alpn };
    let mut guards = Vec::new();
    let service = match middleware::run(&router.middlewares, &facts, &mut guards).await {
        Decision::Continue => router.service.clone(),
        Decision::Deny(reason) => {
            tracing::info!(router = %router.name, %client, %reason, "connection refused");
            return;
        }
        Decision::Route(name) => {
            let key = name.strip_suffix("@file").unwrap_or(&name);
            match cfg.tcp.services.get(key) {
                Some(s) => s.clone(),
                None => {
                    tracing::warn!(router = %router.name, service = %name, "plugin routed to a TCP service that does not exist");
                    return;
                }
            }
        }
    };
    let Some((lb, server)) = service.pick() else {
        tracing::warn!(router = %router.name, service = service.name(), "TCP service has no server");
        return;
    };
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let (client_side, replay) = match router.tls {
        TlsMode::Plain | TlsMode::Passthrough => (
            Stream::Tcp(stream),
            buf.get(from..).unwrap_or_default().to_vec(),
        ),
        TlsMode::Terminate => match a.tls_handshake(Rewind::new(buf, from, stream)).await {
            Some(tls) => (Stream::other(tls), Vec::new()),
            None => return,
        },
    };
    let mut upstream = match dial::connect(lb, server, client, local).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(router = %router.name, service = %lb.name, server = %server.address, error = %e, "cannot reach TCP server");
            return;
        }
    };
    if !replay.is_empty() {
        let written = match &mut upstream {
            Stream::Tcp(t) => t.write_all(&replay).await,
            Stream::Other(o) => o.write_all(&replay).await,
        };
        if let Err(e) = written {
            tracing::debug!(error = %e, "TCP server closed early");
            return;
        }
    }
    tracing::debug!(router = %router.name, service = %lb.name, server = %server.address, "TCP connection");
    match relay_with(client_side, upstream, lb.transport.termination_delay).await {
        Ok((up, down)) => tracing::debug!(router = %router.name, up, down, "TCP connection closed"),
        Err(e) => {
            tracing::debug!(router = %router.name, error = %e, "TCP connection ended with an error")
        }
    }
    drop(guards);
    drop(a.open);
}
