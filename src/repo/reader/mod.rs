//! Reading blobs back, the one way every reader of the repository does it (backup, restore,
//! verify, prune, catalog loads): the blobs' ranges planned by one planner (`ranges.rs`), read
//! by one range reader (`pack_file.rs`: a memory map or positioned read of a local pack file,
//! a ranged GET elsewhere), decompressed off the async threads and checked against their
//! BLAKE3 id. Nothing unverified leaves this module.

mod pack_file;
mod ranges;

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};

pub use pack_file::{MAP_MIN, RangeBytes, read_pack, read_range, read_range_blobs};
pub use ranges::{
    CONTENT, PackRange, RangeLimits, WINDOW, WINDOW_REQUESTS, coalesce, window_limits,
};

use crate::repo::backend::keys;
use crate::repo::blob;
use crate::repo::cache::BlobCache;
use crate::repo::crypto::Crypto;
use crate::repo::error::{RepoError, Result};
use crate::repo::id::BlobId;
use crate::repo::index::{BlobLocation, Index};
use crate::repo::objects::Objects;
use crate::repo::snapshot::ContentRef;

/// Ranged reads of one content item in flight at once.
pub const READS_IN_FLIGHT: usize = 4;
/// Read-ahead ranges in flight at once.
pub const RANGES_IN_FLIGHT: usize = 4;

fn locate(index: &Index, id: &BlobId) -> Result<BlobLocation> {
    index.get(id).ok_or(RepoError::BlobNotFound { blob: *id })
}

/// Opens (format 2), decompresses and checks one stored blob; CPU-bound.
fn decode(crypto: &Crypto, id: BlobId, loc: BlobLocation, stored: Bytes) -> Result<Bytes> {
    blob::decode(crypto, &loc.stored(id), stored)
}

/// Every blob of `range` decoded, in order (tests; see [`decode_range_each`]).
#[cfg(test)]
fn decode_range(
    crypto: &Crypto,
    range: PackRange,
    bytes: RangeBytes,
) -> Vec<(BlobId, Result<Bytes>)> {
    let mut out = Vec::with_capacity(range.blobs.len());
    decode_range_each(crypto, range, bytes, |id, b| out.push((id, b)));
    out
}

/// Decodes every blob of `range` from its bytes, handing each to `each` as soon as it is
/// decoded: only one decoded blob of the range is held at a time (a range reaches 16 MiB
/// stored, several times that decoded). Blobs read each into a buffer of its own (a ranged
/// GET) are opened in place there. When a whole range's bytes are this process's alone (a
/// short positioned read), each blob is opened in place in its own part of that buffer (no
/// copy of the stored bytes); a blob stored uncompressed then stays a slice of the buffer only
/// if every blob of the range is uncompressed (else it is copied out, so that a few small
/// slices do not keep a range of compressed blobs in memory). A memory-mapped or shared range
/// is decoded as [`decode`] does.
fn decode_range_each(
    crypto: &Crypto,
    range: PackRange,
    bytes: RangeBytes,
    mut each: impl FnMut(BlobId, Result<Bytes>),
) {
    let bytes = match bytes {
        RangeBytes::Whole(b) => b,
        RangeBytes::Blobs(stored) => {
            let mut stored = stored.into_iter();
            for (id, loc) in range.blobs {
                match stored.next() {
                    Some(s) => each(id, blob::decode_in_place(crypto, &loc.stored(id), s)),
                    None => each(
                        id,
                        Err(RepoError::Corrupt {
                            key: keys::pack(&loc.pack).to_string(),
                            reason: format!("the read of its range gave no bytes for blob {id}"),
                        }),
                    ),
                }
            }
            return;
        }
    };
    let buf = match bytes.try_into_mut() {
        Ok(buf) => buf,
        Err(bytes) => {
            for (id, loc, stored) in range.split(&bytes) {
                each(id, decode(crypto, id, loc, stored));
            }
            return;
        }
    };
    let all_plain = range
        .blobs
        .iter()
        .all(|(_, loc)| loc.compression == blob::Compression::None);
    for (id, loc, stored) in range.split_mut(buf) {
        let b = blob::decode_in_place(crypto, &loc.stored(id), stored);
        let b = match b {
            Ok(b) if !all_plain && loc.compression == blob::Compression::None => {
                Ok(Bytes::copy_from_slice(&b))
            }
            other => other,
        };
        each(id, b);
    }
}

/// Reads one range of a pack: its bytes.
async fn fetch(objects: &Objects, r: &PackRange) -> Result<Bytes> {
    read_range(
        objects.store().as_ref(),
        &keys::pack(&r.pack),
        r.start,
        r.len(),
    )
    .await
}

