//! ipAllowList, inFlightReq and rateLimit: middlewares that decide by the request's source.

use super::{Flow, status};
use crate::body::Body;
use crate::context::RequestCtx;
use http::{Request, StatusCode};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmgate_rules::IpSet;

/// How a request's source is identified (Traefik's `sourceCriterion` / `ipStrategy`).
#[derive(Debug, Clone, Default)]
pub enum Source {
    /// The client's address.
    #[default]
    ClientIp,
    /// X-Forwarded-For, counted from the right.
    ForwardedDepth(usize),
    /// X-Forwarded-For, the right-most address not in the excluded list.
    ForwardedExcluding(IpSet),
    /// The value of a request header.
    Header(http::HeaderName),
    /// The request host.
    Host,
}

impl Source {
    fn key(&self, req: &Request<Body>, ctx: &RequestCtx) -> Option<String> {
        match self {
            Source::ClientIp => Some(ctx.client_ip().to_string()),
            Source::ForwardedDepth(depth) => {
                let xff = forwarded_for(req);
                xff.len()
                    .checked_sub(*depth)
                    .and_then(|i| xff.get(i))
                    .map(|s| (*s).to_owned())
            }
            Source::ForwardedExcluding(excluded) => forwarded_for(req)
                .into_iter()
                .rev()
                .find(|ip| ip.parse::<IpAddr>().is_ok_and(|ip| !excluded.contains(ip)))
                .map(str::to_owned),
            Source::Header(name) => req
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Source::Host => Some(ctx.host.clone()),
        }
    }
}

fn forwarded_for(req: &Request<Body>) -> Vec<&str> {
    req.headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Lets only listed source ranges through.
#[derive(Debug)]
pub struct IpAllowList {
    /// Allowed ranges.
    pub ranges: IpSet,
    /// How the source address is found.
    pub source: Source,
    /// Status for refused requests (403 by default).
    pub reject: StatusCode,
}

impl IpAllowList {
    /// Refuses sources outside the ranges.
    pub fn on_request(&self, req: &Request<Body>, ctx: &RequestCtx) -> Flow {
        let allowed = self
            .source
            .key(req, ctx)
            .and_then(|k| k.parse::<IpAddr>().ok())
            .is_some_and(|ip| self.ranges.contains(ip));
        if allowed {
            Flow::Continue
        } else {
            Flow::Respond(status(self.reject))
        }
    }
}

/// A sharded map of per-source state; one lock per shard, held for a few instructions.
#[derive(Debug)]
struct Shards<V> {
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<String, V>>]>,
}

impl<V> Shards<V> {
    fn new() -> Self {
        Shards {
            hasher: RandomState::new(),
            shards: (0..16).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn with<R>(&self, key: &str, f: impl FnOnce(&mut HashMap<String, V>) -> R) -> R {
        let idx = (self.hasher.hash_one(key) as usize) % self.shards.len();
        let mut map = self.shards[idx].lock().unwrap_or_else(|p| p.into_inner());
        f(&mut map)
    }
}

/// Limits requests in flight per source.
#[derive(Debug)]
pub struct InFlightReq {
    /// Maximum simultaneous requests per source.
    pub amount: u64,
    /// How the source is identified.
    pub source: Source,
    counters: Arc<Shards<Arc<AtomicU64>>>,
}

/// Releases an in-flight slot when dropped (when the response body is finished or dropped).
#[derive(Debug)]
pub struct InFlightGuard(Arc<AtomicU64>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InFlightReq {
    /// A limiter allowing `amount` simultaneous requests per source.
    pub fn new(amount: u64, source: Source) -> Self {
        InFlightReq {
            amount,
            source,
            counters: Arc::new(Shards::new()),
        }
    }

    /// Takes a slot, or `None` when the source is at its limit.
    pub fn acquire(&self, req: &Request<Body>, ctx: &RequestCtx) -> Option<InFlightGuard> {
        let key = self.source.key(req, ctx).unwrap_or_default();
        let counter = self
            .counters
            .with(&key, |m| m.entry(key.clone()).or_default().clone());
        let prev = counter.fetch_add(1, Ordering::AcqRel);
        let guard = InFlightGuard(counter);
        (prev < self.amount).then_some(guard)
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token-bucket rate limiting per source: `average` per `period`, bursts up to `burst`.
#[derive(Debug)]
pub struct RateLimit {
    rate_per_sec: f64,
    burst: f64,
    source: Source,
    buckets: Shards<Bucket>,
}

impl RateLimit {
    /// A limiter; `average` 0 means no limit.
    pub fn new(average: u64, period: Duration, burst: u64, source: Source) -> Self {
        let period = if period.is_zero() {
            Duration::from_secs(1)
        } else {
            period
        };
        RateLimit {
            rate_per_sec: average as f64 / period.as_secs_f64(),
            burst: burst.max(1) as f64,
            source,
            buckets: Shards::new(),
        }
    }

    /// Lets the request through if its source has a token, else answers 429.
    pub fn on_request(&self, req: &Request<Body>, ctx: &RequestCtx) -> Flow {
        if self.rate_per_sec <= 0.0 {
            return Flow::Continue;
        }
        let key = self.source.key(req, ctx).unwrap_or_default();
        let now = Instant::now();
        let (rate, burst) = (self.rate_per_sec, self.burst);
        let allowed = self.buckets.with(&key, |m| {
            if m.len() > 100_000 {
                m.retain(|_, b| now.duration_since(b.last).as_secs_f64() * rate < burst);
            }
            let b = m.entry(key.clone()).or_insert(Bucket {
                tokens: burst,
                last: now,
            });
            b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(burst);
            b.last = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                true
            } else {
                false
            }
        });
        if allowed {
            Flow::Continue
        } else {
            Flow::Respond(status(StatusCode::TOO_MANY_REQUESTS))
        }
    }
}
