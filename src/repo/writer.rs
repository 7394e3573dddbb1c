//! The backup writer: chunk → hash → dedup → compress → pack → upload, with bounded memory.
//!
//! Data flow (docs/FORMAT.md, "Write order"):
//! 1. `add_content` cuts its input with FastCDC and hashes chunks on blocking threads.
//! 2. A blob already in the index, or already appended by this session, is not stored again.
//! 3. New blobs are compressed on blocking threads (several in flight) and appended to the open
//!    pack of their kind; a blob enters the "claimed" set in the same critical section that
//!    appends it, so every claimed blob is in a pack that a checkpoint will seal.
//! 4. A full pack is taken out and its upload spawned only after an upload permit is held
//!    (at most `uploads_in_flight` packs in memory); an upload yields a `PackReceipt`.
//! 5. `checkpoint` seals the open packs, awaits every upload, writes an index of the receipts
//!    (`IndexWritten`), and may store a resume record; `finish` does the same and then writes
//!    the snapshot manifest, which needs the `IndexWritten` token.
//!
//! Memory is bounded whatever the input size: at most `uploads_in_flight` sealed packs plus
//! one open pack per blob kind (each about `pack_size`), and per concurrent `add_content`
//! call the chunker buffer (under 2 × `max_size`) plus `chunks_in_flight` chunks being
//! compressed. The only state that grows with the session is the set of blob ids appended
//! since the last checkpoint (32 bytes each).

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::io::AsyncRead;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::repo::blob::{self, BlobKind};
use crate::repo::chunker::Chunker;
use crate::repo::config::RepoConfig;
use crate::repo::error::{RepoError, Result};
use crate::repo::id::{BlobId, SnapshotId};
use crate::repo::index::{self, Index, IndexWritten};
use crate::repo::objects::Objects;
use crate::repo::pack::{self, PackReceipt, PackWriter};
use crate::repo::snapshot::{
    self, CheckpointRecord, ContentRef, SessionStats, SnapshotDraft, SnapshotManifest,
};

/// Tuning of one backup session; defaults come from the repository config.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionOptions {
    /// zstd level for new blobs (`None`: the repository default; `Some(0)`: no compression).
    pub zstd_level: Option<i32>,
    /// Target pack size (`None`: the repository default).
    pub pack_size: Option<u64>,
    /// Packs uploading at once (each held in memory until stored).
    pub uploads_in_flight: usize,
    /// Chunks of one `add_content` call being compressed at once.
    pub chunks_in_flight: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            zstd_level: None,
            pack_size: None,
            uploads_in_flight: 4,
            chunks_in_flight: 4,
        }
    }
}

/// What a checkpoint made durable.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointInfo {
    pub index: IndexWritten,
    pub stats: SessionStats,
}

struct State {
    packers: [PackWriter; 2],
    claimed: HashSet<BlobId>,
    uploads: JoinSet<Result<PackReceipt>>,
    done: Vec<PackReceipt>,
    stats: SessionStats,
    failed: Option<String>,
}

/// One backup run's writer. `add_content` and `meta_stream` take `&self`, so many items can
/// be added concurrently; `finish` takes `self`, so nothing is still being added when the
/// snapshot is written.
pub struct BackupSession {
    objects: Objects,
    config: RepoConfig,
    index: Arc<Index>,
    opts: SessionOptions,
    level: i32,
    pack_size: u64,
    permits: Arc<Semaphore>,
    started: DateTime<Utc>,
    state: Mutex<State>,
}

fn kind_slot(kind: BlobKind) -> usize {
    match kind {
        BlobKind::Data => 0,
        BlobKind::Meta => 1,
    }
}

fn join_err(task: &'static str) -> impl FnOnce(tokio::task::JoinError) -> RepoError {
    move |source| RepoError::Task { task, source }
}

