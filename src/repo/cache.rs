//! A small cache of verified, decompressed blobs, bounded in bytes (FIFO eviction).
//!
//! Versions of one document share most of their blobs; restoring them one after the other
//! reads and verifies each shared blob once instead of once per version.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

use crate::repo::id::BlobId;

/// Default capacity: 32 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Default)]
struct Inner {
    map: HashMap<BlobId, Bytes>,
    order: VecDeque<BlobId>,
    bytes: usize,
}

pub struct BlobCache {
    cap: usize,
    inner: Mutex<Inner>,
}

impl BlobCache {
    /// A cache holding at most `cap` bytes (0 disables it).
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Only blobs that were verified against their id may be inserted.
    pub fn get(&self, id: &BlobId) -> Option<Bytes> {
        if self.cap == 0 {
            return None;
        }
        self.lock().map.get(id).cloned()
    }

    /// Inserts a verified blob (blobs above 1/8 of the capacity are not cached).
    pub fn insert_verified(&self, id: BlobId, data: Bytes) {
        if data.len() > self.cap / 8 {
            return;
        }
        let mut g = self.lock();
        if g.map.contains_key(&id) {
            return;
        }
        g.bytes += data.len();
        g.map.insert(id, data);
        g.order.push_back(id);
        while g.bytes > self.cap {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            if let Some(b) = g.map.remove(&old) {
                g.bytes -= b.len();
            }
        }
    }

    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo() {
        let c = BlobCache::new(8000);
        for i in 0..100u8 {
            c.insert_verified(BlobId::of(&[i]), Bytes::from(vec![i; 1000]));
            assert!(c.bytes() <= 8000);
        }
        assert!(c.get(&BlobId::of(&[99])).is_some());
        assert!(c.get(&BlobId::of(&[0])).is_none());
        c.insert_verified(BlobId::of(b"big"), Bytes::from(vec![0; 1001]));
        assert!(c.get(&BlobId::of(b"big")).is_none());
        let off = BlobCache::new(0);
        off.insert_verified(BlobId::of(b"x"), Bytes::from_static(b"x"));
        assert!(off.get(&BlobId::of(b"x")).is_none());
    }
}
