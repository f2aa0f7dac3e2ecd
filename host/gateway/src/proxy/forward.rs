//! Forwarding one request to one upstream server: URI and header rewriting, upgrades, streaming.

use super::headers::{ForwardedInfo, is_upgrade, set_forwarded, strip_hop_by_hop};
use super::transport::Transport;
use crate::body::{self, Body};
use crate::context::RequestCtx;
use crate::error::ProxyError;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// One upstream server of a load balancer.
#[derive(Debug)]
pub struct Upstream {
    /// The server URL as configured, for logs and errors.
    pub label: Arc<str>,
    h2c: bool,
    authority: Authority,
    base_path: Option<String>,
}

impl Upstream {
    /// Parses a server URL: `http://host:port[/path]` or `h2c://host:port`.
    /// With `preserve_path`, the URL's path is put in front of every request path.
    pub fn parse(url: &str, preserve_path: bool) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("server url `{url}` is not a valid URL: {e}"))?;
        let h2c = match uri.scheme_str() {
            Some("http") => false,
            Some("h2c") => true,
            Some("https") => {
                return Err(format!(
                    "server url `{url}`: https upstreams are not supported yet"
                ));
            }
            _ => {
                return Err(format!(
                    "server url `{url}` must start with http:// or h2c://"
                ));
            }
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("server url `{url}` has no host"))?;
        let base_path = match uri.path().trim_end_matches('/') {
            "" => None,
            p if preserve_path => Some(p.to_owned()),
            _ => None,
        };
        Ok(Upstream {
            label: Arc::from(url),
            h2c,
            authority,
            base_path,
        })
    }

    fn uri_for(&self, original: &Uri) -> Result<Uri, ProxyError> {
        let pq = original.path_and_query().map_or("/", PathAndQuery::as_str);
        let path_and_query = match &self.base_path {
            Some(base) => PathAndQuery::try_from(format!("{base}{pq}"))
                .map_err(|e| ProxyError::BadRequest(e.to_string()))?,
            None => original
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        };
        Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| ProxyError::BadRequest(e.to_string()))
    }
}

/// Sends `req` to `upstream` and returns its response, streaming both bodies.
///
/// Hop-by-hop headers are removed and X-Forwarded-* set; with `pass_host` the client's Host is
/// kept, otherwise the upstream's authority is used. A `101 Switching Protocols` answer is
/// bridged: both upgraded connections are copied into each other until either side closes.
pub async fn forward(
    transport: &Transport,
    upstream: &Upstream,
    pass_host: bool,
    mut req: Request<Body>,
    ctx: &RequestCtx,
) -> Result<Response<Body>, ProxyError> {
    let upgrade = req.version() == Version::HTTP_11 && is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    *req.uri_mut() = upstream.uri_for(req.uri())?;
    *req.version_mut() = if upstream.h2c {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let headers = req.headers_mut();
    strip_hop_by_hop(headers, upgrade);
    let proto = match (ctx.tls, upgrade) {
        (false, false) => "http",
        (true, false) => "https",
        (false, true) => "ws",
        (true, true) => "wss",
    };
    // Parsed once, for both X-Forwarded-Host and Host.
    let host = HeaderValue::from_str(&ctx.host).ok();
    set_forwarded(
        headers,
        &ForwardedInfo {
            client_ip: ctx.client_ip(),
            trusted: ctx.entrypoint.trusted.contains(ctx.client_ip()),
            proto,
            host: host.as_ref(),
            port: ctx.entrypoint.port,
            server: &ctx.entrypoint.server_name,
        },
    );
    if pass_host {
        if let Some(v) = host {
            headers.insert(header::HOST, v);
        }
    } else {
        headers.remove(header::HOST);
    }

    let mut resp = transport.send(req, upstream.h2c, &upstream.label).await?;
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    strip_hop_by_hop(resp.headers_mut(), switching);
    if let (true, Some(client_upgrade)) = (switching, client_upgrade) {
        let server_upgrade = hyper::upgrade::on(&mut resp);
        let label = upstream.label.clone();
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, server_upgrade) {
                Ok((client, server)) => {
                    let mut client = TokioIo::new(client);
                    let mut server = TokioIo::new(server);
                    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut server).await {
                        tracing::debug!(upstream = %label, error = %e, "upgraded connection ended");
                    }
                }
                Err(e) => tracing::warn!(upstream = %label, error = %e, "upgrade failed"),
            }
        });
        return Ok(resp.map(|_| body::empty()));
    }
    Ok(resp.map(body::boxed))
}
