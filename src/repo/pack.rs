//! Packs: `blob_1 || … || blob_n || header || header_len (u32 LE)`.
//!
//! The header (see docs/FORMAT.md, "Pack format") lists every blob's kind, compression,
//! stored and raw length and id, so the index can be rebuilt from packs alone. A pack is
//! named by the BLAKE3 of its bytes and written once with `PutMode::Create`.
//! [`upload`] is the only way to get a [`PackReceipt`], and it returns one only after the
//! backend accepted the PUT: the index accepts nothing else.

use bytes::{BufMut, Bytes, BytesMut};
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;

use crate::repo::backend::{self, keys};
use crate::repo::blob::{BlobKind, Compression, EncodedBlob};
use crate::repo::crypto::Crypto;
use crate::repo::error::{RepoError, Result};
use crate::repo::id::{BlobId, PackId};
use crate::repo::objects::Objects;

pub const PACK_MAGIC: &[u8; 8] = b"IMVPACK1";
/// kind (1) + compression (1) + stored_len (4) + raw_len (4) + id (32)
pub const HEADER_ENTRY_LEN: usize = 42;
const HEADER_FIXED: usize = 8 + 4;
/// Associated data of a sealed pack header.
const HEADER_AD: &[u8] = b"imvault/2 pack header";

/// The size of a pack holding `entries`, its header sealed with `crypto`.
pub fn expected_size(entries: &[PackEntry], crypto: &Crypto) -> u64 {
    entries.iter().map(|e| e.stored_len as u64).sum::<u64>()
        + (HEADER_FIXED + entries.len() * HEADER_ENTRY_LEN + crypto.overhead() + 4) as u64
}

/// One blob's place in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PackEntry {
    pub id: BlobId,
    pub kind: BlobKind,
    pub compression: Compression,
    pub offset: u32,
    pub stored_len: u32,
    pub raw_len: u32,
}

impl PackEntry {
    /// What it takes to decode this blob of pack `pack` ([`crate::repo::blob::decode`]).
    pub fn stored(&self, pack: PackId) -> crate::repo::blob::StoredBlob {
        crate::repo::blob::StoredBlob {
            id: self.id,
            pack,
            kind: self.kind,
            compression: self.compression,
            raw_len: self.raw_len,
        }
    }
}

/// Accumulates blobs of one pack in memory.
#[derive(Default)]
pub struct PackWriter {
    data: BytesMut,
    entries: Vec<PackEntry>,
}

impl PackWriter {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> u64 {
        self.data.len() as u64
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn blob_count(&self) -> usize {
        self.entries.len()
    }
    pub fn add(&mut self, blob: &EncodedBlob) {
        self.entries.push(PackEntry {
            id: blob.id,
            kind: blob.kind,
            compression: blob.compression,
            offset: self.data.len() as u32,
            stored_len: blob.stored.len() as u32,
            raw_len: blob.raw_len,
        });
        self.data.extend_from_slice(&blob.stored);
    }

