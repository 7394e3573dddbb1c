//! Reading what a restore writes: every version's bytes from the repository, each blob checked
//! against its BLAKE3 id by the repository reader, and the total checked against the size the
//! snapshot recorded. Nothing unverified leaves this module.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use tracing::Instrument;

use super::report::ItemFailure;
use crate::catalog::{PlannedDocument, VersionRow};
use crate::repo::reader::Unread;
use crate::repo::{BlobId, ContentRef, Indexed, Repository, error_chain};

/// The action named in failures of this module.
pub const READ_ACTION: &str = "reading the backed-up content from the repository";

#[derive(Clone)]
pub struct Source {
    repo: Repository<Indexed>,
    /// Blobs more than one window of this restore reads (see [`Repeats`]); only where reads
    /// are requests.
    repeats: Option<Arc<Repeats>>,
}

/// Blobs several windows of one restore read (a template or attachment many documents share):
/// each window reads its blobs from the packs, so such a blob was read once per window that
/// held it, each time a ranged read (a request, from S3) and a decryption. A window that reads
/// a blob an earlier window read (as far as [`Repeats::seen`], a table of blob ids indexed by
/// their first bytes, remembers) keeps it, verified, in a small cache; later windows take it
/// from there. Restoring the medium ACTIVE library (28 windows) from S3, 12 blobs are wanted
/// by 2 to 16 windows each: 229 ranged GETs without this, 150 with it (moto's CPU ~2.1 ->
/// ~1.55 s). Not for a local repository, whose ranges are memory maps of its pack files: there
/// the copies only added ~5 MiB to the peak RSS, and no speed; nor where packs are read whole
/// ([`Source::whole_packs`]: every window reads from the local copies).
struct Repeats {
    seen: Box<[std::sync::atomic::AtomicU64]>,
    kept: crate::repo::cache::BlobCache,
}

/// Slots of [`Repeats::seen`] (a power of two): 512 KiB.
const SEEN_SLOTS: usize = 1 << 16;
/// Bytes of blobs `Repeats` keeps at most (blobs over 2 MiB are not kept).
pub const REPEATS_KEPT: usize = 16 * 1024 * 1024;

impl Repeats {
    fn new() -> Self {
        Self {
            seen: (0..SEEN_SLOTS)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            kept: crate::repo::cache::BlobCache::new(REPEATS_KEPT),
        }
    }

