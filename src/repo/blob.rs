//! Blobs: kinds, per-blob compression then sealing, and the verified decode of a stored blob.
//!
//! A stored blob is `seal(ad, compressed or raw plaintext)` (format 2; the bytes as they are
//! without encryption), the associated data naming the blob's kind and id: a blob moved to
//! where another is expected fails authentication.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::repo::backend::keys;
use crate::repo::crypto::Crypto;
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
    /// "data" or "metadata", for messages.
    pub fn what(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Meta => "metadata",
        }
    }
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

/// The largest raw blob the format allows: a data chunk is at most 16 MiB (the chunker's
/// largest `max_size`), a metadata blob holds whole records and stays far below this. Writers
/// refuse a larger blob; readers treat a header claiming one as corrupt before allocating.
pub const MAX_RAW_LEN: u32 = 256 << 20;

/// Compression must save at least 1/32 (about 3 %) of the bytes to be kept.
pub fn compression_pays(raw: usize, compressed: usize) -> bool {
    compressed + raw / 32 < raw
}

/// Associated data of a sealed blob: its kind and id.
fn ad(kind: BlobKind, id: &BlobId) -> [u8; 48] {
    let mut ad = [0u8; 48];
    ad[..15].copy_from_slice(b"imvault/2 blob ");
    ad[15] = kind as u8;
    ad[16..].copy_from_slice(id.as_bytes());
    ad
}

/// Compresses `raw` with zstd at `level` if that pays, then seals it with `crypto` (a no-op
/// without encryption); CPU-bound, call from a blocking thread. `level == 0` disables
/// compression.
pub fn encode(
    crypto: &Crypto,
    id: BlobId,
    kind: BlobKind,
    raw: Bytes,
    level: i32,
) -> Result<EncodedBlob> {
    let mut e = compress(id, kind, raw, level)?;
    e.stored = crypto.seal(&ad(kind, &id), e.stored)?;
    Ok(e)
}

/// Compresses `raw` with zstd at `level` if that pays.
fn compress(id: BlobId, kind: BlobKind, raw: Bytes, level: i32) -> Result<EncodedBlob> {
    let raw_len = u32::try_from(raw.len())
        .ok()
        .filter(|n| *n <= MAX_RAW_LEN)
        .ok_or_else(|| RepoError::Compress {
            blob: id,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} bytes is more than a blob may hold ({MAX_RAW_LEN})",
                    raw.len()
                ),
            ),
        })?;
    if level != 0 && raw.len() >= 64 {
        let c = compress_zstd(&raw, level)
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

/// Compression contexts kept for reuse: at most as many as the machine has cores (each holds
/// a few MB of tables and window at the usual levels; one per blocking thread would hold them
/// for every thread the pool ever started).
static COMPRESSORS: std::sync::Mutex<Vec<(i32, zstd::bulk::Compressor<'static>)>> =
    std::sync::Mutex::new(Vec::new());

/// `raw` as one zstd frame at `level`, with a reused compression context (a new context per
/// blob allocated and cleared its tables each time: ~2 CPU-s of page faults and clearing per
/// 1.6 GB backed up, 12-17 % of the backup's CPU).
fn compress_zstd(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let taken = {
        let mut pool = COMPRESSORS.lock().unwrap_or_else(|p| p.into_inner());
        pool.iter()
            .position(|(l, _)| *l == level)
            .map(|i| pool.swap_remove(i).1)
    };
    let mut c = match taken {
        Some(c) => c,
        None => zstd::bulk::Compressor::new(level)?,
    };
    let out = c.compress(raw);
    static KEEP: std::sync::LazyLock<usize> =
        std::sync::LazyLock::new(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut pool = COMPRESSORS.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < *KEEP {
        pool.push((level, c));
    } else if let Some(other) = pool.iter_mut().find(|(l, _)| *l != level) {
        // The level in use now replaces one no longer used (dropped after the lock is released).
        let old = std::mem::replace(other, (level, c));
        drop(pool);
        drop(old);
    }
    out
}

/// The zstd frame `stored`, at most `raw_len` bytes. Up to a data chunk's usual largest size
/// the output buffer is allocated whole (fastest); above it, it grows with what the frame
/// really holds, so a header claiming much does not allocate much.
fn decompress(stored: &[u8], raw_len: u32) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    const WHOLE: u32 = 4 << 20;
    if raw_len <= WHOLE {
        // One decompression context per thread, reused (creating one per blob was ~2 % of a
        // restore's CPU).
        thread_local! {
            static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
                const { std::cell::RefCell::new(None) };
        }
        return DCTX.with(|d| {
            let mut d = d.borrow_mut();
            let d = match d.as_mut() {
                Some(d) => d,
                None => d.insert(zstd::bulk::Decompressor::new()?),
            };
            d.decompress(stored, raw_len as usize)
        });
    }
    let mut out = Vec::with_capacity(stored.len().saturating_mul(4).min(raw_len as usize));
    zstd::stream::read::Decoder::new(stored)?
        .take(u64::from(raw_len) + 1)
        .read_to_end(&mut out)?;
    if out.len() > raw_len as usize {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the frame holds more than {raw_len} bytes"),
        ));
    }
    Ok(out)
}

