//! Moving bytes both ways between two connections, with half-close.
//!
//! When one side finishes sending (FIN, or a TLS close), the other side's write half is shut
//! down and the opposite direction keeps flowing until it ends too. Between two plain TCP
//! sockets on Linux the bytes go through a pipe with `splice(2)` and never reach user space;
//! anything else (TLS streams, other systems) is copied through a buffer.

use std::io;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream the relay can carry: anything readable and writable.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One end of a relay: a plain TCP socket (eligible for zero-copy) or any other stream.
pub enum Stream {
    /// A plain TCP socket.
    Tcp(TcpStream),
    /// Any other stream (TLS, a stream with replayed bytes in front).
    Other(Box<dyn Io>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Tcp(_) => "Stream::Tcp",
            Stream::Other(_) => "Stream::Other",
        })
    }
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Self {
        Stream::Tcp(s)
    }
}

impl Stream {
    /// Wraps any stream.
    pub fn other(io: impl Io + 'static) -> Self {
        Stream::Other(Box::new(io))
    }
}

/// Relays between `client` and `upstream` until both directions have ended; returns the
/// bytes sent (client to upstream, upstream to client).
pub async fn relay(client: Stream, upstream: Stream) -> io::Result<(u64, u64)> {
    relay_with(client, upstream, None).await
}

/// Like [`relay`], but once one direction has ended the other gets at most
/// `termination_delay` to end too (Traefik's `terminationDelay`); `None` waits for ever.
pub async fn relay_with(
    client: Stream,
    upstream: Stream,
    termination_delay: Option<Duration>,
) -> io::Result<(u64, u64)> {
    match (client, upstream) {
        #[cfg(target_os = "linux")]
        (Stream::Tcp(a), Stream::Tcp(b)) if splice::enabled() => {
            let up = splice::one_way(&a, &b);
            let down = splice::one_way(&b, &a);
            both(up, down, termination_delay).await
        }
        (a, b) => {
            let (mut a, mut b) = (into_io(a), into_io(b));
            let (ar, aw) = tokio::io::split(&mut a);
            let (br, bw) = tokio::io::split(&mut b);
            let up = copy_then_shutdown(ar, bw);
            let down = copy_then_shutdown(br, aw);
            both(up, down, termination_delay).await
        }
    }
}

fn into_io(s: Stream) -> Box<dyn Io> {
    match s {
        Stream::Tcp(t) => Box::new(t),
        Stream::Other(o) => o,
    }
}

/// Runs both directions; an error in either ends both.
async fn both<U, D>(up: U, down: D, delay: Option<Duration>) -> io::Result<(u64, u64)>
where
    U: Future<Output = io::Result<u64>>,
    D: Future<Output = io::Result<u64>>,
{
    let mut up: Pin<&mut U> = std::pin::pin!(up);
    let mut down: Pin<&mut D> = std::pin::pin!(down);
    let (mut sent, mut received) = (None, None);
    while sent.is_none() || received.is_none() {
        tokio::select! {
            r = up.as_mut(), if sent.is_none() => sent = Some(r?),
            r = down.as_mut(), if received.is_none() => received = Some(r?),
        }
        if let (Some(d), true) = (delay, sent.is_some() != received.is_some()) {
            let rest = async {
                if sent.is_none() {
                    sent = Some(up.as_mut().await?);
                } else {
                    received = Some(down.as_mut().await?);
                }
                io::Result::Ok(())
            };
            match tokio::time::timeout(d, rest).await {
                Ok(r) => r?,
                Err(_) => {
                    tracing::debug!(delay = ?d, "termination delay over, closing");
                    break;
                }
            }
        }
    }
    Ok((sent.unwrap_or(0), received.unwrap_or(0)))
}

async fn copy_then_shutdown<R, W>(mut from: R, mut to: W) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    let n = tokio::io::copy(&mut from, &mut to).await?;
    // The peer may already be gone; the other direction reports real errors.
    let _ = to.shutdown().await;
    Ok(n)
}

#[cfg(target_os = "linux")]
mod splice {
    //! Zero-copy relay through a pipe.

    use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
    use std::io;
    use std::os::fd::{AsFd, OwnedFd};
    use std::sync::OnceLock;
    use tokio::io::Interest;
    use tokio::net::TcpStream;

    /// Bytes moved per `splice` call.
    const CHUNK: usize = 1 << 20;

    /// Zero-copy is on unless `WASMGATE_NO_SPLICE` is set (to compare with the copy path).
    pub(super) fn enabled() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| std::env::var_os("WASMGATE_NO_SPLICE").is_none())
    }

    fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        // A bigger pipe means fewer wake-ups; the default (64 KiB) still works.
        let _ = fcntl(&w, FcntlArg::F_SETPIPE_SZ(CHUNK as i32));
        Ok((r, w))
    }

    /// Moves `from`'s bytes to `to` until EOF, then shuts down `to`'s write half.
    pub(super) async fn one_way(from: &TcpStream, to: &TcpStream) -> io::Result<u64> {
        let (pipe_r, pipe_w) = pipe()?;
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        let mut total = 0u64;
        loop {
            let n = loop {
                from.readable().await?;
                match from.try_io(Interest::READABLE, || {
                    splice(from.as_fd(), None, &pipe_w, None, CHUNK, flags).map_err(io::Error::from)
                }) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                let _ = nix::sys::socket::shutdown(
                    std::os::fd::AsRawFd::as_raw_fd(to),
                    nix::sys::socket::Shutdown::Write,
                );
                return Ok(total);
            }
            let mut pending = n;
            while pending > 0 {
                to.writable().await?;
                match to.try_io(Interest::WRITABLE, || {
                    splice(&pipe_r, None, to.as_fd(), None, pending, flags).map_err(io::Error::from)
                }) {
                    Ok(m) => pending -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            }
            total += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair of plain TCP sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap());
        let (a, b) = tokio::join!(a, l.accept());
        (a.unwrap(), b.unwrap().0)
    }

    async fn half_close_through(wrap: fn(TcpStream) -> Stream) {
        let (mut client, gw_client) = pair().await;
        let (gw_up, mut server) = pair().await;
        let relay = tokio::spawn(relay(wrap(gw_client), wrap(gw_up)));
        let big = vec![7u8; 3 << 20];
        client.write_all(&big).await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), big.len());
        // The client's FIN reached the server; the other direction still flows.
        server.write_all(b"reply after FIN").await.unwrap();
        server.shutdown().await.unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"reply after FIN");
        let (up, down) = relay.await.unwrap().unwrap();
        assert_eq!((up, down), (big.len() as u64, 15));
    }

    #[tokio::test]
    async fn tcp_pair_half_closes() {
        half_close_through(Stream::Tcp).await;
    }

    #[tokio::test]
    async fn buffered_copy_half_closes() {
        half_close_through(Stream::other).await;
    }
}