/// Reads the blobs of one range of a pack (see [`read_range_blobs`]).
async fn fetch_blobs(objects: &Objects, r: &PackRange) -> Result<RangeBytes> {
    read_range_blobs(objects.store().as_ref(), &keys::pack(&r.pack), r).await
}

/// Reads one blob and checks it against its id.
pub async fn read_blob(objects: &Objects, index: &Index, id: &BlobId) -> Result<Bytes> {
    let loc = locate(index, id)?;
    let stored = fetch(objects, &PackRange::new(*id, loc)).await?;
    let id = *id;
    let crypto = objects.crypto().clone();
    tokio::task::spawn_blocking(move || decode(&crypto, id, loc, stored))
        .await
        .map_err(|source| RepoError::Task {
            task: "decode blob",
            source,
        })?
}

/// What reading a content item takes, in order: a blob already in the cache, or a range.
enum Part {
    Cached(Bytes),
    Fetch(PackRange),
}

/// The content's blobs as cached blobs and ranges of adjacent blobs ([`CONTENT`]), in order.
fn plan(index: &Index, cache: &BlobCache, blobs: &[BlobId]) -> Result<Vec<Part>> {
    let mut parts: Vec<Part> = Vec::new();
    for id in blobs {
        if let Some(b) = cache.get(id) {
            parts.push(Part::Cached(b));
            continue;
        }
        let loc = locate(index, id)?;
        if let Some(Part::Fetch(r)) = parts.last_mut()
            && r.extend(*id, loc, CONTENT)
        {
            continue;
        }
        parts.push(Part::Fetch(PackRange::new(*id, loc)));
    }
    Ok(parts)
}

/// The content's bytes in order, blob by blob, each verified. Several ranged reads are in
/// flight; adjacent blobs of one pack share a read; blobs found in `cache` are not read again.
pub fn read_content(
    objects: Objects,
    index: Arc<Index>,
    cache: Arc<BlobCache>,
    content: &ContentRef,
) -> BoxStream<'static, Result<Bytes>> {
    let parts = match plan(&index, &cache, &content.blobs) {
        Ok(p) => p,
        Err(e) => return futures::stream::once(async move { Err(e) }).boxed(),
    };
    futures::stream::iter(parts)
        .map(move |part| {
            let objects = objects.clone();
            let cache = cache.clone();
            async move {
                let range = match part {
                    Part::Cached(b) => return Ok(vec![b]),
                    Part::Fetch(r) => r,
                };
                let bytes = fetch_blobs(&objects, &range).await?;
                tokio::task::spawn_blocking(move || {
                    let mut out = Vec::with_capacity(range.blobs.len());
                    let mut failed = None;
                    decode_range_each(objects.crypto(), range, bytes, |id, b| match b {
                        Ok(b) if failed.is_none() => {
                            cache.insert_verified(id, b.clone());
                            out.push(b);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            failed.get_or_insert(e);
                        }
                    });
                    match failed {
                        Some(e) => Err(e),
                        None => Ok(out),
                    }
                })
                .await
                .map_err(|source| RepoError::Task {
                    task: "decode blobs",
                    source,
                })?
            }
        })
        .buffered(READS_IN_FLIGHT)
        .map_ok(|v| futures::stream::iter(v.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
}

/// Verified blobs in order, `in_flight` at a time (metadata streams).
pub fn read_blobs(
    objects: Objects,
    index: Arc<Index>,
    ids: Vec<BlobId>,
    in_flight: usize,
) -> impl Stream<Item = Result<(BlobId, Bytes)>> + Send + 'static {
    futures::stream::iter(ids)
        .map(move |id| {
            let objects = objects.clone();
            let index = index.clone();
            async move { read_blob(&objects, &index, &id).await.map(|b| (id, b)) }
        })
        .buffered(in_flight.max(1))
}

/// Blobs of one range that could not be read, and why (the whole cause chain).
#[derive(Debug)]
pub struct Unread {
    pub blobs: Vec<BlobId>,
    pub error: String,
}

