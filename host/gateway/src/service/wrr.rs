//! Smooth weighted round robin without a lock.
//!
//! The smooth sequence (nginx's algorithm: no server gets two picks in a row unless its weight
//! demands it) is computed once when the balancer is built; picking is one atomic increment.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The longest schedule kept; larger weight sums are scaled down to fit.
const MAX_SCHEDULE: u64 = 4096;

/// A weighted round-robin balancer over `T`.
#[derive(Debug)]
pub struct Wrr<T> {
    items: Vec<T>,
    schedule: Box<[u32]>,
    next: AtomicUsize,
}

impl<T> Wrr<T> {
    /// Builds the balancer. Items with weight 0 are never picked.
    pub fn new(weighted: Vec<(T, u32)>) -> Self {
        let weights = scale(weighted.iter().map(|(_, w)| u64::from(*w)).collect());
        let schedule = smooth_schedule(&weights);
        Wrr {
            items: weighted.into_iter().map(|(t, _)| t).collect(),
            schedule: schedule.into_boxed_slice(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next item, or `None` when every weight is 0 or there are no items.
    pub fn pick(&self) -> Option<&T> {
        if self.schedule.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let idx = self.schedule[n % self.schedule.len()] as usize;
        self.items.get(idx)
    }

    /// All items, in configuration order.
    pub fn items(&self) -> &[T] {
        &self.items
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn scale(mut weights: Vec<u64>) -> Vec<u64> {
    let g = weights.iter().copied().fold(0, gcd);
    if g > 1 {
        weights.iter_mut().for_each(|w| *w /= g);
    }
    let total: u64 = weights.iter().sum();
    if total > MAX_SCHEDULE {
        for w in weights.iter_mut().filter(|w| **w > 0) {
            *w = (*w * MAX_SCHEDULE / total).max(1);
        }
    }
    weights
}

fn smooth_schedule(weights: &[u64]) -> Vec<u32> {
    let total: i64 = weights.iter().map(|w| *w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += *w as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best as u32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_and_proportional() {
        let wrr = Wrr::new(vec![("a", 5), ("b", 1), ("c", 1)]);
        let picks: Vec<&str> = (0..7).map(|_| *wrr.pick().unwrap()).collect();
        assert_eq!(picks, ["a", "a", "b", "a", "c", "a", "a"]);
    }

    #[test]
    fn zero_weights_are_skipped_and_all_zero_is_none() {
        let wrr = Wrr::new(vec![("a", 0), ("b", 2)]);
        assert!((0..10).all(|_| *wrr.pick().unwrap() == "b"));
        assert!(Wrr::new(vec![("a", 0)]).pick().is_none());
        assert!(Wrr::<&str>::new(vec![]).pick().is_none());
    }

    #[test]
    fn huge_weights_keep_their_ratio() {
        let wrr = Wrr::new(vec![("a", 3_000_000), ("b", 1_000_000), ("c", 7)]);
        let mut counts = [0usize; 3];
        for _ in 0..wrr.schedule.len() {
            let picked = *wrr.pick().unwrap();
            let i = ["a", "b", "c"].iter().position(|x| *x == picked).unwrap();
            counts[i] += 1;
        }
        assert!((counts[0] as f64 / counts[1] as f64 - 3.0).abs() < 0.01);
        assert_eq!(counts[2], 1);
    }
}