impl BackupSession {
    pub(crate) fn new(
        objects: Objects,
        config: RepoConfig,
        index: Arc<Index>,
        opts: SessionOptions,
    ) -> Self {
        let level = opts.zstd_level.unwrap_or(config.zstd_level);
        // Never past the format's largest pack (32-bit offsets), whatever was asked for.
        let pack_size = opts
            .pack_size
            .unwrap_or(config.pack_size)
            .clamp(1, crate::repo::config::MAX_PACK_SIZE);
        let permits = Arc::new(Semaphore::new(opts.uploads_in_flight.max(1)));
        Self {
            objects,
            config,
            index,
            level,
            pack_size,
            permits,
            opts,
            started: Utc::now(),
            state: Mutex::new(State {
                packers: [PackWriter::new(), PackWriter::new()],
                claimed: HashSet::new(),
                uploads: JoinSet::new(),
                done: Vec::new(),
                stats: SessionStats::default(),
                failed: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_failed(&self) -> Result<()> {
        match &self.lock().failed {
            Some(reason) => Err(RepoError::SessionFailed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn fail<T>(&self, e: RepoError) -> Result<T> {
        let mut st = self.lock();
        if st.failed.is_none() {
            st.failed = Some(crate::repo::error_chain(&e));
        }
        Err(e)
    }

    /// Counters so far.
    pub fn stats(&self) -> SessionStats {
        self.lock().stats
    }

    pub fn started(&self) -> DateTime<Utc> {
        self.started
    }

    fn is_known(&self, id: &BlobId) -> bool {
        self.index.contains_live(id) || self.lock().claimed.contains(id)
    }

    /// Stores one blob unless it is already known. Returns whether it was new.
    async fn store_hashed(&self, kind: BlobKind, id: BlobId, raw: Bytes) -> Result<bool> {
        if self.is_known(&id) {
            return Ok(false);
        }
        let level = self.level;
        let crypto = self.objects.crypto().clone();
        let enc = tokio::task::spawn_blocking(move || blob::encode(&crypto, id, kind, raw, level))
            .await
            .map_err(join_err("compress blob"))??;
        let full = {
            let mut st = self.lock();
            if let Some(reason) = &st.failed {
                return Err(RepoError::SessionFailed {
                    reason: reason.clone(),
                });
            }
            if self.index.contains_live(&id) || !st.claimed.insert(id) {
                return Ok(false);
            }
            let p = &mut st.packers[kind_slot(kind)];
            p.add(&enc);
            let full = p.len() >= self.pack_size;
            st.stats.blobs_new += 1;
            st.stats.new_raw_bytes += enc.raw_len as u64;
            st.stats.new_stored_bytes += enc.stored.len() as u64;
            self.reap(&mut st)?;
            full
        };
        if full {
            self.flush(kind, false).await?;
        }
        Ok(true)
    }

    /// Collects finished uploads without waiting.
    fn reap(&self, st: &mut State) -> Result<()> {
        while let Some(r) = st.uploads.try_join_next() {
            match r.map_err(join_err("pack upload")).and_then(|r| r) {
                Ok(receipt) => st.done.push(receipt),
                Err(e) => {
                    st.failed = Some(crate::repo::error_chain(&e));
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Seals the open pack of `kind` (if full, or any non-empty one when `force`) and spawns
    /// its upload once a permit is held; take-out and spawn happen under one lock.
    async fn flush(&self, kind: BlobKind, force: bool) -> Result<()> {
        let permit: OwnedSemaphorePermit =
            self.permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| RepoError::SessionFailed {
                    reason: "upload permits closed".into(),
                })?;
        let mut st = self.lock();
        let slot = kind_slot(kind);
        let p = &st.packers[slot];
        if p.is_empty() || (!force && p.len() < self.pack_size) {
            return Ok(());
        }
        let writer = std::mem::take(&mut st.packers[slot]);
        st.stats.packs_written += 1;
        let objects = self.objects.clone();
        st.uploads.spawn(async move {
            let crypto = objects.crypto().clone();
            let sealed = tokio::task::spawn_blocking(move || writer.seal(&crypto))
                .await
                .map_err(join_err("seal pack"))??;
            let r = pack::upload(&objects, sealed).await;
            drop(permit);
            r
        });
        Ok(())
    }

    /// Adds one content item (a document version's bytes) and returns its blob list.
    pub async fn add_content<S>(&self, input: S) -> Result<ContentRef>
    where
        S: Stream<Item = io::Result<Bytes>>,
    {
        self.check_failed()?;
        let mut input = std::pin::pin!(input);
        let max = self.config.chunker.max_size as usize;
        let mut chunker = Some(Chunker::new(self.config.chunker));
        let mut out = ContentRef::default();
        let mut pending: FuturesUnordered<_> = FuturesUnordered::new();
        let mut seen = 0u64;
        loop {
            // Keep compressing and packing the pending chunks while the input is awaited.
            let item = loop {
                tokio::select! {
                    biased;
                    Some(r) = pending.next(), if !pending.is_empty() => {
                        let _new: bool = r?;
                    }
                    item = input.next() => break item,
                }
            };
            let eof = item.is_none();
            let mut pieces: Vec<Bytes> = Vec::new();
            if let Some(r) = item {
                let b = r.map_err(|source| RepoError::Input { source })?;
                out.size += b.len() as u64;
                let mut rest = b;
                while rest.len() > max {
                    pieces.push(rest.split_to(max));
                }
                pieces.push(rest);
            }
            let mut c = chunker.take().ok_or_else(|| RepoError::SessionFailed {
                reason: "chunker lost after a failed task".into(),
            })?;
            let total = c.buffered() + pieces.iter().map(Bytes::len).sum::<usize>();
            let needs_cut = eof || total >= max;
            if !needs_cut {
                for p in &pieces {
                    c.push(p);
                }
                chunker = Some(c);
                continue;
            }
            let crypto = self.objects.crypto().clone();
            let (c, chunks) = tokio::task::spawn_blocking(move || {
                let mut chunks = Vec::new();
                for p in &pieces {
                    c.push(p);
                    while let Some(ch) = c.next_chunk(false) {
                        chunks.push((crypto.blob_id(&ch), ch));
                    }
                }
                if eof {
                    while let Some(ch) = c.next_chunk(true) {
                        chunks.push((crypto.blob_id(&ch), ch));
                    }
                }
                (c, chunks)
            })
            .await
            .map_err(join_err("chunk and hash"))?;
            chunker = Some(c);
            for (id, data) in chunks {
                out.blobs.push(id);
                seen += 1;
                pending.push(self.store_hashed(BlobKind::Data, id, data));
                while pending.len() >= self.opts.chunks_in_flight.max(1) {
                    if let Some(r) = pending.next().await {
                        r?;
                    }
                }
            }
            if eof {
                break;
            }
        }
        while let Some(r) = pending.next().await {
            r?;
        }
        let mut st = self.lock();
        st.stats.logical_bytes += out.size;
        st.stats.content_items += 1;
        st.stats.blobs_seen += seen;
        Ok(out)
    }

    /// [`BackupSession::add_content`] over an `AsyncRead`.
    pub async fn add_reader<R: AsyncRead>(&self, reader: R) -> Result<ContentRef> {
        self.add_content(tokio_util::io::ReaderStream::with_capacity(
            reader,
            256 * 1024,
        ))
        .await
    }

    /// [`BackupSession::add_content`] over bytes already in memory.
    pub async fn add_bytes(&self, data: Bytes) -> Result<ContentRef> {
        self.add_content(futures::stream::iter([Ok(data)])).await
    }

    /// Stores one metadata blob (hashing off-thread); used by the metadata stream writer.
    pub(crate) async fn store_meta_blob(&self, raw: Bytes) -> Result<BlobId> {
        self.check_failed()?;
        let crypto = self.objects.crypto().clone();
        let (id, raw) = tokio::task::spawn_blocking(move || (crypto.blob_id(&raw), raw))
            .await
            .map_err(join_err("hash metadata blob"))?;
        let r = self.store_hashed(BlobKind::Meta, id, raw).await;
        let mut st = self.lock();
        st.stats.blobs_seen += 1;
        drop(st);
        r.map(|_| id)
    }

    /// Seals open packs, waits for every upload, and writes an index of them.
    async fn seal_and_index(&self) -> Result<IndexWritten> {
        self.check_failed()?;
        self.flush(BlobKind::Data, true).await?;
        self.flush(BlobKind::Meta, true).await?;
        let mut uploads = std::mem::take(&mut self.lock().uploads);
        let mut receipts = Vec::new();
        while let Some(r) = uploads.join_next().await {
            match r.map_err(join_err("pack upload")).and_then(|r| r) {
                Ok(receipt) => receipts.push(receipt),
                Err(e) => return self.fail(e),
            }
        }
        receipts.append(&mut std::mem::take(&mut self.lock().done));
        let written = match index::write_index(&self.objects, &receipts).await {
            Ok(w) => w,
            Err(e) => {
                // Keep the receipts so a retried checkpoint can still index them.
                self.lock().done.extend(receipts);
                return Err(e);
            }
        };
        self.index.add_written(&written, &receipts);
        let mut st = self.lock();
        for r in &receipts {
            st.stats.pack_bytes_written += r.size();
            for e in r.entries() {
                st.claimed.remove(&e.id);
            }
        }
        Ok(written)
    }

    /// Makes everything added so far durable and indexed, so a killed backup can resume
    /// without re-uploading; optionally stores a resume record under
    /// `checkpoints/<library>/…` (after the index).
    pub async fn checkpoint(
        &self,
        record: Option<(&str, serde_json::Value)>,
    ) -> Result<CheckpointInfo> {
        let index = self.seal_and_index().await?;
        if let Some((library, record)) = record {
            let rec = CheckpointRecord {
                library: library.to_string(),
                time: Utc::now(),
                record,
            };
            snapshot::write_checkpoint_record(&self.objects, &index, &rec).await?;
        }
        Ok(CheckpointInfo {
            index,
            stats: self.stats(),
        })
    }

    /// Writes the remaining packs, then their index, then the snapshot manifest (last).
    #[tracing::instrument(skip_all, fields(library = %draft.library))]
    pub async fn finish(self, draft: SnapshotDraft) -> Result<SnapshotId> {
        self.finish_held(draft, None).await
    }

    /// [`BackupSession::finish`] for a held snapshot (`held` set: what forget keeps for legal
    /// holds, FORMAT.md §19).
    pub async fn finish_held(
        self,
        draft: SnapshotDraft,
        held: Option<snapshot::HeldSnapshot>,
    ) -> Result<SnapshotId> {
        let index = self.seal_and_index().await?;
        let mut manifest = SnapshotManifest::from_draft(draft, self.started, self.stats());
        manifest.held = held;
        snapshot::write_snapshot(&self.objects, &index, &manifest).await
    }
}
