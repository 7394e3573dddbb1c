//! Before a library's backup runs: its last snapshot, how to list the library this time, and
//! what is already stored (the last snapshot's versions, from the local prior cache or the snapshot
//! itself, plus what interrupted runs stored since).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use futures::StreamExt;
use tracing::{info, warn};

use super::listing::{self, ListingMode};
use super::prior::PriorVersions;
use super::prior::cache as prior_cache;
use super::records_writer::ResumeRecord;
use super::{BackupEnv, BackupError, BackupRequest};
use crate::imanage::model::{LibraryId, VersionId};
use crate::imanage::walk::{ChangesSince, WalkStrategy, resolve_strategy};
use crate::jobs::records::{
    STREAM_RESUME, STREAM_SKIPPED, STREAM_VERSIONS, SkippedRecord, VersionRecord,
};
use crate::repo::Snapshot;

pub(super) struct Plan {
    pub parent: Option<Snapshot>,
    pub strategy: WalkStrategy,
    pub listing: ListingMode,
    /// The last snapshot's versions (none for `--full`), and versions interrupted runs stored.
    pub prior: PriorVersions,
    /// Versions of the last snapshot.
    pub parent_versions: u64,
    /// What a changes-only walk needs.
    pub changes: Option<ChangesSince>,
    /// Versions found in interrupted runs' checkpoints.
    pub resumed: u64,
    /// Where the prior caches live.
    pub prior_cache_dir: PathBuf,
    /// Versions of the last snapshot whose content the repository lost (a missing pack or
    /// index object): downloaded again instead of carried.
    pub lost: std::sync::Arc<HashSet<(u64, u32)>>,
}

pub(super) async fn plan(
    env: &BackupEnv,
    library: &LibraryId,
    opts: &BackupRequest,
    started: Instant,
) -> Result<Plan, BackupError> {
    let lib = library.as_str();
    let repo = &env.repo;
    let repo_err = |action| BackupError::repo(lib, action);
    let parent: Option<Snapshot> = repo
        .latest_snapshot(lib, None)
        .await
        .map_err(repo_err("finding the last snapshot"))?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "last snapshot found"
    );
    let strategy = resolve_strategy(&env.client, opts.strategy);
    let listing = listing::choose(
        parent.as_ref(),
        opts.full,
        strategy,
        opts.full_listing_every,
        opts.change_margin,
        chrono::Utc::now(),
    );
    // Packs the index names but the store lost: their blobs are stored again when met.
    let lost_packs = repo
        .find_lost_packs()
        .await
        .map_err(repo_err("listing the packs"))?;
    if !lost_packs.is_empty() {
        warn!(
            library = lib,
            packs = lost_packs.len(),
            first = %lost_packs[0],
            "packs named by the index are missing from the repository: versions that need them are downloaded again (run `imvault verify`)"
        );
    }
    let cache_dir = prior_cache_dir(env);
    let mut prior = PriorVersions::default();
    let mut prior_from = "none";
    if let Some(p) = parent.as_ref().filter(|_| !opts.full) {
        if let Some(d) = prior_cache::load(&cache_dir, lib, &p.id).await {
            prior = d;
            prior_from = "digest"; // the prior cache (the log value kept as it was)
        } else if let Some(meta) = p.manifest.streams.get(STREAM_VERSIONS) {
            prior = PriorVersions::read(repo, meta, &cache_dir)
                .await
                .map_err(repo_err("reading the last snapshot's versions"))?;
            prior_from = "snapshot";
        }
    }
    let parent_versions = prior.len() as u64;
    let scratch = |action| crate::repo::RepoError::scratch(action, &cache_dir);
    let lost = prior
        .lacking_content(repo.index())
        .map_err(scratch("reading the last snapshot's versions"))
        .map_err(repo_err("checking the last snapshot's content"))?;
    if !lost.is_empty() {
        warn!(
            library = lib,
            versions = lost.len(),
            "versions of the last snapshot whose content is no longer in the repository: downloading them again"
        );
    }
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        versions = parent_versions,
        from = prior_from,
        "last snapshot's versions read"
    );
    let changes = match (&listing, parent.as_ref()) {
        (ListingMode::Changes { .. }, Some(p)) => {
            let retry = skipped_downloads(env, lib, p).await?;
            let known = prior
                .known_documents()
                .map_err(scratch("reading the last snapshot's versions"))
                .map_err(repo_err("listing the last snapshot's documents"))?;
            info!(
                library = lib,
                since = listing.from_iso().as_deref().unwrap_or(""),
                documents = known.len(),
                retry = retry.len(),
                "listing only what changed since the last snapshot"
            );
            Some(ChangesSince {
                from: listing.from_iso().unwrap_or_default(),
                known,
                retry,
            })
        }
        (ListingMode::Full { why }, _) => {
            info!(library = lib, reason = *why, "listing every version");
            None
        }
        _ => None,
    };
    let resumed = load_resume_deltas(env, lib, parent.as_ref(), &mut prior).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "checkpoints read"
    );
    if resumed > 0 {
        info!(
            library = lib,
            versions = resumed,
            "resuming an interrupted backup: these versions are not downloaded again"
        );
    }

    Ok(Plan {
        parent,
        strategy,
        listing,
        prior,
        parent_versions,
        changes,
        resumed,
        prior_cache_dir: cache_dir,
        lost: std::sync::Arc::new(lost),
    })
}

