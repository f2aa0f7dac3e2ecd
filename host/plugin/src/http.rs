//! The host side of the `request` and `response` resources: the gateway's
//! HTTP data, moved (not copied) into the instance's store for the duration
//! of one call, and the methods the guest calls on it.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use wasmtime::component::Resource;

use crate::bindings::types::{self, HttpError};
use crate::headers::Target;
use crate::state::HostState;

/// An HTTP request as plugins see it. The gateway builds it by moving the
/// parts of its request in (`http::request::Parts` fields), passes it by
/// `&mut` to each plugin call, and moves the parts back out: headers are
/// never copied unless a plugin reads them.
#[derive(Debug, Default)]
pub struct PluginRequest {
    /// The method.
    pub method: Method,
    /// The request target (usually origin-form: path and query).
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The TCP peer of the client.
    pub client_addr: Option<SocketAddr>,
    /// Whether the entrypoint terminated TLS (decides `scheme()` when the
    /// URI has no scheme).
    pub tls: bool,
    /// The body, when the gateway buffered it for a plugin that reads bodies
    /// (up to [`crate::Plugin::max_body_bytes`]); `None` means unavailable.
    pub body: Option<Bytes>,
    /// Set when a plugin replaced the body with `set-body`.
    pub body_replaced: bool,
    /// Headers queued for the response with `set-response-headers`, in order.
    pub response_headers: HeaderList,
}

/// Headers as parsed (name, value) pairs, in order; a name may repeat.
pub type HeaderList = Vec<(HeaderName, HeaderValue)>;

/// Sets each header of `list` on `headers`, in order (a name given twice keeps
/// its last value), as `set-headers` does.
pub fn set_header_list(
    headers: &mut HeaderMap,
    list: impl ExactSizeIterator<Item = (HeaderName, HeaderValue)>,
) {
    headers.reserve(list.len());
    for (name, value) in list {
        headers.insert(name, value);
    }
}

impl PluginRequest {
    /// A request from its main parts, without body.
    pub fn new(method: Method, uri: Uri, headers: HeaderMap) -> Self {
        PluginRequest {
            method,
            uri,
            headers,
            ..Default::default()
        }
    }

    /// Moves the method, URI and headers out of `parts` (leaving defaults
    /// there); [`PluginRequest::restore_parts`] moves them back.
    pub fn take_parts(parts: &mut http::request::Parts) -> Self {
        PluginRequest::new(
            std::mem::take(&mut parts.method),
            std::mem::take(&mut parts.uri),
            std::mem::take(&mut parts.headers),
        )
    }

    /// Moves the (possibly changed) method, URI and headers back into `parts`.
    pub fn restore_parts(&mut self, parts: &mut http::request::Parts) {
        parts.method = std::mem::take(&mut self.method);
        parts.uri = std::mem::take(&mut self.uri);
        parts.headers = std::mem::take(&mut self.headers);
    }

    /// Sets the headers queued with `set-response-headers` (emptied) on `headers`, in
    /// order.
    pub fn set_queued_on(&mut self, headers: &mut HeaderMap) {
        set_header_list(headers, self.response_headers.drain(..));
    }

    fn scheme(&self) -> String {
        match self.uri.scheme_str() {
            Some(s) => s.to_owned(),
            None if self.tls => "https".to_owned(),
            None => "http".to_owned(),
        }
    }

