//! One request through the gateway: route, middlewares, service, access log.

use crate::accesslog::Entry;
use crate::body::{self, Body};
use crate::context::{EntryPointInfo, RequestCtx};
use crate::error::ProxyError;
use crate::middleware::{Flow, HoldBody, Holds, MiddlewareRt, status};
use crate::plugins::RequestHead;
use crate::runtime::{Live, RouterRt, RuntimeConfig};
use http::{Request, Response, StatusCode, Version, header};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use wasmgate_rules::{RequestInfo, request_host_of, routing_path};

/// What a connection knows about itself.
#[derive(Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub client: SocketAddr,
    /// The entrypoint that accepted it.
    pub entrypoint: Arc<EntryPointInfo>,
    /// Whether the connection completed a TLS handshake.
    pub tls: bool,
}

/// Serves one request.
pub async fn handle(req: Request<Incoming>, conn: &ConnInfo, live: &Live) -> Response<Body> {
    let started = Instant::now();
    let config = live.config.load_full();
    let count = live.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_owned();
    let mut ctx = RequestCtx {
        client: conn.client,
        entrypoint: conn.entrypoint.clone(),
        tls: conn.tls,
        host,
        router: None,
        service: None,
        upstream: None,
        access_log: true,
        started,
    };
    let Some(log) = &live.access_log else {
        return serve(&config, req.map(body::boxed), &mut ctx).await;
    };
    let method = req.method().clone();
    let uri = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let version = req.version();
    let header_str = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (referer, user_agent) = (header_str(header::REFERER), header_str(header::USER_AGENT));
    let resp = serve(&config, req.map(body::boxed), &mut ctx).await;
    if !ctx.access_log {
        return resp;
    }
    log.log(
        &Entry {
            method: &method,
            uri: &uri,
            version,
            status: resp.status(),
            size: http_body::Body::size_hint(resp.body()).exact(),
            referer: referer.as_deref(),
            user_agent: user_agent.as_deref(),
            count,
            duration: started.elapsed(),
        },
        &ctx,
    );
    resp
}

async fn serve(
    config: &RuntimeConfig,
    mut req: Request<Body>,
    ctx: &mut RequestCtx,
) -> Response<Body> {
    if req.version() == Version::HTTP_11 && !req.headers().contains_key(header::HOST) {
        return status(StatusCode::BAD_REQUEST);
    }
    if has_bad_escape(req.uri().path()) {
        return status(StatusCode::BAD_REQUEST);
    }
    let routed = config
        .entrypoints
        .get(&ctx.entrypoint.name)
        .and_then(|routes| {
            let table = routes.for_connection(ctx.tls);
            let host = request_host_of(req.uri(), req.headers());
            let path = routing_path(req.uri().path());
            let info = RequestInfo {
                method: req.method(),
                host: &host,
                path: &path,
                query: req.uri().query(),
                headers: req.headers(),
                client_ip: Some(ctx.client_ip()),
            };
            table.find(&info).map(|r| r.value.clone())
        });
    let Some(router) = routed else {
        tracing::debug!(entrypoint = %ctx.entrypoint.name, host = %ctx.host, path = %req.uri().path(), "no router matches");
        return status(ProxyError::NoRoute.status());
    };
    ctx.router = Some(router.name.clone());
    ctx.access_log = router.access_log;
    // Only the headers middleware (CORS) reads the request's Origin in the response phase.
    let origin = router
        .chain
        .iter()
        .any(|m| matches!(&**m, MiddlewareRt::Headers(_)))
        .then(|| req.headers().get(header::ORIGIN).cloned())
        .flatten();
    let mut holds = Holds::default();
    let mut ran = 0;
    let mut early = None;
    for (i, mw) in router.chain.iter().enumerate() {
        ran += 1;
        holds.at = i;
        let flow = match mw.on_request_now(&mut req, ctx, &mut holds) {
            Some(flow) => flow,
            None => mw.on_request(&mut req, ctx, &mut holds).await,
        };
        if let Flow::Respond(r) = flow {
            early = Some(r);
            break;
        }
    }
    // Plugins see the request again in their response phase.
    let head = (!holds.leases.is_empty()).then(|| RequestHead::of(&req));
    let mut resp = match early {
        Some(r) => r,
        None => match call_with_retry(&router, req, ctx).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    router = %router.name,
                    service = %ctx.service.as_deref().unwrap_or(router.service.name()),
                    status = e.status().as_u16(),
                    error = %e,
                    "request failed"
                );
                status(e.status())
            }
        },
    };
    let mut preq = head.map(|h| h.into_plugin_request(ctx));
    for (i, mw) in router.chain[..ran].iter().enumerate().rev() {
        if let MiddlewareRt::Plugin(_) = &**mw {
            if holds.queued.last().is_some_and(|q| q.index == i)
                && let Some(queued) = holds.queued.pop()
            {
                queued.apply(&mut resp);
            }
            // Plugins that answered or failed open hold no lease.
            if let Some(preq) = preq.as_mut()
                && holds.leases.last().is_some_and(|h| h.index == i)
                && let Some(mut held) = holds.leases.pop()
            {
                let failed = if held.runs_now() {
                    held.on_response_now(preq, &mut resp)
                } else {
                    held.on_response(preq, &mut resp).await
                };
                if let Some(r) = failed {
                    resp = r;
                }
            }
            continue;
        }
        mw.on_response(origin.as_ref(), &mut resp);
    }
    if !holds.guards.is_empty() {
        resp = resp.map(|b| HoldBody::wrap(b, holds.guards));
    }
    resp
}

/// Calls the router's service, re-sending a bodiless request that failed to reach a server
/// when the router has a `retry` middleware.
async fn call_with_retry(
    router: &RouterRt,
    req: Request<Body>,
    ctx: &mut RequestCtx,
) -> Result<Response<Body>, ProxyError> {
    let policy = router.chain.iter().rev().find_map(|m| match &**m {
        MiddlewareRt::Retry(r) => Some(*r),
        _ => None,
    });
    let Some(policy) = policy.filter(|_| http_body::Body::is_end_stream(req.body())) else {
        return router.service.call(req, ctx).await;
    };
    let (parts, _) = req.into_parts();
    let mut wait = policy.initial_interval;
    let mut attempt = 1;
    loop {
        let mut again = Request::new(body::empty());
        *again.method_mut() = parts.method.clone();
        *again.uri_mut() = parts.uri.clone();
        *again.version_mut() = parts.version;
        *again.headers_mut() = parts.headers.clone();
        match router.service.call(again, ctx).await {
            Err(e) if e.is_retryable() && attempt < policy.attempts => {
                tracing::debug!(router = %router.name, attempt, error = %e, "retrying");
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Whether a path has a `%` not followed by two hex digits (Traefik answers 400 to those).
fn has_bad_escape(path: &str) -> bool {
    let b = path.as_bytes();
    b.iter().enumerate().any(|(i, &c)| {
        c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}