    /// Whether an earlier call was for `id` (as far as the table remembers: another blob may
    /// have taken its slot since); notes `id` either way.
    fn seen_before(&self, id: &BlobId) -> bool {
        let mut first = [0u8; 8];
        first.copy_from_slice(&id.as_bytes()[..8]);
        let key = u64::from_le_bytes(first) | 1;
        let slot = &self.seen[key as usize >> 1 & (SEEN_SLOTS - 1)];
        slot.swap(key, std::sync::atomic::Ordering::Relaxed) == key
    }
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
        let repeats = (repo.reads() == crate::repo::backend::Reads::Requests)
            .then(|| Arc::new(Repeats::new()));
        Self { repo, repeats }
    }

    /// Reads each pack whole, once, into a local file where the store serves reads as requests
    /// (S3), and every range of it from there ([`Repository::with_pack_spill`]): a restore's
    /// windows each want a few blobs of several packs, so reading them range by range took
    /// ~3.6 GETs per pack (a medium library's export: 155 GETs of 43 packs, 43 now, as many
    /// as restic's). Blobs are still checked as they are read. Then `Repeats` is not needed.
    /// `synced`: the directory whose file system the restore syncs (an export's target).
    pub fn whole_packs(repo: Repository<Indexed>, synced: Option<&std::path::Path>) -> Self {
        Self::new(repo.with_pack_spill(crate::repo::pack_spill::SPILL_KEPT, synced))
    }

    /// The source of a restore: whole packs ([`Source::whole_packs`]) for a restore of at
    /// least [`RestoreEnv::whole_packs_from`](super::RestoreEnv) bytes ([`WHOLE_PACKS_FROM`]
    /// by default), else ranges (one document's versions need a fraction of a 16 MiB pack).
    /// An export's copies of packs stay off the file system it syncs where memory allows.
    pub fn for_restore(repo: Repository<Indexed>, large: bool, to: &super::Destination) -> Self {
        match large {
            true => Self::whole_packs(repo, to.directory()),
            false => Self::new(repo),
        }
    }

    /// The verified chunks of one version, in order. A chunk that fails verification ends the
    /// stream with a failure naming the version (and, in the cause, the pack and blob).
    pub fn stream(
        &self,
        v: &VersionRow,
    ) -> Result<(ContentRef, BoxStream<'static, Result<Bytes, String>>), ItemFailure> {
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

/// A restore reads whole packs from this many bytes of content (four packs).
pub const WHOLE_PACKS_FROM: u64 = 64 * 1024 * 1024;

/// Batches of documents restored together are cut at this many bytes of content (default).
pub const BATCH_BYTES: u64 = 16 * 1024 * 1024;
/// ... or at this many documents.
pub const BATCH_DOCUMENTS: usize = 512;
/// ... or at this many versions (a batch that is not split must fit a window's open files).
pub const BATCH_VERSIONS: usize = 512;
/// Reads of one window (see [`Source::read_each`]) in flight at once.
pub const WINDOW_READS_IN_FLIGHT: usize = 2;

/// Cuts documents (already in pack order) into batches of about `max_bytes` of content (see
/// [`BATCH_BYTES`]), at most [`BATCH_DOCUMENTS`] documents and [`BATCH_VERSIONS`] versions; a
/// document is never split.
pub fn batches<T>(
    items: Vec<T>,
    max_bytes: u64,
    doc: impl Fn(&T) -> &PlannedDocument,
) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut cur: Vec<T> = Vec::new();
    let (mut bytes, mut versions) = (0u64, 0usize);
    for it in items {
        let size: u64 = doc(&it).versions.iter().map(|v| v.size).sum();
        let n = doc(&it).versions.len();
        if !cur.is_empty()
            && (bytes + size > max_bytes
                || cur.len() >= BATCH_DOCUMENTS
                || versions + n > BATCH_VERSIONS)
        {
            out.push(std::mem::take(&mut cur));
            (bytes, versions) = (0, 0);
        }
        bytes += size;
        versions += n;
        cur.push(it);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

impl Source {
    /// The decoded length of each blob of `content`, from the index (`None`: a blob is not
    /// indexed).
    pub fn blob_lengths(&self, content: &ContentRef) -> Option<Vec<u32>> {
        let index = self.repo.index();
        content
            .blobs
            .iter()
            .map(|b| index.get(b).map(|loc| loc.raw_len))
            .collect()
    }

    /// Reads each of `blobs` once, pack by pack (ranges as far as the repository's
    /// [`Repository::window_ranges`]),
    /// handing each to `sink` verified or with the reason its check failed, on a blocking
    /// thread; returns the blobs that could not be read, with why. From a store read by
    /// requests, a blob an earlier window of this restore read is kept once read, and later
    /// windows take it from there (see `Repeats`).
    pub async fn read_each<F>(&self, blobs: Vec<BlobId>, sink: Arc<F>) -> Vec<Unread>
    where
        F: Fn(BlobId, Result<Bytes, String>) + Send + Sync + 'static,
    {
        let span = tracing::debug_span!("window reads", blobs = blobs.len());
        let Some(repeats) = self.repeats.clone() else {
            return self
                .repo
                .read_each(
                    blobs,
                    self.repo.window_ranges(),
                    WINDOW_READS_IN_FLIGHT,
                    sink,
                )
                .instrument(span)
                .await;
        };
        let mut kept = Vec::new();
        let mut again = std::collections::HashSet::new();
        let mut rest = Vec::with_capacity(blobs.len());
        for b in blobs {
            match repeats.kept.get(&b) {
                Some(bytes) => kept.push((b, bytes)),
                None => {
                    if repeats.seen_before(&b) {
                        again.insert(b);
                    }
                    rest.push(b);
                }
            }
        }
        let mut unread = Vec::new();
        if !kept.is_empty() {
            let ids: Vec<BlobId> = kept.iter().map(|(b, _)| *b).collect();
            let sink = sink.clone();
            let handed = tokio::task::spawn_blocking(move || {
                for (b, bytes) in kept {
                    sink(b, Ok(bytes));
                }
            })
            .await;
            if let Err(e) = handed {
                unread.push(Unread {
                    blobs: ids,
                    error: format!("handing over blobs kept from an earlier window: {e}"),
                });
            }
        }
        let sink = Arc::new(move |id: BlobId, got: Result<Bytes, String>| {
            if let Ok(b) = &got
                && b.len() <= REPEATS_KEPT / 8
                && again.contains(&id)
                && repeats.kept.get(&id).is_none()
            {
                // A copy: the blob may be a slice of a larger buffer (a mapped range).
                repeats.kept.insert_verified(id, Bytes::copy_from_slice(b));
            }
            sink(id, got);
        });
        unread.extend(
            self.repo
                .read_each(
                    rest,
                    self.repo.window_ranges(),
                    WINDOW_READS_IN_FLIGHT,
                    sink,
                )
                .instrument(span)
                .await,
        );
        unread
    }
}
