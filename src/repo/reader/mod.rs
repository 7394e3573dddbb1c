//! Reading blobs back, the one way every reader of the repository does it (backup, restore,
//! verify, prune, catalog loads): the blobs' ranges planned by one planner (`ranges.rs`), read
//! by one range reader (`pack_file.rs`: a memory map or positioned read of a local pack file,
//! a ranged GET elsewhere), decompressed off the async threads and checked against their
//! BLAKE3 id. Nothing unverified leaves this module.

mod pack_file;
mod ranges;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};

pub use pack_file::{MAP_MIN, read_pack, read_range};
pub use ranges::{CONTENT, PackRange, READ_AHEAD, RangeLimits, coalesce};

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
    blob::decode(
        crypto,
        id,
        loc.pack,
        loc.kind,
        loc.compression,
        loc.raw_len,
        stored,
    )
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
                let bytes = fetch(&objects, &range).await?;
                tokio::task::spawn_blocking(move || {
                    range
                        .split(&bytes)
                        .map(|(id, loc, stored)| {
                            let b = decode(objects.crypto(), id, loc, stored)?;
                            cache.insert_verified(id, b.clone());
                            Ok(b)
                        })
                        .collect::<Result<Vec<Bytes>>>()
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

/// Blobs read ahead: each verified, or the reason its check failed (the whole cause chain).
pub type ReadAhead = HashMap<BlobId, std::result::Result<Bytes, String>>;

/// Reads `blobs` ahead, for a reader that will ask for them soon (a restore's next batch):
/// sorted by pack and offset, nearby blobs of a pack fetched with one read ([`READ_AHEAD`];
/// each pack read about once, front to back), each blob decompressed and checked off the async
/// threads. A blob whose check failed holds the reason; the blobs of a range that could not be
/// read, and blobs not in the index, are left out (their readers fail on the ordinary path,
/// naming the pack).
pub async fn read_ahead(
    objects: Objects,
    index: Arc<Index>,
    blobs: impl IntoIterator<Item = BlobId>,
) -> ReadAhead {
    let mut wanted: Vec<(BlobId, BlobLocation)> = blobs
        .into_iter()
        .filter_map(|b| index.get(&b).map(|loc| (b, loc)))
        .collect();
    wanted.sort_by_key(|(_, loc)| (loc.pack, loc.offset));
    wanted.dedup_by(|a, b| a.0 == b.0);
    let mut out = ReadAhead::new();
    let mut reads = futures::stream::iter(coalesce(wanted, READ_AHEAD))
        .map(|range| {
            let objects = objects.clone();
            async move {
                let bytes = match fetch(&objects, &range).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::debug!(pack = %range.pack, error = %crate::repo::error_chain(&e), "read-ahead failed; its blobs are read one by one");
                        return Vec::new();
                    }
                };
                tokio::task::spawn_blocking(move || {
                    range
                        .split(&bytes)
                        .map(|(id, loc, stored)| {
                            let b = decode(objects.crypto(), id, loc, stored)
                                .map_err(|e| crate::repo::error_chain(&e));
                            (id, b)
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default()
            }
        })
        .buffer_unordered(RANGES_IN_FLIGHT);
    while let Some(blobs) = reads.next().await {
        out.extend(blobs);
    }
    out
}
