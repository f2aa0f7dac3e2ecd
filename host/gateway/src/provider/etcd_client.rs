//! A client of etcd's JSON gateway (`/v3/kv/range`, `/v3/kv/put`, `/v3/kv/deleterange`,
//! `/v3/watch`, `/v3/auth/authenticate`; etcd 3.4 and later), over plain HTTP or TLS.

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
use wasmgate_config::EtcdProvider;

/// Longest wait for a connection or a non-streaming answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// The authentication token, shared by clones, renewed when refused.
    token: Arc<Mutex<Option<String>>>,
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

/// The `key` and `range_end` that select every key starting with `prefix`.
fn prefix_range(prefix: &str) -> Value {
    json!({ "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix.as_bytes())) })
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
        // Notice a member that vanished without closing the watch connection.
        connector.set_keepalive(Some(Duration::from_secs(15)));
        EtcdClient {
            endpoints: endpoints.iter().map(|e| normalise(e)).collect(),
            username,
            password,
            http: Client::builder(TokioExecutor::new()).build(connector),
            tls: None,
            token: Arc::default(),
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
        if let Some(token) = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(Some(token));
        }
        let reply = self
            .post_once(
                endpoint,
                "/v3/auth/authenticate",
                &json!({ "name": name, "password": password }),
                None,
            )
            .await?;
        let token = reply["token"].as_str().map(str::to_owned);
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = token.clone();
        Ok(token)
    }

    /// Forgets the authentication token (it expired or was refused).
    fn forget_token(&self) {
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
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
                Err(e) => {
                    self.forget_token();
                    return Err(e);
                }
            }
        }
        Err(last.unwrap_or(EtcdError::Unreachable {
            endpoint: String::new(),
            message: "no endpoints configured".to_owned(),
        }))
    }

    /// Every key starting with `prefix`, and the revision they were read at.
    pub async fn range(&self, prefix: &str) -> Result<Snapshot, EtcdError> {
        let reply = self.post("/v3/kv/range", &prefix_range(prefix)).await?;
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
            .post("/v3/kv/deleterange", &prefix_range(prefix))
            .await?;
        Ok(int(&reply["deleted"]))
    }

    /// Watches `prefix` from `start_revision`, calling `on_events` with each batch of
    /// changes (`(deleted, key, value)`) and the revision after it. Returns when the
    /// connection ends (always an error: the caller reconnects and reads everything again).
    pub(crate) async fn watch(
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
            let mut create = prefix_range(prefix);
            create["start_revision"] = json!(start_revision.to_string());
            let body = json!({ "create_request": create });
            let req = self.request(endpoint, "/v3/watch", &body, token.as_deref());
            let resp = match tokio::time::timeout(REQUEST_TIMEOUT, self.send(req)).await {
                Ok(Ok(r)) if r.status().is_success() => r,
                Ok(Ok(r)) => {
                    self.forget_token();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end(b"traefik/"), b"traefik0".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
    }
}
