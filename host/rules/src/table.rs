//! Route tables: priority order plus a host index.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::host::strip_dot;
use crate::rule::HostKey;
use crate::{HttpRule, RequestInfo, default_priority};

/// One HTTP router.
#[derive(Debug, Clone)]
pub struct Route<T> {
    /// Router name; breaks ties between equal priority and rank.
    pub name: String,
    /// The compiled rule.
    pub rule: Arc<HttpRule>,
    /// Configured priority; `0` means unset, and the table then uses
    /// [`default_priority`] of the rule (its length). Higher wins.
    pub priority: i64,
    /// Tie-break among equal priorities; lower wins. Use it for provider
    /// precedence (the provider's index in the precedence list, and
    /// `u32::MAX` for unlisted providers). Defaults to `0`.
    pub rank: u32,
    /// What the caller attaches to the router (service, middlewares...).
    pub value: T,
}

impl<T> Route<T> {
    /// A route with rank `0`.
    pub fn new(name: impl Into<String>, rule: Arc<HttpRule>, priority: i64, value: T) -> Self {
        Route {
            name: name.into(),
            rule,
            priority,
            rank: 0,
            value,
        }
    }

    /// Sets the tie-break rank (lower wins).
    pub fn with_rank(mut self, rank: u32) -> Self {
        self.rank = rank;
        self
    }

    /// The priority the table sorts by: `priority`, or the rule length when
    /// `priority` is `0`.
    pub fn effective_priority(&self) -> i64 {
        if self.priority == 0 {
            default_priority(self.rule.source())
        } else {
            self.priority
        }
    }
}

/// Fast non-keyed hash for the host index. Keys come from configuration,
/// so request input cannot grow or degrade the maps.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Index = HashMap<Box<str>, Box<[u32]>, BuildHasherDefault<FxHasher>>;

/// HTTP routes in priority order, with a host index.
///
/// [`RouteTable::find`] returns the first route, in order of effective
/// priority (descending), then rank (ascending), then name (ascending),
/// then insertion order, whose rule matches. Routes whose rule requires
/// one of a set of hosts (``Host(`a`)``, ``Host(`a`) && Path(`/x`)``,
/// ``Host(`a`) || Host(`*.b`)``...) are indexed by host, so a lookup only
/// evaluates the routes of the request's host plus the routes that do not
/// pin a host. The answer is the same as a linear scan.
#[derive(Debug)]
pub struct RouteTable<T> {
    routes: Vec<Route<T>>,
    exact: Index,
    parent: Index,
    generic: Box<[u32]>,
}

impl<T> RouteTable<T> {
    /// Sorts the routes and builds the index.
    pub fn new(routes: Vec<Route<T>>) -> Self {
        let mut keyed: Vec<(i64, Route<T>)> =
            routes.into_iter().map(|r| (r.effective_priority(), r)).collect();
        keyed.sort_by(|(pa, a), (pb, b)| {
            pb.cmp(pa)
                .then(a.rank.cmp(&b.rank))
                .then_with(|| a.name.cmp(&b.name))
        });
        let routes: Vec<Route<T>> = keyed.into_iter().map(|(_, r)| r).collect();
        let mut exact: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut parent: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut generic = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match r.rule.host_keys() {
                Some(keys) if !keys.is_empty() => {
                    for k in keys {
                        let (map, key) = match k {
                            HostKey::Exact(h) => (&mut exact, h),
                            HostKey::Parent(h) => (&mut parent, h),
                        };
                        let bucket = map.entry(key).or_default();
                        if bucket.last() != Some(&i) {
                            bucket.push(i);
                        }
                    }
                }
                _ => generic.push(i),
            }
        }
        let freeze = |m: HashMap<Box<str>, Vec<u32>>| -> Index {
            m.into_iter().map(|(k, v)| (k, v.into())).collect()
        };
        RouteTable {
            routes,
            exact: freeze(exact),
            parent: freeze(parent),
            generic: generic.into(),
        }
    }

    /// The highest-priority route whose rule matches `req`.
    pub fn find(&self, req: &RequestInfo<'_>) -> Option<&Route<T>> {
        if self.exact.is_empty() && self.parent.is_empty() {
            return self.first_match(req, &[], &[]);
        }
        let mut buf = [0u8; 256];
        let owned;
        let host: &str = if !req.host.bytes().any(|b| b.is_ascii_uppercase()) {
            req.host
        } else if req.host.len() <= buf.len() {
            let b = &mut buf[..req.host.len()];
            b.copy_from_slice(req.host.as_bytes());
            b.make_ascii_lowercase();
            std::str::from_utf8(b).unwrap_or(req.host)
        } else {
            owned = req.host.to_ascii_lowercase();
            &owned
        };
        let key = strip_dot(host);
        let exact = self.exact.get(key).map_or(&[][..], |b| &b[..]);
        let parent = match key.split_once('.') {
            Some((label, rest)) if !label.is_empty() => {
                self.parent.get(rest).map_or(&[][..], |b| &b[..])
            }
            _ => &[][..],
        };
        self.first_match(req, exact, parent)
    }

    /// Walks the three sorted candidate lists in merged order.
    fn first_match(&self, req: &RequestInfo<'_>, a: &[u32], b: &[u32]) -> Option<&Route<T>> {
        let c = &self.generic[..];
        let (mut i, mut j, mut k) = (0, 0, 0);
        loop {
            let x = a.get(i).copied().unwrap_or(u32::MAX);
            let y = b.get(j).copied().unwrap_or(u32::MAX);
            let z = c.get(k).copied().unwrap_or(u32::MAX);
            let m = x.min(y).min(z);
            if m == u32::MAX {
                return None;
            }
            i += usize::from(x == m);
            j += usize::from(y == m);
            k += usize::from(z == m);
            let route = &self.routes[m as usize];
            if route.rule.matches(req) {
                return Some(route);
            }
        }
    }

    /// Routes in the order `find` tries them.
    pub fn routes(&self) -> &[Route<T>] {
        &self.routes
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table has no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        RouteTable::new(Vec::new())
    }
}
