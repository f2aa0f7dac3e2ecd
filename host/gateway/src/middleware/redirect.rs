//! redirectScheme and redirectRegex.

use super::{Flow, status};
use crate::body::Body;
use crate::context::RequestCtx;
use http::{HeaderValue, Method, Request, StatusCode, header};
use regex::Regex;

/// A redirect middleware.
#[derive(Debug)]
pub enum Redirect {
    /// Redirects to the same URL with another scheme (and optionally port).
    Scheme {
        /// Target scheme, e.g. `https`.
        scheme: String,
        /// Target port; `None` keeps the default port of the scheme.
        port: Option<String>,
        /// 301/308 instead of 302/307.
        permanent: bool,
    },
    /// Redirects when the full request URL matches, to the expanded replacement.
    Regex {
        /// Matched against `scheme://host/path?query`.
        regex: Regex,
        /// `$1`-style replacement.
        replacement: String,
        /// 301/308 instead of 302/307.
        permanent: bool,
    },
}

impl Redirect {
    /// Answers with a redirect, or continues when nothing applies.
    pub fn on_request(&self, req: &Request<Body>, ctx: &RequestCtx) -> Flow {
        let current_scheme = if ctx.tls { "https" } else { "http" };
        let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let (target, permanent) = match self {
            Redirect::Scheme {
                scheme,
                port,
                permanent,
            } => {
                if scheme == current_scheme {
                    return Flow::Continue;
                }
                let host = host_without_port(&ctx.host);
                let port = match port.as_deref() {
                    Some(p) if !is_default_port(scheme, p) => format!(":{p}"),
                    _ => String::new(),
                };
                (format!("{scheme}://{host}{port}{pq}"), *permanent)
            }
            Redirect::Regex {
                regex,
                replacement,
                permanent,
            } => {
                let url = format!("{current_scheme}://{}{pq}", ctx.host);
                if !regex.is_match(&url) {
                    return Flow::Continue;
                }
                (
                    regex.replace(&url, replacement.as_str()).into_owned(),
                    *permanent,
                )
            }
        };
        let keeps_method = !matches!(*req.method(), Method::GET | Method::HEAD);
        let code = match (permanent, keeps_method) {
            (true, false) => StatusCode::MOVED_PERMANENTLY,
            (true, true) => StatusCode::PERMANENT_REDIRECT,
            (false, false) => StatusCode::FOUND,
            (false, true) => StatusCode::TEMPORARY_REDIRECT,
        };
        let mut resp = status(code);
        match HeaderValue::try_from(target) {
            Ok(location) => {
                resp.headers_mut().insert(header::LOCATION, location);
                Flow::Respond(resp)
            }
            Err(_) => Flow::Respond(status(StatusCode::BAD_REQUEST)),
        }
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn is_default_port(scheme: &str, port: &str) -> bool {
    matches!((scheme, port), ("https", "443") | ("http", "80"))
}
