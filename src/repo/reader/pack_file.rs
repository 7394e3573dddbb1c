//! Bytes of pack objects: a range, or a whole pack. From a local store a range is read from the
//! pack file directly (memory-mapped when long); from any other store, a ranged GET.

use std::sync::Arc;

use bytes::{Buf as _, Bytes, BytesMut};
use futures::{Stream, StreamExt as _};
use object_store::path::Path;
use object_store::{GetOptions, GetResult, GetResultPayload, ObjectStore};

use super::ranges::PackRange;
use crate::repo::backend::{self, keys};
use crate::repo::error::{RepoError, Result};
use crate::repo::id::PackId;

/// Ranges at least this long are memory-mapped from a local pack file (see [`read_range`]).
pub const MAP_MIN: u64 = 256 * 1024;

/// A whole pack object.
pub async fn read_pack(store: &Arc<dyn ObjectStore>, pack: &PackId) -> Result<Bytes> {
    backend::get(store.as_ref(), &keys::pack(pack)).await
}

/// Reads `len` bytes at `start` of the object `key`. From a local store the range is read from
/// the file directly: a read-only memory map when it is at least [`MAP_MIN`] long (the page
/// cache's own pages, no copy and no zeroed buffer), else one positioned read; from any other
/// store, a ranged GET. The length is checked; the caller checks every blob's BLAKE3.
///
/// A mapped pack file must not be truncated while it is read (pack files are written once
/// under their final name and only ever deleted, which leaves a mapping intact).
pub async fn read_range(
    store: &dyn ObjectStore,
    key: &Path,
    start: u64,
    len: u64,
) -> Result<Bytes> {
    if len == 0 {
        return Ok(Bytes::new());
    }
    let got = match open_range(store, key, start, len).await? {
        Opened::Local(b) => return Ok(b),
        Opened::Body(got) => got,
    };
    let b = got.bytes().await.map_err(|e| backend::get_error(key, e))?;
    if b.len() as u64 != len {
        return Err(truncated(key, start, len, format!("{} bytes", b.len())));
    }
    Ok(b)
}

/// The stored bytes of a range's blobs, as [`read_range_blobs`] reads them.
#[derive(Debug)]
pub enum RangeBytes {
    /// The whole range in one buffer (a local pack file: a memory map or one positioned read).
    Whole(Bytes),
    /// Each blob's stored bytes in a buffer of its own, in the range's order (a ranged GET).
    Blobs(Vec<BytesMut>),
}

/// Reads the blobs of `range` from the object `key` (a pack). From a local store: the whole
/// range as [`read_range`] reads it. From any other store the GET's body is cut into one buffer
/// per blob as it arrives and the bytes between blobs are dropped: no buffer of the whole
/// range (up to 16 MiB, a fresh memory map whose pages each fault in zeroed, for every read)
/// is allocated, and each blob's buffer is one the decoder opens in place. The length is
/// checked; the caller checks every blob.
pub async fn read_range_blobs(
    store: &dyn ObjectStore,
    key: &Path,
    range: &PackRange,
) -> Result<RangeBytes> {
    let (start, len) = (range.start, range.len());
    if len == 0 {
        // Blobs of no bytes (none is ever written; a damaged index could say so): each one
        // empty buffer, which the decoder refuses.
        return Ok(RangeBytes::Blobs(
            range.blobs.iter().map(|_| BytesMut::new()).collect(),
        ));
    }
    let got = match open_range(store, key, start, len).await? {
        Opened::Local(b) => return Ok(RangeBytes::Whole(b)),
        Opened::Body(got) => got,
    };
    cut_blobs(range, got.into_stream(), key)
        .await
        .map(RangeBytes::Blobs)
}

