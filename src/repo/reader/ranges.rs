//! The one range planner: which blobs of a pack are read with one ranged read.

use bytes::{Buf as _, Bytes, BytesMut};

use crate::repo::id::{BlobId, PackId};
use crate::repo::index::BlobLocation;

/// How far one ranged read may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeLimits {
    /// A range spans at most this many bytes ...
    pub max_len: u64,
    /// ... and bridges gaps (bytes of blobs not wanted) up to this many bytes.
    pub max_gap: u64,
}

/// Content streamed in order: adjacent blobs of one pack, up to 2 MiB a read.
pub const CONTENT: RangeLimits = RangeLimits {
    max_len: 2 * 1024 * 1024,
    max_gap: 0,
};

/// A restore's window of many documents, its blobs sorted by pack and offset over the whole
/// window: up to 8 MiB a read (half a pack), bridging gaps of up to 1 MiB (a ranged GET
/// costs more than a megabyte read for nothing).
pub const WINDOW: RangeLimits = RangeLimits {
    max_len: 8 * 1024 * 1024,
    max_gap: 1024 * 1024,
};

/// [`WINDOW`] where every ranged read is a request (S3 and the other object stores): up to 16
/// MiB a read (a whole pack), bridging gaps of up to 4 MiB. A request costs the store far more
/// than a few megabytes read for nothing (moto, 16 MiB packs: ~7 ms of its CPU a GET whatever
/// the length): a medium library's restore reads 271 ranges instead of 379. Not for local pack
/// files, where a range is a memory map and its bytes count in the process's memory.
pub const WINDOW_REQUESTS: RangeLimits = RangeLimits {
    max_len: 16 * 1024 * 1024,
    max_gap: 4 * 1024 * 1024,
};

/// The window limits for a store that serves reads as `reads`: [`WINDOW`] from local pack
/// files, [`WINDOW_REQUESTS`] where each read is a request.
pub fn window_limits(reads: crate::repo::backend::Reads) -> RangeLimits {
    match reads {
        crate::repo::backend::Reads::LocalFiles => WINDOW,
        crate::repo::backend::Reads::Requests => WINDOW_REQUESTS,
    }
}

/// One ranged read of a pack and the blobs it serves.
#[derive(Debug)]
pub struct PackRange {
    pub pack: PackId,
    pub start: u64,
    pub end: u64,
    pub blobs: Vec<(BlobId, BlobLocation)>,
}