/// What a pack's header says of one stored blob: all it takes to open, decompress and check
/// it ([`decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlob {
    pub id: BlobId,
    /// The pack it is stored in (named by errors).
    pub pack: PackId,
    pub kind: BlobKind,
    pub compression: Compression,
    /// Its length once decompressed, as the header claims it.
    pub raw_len: u32,
}

impl StoredBlob {
    fn ad(&self) -> [u8; 48] {
        ad(self.kind, &self.id)
    }

    fn auth_error(&self) -> RepoError {
        RepoError::Authentication {
            key: keys::pack(&self.pack).to_string(),
            what: format!("{} blob {}", self.kind.what(), self.id),
        }
    }

    fn decompress_error(&self, source: std::io::Error) -> RepoError {
        RepoError::Decompress {
            blob: self.id,
            pack: self.pack,
            source,
        }
    }

    /// A header claiming more than the format allows is refused before any allocation: no
    /// bomb can exhaust memory.
    fn check_raw_len(&self) -> Result<()> {
        let raw_len = self.raw_len;
        if raw_len > MAX_RAW_LEN {
            return Err(self.decompress_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "its header claims {raw_len} bytes, more than a blob may hold ({MAX_RAW_LEN})"
                ),
            )));
        }
        Ok(())
    }

    /// The opened bytes of a compressed blob decompressed, after checking the sizes its header
    /// and frame claim (a frame declaring another size than the header is refused too).
    fn inflate(&self, stored: &[u8]) -> Result<Bytes> {
        self.check_raw_len()?;
        let raw_len = self.raw_len;
        if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(stored)
            && declared != u64::from(raw_len)
        {
            return Err(self.decompress_error(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("its frame declares {declared} bytes, its header {raw_len}"),
            )));
        }
        decompress(stored, raw_len)
            .map(Bytes::from)
            .map_err(|source| self.decompress_error(source))
    }

    /// The blob's bytes, once they hash to its id and have its length.
    fn check_id(&self, crypto: &Crypto, raw: Bytes) -> Result<Bytes> {
        let actual = crypto.blob_id(&raw);
        if actual != self.id || raw.len() != self.raw_len as usize {
            return Err(RepoError::BlobMismatch {
                blob: self.id,
                pack: self.pack,
                actual,
            });
        }
        Ok(raw)
    }

    /// The rest of [`decode`] once the blob is opened: decompressed and checked against its id.
    fn check_opened(
        &self,
        crypto: &Crypto,
        opened: std::result::Result<Bytes, crate::repo::crypto::AuthError>,
    ) -> Result<Bytes> {
        let stored = opened.map_err(|_| self.auth_error())?;
        let raw = match self.compression {
            Compression::None => {
                self.check_raw_len()?;
                stored
            }
            Compression::Zstd => self.inflate(&stored)?,
        };
        self.check_id(crypto, raw)
    }
}

/// Opens (format 2), decompresses a stored blob and checks it against its id; CPU-bound.
/// A compressed blob of an encrypted repository is opened into the thread's buffer and
/// decompressed from there ([`Crypto::open_then`]): no copy of the stored bytes.
pub fn decode(crypto: &Crypto, blob: &StoredBlob, stored: Bytes) -> Result<Bytes> {
    if blob.compression == Compression::Zstd && crypto.is_encrypted() {
        let raw = crypto
            .open_then(&blob.ad(), &stored, |plain| blob.inflate(plain))
            .map_err(|_| blob.auth_error())??;
        return blob.check_id(crypto, raw);
    }
    blob.check_opened(crypto, crypto.open(&blob.ad(), stored))
}