/// Cuts the body of a GET of `range` into its blobs' stored bytes (see [`read_range_blobs`]); a
/// body shorter or longer than the range is refused as a truncated object.
async fn cut_blobs<S>(range: &PackRange, mut body: S, key: &Path) -> Result<Vec<BytesMut>>
where
    S: Stream<Item = object_store::Result<Bytes>> + Unpin,
{
    let mut blobs: Vec<BytesMut> = Vec::with_capacity(range.blobs.len());
    let mut filling: Option<BytesMut> = None;
    let mut at = range.start;
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| backend::get_error(key, e))?;
        while !chunk.is_empty() {
            let Some((_, loc)) = range.blobs.get(blobs.len()) else {
                let got = at - range.start + chunk.len() as u64;
                return Err(truncated(
                    key,
                    range.start,
                    range.len(),
                    format!("at least {got} bytes"),
                ));
            };
            let (s, e) = (
                u64::from(loc.offset),
                u64::from(loc.offset) + u64::from(loc.stored_len),
            );
            if at < s {
                // Bytes of blobs not wanted, between two that are.
                let skip = ((s - at) as usize).min(chunk.len());
                chunk.advance(skip);
                at += skip as u64;
                continue;
            }
            let buf =
                filling.get_or_insert_with(|| BytesMut::with_capacity(loc.stored_len as usize));
            let take = ((e - at) as usize).min(chunk.len());
            buf.extend_from_slice(&chunk[..take]);
            chunk.advance(take);
            at += take as u64;
            if at == e {
                blobs.push(filling.take().unwrap_or_default());
            }
        }
    }
    // Blobs of no bytes at the end (see `read_range_blobs`).
    while let Some((_, loc)) = range.blobs.get(blobs.len())
        && loc.stored_len == 0
        && u64::from(loc.offset) == at
    {
        blobs.push(BytesMut::new());
    }
    if blobs.len() != range.blobs.len() || at != range.end {
        let got = at - range.start;
        return Err(truncated(
            key,
            range.start,
            range.len(),
            format!("{got} bytes"),
        ));
    }
    Ok(blobs)
}

/// A range that did not come back whole.
fn truncated(key: &Path, start: u64, len: u64, got: String) -> RepoError {
    RepoError::Corrupt {
        key: key.to_string(),
        reason: format!("range {start}+{len} returned {got} (object truncated or replaced?)"),
    }
}

/// A ranged read, opened: a local file's bytes already read, or a GET's body to come.
enum Opened {
    Local(Bytes),
    Body(GetResult),
}

/// Asks the store for `len` (> 0) bytes at `start` of `key`; the range it answers is checked.
async fn open_range(store: &dyn ObjectStore, key: &Path, start: u64, len: u64) -> Result<Opened> {
    let opts = GetOptions {
        range: Some((start..start + len).into()),
        ..GetOptions::default()
    };
    let got = store
        .get_opts(key, opts)
        .await
        .map_err(|e| backend::get_error(key, e))?;
    if got.range != (start..start + len) {
        return Err(truncated(key, start, len, format!("{:?}", got.range)));
    }
    #[cfg(unix)]
    if let GetResultPayload::File(file, path) = got.payload {
        let key = key.to_string();
        return tokio::task::spawn_blocking(move || {
            local_range(&file, start, len).map_err(|source| RepoError::ReadFile {
                key,
                path,
                source,
            })
        })
        .await
        .map_err(|source| RepoError::Task {
            task: "read a pack file",
            source,
        })?
        .map(Opened::Local);
    }
    Ok(Opened::Body(got))
}

/// `len` bytes at `start` of a local file: mapped (read-only, populated) if long, else read.
#[cfg(unix)]
fn local_range(file: &std::fs::File, start: u64, len: u64) -> std::io::Result<Bytes> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::FileExt as _;
    if len < MAP_MIN {
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, start)?;
        return Ok(Bytes::from(buf));
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let offset = start - start % page;
    let delta = (start - offset) as usize;
    let map_len = delta + len as usize;
    // Linux reads the pages in at once (fewer faults); elsewhere they fault in as read.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = libc::MAP_PRIVATE | libc::MAP_POPULATE;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = libc::MAP_PRIVATE;
    // SAFETY: a new private read-only mapping of an open descriptor; nothing else aliases it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ,
            flags,
            file.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let map = Mapped {
        ptr: ptr.cast(),
        len: map_len,
    };
    Ok(Bytes::from_owner(map).slice(delta..map_len))
}

