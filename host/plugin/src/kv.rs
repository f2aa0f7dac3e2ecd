//! Key-value storage for plugins: the [`KvStore`] trait (so a shared backend
//! such as Redis can be added), the in-process [`MemoryKv`], and the host
//! side of the `kv` interface. Each plugin gets its own namespace (its name).

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bindings::kv::{self, KvError as WitKvError};
use crate::state::HostState;

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// Empty or too long key.
    #[error("invalid key")]
    InvalidKey,
    /// Value too large.
    #[error("value too large")]
    TooLarge,
    /// `increment` on a value that is not a decimal integer (or overflow).
    #[error("value is not a 64-bit integer")]
    NotANumber,
    /// The backend failed.
    #[error("kv backend unavailable: {0}")]
    Unavailable(String),
}

/// A boxed future returned by [`KvStore`] methods.
pub type KvFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KvError>> + Send + 'a>>;

/// A key-value backend. Every method gets the plugin's namespace; values
/// are bytes; counters are stored as decimal text.
pub trait KvStore: Send + Sync + 'static {
    /// The value of `key`, `None` if absent or expired.
    fn get(&self, ns: &str, key: &str) -> KvFuture<'_, Option<Vec<u8>>>;
    /// Stores `value`, expiring after `ttl` if given.
    fn set(&self, ns: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> KvFuture<'_, ()>;
    /// Removes `key`; true if it existed.
    fn delete(&self, ns: &str, key: &str) -> KvFuture<'_, bool>;
    /// Atomically adds `delta` (absent counts as 0) and returns the new
    /// value; `ttl` applies only when the key is created.
    fn increment(
        &self,
        ns: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> KvFuture<'_, i64>;
}

/// Longest key accepted.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value accepted by [`MemoryKv`].
pub const MAX_VALUE_BYTES: usize = 1 << 20;

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| e > now)
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<(String, String), Entry>,
    writes: u32,
}

/// The in-process key-value store: sharded maps, lazy expiry plus a sweep
/// every few thousand writes per shard.
pub struct MemoryKv {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl Default for MemoryKv {
    fn default() -> Self {
        MemoryKv {
            shards: (0..16).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_shard<T>(&self, ns: &str, key: &str, f: impl FnOnce(&mut Shard, Instant) -> T) -> T {
        let i = self.hasher.hash_one((ns, key)) as usize % self.shards.len();
        let mut shard = self.shards[i].lock().unwrap_or_else(|e| e.into_inner());
        f(&mut shard, Instant::now())
    }

    fn check(key: &str, value_len: usize) -> Result<(), KvError> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(KvError::InvalidKey);
        }
        if value_len > MAX_VALUE_BYTES {
            return Err(KvError::TooLarge);
        }
        Ok(())
    }

    fn wrote(shard: &mut Shard, now: Instant) {
        shard.writes += 1;
        if shard.writes >= 4096 {
            shard.writes = 0;
            shard.map.retain(|_, e| e.live(now));
        }
    }

    fn get_now(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Self::check(key, 0)?;
        Ok(self.with_shard(ns, key, |s, now| {
            let k = (ns.to_owned(), key.to_owned());
            match s.map.get(&k) {
                Some(e) if e.live(now) => Some(e.value.clone()),
                Some(_) => {
                    s.map.remove(&k);
                    None
                }
                None => None,
            }
        }))
    }

    fn set_now(
        &self,
        ns: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), KvError> {
        Self::check(key, value.len())?;
        self.with_shard(ns, key, |s, now| {
            let expires = ttl.map(|t| now + t);
            s.map
                .insert((ns.to_owned(), key.to_owned()), Entry { value, expires });
            Self::wrote(s, now);
        });
        Ok(())
    }

    fn delete_now(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        Self::check(key, 0)?;
        Ok(self.with_shard(ns, key, |s, now| {
            s.map
                .remove(&(ns.to_owned(), key.to_owned()))
                .is_some_and(|e| e.live(now))
        }))
    }

