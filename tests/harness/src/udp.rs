//! [`UdpEchoBackend`]: echoes datagrams.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::UdpSocket;

use crate::lifecycle::{Shutdown, lifecycle};

/// Configures a [`UdpEchoBackend`] before it starts.
#[derive(Clone, Debug)]
pub struct UdpEchoBackendBuilder {
    name: String,
    prefix: bool,
    report_peer: bool,
}

/// A UDP echo server on `127.0.0.1:0`: answers each datagram to its sender,
/// optionally prefixed with `NAME:`. Stops when dropped.
#[derive(Debug)]
pub struct UdpEchoBackend {
    name: String,
    addr: SocketAddr,
    datagrams: Arc<AtomicUsize>,
    shutdown: Shutdown,
}

impl UdpEchoBackend {
    /// Starts configuring a backend called `name`.
    pub fn builder(name: impl Into<String>) -> UdpEchoBackendBuilder {
        UdpEchoBackendBuilder {
            name: name.into(),
            prefix: false,
            report_peer: false,
        }
    }

    /// The backend's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bound address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many datagrams have been received so far.
    pub fn datagrams(&self) -> usize {
        self.datagrams.load(Ordering::SeqCst)
    }

    /// Stops serving and waits until the socket is closed. Dropping the
    /// backend does the same without waiting.
    pub async fn shutdown(self) {
        self.shutdown.shutdown().await;
    }
}

impl UdpEchoBackendBuilder {
    /// Prefixes every answer with `NAME:` so tests can tell backends apart.
    pub fn prefix_name(mut self, prefix: bool) -> Self {
        self.prefix = prefix;
        self
    }

    /// Starts every answer with the sender's address and a space (after the name prefix, if
    /// any), e.g. `127.0.0.1:40000 hello`, so tests can see which socket a datagram came from.
    pub fn report_peer(mut self, report: bool) -> Self {
        self.report_peer = report;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(self) -> UdpEchoBackend {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = socket.local_addr().expect("local address");
        let datagrams = Arc::new(AtomicUsize::new(0));
        let prefix = if self.prefix {
            format!("{}:", self.name).into_bytes()
        } else {
            Vec::new()
        };
        let counter = datagrams.clone();
        let report_peer = self.report_peer;
        let (shutdown, spawner) = lifecycle();
        spawner.spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                let (n, peer) = match socket.recv_from(&mut buf).await {
                    Ok(received) => received,
                    Err(error) => {
                        // ICMP errors from earlier sends surface here on some
                        // platforms; they do not end the server.
                        tracing::debug!(%error, "udp echo receive failed");
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        continue;
                    }
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut answer = Vec::with_capacity(prefix.len() + n);
                answer.extend_from_slice(&prefix);
                if report_peer {
                    answer.extend_from_slice(format!("{peer} ").as_bytes());
                }
                answer.extend_from_slice(&buf[..n]);
                if let Err(error) = socket.send_to(&answer, peer).await {
                    tracing::debug!(%error, %peer, "udp echo send failed");
                }
            }
        });
        tracing::debug!(name = %self.name, %addr, "udp echo backend listening");
        UdpEchoBackend {
            name: self.name,
            addr,
            datagrams,
            shutdown,
        }
    }
}
