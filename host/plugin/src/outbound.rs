//! The host side of `outbound-http`: one plain HTTP/1.1 exchange per call,
//! to allowlisted hosts only, within a timeout and a body cap.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;

use crate::bindings::outbound_http::{self, Error, RequestRecord, ResponseRecord};
use crate::state::HostState;

/// What a plugin granted `outbound-http` may do.
#[derive(Debug, Clone)]
pub(crate) struct OutboundCtx {
    pub allow: Vec<String>,
    pub max_timeout: Duration,
    pub max_body: usize,
}

/// Whether `host` (no port) / `port` is allowed by an allowlist of `host`,
/// `host:port` or `*.domain` entries.
pub(crate) fn allowed(allow: &[String], host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    allow.iter().any(|entry| {
        let entry = entry.to_ascii_lowercase();
        let (pattern, want_port) = match entry.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_owned(), p.parse::<u16>().ok()),
            _ => (entry.clone(), None),
        };
        if want_port.is_some_and(|p| p != port) {
            return false;
        }
        match pattern.strip_prefix("*.") {
            Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
            None => pattern == host,
        }
    })
}

async fn send(ctx: OutboundCtx, req: RequestRecord) -> Result<ResponseRecord, Error> {
    let uri: http::Uri = req
        .url
        .parse()
        .map_err(|e| Error::InvalidRequest(format!("url: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(Error::InvalidRequest(
            "only http:// URLs are supported".into(),
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| Error::InvalidRequest("url has no host".into()))?
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    if !allowed(&ctx.allow, &host, port) {
        return Err(Error::Denied(host));
    }
    let method = http::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| Error::InvalidRequest(format!("method `{}`", req.method)))?;
    let mut builder = http::Request::builder().method(method).uri(
        uri.path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned(),
    );
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    builder = builder.header(http::header::HOST, authority);
    for (n, v) in &req.headers {
        builder = builder.header(n.as_str(), v.as_str());
    }
    let request = builder
        .body(Full::new(Bytes::from(req.body.unwrap_or_default())))
        .map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let timeout = req
        .timeout_ms
        .map(|ms| Duration::from_millis(ms.into()))
        .unwrap_or(ctx.max_timeout)
        .min(ctx.max_timeout);
    let max_body = ctx.max_body;
    let exchange = async move {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| Error::Connection(e.to_string()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Connection(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| Error::Connection(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Error::TooLarge
                } else {
                    Error::Connection(e.to_string())
                }
            })?
            .to_bytes();
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Ok(ResponseRecord {
            status: parts.status.as_u16(),
            headers,
            body: body.to_vec(),
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(Error::Timeout))
}

impl outbound_http::Host for HostState {
    async fn send(
        &mut self,
        request: RequestRecord,
    ) -> wasmtime::Result<Result<ResponseRecord, Error>> {
        let ctx =
            self.shared.outbound.clone().ok_or_else(|| {
                wasmtime::format_err!("outbound-http is not granted to this plugin")
            })?;
        let name = self.shared.name.clone();
        let result = send(ctx, request).await;
        if let Err(e) = &result {
            tracing::debug!(plugin = &*name, error = ?e, "outbound-http request failed");
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn allowlist() {
        let allow = vec![
            "api.example.com".to_owned(),
            "*.internal".to_owned(),
            "127.0.0.1:8080".to_owned(),
        ];
        assert!(allowed(&allow, "api.example.com", 80));
        assert!(allowed(&allow, "API.example.com", 443));
        assert!(!allowed(&allow, "example.com", 80));
        assert!(allowed(&allow, "a.b.internal", 80));
        assert!(!allowed(&allow, "internal", 80));
        assert!(allowed(&allow, "127.0.0.1", 8080));
        assert!(!allowed(&allow, "127.0.0.1", 8081));
    }
}