    fn authority(&self) -> Option<String> {
        if let Some(a) = self.uri.authority() {
            return Some(a.as_str().to_owned());
        }
        self.headers
            .get(HOST)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    fn set_path_and_query(&mut self, path: &str, query: Option<&str>) -> Result<(), HttpError> {
        if !path.starts_with('/') {
            return Err(HttpError::Invalid(format!(
                "path `{path}` does not start with `/`"
            )));
        }
        let pq = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let pq: PathAndQuery = pq
            .parse()
            .map_err(|e| HttpError::Invalid(format!("path or query: {e}")))?;
        let mut parts = std::mem::take(&mut self.uri).into_parts();
        parts.path_and_query = Some(pq);
        self.uri = Uri::from_parts(parts).map_err(|e| HttpError::Invalid(e.to_string()))?;
        Ok(())
    }
}

/// An HTTP response as plugins see it (`on-response`).
#[derive(Debug, Default)]
pub struct PluginResponse {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, when buffered for a plugin that reads bodies.
    pub body: Option<Bytes>,
    /// Set when a plugin replaced the body with `set-body`.
    pub body_replaced: bool,
}

/// What the gateway does after a middleware's `on-request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Go on to the next middleware and the service.
    Continue,
    /// Answer the client with this response.
    Respond {
        /// Status code.
        status: StatusCode,
        /// Headers.
        headers: HeaderMap,
        /// Body.
        body: Bytes,
    },
}

impl Action {
    pub(crate) fn from_guest(a: types::Action) -> Result<Action, String> {
        match a {
            types::Action::Continue => Ok(Action::Continue),
            types::Action::Respond(r) => {
                let status = StatusCode::from_u16(r.status)
                    .map_err(|_| format!("invalid status {}", r.status))?;
                let mut headers = HeaderMap::with_capacity(r.headers.len());
                for (n, v) in r.headers {
                    let (n, v) = header_pair(&n, &v).map_err(|e| format!("{e:?}"))?;
                    headers.append(n, v);
                }
                Ok(Action::Respond {
                    status,
                    headers,
                    body: Bytes::from(r.body),
                })
            }
        }
    }
}

/// What is behind a guest's `request` handle during a call. It lives in the
/// store for good: a call swaps the request in and out, so no request is
/// built, emptied or dropped for the lending.
#[derive(Debug, Default)]
pub struct RequestEntry {
    pub(crate) req: PluginRequest,
    pub(crate) writable: bool,
    /// Whether a call has the request now.
    pub(crate) lent: bool,
}

/// What is behind a guest's `response` handle during `on-response`.
#[derive(Debug, Default)]
pub struct ResponseEntry {
    pub(crate) resp: PluginResponse,
    /// Whether a call has the response now.
    pub(crate) lent: bool,
}

fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), HttpError> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| HttpError::Invalid(format!("header name `{name}`")))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| HttpError::Invalid(format!("value of header `{name}`")))?;
    Ok((n, v))
}

fn header_get(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn header_get_all(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

fn header_names(h: &HeaderMap) -> Vec<String> {
    h.keys().map(|k| k.as_str().to_owned()).collect()
}

fn header_remove(h: &mut HeaderMap, name: &str) -> Result<(), HttpError> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| HttpError::Invalid(format!("header name `{name}`")))?;
    h.remove(n);
    Ok(())
}

fn body_get(body: &Option<Bytes>, cap: usize) -> Result<Vec<u8>, HttpError> {
    match body {
        None => Err(HttpError::Unavailable),
        Some(b) if b.len() > cap => Err(HttpError::TooLarge(cap as u64)),
        Some(b) => Ok(b.to_vec()),
    }
}

fn body_set(
    headers: &mut HeaderMap,
    body: &mut Option<Bytes>,
    replaced: &mut bool,
    new: Vec<u8>,
    cap: usize,
) -> Result<(), HttpError> {
    if new.len() > cap {
        return Err(HttpError::TooLarge(cap as u64));
    }
    headers.remove(TRANSFER_ENCODING);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(new.len()));
    *body = Some(Bytes::from(new));
    *replaced = true;
    Ok(())
}

type R<T> = wasmtime::Result<T>;

/// The rep of the one `request` (and the one `response`) handle a call
/// lends: each lives in a slot of the store, not in the resource table.
pub(crate) const CALL_REP: u32 = 0;

/// Whether handle `r` is the entry lent to the call in progress; any other
/// handle traps, as an unknown table entry would.
fn lent(lent: bool, r: u32, what: &str) -> R<()> {
    if lent && r == CALL_REP {
        Ok(())
    } else {
        Err(wasmtime::Error::msg(format!(
            "no {what} is lent to this call"
        )))
    }
}

