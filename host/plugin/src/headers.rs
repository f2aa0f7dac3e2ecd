//! The cheap way to set a header from a guest, the most frequent host call
//! of a middleware: the name and value are read in place from the guest's
//! memory (the generated bindings would first copy each into a `String`),
//! and the header names an instance sets are parsed once and kept, so a
//! plugin stamping `x-request-id` on every request does not allocate the
//! name each time.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, WasmStr};

use crate::bindings::types::HttpError;
use crate::http::{RequestEntry, ResponseEntry};
use crate::state::HostState;

/// How many distinct names one instance keeps parsed.
const CACHED_NAMES: usize = 16;

/// Header names an instance has set, parsed (a per-store cache).
#[derive(Default)]
pub(crate) struct HeaderNames(Vec<HeaderName>);

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

    /// Keeps the name of `pair` if it was parsed for this call.
    fn note(&mut self, pair: &Pair) {
        if pair.fresh {
            self.remember(&pair.name);
        }
    }

    /// Parses `name`, from the cache when possible.
    pub(crate) fn resolve(&mut self, name: &str) -> Result<HeaderName, HttpError> {
        if let Some(n) = self.cached(name) {
            return Ok(n);
        }
        let n = parse_name(name)?;
        self.remember(&n);
        Ok(n)
    }
}

fn parse_name(name: &str) -> Result<HeaderName, HttpError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| HttpError::Invalid(format!("header name `{name}`")))
}

fn invalid_value(name: &HeaderName) -> HttpError {
    HttpError::Invalid(format!("value of header `{name}`"))
}

/// Sets (or appends) a header whose value the caller owns (no copy).
pub(crate) fn set_owned(
    h: &mut HeaderMap,
    name: Result<HeaderName, HttpError>,
    value: String,
    append: bool,
) -> Result<(), HttpError> {
    let n = name?;
    let v = HeaderValue::from_maybe_shared(Bytes::from(value.into_bytes()))
        .map_err(|_| invalid_value(&n))?;
    insert(h, n, v, append);
    Ok(())
}

fn insert(h: &mut HeaderMap, n: HeaderName, v: HeaderValue, append: bool) {
    if append {
        h.append(n, v);
    } else {
        h.insert(n, v);
    }
}

/// A header read from guest memory; `fresh` when its name was not cached.
struct Pair {
    name: HeaderName,
    value: HeaderValue,
    fresh: bool,
}

/// Reads a name and a value from guest memory. The value is copied once,
/// into the header itself. `Ok(Err(_))` is the guest's error to handle;
/// `Err(_)` (a string out of bounds or not UTF-8) traps.
fn read_pair(
    store: &StoreContextMut<'_, HostState>,
    name: &WasmStr,
    value: &WasmStr,
) -> wasmtime::Result<Result<Pair, HttpError>> {
    let name = name.to_str(store)?;
    let value = value.to_str(store)?;
    let (n, fresh) = match store.data().header_names.cached(&name) {
        Some(n) => (n, false),
        None => match parse_name(&name) {
            Ok(n) => (n, true),
            Err(e) => return Ok(Err(e)),
        },
    };
    Ok(match HeaderValue::from_str(&value) {
        Ok(value) => Ok(Pair {
            name: n,
            value,
            fresh,
        }),
        Err(_) => Err(invalid_value(&n)),
    })
}

type Args = (Resource<RequestEntry>, WasmStr, WasmStr);
type RespArgs = (Resource<ResponseEntry>, WasmStr, WasmStr);
type Ret = wasmtime::Result<(Result<(), HttpError>,)>;

fn on_request(
    mut store: StoreContextMut<'_, HostState>,
    (r, name, value): Args,
    append: bool,
) -> Ret {
    let pair = read_pair(&store, &name, &value)?;
    let state = store.data_mut();
    let entry = state.table.get_mut(&r)?;
    let result = if entry.writable {
        pair.map(|p| {
            state.header_names.note(&p);
            insert(&mut entry.req.headers, p.name, p.value, append);
        })
    } else {
        Err(HttpError::ReadOnly)
    };
    Ok((result,))
}

fn on_response(
    mut store: StoreContextMut<'_, HostState>,
    (r, name, value): RespArgs,
    append: bool,
) -> Ret {
    let pair = read_pair(&store, &name, &value)?;
    let state = store.data_mut();
    let entry = state.table.get_mut(&r)?;
    let result = pair.map(|p| {
        state.header_names.note(&p);
        insert(&mut entry.resp.headers, p.name, p.value, append);
    });
    Ok((result,))
}

/// Replaces the generated `set-header` and `append-header` of `request` and
/// `response` in `linker` (which already holds the `types` interface) with
/// the versions above.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let interface = format!("wasmgate:plugin/types@{}", crate::wit_version());
    linker.allow_shadowing(true);
    let mut types = linker.instance(&interface)?;
    types.func_wrap("[method]request.set-header", |s, a: Args| {
        on_request(s, a, false)
    })?;
    types.func_wrap("[method]request.append-header", |s, a: Args| {
        on_request(s, a, true)
    })?;
    types.func_wrap("[method]response.set-header", |s, a: RespArgs| {
        on_response(s, a, false)
    })?;
    types.func_wrap("[method]response.append-header", |s, a: RespArgs| {
        on_response(s, a, true)
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