/// Where the prior caches live: next to the lock files (and the catalog), in `digests/` (the
/// directory's name since format 1; each file is `<library>.prior`).
pub(super) fn prior_cache_dir(env: &BackupEnv) -> std::path::PathBuf {
    env.lock_dir.with_file_name("digests")
}

/// Versions the parent snapshot skipped because their download failed: a changes-only run
/// reads them again by id (their dates did not move).
async fn skipped_downloads(
    env: &BackupEnv,
    lib: &str,
    parent: &Snapshot,
) -> Result<Vec<VersionId>, BackupError> {
    let Some(meta) = parent.manifest.streams.get(STREAM_SKIPPED) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut records = std::pin::pin!(
        env.repo
            .read_meta_stream::<SkippedRecord>(STREAM_SKIPPED, meta)
    );
    while let Some(r) = records.next().await {
        let r = r.map_err(BackupError::repo(
            lib,
            "reading the last snapshot's skipped items",
        ))?;
        // `download`: the download kept failing; `read`: reading it again failed (a version
        // id as the object; other `read` items name listings or documents).
        if (r.action == "download" || r.action == "read")
            && let Ok(id) = r.object.parse::<VersionId>()
        {
            out.push(id);
        }
    }
    Ok(out)
}

/// Versions stored by interrupted runs since the last snapshot: trusted only when every blob
/// they name is in the index (a checkpoint writes its index before its record).
async fn load_resume_deltas(
    env: &BackupEnv,
    lib: &str,
    parent: Option<&Snapshot>,
    prior: &mut PriorVersions,
) -> Result<u64, BackupError> {
    let repo_err = |action| BackupError::repo(lib, action);
    let records = env
        .repo
        .checkpoints(lib)
        .await
        .map_err(repo_err("listing checkpoints"))?;
    // Each checkpoint record lists every delta of its run so far: each is read once, and the
    // versions counted once.
    let mut read: Vec<crate::repo::MetaRef> = Vec::new();
    for rec in records {
        if parent.is_some_and(|p| rec.time <= p.manifest.time) {
            continue;
        }
        let Ok(resume) = serde_json::from_value::<ResumeRecord>(rec.record) else {
            warn!(
                library = lib,
                "ignoring a checkpoint record this version cannot read"
            );
            continue;
        };
        // Checkpoints of the run that wrote the parent snapshot (its time is the run's start),
        // or of older runs, are finished work, not something to resume.
        if parent.is_some_and(|p| resume.run_started <= p.manifest.time) {
            continue;
        }
        for delta in resume.deltas {
            if read.contains(&delta) {
                continue;
            }
            read.push(delta.clone());
            let mut records = std::pin::pin!(
                env.repo
                    .read_meta_stream::<VersionRecord>(STREAM_RESUME, &delta)
            );
            while let Some(r) = records.next().await {
                let r = match r {
                    Ok(r) => r,
                    Err(e) => {
                        warn!(library = lib, error = %e, "ignoring an unreadable resume delta");
                        break;
                    }
                };
                if !env.repo.index().holds_all(&r.content.blobs) {
                    continue;
                }
                if let (Ok(v), content) = r.into_parts() {
                    prior.insert_resumed(&v, content);
                }
            }
        }
    }
    Ok(prior.resumed_count())
}
