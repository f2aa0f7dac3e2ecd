//! [`TcpEchoBackend`]: echoes bytes on raw TCP connections; [`ProxyHeaderBackend`]: reports
//! the PROXY protocol header a connection starts with, then echoes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::lifecycle::{Shutdown, Spawner, lifecycle};

/// A TCP echo server on `127.0.0.1:0`. It writes back every byte it reads;
/// after reading EOF (the client's half-close) it finishes writing, then
/// shuts down its own write side. Closes everything when dropped.
#[derive(Debug)]
pub struct TcpEchoBackend {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    shutdown: Shutdown,
}

impl TcpEchoBackend {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start() -> TcpEchoBackend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let connections = Arc::new(AtomicUsize::new(0));
        let (shutdown, spawner) = lifecycle();
        spawner.spawn(accept_loop(listener, connections.clone(), spawner.clone()));
        tracing::debug!(%addr, "tcp echo backend listening");
        TcpEchoBackend {
            addr,
            connections,
            shutdown,
        }
    }

    /// The bound address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections have been accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Closes the listener and every connection and waits until they are
    /// gone. Dropping the backend does the same without waiting.
    pub async fn shutdown(self) {
        self.shutdown.shutdown().await;
    }
}

async fn accept_loop(listener: TcpListener, connections: Arc<AtomicUsize>, spawner: Spawner) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        connections.fetch_add(1, Ordering::SeqCst);
        spawner.spawn(async move {
            if let Err(error) = echo(stream).await {
                tracing::debug!(%error, "tcp echo connection failed");
            }
        });
    }
}

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            // The peer half-closed: everything read has been written back.
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// A TCP server on `127.0.0.1:0` for connections that start with a PROXY
/// protocol header (v1 or v2). It answers each connection with one line,
/// `v1 <source ip:port>\n`, `v2 <source ip:port>\n`, `none\n` when the
/// connection does not start with a header, or `bad\n`; then it echoes
/// like [`TcpEchoBackend`].
#[derive(Debug)]
pub struct ProxyHeaderBackend {
    addr: SocketAddr,
    shutdown: Shutdown,
}

impl ProxyHeaderBackend {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start() -> ProxyHeaderBackend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, spawner) = lifecycle();
        let inner = spawner.clone();
        spawner.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                inner.spawn(async move {
                    if let Err(error) = report_then_echo(stream).await {
                        tracing::debug!(%error, "proxy header connection failed");
                    }
                });
            }
        });
        ProxyHeaderBackend { addr, shutdown }
    }

    /// The bound address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes the listener and every connection and waits until they are gone.
    pub async fn shutdown(self) {
        self.shutdown.shutdown().await;
    }
}

const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

async fn report_then_echo(mut stream: TcpStream) -> std::io::Result<()> {
    let mut head = [0u8; 16];
    stream.read_exact(&mut head[..6]).await?;
    let line = if &head[..6] == b"PROXY " {
        let mut text = b"PROXY ".to_vec();
        while !text.ends_with(b"\r\n") && text.len() < 108 {
            text.push(stream.read_u8().await?);
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        let parts: Vec<&str> = text.trim_end().split(' ').collect();
        match parts.as_slice() {
            ["PROXY", "TCP4" | "TCP6", src, _, sport, _] => format!("v1 {}\n", join(src, sport)),
            _ => "bad\n".to_owned(),
        }
    } else if head[..6] == V2_SIGNATURE[..6] {
        stream.read_exact(&mut head[6..]).await?;
        let len = usize::from(u16::from_be_bytes([head[14], head[15]]));
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await?;
        let source = match head[13] >> 4 {
            1 if len >= 12 => Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(body[0], body[1], body[2], body[3])),
                u16::from_be_bytes([body[8], body[9]]),
            )),
            2 if len >= 36 => {
                let mut ip = [0u8; 16];
                ip.copy_from_slice(&body[..16]);
                Some(SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(ip)),
                    u16::from_be_bytes([body[32], body[33]]),
                ))
            }
            _ => None,
        };
        match (head[..12] == *V2_SIGNATURE, source) {
            (true, Some(s)) => format!("v2 {s}\n"),
            _ => "bad\n".to_owned(),
        }
    } else {
        // Not a header: those bytes belong to the stream and are echoed.
        stream.write_all(b"none\n").await?;
        stream.write_all(&head[..6]).await?;
        return echo(stream).await;
    };
    stream.write_all(line.as_bytes()).await?;
    echo(stream).await
}

fn join(ip: &str, port: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port.parse().unwrap_or(0)).to_string(),
        Err(_) => format!("{ip}:{port}"),
    }
}
