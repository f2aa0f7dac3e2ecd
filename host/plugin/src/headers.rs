//! The cheap way to set a header from a guest, the most frequent host call
//! of a middleware: the name and value are read in place from the guest's
//! memory (the generated bindings would first copy each into a `String`),
//! and the header names an instance sets are parsed once and kept, so a
//! plugin stamping `x-request-id` on every request does not allocate the
//! name each time.

use http::{HeaderMap, HeaderName, HeaderValue};
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, WasmStr};

use crate::bindings::types::HttpError;
use crate::http::{RequestEntry, ResponseEntry, lent};
use crate::state::HostState;

/// How many distinct names one instance keeps parsed.
const CACHED_NAMES: usize = 16;

/// Header names an instance has set, parsed (a per-store cache).
#[derive(Default)]
pub(crate) struct HeaderNames(Vec<HeaderName>);

/// A header ready to be written; `fresh` when its name was not cached.
pub(crate) struct Pair {
    name: HeaderName,
    value: HeaderValue,
    fresh: bool,
}

/// The request or response a header write goes to.
pub(crate) enum Target {
    Request(Resource<RequestEntry>),
    Response(Resource<ResponseEntry>),
}

impl HeaderNames {
    /// The parsed name, if `name` was seen before spelled the same way
    /// (names are lower case once parsed; other spellings are parsed).
    fn cached(&self, name: &str) -> Option<HeaderName> {
        self.0.iter().find(|n| n.as_str() == name).cloned()
    }

    fn remember(&mut self, name: &HeaderName) {
        if self.0.len() < CACHED_NAMES && !self.0.contains(name) {
            self.0.push(name.clone());
        }
    }

    /// Parses a header, the name from the cache when possible. The value is
    /// copied once, into the header itself.
    pub(crate) fn pair(&self, name: &str, value: &str) -> Result<Pair, HttpError> {
        let (name, fresh) = match self.cached(name) {
            Some(n) => (n, false),
            None => (
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| HttpError::Invalid(format!("header name `{name}`")))?,
                true,
            ),
        };
        let value = HeaderValue::from_str(value)
            .map_err(|_| HttpError::Invalid(format!("value of header `{name}`")))?;
        Ok(Pair { name, value, fresh })
    }
}

impl HostState {
    /// Sets or appends a parsed header on the request or response behind
    /// `target` (the request is read-only in `on-response`). An unknown
    /// handle traps; a bad header is the guest's error to handle.
    pub(crate) fn write_header(
        &mut self,
        target: Target,
        pair: Result<Pair, HttpError>,
        append: bool,
    ) -> wasmtime::Result<Result<(), HttpError>> {
        let headers: &mut HeaderMap = match &target {
            Target::Request(r) => {
                let entry = lent(&mut self.request, r.rep(), "request")?;
                if !entry.writable {
                    return Ok(Err(HttpError::ReadOnly));
                }
                &mut entry.req.headers
            }
            Target::Response(r) => &mut lent(&mut self.response, r.rep(), "response")?.resp.headers,
        };
        Ok(pair.map(|p| {
            if p.fresh {
                self.header_names.remember(&p.name);
            }
            if append {
                headers.append(p.name, p.value);
            } else {
                headers.insert(p.name, p.value);
            }
        }))
    }
}

/// A header write with name and value read in place from guest memory.
/// A string out of bounds or not UTF-8 traps.
fn write(
    mut store: StoreContextMut<'_, HostState>,
    target: Target,
    name: &WasmStr,
    value: &WasmStr,
    append: bool,
) -> wasmtime::Result<(Result<(), HttpError>,)> {
    let pair = {
        let name = name.to_str(&store)?;
        let value = value.to_str(&store)?;
        store.data().header_names.pair(&name, &value)
    };
    Ok((store.data_mut().write_header(target, pair, append)?,))
}

type Args<T> = (Resource<T>, WasmStr, WasmStr);

/// Replaces the generated `set-header` and `append-header` of `request` and
/// `response` in `linker` (which already holds the `types` interface) with
/// versions that read their strings in place. The generated ones (the
/// `HostRequest` and `HostResponse` methods) stay correct: they copy the
/// strings first, then make the same write.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let interface = format!("wasmgate:plugin/types@{}", crate::wit_version());
    linker.allow_shadowing(true);
    let mut types = linker.instance(&interface)?;
    types.func_wrap(
        "[method]request.set-header",
        |s, (r, n, v): Args<RequestEntry>| write(s, Target::Request(r), &n, &v, false),
    )?;
    types.func_wrap(
        "[method]request.append-header",
        |s, (r, n, v): Args<RequestEntry>| write(s, Target::Request(r), &n, &v, true),
    )?;
    types.func_wrap(
        "[method]response.set-header",
        |s, (r, n, v): Args<ResponseEntry>| write(s, Target::Response(r), &n, &v, false),
    )?;
    types.func_wrap(
        "[method]response.append-header",
        |s, (r, n, v): Args<ResponseEntry>| write(s, Target::Response(r), &n, &v, true),
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
