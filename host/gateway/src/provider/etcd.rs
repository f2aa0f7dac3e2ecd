//! The etcd provider: Traefik's KV layout under a root key, read whole and then watched.
//!
//! It talks to etcd's JSON gateway (`/v3/kv/range`, `/v3/watch`, `/v3/auth/authenticate`,
//! etcd 3.4 and later). Every (re)connection starts with a full read of the prefix and
//! watches from the revision after it, so nothing written while the gateway was cut off is
//! missed. While etcd cannot be reached the last snapshot stays, and the provider retries
//! with backoff.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use wasmgate_config::EtcdProvider;

pub use super::etcd_client::{EtcdClient, EtcdError, Snapshot};

/// Backoff between reconnection attempts: from the first to the last value.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What the reload loop reads: the latest snapshot (none before the first read).
#[derive(Clone, Debug)]
pub struct EtcdHandle {
    /// The root key.
    pub root_key: String,
    latest: Arc<Mutex<Option<Snapshot>>>,
    synced: watch::Receiver<bool>,
}

impl EtcdHandle {
    /// The pairs of the latest snapshot, or `None` before the first successful read.
    pub fn pairs(&self) -> Option<Vec<(String, String)>> {
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.as_ref().map(|s| {
            s.pairs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    /// Waits until the first full read has happened, or `timeout` passes; true if it has.
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        let mut synced = self.synced.clone();
        tokio::time::timeout(timeout, synced.wait_for(|s| *s))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Starts the provider: a task that keeps the snapshot of `root_key/` current and sends
/// `()` on `changes` whenever it changed.
pub fn spawn(cfg: &EtcdProvider, changes: mpsc::Sender<()>) -> Result<EtcdHandle, EtcdError> {
    let client = EtcdClient::from_config(cfg)?;
    let root_key = cfg.root_key.trim_matches('/').to_owned();
    let latest = Arc::new(Mutex::new(None));
    let (synced_tx, synced) = watch::channel(false);
    let handle = EtcdHandle {
        root_key: root_key.clone(),
        latest: latest.clone(),
        synced,
    };
    let prefix = wasmgate_config::kv::prefix(&root_key);
    tokio::spawn(run(client, prefix, latest, synced_tx, changes));
    Ok(handle)
}

async fn run(
    client: EtcdClient,
    prefix: String,
    latest: Arc<Mutex<Option<Snapshot>>>,
    synced: watch::Sender<bool>,
    changes: mpsc::Sender<()>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut connected = false;
    loop {
        let snapshot = match client.range(&prefix).await {
            Ok(s) => s,
            Err(e) => {
                if connected || !*synced.borrow() {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "etcd provider: cannot read `{prefix}`; serving the last configuration and retrying");
                }
                connected = false;
                if changes.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = BACKOFF_MIN;
        if !connected {
            tracing::info!(
                keys = snapshot.pairs.len(),
                revision = snapshot.revision,
                "etcd provider: read `{prefix}`"
            );
        }
        connected = true;
        let revision = snapshot.revision;
        let changed = {
            let mut guard = latest.lock().unwrap_or_else(|e| e.into_inner());
            let changed = guard.as_ref().is_none_or(|old| old.pairs != snapshot.pairs);
            *guard = Some(snapshot);
            changed
        };
        synced.send_replace(true);
        if changed && changes.try_send(()).is_err() && changes.is_closed() {
            return;
        }
        let watching = client.watch(&prefix, revision + 1, |events, revision| {
            let mut guard = latest.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(snapshot) = guard.as_mut() {
                for (deleted, key, value) in events {
                    if deleted {
                        snapshot.pairs.remove(&key);
                    } else {
                        snapshot.pairs.insert(key, value);
                    }
                }
                snapshot.revision = revision;
            }
            drop(guard);
            let _ = changes.try_send(());
        });
        // The gateway stopped listening: stop watching.
        let error = tokio::select! {
            error = watching => error,
            () = changes.closed() => return,
        };
        tracing::warn!(error = %error, "etcd provider: watch ended; reconnecting");
    }
}
