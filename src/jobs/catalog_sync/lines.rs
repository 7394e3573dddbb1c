//! Comparing two streams of JSON lines by 128-bit BLAKE3 prefixes: the lines of each blob one
//! by one ([`LineHashes`]) and the lines of either side not matched yet by the other
//! ([`Pending`]), whose end state is the multiset difference whatever the order of the lines.

use std::collections::HashMap;

use futures::StreamExt;

use crate::repo::RepoError;

pub(super) fn line_hash(line: &[u8]) -> u128 {
    let h = blake3::hash(line);
    u128::from_le_bytes(h.as_bytes()[..16].try_into().expect("16 bytes"))
}

/// The two streams compared: the parent's and the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Old,
    New,
}

/// Lines of one side not matched (yet) by an equal line of the other side. A hash is never
/// waiting on both sides at once: a line first takes a waiting line of the other side, so what
/// is left at the end is the multiset difference, whatever the order of the lines.
#[derive(Default)]
pub(super) struct Pending {
    lines: HashMap<u128, Waiting>,
    pub(super) len: u64,
    /// A side had a line twice: its copies may be in any of its blobs.
    repeated: [bool; 2],
}

#[derive(Clone, Copy)]
struct Waiting {
    side: Side,
    count: u32,
    /// The blob of its first copy (index among the side's differing blobs).
    blob: u32,
}

impl Pending {
    /// A line of `side` in blob `blob`: takes a waiting equal line of the other side, or waits.
    pub(super) fn offer(&mut self, side: Side, h: u128, blob: u32) {
        use std::collections::hash_map::Entry;
        match self.lines.entry(h) {
            Entry::Occupied(mut e) if e.get().side == side => {
                e.get_mut().count += 1;
                self.repeated[side as usize] = true;
                self.len += 1;
            }
            Entry::Occupied(mut e) => {
                self.len -= 1;
                if e.get().count == 1 {
                    e.remove();
                } else {
                    e.get_mut().count -= 1;
                }
            }
            Entry::Vacant(e) => {
                e.insert(Waiting {
                    side,
                    count: 1,
                    blob,
                });
                self.len += 1;
            }
        }
    }

    /// Takes one waiting line of `side` equal to `h`, if there is one.
    pub(super) fn take(&mut self, side: Side, h: u128) -> bool {
        match self.lines.get_mut(&h) {
            Some(w) if w.side == side => {
                w.count -= 1;
                if w.count == 0 {
                    self.lines.remove(&h);
                }
                self.len -= 1;
                true
            }
            _ => false,
        }
    }

    /// The blobs of `side` (of `count`) holding a waiting line, in stream order.
    pub(super) fn blobs(&self, side: Side, count: usize) -> Vec<u32> {
        if self.repeated[side as usize] {
            return (0..count as u32).collect();
        }
        let mut b: Vec<u32> = self
            .lines
            .values()
            .filter(|w| w.side == side)
            .map(|w| w.blob)
            .collect();
        b.sort_unstable();
        b.dedup();
        b
    }
}

/// The lines of a stream's blobs one by one, as hashes with the index of their blob; records
/// where each blob's lines start (for the record numbers of errors).
pub(super) struct LineHashes<S> {
    blobs: std::pin::Pin<Box<S>>,
    blob: bytes::Bytes,
    at: usize,
    /// Index of the first record of each blob read so far.
    pub(super) starts: Vec<u64>,
    records: u64,
}

impl<S: futures::Stream<Item = Result<bytes::Bytes, RepoError>>> LineHashes<S> {
    pub(super) fn new(blobs: S) -> Self {
        Self {
            blobs: Box::pin(blobs),
            blob: bytes::Bytes::new(),
            at: 0,
            starts: Vec::new(),
            records: 0,
        }
    }

    /// The next line's hash and blob, `None` at the end of the stream.
    pub(super) async fn next(&mut self) -> Result<Option<(u128, u32)>, RepoError> {
        loop {
            while self.at < self.blob.len() {
                let rest = &self.blob[self.at..];
                let len = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
                let line = &rest[..len];
                self.at += len + 1;
                if !line.is_empty() {
                    self.records += 1;
                    let blob = (self.starts.len() - 1) as u32;
                    return Ok(Some((line_hash(line), blob)));
                }
            }
            match self.blobs.next().await {
                Some(b) => {
                    self.blob = b?;
                    self.at = 0;
                    self.starts.push(self.records);
                }
                None => return Ok(None),
            }
        }
    }
}

