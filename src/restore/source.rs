//! Reading what a restore writes: every version's bytes from the repository, each blob checked
//! against its BLAKE3 id by the repository reader, and the total checked against the size the
//! snapshot recorded. Nothing unverified leaves this module.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use tracing::Instrument;

use super::report::ItemFailure;
use crate::catalog::{PlannedDocument, VersionRow};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetResultPayload, ObjectStore};

use crate::repo::backend::keys;
use crate::repo::blob;
use crate::repo::id::BlobId;
use crate::repo::index::BlobLocation;
use crate::repo::{ContentRef, Indexed, Repository, error_chain};

/// The action named in failures of this module.
pub const READ_ACTION: &str = "reading the backed-up content from the repository";

#[derive(Clone)]
pub struct Source {
    repo: Repository<Indexed>,
    /// Blobs read ahead for the batch being restored.
    pre: Option<Arc<Prefetched>>,
}

fn failure(v: &VersionRow, error: String) -> ItemFailure {
    ItemFailure {
        object: v.id.to_string(),
        action: READ_ACTION.into(),
        error,
    }
}

/// A version's content reference, from the catalog row.
pub fn content_ref(v: &VersionRow) -> Result<ContentRef, ItemFailure> {
    serde_json::from_value(v.content.clone()).map_err(|e| {
        failure(
            v,
            format!("the catalog holds no valid content reference for it: {e}"),
        )
    })
}

/// Checks the running total of a version's bytes against the recorded size.
pub struct SizeCheck<'a> {
    v: &'a VersionRow,
    expected: u64,
    got: u64,
}

impl<'a> SizeCheck<'a> {
    pub fn new(v: &'a VersionRow, content: &ContentRef) -> Self {
        Self {
            v,
            expected: content.size,
            got: 0,
        }
    }
    pub fn add(&mut self, n: usize) -> Result<(), ItemFailure> {
        self.got += n as u64;
        if self.got > self.expected {
            return Err(self.mismatch());
        }
        Ok(())
    }
    pub fn finish(&self) -> Result<(), ItemFailure> {
        if self.got != self.expected || self.expected != self.v.size {
            return Err(self.mismatch());
        }
        Ok(())
    }
    fn mismatch(&self) -> ItemFailure {
        failure(
            self.v,
            format!(
                "content length mismatch: the snapshot records {} bytes (profile size {}), the repository gave {}",
                self.expected, self.v.size, self.got
            ),
        )
    }
}

impl Source {
    pub fn new(repo: Repository<Indexed>) -> Self {
        Self { repo, pre: None }
    }

    /// The verified chunks of one version, in order. A chunk that fails verification ends the
    /// stream with a failure naming the version (and, in the cause, the pack and blob).
    pub fn stream(
        &self,
        v: &VersionRow,
    ) -> Result<(ContentRef, BoxStream<'static, Result<Bytes, String>>), ItemFailure> {
        if let Some(r) = self.in_memory(v) {
            let (content, blobs) = r?;
            let s = futures::stream::iter(blobs.into_iter().map(Ok)).boxed();
            return Ok((content, s));
        }
        let content = content_ref(v)?;
        let s = self
            .repo
            .read_content(&content)
            .map(|r| r.map_err(|e| error_chain(&e)))
            .boxed();
        Ok((content, s))
    }

    /// The whole verified content of one version in memory (uploads to iManage: nothing is
    /// sent before every byte was checked).
    pub async fn read_all(&self, v: &VersionRow) -> Result<Bytes, ItemFailure> {
        let (content, mut s) = self.stream(v)?;
        let mut check = SizeCheck::new(v, &content);
        let mut buf = BytesMut::with_capacity(content.size.min(256 << 20) as usize);
        while let Some(chunk) = s.next().await {
            let chunk = chunk.map_err(|e| failure(v, e))?;
            check.add(chunk.len())?;
            buf.extend_from_slice(&chunk);
        }
        check.finish()?;
        Ok(buf.freeze())
    }

    /// Orders documents by where their first blob lives (pack, offset), so a large restore
    /// reads packs front to back and each pack about once.
    pub fn order_by_pack(&self, docs: &mut [PlannedDocument]) {
        let index = self.repo.index();
        let key = |d: &PlannedDocument| {
            d.versions
                .first()
                .and_then(|v| content_ref(v).ok())
                .and_then(|c| c.blobs.first().and_then(|b| index.get(b)))
                .map(|loc| (loc.pack, loc.offset))
        };
        docs.sort_by_cached_key(key);
    }
}