impl PackRange {
    pub fn new(id: BlobId, loc: BlobLocation) -> Self {
        Self {
            pack: loc.pack,
            start: loc.offset as u64,
            end: loc.offset as u64 + loc.stored_len as u64,
            blobs: vec![(id, loc)],
        }
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Takes the blob into this range if it follows it in the same pack within `limits`.
    pub fn extend(&mut self, id: BlobId, loc: BlobLocation, limits: RangeLimits) -> bool {
        let (s, e) = (loc.offset as u64, loc.offset as u64 + loc.stored_len as u64);
        if self.pack == loc.pack
            && s >= self.end
            && s - self.end <= limits.max_gap
            && e - self.start <= limits.max_len
        {
            self.end = e;
            self.blobs.push((id, loc));
            return true;
        }
        false
    }

    /// Each blob's stored bytes, cut from the range's `bytes`.
    pub fn split(self, bytes: &Bytes) -> impl Iterator<Item = (BlobId, BlobLocation, Bytes)> {
        let start = self.start;
        let bytes = bytes.clone();
        self.blobs.into_iter().map(move |(id, loc)| {
            let s = (loc.offset as u64 - start) as usize;
            (id, loc, bytes.slice(s..s + loc.stored_len as usize))
        })
    }
}

impl PackRange {
    /// Each blob's stored bytes as a buffer of its own, cut from the range's `buf` (which
    /// this range owns): what [`crate::repo::blob::decode_in_place`] opens without a copy.
    pub fn split_mut(
        self,
        mut buf: BytesMut,
    ) -> impl Iterator<Item = (BlobId, BlobLocation, BytesMut)> {
        let mut at = self.start;
        self.blobs.into_iter().map(move |(id, loc)| {
            buf.advance((loc.offset as u64 - at) as usize);
            at = loc.offset as u64 + loc.stored_len as u64;
            (id, loc, buf.split_to(loc.stored_len as usize))
        })
    }
}

/// The ranges that read `blobs`, in the order given: a blob joins the range before it when it
/// follows it in the same pack within `limits`.
pub fn coalesce(
    blobs: impl IntoIterator<Item = (BlobId, BlobLocation)>,
    limits: RangeLimits,
) -> Vec<PackRange> {
    let mut out: Vec<PackRange> = Vec::new();
    for (id, loc) in blobs {
        if let Some(r) = out.last_mut()
            && r.extend(id, loc, limits)
        {
            continue;
        }
        out.push(PackRange::new(id, loc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::blob::{BlobKind, Compression};

    fn blob(pack: u8, offset: u32, len: u32) -> (BlobId, BlobLocation) {
        (
            BlobId::of(&[
                pack,
                (offset >> 16) as u8,
                (offset >> 8) as u8,
                offset as u8,
            ]),
            BlobLocation {
                pack: PackId([pack; 32]),
                kind: BlobKind::Data,
                compression: Compression::None,
                offset,
                stored_len: len,
                raw_len: len,
            },
        )
    }

    fn spans(ranges: &[PackRange]) -> Vec<(u8, u64, u64, usize)> {
        ranges
            .iter()
            .map(|r| (r.pack.0[0], r.start, r.end, r.blobs.len()))
            .collect()
    }

    /// `split_mut` cuts the same bytes as `split`, each blob a buffer of its own, skipping the
    /// gaps a read-ahead range bridges.
    #[test]
    fn split_mut_cuts_the_same_blobs_as_split() {
        let blobs = vec![
            blob(1, 10, 100),
            blob(1, 110, 7),
            blob(1, 300, 50),
            blob(1, 350, 1),
        ];
        let data: Vec<u8> = (0..400u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut ranges = coalesce(blobs.clone(), WINDOW);
        assert_eq!(ranges.len(), 1);
        let r = ranges.pop().unwrap();
        let bytes = Bytes::copy_from_slice(&data[r.start as usize..r.end as usize]);
        let shared: Vec<_> = coalesce(blobs, WINDOW)
            .pop()
            .unwrap()
            .split(&bytes)
            .map(|(id, _, b)| (id, b))
            .collect();
        let owned: Vec<_> = r
            .split_mut(BytesMut::from(&bytes[..]))
            .map(|(id, loc, b)| {
                let at = loc.offset as usize;
                assert_eq!(&b[..], &data[at..at + loc.stored_len as usize]);
                (id, b.freeze())
            })
            .collect();
        assert_eq!(owned, shared);
        assert_eq!(owned.len(), 4);
    }

    #[test]
    fn content_ranges_join_adjacent_blobs_of_one_pack_up_to_the_limit() {
        const MIB: u32 = 1024 * 1024;
        let blobs = vec![
            blob(1, 0, 100),
            blob(1, 100, 50), // adjacent: joins
            blob(1, 151, 10), // a gap of one byte: a new range
            blob(2, 161, 10), // another pack
            blob(2, 171, MIB),
            blob(2, 171 + MIB, MIB), // would pass 2 MiB: a new range
        ];
        assert_eq!(
            spans(&coalesce(blobs, CONTENT)),
            [
                (1, 0, 150, 2),
                (1, 151, 161, 1),
                (2, 161, 171 + u64::from(MIB), 2),
                (2, 171 + u64::from(MIB), 171 + 2 * u64::from(MIB), 1),
            ]
        );
    }

    #[test]
    fn window_ranges_bridge_small_gaps_only() {
        let gap = WINDOW.max_gap as u32;
        let blobs = vec![
            blob(1, 0, 10),
            blob(1, 10 + gap, 10),     // a gap of exactly max_gap: bridged
            blob(1, 21 + 2 * gap, 10), // one byte more: a new range
            blob(1, 31 + 2 * gap, 10), // adjacent again
            blob(1, 5, 10),            // before the range's end (unsorted input): a new range
        ];
        assert_eq!(
            spans(&coalesce(blobs, WINDOW)),
            [
                (1, 0, 20 + u64::from(gap), 2),
                (1, 21 + 2 * u64::from(gap), 41 + 2 * u64::from(gap), 2),
                (1, 5, 15, 1),
            ]
        );
    }

    /// Where a read is a request, a pack's blobs 2 MiB apart come in one read (a local
    /// directory's window reads them apart); a gap wider than 4 MiB still starts a new read.
    #[test]
    fn request_ranges_bridge_wider_gaps_up_to_a_pack() {
        let (mib, gap) = (1024 * 1024u32, 2 * 1024 * 1024u32);
        let blobs = || {
            vec![
                blob(1, 0, mib),
                blob(1, mib + gap, mib),
                blob(1, 15 * mib, 2 * mib),
            ]
        };
        assert_eq!(
            spans(&coalesce(blobs(), WINDOW_REQUESTS)),
            [
                (1, 0, 2 * u64::from(mib) + u64::from(gap), 2),
                (1, 15 * u64::from(mib), 17 * u64::from(mib), 1),
            ]
        );
        assert_eq!(coalesce(blobs(), WINDOW).len(), 3);
    }

    #[test]
    fn split_cuts_each_blob_from_the_range() {
        let mut r = PackRange::new(blob(3, 100, 4).0, blob(3, 100, 4).1);
        assert!(r.extend(blob(3, 110, 3).0, blob(3, 110, 3).1, WINDOW));
        let bytes = Bytes::from((100u8..113).collect::<Vec<u8>>());
        let parts: Vec<Vec<u8>> = r.split(&bytes).map(|(_, _, b)| b.to_vec()).collect();
        assert_eq!(parts, [vec![100, 101, 102, 103], vec![110, 111, 112]]);
    }
}
