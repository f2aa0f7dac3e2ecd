//! The cheap way to set headers from a guest, the most frequent host calls of
//! a middleware: names and values are read in place from the guest's memory
//! (the generated bindings would first copy each into a `String`), a batch
//! (`set-headers`) crosses into the host once, and the headers an instance
//! sets are parsed once and kept: a plugin stamping the same `x-served-by`
//! on every request allocates neither its name nor its value again.

use http::{HeaderMap, HeaderName, HeaderValue};
use wasmtime::component::{Linker, Resource, WasmList, WasmStr};
use wasmtime::{AsContext, StoreContextMut};

use crate::bindings::types::HttpError;
use crate::http::{HeaderList, RequestEntry, ResponseEntry};
use crate::state::HostState;

/// How many distinct names one instance keeps parsed.
const CACHED_NAMES: usize = 16;

/// How many times a name's cached value is replaced before the value is no
/// longer cached (it changes on every request, like a counter or an id).
const VALUE_CHANGES: u8 = 2;

/// A header an instance has set: its parsed name and, while it keeps
/// repeating, its last value.
struct Seen {
    name: HeaderName,
    value: Option<HeaderValue>,
    changes: u8,
}

/// The headers an instance has set, parsed (a per-store cache).
#[derive(Default)]
pub(crate) struct HeaderCache(Vec<Seen>);

/// What a write teaches the cache.
enum Learn {
    Nothing,
    /// A name not cached yet.
    Name,
    /// Another value for the cached name at this index.
    Value(usize),
}

/// A header ready to be written.
pub(crate) struct Pair {
    name: HeaderName,
    value: HeaderValue,
    learn: Learn,
}

/// The request or response a header write goes to.
pub(crate) enum Target {
    Request(Resource<RequestEntry>),
    Response(Resource<ResponseEntry>),
    /// The response to come of this request (`set-response-headers`).
    Queued(Resource<RequestEntry>),
}

fn parse_value(name: &str, value: &str) -> Result<HeaderValue, HttpError> {
    HeaderValue::from_str(value)
        .map_err(|_| HttpError::Invalid(format!("value of header `{name}`")))
}

impl HeaderCache {
    /// Parses a header, from the cache when the name (spelled the same way;
    /// names are lower case once parsed) and the value were seen before.
    /// A value is copied at most once, into the header itself.
    pub(crate) fn pair(&self, name: &str, value: &str) -> Result<Pair, HttpError> {
        let Some(i) = self.0.iter().position(|s| s.name.as_str() == name) else {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::Invalid(format!("header name `{name}`")))?;
            let value = parse_value(name.as_str(), value)?;
            return Ok(Pair {
                name,
                value,
                learn: Learn::Name,
            });
        };
        let seen = &self.0[i];
        if let Some(v) = &seen.value
            && v.as_bytes() == value.as_bytes()
        {
            return Ok(Pair {
                name: seen.name.clone(),
                value: v.clone(),
                learn: Learn::Nothing,
            });
        }
        Ok(Pair {
            name: seen.name.clone(),
            value: parse_value(name, value)?,
            learn: if seen.changes < VALUE_CHANGES {
                Learn::Value(i)
            } else {
                Learn::Nothing
            },
        })
    }

    fn learn(&mut self, pair: &Pair) {
        match pair.learn {
            Learn::Nothing => {}
            Learn::Name => {
                if self.0.len() < CACHED_NAMES && !self.0.iter().any(|s| s.name == pair.name) {
                    self.0.push(Seen {
                        name: pair.name.clone(),
                        value: Some(pair.value.clone()),
                        changes: 0,
                    });
                }
            }
            Learn::Value(i) => {
                let seen = &mut self.0[i];
                seen.changes += 1;
                seen.value = (seen.changes < VALUE_CHANGES).then(|| pair.value.clone());
            }
        }
    }
}

/// Where a header write lands: a header map, or the queue of a request's
/// response headers.
enum Dest<'a> {
    Map(&'a mut HeaderMap),
    Queue(&'a mut HeaderList),
}

impl Dest<'_> {
    fn reserve(&mut self, n: usize) {
        match self {
            Dest::Map(h) => h.reserve(n),
            Dest::Queue(q) => q.reserve(n),
        }
    }

    /// Sets (or appends) a header; the queue keeps every write, in order.
    fn write(&mut self, p: Pair, append: bool) {
        match self {
            Dest::Map(h) if append => {
                h.append(p.name, p.value);
            }
            Dest::Map(h) => {
                h.insert(p.name, p.value);
            }
            Dest::Queue(q) => q.push((p.name, p.value)),
        }
    }
}