impl HostState {
    fn req(&mut self, r: &Resource<RequestEntry>) -> R<&PluginRequest> {
        lent(self.request.lent, r.rep(), "request")?;
        Ok(&self.request.req)
    }

    pub(crate) fn req_mut(
        &mut self,
        r: &Resource<RequestEntry>,
    ) -> R<Result<&mut PluginRequest, HttpError>> {
        lent(self.request.lent, r.rep(), "request")?;
        let e = &mut self.request;
        Ok(if e.writable {
            Ok(&mut e.req)
        } else {
            Err(HttpError::ReadOnly)
        })
    }

    pub(crate) fn resp(&mut self, r: &Resource<ResponseEntry>) -> R<&mut PluginResponse> {
        lent(self.response.lent, r.rep(), "response")?;
        Ok(&mut self.response.resp)
    }
}

impl types::Host for HostState {}

impl types::HostRequest for HostState {
    fn method(&mut self, r: Resource<RequestEntry>) -> R<String> {
        Ok(self.req(&r)?.method.as_str().to_owned())
    }
    fn scheme(&mut self, r: Resource<RequestEntry>) -> R<String> {
        Ok(self.req(&r)?.scheme())
    }
    fn authority(&mut self, r: Resource<RequestEntry>) -> R<Option<String>> {
        Ok(self.req(&r)?.authority())
    }
    fn path(&mut self, r: Resource<RequestEntry>) -> R<String> {
        Ok(self.req(&r)?.uri.path().to_owned())
    }
    fn query(&mut self, r: Resource<RequestEntry>) -> R<Option<String>> {
        Ok(self.req(&r)?.uri.query().map(str::to_owned))
    }
    fn set_path(&mut self, r: Resource<RequestEntry>, path: String) -> R<Result<(), HttpError>> {
        Ok(self.req_mut(&r)?.and_then(|q| {
            let query = q.uri.query().map(str::to_owned);
            q.set_path_and_query(&path, query.as_deref())
        }))
    }
    fn set_query(
        &mut self,
        r: Resource<RequestEntry>,
        query: Option<String>,
    ) -> R<Result<(), HttpError>> {
        Ok(self.req_mut(&r)?.and_then(|q| {
            let path = q.uri.path().to_owned();
            q.set_path_and_query(&path, query.as_deref())
        }))
    }
    fn header(&mut self, r: Resource<RequestEntry>, name: String) -> R<Option<String>> {
        Ok(header_get(&self.req(&r)?.headers, &name))
    }
    fn header_all(&mut self, r: Resource<RequestEntry>, name: String) -> R<Vec<String>> {
        Ok(header_get_all(&self.req(&r)?.headers, &name))
    }
    fn header_names(&mut self, r: Resource<RequestEntry>) -> R<Vec<String>> {
        Ok(header_names(&self.req(&r)?.headers))
    }
    fn set_header(
        &mut self,
        r: Resource<RequestEntry>,
        name: String,
        value: String,
    ) -> R<Result<(), HttpError>> {
        let pair = self.header_cache.pair(&name, &value);
        self.write_header(Target::Request(r), pair, false)
    }
    fn append_header(
        &mut self,
        r: Resource<RequestEntry>,
        name: String,
        value: String,
    ) -> R<Result<(), HttpError>> {
        let pair = self.header_cache.pair(&name, &value);
        self.write_header(Target::Request(r), pair, true)
    }
    fn set_headers(
        &mut self,
        r: Resource<RequestEntry>,
        headers: Vec<(String, String)>,
    ) -> R<Result<(), HttpError>> {
        self.set_all(Target::Request(r), &headers)
    }
    fn set_response_headers(
        &mut self,
        r: Resource<RequestEntry>,
        headers: Vec<(String, String)>,
    ) -> R<Result<(), HttpError>> {
        self.set_all(Target::Queued(r), &headers)
    }
    fn remove_header(
        &mut self,
        r: Resource<RequestEntry>,
        name: String,
    ) -> R<Result<(), HttpError>> {
        Ok(self
            .req_mut(&r)?
            .and_then(|q| header_remove(&mut q.headers, &name)))
    }
    fn client_address(&mut self, r: Resource<RequestEntry>) -> R<Option<String>> {
        Ok(self.req(&r)?.client_addr.map(|a| a.to_string()))
    }
    fn body(&mut self, r: Resource<RequestEntry>) -> R<Result<Vec<u8>, HttpError>> {
        let cap = self.shared.limits.max_body_bytes;
        Ok(body_get(&self.req(&r)?.body, cap))
    }
    fn set_body(&mut self, r: Resource<RequestEntry>, body: Vec<u8>) -> R<Result<(), HttpError>> {
        let cap = self.shared.limits.max_body_bytes;
        Ok(self
            .req_mut(&r)?
            .and_then(|q| body_set(&mut q.headers, &mut q.body, &mut q.body_replaced, body, cap)))
    }
    fn drop(&mut self, _r: Resource<RequestEntry>) -> R<()> {
        // Guests only ever get borrowed handles; the host removes the entry
        // when the call returns.
        Ok(())
    }
}