/// Reads each of `blobs` once, in pack order: sorted by pack and offset, nearby blobs of a
/// pack fetched with one read within `limits` (a restore's window: about one read per pack),
/// `in_flight` reads at a time. Each blob is decompressed and checked off the async threads
/// and handed to `sink` right there, verified (`Ok`) or with the reason its check failed
/// (`Err`), so nothing but the ranges in flight is held in memory. Returns what was not read:
/// blobs not in the index, and the blobs of each range whose read failed, with the error.
pub async fn read_each<F>(
    objects: Objects,
    index: Arc<Index>,
    blobs: impl IntoIterator<Item = BlobId>,
    limits: RangeLimits,
    in_flight: usize,
    sink: Arc<F>,
) -> Vec<Unread>
where
    F: Fn(BlobId, std::result::Result<Bytes, String>) + Send + Sync + 'static,
{
    let mut unread = Vec::new();
    let mut wanted: Vec<(BlobId, BlobLocation)> = Vec::new();
    let mut missing = Vec::new();
    for b in blobs {
        match index.get(&b) {
            Some(loc) => wanted.push((b, loc)),
            None => missing.push(b),
        }
    }
    if !missing.is_empty() {
        unread.push(Unread {
            error: format!("{} blob(s) not in the index", missing.len()),
            blobs: missing,
        });
    }
    wanted.sort_by_key(|(_, loc)| (loc.pack, loc.offset));
    wanted.dedup_by(|a, b| a.0 == b.0);
    let ranges = coalesce(wanted, limits);
    if tracing::enabled!(tracing::Level::DEBUG) {
        let mut packs: Vec<_> = ranges.iter().map(|r| r.pack).collect();
        packs.dedup();
        let bytes: u64 = ranges.iter().map(|r| r.len()).sum();
        tracing::debug!(
            ranges = ranges.len(),
            packs = packs.len(),
            bytes,
            "reading a window's blobs"
        );
    }
    let mut reads = futures::stream::iter(ranges)
        .map(|range| {
            let objects = objects.clone();
            let sink = sink.clone();
            async move {
                let bytes = match fetch_blobs(&objects, &range).await {
                    Ok(b) => b,
                    Err(e) => {
                        return Some(Unread {
                            blobs: range.blobs.iter().map(|(id, _)| *id).collect(),
                            error: crate::repo::error_chain(&e),
                        });
                    }
                };
                let blobs: Vec<BlobId> = range.blobs.iter().map(|(id, _)| *id).collect();
                let decoded = tokio::task::spawn_blocking(move || {
                    decode_range_each(objects.crypto(), range, bytes, |id, b| {
                        sink(id, b.map_err(|e| crate::repo::error_chain(&e)));
                    });
                })
                .await;
                decoded.err().map(|e| Unread {
                    blobs,
                    error: format!("decoding a range: {e}"),
                })
            }
        })
        .buffer_unordered(in_flight.max(1));
    while let Some(r) = reads.next().await {
        unread.extend(r);
    }
    unread
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::blob::{BlobKind, Compression, encode};
    use crate::repo::crypto::MasterKey;
    use crate::repo::id::PackId;
    use bytes::BytesMut;

    fn noise(n: usize, mut x: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A pack buffer holding `raws` as stored blobs with a few bytes between them, and the
    /// range that reads them all.
    fn pack(crypto: &Crypto, raws: &[Vec<u8>]) -> (Vec<u8>, PackRange) {
        let pack = PackId([5; 32]);
        let mut buf = Vec::new();
        let mut range: Option<PackRange> = None;
        for raw in raws {
            buf.extend_from_slice(&[0xEE; 3]); // a gap the range bridges
            let id = crypto.blob_id(raw);
            let e = encode(crypto, id, BlobKind::Data, Bytes::from(raw.clone()), 3).unwrap();
            let loc = BlobLocation {
                pack,
                kind: BlobKind::Data,
                compression: e.compression,
                offset: buf.len() as u32,
                stored_len: e.stored.len() as u32,
                raw_len: e.raw_len,
            };
            buf.extend_from_slice(&e.stored);
            match &mut range {
                None => range = Some(PackRange::new(id, loc)),
                Some(r) => assert!(r.extend(id, loc, WINDOW)),
            }
        }
        let r = range.unwrap();
        let bytes = buf[r.start as usize..r.end as usize].to_vec();
        (bytes, r)
    }

    fn within(b: &Bytes, base: usize, len: usize) -> bool {
        let p = b.as_ptr() as usize;
        p >= base && p < base + len
    }

    /// A range read into a buffer of its own (a GET's body) and one still shared (a memory
    /// map, a clone held elsewhere) and one read blob by blob (a GET's body cut as it came)
    /// decode to the same verified blobs, encrypted or not; blobs of a range holding only
    /// uncompressed blobs stay in the read buffer (opened in place, no copy), an uncompressed
    /// blob next to compressed ones is copied out of it; a blob in a buffer of its own is
    /// opened there.
    #[test]
    fn owned_and_shared_ranges_decode_the_same_verified_blobs() {
        let compressible = vec![b'a'; 100_000];
        let cases = [
            vec![noise(70_000, 1), compressible.clone(), noise(10, 2)],
            vec![noise(50_000, 3), noise(1, 4), noise(300_000, 5)],
        ];
        for crypto in [
            Crypto::plaintext(),
            Crypto::with_master(&MasterKey::from_bytes([7; 32])),
        ] {
            for raws in &cases {
                let (bytes, range) = pack(&crypto, raws);
                let all_plain = range
                    .blobs
                    .iter()
                    .all(|(_, l)| l.compression == Compression::None);
                assert_eq!(all_plain, raws.iter().all(|r| r != &compressible));
                let ids: Vec<BlobId> = range.blobs.iter().map(|(id, _)| *id).collect();

                let shared = Bytes::from(bytes.clone());
                let _other = shared.clone();
                let (_, r2) = pack(&crypto, raws);
                let got_shared = decode_range(&crypto, r2, RangeBytes::Whole(shared));

                let (_, r3) = pack(&crypto, raws);
                let parts: Vec<BytesMut> = r3
                    .blobs
                    .iter()
                    .map(|(_, l)| {
                        let s = (u64::from(l.offset) - r3.start) as usize;
                        BytesMut::from(&bytes[s..s + l.stored_len as usize])
                    })
                    .collect();
                let places: Vec<(usize, usize)> = parts
                    .iter()
                    .map(|p| (p.as_ptr() as usize, p.len()))
                    .collect();
                let got_blobs = decode_range(&crypto, r3, RangeBytes::Blobs(parts));

                let (base, len) = (bytes.as_ptr() as usize, bytes.len());
                let got_owned = decode_range(&crypto, range, RangeBytes::Whole(Bytes::from(bytes)));
                for (i, ((got, shared), (raw, id))) in got_owned
                    .iter()
                    .zip(&got_shared)
                    .zip(raws.iter().zip(&ids))
                    .enumerate()
                {
                    assert_eq!(got.0, *id);
                    assert_eq!(shared.0, *id);
                    assert_eq!(got_blobs[i].0, *id);
                    let (g, s) = (got.1.as_ref().unwrap(), shared.1.as_ref().unwrap());
                    let b = got_blobs[i].1.as_ref().unwrap();
                    assert_eq!(&g[..], &raw[..]);
                    assert_eq!(&s[..], &raw[..]);
                    assert_eq!(&b[..], &raw[..]);
                    assert_eq!(
                        within(b, places[i].0, places[i].1),
                        raw != &compressible,
                        "a blob stored uncompressed is opened in its own buffer"
                    );
                    let stored_plain = raw != &compressible;
                    assert_eq!(
                        within(g, base, len),
                        all_plain && stored_plain,
                        "in place only for ranges of uncompressed blobs"
                    );
                }
            }
        }
    }

    /// A read that gave fewer buffers than its range has blobs fails the blobs left without
    /// one, naming the pack; the others are decoded.
    #[test]
    fn blobs_a_read_gave_no_bytes_for_fail() {
        let crypto = Crypto::with_master(&MasterKey::from_bytes([7; 32]));
        let raws = vec![noise(5_000, 1), noise(6_000, 2), noise(7_000, 3)];
        let (bytes, range) = pack(&crypto, &raws);
        let first = range.blobs[0].1;
        let s = (u64::from(first.offset) - range.start) as usize;
        let part = BytesMut::from(&bytes[s..s + first.stored_len as usize]);
        let got = decode_range(&crypto, range, RangeBytes::Blobs(vec![part]));
        assert_eq!(got.len(), 3);
        assert_eq!(&got[0].1.as_ref().unwrap()[..], &raws[0][..]);
        for (id, r) in &got[1..] {
            let e = crate::repo::error_chain(r.as_ref().unwrap_err());
            assert!(e.contains("packs/") && e.contains(&id.to_string()), "{e}");
        }
    }

    /// A blob whose stored bytes were altered fails its check (authentication when encrypted,
    /// its BLAKE3 id when not) when opened in place; the blobs around it are still verified.
    #[test]
    fn an_altered_blob_fails_alone_when_opened_in_place() {
        for crypto in [
            Crypto::plaintext(),
            Crypto::with_master(&MasterKey::from_bytes([7; 32])),
        ] {
            let raws = vec![noise(5_000, 1), vec![b'z'; 40_000], noise(9_000, 2)];
            let (mut bytes, range) = pack(&crypto, &raws);
            let (_, victim) = range.blobs[1];
            let at = (victim.offset as u64 - range.start) as usize + victim.stored_len as usize / 2;
            bytes[at] ^= 0x40;
            let got = decode_range(&crypto, range, RangeBytes::Whole(Bytes::from(bytes)));
            assert_eq!(&got[0].1.as_ref().unwrap()[..], &raws[0][..]);
            assert_eq!(&got[2].1.as_ref().unwrap()[..], &raws[2][..]);
            let err = got[1].1.as_ref().unwrap_err();
            assert!(
                matches!(
                    err,
                    RepoError::Authentication { .. }
                        | RepoError::BlobMismatch { .. }
                        | RepoError::Decompress { .. }
                ),
                "{err:?}"
            );
            if crypto.is_encrypted() {
                assert!(matches!(err, RepoError::Authentication { .. }), "{err:?}");
            }
        }
    }
}
