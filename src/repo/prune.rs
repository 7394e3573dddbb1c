//! `prune`: remove data that no snapshot references any more, safely next to running backups.
//!
//! Two phases, lock-free with respect to backups (docs/FORMAT.md, "Prune marks"):
//!
//! 1. **Mark.** A pack none of whose blobs is needed (by a snapshot, or by the resume record of
//!    a backup that has not finished) is *marked* (`marks/…`). A pack that is partly used is
//!    *repacked*: its used blobs are copied, verified, into new packs, indexed, and then the old
//!    pack is marked. Marked packs stay indexed and readable, but writers no longer deduplicate
//!    against them, so from then on only a backup that loaded its index *before* the mark can
//!    reference their blobs.
//! 2. **Sweep.** A later prune deletes a marked pack once its mark is older than the grace
//!    period, after checking again that nothing needs it (a pack that a snapshot written
//!    meanwhile needs is *recovered*: its mark is dropped). It first writes a new index without
//!    the pack and deletes the old index objects, then deletes the pack, then rewrites the
//!    marks. While a backup's resume record is fresh (a backup is running), nothing is deleted.
//!
//! Every step writes before it deletes, so a crash (kill -9) at any point leaves a valid
//! repository: at worst duplicate index entries, unindexed packs or stale marks, which the next
//! prune cleans up. Prune refuses to run on a repository with problems (missing or unreadable
//! data): `verify` and `repair index` come first.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::repo::backend::{self, keys};
use crate::repo::blob::{BlobKind, EncodedBlob};
use crate::repo::error::RepoError;
use crate::repo::id::{BlobId, IndexId, PackId};
use crate::repo::index;
use crate::repo::marks::{self, MarkSet};
use crate::repo::pack::{self, PackEntry, PackReceipt, PackWriter};
use crate::repo::references::{References, find_refs};
use crate::repo::repository::{Indexed, Repository};
use crate::repo::snapshot::CheckpointRecord;
use crate::repo::verify::{self, Problem};

/// Packs no index names are left alone until they are at least this old, whatever the grace
/// period: a running backup's newest packs are indexed only at its next checkpoint.
pub const UNINDEXED_MIN_AGE_HOURS: i64 = 1;

/// How to prune.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PruneOptions {
    /// Only report what would be done.
    pub dry_run: bool,
    /// At most this share (percent) of all pack bytes is repacked in one run.
    pub max_repack_percent: f64,
    /// A partly used pack is repacked when at least this share (percent) of it is unused.
    pub min_unused_percent: f64,
    /// A marked pack is deleted only once its mark is this old (seconds). `0` deletes in the
    /// same run: only safe when no backup can be running.
    pub grace_secs: u64,
    /// A backup whose last resume record is younger than this (seconds) and that has written
    /// no snapshot since counts as running: nothing is deleted meanwhile.
    pub active_run_secs: u64,
    /// Test hook: abort the process (like kill -9) after this many writes or deletes.
    #[serde(skip)]
    pub abort_after_steps: Option<u64>,
}

impl Default for PruneOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            max_repack_percent: 100.0,
            min_unused_percent: 5.0,
            grace_secs: 24 * 3600,
            active_run_secs: 24 * 3600,
            abort_after_steps: None,
        }
    }
}

/// What a prune did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub snapshots: u64,
    pub packs: u64,
    pub pack_bytes: u64,
    pub blobs_referenced: u64,
    /// Packs newly marked unused (not repacked).
    pub packs_marked: u64,
    pub bytes_marked: u64,
    /// Partly used packs whose used blobs were copied into new packs (then marked).
    pub packs_repacked: u64,
    pub bytes_repacked: u64,
    pub new_packs: u64,
    pub new_pack_bytes: u64,
    /// Marked packs a snapshot needs after all: their mark was dropped.
    pub packs_recovered: u64,
    /// Marked packs deleted.
    pub packs_deleted: u64,
    pub bytes_deleted: u64,
    /// Marked packs still within the grace period (or deferred by a running backup).
    pub packs_waiting: u64,
    pub index_objects_rewritten: u64,
    pub checkpoints_removed: u64,
    /// Why deletions were put off, if they were.
    pub deferred: Option<String>,
    /// Problems in resume records of unfinished backups (not fatal).
    pub warnings: Vec<Problem>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(
        "refusing to prune: the repository has {} problem(s) (first: {}); run `imvault verify`, and `imvault repair index` if index objects are lost",
        .problems.len(),
        .problems.first().map(|p| p.to_string()).unwrap_or_default()
    )]
    Unsafe { problems: Vec<Problem> },
    #[error("refusing to repack {pack}: {}", .problems.first().map(|p| p.to_string()).unwrap_or_default())]
    CorruptPack {
        pack: String,
        problems: Vec<Problem>,
    },
}