/// A read-only memory map, unmapped when the last [`Bytes`] slice of it is dropped.
#[cfg(unix)]
struct Mapped {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone.
#[cfg(unix)]
unsafe impl Send for Mapped {}
// SAFETY: as above; shared access only reads.
#[cfg(unix)]
unsafe impl Sync for Mapped {}

#[cfg(unix)]
impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

#[cfg(unix)]
impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `local_range`, once.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt as _;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 4093) as u8).collect()
    }

    /// Ranges read from a local store (mapped when long, read when short, at offsets that are
    /// not page-aligned) and from a non-local store give exactly the bytes asked for; a range
    /// past the end of the object is an error naming it, not a short read.
    #[tokio::test]
    async fn ranges_from_local_and_other_stores_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        let data = Bytes::from(pattern(3 * 1024 * 1024 + 123));
        let local: Arc<dyn ObjectStore> =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let key = Path::from("packs/ab/abcd");
        for store in [&local, &memory] {
            store.put(&key, data.clone().into()).await.unwrap();
            for (start, len) in [
                (0u64, 10u64),
                (4095, MAP_MIN - 1),
                (4097, MAP_MIN),
                (12_345, 2 * 1024 * 1024 + 17),
                (data.len() as u64 - MAP_MIN - 3, MAP_MIN + 3),
            ] {
                let got = read_range(store.as_ref(), &key, start, len).await.unwrap();
                assert_eq!(got.len() as u64, len);
                assert!(
                    got == data.slice(start as usize..(start + len) as usize),
                    "{start}+{len} differs"
                );
            }
            let past = read_range(store.as_ref(), &key, data.len() as u64 - 100, MAP_MIN)
                .await
                .unwrap_err();
            let past = crate::repo::error_chain(&past);
            assert!(past.contains("abcd"), "{past}");
        }
    }

    /// The blobs of a range at these (offset, stored length) of a pack, in order.
    fn range_of(blobs: &[(u32, u32)]) -> PackRange {
        use crate::repo::blob::{BlobKind, Compression};
        use crate::repo::index::BlobLocation;
        let loc = |(offset, len): (u32, u32)| BlobLocation {
            pack: PackId([9; 32]),
            kind: BlobKind::Data,
            compression: Compression::None,
            offset,
            stored_len: len,
            raw_len: len,
        };
        let id = |o: u32| crate::repo::id::BlobId::of(&o.to_le_bytes());
        let any = super::super::RangeLimits {
            max_len: u64::MAX,
            max_gap: u64::MAX,
        };
        let mut r = PackRange::new(id(blobs[0].0), loc(blobs[0]));
        for b in &blobs[1..] {
            assert!(r.extend(id(b.0), loc(*b), any));
        }
        r
    }

    /// A GET's body cut into blobs gives each blob's exact bytes whatever the size of its
    /// chunks (a byte, a few, more than the range), the bytes between blobs skipped; a body a
    /// byte short or a byte long, or one that fails midway, is an error naming the object.
    #[tokio::test]
    async fn bodies_are_cut_into_blobs_whatever_their_chunks() {
        let data = pattern(120_000);
        let key = Path::from("packs/ab/abcd");
        let blobs = [
            (1000, 10),
            (1010, 1),
            (5000, 30_000),
            (40_000, 7),
            (90_000, 10_000),
        ];
        let range = range_of(&blobs);
        let body = |from: usize, to: usize, chunk: usize| {
            let chunks: Vec<object_store::Result<Bytes>> = data[from..to]
                .chunks(chunk)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            futures::stream::iter(chunks)
        };
        let (s, e) = (range.start as usize, range.end as usize);
        for chunk in [1, 7, 4093, 65_536, 200_000] {
            let got = cut_blobs(&range, body(s, e, chunk), &key).await.unwrap();
            assert_eq!(got.len(), blobs.len());
            for (b, (o, l)) in got.iter().zip(blobs) {
                assert_eq!(
                    &b[..],
                    &data[o as usize..(o + l) as usize],
                    "chunks of {chunk}"
                );
            }
            for (from, to) in [(s, e - 1), (s, e + 1), (s, s)] {
                let err = cut_blobs(&range, body(from, to, chunk), &key)
                    .await
                    .unwrap_err();
                let err = crate::repo::error_chain(&err);
                assert!(err.contains("abcd") && err.contains("truncated"), "{err}");
            }
        }
        let failing = futures::stream::iter(vec![
            Ok(Bytes::copy_from_slice(&data[s..s + 2000])),
            Err(object_store::Error::Generic {
                store: "test",
                source: "connection reset".into(),
            }),
        ]);
        let err = cut_blobs(&range, failing, &key).await.unwrap_err();
        let err = crate::repo::error_chain(&err);
        assert!(
            err.contains("abcd") && err.contains("connection reset"),
            "{err}"
        );
    }

    /// Blobs of no bytes (a damaged index) at the start, middle and end of a range each get an
    /// empty buffer (which the decoder refuses), and a range of nothing but such blobs is not
    /// read: nothing is left without an answer.
    #[tokio::test]
    async fn blobs_of_no_bytes_each_get_an_empty_buffer() {
        let data = pattern(3000);
        let key = Path::from("packs/ab/abcd");
        let blobs = [(1000, 0), (1000, 10), (1010, 0), (2000, 5), (2005, 0)];
        let range = range_of(&blobs);
        let body = futures::stream::iter(vec![Ok::<_, object_store::Error>(
            Bytes::copy_from_slice(&data[1000..2005]),
        )]);
        let got = cut_blobs(&range, body, &key).await.unwrap();
        let got: Vec<&[u8]> = got.iter().map(|b| &b[..]).collect();
        assert_eq!(
            got,
            [&[][..], &data[1000..1010], &[], &data[2000..2005], &[]]
        );
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let empty = range_of(&[(7, 0), (7, 0)]);
        match read_range_blobs(memory.as_ref(), &key, &empty)
            .await
            .unwrap()
        {
            RangeBytes::Blobs(b) => assert_eq!(b.len(), 2),
            RangeBytes::Whole(_) => panic!("nothing to read"),
        }
    }

    /// From a local store a range's blobs come as the whole range, from any other store one
    /// buffer per blob: the same bytes.
    #[tokio::test]
    async fn range_blobs_from_local_and_other_stores_are_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let data = Bytes::from(pattern(2 * 1024 * 1024));
        let local: Arc<dyn ObjectStore> =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let key = Path::from("packs/ab/abcd");
        let blobs = [(4097, 300_000), (400_000, 5), (1_000_000, 1_000_000)];
        for (store, whole) in [(&local, true), (&memory, false)] {
            store.put(&key, data.clone().into()).await.unwrap();
            let range = range_of(&blobs);
            let parts: Vec<Bytes> = match read_range_blobs(store.as_ref(), &key, &range)
                .await
                .unwrap()
            {
                RangeBytes::Whole(b) => {
                    assert!(whole);
                    range.split(&b).map(|(_, _, b)| b).collect()
                }
                RangeBytes::Blobs(v) => {
                    assert!(!whole);
                    v.into_iter().map(BytesMut::freeze).collect()
                }
            };
            assert_eq!(parts.len(), blobs.len());
            for (p, (o, l)) in parts.iter().zip(blobs) {
                assert!(p == &data.slice(o as usize..(o + l) as usize));
            }
        }
    }
}
