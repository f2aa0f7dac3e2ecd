//! The etcd provider: Traefik's KV layout under a root key, read whole and then watched.
//!
//! It talks to etcd's JSON gateway (`/v3/kv/range`, `/v3/watch`, `/v3/auth/authenticate`,
//! etcd 3.4 and later). Every (re)connection starts with a full read of the prefix and
//! watches from the revision after it, so nothing written while the gateway was cut off is
//! missed. While etcd cannot be reached the last snapshot stays, and the provider retries
//! with backoff.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use wasmgate_config::EtcdProvider;

/// Longest wait for a connection or a non-streaming answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Backoff between reconnection attempts: from the first to the last value.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why talking to etcd failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered.
    #[error("etcd {endpoint}: {message}")]
    Unreachable {
        /// The endpoint tried last.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// etcd answered with something unexpected.
    #[error("etcd {endpoint}: {message}")]
    Protocol {
        /// The endpoint.
        endpoint: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// The TLS settings cannot be used.
    #[error("providers.etcd.tls: {0}")]
    Tls(String),
}

/// The keys under the root key at one revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Key to value.
    pub pairs: BTreeMap<String, String>,
    /// The etcd revision they were read at.
    pub revision: i64,
}

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

/// A client of one etcd cluster (tries each endpoint in turn).
#[derive(Clone)]
pub struct EtcdClient {
    endpoints: Vec<String>,
    username: Option<String>,
    password: Option<String>,
    http: Client<HttpConnector, Full<Bytes>>,
    /// With TLS, each request opens its own connection (etcd is asked rarely: a full read
    /// per reconnection and one long-lived watch).
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdClient")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

fn normalise(endpoint: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.contains("://") {
        e.to_owned()
    } else {
        format!("http://{e}")
    }
}

/// The end of the range of every key starting with `prefix` (etcd's `range_end`).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn int(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn decode_b64(value: &Value) -> String {
    value
        .as_str()
        .and_then(|s| B64.decode(s).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

impl EtcdClient {
    /// A client for `endpoints` (`host:port` or URLs), with optional authentication.
    pub fn new(
        endpoints: &[String],
        username: Option<String>,
        password: Option<String>,
    ) -> EtcdClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(REQUEST_TIMEOUT));
        connector.set_nodelay(true);
        EtcdClient {
            endpoints: endpoints.iter().map(|e| normalise(e)).collect(),
            username,
            password,
            http: Client::builder(TokioExecutor::new()).build(connector),
            tls: None,
        }
    }

    /// The same client speaking TLS with `config` (endpoints without a scheme use `https`).
    pub fn with_tls(mut self, config: Arc<rustls::ClientConfig>) -> EtcdClient {
        self.endpoints = self
            .endpoints
            .iter()
            .map(|e| e.replacen("http://", "https://", 1))
            .collect();
        self.tls = Some(config);
        self
    }

    /// Sends one request, over TLS when configured.
    async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        let Some(config) = &self.tls else {
            return self.http.request(req).await.map_err(|e| e.to_string());
        };
        let uri = req.uri().clone();
        let host = uri.host().ok_or("no host in endpoint")?;
        let host = host.trim_matches(['[', ']']).to_owned();
        let port = uri.port_u16().unwrap_or(2379);
        let tcp = tokio::time::timeout(
            REQUEST_TIMEOUT,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let (mut parts, body) = req.into_parts();
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        parts.uri = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?;
        if let Ok(value) = http::HeaderValue::from_str(&authority) {
            parts.headers.insert(http::header::HOST, value);
        }
        sender
            .send_request(http::Request::from_parts(parts, body))
            .await
            .map_err(|e| e.to_string())
    }

