//! Reading blobs back: ranged GETs, decompression off-thread, and a BLAKE3 check of every blob.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::ObjectStore;

use crate::repo::backend::{self, keys};
use crate::repo::blob;
use crate::repo::cache::BlobCache;
use crate::repo::error::{RepoError, Result};
use crate::repo::id::BlobId;
use crate::repo::index::{BlobLocation, Index};
use crate::repo::snapshot::ContentRef;

/// Ranged GETs of one content item in flight at once.
pub const READS_IN_FLIGHT: usize = 4;
/// Adjacent blobs of one pack are fetched with one GET up to this many bytes.
pub const COALESCE_LIMIT: u64 = 2 * 1024 * 1024;

fn locate(index: &Index, id: &BlobId) -> Result<BlobLocation> {
    index.get(id).ok_or(RepoError::BlobNotFound { blob: *id })
}

async fn decode_off_thread(id: BlobId, loc: BlobLocation, stored: Bytes) -> Result<Bytes> {
    tokio::task::spawn_blocking(move || {
        blob::decode(id, loc.pack, loc.compression, loc.raw_len, stored)
    })
    .await
    .map_err(|source| RepoError::Task {
        task: "decode blob",
        source,
    })?
}

/// Reads one blob and checks it against its id.
pub async fn read_blob(store: &Arc<dyn ObjectStore>, index: &Index, id: &BlobId) -> Result<Bytes> {
    let loc = locate(index, id)?;
    let stored = backend::get_range(
        store.as_ref(),
        &keys::pack(&loc.pack),
        loc.offset as u64,
        loc.stored_len as u64,
    )
    .await?;
    decode_off_thread(*id, loc, stored).await
}

struct Group {
    loc0: BlobLocation,
    len: u64,
    blobs: Vec<(BlobId, BlobLocation)>,
}

enum Part {
    Cached(Bytes),
    Fetch(Group),
}

fn plan(index: &Index, cache: &BlobCache, blobs: &[BlobId]) -> Result<Vec<Part>> {
    let mut groups: Vec<Part> = Vec::new();
    for id in blobs {
        if let Some(b) = cache.get(id) {
            groups.push(Part::Cached(b));
            continue;
        }
        let loc = locate(index, id)?;
        if let Some(Part::Fetch(g)) = groups.last_mut()
            && g.loc0.pack == loc.pack
            && g.loc0.offset as u64 + g.len == loc.offset as u64
            && g.len + loc.stored_len as u64 <= COALESCE_LIMIT
        {
            g.len += loc.stored_len as u64;
            g.blobs.push((*id, loc));
            continue;
        }
        groups.push(Part::Fetch(Group {
            loc0: loc,
            len: loc.stored_len as u64,
            blobs: vec![(*id, loc)],
        }));
    }
    Ok(groups)
}

/// The content's bytes in order, blob by blob, each verified. Several ranged GETs are in
/// flight; adjacent blobs of one pack share a GET; blobs found in `cache` are not read again.
pub fn read_content(
    store: Arc<dyn ObjectStore>,
    index: Arc<Index>,
    cache: Arc<BlobCache>,
    content: &ContentRef,
) -> BoxStream<'static, Result<Bytes>> {
    let groups = match plan(&index, &cache, &content.blobs) {
        Ok(g) => g,
        Err(e) => return futures::stream::once(async move { Err(e) }).boxed(),
    };
    futures::stream::iter(groups)
        .map(move |part| {
            let store = store.clone();
            let cache = cache.clone();
            async move {
                let g = match part {
                    Part::Cached(b) => return Ok(vec![b]),
                    Part::Fetch(g) => g,
                };
                let bytes = backend::get_range(
                    store.as_ref(),
                    &keys::pack(&g.loc0.pack),
                    g.loc0.offset as u64,
                    g.len,
                )
                .await?;
                let base = g.loc0.offset as usize;
                let parts: Vec<(BlobId, BlobLocation, Bytes)> = g
                    .blobs
                    .into_iter()
                    .map(|(id, loc)| {
                        let start = loc.offset as usize - base;
                        (id, loc, bytes.slice(start..start + loc.stored_len as usize))
                    })
                    .collect();
                tokio::task::spawn_blocking(move || {
                    parts
                        .into_iter()
                        .map(|(id, loc, stored)| {
                            let b =
                                blob::decode(id, loc.pack, loc.compression, loc.raw_len, stored)?;
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
    store: Arc<dyn ObjectStore>,
    index: Arc<Index>,
    ids: Vec<BlobId>,
    in_flight: usize,
) -> impl Stream<Item = Result<(BlobId, Bytes)>> + Send + 'static {
    futures::stream::iter(ids)
        .map(move |id| {
            let store = store.clone();
            let index = index.clone();
            async move { read_blob(&store, &index, &id).await.map(|b| (id, b)) }
        })
        .buffered(in_flight.max(1))
}