    /// Appends the header (sealed with `crypto`) and names the pack by its hash (CPU-bound:
    /// call off the async threads).
    pub fn seal(mut self, crypto: &Crypto) -> Result<SealedPack> {
        let header = crypto.seal(HEADER_AD, Bytes::from(encode_header(&self.entries)))?;
        self.data.put_slice(&header);
        self.data.put_u32_le(header.len() as u32);
        let bytes = self.data.freeze();
        Ok(SealedPack {
            id: PackId::of(&bytes),
            bytes,
            entries: self.entries,
        })
    }
}

/// A complete pack, not yet stored.
pub struct SealedPack {
    pub id: PackId,
    pub bytes: Bytes,
    pub entries: Vec<PackEntry>,
}

/// Proof that a pack is durable in the backend. Only [`upload`] makes one.
#[derive(Debug, Clone)]
pub struct PackReceipt {
    id: PackId,
    size: u64,
    entries: Vec<PackEntry>,
}

impl PackReceipt {
    pub fn id(&self) -> PackId {
        self.id
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn entries(&self) -> &[PackEntry] {
        &self.entries
    }
}

impl PackReceipt {
    /// A receipt for a pack that an index object already names and that a listing of the
    /// store just showed (used by prune to rewrite index objects without re-reading headers).
    pub(crate) fn from_indexed(id: PackId, entries: Vec<PackEntry>, crypto: &Crypto) -> Self {
        let size = expected_size(&entries, crypto);
        Self { id, size, entries }
    }
}

#[cfg(test)]
impl PackReceipt {
    /// Unit tests of the index only: a receipt without a store.
    pub(crate) fn for_test(id: PackId, entries: Vec<PackEntry>) -> Self {
        Self {
            id,
            size: 0,
            entries,
        }
    }
}

/// Stores a sealed pack (`PutMode::Create`; an existing pack of the same name is the same
/// bytes) and returns its receipt.
#[tracing::instrument(level = "debug", skip_all, fields(pack = %pack.id.short(), size = pack.bytes.len(), blobs = pack.entries.len()))]
pub async fn upload(objects: &Objects, pack: SealedPack) -> Result<PackReceipt> {
    objects.check_writable("writing a pack")?;
    let key = keys::pack(&pack.id);
    let size = pack.bytes.len() as u64;
    backend::put_content_addressed(objects.store().as_ref(), &key, pack.bytes).await?;
    tracing::debug!("pack stored");
    Ok(PackReceipt {
        id: pack.id,
        size,
        entries: pack.entries,
    })
}

/// A receipt for a pack already in the store, from its stored header (used to rebuild the
/// index from packs alone): the object exists, so the pack is durable.
pub async fn receipt_from_store(objects: &Objects, id: &PackId) -> Result<PackReceipt> {
    let entries = read_header(objects, id).await?;
    let size = expected_size(&entries, objects.crypto());
    Ok(PackReceipt {
        id: *id,
        size,
        entries,
    })
}

pub fn encode_header(entries: &[PackEntry]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_FIXED + entries.len() * HEADER_ENTRY_LEN);
    h.extend_from_slice(PACK_MAGIC);
    h.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        h.push(e.kind as u8);
        h.push(e.compression as u8);
        h.extend_from_slice(&e.stored_len.to_le_bytes());
        h.extend_from_slice(&e.raw_len.to_le_bytes());
        h.extend_from_slice(e.id.as_bytes());
    }
    h
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// Decodes and checks a pack header (opened). `stored_len` is the length of the header as
/// stored (sealed), `pack_len` the whole object's; the blobs must exactly fill the bytes before
/// the header.
pub fn decode_header(
    key: &str,
    header: &[u8],
    stored_len: u64,
    pack_len: u64,
) -> Result<Vec<PackEntry>> {
    let corrupt = |reason: String| RepoError::Corrupt {
        key: key.to_string(),
        reason,
    };
    if header.len() < HEADER_FIXED || &header[..8] != PACK_MAGIC {
        return Err(corrupt("pack header magic is missing".into()));
    }
    let count = u32_at(header, 8) as usize;
    if header.len() != HEADER_FIXED + count * HEADER_ENTRY_LEN {
        return Err(corrupt(format!(
            "pack header of {} bytes cannot hold {count} entries",
            header.len()
        )));
    }
    let mut entries = Vec::with_capacity(count);
    let mut offset: u64 = 0;
    for i in 0..count {
        let e = &header[HEADER_FIXED + i * HEADER_ENTRY_LEN..][..HEADER_ENTRY_LEN];
        let kind = BlobKind::from_u8(e[0])
            .ok_or_else(|| corrupt(format!("entry {i}: unknown blob kind {}", e[0])))?;
        let compression = Compression::from_u8(e[1])
            .ok_or_else(|| corrupt(format!("entry {i}: unknown compression {}", e[1])))?;
        let stored_len = u32_at(e, 2);
        let raw_len = u32_at(e, 6);
        if offset > u64::from(u32::MAX) {
            return Err(corrupt(format!(
                "entry {i}: offset {offset} does not fit the format's 32-bit offsets"
            )));
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&e[10..42]);
        entries.push(PackEntry {
            id: BlobId(id),
            kind,
            compression,
            offset: offset as u32,
            stored_len,
            raw_len,
        });
        offset += stored_len as u64;
    }
    let expect = offset + stored_len + 4;
    if expect != pack_len {
        return Err(corrupt(format!(
            "pack is {pack_len} bytes but its header describes {expect} (truncated or corrupt)"
        )));
    }
    Ok(entries)
}

/// Opens a pack's sealed header, read from `key`.
pub fn open_header(crypto: &Crypto, key: &str, sealed: Bytes) -> Result<Bytes> {
    crypto
        .open(HEADER_AD, sealed)
        .map_err(|_| RepoError::Authentication {
            key: key.to_string(),
            what: "pack header".into(),
        })
}

/// Reads a pack's header with two ranged GETs (trailer, then header).
pub async fn read_header(objects: &Objects, id: &PackId) -> Result<Vec<PackEntry>> {
    let store: &dyn ObjectStore = objects.store().as_ref();
    let key = keys::pack(id);
    let meta = store.head(&key).await.map_err(|source| match source {
        e @ object_store::Error::NotFound { .. } => RepoError::Missing {
            key: key.to_string(),
            source: e,
        },
        source => RepoError::Get {
            key: key.to_string(),
            source,
        },
    })?;
    let corrupt = |reason: String| RepoError::Corrupt {
        key: key.to_string(),
        reason,
    };
    if meta.size < (HEADER_FIXED + 4) as u64 {
        return Err(corrupt(format!("pack is only {} bytes", meta.size)));
    }
    let tail = crate::repo::reader::read_range(store, &key, meta.size - 4, 4).await?;
    let hlen = u32_at(&tail, 0) as u64;
    if hlen + 4 > meta.size {
        return Err(corrupt(format!(
            "header length {hlen} exceeds pack size {}",
            meta.size
        )));
    }
    let sealed = crate::repo::reader::read_range(store, &key, meta.size - 4 - hlen, hlen).await?;
    let header = open_header(objects.crypto(), key.as_ref(), sealed)?;
    decode_header(key.as_ref(), &header, hlen, meta.size)
}

/// Splits a complete pack's bytes into its header entries, checking the pack against its name
/// and opening its header (CPU-bound).
pub fn parse_pack(crypto: &Crypto, id: &PackId, bytes: &[u8]) -> Result<Vec<PackEntry>> {
    let key = keys::pack(id).to_string();
    let actual = PackId::of(bytes);
    if actual != *id {
        return Err(RepoError::Corrupt {
            key,
            reason: format!("content hash is {actual}, not the name"),
        });
    }
    if bytes.len() < HEADER_FIXED + 4 {
        return Err(RepoError::Corrupt {
            key,
            reason: format!("pack is only {} bytes", bytes.len()),
        });
    }
    let hlen = u32_at(bytes, bytes.len() - 4) as usize;
    if hlen + 4 > bytes.len() {
        return Err(RepoError::Corrupt {
            key,
            reason: format!("header length {hlen} exceeds pack size {}", bytes.len()),
        });
    }
    let sealed = Bytes::copy_from_slice(&bytes[bytes.len() - 4 - hlen..bytes.len() - 4]);
    let header = open_header(crypto, &key, sealed)?;
    decode_header(&key, &header, hlen as u64, bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::blob::encode;

    /// Issue 18: a header describing more than 4 GiB of blobs is refused, not wrapped.
    #[test]
    fn offsets_past_32_bits_are_corrupt_not_wrapped() {
        let e = |n: u8| PackEntry {
            id: BlobId([n; 32]),
            kind: BlobKind::Data,
            compression: Compression::None,
            offset: 0,
            stored_len: u32::MAX,
            raw_len: u32::MAX,
        };
        let entries = [e(1), e(2), e(3)];
        let header = encode_header(&entries);
        let len = 3 * u64::from(u32::MAX) + header.len() as u64 + 4;
        let err = decode_header("packs/x", &header, header.len() as u64, len).unwrap_err();
        assert!(err.to_string().contains("32-bit"), "{err}");
        let two = encode_header(&entries[..2]);
        let len = 2 * u64::from(u32::MAX) + two.len() as u64 + 4;
        assert_eq!(
            decode_header("packs/x", &two, two.len() as u64, len).unwrap()[1].offset,
            u32::MAX
        );
    }

    #[test]
    fn seal_then_parse_round_trip() {
        use crate::repo::crypto::{MasterKey, SEAL_OVERHEAD};
        for crypto in [
            Crypto::plaintext(),
            Crypto::with_master(&MasterKey::from_bytes([4; 32])),
        ] {
            let mut w = PackWriter::new();
            let mut ids = Vec::new();
            for i in 0..10u32 {
                let raw = Bytes::from(format!("blob number {i} ").repeat(i as usize * 10 + 1));
                let id = crypto.blob_id(&raw);
                ids.push(id);
                w.add(&encode(&crypto, id, BlobKind::Data, raw, 3).unwrap());
            }
            let sealed = w.seal(&crypto).unwrap();
            assert_eq!(
                sealed.bytes.len() as u64,
                expected_size(&sealed.entries, &crypto)
            );
            let entries = parse_pack(&crypto, &sealed.id, &sealed.bytes).unwrap();
            assert_eq!(entries, sealed.entries);
            assert_eq!(entries.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
            // truncated pack is detected
            let hlen = HEADER_FIXED + 10 * HEADER_ENTRY_LEN;
            let n = sealed.bytes.len();
            if !crypto.is_encrypted() {
                let header = &sealed.bytes[n - 4 - hlen..n - 4];
                assert!(decode_header("p", header, hlen as u64, n as u64 - 1).is_err());
            }
            let cut = &sealed.bytes[..n - 1];
            assert!(parse_pack(&crypto, &sealed.id, cut).is_err());
            // The header of an encrypted pack is sealed: no blob id or magic shows.
            if crypto.is_encrypted() {
                let header = &sealed.bytes[n - 4 - hlen - SEAL_OVERHEAD..n - 4];
                assert!(!header.windows(32).any(|w| w == ids[0].as_bytes()));
                assert!(!header.windows(8).any(|w| w == PACK_MAGIC));
            }
        }
    }
}
