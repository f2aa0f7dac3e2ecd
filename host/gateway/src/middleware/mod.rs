//! Built-in middlewares and the chain a router runs between matching and its service.
//!
//! A middleware has two phases, as in Pingora: `on_request` may change the request or answer
//! it; `on_response` may change the response. A router's chain is flattened at build time
//! (`chain` middlewares disappear), so the request path walks one slice.

pub mod auth;
pub mod build;
pub mod headers;
pub mod limits;
pub mod path;
pub mod redirect;

use crate::body::{self, Body};
use crate::context::RequestCtx;
use http::{Request, Response, StatusCode};
use std::sync::Arc;

pub use headers::HeadersRt;
pub use limits::{InFlightGuard, InFlightReq, IpAllowList, RateLimit};
pub use path::PathRewrite;
pub use redirect::Redirect;

/// What a middleware decided about a request.
pub enum Flow {
    /// Go on to the next middleware, then the service.
    Continue,
    /// Answer the client with this response; the service is not called.
    Respond(Response<Body>),
}

/// What a request holds while it is served: in-flight slots (until its response body is
/// done), plugin instances (until its response phase is done) and the headers plugins
/// queued for its response.
#[derive(Default)]
pub struct Holds {
    /// In-flight slots.
    pub guards: Vec<InFlightGuard>,
    /// Plugin instances leased in the request phase, in chain order.
    pub leases: Vec<crate::plugins::HeldLease>,
    /// Response headers queued by plugins in the request phase, in chain order.
    pub queued: Vec<crate::plugins::QueuedHeaders>,
    /// The chain position of the middleware whose request phase runs.
    pub at: usize,
}

/// A built middleware.
#[derive(Debug)]
pub enum MiddlewareRt {
    /// Path rewrites: addPrefix, stripPrefix(Regex), replacePath(Regex).
    Path(PathRewrite),
    /// redirectScheme and redirectRegex.
    Redirect(Redirect),
    /// headers.
    Headers(HeadersRt),
    /// ipAllowList.
    IpAllowList(IpAllowList),
    /// inFlightReq.
    InFlightReq(InFlightReq),
    /// rateLimit.
    RateLimit(RateLimit),
    /// basicAuth.
    BasicAuth(auth::BasicAuth),
    /// retry: read by the router, which re-sends bodiless requests that failed to reach a server.
    Retry(Retry),
    /// A WebAssembly plugin.
    Plugin(crate::plugins::PluginMiddleware),
}

/// Retry settings (`retry` middleware).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Total tries, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub initial_interval: std::time::Duration,
}

impl MiddlewareRt {
    /// The request phase when it runs without waiting: every built-in middleware, and a
    /// plugin called synchronously with an instance idle. `None`: await
    /// [`MiddlewareRt::on_request`] instead.
    pub fn on_request_now(
        &self,
        req: &mut Request<Body>,
        ctx: &mut RequestCtx,
        holds: &mut Holds,
    ) -> Option<Flow> {
        Some(match self {
            MiddlewareRt::Path(p) => {
                p.apply(req);
                Flow::Continue
            }
            MiddlewareRt::Redirect(r) => r.on_request(req, ctx),
            MiddlewareRt::Headers(h) => h.on_request(req),
            MiddlewareRt::IpAllowList(a) => a.on_request(req, ctx),
            MiddlewareRt::InFlightReq(f) => match f.acquire(req, ctx) {
                Some(guard) => {
                    holds.guards.push(guard);
                    Flow::Continue
                }
                None => Flow::Respond(status(StatusCode::SERVICE_UNAVAILABLE)),
            },
            MiddlewareRt::RateLimit(r) => r.on_request(req, ctx),
            MiddlewareRt::BasicAuth(a) => a.on_request(req),
            MiddlewareRt::Retry(_) => Flow::Continue,
            MiddlewareRt::Plugin(p) => return p.on_request_now(req, ctx, holds),
        })
    }

    /// The request phase.
    pub async fn on_request(
        &self,
        req: &mut Request<Body>,
        ctx: &mut RequestCtx,
        holds: &mut Holds,
    ) -> Flow {
        match self {
            MiddlewareRt::Plugin(p) => p.on_request(req, ctx, holds).await,
            _ => self
                .on_request_now(req, ctx, holds)
                .expect("built-in middlewares never wait"),
        }
    }

    /// The response phase.
    pub fn on_response(&self, req_origin: Option<&http::HeaderValue>, resp: &mut Response<Body>) {
        if let MiddlewareRt::Headers(h) = self {
            h.on_response(req_origin, resp);
        }
    }
}

/// A router's flattened middleware list.
pub type Chain = Arc<[Arc<MiddlewareRt>]>;

/// A response with `status` and its reason as a text body.
pub fn status(status: StatusCode) -> Response<Body> {
    let text = status.canonical_reason().unwrap_or("error");
    let mut resp = Response::new(body::full(format!("{} {text}\n", status.as_u16())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request's in-flight slots until it is finished or dropped.
    pub struct HoldBody {
        #[pin]
        inner: Body,
        guards: Vec<InFlightGuard>,
    }
}

impl HoldBody {
    /// Attaches `guards` to `inner`.
    pub fn wrap(inner: Body, guards: Vec<InFlightGuard>) -> Body {
        Body::new(HoldBody { inner, guards })
    }
}

impl http_body::Body for HoldBody {
    type Data = bytes::Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