pub(super) fn lines(blob: &[u8]) -> impl Iterator<Item = &[u8]> {
    blob.split(|b| *b == b'\n').filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines are hashed one by one across blobs, each with the index of its blob, and each
    /// blob's first record is numbered (empty lines skipped, a last line without `\n` kept).
    #[tokio::test]
    async fn line_hashes_number_blobs_and_records() {
        let blobs = [&b"a\nb\n"[..], b"\nc", b"d\ne\nf\n"];
        let stream =
            futures::stream::iter(blobs.map(|b| Ok::<_, RepoError>(bytes::Bytes::from_static(b))));
        let mut l = LineHashes::new(stream);
        let mut got = Vec::new();
        while let Some((h, blob)) = l.next().await.unwrap() {
            got.push((h, blob));
        }
        let want: Vec<(u128, u32)> = [("a", 0), ("b", 0), ("c", 1), ("d", 2), ("e", 2), ("f", 2)]
            .iter()
            .map(|(t, b)| (line_hash(t.as_bytes()), *b))
            .collect();
        assert_eq!(got, want);
        assert_eq!(l.starts, vec![0, 2, 3]);
    }

    /// The blobs read again are those of the lines left waiting, in order and once each; a line
    /// matched and then waiting again (a later copy) names the later copy's blob; a side that
    /// had a line twice waiting at once is read again whole.
    #[test]
    fn waiting_lines_name_the_blobs_to_read_again() {
        let mut p = Pending::default();
        p.offer(Side::Old, 1, 4);
        p.offer(Side::Old, 2, 1);
        p.offer(Side::New, 3, 0);
        p.offer(Side::Old, 5, 4);
        p.offer(Side::New, 1, 2); // matches the old line 1 (blob 4)
        p.offer(Side::New, 1, 6); // waits again, in new blob 6
        assert_eq!(p.blobs(Side::Old, 8), vec![1, 4]);
        assert_eq!(p.blobs(Side::New, 8), vec![0, 6]);
        p.offer(Side::Old, 7, 3);
        p.offer(Side::Old, 7, 5); // twice at once on the old side
        assert_eq!(p.blobs(Side::Old, 8), (0..8).collect::<Vec<_>>());
        assert_eq!(p.blobs(Side::New, 8), vec![0, 6]);
    }

    /// Lines offered side by side in any order leave exactly the multiset difference waiting
    /// (new lines not in the old stream, and old lines not in the new one, with multiplicity),
    /// and a nightly-like pair (new = a few lines listed again, then the old lines in order
    /// minus a few) never has more waiting than about the lines listed again.
    #[test]
    fn waiting_lines_are_the_multiset_difference_and_few_when_in_step() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..50 {
            let old: Vec<u128> = (0..200).map(|_| u128::from(rand(150))).collect();
            let mut new: Vec<u128> = old.iter().copied().filter(|_| rand(10) != 0).collect();
            for _ in 0..rand(30) {
                new.insert(rand(new.len() as u64 + 1) as usize, u128::from(rand(300)));
            }
            if round % 2 == 1 {
                new.reverse();
            }
            let mut p = Pending::default();
            for i in 0..old.len().max(new.len()) {
                if let Some(h) = new.get(i) {
                    p.offer(Side::New, *h, 0);
                }
                if let Some(h) = old.get(i) {
                    p.offer(Side::Old, *h, 0);
                }
            }
            let count = |v: &[u128]| {
                let mut m: HashMap<u128, i64> = HashMap::new();
                for h in v {
                    *m.entry(*h).or_default() += 1;
                }
                m
            };
            let (o, n) = (count(&old), count(&new));
            let mut expected = 0u64;
            for h in o
                .keys()
                .chain(n.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                let d = n.get(h).copied().unwrap_or(0) - o.get(h).copied().unwrap_or(0);
                let (side, left) = if d > 0 {
                    (Side::New, d)
                } else {
                    (Side::Old, -d)
                };
                for _ in 0..left {
                    assert!(p.take(side, *h), "round {round}: {h} {side:?}");
                }
                assert!(!p.take(side, *h), "round {round}: {h} left over");
                expected += left as u64;
            }
            assert_eq!(p.len, 0, "round {round}: expected {expected} waiting");
        }
        // In step: 20 lines listed again at the head, 5 removed further on, 10,000 kept.
        let old: Vec<u128> = (0..10_000).collect();
        let mut new: Vec<u128> = (1_000_000..1_000_020).collect();
        new.extend(old.iter().copied().filter(|h| h % 2_000 != 7));
        let (mut p, mut most) = (Pending::default(), 0);
        for i in 0..new.len().max(old.len()) {
            if let Some(h) = new.get(i) {
                p.offer(Side::New, *h, 0);
            }
            if let Some(h) = old.get(i) {
                p.offer(Side::Old, *h, 0);
            }
            most = most.max(p.len);
        }
        assert!(most <= 50, "{most} waiting at most");
        assert_eq!(p.len, 25, "20 new and 5 removed lines are left");
    }
}
