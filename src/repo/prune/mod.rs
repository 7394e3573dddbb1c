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
//!
//! A prune is planned first (`plan.rs`: what exists, what is needed, what to mark, repack,
//! recover and delete; read only), then carried out (`execute.rs`, with `repack.rs`); a dry run
//! stops after the plan.

mod execute;
mod lock_ledger;
mod locked;
mod plan;
mod repack;

pub use locked::{MarkedPacks, RetentionWait};

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::repo::backend::keys;
use crate::repo::error::RepoError;
use crate::repo::repository::{Indexed, Repository};
use crate::repo::verify::Problem;

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
    /// Snapshots to count as gone (a dry run's held snapshots whose legal holds are all
    /// released: the real run removes them first).
    #[serde(skip)]
    pub counted_gone: Vec<crate::repo::SnapshotId>,
    /// This host's state directory: where the Object Lock ledger is kept (FORMAT.md §20,
    /// "Extending retention"). Without it every object is asked about.
    #[serde(skip)]
    pub state_dir: Option<std::path::PathBuf>,
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
            counted_gone: Vec::new(),
            state_dir: None,
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
    /// Held snapshots (FORMAT.md §19): those still kept by active legal holds, and those
    /// removed before this prune because every hold they named was released.
    #[serde(default)]
    pub held_snapshots: Vec<crate::repo::holds::HeldSnapshotState>,
    /// Object Lock (FORMAT.md §20): marked packs past their grace period that are still
    /// retained, so not deleted yet (counted in `packs_waiting` too); a later prune deletes
    /// them once their retention has ended.
    #[serde(default)]
    pub retention_wait: Option<RetentionWait>,
    /// Object Lock: the retention of the objects still needed, extended before it runs out
    /// (not in a dry run).
    #[serde(default)]
    pub retention_extended: Option<crate::repo::object_lock::ExtendReport>,
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

impl Repository<Indexed> {
    /// Prunes the repository (see the module docs) at time `now`: plans, then (unless a dry
    /// run) carries the plan out.
    #[tracing::instrument(skip_all, fields(dry_run = opts.dry_run))]
    pub async fn prune(
        &self,
        opts: &PruneOptions,
        now: DateTime<Utc>,
        progress: &PruneProgress,
    ) -> Result<PruneReport, PruneError> {
        let started = std::time::Instant::now();
        if !opts.dry_run {
            self.check_writable("pruning")?;
        }
        let steps = Steps {
            left: opts.abort_after_steps.map(AtomicU64::new),
        };
        // Retention first, before the plan: whatever makes planning fail (a damaged or planted
        // object) must not also stop retention from being extended; and a failure here
        // leaves everything as it was (nothing deleted yet).
        // The marks the extension read are the plan's too (one read of `marks/`).
        let (extended, marks) = match opts.dry_run || self.retention().is_none() {
            true => (None, None),
            false => {
                let (marked, read) = self.marked_packs(opts, now).await;
                let extended = self
                    .extend_retention(&marked, opts.state_dir.as_deref(), now)
                    .await?;
                (extended, read)
            }
        };
        let plan = self.prune_plan(opts, now, marks).await?;
        if opts.dry_run {
            let mut r = plan.report;
            r.checkpoints_removed = plan.stale_checkpoints.len() as u64;
            r.seconds = started.elapsed().as_secs_f64();
            return Ok(r);
        }
        let mut r = self.execute_prune(plan, &steps, progress).await?;
        r.retention_extended = extended;
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
}

impl<S> Repository<S> {
    /// Removes one snapshot manifest (`forget`); the data it used stays until `prune`.
    /// Removing a manifest that is already gone is not an error.
    pub async fn remove_snapshot(&self, id: &crate::repo::SnapshotId) -> Result<(), RepoError> {
        delete(self.store().as_ref(), &keys::snapshot(id)).await
    }
}
