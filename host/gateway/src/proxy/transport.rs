//! Upstream connection pools, one per `serversTransport`.

use crate::body::Body;
use crate::error::ProxyError;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

/// What a transport is built from; equal settings mean the pools can be kept across a reload.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportSettings {
    /// Maximum time to open a TCP connection to a server.
    pub dial_timeout: Duration,
    /// Maximum time from sending the request to the response headers; `None` waits forever.
    pub response_header_timeout: Option<Duration>,
    /// How long an idle pooled connection is kept.
    pub idle_conn_timeout: Duration,
    /// Idle connections kept per server.
    pub max_idle_per_host: usize,
}

impl Default for TransportSettings {
    fn default() -> Self {
        TransportSettings {
            dial_timeout: Duration::from_secs(30),
            response_header_timeout: None,
            idle_conn_timeout: Duration::from_secs(90),
            max_idle_per_host: 200,
        }
    }
}

/// Pooled keep-alive clients to upstream servers: HTTP/1.1 and h2c (prior knowledge).
pub struct Transport {
    settings: TransportSettings,
    http1: Client<HttpConnector, Body>,
    h2c: Client<HttpConnector, Body>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("settings", &self.settings)
            .finish()
    }
}

impl Transport {
    /// Builds the pools. No connection is opened until the first request.
    pub fn new(settings: TransportSettings) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(settings.dial_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(settings.idle_conn_timeout)
            .pool_max_idle_per_host(settings.max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .set_host(true);
        let http1 = builder.build(connector.clone());
        builder.http2_only(true);
        let h2c = builder.build(connector);
        Transport {
            settings,
            http1,
            h2c,
        }
    }

    /// The settings this transport was built from.
    pub fn settings(&self) -> &TransportSettings {
        &self.settings
    }

    /// Sends a request (absolute URI already set) and waits for the response headers.
    pub async fn send(
        &self,
        req: Request<Body>,
        h2c: bool,
        upstream: &str,
    ) -> Result<Response<Incoming>, ProxyError> {
        let client = if h2c { &self.h2c } else { &self.http1 };
        let fut = client.request(req);
        let result = match self.settings.response_header_timeout {
            Some(limit) => match tokio::time::timeout(limit, fut).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(ProxyError::Timeout {
                        upstream: upstream.to_owned(),
                        after: limit,
                        phase: "response headers",
                    });
                }
            },
            None => fut.await,
        };
        result.map_err(|e| classify(&e, upstream, self.settings.dial_timeout))
    }
}

fn classify(err: &hyper_util::client::legacy::Error, upstream: &str, dial: Duration) -> ProxyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return ProxyError::Timeout {
                upstream: upstream.to_owned(),
                after: dial,
                phase: "dial",
            };
        }
        source = e.source();
    }
    ProxyError::Upstream {
        upstream: upstream.to_owned(),
        reason: error_chain(err),
    }
}

/// Renders an error with its sources, `a: b: c`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = e.source();
    }
    out
}
