//! A [`KvStore`] in Redis, shared by every gateway that points at it (so a rate limiter
//! counts across all of them).
//!
//! Keys are `<prefix>:<plugin>:<key>`. Every command is bounded by a timeout: when Redis is
//! slow or down the plugin gets [`KvError::Unavailable`] and decides what to do (the rate
//! limiter lets the request through). A call never waits on Redis longer than the timeout,
//! and after a failure calls fail at once for [`RECONNECT_PAUSE`] before Redis is tried
//! again, so an outage costs one timeout per second, not one per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::kv::{KvError, KvFuture, KvStore, MAX_KEY_BYTES, MAX_VALUE_BYTES};

/// How long a failed connection attempt keeps new attempts away.
pub const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// `INCRBY` that sets the expiry only when it creates the key, atomically.
const INCREMENT: &str = r"
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
";

/// The Redis-backed store.
pub struct RedisKv {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    connection: OnceCell<ConnectionManager>,
    /// Milliseconds since `started` of the last failed connection attempt (0: none).
    failed_at: AtomicU64,
    started: Instant,
    increment: redis::Script,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> KvError {
    KvError::Unavailable(format!("redis: {e}"))
}

impl RedisKv {
    /// A store on `url` (`redis://host:port[/db]`); connects on first use. Fails only on a
    /// malformed URL.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<RedisKv, KvError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        Ok(RedisKv {
            client,
            prefix: prefix.to_owned(),
            timeout,
            connection: OnceCell::new(),
            failed_at: AtomicU64::new(0),
            started: Instant::now(),
            increment: redis::Script::new(INCREMENT),
        })
    }

    fn key(&self, ns: &str, key: &str) -> Result<String, KvError> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(KvError::InvalidKey);
        }
        Ok(format!("{}:{ns}:{key}", self.prefix))
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }

    /// Remembers a failure: for [`RECONNECT_PAUSE`], calls fail at once.
    fn failed(&self, error: KvError) -> KvError {
        if matches!(error, KvError::Unavailable(_)) {
            self.failed_at.store(self.now_ms(), Ordering::Relaxed);
        }
        error
    }

    async fn connection(&self) -> Result<ConnectionManager, KvError> {
        let failed = self.failed_at.load(Ordering::Relaxed);
        let now = self.now_ms();
        if failed != 0 && now.saturating_sub(failed) < RECONNECT_PAUSE.as_millis() as u64 {
            return Err(KvError::Unavailable(
                "redis: unavailable (failed less than a second ago)".to_owned(),
            ));
        }
        if let Some(c) = self.connection.get() {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        let attempt = self.connection.get_or_try_init(|| async {
            tokio::time::timeout(
                self.timeout,
                ConnectionManager::new_with_config(self.client.clone(), config),
            )
            .await
            .map_err(|_| unavailable("connection timed out"))?
            .map_err(unavailable)
        });
        match attempt.await {
            Ok(c) => Ok(c.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "plugin kv: cannot connect to redis");
                Err(self.failed(e))
            }
        }
    }

    /// Runs `cmd` with the timeout.
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, KvError> {
        let mut conn = self.connection().await?;
        tokio::time::timeout(self.timeout, cmd.query_async(&mut conn))
            .await
            .map_err(|_| self.failed(unavailable("timed out")))?
            .map_err(|e| self.failed(unavailable(e)))
    }
}

impl KvStore for RedisKv {
    fn get(&self, ns: &str, key: &str) -> KvFuture<'_, Option<Vec<u8>>> {
        let key = self.key(ns, key);
        Box::pin(async move { self.run(redis::cmd("GET").arg(key?).clone()).await })
    }

    fn set(&self, ns: &str, key: &str, value: Vec<u8>, ttl: Option<Duration>) -> KvFuture<'_, ()> {
        let key = self.key(ns, key);
        Box::pin(async move {
            if value.len() > MAX_VALUE_BYTES {
                return Err(KvError::TooLarge);
            }
            let mut cmd = redis::cmd("SET");
            cmd.arg(key?).arg(value);
            if let Some(ttl) = ttl.filter(|t| !t.is_zero()) {
                cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
            }
            self.run::<()>(cmd).await
        })
    }

    fn delete(&self, ns: &str, key: &str) -> KvFuture<'_, bool> {
        let key = self.key(ns, key);
        Box::pin(async move {
            let n: i64 = self.run(redis::cmd("DEL").arg(key?).clone()).await?;
            Ok(n > 0)
        })
    }

    fn increment(
        &self,
        ns: &str,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> KvFuture<'_, i64> {
        let key = self.key(ns, key);
        Box::pin(async move {
            let key = key?;
            let ttl_ms = ttl.map_or(0, |t| t.as_millis().max(1) as u64);
            let mut conn = self.connection().await?;
            let mut invocation = self.increment.key(&key);
            invocation.arg(delta).arg(ttl_ms);
            let result: Result<i64, redis::RedisError> =
                tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn))
                    .await
                    .map_err(|_| self.failed(unavailable("timed out")))?;
            result.map_err(|e| {
                if e.kind() == redis::ErrorKind::ResponseError
                    || e.to_string().contains("not an integer")
                {
                    KvError::NotANumber
                } else {
                    self.failed(unavailable(e))
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmgate_test_harness::RedisServer;

    #[tokio::test]
    async fn counts_atomically_expires_and_reports_errors() {
        let Some(mut redis) = RedisServer::start().unwrap() else {
            return;
        };
        let a = RedisKv::new(&redis.url(), "t", Duration::from_millis(200)).unwrap();
        let b = RedisKv::new(&redis.url(), "t", Duration::from_millis(200)).unwrap();
        let ttl = Some(Duration::from_millis(300));
        assert_eq!(a.increment("p", "n", 1, ttl).await, Ok(1));
        assert_eq!(
            b.increment("p", "n", 2, ttl).await,
            Ok(3),
            "one counter for both"
        );
        assert_eq!(
            b.increment("other", "n", 1, ttl).await,
            Ok(1),
            "namespaces apart"
        );
        a.set("p", "s", b"text".to_vec(), None).await.unwrap();
        assert_eq!(
            a.increment("p", "s", 1, None).await,
            Err(KvError::NotANumber)
        );
        assert_eq!(b.get("p", "s").await, Ok(Some(b"text".to_vec())));
        assert_eq!(a.delete("p", "s").await, Ok(true));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            a.increment("p", "n", 1, ttl).await,
            Ok(1),
            "expired with its ttl"
        );

        redis.stop().unwrap();
        assert!(matches!(
            a.get("p", "n").await,
            Err(KvError::Unavailable(_))
        ));
        assert!(matches!(
            a.increment("p", "n", 1, ttl).await,
            Err(KvError::Unavailable(_))
        ));
    }
}
