//! Services: where a routed request goes (load balancers, weighted sets, mirrors, internal ones).

pub mod mirror;
pub mod wrr;

use crate::body::Body;
use crate::context::RequestCtx;
use crate::error::ProxyError;
use crate::internal;
use crate::proxy::{Transport, Upstream, forward};
use http::{Request, Response};
pub use mirror::{Mirror, Mirroring};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
pub use wrr::Wrr;

/// A built service, shared by every router that points at it.
#[derive(Debug)]
pub enum ServiceRt {
    /// Weighted round robin over upstream servers.
    LoadBalancer(LoadBalancer),
    /// Weighted round robin over other services.
    Weighted(Weighted),
    /// A main service plus mirrors.
    Mirroring(Mirroring),
    /// A service the gateway answers itself.
    Internal(Internal),
}

/// A load balancer over upstream servers.
#[derive(Debug)]
pub struct LoadBalancer {
    /// The service name.
    pub name: Arc<str>,
    /// The servers and their weights.
    pub servers: Wrr<Upstream>,
    /// The pooled transport requests go through.
    pub transport: Arc<Transport>,
    /// Whether the client's Host header is sent upstream.
    pub pass_host_header: bool,
}

/// Weighted round robin over services.
#[derive(Debug)]
pub struct Weighted {
    /// The service name.
    pub name: Arc<str>,
    /// The child services and their weights.
    pub services: Wrr<Arc<ServiceRt>>,
}

/// Services answered by the gateway itself (`name@internal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Internal {
    /// Echoes the request back (method, path, headers, client address) as text or JSON.
    Whoami,
    /// Answers 200 with no body.
    Noop,
}

impl ServiceRt {
    /// The service's name.
    pub fn name(&self) -> &str {
        match self {
            ServiceRt::LoadBalancer(lb) => &lb.name,
            ServiceRt::Weighted(w) => &w.name,
            ServiceRt::Mirroring(m) => &m.name,
            ServiceRt::Internal(Internal::Whoami) => "whoami@internal",
            ServiceRt::Internal(Internal::Noop) => "noop@internal",
        }
    }

    /// [`ServiceRt::call`], boxed: composite services call their children through this, which
    /// keeps the recursive future type finite and provably `Send`.
    pub fn call_boxed<'a>(
        &'a self,
        req: Request<Body>,
        ctx: &'a mut RequestCtx,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Body>, ProxyError>> + Send + 'a>> {
        Box::pin(self.call(req, ctx))
    }

    /// Handles a request.
    pub async fn call(
        &self,
        req: Request<Body>,
        ctx: &mut RequestCtx,
    ) -> Result<Response<Body>, ProxyError> {
        match self {
            ServiceRt::LoadBalancer(lb) => {
                let Some(server) = lb.servers.pick() else {
                    return Err(ProxyError::NoServer {
                        service: lb.name.to_string(),
                    });
                };
                ctx.service = Some(lb.name.clone());
                ctx.upstream = Some(server.label.clone());
                forward(&lb.transport, server, lb.pass_host_header, req, ctx).await
            }
            ServiceRt::Weighted(w) => {
                let Some(child) = w.services.pick() else {
                    return Err(ProxyError::NoServer {
                        service: w.name.to_string(),
                    });
                };
                child.call_boxed(req, ctx).await
            }
            ServiceRt::Mirroring(m) => m.call(req, ctx).await,
            ServiceRt::Internal(kind) => {
                ctx.service = Some(Arc::from(self.name()));
                Ok(match kind {
                    Internal::Whoami => internal::whoami(&req, ctx),
                    Internal::Noop => Response::new(crate::body::empty()),
                })
            }
        }
    }
}
