//! The idle instances of one plugin: the one given back last is taken
//! first, so a plugin serving one request at a time keeps using one
//! instance whose memory, stack and store are still in the CPU's caches,
//! while a pool grown by a burst leaves its surplus untouched for the
//! trimmer. Lock-free: two bounded queues, no mutex.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_queue::ArrayQueue;

/// Idle instances: the last one given back, and the rest in order.
pub(crate) struct IdlePool<T> {
    /// The instance given back last (capacity one).
    hot: ArrayQueue<T>,
    /// The others, oldest first.
    rest: ArrayQueue<T>,
    /// The fewest instances `rest` held at once since the last trim: that
    /// many were not needed.
    low_rest: AtomicUsize,
}

impl<T> IdlePool<T> {
    /// A pool for at most `max` instances.
    pub(crate) fn new(max: usize) -> Self {
        IdlePool {
            hot: ArrayQueue::new(1),
            rest: ArrayQueue::new(max.max(1)),
            low_rest: AtomicUsize::new(0),
        }
    }

    /// The instance given back last, else the oldest other one.
    pub(crate) fn take(&self) -> Option<T> {
        if let Some(t) = self.hot.pop() {
            return Some(t);
        }
        let taken = self.rest.pop();
        // A plain load and store, not a read-modify-write: an approximate
        // low-water mark is enough for trimming and costs nothing here.
        let left = self.rest.len();
        if left < self.low_rest.load(Ordering::Relaxed) {
            self.low_rest.store(left, Ordering::Relaxed);
        }
        taken
    }

    /// Puts an instance back; it is the next one taken. Never drops one as
    /// long as no more than `max` exist.
    pub(crate) fn give(&self, t: T) {
        if let Some(older) = self.hot.force_push(t) {
            let _ = self.rest.push(older);
        }
    }

    /// How many are idle.
    pub(crate) fn len(&self) -> usize {
        self.hot.len() + self.rest.len()
    }

    /// Drops the instances that stayed unused since the last trim, keeping
    /// at least one idle. Returns how many were dropped.
    pub(crate) fn trim(&self) -> usize {
        let unneeded = self.low_rest.load(Ordering::Relaxed);
        let keep = usize::from(self.hot.is_empty());
        let n = unneeded.min(self.rest.len().saturating_sub(keep));
        let mut dropped = 0;
        while dropped < n && self.rest.pop().is_some() {
            dropped += 1;
        }
        self.low_rest.store(self.rest.len(), Ordering::Relaxed);
        dropped
    }

    /// Drops every idle instance. Returns how many were dropped.
    pub(crate) fn drain(&self) -> usize {
        let mut n = 0;
        while self.hot.pop().or_else(|| self.rest.pop()).is_some() {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_given_back_last_is_taken_first() {
        let pool = IdlePool::new(4);
        for i in 0..4 {
            pool.give(i);
        }
        assert_eq!(pool.len(), 4);
        // One request at a time: always the same instance.
        for _ in 0..3 {
            let t = pool.take().unwrap();
            assert_eq!(t, 3);
            pool.give(t);
        }
        // Two at once: the hot one, then the oldest of the rest.
        assert_eq!([pool.take(), pool.take()], [Some(3), Some(0)]);
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn trim_drops_what_stayed_unused_and_keeps_one() {
        let pool = IdlePool::new(8);
        for i in 0..6 {
            pool.give(i);
        }
        // The first trim only learns how many stay unused.
        assert_eq!(pool.trim(), 0);
        for _ in 0..10 {
            let t = pool.take().unwrap();
            pool.give(t);
        }
        assert_eq!(pool.trim(), 5);
        assert_eq!(pool.len(), 1);
        // The one left is the hot one, and it is never trimmed.
        assert_eq!(pool.trim(), 0);
        assert_eq!(pool.take(), Some(5));
        // Taken (in use) during a trim: one stays idle in the rest.
        let pool = IdlePool::new(8);
        for i in 0..3 {
            pool.give(i);
        }
        pool.trim();
        let busy = pool.take();
        assert_eq!(pool.trim(), 1);
        assert_eq!(pool.len(), 1);
        pool.give(busy.unwrap());
        assert_eq!(pool.drain(), 2);
        assert_eq!(pool.len(), 0);
    }
}