    fn increment_now(
        &self,
        ns: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, KvError> {
        Self::check(key, 0)?;
        self.with_shard(ns, key, |s, now| {
            let k = (ns.to_owned(), key.to_owned());
            let entry = s.map.get_mut(&k).filter(|e| e.live(now));
            let result = match entry {
                Some(e) => {
                    let current: i64 = std::str::from_utf8(&e.value)
                        .ok()
                        .and_then(|t| t.parse().ok())
                        .ok_or(KvError::NotANumber)?;
                    let next = current.checked_add(delta).ok_or(KvError::NotANumber)?;
                    e.value = next.to_string().into_bytes();
                    next
                }
                None => {
                    let expires = ttl.map(|t| now + t);
                    s.map.insert(
                        k,
                        Entry {
                            value: delta.to_string().into_bytes(),
                            expires,
                        },
                    );
                    delta
                }
            };
            Self::wrote(s, now);
            Ok(result)
        })
    }
}

impl KvStore for MemoryKv {
    fn get(&self, ns: &str, key: &str) -> KvFuture<'_, Option<Vec<u8>>> {
        Box::pin(std::future::ready(self.get_now(ns, key)))
    }
    fn set(&self, ns: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> KvFuture<'_, ()> {
        Box::pin(std::future::ready(self.set_now(ns, key, value, ttl)))
    }
    fn delete(&self, ns: &str, key: &str) -> KvFuture<'_, bool> {
        Box::pin(std::future::ready(self.delete_now(ns, key)))
    }
    fn increment(
        &self,
        ns: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> KvFuture<'_, i64> {
        Box::pin(std::future::ready(self.increment_now(ns, key, delta, ttl)))
    }
}

fn to_wit(e: KvError) -> WitKvError {
    match e {
        KvError::InvalidKey => WitKvError::InvalidKey,
        KvError::TooLarge => WitKvError::TooLarge,
        KvError::NotANumber => WitKvError::NotANumber,
        KvError::Unavailable(m) => WitKvError::Unavailable(m),
    }
}

impl HostState {
    fn kv_store(&self) -> wasmtime::Result<std::sync::Arc<dyn KvStore>> {
        // The linker only has `kv` when it was granted, so this is a bug guard.
        self.shared
            .kv
            .clone()
            .ok_or_else(|| wasmtime::format_err!("kv is not granted to this plugin"))
    }
}

type R<T> = wasmtime::Result<Result<T, WitKvError>>;

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> R<Option<Vec<u8>>> {
        let store = self.kv_store()?;
        let ns = self.shared.name.clone();
        Ok(store.get(&ns, &key).await.map_err(to_wit))
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_ms: Option<u64>) -> R<()> {
        let store = self.kv_store()?;
        let ns = self.shared.name.clone();
        let ttl = ttl_ms.map(Duration::from_millis);
        Ok(store.set(&ns, &key, value, ttl).await.map_err(to_wit))
    }

    async fn delete(&mut self, key: String) -> R<bool> {
        let store = self.kv_store()?;
        let ns = self.shared.name.clone();
        Ok(store.delete(&ns, &key).await.map_err(to_wit))
    }

    async fn increment(&mut self, key: String, delta: i64, ttl_ms: Option<u64>) -> R<i64> {
        let store = self.kv_store()?;
        let ns = self.shared.name.clone();
        let ttl = ttl_ms.map(Duration::from_millis);
        Ok(store.increment(&ns, &key, delta, ttl).await.map_err(to_wit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increment_ttl_window_and_namespaces() {
        let kv = MemoryKv::new();
        let ttl = Some(Duration::from_millis(30));
        assert_eq!(kv.increment_now("a", "k", 1, ttl), Ok(1));
        assert_eq!(kv.increment_now("a", "k", 2, ttl), Ok(3));
        assert_eq!(kv.increment_now("b", "k", 1, ttl), Ok(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(kv.increment_now("a", "k", 1, ttl), Ok(1));
        kv.set_now("a", "s", b"x".to_vec(), None).unwrap();
        assert_eq!(
            kv.increment_now("a", "s", 1, None),
            Err(KvError::NotANumber)
        );
        assert_eq!(kv.get_now("a", "s"), Ok(Some(b"x".to_vec())));
        assert_eq!(kv.delete_now("a", "s"), Ok(true));
        assert_eq!(kv.get_now("a", "s"), Ok(None));
        assert_eq!(kv.get_now("a", ""), Err(KvError::InvalidKey));
    }
}
