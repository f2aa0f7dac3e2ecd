//! Services the gateway answers itself.

use crate::body::{self, Body};
use crate::context::RequestCtx;
use http::{HeaderValue, Request, Response, header};

/// `whoami@internal`: describes the request as the gateway received it.
///
/// JSON when the client accepts `application/json` or asks for `?format=json`, text otherwise.
pub fn whoami<B>(req: &Request<B>, ctx: &RequestCtx) -> Response<Body> {
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
        || req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "format=json"));
    let mut headers = serde_json::Map::new();
    for name in req.headers().keys() {
        let values: Vec<serde_json::Value> = req
            .headers()
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
            .collect();
        headers.insert(name.as_str().to_owned(), values.into());
    }
    let hostname = ctx.entrypoint.server_name.to_str().unwrap_or("wasmgate");
    let (content_type, payload) = if wants_json {
        let v = serde_json::json!({
            "hostname": hostname,
            "method": req.method().as_str(),
            "path": req.uri().path(),
            "query": req.uri().query(),
            "protocol": format!("{:?}", req.version()),
            "host": ctx.host,
            "remoteAddr": ctx.client.to_string(),
            "entryPoint": ctx.entrypoint.name,
            "router": ctx.router.as_deref(),
            "headers": headers,
        });
        ("application/json", v.to_string())
    } else {
        let mut s = format!(
            "Hostname: {hostname}\nRemoteAddr: {}\nEntryPoint: {}\nRouter: {}\n{} {} {:?}\n",
            ctx.client,
            ctx.entrypoint.name,
            ctx.router.as_deref().unwrap_or("-"),
            req.method(),
            req.uri().path_and_query().map_or("/", |p| p.as_str()),
            req.version(),
        );
        for (name, value) in req.headers() {
            s.push_str(name.as_str());
            s.push_str(": ");
            s.push_str(&String::from_utf8_lossy(value.as_bytes()));
            s.push('\n');
        }
        ("text/plain; charset=utf-8", s)
    };
    let mut resp = Response::new(body::full(payload));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
