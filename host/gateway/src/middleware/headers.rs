//! The `headers` middleware: custom request/response headers, CORS and security headers.

use super::{Flow, status};
use crate::body::Body;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use regex::Regex;

/// A built `headers` middleware.
#[derive(Debug, Default)]
pub struct HeadersRt {
    /// Set on the request; an empty value removes the header.
    pub request: Vec<(HeaderName, Option<HeaderValue>)>,
    /// Set on the response; an empty value removes the header.
    pub response: Vec<(HeaderName, Option<HeaderValue>)>,
    /// Security headers added to every response.
    pub security: Vec<(HeaderName, HeaderValue)>,
    /// CORS settings, when any accessControl* key is set.
    pub cors: Option<Cors>,
}

/// CORS (`accessControl*`) settings.
#[derive(Debug, Default)]
pub struct Cors {
    /// Allowed origins; `*` allows any.
    pub origins: Vec<String>,
    /// Allowed origins, as regexes.
    pub origin_regexes: Vec<Regex>,
    /// Access-Control-Allow-Methods.
    pub methods: Option<HeaderValue>,
    /// Access-Control-Allow-Headers.
    pub headers: Option<HeaderValue>,
    /// Access-Control-Expose-Headers.
    pub expose: Option<HeaderValue>,
    /// Access-Control-Max-Age.
    pub max_age: Option<HeaderValue>,
    /// Access-Control-Allow-Credentials.
    pub credentials: bool,
    /// Add `Vary: Origin`.
    pub vary: bool,
}

impl Cors {
    fn allowed_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let o = origin.to_str().ok()?;
        if self.origins.iter().any(|a| a == "*") {
            return Some(if self.credentials {
                origin.clone()
            } else {
                HeaderValue::from_static("*")
            });
        }
        (self.origins.iter().any(|a| a == o) || self.origin_regexes.iter().any(|r| r.is_match(o)))
            .then(|| origin.clone())
    }

    fn decorate(&self, origin: Option<&HeaderValue>, h: &mut HeaderMap) {
        if let Some(allowed) = origin.and_then(|o| self.allowed_origin(o)) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
            if self.credentials {
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            if let Some(v) = &self.expose {
                h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
            }
        }
        if self.vary {
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

fn apply(h: &mut HeaderMap, list: &[(HeaderName, Option<HeaderValue>)]) {
    for (name, value) in list {
        match value {
            Some(v) => {
                h.insert(name.clone(), v.clone());
            }
            None => {
                h.remove(name);
            }
        }
    }
}

impl HeadersRt {
    /// Sets request headers; answers CORS preflight requests itself.
    pub fn on_request(&self, req: &mut Request<Body>) -> Flow {
        if let Some(cors) = &self.cors {
            let preflight = req.method() == Method::OPTIONS
                && req
                    .headers()
                    .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
                && req.headers().contains_key(header::ORIGIN);
            if preflight {
                let mut resp = status(StatusCode::OK);
                *resp.body_mut() = crate::body::empty();
                let h = resp.headers_mut();
                h.remove(header::CONTENT_TYPE);
                cors.decorate(req.headers().get(header::ORIGIN), h);
                if let Some(v) = &cors.methods {
                    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v.clone());
                }
                if let Some(v) = &cors.headers {
                    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
                }
                if let Some(v) = &cors.max_age {
                    h.insert(header::ACCESS_CONTROL_MAX_AGE, v.clone());
                }
                return Flow::Respond(resp);
            }
        }
        apply(req.headers_mut(), &self.request);
        Flow::Continue
    }

    /// Sets response headers.
    pub fn on_response(&self, origin: Option<&HeaderValue>, resp: &mut Response<Body>) {
        let h = resp.headers_mut();
        for (name, value) in &self.security {
            h.insert(name.clone(), value.clone());
        }
        if let Some(cors) = &self.cors {
            cors.decorate(origin, h);
        }
        apply(h, &self.response);
    }
}
