//! Blobs: kinds, per-blob compression, and the verified decode of a stored blob.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::repo::error::{RepoError, Result};
use crate::repo::id::{BlobId, PackId};

/// What a blob holds. Stored as one byte in pack headers and index entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobKind {
    /// A chunk of document content.
    Data = 0,
    /// A group of metadata records (JSON lines).
    Meta = 1,
}

impl BlobKind {
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Data),
            1 => Some(Self::Meta),
            _ => None,
        }
    }
}

/// How a blob's bytes are stored in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None = 0,
    Zstd = 1,
}

impl Compression {
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::None),
            1 => Some(Self::Zstd),
            _ => None,
        }
    }
}

/// A blob ready to be appended to a pack.
#[derive(Debug, Clone)]
pub struct EncodedBlob {
    pub id: BlobId,
    pub kind: BlobKind,
    pub compression: Compression,
    pub raw_len: u32,
    pub stored: Bytes,
}

/// Compression must save at least 1/32 (about 3 %) of the bytes to be kept.
pub fn compression_pays(raw: usize, compressed: usize) -> bool {
    compressed + raw / 32 < raw
}

/// Compresses `raw` with zstd at `level` if that pays; CPU-bound, call from a blocking thread.
/// `level == 0` disables compression.
pub fn encode(id: BlobId, kind: BlobKind, raw: Bytes, level: i32) -> Result<EncodedBlob> {
    let raw_len = raw.len() as u32;
    if level != 0 && raw.len() >= 64 {
        let c = zstd::bulk::compress(&raw, level)
            .map_err(|source| RepoError::Compress { blob: id, source })?;
        if compression_pays(raw.len(), c.len()) {
            return Ok(EncodedBlob {
                id,
                kind,
                compression: Compression::Zstd,
                raw_len,
                stored: Bytes::from(c),
            });
        }
    }
    Ok(EncodedBlob {
        id,
        kind,
        compression: Compression::None,
        raw_len,
        stored: raw,
    })
}

/// Decompresses a stored blob and checks it against its id; CPU-bound.
pub fn decode(
    id: BlobId,
    pack: PackId,
    compression: Compression,
    raw_len: u32,
    stored: Bytes,
) -> Result<Bytes> {
    let raw = match compression {
        Compression::None => stored,
        Compression::Zstd => Bytes::from(
            zstd::bulk::decompress(&stored, raw_len as usize).map_err(|source| {
                RepoError::Decompress {
                    blob: id,
                    pack,
                    source,
                }
            })?,
        ),
    };
    let actual = BlobId::of(&raw);
    if actual != id || raw.len() != raw_len as usize {
        return Err(RepoError::BlobMismatch {
            blob: id,
            pack,
            actual,
        });
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_is_compressed_random_is_not() {
        let text = Bytes::from("the quick brown fox ".repeat(1000));
        let e = encode(BlobId::of(&text), BlobKind::Data, text.clone(), 3).unwrap();
        assert_eq!(e.compression, Compression::Zstd);
        assert!(e.stored.len() < text.len() / 10);
        let back = decode(e.id, PackId::default(), e.compression, e.raw_len, e.stored).unwrap();
        assert_eq!(back, text);

        let mut rng = fastrand::Rng::with_seed(1);
        let rnd: Bytes = (0..100_000).map(|_| rng.u8(..)).collect::<Vec<_>>().into();
        let e = encode(BlobId::of(&rnd), BlobKind::Data, rnd.clone(), 3).unwrap();
        assert_eq!(e.compression, Compression::None);
        assert_eq!(e.stored, rnd);
    }

    #[test]
    fn mismatch_names_blob_and_pack() {
        let data = Bytes::from_static(b"hello world");
        let id = BlobId::of(b"other");
        let pack = PackId::of(b"pack");
        let err = decode(id, pack, Compression::None, 11, data).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&id.to_string()) && msg.contains(&pack.to_string()),
            "{msg}"
        );
    }
}
