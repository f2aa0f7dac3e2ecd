//! Host index shared by the HTTP and TCP route tables.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::host::strip_dot;

/// A host index key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum HostKey {
    /// The request host, lower-cased, without trailing dot.
    Exact(Box<str>),
    /// The request host minus its first label (for `*.suffix`).
    Parent(Box<str>),
}

/// Fast non-keyed hash for the host index. Keys come from configuration,
/// so request input cannot grow or degrade the maps.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Map = HashMap<Box<str>, Box<[u32]>, BuildHasherDefault<FxHasher>>;

/// Route positions (in priority order) bucketed by the host they require.
#[derive(Debug, Default)]
pub(crate) struct HostIndex {
    exact: Map,
    parent: Map,
    generic: Box<[u32]>,
}

impl HostIndex {
    /// Builds the index from each route's host keys, in priority order.
    /// `None` (or no keys) puts the route in the generic list.
    pub fn build(keys: impl Iterator<Item = Option<Vec<HostKey>>>) -> HostIndex {
        let mut exact: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut parent: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut generic = Vec::new();
        for (i, k) in keys.enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX - 1);
            match k {
                Some(keys) if !keys.is_empty() => {
                    for k in keys {
                        let (map, key) = match k {
                            HostKey::Exact(h) => (&mut exact, h),
                            HostKey::Parent(h) => (&mut parent, h),
                        };
                        let bucket = map.entry(key).or_default();
                        if bucket.last() != Some(&i) {
                            bucket.push(i);
                        }
                    }
                }
                _ => generic.push(i),
            }
        }
        let freeze = |m: HashMap<Box<str>, Vec<u32>>| -> Map {
            m.into_iter().map(|(k, v)| (k, v.into())).collect()
        };
        HostIndex {
            exact: freeze(exact),
            parent: freeze(parent),
            generic: generic.into(),
        }
    }

    /// The first position, in priority order, among the candidates for
    /// `host` for which `test` holds. Allocation-free for hosts up to 256
    /// bytes.
    pub fn first(&self, host: &str, mut test: impl FnMut(usize) -> bool) -> Option<usize> {
        if self.exact.is_empty() && self.parent.is_empty() {
            return merge(&[], &[], &self.generic, test);
        }
        let mut buf = [0u8; 256];
        let owned;
        let host: &str = if !host.bytes().any(|b| b.is_ascii_uppercase()) {
            host
        } else if host.len() <= buf.len() {
            let b = &mut buf[..host.len()];
            b.copy_from_slice(host.as_bytes());
            b.make_ascii_lowercase();
            std::str::from_utf8(b).unwrap_or(host)
        } else {
            owned = host.to_ascii_lowercase();
            &owned
        };
        let key = strip_dot(host);
        let exact = self.exact.get(key).map_or(&[][..], |b| &b[..]);
        let parent = match key.split_once('.') {
            Some((label, rest)) if !label.is_empty() => {
                self.parent.get(rest).map_or(&[][..], |b| &b[..])
            }
            _ => &[][..],
        };
        merge(exact, parent, &self.generic, &mut test)
    }

    /// Sizes of the exact buckets, the parent buckets and the generic list.
    #[cfg(test)]
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.exact.len(), self.parent.len(), self.generic.len())
    }
}

/// Walks three ascending position lists in merged order (duplicates once).
fn merge(a: &[u32], b: &[u32], c: &[u32], mut test: impl FnMut(usize) -> bool) -> Option<usize> {
    let (mut i, mut j, mut k) = (0, 0, 0);
    loop {
        let x = a.get(i).copied().unwrap_or(u32::MAX);
        let y = b.get(j).copied().unwrap_or(u32::MAX);
        let z = c.get(k).copied().unwrap_or(u32::MAX);
        let m = x.min(y).min(z);
        if m == u32::MAX {
            return None;
        }
        i += usize::from(x == m);
        j += usize::from(y == m);
        k += usize::from(z == m);
        if test(m as usize) {
            return Some(m as usize);
        }
    }
}

/// Sorts items by priority (descending), rank (ascending), name
/// (ascending), keeping insertion order for full ties.
pub(crate) fn sort_routes<R>(routes: Vec<R>, key: impl Fn(&R) -> (i64, u32, &str)) -> Vec<R> {
    let mut keyed: Vec<(i64, R)> = routes.into_iter().map(|r| (key(&r).0, r)).collect();
    keyed.sort_by(|(pa, a), (pb, b)| {
        let (_, ra, na) = key(a);
        let (_, rb, nb) = key(b);
        pb.cmp(pa).then(ra.cmp(&rb)).then_with(|| na.cmp(nb))
    });
    keyed.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_walks_in_order_without_duplicates() {
        let mut seen = Vec::new();
        let r = merge(&[1, 4], &[1, 3], &[0, 5], |i| {
            seen.push(i);
            false
        });
        assert_eq!(r, None);
        assert_eq!(seen, vec![0, 1, 3, 4, 5]);
    }

    #[test]
    fn lookup_uses_exact_and_parent_buckets() {
        let idx = HostIndex::build(
            vec![
                Some(vec![HostKey::Exact("a.example.com".into())]),
                None,
                Some(vec![HostKey::Parent("example.com".into())]),
                Some(vec![HostKey::Exact("b.example.com".into())]),
            ]
            .into_iter(),
        );
        let candidates = |host: &str| {
            let mut seen = Vec::new();
            idx.first(host, |i| {
                seen.push(i);
                false
            });
            seen
        };
        assert_eq!(candidates("A.Example.COM."), vec![0, 1, 2]);
        assert_eq!(candidates("x.example.com"), vec![1, 2]);
        assert_eq!(candidates("example.com"), vec![1]);
        assert_eq!(candidates(""), vec![1]);
        assert_eq!(idx.shape(), (2, 1, 1));
    }
}
