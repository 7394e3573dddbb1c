//! Index objects: `"IMVIDX01" || zstd(body)`, one entry per blob of each pack they name (layout
//! in docs/FORMAT.md, "Index format"), named by the BLAKE3 of their bytes; encoded only from
//! [`PackReceipt`]s, decoded within a bound on the body's size.

use bytes::Bytes;
use serde::Serialize;

use crate::repo::backend::keys;
use crate::repo::blob::{BlobKind, Compression};
use crate::repo::error::{RepoError, Result};
use crate::repo::id::{BlobId, IndexId, PackId};
use crate::repo::objects::{ObjectKind, Objects};
use crate::repo::pack::{PackEntry, PackReceipt};

pub const INDEX_MAGIC: &[u8; 8] = b"IMVIDX01";
/// blob id (32) + kind (1) + compression (1) + offset (4) + stored_len (4) + raw_len (4)
const ENTRY_LEN: usize = 46;

/// Proof that an index object naming a set of receipts is durable.
#[derive(Debug, Clone, Copy)]
pub struct IndexWritten {
    pub id: Option<IndexId>,
    pub packs: u64,
    pub blobs: u64,
}

/// A decoded index object.
#[derive(Debug, Clone, Serialize)]
pub struct IndexFile {
    pub id: IndexId,
    pub packs: Vec<(PackId, Vec<PackEntry>)>,
}

/// Encodes an index object from receipts (CPU-bound).
pub fn encode_index(receipts: &[PackReceipt]) -> Result<Bytes> {
    encode_index_of(receipts.iter().map(|r| (r.id(), r.entries())))
}

/// Encodes an index object naming `packs` and their entries (CPU-bound).
pub fn encode_index_of<'a>(
    packs: impl ExactSizeIterator<Item = (PackId, &'a [PackEntry])>,
) -> Result<Bytes> {
    let mut body = Vec::new();
    body.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for (id, entries) in packs {
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for e in entries {
            body.extend_from_slice(e.id.as_bytes());
            body.push(e.kind as u8);
            body.push(e.compression as u8);
            body.extend_from_slice(&e.offset.to_le_bytes());
            body.extend_from_slice(&e.stored_len.to_le_bytes());
            body.extend_from_slice(&e.raw_len.to_le_bytes());
        }
    }
    let z = zstd::bulk::compress(&body, 3).map_err(|source| RepoError::Compress {
        blob: BlobId::of(&body),
        source,
    })?;
    let mut out = Vec::with_capacity(8 + z.len());
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&z);
    Ok(Bytes::from(out))
}

/// The largest body an index object of `compressed` bytes may have. Three quarters of a body
/// are BLAKE3 ids, which do not compress: a real body is at most about 1.4 times its
/// compressed size. Anything claiming more is a decompression bomb, refused before it fills
/// memory.
pub fn max_index_body(compressed: usize) -> usize {
    compressed.saturating_mul(4).saturating_add(1 << 20)
}

/// The zstd body of an index object, at most [`max_index_body`] bytes.
fn decompress_body(z: &[u8]) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read as _;
    let limit = max_index_body(z.len());
    let decoder = zstd::stream::read::Decoder::new(z).map_err(|e| format!("zstd: {e}"))?;
    let mut body = Vec::with_capacity(z.len().saturating_mul(2).min(limit));
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("zstd: {e}"))?;
    if body.len() > limit {
        return Err(format!(
            "its body decompresses to more than {limit} bytes (4 times its size and 1 MiB): not an index"
        ));
    }
    Ok(body)
}

