//! A UDP entrypoint: receives datagrams, finds or opens the client's session, forwards.

use super::session::{self, MAX_DATAGRAM, Relay, Session};
use crate::runtime::Live;
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Sessions an entrypoint keeps open at once unless `udp.maxSessions` says otherwise.
pub const DEFAULT_MAX_SESSIONS: usize = 4096;

/// A bound UDP entrypoint, ready to serve.
#[derive(Debug)]
pub struct UdpEntryPoint {
    name: Arc<str>,
    socket: Arc<UdpSocket>,
    timeout: Duration,
    max_sessions: usize,
}

impl UdpEntryPoint {
    /// Binds `addr` for entrypoint `name`: sessions end after `timeout` without a datagram
    /// either way, and at most `max_sessions` are open at once.
    pub async fn bind(
        name: &str,
        addr: SocketAddr,
        timeout: Duration,
        max_sessions: usize,
    ) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        Ok(UdpEntryPoint {
            name: Arc::from(name),
            socket: Arc::new(socket),
            timeout,
            max_sessions,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Serves until `stop` turns true; open sessions end with it.
    pub async fn serve(self, live: Arc<Live>, mut stop: watch::Receiver<bool>) {
        let (ended_tx, mut ended) = mpsc::unbounded_channel();
        let mut state = State {
            sessions: HashMap::new(),
            next_id: 0,
            origin: Instant::now(),
            ended: ended_tx,
            refused: Throttled::default(),
            unrouted: Throttled::default(),
        };
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((n, client)) => self.datagram(&mut state, &live, &stop, client, &buf[..n]),
                    Err(error) => {
                        tracing::debug!(entrypoint = %self.name, %error, "UDP receive failed");
                    }
                },
                Some((client, id)) = ended.recv() => {
                    if state.sessions.get(&client).is_some_and(|s| s.id == id) {
                        state.sessions.remove(&client);
                    }
                }
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
            }
        }
        tracing::debug!(entrypoint = %self.name, "UDP entrypoint stopped");
    }

    fn datagram(
        &self,
        state: &mut State,
        live: &Live,
        stop: &watch::Receiver<bool>,
        client: SocketAddr,
        data: &[u8],
    ) {
        let now = session::now_ms(state.origin);
        if let Some(s) = state.sessions.get(&client) {
            if s.touch(now) {
                forward(s, client, data);
                return;
            }
            // It expired just now: the client starts a new session.
            state.sessions.remove(&client);
        }
        if state.sessions.len() >= self.max_sessions {
            if let Some(more) = state.refused.hit() {
                tracing::warn!(
                    entrypoint = %self.name,
                    %client,
                    max_sessions = self.max_sessions,
                    refused_since_last_report = more,
                    "UDP session limit reached; datagrams from new clients are dropped"
                );
            }
            return;
        }
        let config = live.config.load();
        let Some(route) = config.udp.route(&self.name) else {
            if let Some(more) = state.unrouted.hit() {
                tracing::warn!(entrypoint = %self.name, %client, dropped_since_last_report = more, "no UDP router for this entrypoint; datagram dropped");
            }
            return;
        };
        let Some(server) = route.service.pick() else {
            if let Some(more) = state.unrouted.hit() {
                tracing::warn!(entrypoint = %self.name, router = %route.router, service = route.service.name(), dropped_since_last_report = more, "UDP service has no server; datagram dropped");
            }
            return;
        };
        let upstream = match connect(server) {
            Ok(s) => s,
            Err(error) => {
                if let Some(more) = state.refused.hit() {
                    tracing::error!(entrypoint = %self.name, router = %route.router, service = route.service.name(), %server, %error, refused_since_last_report = more, "cannot open a UDP upstream socket");
                }
                return;
            }
        };
        tracing::debug!(entrypoint = %self.name, router = %route.router, %client, %server, "UDP session started");
        state.next_id += 1;
        let s = Arc::new(Session::new(state.next_id, upstream, now));
        forward(&s, client, data);
        let relay = Relay {
            listener: self.socket.clone(),
            client,
            origin: state.origin,
            timeout: self.timeout,
            ended: state.ended.clone(),
            stop: stop.clone(),
        };
        tokio::spawn(session::run(s.clone(), relay));
        state.sessions.insert(client, s);
    }
}

struct State {
    sessions: HashMap<SocketAddr, Arc<Session>>,
    next_id: u64,
    origin: Instant,
    ended: mpsc::UnboundedSender<(SocketAddr, u64)>,
    refused: Throttled,
    unrouted: Throttled,
}

/// A socket of its own for a session, connected to `server` (bind and connect do not block
/// for UDP).
fn connect(server: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = std::net::UdpSocket::bind(local)?;
    socket.connect(server)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Sends a client's datagram upstream; a full socket buffer drops it, as the network would.
/// The send goes straight to the non-blocking socket: a UDP send never waits for
/// writability, so the reactor's readiness is not consulted.
fn forward(s: &Session, client: SocketAddr, data: &[u8]) {
    if let Err(error) = socket2::SockRef::from(&s.upstream).send(data) {
        tracing::debug!(%client, %error, "UDP datagram to upstream dropped");
    }
}

/// Lets a repeated log line through at most once a second, counting the ones held back.
#[derive(Default)]
struct Throttled {
    last: Option<Instant>,
    held_back: u64,
}

impl Throttled {
    /// `Some(lines held back since the last one)` when this one may be logged.
    fn hit(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

impl UdpEntryPoint {
    /// Binds entrypoint `name` if its address is a `/udp` one; `None` for a TCP entrypoint.
    pub async fn for_config(
        name: &str,
        ep: &wasmgate_config::EntryPoint,
    ) -> anyhow::Result<Option<Self>> {
        use anyhow::Context;
        let is_udp = ep
            .address
            .rsplit_once('/')
            .is_some_and(|(_, p)| p.eq_ignore_ascii_case("udp"));
        if !is_udp {
            return Ok(None);
        }
        let addr = crate::gateway::parse_address(&ep.address)
            .with_context(|| format!("entrypoint `{name}`"))?;
        let timeout = ep.udp.timeout.to_std_nonzero().with_context(|| {
            format!("entrypoint `{name}`: udp.timeout must be greater than zero")
        })?;
        let max_sessions = ep.udp.max_sessions.map_or(DEFAULT_MAX_SESSIONS, |m| {
            usize::try_from(m).unwrap_or(usize::MAX)
        });
        let bound = Self::bind(name, addr, timeout, max_sessions)
            .await
            .with_context(|| format!("entrypoint `{name}`: cannot listen on {addr}/udp"))?;
        tracing::info!(entrypoint = %name, address = %bound.local_addr()?, "listening (UDP)");
        Ok(Some(bound))
    }
}
