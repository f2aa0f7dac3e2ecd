//! [`TcpEchoBackend`]: echoes bytes on raw TCP connections.

use std::net::SocketAddr;
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
