//! The cap on a plugin's live instances: a counter taken and given back with
//! one atomic operation each. It replaces a semaphore whose release took a
//! lock on every request; waiting (all instances busy) is the rare case and
//! parks on a [`Notify`] with a timeout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Up to `max` slots, each allowing one live instance to be in use.
pub(crate) struct Slots {
    used: AtomicUsize,
    max: usize,
    waiters: AtomicUsize,
    freed: Notify,
}

/// A taken slot; dropping it gives the slot back.
pub(crate) struct Slot<'a>(&'a Slots);

impl Slot<'_> {
    /// Keeps the slot taken after the guard is gone; the owner gives it back
    /// with [`Slots::give`].
    pub(crate) fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.give();
    }
}

impl Slots {
    pub(crate) fn new(max: usize) -> Self {
        Slots {
            used: AtomicUsize::new(0),
            max,
            waiters: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// Takes a slot if one is free, without waiting.
    pub(crate) fn try_take(&self) -> Option<Slot<'_>> {
        let mut used = self.used.load(Ordering::SeqCst);
        while used < self.max {
            match self.used.compare_exchange_weak(
                used,
                used + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return Some(Slot(self)),
                Err(now) => used = now,
            }
        }
        None
    }

    /// Takes a slot, waiting up to `wait` for one to be given back.
    pub(crate) async fn take(&self, wait: Duration) -> Option<Slot<'_>> {
        if let Some(s) = self.try_take() {
            return Some(s);
        }
        let deadline = tokio::time::Instant::now() + wait;
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let got = loop {
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before the check: a slot given back after it
            // wakes this waiter (or leaves a permit in `freed`).
            freed.as_mut().enable();
            if let Some(s) = self.try_take() {
                break Some(s);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                break self.try_take();
            }
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        got
    }

    /// Gives a slot back (for slots kept with [`Slot::keep`]).
    pub(crate) fn give(&self) {
        self.used.fetch_sub(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::Slots;

    #[test]
    fn at_most_max_are_taken() {
        let s = Slots::new(2);
        let a = s.try_take();
        let b = s.try_take();
        assert!(a.is_some() && b.is_some());
        assert!(s.try_take().is_none());
        drop(a);
        assert!(s.try_take().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_gets_the_slot_given_back_and_times_out_otherwise() {
        let s = Arc::new(Slots::new(1));
        let held = s.try_take().expect("free");
        held.keep();
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.take(Duration::from_secs(5)).await.map(|g| g.keep()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        s.give();
        assert!(waiter.await.unwrap().is_some(), "woken by the give");
        let start = tokio::time::Instant::now();
        assert!(s.take(Duration::from_millis(100)).await.is_none());
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_tasks_never_hold_more_than_max() {
        let s = Arc::new(Slots::new(3));
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (s, inside) = (s.clone(), inside.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..200 {
                    let slot = s.take(Duration::from_secs(10)).await.expect("a slot");
                    let n = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    assert!(n < 3, "{} inside", n + 1);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    drop(slot);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
}