/// Batches of documents restored together are cut at this many bytes of content (default).
pub const BATCH_BYTES: u64 = 16 * 1024 * 1024;
/// ... or at this many documents.
pub const BATCH_DOCUMENTS: usize = 512;
/// Versions larger than this are not read ahead; they stream from the repository.
pub const PREFETCH_MAX_VERSION: u64 = 64 * 1024 * 1024;
/// A read-ahead range of one pack spans at most this many bytes ...
pub const RANGE_MAX: u64 = 8 * 1024 * 1024;
/// ... and bridges gaps (blobs not needed) up to this many bytes between the blobs it serves.
pub const RANGE_GAP: u64 = 256 * 1024;
/// Read-ahead ranges in flight at once.
pub const RANGES_IN_FLIGHT: usize = 4;

/// Verified blobs read ahead for one batch of documents. A blob whose check failed holds the
/// reason, so only the versions using it fail; a blob whose range could not be read is left
/// out, and its versions are read (and fail, naming the pack) through the ordinary path.
#[derive(Default)]
pub struct Prefetched {
    blobs: HashMap<BlobId, Result<Bytes, String>>,
}

impl Prefetched {
    /// Blobs held (verified or failed).
    pub fn len(&self) -> usize {
        self.blobs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }
}

/// Cuts documents (already in pack order) into batches of about `max_bytes` of content (see
/// [`BATCH_BYTES`]) and at most [`BATCH_DOCUMENTS`] documents; a document is never split.
pub fn batches<T>(
    items: Vec<T>,
    max_bytes: u64,
    doc: impl Fn(&T) -> &PlannedDocument,
) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut cur: Vec<T> = Vec::new();
    let mut bytes = 0u64;
    for it in items {
        let size: u64 = doc(&it).versions.iter().map(|v| v.size).sum();
        if !cur.is_empty() && (bytes + size > max_bytes || cur.len() >= BATCH_DOCUMENTS) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += size;
        cur.push(it);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Ranges at least this long are memory-mapped from a local pack file (see [`read_range`]).
pub const MAP_MIN: u64 = 256 * 1024;

/// Reads `len` bytes at `start` of the object `key`. From a local store the range is read from
/// the pack file directly: a read-only memory map when it is at least [`MAP_MIN`] long (the
/// page cache's own pages, no copy and no zeroed buffer), else one positioned read; from any
/// other store, a ranged GET. The length is checked; the caller checks every blob's BLAKE3.
///
/// A mapped pack file must not be truncated while the restore reads it (pack files are written
/// once under their final name and only ever deleted, which leaves a mapping intact).
async fn read_range(
    store: &Arc<dyn ObjectStore>,
    key: &ObjectPath,
    start: u64,
    len: u64,
) -> Result<Bytes, String> {
    let opts = GetOptions {
        range: Some((start..start + len).into()),
        ..GetOptions::default()
    };
    let got = store
        .get_opts(key, opts)
        .await
        .map_err(|e| format!("reading {key}: {e}"))?;
    if got.range != (start..start + len) {
        return Err(format!(
            "reading {key}: range {start}+{len} returned {:?} (object truncated?)",
            got.range
        ));
    }
    #[cfg(unix)]
    if let GetResultPayload::File(file, path) = got.payload {
        return tokio::task::spawn_blocking(move || {
            local_range(&file, start, len).map_err(|e| format!("reading {}: {e}", path.display()))
        })
        .await
        .map_err(|e| format!("reading {key}: {e}"))?;
    }
    let b = got
        .bytes()
        .await
        .map_err(|e| format!("reading {key}: {e}"))?;
    if b.len() as u64 != len {
        return Err(format!(
            "reading {key}: range {start}+{len} returned {} bytes (object truncated?)",
            b.len()
        ));
    }
    Ok(b)
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
    // SAFETY: a new private read-only mapping of an open descriptor; nothing else aliases it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
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

struct Range {
    pack: crate::repo::id::PackId,
    start: u64,
    end: u64,
    blobs: Vec<(BlobId, BlobLocation)>,
}

/// The ranges that read `blobs` (sorted by pack and offset, no duplicates): one per run of
/// nearby blobs of one pack.
fn ranges(blobs: Vec<(BlobId, BlobLocation)>) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for (id, loc) in blobs {
        let (s, e) = (loc.offset as u64, loc.offset as u64 + loc.stored_len as u64);
        if let Some(r) = out.last_mut()
            && r.pack == loc.pack
            && s >= r.end
            && s - r.end <= RANGE_GAP
            && e - r.start <= RANGE_MAX
        {
            r.end = e;
            r.blobs.push((id, loc));
            continue;
        }
        out.push(Range {
            pack: loc.pack,
            start: s,
            end: e,
            blobs: vec![(id, loc)],
        });
    }
    out
}

impl Source {
    /// The same source, serving the blobs of `pre` from memory.
    pub fn with_prefetched(&self, pre: Arc<Prefetched>) -> Source {
        Source {
            repo: self.repo.clone(),
            pre: Some(pre),
        }
    }

    /// Reads ahead every blob the versions of `docs` need (versions up to
    /// [`PREFETCH_MAX_VERSION`]): blobs sorted by pack and offset, nearby blobs of a pack
    /// fetched with one ranged read (each pack read about once, front to back), each blob
    /// decompressed and checked against its id off the async threads. Runs as its own task so
    /// it proceeds while the previous batch is being written.
    pub fn prefetch(&self, docs: &[&PlannedDocument]) -> tokio::task::JoinHandle<Prefetched> {
        let index = self.repo.index().clone();
        let mut wanted: Vec<(BlobId, BlobLocation)> = docs
            .iter()
            .flat_map(|d| d.versions.iter())
            .filter(|v| v.size <= PREFETCH_MAX_VERSION)
            .filter_map(|v| content_ref(v).ok())
            .flat_map(|c| c.blobs.into_iter())
            .filter_map(|b| index.get(&b).map(|loc| (b, loc)))
            .collect();
        wanted.sort_by_key(|(_, loc)| (loc.pack, loc.offset));
        wanted.dedup_by(|a, b| a.0 == b.0);
        let store = self.repo.store().clone();
        let span = tracing::debug_span!("prefetch", blobs = wanted.len());
        tokio::spawn(
            async move {
                let mut pre = Prefetched::default();
                let mut reads = futures::stream::iter(ranges(wanted))
                    .map(|r| {
                        let store = store.clone();
                        async move {
                            let key = keys::pack(&r.pack);
                            let bytes = match read_range(&store, &key, r.start, r.end - r.start)
                                .await
                            {
                                Ok(b) => b,
                                Err(e) => {
                                    tracing::debug!(pack = %r.pack, error = %e, "read-ahead failed; its versions are read one by one");
                                    return Vec::new();
                                }
                            };
                            let start = r.start;
                            tokio::task::spawn_blocking(move || {
                                r.blobs
                                    .into_iter()
                                    .map(|(id, loc)| {
                                        let s = (loc.offset as u64 - start) as usize;
                                        let stored = bytes.slice(s..s + loc.stored_len as usize);
                                        let b = blob::decode(
                                            id,
                                            loc.pack,
                                            loc.compression,
                                            loc.raw_len,
                                            stored,
                                        )
                                        .map_err(|e| error_chain(&e));
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
                    pre.blobs.extend(blobs);
                }
                pre
            }
            .instrument(span),
        )
    }

    /// The verified content of `v` if every blob of it was read ahead: its reference and its
    /// blobs in order (size checked), or the failure naming the version. `None` if it was not
    /// read ahead (stream it instead).
    pub fn in_memory(
        &self,
        v: &VersionRow,
    ) -> Option<Result<(ContentRef, Vec<Bytes>), ItemFailure>> {
        let pre = self.pre.as_ref()?;
        let content = match content_ref(v) {
            Ok(c) => c,
            Err(f) => return Some(Err(f)),
        };
        if !content.blobs.iter().all(|b| pre.blobs.contains_key(b)) {
            return None;
        }
        let mut check = SizeCheck::new(v, &content);
        let mut out = Vec::with_capacity(content.blobs.len());
        for b in &content.blobs {
            match &pre.blobs[b] {
                Ok(bytes) => {
                    if let Err(f) = check.add(bytes.len()) {
                        return Some(Err(f));
                    }
                    out.push(bytes.clone());
                }
                Err(e) => return Some(Err(failure(v, e.clone()))),
            }
        }
        Some(check.finish().map(|()| (content, out)))
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
    /// past the end of the object is an error, not a short read.
    #[tokio::test]
    async fn ranges_from_local_and_other_stores_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        let data = Bytes::from(pattern(3 * 1024 * 1024 + 123));
        let local: Arc<dyn ObjectStore> =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let key = ObjectPath::from("packs/ab/abcd");
        for store in [&local, &memory] {
            store.put(&key, data.clone().into()).await.unwrap();
            for (start, len) in [
                (0u64, 10u64),
                (4095, MAP_MIN - 1),
                (4097, MAP_MIN),
                (12_345, 2 * 1024 * 1024 + 17),
                (data.len() as u64 - MAP_MIN - 3, MAP_MIN + 3),
            ] {
                let got = read_range(store, &key, start, len).await.unwrap();
                assert_eq!(got.len() as u64, len);
                assert!(
                    got == data.slice(start as usize..(start + len) as usize),
                    "{start}+{len} differs"
                );
            }
            let past = read_range(store, &key, data.len() as u64 - 100, MAP_MIN)
                .await
                .unwrap_err();
            assert!(past.contains("abcd"), "{past}");
        }
    }
}