/// [`decode`] of a blob read into a buffer of its own: opened in place (no copy of the
/// stored bytes); the same checks.
pub fn decode_in_place(
    crypto: &Crypto,
    blob: &StoredBlob,
    stored: bytes::BytesMut,
) -> Result<Bytes> {
    blob.check_opened(crypto, crypto.open_in_place(&blob.ad(), stored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::crypto::{MasterKey, SEAL_OVERHEAD};
    use std::error::Error as _;

    /// Reused compression contexts give the frame a new context gives, whatever was compressed
    /// before and at which level (nothing of an earlier blob leaks into the next), from several
    /// threads at once.
    #[test]
    fn reused_compression_contexts_give_the_same_frames() {
        let text: Vec<u8> = (0..300_000u32)
            .flat_map(|i| format!("line {} of {}\n", i % 977, i % 13).into_bytes())
            .collect();
        let parts = [&text[..1000], &text[..], &text[5000..90_000], &text[..64]];
        std::thread::scope(|s| {
            for t in 0..4 {
                s.spawn(move || {
                    for round in 0..3 {
                        for (i, p) in parts.iter().enumerate() {
                            let level = [1, 3, 9][(i + round + t) % 3];
                            let reused = compress_zstd(p, level).unwrap();
                            assert_eq!(reused, zstd::bulk::compress(p, level).unwrap());
                        }
                    }
                });
            }
        });
    }

    fn encode(id: BlobId, kind: BlobKind, raw: Bytes, level: i32) -> Result<EncodedBlob> {
        super::encode(&Crypto::plaintext(), id, kind, raw, level)
    }
    fn decode(
        id: BlobId,
        pack: PackId,
        compression: Compression,
        raw_len: u32,
        stored: Bytes,
    ) -> Result<Bytes> {
        let blob = StoredBlob {
            id,
            pack,
            kind: BlobKind::Data,
            compression,
            raw_len,
        };
        super::decode(&Crypto::plaintext(), &blob, stored)
    }

    /// Issue 14: a sealed blob opens only as itself (its kind and id are authenticated), and
    /// a flipped byte anywhere fails authentication naming the pack and the blob.
    #[test]
    fn sealed_blobs_open_only_as_themselves() {
        let c = Crypto::with_master(&MasterKey::from_bytes([3; 32]));
        let text = Bytes::from("privileged and confidential ".repeat(100));
        let id = c.blob_id(&text);
        let e = super::encode(&c, id, BlobKind::Meta, text.clone(), 3).unwrap();
        assert_eq!(e.compression, Compression::Zstd);
        let plain = encode(id, BlobKind::Meta, text.clone(), 3).unwrap();
        assert_eq!(e.stored.len(), plain.stored.len() + SEAL_OVERHEAD);
        let pack = PackId::of(b"pack");
        let dec = |kind, id, stored| {
            let blob = StoredBlob {
                id,
                pack,
                kind,
                compression: e.compression,
                raw_len: e.raw_len,
            };
            super::decode(&c, &blob, stored)
        };
        assert_eq!(dec(BlobKind::Meta, id, e.stored.clone()).unwrap(), text);
        let err = dec(BlobKind::Data, id, e.stored.clone()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("failed authentication")
                && msg.contains(&pack.to_string())
                && msg.contains(&id.to_string()),
            "{msg}"
        );
        assert!(dec(BlobKind::Meta, c.blob_id(b"x"), e.stored.clone()).is_err());
        let mut bad = e.stored.to_vec();
        bad[SEAL_OVERHEAD] ^= 1;
        let err = dec(BlobKind::Meta, id, Bytes::from(bad)).unwrap_err();
        assert!(matches!(err, RepoError::Authentication { .. }), "{err}");
    }

    /// Issue 18: a pack header claiming a blob larger than the format allows, or a zstd frame
    /// declaring another size than the header, is refused before anything is allocated; in
    /// plain text and encrypted repositories alike, from a shared range (opened into the
    /// thread's buffer) and from a buffer of its own (opened in place).
    #[test]
    fn blob_sizes_beyond_the_format_are_refused_before_decompressing() {
        let raw = Bytes::from("the quick brown fox ".repeat(1000));
        let pack = PackId::default();
        for c in [
            Crypto::plaintext(),
            Crypto::with_master(&MasterKey::from_bytes([4; 32])),
        ] {
            let id = c.blob_id(&raw);
            let e = super::encode(&c, id, BlobKind::Data, raw.clone(), 3).unwrap();
            assert_eq!(e.compression, Compression::Zstd);
            let claiming = |raw_len| StoredBlob {
                id,
                pack,
                kind: BlobKind::Data,
                compression: e.compression,
                raw_len,
            };
            let decoders: [&dyn Fn(u32) -> Result<Bytes>; 2] = [
                &|raw_len| super::decode(&c, &claiming(raw_len), e.stored.clone()),
                &|raw_len| {
                    let stored = bytes::BytesMut::from(&e.stored[..]);
                    super::decode_in_place(&c, &claiming(raw_len), stored)
                },
            ];
            for (i, dec) in decoders.iter().enumerate() {
                let what = format!("{c:?}, decoder {i}");
                for claimed in [MAX_RAW_LEN + 1, u32::MAX] {
                    let err = dec(claimed).unwrap_err();
                    assert!(
                        err.source()
                            .unwrap()
                            .to_string()
                            .contains("more than a blob may hold"),
                        "{what}: {err:?}"
                    );
                }
                let err = dec(e.raw_len * 2).unwrap_err();
                assert!(
                    err.source().unwrap().to_string().contains("frame declares"),
                    "{what}: {err:?}"
                );
                assert_eq!(dec(e.raw_len).unwrap(), raw, "{what}");
            }
        }
    }

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
