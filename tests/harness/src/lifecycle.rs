//! Task ownership for backends: every task a backend spawns (accept loop,
//! connections, HTTP/2 streams, upgraded sockets) stops when the backend's
//! [`Shutdown`] is dropped, and [`Shutdown::shutdown`] waits until they have.

use std::future::Future;

use tokio::sync::{mpsc, watch};

/// Owned by a backend. Dropping it cancels every task spawned through the
/// matching [`Spawner`]s; the tasks drop their sockets, which closes them.
#[derive(Debug)]
pub(crate) struct Shutdown {
    stop: watch::Sender<bool>,
    finished: mpsc::Receiver<()>,
}

/// Spawns tasks that end when the owning [`Shutdown`] says so.
///
/// Each clone keeps the backend "busy": a backend must never hold a spawner
/// itself, only the tasks it runs.
#[derive(Clone, Debug)]
pub(crate) struct Spawner {
    stop: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
}

/// A new owner and the spawner its tasks use.
pub(crate) fn lifecycle() -> (Shutdown, Spawner) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (alive, finished) = mpsc::channel(1);
    (
        Shutdown {
            stop: stop_tx,
            finished,
        },
        Spawner {
            stop: stop_rx,
            _alive: alive,
        },
    )
}

impl Shutdown {
    /// Stops every task and waits until all of them have dropped their
    /// resources.
    pub(crate) async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // `recv` yields `None` once every `Spawner` clone (one per live task)
        // is gone.
        while self.finished.recv().await.is_some() {}
    }
}

impl Spawner {
    /// Runs `fut` on the runtime until it completes or the owner stops.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let this = self.clone();
        tokio::spawn(async move {
            let mut stop = this.stop.clone();
            tokio::select! {
                // Returns at once if the stop already happened, and with an
                // error if the owner was dropped: both mean "stop".
                _ = stop.wait_for(|stopped| *stopped) => {}
                _ = fut => {}
            }
            drop(this);
        });
    }
}

/// A hyper executor whose tasks (HTTP/2 streams) belong to a backend.
#[derive(Clone, Debug)]
pub(crate) struct GuardedExecutor(pub(crate) Spawner);

impl<F> hyper::rt::Executor<F> for GuardedExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.0.spawn(fut);
    }
}