/// Live counters for progress display.
#[derive(Debug, Default)]
pub struct PruneProgress {
    pub packs_repacked: AtomicU64,
    pub packs_deleted: AtomicU64,
}

/// Counts destructive steps; aborts the process at the configured one (test hook).
struct Steps {
    left: Option<AtomicU64>,
}

impl Steps {
    fn step(&self, what: &str) {
        if let Some(left) = &self.left
            && left.fetch_sub(1, Ordering::SeqCst) <= 1
        {
            tracing::error!(step = what, "prune aborting on purpose (test hook)");
            std::process::abort();
        }
    }
}

async fn delete(store: &dyn ObjectStore, key: &Path) -> Result<(), RepoError> {
    match store.delete(key).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(source) => Err(RepoError::Put {
            key: format!("{key} (delete)"),
            source,
        }),
    }
}

/// One partly used pack chosen for repacking.
struct Repack {
    pack: PackId,
    size: u64,
    used: Vec<PackEntry>,
}

impl Repository<Indexed> {
    /// Prunes the repository (see the module docs) at time `now`.
    #[tracing::instrument(skip_all, fields(dry_run = opts.dry_run))]
    pub async fn prune(
        &self,
        opts: &PruneOptions,
        now: DateTime<Utc>,
        progress: &PruneProgress,
    ) -> Result<PruneReport, PruneError> {
        let started = std::time::Instant::now();
        let store = self.store().clone();
        let steps = Steps {
            left: opts.abort_after_steps.map(AtomicU64::new),
        };
        let grace = chrono::Duration::seconds(opts.grace_secs.min(i64::MAX as u64 / 2) as i64);
        let mut r = PruneReport {
            dry_run: opts.dry_run,
            ..PruneReport::default()
        };

        // What exists: snapshots first, then index objects and packs, then the in-memory index
        // (a snapshot is written after everything it needs, so a backup finishing meanwhile
        // is either fully seen or not at all).
        let snaps = self.list_snapshots(None).await?;
        let listing = verify::list_packs_and_indexes(&store).await?;
        let this = Repository::open(store.clone()).await?.load_index().await?;
        let this = &this;
        if !listing.problems.is_empty() {
            return Err(PruneError::Unsafe {
                problems: listing.problems,
            });
        }
        let exists = listing.pack_set();
        r.packs = listing.packs.len() as u64;
        r.pack_bytes = listing.packs.values().sum();
        r.snapshots = snaps.len() as u64;

        // What is needed: every snapshot, and the resume records of unfinished backups.
        let mut refs = References::default();
        for s in &snaps {
            refs.add_snapshot(this, &exists, s).await;
        }
        if !refs.problems.is_empty() {
            return Err(PruneError::Unsafe {
                problems: std::mem::take(&mut refs.problems),
            });
        }
        let mut latest: HashMap<&str, DateTime<Utc>> = HashMap::new();
        for s in &snaps {
            let t = latest
                .entry(s.manifest.library.as_str())
                .or_insert(s.manifest.time);
            *t = (*t).max(s.manifest.time);
        }
        let mut stale_checkpoints = Vec::new();
        let mut active: Vec<(String, DateTime<Utc>)> = Vec::new();
        let active_since = now - chrono::Duration::seconds(opts.active_run_secs as i64);
        for m in backend::list(store.as_ref(), &Path::from(keys::CHECKPOINTS)).await? {
            let bytes = backend::get(store.as_ref(), &m.location).await?;
            let rec: CheckpointRecord =
                serde_json::from_slice(&bytes).map_err(|source| RepoError::Decode {
                    key: m.location.to_string(),
                    source,
                })?;
            if latest
                .get(rec.library.as_str())
                .is_some_and(|t| rec.time <= *t)
            {
                stale_checkpoints.push(m.location);
                continue;
            }
            if rec.time > active_since {
                active.push((rec.library.clone(), rec.time));
            }
            let (mut content, mut meta) = (Vec::new(), Vec::new());
            find_refs(&rec.record, &mut content, &mut meta);
            let owner = m.location.to_string();
            refs.add_meta_stream(this, &exists, &owner, "resume", &meta)
                .await;
            refs.blobs.extend(content);
        }
        r.warnings = std::mem::take(&mut refs.problems);
        r.blobs_referenced = refs.blobs.len() as u64;
        let marks = marks::load(&store).await?;

        // Where each needed blob lives: its first copy in an unmarked pack.
        let mut indexed: BTreeMap<PackId, Vec<PackEntry>> = BTreeMap::new();
        let mut named_by: HashMap<PackId, Vec<IndexId>> = HashMap::new();
        let mut orphan_indexes: BTreeSet<IndexId> = BTreeSet::new();
        let mut home: HashMap<BlobId, PackId> = HashMap::new();
        for (iid, file) in &listing.indexes {
            for (p, entries) in file {
                if !exists.contains(p) {
                    // Entries of a pack that is gone (a crash mid-prune, or lost data that
                    // nothing needs: the reference check above passed).
                    orphan_indexes.insert(*iid);
                    continue;
                }
                named_by.entry(*p).or_default().push(*iid);
                indexed.entry(*p).or_insert_with(|| entries.clone());
                if !marks.is_marked(p) {
                    for e in entries {
                        if refs.blobs.contains(&e.id) {
                            home.entry(e.id).or_insert(*p);
                        }
                    }
                }
            }
        }

        // Phase 1: unmarked packs that nothing needs are marked; partly used ones repacked.
        let mut to_mark: Vec<PackId> = Vec::new();
        let mut candidates: Vec<(Repack, u64)> = Vec::new();
        for (p, entries) in &indexed {
            if marks.is_marked(p) {
                continue;
            }
            let size = listing.packs[p];
            let used: Vec<PackEntry> = entries
                .iter()
                .filter(|e| home.get(&e.id) == Some(p))
                .copied()
                .collect();
            if used.is_empty() {
                to_mark.push(*p);
                continue;
            }
            let unused = size.saturating_sub(verify::expected_pack_size(&used));
            if used.len() < entries.len()
                && unused as f64 * 100.0 >= opts.min_unused_percent * size as f64
            {
                candidates.push((
                    Repack {
                        pack: *p,
                        size,
                        used,
                    },
                    unused,
                ));
            }
        }
        // Unindexed packs (left by crashed backups) once they are older than the grace period
        // and than an hour: a running backup's newest packs are not indexed yet.
        let unindexed_age = grace.max(chrono::Duration::hours(UNINDEXED_MIN_AGE_HOURS));
        for (p, t) in &listing.modified {
            if !indexed.contains_key(p) && !marks.is_marked(p) && *t <= now - unindexed_age {
                to_mark.push(*p);
            }
        }
        candidates.sort_by(|a, b| {
            let fa = a.1 as f64 / a.0.size.max(1) as f64;
            let fb = b.1 as f64 / b.0.size.max(1) as f64;
            fb.total_cmp(&fa).then(a.0.pack.cmp(&b.0.pack))
        });
        let budget =
            (r.pack_bytes as f64 * opts.max_repack_percent.clamp(0.0, 100.0) / 100.0) as u64;
        let mut repacks = Vec::new();
        let mut spent = 0u64;
        for (c, _) in candidates {
            if spent + c.size > budget {
                continue;
            }
            spent += c.size;
            repacks.push(c);
        }
        r.packs_marked = to_mark.len() as u64;
        r.bytes_marked = to_mark.iter().map(|p| listing.packs[p]).sum();
        r.packs_repacked = repacks.len() as u64;
        r.bytes_repacked = spent;

        // Phase 2: marked packs: recover the needed, delete the expired.
        let mut new_marks: BTreeMap<PackId, DateTime<Utc>> = BTreeMap::new();
        let mut recovered = Vec::new();
        let mut expired = Vec::new();
        let all_marks = marks
            .marks
            .iter()
            .map(|(p, t)| (*p, *t))
            .chain(to_mark.iter().map(|p| (*p, now)))
            .chain(repacks.iter().map(|c| (c.pack, now)));
        let repacked: HashSet<PackId> = repacks.iter().map(|c| c.pack).collect();
        for (p, t) in all_marks {
            if !exists.contains(&p) {
                continue; // deleted by an earlier (interrupted) prune
            }
            let needed = !repacked.contains(&p)
                && indexed.get(&p).is_some_and(|entries| {
                    entries
                        .iter()
                        .any(|e| refs.blobs.contains(&e.id) && !home.contains_key(&e.id))
                });
            if needed {
                recovered.push(p);
            } else if t <= now - grace {
                expired.push(p);
                new_marks.insert(p, t);
            } else {
                new_marks.insert(p, t);
            }
        }
        r.packs_recovered = recovered.len() as u64;
        if let Some((lib, t)) = active.iter().max_by_key(|(_, t)| *t) {
            if !expired.is_empty() {
                r.deferred = Some(format!(
                    "a backup of library {lib} has not finished (resume record at {t}); marked packs are deleted only when no backup is running"
                ));
            }
            expired.clear();
        }
        r.packs_waiting = (new_marks.len() - expired.len()) as u64;
        r.packs_deleted = expired.len() as u64;
        r.bytes_deleted = expired.iter().map(|p| listing.packs[p]).sum();
        if opts.dry_run {
            r.checkpoints_removed = stale_checkpoints.len() as u64;
            r.seconds = started.elapsed().as_secs_f64();
            return Ok(r);
        }

        // Execute. Repack: new packs, then their index; only then the old packs are marked.
        if !repacks.is_empty() {
            let receipts = self.repack(&repacks, &steps, progress).await?;
            r.new_packs = receipts.len() as u64;
            r.new_pack_bytes = receipts.iter().map(|x| x.size()).sum();
            let w = index::write_index(&store, &receipts).await?;
            steps.step("index of repacked packs written");
            tracing::info!(packs = w.packs, blobs = w.blobs, "repacked blobs indexed");
            // A new pack can have the very bytes (and so the id) of a pack already stored, e.g.
            // one an interrupted prune wrote: it now holds needed blobs and must stay live.
            let produced: HashSet<PackId> = receipts.iter().map(|x| x.id()).collect();
            let before = new_marks.len();
            new_marks.retain(|p, _| !produced.contains(p));
            expired.retain(|p| !produced.contains(p));
            if new_marks.len() != before {
                r.packs_marked = r
                    .packs_marked
                    .saturating_sub((before - new_marks.len()) as u64);
                r.packs_deleted = expired.len() as u64;
                r.bytes_deleted = expired.iter().map(|p| listing.packs[p]).sum();
                r.packs_waiting = (new_marks.len() - expired.len()) as u64;
            }
        }
        // Marks first, so an interrupted prune leaves the packs marked (deletion needs marks).
        let mut marks_written = false;
        if new_marks.keys().ne(marks.marks.keys())
            || marks.objects.len() > 1
            || !recovered.is_empty()
        {
            self.replace_marks(&marks, &new_marks, &steps).await?;
            marks_written = true;
        }
        // Sweep: index without the packs, then the packs, then their marks.
        let doomed: HashSet<PackId> = expired.iter().copied().collect();
        if !doomed.is_empty() || !orphan_indexes.is_empty() {
            let mut affected: BTreeSet<IndexId> = orphan_indexes;
            for p in &doomed {
                affected.extend(named_by.get(p).into_iter().flatten().copied());
            }
            let mut keep: BTreeMap<PackId, Vec<PackEntry>> = BTreeMap::new();
            for (iid, file) in &listing.indexes {
                if !affected.contains(iid) {
                    continue;
                }
                for (p, entries) in file {
                    if exists.contains(p) && !doomed.contains(p) {
                        keep.entry(*p).or_insert_with(|| entries.clone());
                    }
                }
            }
            let receipts: Vec<PackReceipt> = keep
                .into_iter()
                .map(|(p, e)| PackReceipt::from_indexed(p, e))
                .collect();
            index::write_index(&store, &receipts).await?;
            steps.step("rewritten index written");
            for iid in &affected {
                delete(store.as_ref(), &keys::index(iid)).await?;
                steps.step("old index deleted");
            }
            r.index_objects_rewritten = affected.len() as u64;
            for p in &expired {
                delete(store.as_ref(), &keys::pack(p)).await?;
                progress.packs_deleted.fetch_add(1, Ordering::Relaxed);
                steps.step("pack deleted");
            }
            if !expired.is_empty() {
                let mut remaining = new_marks.clone();
                for p in &expired {
                    remaining.remove(p);
                }
                let current = if marks_written {
                    marks::load(&store).await?
                } else {
                    marks
                };
                self.replace_marks(&current, &remaining, &steps).await?;
            }
        }
        for k in &stale_checkpoints {
            delete(store.as_ref(), k).await?;
            steps.step("stale checkpoint deleted");
        }
        r.checkpoints_removed = stale_checkpoints.len() as u64;
        r.seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            marked = r.packs_marked,
            repacked = r.packs_repacked,
            deleted = r.packs_deleted,
            recovered = r.packs_recovered,
            bytes_deleted = r.bytes_deleted,
            "prune finished"
        );
        Ok(r)
    }

    /// Writes one marks object with `marks` and deletes the objects of `old` (write first).
    async fn replace_marks(
        &self,
        old: &MarkSet,
        marks: &BTreeMap<PackId, DateTime<Utc>>,
        steps: &Steps,
    ) -> Result<(), RepoError> {
        let store = self.store();
        let written = marks::write(store, marks).await?;
        if written.is_some() {
            steps.step("marks written");
        }
        for k in &old.objects {
            if Some(k) != written.as_ref() {
                delete(store.as_ref(), k).await?;
                steps.step("old marks deleted");
            }
        }
        Ok(())
    }

    /// Copies the used blobs of `repacks` into new packs (each blob verified first) and
    /// returns their receipts. At most one old pack and one open pack per kind are in memory.
    async fn repack(
        &self,
        repacks: &[Repack],
        steps: &Steps,
        progress: &PruneProgress,
    ) -> Result<Vec<PackReceipt>, PruneError> {
        let store = self.store().clone();
        let pack_size = self.config().pack_size.max(1);
        let mut writers: [PackWriter; 2] = [PackWriter::new(), PackWriter::new()];
        let mut receipts = Vec::new();
        let slot = |k: BlobKind| match k {
            BlobKind::Data => 0,
            BlobKind::Meta => 1,
        };
        for c in repacks {
            let key = keys::pack(&c.pack);
            let bytes = backend::get(store.as_ref(), &key).await?;
            let id = c.pack;
            let used = c.used.clone();
            let (check, bytes) = tokio::task::spawn_blocking(move || {
                let r = verify::check_pack_bytes(&id, &bytes, None);
                (r, bytes)
            })
            .await
            .map_err(|source| RepoError::Task {
                task: "verify pack before repacking",
                source,
            })?;
            if !check.problems.is_empty() {
                return Err(PruneError::CorruptPack {
                    pack: key.to_string(),
                    problems: check.problems,
                });
            }
            for e in used {
                let stored: Bytes =
                    bytes.slice(e.offset as usize..(e.offset + e.stored_len) as usize);
                let w = &mut writers[slot(e.kind)];
                w.add(&EncodedBlob {
                    id: e.id,
                    kind: e.kind,
                    compression: e.compression,
                    raw_len: e.raw_len,
                    stored,
                });
                if w.len() >= pack_size {
                    let full = std::mem::take(w);
                    receipts.push(seal_and_upload(&store, full).await?);
                    steps.step("repacked pack written");
                }
            }
            progress.packs_repacked.fetch_add(1, Ordering::Relaxed);
        }
        for w in writers {
            if !w.is_empty() {
                receipts.push(seal_and_upload(&store, w).await?);
                steps.step("repacked pack written");
            }
        }
        Ok(receipts)
    }
}

async fn seal_and_upload(
    store: &Arc<dyn ObjectStore>,
    w: PackWriter,
) -> Result<PackReceipt, RepoError> {
    let sealed = tokio::task::spawn_blocking(move || w.seal())
        .await
        .map_err(|source| RepoError::Task {
            task: "seal repacked pack",
            source,
        })?;
    pack::upload(store, sealed).await
}

impl<S> Repository<S> {
    /// Removes one snapshot manifest (`forget`); the data it used stays until `prune`.
    /// Removing a manifest that is already gone is not an error.
    pub async fn remove_snapshot(&self, id: &crate::repo::SnapshotId) -> Result<(), RepoError> {
        delete(self.store().as_ref(), &keys::snapshot(id)).await
    }
}