impl types::HostResponse for HostState {
    fn status(&mut self, r: Resource<ResponseEntry>) -> R<u16> {
        Ok(self.resp(&r)?.status.as_u16())
    }
    fn set_status(&mut self, r: Resource<ResponseEntry>, status: u16) -> R<Result<(), HttpError>> {
        let resp = self.resp(&r)?;
        Ok(match StatusCode::from_u16(status) {
            Ok(s) => {
                resp.status = s;
                Ok(())
            }
            Err(_) => Err(HttpError::Invalid(format!("status {status}"))),
        })
    }
    fn header(&mut self, r: Resource<ResponseEntry>, name: String) -> R<Option<String>> {
        Ok(header_get(&self.resp(&r)?.headers, &name))
    }
    fn header_all(&mut self, r: Resource<ResponseEntry>, name: String) -> R<Vec<String>> {
        Ok(header_get_all(&self.resp(&r)?.headers, &name))
    }
    fn header_names(&mut self, r: Resource<ResponseEntry>) -> R<Vec<String>> {
        Ok(header_names(&self.resp(&r)?.headers))
    }
    fn set_header(
        &mut self,
        r: Resource<ResponseEntry>,
        name: String,
        value: String,
    ) -> R<Result<(), HttpError>> {
        let pair = self.header_cache.pair(&name, &value);
        self.write_header(Target::Response(r), pair, false)
    }
    fn append_header(
        &mut self,
        r: Resource<ResponseEntry>,
        name: String,
        value: String,
    ) -> R<Result<(), HttpError>> {
        let pair = self.header_cache.pair(&name, &value);
        self.write_header(Target::Response(r), pair, true)
    }
    fn set_headers(
        &mut self,
        r: Resource<ResponseEntry>,
        headers: Vec<(String, String)>,
    ) -> R<Result<(), HttpError>> {
        self.set_all(Target::Response(r), &headers)
    }
    fn remove_header(
        &mut self,
        r: Resource<ResponseEntry>,
        name: String,
    ) -> R<Result<(), HttpError>> {
        Ok(header_remove(&mut self.resp(&r)?.headers, &name))
    }
    fn body(&mut self, r: Resource<ResponseEntry>) -> R<Result<Vec<u8>, HttpError>> {
        let cap = self.shared.limits.max_body_bytes;
        Ok(body_get(&self.resp(&r)?.body, cap))
    }
    fn set_body(&mut self, r: Resource<ResponseEntry>, body: Vec<u8>) -> R<Result<(), HttpError>> {
        let cap = self.shared.limits.max_body_bytes;
        let p = self.resp(&r)?;
        Ok(body_set(
            &mut p.headers,
            &mut p.body,
            &mut p.body_replaced,
            body,
            cap,
        ))
    }
    fn drop(&mut self, _r: Resource<ResponseEntry>) -> R<()> {
        Ok(())
    }
}