/// Decodes an index object's plaintext (opened and checked against its name by
/// [`Objects::get`]).
pub fn decode_index(id: &IndexId, bytes: &[u8]) -> Result<IndexFile> {
    let key = keys::index(id).to_string();
    let corrupt = |reason: String| RepoError::Corrupt {
        key: key.clone(),
        reason,
    };
    if bytes.len() < 8 || &bytes[..8] != INDEX_MAGIC {
        return Err(corrupt("index magic is missing".into()));
    }
    let body = decompress_body(&bytes[8..]).map_err(corrupt)?;
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<&[u8]> {
        let s = body
            .get(*pos..*pos + n)
            .ok_or_else(|| corrupt(format!("body ends early at byte {pos}")))?;
        *pos += n;
        Ok(s)
    };
    let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let npacks = u32_of(take(&mut pos, 4)?) as usize;
    // Room for no more records than the body can hold (a count is not trusted).
    let mut packs = Vec::with_capacity(npacks.min(body.len().saturating_sub(pos) / 36));
    for _ in 0..npacks {
        let mut pid = [0u8; 32];
        pid.copy_from_slice(take(&mut pos, 32)?);
        let n = u32_of(take(&mut pos, 4)?) as usize;
        let mut entries = Vec::with_capacity(n.min(body.len().saturating_sub(pos) / ENTRY_LEN));
        for _ in 0..n {
            let e = take(&mut pos, ENTRY_LEN)?;
            let mut bid = [0u8; 32];
            bid.copy_from_slice(&e[..32]);
            entries.push(PackEntry {
                id: BlobId(bid),
                kind: BlobKind::from_u8(e[32])
                    .ok_or_else(|| corrupt(format!("unknown blob kind {}", e[32])))?,
                compression: Compression::from_u8(e[33])
                    .ok_or_else(|| corrupt(format!("unknown compression {}", e[33])))?,
                offset: u32_of(&e[34..38]),
                stored_len: u32_of(&e[38..42]),
                raw_len: u32_of(&e[42..46]),
            });
        }
        packs.push((PackId(pid), entries));
    }
    if pos != body.len() {
        return Err(corrupt(format!("{} trailing bytes", body.len() - pos)));
    }
    Ok(IndexFile { id: *id, packs })
}

/// Writes one index object for `receipts` (none written when empty) and returns the token.
#[tracing::instrument(level = "debug", skip_all, fields(packs = receipts.len()))]
pub async fn write_index(objects: &Objects, receipts: &[PackReceipt]) -> Result<IndexWritten> {
    let blobs = receipts.iter().map(|r| r.entries().len() as u64).sum();
    if receipts.is_empty() {
        return Ok(IndexWritten {
            id: None,
            packs: 0,
            blobs: 0,
        });
    }
    let owned = receipts.to_vec();
    let bytes = tokio::task::spawn_blocking(move || encode_index(&owned))
        .await
        .map_err(|source| RepoError::Task {
            task: "encode index",
            source,
        })??;
    let (_, h) = objects.put(ObjectKind::Index, None, bytes).await?;
    let id = IndexId(h);
    tracing::debug!(index = %id.short(), blobs, "index stored");
    Ok(IndexWritten {
        id: Some(id),
        packs: receipts.len() as u64,
        blobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18: an index object whose zstd body would decompress to far more than an index
    /// can hold (a bomb: 256 MiB of zeros in a few KiB) is refused once it passes the bound,
    /// without decompressing the rest; a real index still decodes.
    #[test]
    fn an_index_decompression_bomb_is_refused_within_its_bound() {
        let zeros = vec![0u8; 256 << 20];
        let z = zstd::bulk::compress(&zeros, 3).unwrap();
        drop(zeros);
        assert!(z.len() < 64 << 10, "{}", z.len());
        let mut bytes = INDEX_MAGIC.to_vec();
        bytes.extend_from_slice(&z);
        let err = decode_index(&IndexId::of(&bytes), &bytes).unwrap_err();
        assert!(err.to_string().contains("not an index"), "{err}");

        let real = encode_index(&[]).unwrap();
        assert!(
            decode_index(&IndexId::of(&real), &real)
                .unwrap()
                .packs
                .is_empty()
        );
    }
}