impl HostState {
    /// Where a write to `target` lands (the request is read-only in
    /// `on-response` and in route matchers). An unknown handle traps.
    fn dest(&mut self, target: &Target) -> wasmtime::Result<Result<Dest<'_>, HttpError>> {
        Ok(match target {
            Target::Request(r) => self.req_mut(r)?.map(|q| Dest::Map(&mut q.headers)),
            Target::Response(r) => Ok(Dest::Map(&mut self.resp(r)?.headers)),
            Target::Queued(r) => self
                .req_mut(r)?
                .map(|q| Dest::Queue(&mut q.response_headers)),
        })
    }

    /// Sets or appends a parsed header on the request or response behind
    /// `target`. An unknown handle traps; a bad header is the guest's error
    /// to handle.
    pub(crate) fn write_header(
        &mut self,
        target: Target,
        pair: Result<Pair, HttpError>,
        append: bool,
    ) -> wasmtime::Result<Result<(), HttpError>> {
        if let Ok(p) = &pair {
            self.header_cache.learn(p);
        }
        let mut dest = match self.dest(&target)? {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        Ok(pair.map(|p| dest.write(p, append)))
    }

    /// Sets every parsed header of `pairs` (emptied), in order.
    pub(crate) fn write_headers(
        &mut self,
        target: Target,
        pairs: &mut Vec<Pair>,
    ) -> wasmtime::Result<Result<(), HttpError>> {
        for p in pairs.iter() {
            self.header_cache.learn(p);
        }
        let mut dest = match self.dest(&target)? {
            Ok(d) => d,
            Err(e) => {
                pairs.clear();
                return Ok(Err(e));
            }
        };
        dest.reserve(pairs.len());
        for p in pairs.drain(..) {
            dest.write(p, false);
        }
        Ok(Ok(()))
    }

    /// `set-headers` from copied strings (the generated bindings' path): all
    /// parsed, then all written.
    pub(crate) fn set_all(
        &mut self,
        target: Target,
        headers: &[(String, String)],
    ) -> wasmtime::Result<Result<(), HttpError>> {
        let pairs: Result<Vec<Pair>, HttpError> = headers
            .iter()
            .map(|(n, v)| self.header_cache.pair(n, v))
            .collect();
        match pairs {
            Ok(mut pairs) => self.write_headers(target, &mut pairs),
            Err(e) => Ok(Err(e)),
        }
    }
}

/// Scratch space for `set-headers`, kept in the store so a batch allocates
/// nothing once an instance has seen one.
#[derive(Default)]
pub(crate) struct Batch {
    strings: Vec<(WasmStr, WasmStr)>,
    pairs: Vec<Pair>,
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
        store.data().header_cache.pair(&name, &value)
    };
    Ok((store.data_mut().write_header(target, pair, append)?,))
}

/// `set-headers` with the list and its strings read in place: all parsed
/// first, then all written, so an invalid one changes nothing.
fn write_all(
    mut store: StoreContextMut<'_, HostState>,
    target: Target,
    list: &WasmList<(WasmStr, WasmStr)>,
) -> wasmtime::Result<(Result<(), HttpError>,)> {
    let mut batch = std::mem::take(&mut store.data_mut().batch);
    for item in list.iter(&mut store)? {
        batch.strings.push(item?);
    }
    let mut refused = None;
    {
        let store = store.as_context();
        let names = &store.data().header_cache;
        for (name, value) in batch.strings.drain(..) {
            match names.pair(&name.to_str(&store)?, &value.to_str(&store)?) {
                Ok(p) => batch.pairs.push(p),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
    }
    let result = match refused {
        Some(e) => Ok(Err(e)),
        None => store.data_mut().write_headers(target, &mut batch.pairs),
    };
    batch.strings.clear();
    batch.pairs.clear();
    store.data_mut().batch = batch;
    Ok((result?,))
}

type Args<T> = (Resource<T>, WasmStr, WasmStr);
type ListArgs<T> = (Resource<T>, WasmList<(WasmStr, WasmStr)>);

/// Replaces the generated `set-header`, `append-header` and `set-headers` of
/// `request` and `response`, and `request.set-response-headers`, in `linker`
/// (which already holds the `types` interface) with versions that read their
/// strings in place. The generated
/// ones (the `HostRequest` and `HostResponse` methods) stay correct: they
/// copy the strings first, then make the same writes.
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
        "[method]request.set-headers",
        |s, (r, l): ListArgs<RequestEntry>| write_all(s, Target::Request(r), &l),
    )?;
    types.func_wrap(
        "[method]request.set-response-headers",
        |s, (r, l): ListArgs<RequestEntry>| write_all(s, Target::Queued(r), &l),
    )?;
    types.func_wrap(
        "[method]response.set-header",
        |s, (r, n, v): Args<ResponseEntry>| write(s, Target::Response(r), &n, &v, false),
    )?;
    types.func_wrap(
        "[method]response.append-header",
        |s, (r, n, v): Args<ResponseEntry>| write(s, Target::Response(r), &n, &v, true),
    )?;
    types.func_wrap(
        "[method]response.set-headers",
        |s, (r, l): ListArgs<ResponseEntry>| write_all(s, Target::Response(r), &l),
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{HeaderCache, VALUE_CHANGES};

    fn set(names: &mut HeaderCache, name: &str, value: &str) -> bool {
        let p = names.pair(name, value).expect("valid");
        let cached = matches!(p.learn, super::Learn::Nothing);
        names.learn(&p);
        cached
    }

    #[test]
    fn a_repeated_header_is_parsed_once_and_a_changing_value_stops_being_kept() {
        let mut names = HeaderCache::default();
        assert!(!set(&mut names, "x-served-by", "a"));
        assert!(set(&mut names, "x-served-by", "a"), "same name and value");
        for i in 0..u32::from(VALUE_CHANGES) {
            assert!(!set(&mut names, "x-served-by", &i.to_string()));
        }
        assert!(names.0[0].value.is_none(), "a changing value is not kept");
        let p = names.pair("x-served-by", "z").expect("valid");
        assert_eq!(p.value, "z");
        assert_eq!(p.name, "x-served-by");
        assert!(names.pair("x-served-by", "bad\nvalue").is_err());
        assert!(names.pair("bad name", "v").is_err());
    }
}