    /// A client for `providers.etcd`.
    pub fn from_config(cfg: &EtcdProvider) -> Result<EtcdClient, EtcdError> {
        let client = EtcdClient::new(&cfg.endpoints, cfg.username.clone(), cfg.password.clone());
        let https = cfg.endpoints.iter().any(|e| e.starts_with("https://"));
        if cfg.tls.is_none() && !https {
            return Ok(client);
        }
        let tls = cfg.tls.clone().unwrap_or_default();
        let transport = wasmgate_config::TcpServersTransportTls {
            insecure_skip_verify: tls.insecure_skip_verify,
            root_cas: tls.ca.into_iter().collect(),
            certificates: match (tls.cert, tls.key) {
                (Some(cert_file), Some(key_file)) => vec![wasmgate_config::CertAndKey {
                    cert_file,
                    key_file,
                }],
                _ => Vec::new(),
            },
            ..Default::default()
        };
        let config = crate::tcp::dial::client_config(Some(&transport)).map_err(EtcdError::Tls)?;
        Ok(client.with_tls(Arc::new(config)))
    }

    async fn token(&self, endpoint: &str) -> Result<Option<String>, EtcdError> {
        let (Some(name), Some(password)) = (&self.username, &self.password) else {
            return Ok(None);
        };
        let reply = self
            .post_once(
                endpoint,
                "/v3/auth/authenticate",
                &json!({ "name": name, "password": password }),
                None,
            )
            .await?;
        Ok(reply["token"].as_str().map(str::to_owned))
    }

