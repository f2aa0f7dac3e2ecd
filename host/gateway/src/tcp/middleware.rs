//! TCP middlewares: `ipAllowList`, `inFlightConn` and `tcp-filter` plugins.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use wasmgate_plugin::{ConnectionInfo, Plugin, TcpAction};
use wasmgate_rules::IpSet;

/// A TCP middleware, ready to serve.
#[derive(Debug)]
pub enum TcpMiddlewareRt {
    /// Only clients in the set get through.
    IpAllowList(IpSet),
    /// At most `amount` connections at once per client IP.
    InFlightConn(Arc<InFlightConn>),
    /// A `tcp-filter` plugin decides.
    Plugin(TcpPlugin),
}

/// The counters of an `inFlightConn` middleware.
#[derive(Debug)]
pub struct InFlightConn {
    amount: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl InFlightConn {
    /// A limit of `amount` connections per client IP.
    pub fn new(amount: usize) -> Arc<Self> {
        Arc::new(InFlightConn {
            amount,
            open: Mutex::default(),
        })
    }

    fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<InFlightGuard> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.amount {
            return None;
        }
        *n += 1;
        Some(InFlightGuard {
            limit: self.clone(),
            ip,
        })
    }
}

/// One connection counted by an `inFlightConn`; released when dropped.
#[derive(Debug)]
pub struct InFlightGuard {
    limit: Arc<InFlightConn>,
    ip: IpAddr,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A `tcp-filter` plugin used as a TCP middleware.
pub struct TcpPlugin {
    /// The instance pool.
    pub plugin: Arc<Plugin>,
    /// Let the connection through when the plugin fails (instead of closing it).
    pub fail_open: bool,
}

impl std::fmt::Debug for TcpPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpPlugin")
            .field("plugin", &self.plugin.name())
            .field("fail_open", &self.fail_open)
            .finish()
    }
}

/// What a connection looks like to TCP middlewares.
#[derive(Debug, Clone)]
pub struct ConnFacts {
    /// The client (after PROXY protocol).
    pub client: SocketAddr,
    /// TLS server name, if any.
    pub sni: Option<String>,
    /// Offered ALPN protocols.
    pub alpn: Vec<String>,
}

/// What the middlewares decided.
#[derive(Debug)]
pub enum Decision {
    /// Go on to the router's service.
    Continue,
    /// Close the connection, for this reason.
    Deny(String),
    /// A plugin sends the connection to this TCP service.
    Route(String),
}

/// Runs `middlewares` in order; `guards` receives the `inFlightConn` slots to hold for the
/// life of the connection.
pub async fn run(
    middlewares: &[Arc<TcpMiddlewareRt>],
    facts: &ConnFacts,
    guards: &mut Vec<InFlightGuard>,
) -> Decision {
    let ip = facts.client.ip().to_canonical();
    for m in middlewares {
        match &**m {
            TcpMiddlewareRt::IpAllowList(set) => {
                if !set.contains(ip) {
                    return Decision::Deny(format!("{ip} is not in ipAllowList"));
                }
            }
            TcpMiddlewareRt::InFlightConn(limit) => match limit.acquire(ip) {
                Some(g) => guards.push(g),
                None => {
                    return Decision::Deny(format!(
                        "{ip} already has {} connections (inFlightConn)",
                        limit.amount
                    ));
                }
            },
            TcpMiddlewareRt::Plugin(p) => {
                let info = ConnectionInfo {
                    client_addr: facts.client,
                    sni: facts.sni.clone(),
                    alpn: facts.alpn.clone(),
                };
                match p.plugin.on_connect(&info).await {
                    Ok(TcpAction::Allow) => {}
                    Ok(TcpAction::Deny) => {
                        return Decision::Deny(format!("denied by plugin `{}`", p.plugin.name()));
                    }
                    Ok(TcpAction::Route(service)) => return Decision::Route(service),
                    Err(e) => {
                        tracing::error!(plugin = p.plugin.name(), error = %e, "tcp-filter call failed");
                        if !p.fail_open {
                            return Decision::Deny(format!("plugin `{}` failed", p.plugin.name()));
                        }
                    }
                }
            }
        }
    }
    Decision::Continue
}
