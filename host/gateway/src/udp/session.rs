//! One UDP session: a client address, its dedicated upstream socket and the task relaying the
//! upstream's replies back to the client until the session is idle for the timeout.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The largest UDP payload.
pub(super) const MAX_DATAGRAM: usize = 65_535;

/// `activity` of a session that has expired: no datagram may use it any more.
const CLOSED: u64 = u64::MAX;

thread_local! {
    /// The buffer replies are received into: one per worker thread, reused, never held
    /// across an await.
    static REPLY_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; MAX_DATAGRAM].into_boxed_slice());
}

/// What the listener and the session's task share.
#[derive(Debug)]
pub(super) struct Session {
    /// Tells this session from a later one of the same client.
    pub(super) id: u64,
    /// Connected to the server picked when the session began.
    pub(super) upstream: UdpSocket,
    /// Milliseconds from the listener's clock origin to the last datagram either way, or
    /// [`CLOSED`].
    activity: AtomicU64,
}

impl Session {
    /// A session on `upstream`, active at `now_ms`.
    pub(super) fn new(id: u64, upstream: UdpSocket, now_ms: u64) -> Self {
        Session {
            id,
            upstream,
            activity: AtomicU64::new(now_ms),
        }
    }

    /// Records a datagram from the client; `false` if the session has already expired.
    pub(super) fn touch(&self, now_ms: u64) -> bool {
        self.activity
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v != CLOSED).then_some(v.max(now_ms))
            })
            .is_ok()
    }

    /// Closes the session if it has been idle since `last`; `false` if a datagram came since.
    fn expire(&self, last: u64) -> bool {
        self.activity
            .compare_exchange(last, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Everything a session's task needs besides its session.
pub(super) struct Relay {
    /// The entrypoint's socket, replies are sent from it.
    pub(super) listener: Arc<UdpSocket>,
    /// The client of the session.
    pub(super) client: SocketAddr,
    /// The listener's clock origin.
    pub(super) origin: Instant,
    /// Idle time after which the session ends.
    pub(super) timeout: Duration,
    /// Where the session reports that it ended: (client, session id).
    pub(super) ended: mpsc::UnboundedSender<(SocketAddr, u64)>,
    /// Set when the gateway stops.
    pub(super) stop: watch::Receiver<bool>,
}

/// Milliseconds from `origin` to now.
pub(super) fn now_ms(origin: Instant) -> u64 {
    origin.elapsed().as_millis() as u64
}

/// Relays the upstream's replies to the client until the session is idle for the timeout or
/// the gateway stops, then reports the end to the listener.
pub(super) async fn run(session: Arc<Session>, mut relay: Relay) {
    let timeout_ms = relay.timeout.as_millis() as u64;
    loop {
        let last = session.activity.load(Ordering::Acquire);
        let deadline = relay.origin + Duration::from_millis(last.saturating_add(timeout_ms));
        tokio::select! {
            ready = session.upstream.readable() => {
                if let Err(error) = ready {
                    tracing::debug!(client = %relay.client, %error, "UDP upstream socket failed");
                    break;
                }
                drain(&session, &relay);
            }
            () = tokio::time::sleep_until(deadline) => {
                let idle = now_ms(relay.origin).saturating_sub(last);
                if idle >= timeout_ms && session.expire(last) {
                    break;
                }
            }
            _ = relay.stop.changed() => break,
        }
    }
    tracing::debug!(client = %relay.client, "UDP session ended");
    let _ = relay.ended.send((relay.client, session.id));
}

/// Sends every reply waiting on the upstream socket to the client.
fn drain(session: &Session, relay: &Relay) {
    REPLY_BUF.with_borrow_mut(|buf| {
        loop {
            match session.upstream.try_recv(buf) {
                Ok(n) => {
                    session
                        .activity
                        .fetch_max(now_ms(relay.origin), Ordering::AcqRel);
                    // Straight to the non-blocking socket, as in `listener::forward`.
                    let to = socket2::SockAddr::from(relay.client);
                    let sent = socket2::SockRef::from(&*relay.listener).send_to(&buf[..n], &to);
                    if let Err(error) = sent {
                        tracing::debug!(client = %relay.client, %error, "UDP reply dropped");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    // An ICMP error for an earlier datagram (no server listening): UDP loses
                    // the datagram, the session goes on.
                    tracing::debug!(client = %relay.client, %error, "UDP upstream error");
                    return;
                }
            }
        }
    });
}