    fn request(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::post(format!("{endpoint}{path}"))
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(http::header::AUTHORIZATION, t);
        }
        req.body(Full::new(Bytes::from(body.to_string())))
            .unwrap_or_else(|_| http::Request::new(Full::new(Bytes::new())))
    }

    async fn post_once(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Result<Value, EtcdError> {
        let unreachable = |message: String| EtcdError::Unreachable {
            endpoint: endpoint.to_owned(),
            message,
        };
        let req = self.request(endpoint, path, body, token);
        let work = async {
            let resp = self.send(req).await.map_err(unreachable)?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(format!("{e}")))?
                .to_bytes();
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| EtcdError::Protocol {
                endpoint: endpoint.to_owned(),
                message: format!("{path}: not JSON ({e})"),
            })?;
            if !status.is_success() {
                return Err(EtcdError::Protocol {
                    endpoint: endpoint.to_owned(),
                    message: format!(
                        "{path}: {status}: {}",
                        value["message"].as_str().unwrap_or_default()
                    ),
                });
            }
            Ok(value)
        };
        tokio::time::timeout(REQUEST_TIMEOUT, work)
            .await
            .map_err(|_| unreachable(format!("no answer within {REQUEST_TIMEOUT:?}")))?
    }

    /// POSTs to the first endpoint that answers.
    async fn post(&self, path: &str, body: &Value) -> Result<Value, EtcdError> {
        let mut last = None;
        for endpoint in &self.endpoints {
            let token = match self.token(endpoint).await {
                Ok(t) => t,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            match self.post_once(endpoint, path, body, token.as_deref()).await {
                Ok(v) => return Ok(v),
                Err(e @ EtcdError::Unreachable { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(EtcdError::Unreachable {
            endpoint: String::new(),
            message: "no endpoints configured".to_owned(),
        }))
    }

    /// Every key starting with `prefix`, and the revision they were read at.
    pub async fn range(&self, prefix: &str) -> Result<Snapshot, EtcdError> {
        let reply = self
            .post(
                "/v3/kv/range",
                &json!({
                    "key": B64.encode(prefix),
                    "range_end": B64.encode(prefix_end(prefix.as_bytes())),
                }),
            )
            .await?;
        let mut snapshot = Snapshot {
            revision: int(&reply["header"]["revision"]),
            ..Snapshot::default()
        };
        for kv in reply["kvs"].as_array().into_iter().flatten() {
            snapshot
                .pairs
                .insert(decode_b64(&kv["key"]), decode_b64(&kv["value"]));
        }
        Ok(snapshot)
    }

    /// Writes one key.
    pub async fn put(&self, key: &str, value: &str) -> Result<(), EtcdError> {
        self.post(
            "/v3/kv/put",
            &json!({ "key": B64.encode(key), "value": B64.encode(value) }),
        )
        .await
        .map(drop)
    }

    /// Deletes every key starting with `prefix`; returns how many there were.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<i64, EtcdError> {
        let reply = self
            .post(
                "/v3/kv/deleterange",
                &json!({
                    "key": B64.encode(prefix),
                    "range_end": B64.encode(prefix_end(prefix.as_bytes())),
                }),
            )
            .await?;
        Ok(int(&reply["deleted"]))
    }

    /// Watches `prefix` from `start_revision`, applying each change to `snapshot` and
    /// calling `changed` after each batch. Returns when the connection ends (always an
    /// error: the caller reconnects and reads everything again).
    async fn watch(
        &self,
        prefix: &str,
        start_revision: i64,
        mut on_events: impl FnMut(Vec<(bool, String, String)>, i64),
    ) -> EtcdError {
        let mut last = None;
        for endpoint in &self.endpoints {
            let token = match self.token(endpoint).await {
                Ok(t) => t,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let body = json!({ "create_request": {
                "key": B64.encode(prefix),
                "range_end": B64.encode(prefix_end(prefix.as_bytes())),
                "start_revision": start_revision.to_string(),
            }});
            let req = self.request(endpoint, "/v3/watch", &body, token.as_deref());
            let resp = match tokio::time::timeout(REQUEST_TIMEOUT, self.send(req)).await {
                Ok(Ok(r)) if r.status().is_success() => r,
                Ok(Ok(r)) => {
                    last = Some(EtcdError::Protocol {
                        endpoint: endpoint.clone(),
                        message: format!("/v3/watch: {}", r.status()),
                    });
                    continue;
                }
                Ok(Err(message)) => {
                    last = Some(EtcdError::Unreachable {
                        endpoint: endpoint.clone(),
                        message,
                    });
                    continue;
                }
                Err(_) => {
                    last = Some(EtcdError::Unreachable {
                        endpoint: endpoint.clone(),
                        message: "watch not answered".to_owned(),
                    });
                    continue;
                }
            };
            let mut body = resp.into_body();
            let mut buf: Vec<u8> = Vec::new();
            loop {
                let frame = match body.frame().await {
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => {
                        return EtcdError::Unreachable {
                            endpoint: endpoint.clone(),
                            message: format!("watch stream: {e}"),
                        };
                    }
                    None => {
                        return EtcdError::Unreachable {
                            endpoint: endpoint.clone(),
                            message: "watch stream closed".to_owned(),
                        };
                    }
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                let mut stream = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
                let mut consumed = 0;
                while let Some(Ok(message)) = stream.next() {
                    consumed = stream.byte_offset();
                    let result = &message["result"];
                    if message.get("error").is_some() {
                        return EtcdError::Protocol {
                            endpoint: endpoint.clone(),
                            message: format!("watch: {}", message["error"]),
                        };
                    }
                    if result["canceled"].as_bool() == Some(true)
                        || int(&result["compact_revision"]) > 0
                    {
                        return EtcdError::Protocol {
                            endpoint: endpoint.clone(),
                            message: format!(
                                "watch canceled: {}",
                                result["cancel_reason"].as_str().unwrap_or("compacted")
                            ),
                        };
                    }
                    let events: Vec<(bool, String, String)> = result["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|ev| {
                            (
                                ev["type"].as_str() == Some("DELETE"),
                                decode_b64(&ev["kv"]["key"]),
                                decode_b64(&ev["kv"]["value"]),
                            )
                        })
                        .collect();
                    if !events.is_empty() {
                        on_events(events, int(&result["header"]["revision"]));
                    }
                }
                buf.drain(..consumed);
            }
        }
        last.unwrap_or(EtcdError::Unreachable {
            endpoint: String::new(),
            message: "no endpoints configured".to_owned(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end(b"traefik/"), b"traefik0".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
    }
}
