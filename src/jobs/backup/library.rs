//! The backup of one library: plan it (`plan.rs`), run it (`run.rs` walks and downloads while
//! `records_writer.rs` writes the metadata), then write the snapshot, the next run's prior
//! prior cache and the catalog's rows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::carry;
use super::listing::{ListingMode, SUMMARY_FULL_LISTING_AT, SUMMARY_LISTING};
use super::plan::{self, Plan};
use super::records_writer::{Record, ResumeRecord, WrittenStreams, write_records};
use super::run::{ChangesPlan, LibraryRun, Tally, WalkListed};
use super::{BackupEnv, BackupError, BackupRequest, LibraryOutcome};
use crate::imanage::model::LibraryId;
use crate::imanage::walk::ChangesSince;
use crate::jobs::JobState;
use crate::jobs::lock::LibraryLock;
use crate::jobs::progress::{self, Counters, CountersSnapshot};
use crate::jobs::records::STREAM_VERSIONS;
use crate::repo::{BackupSession, SnapshotDraft, SnapshotId};

#[tracing::instrument(name = "backup", skip_all, fields(library = %library))]
pub async fn backup_library(
    env: &BackupEnv,
    library: &LibraryId,
    opts: &BackupRequest,
    cancel: CancellationToken,
) -> Result<LibraryOutcome, BackupError> {
    let started = Instant::now();
    let lib = library.as_str();
    let _lock =
        LibraryLock::acquire_patiently(&env.lock_dir, lib, std::time::Duration::from_secs(1))
            .await?;
    let mut plan = plan::plan(env, library, opts, started).await?;
    let changes = plan.changes.take();
    let counters = Arc::new(Counters::default());
    if let Some(live) = &opts.live {
        live.register(lib, counters.clone());
    }
    let stop_progress = CancellationToken::new();
    let reporter = start_progress(env, lib, &plan, &counters, opts, stop_progress.clone());
    let session = env.repo.backup_session(env.session.clone());
    let (records, rx) = mpsc::channel::<Record>(1024);
    let run = LibraryRun {
        env,
        library,
        opts,
        session: &session,
        prior: &plan.prior,
        counters: &counters,
        records,
        cancel: cancel.clone(),
        lost: plan.lost.clone(),
        unsaved: Default::default(),
    };
    let produced = produce_and_write(run, rx, &plan, changes).await;
    stop_progress.cancel();
    let _ = reporter.await;
    let (written, tally) = produced?;
    let done = RunDone {
        lib,
        started,
        run_started: session.started(),
        counters: counters.snapshot(),
        listing: match tally.listed {
            Some(WalkListed::Everything) => ListingMode::Full {
                why: "the crawl fell back to the tree walk",
            },
            _ => plan.listing.clone(),
        },
    };
    if cancel.is_cancelled() {
        // Everything downloaded so far is durable through the last checkpoint; no snapshot.
        warn!(
            library = lib,
            "backup cancelled; the next run resumes from the last checkpoint"
        );
        return Ok(done.outcome(JobState::Cancelled, None, &plan, Gone::default(), &session));
    }
    finish(env, opts, plan, session, written, tally, done).await
}

/// The progress display of one library's run, until `stop`.
fn start_progress(
    env: &BackupEnv,
    lib: &str,
    plan: &Plan,
    counters: &Arc<Counters>,
    opts: &BackupRequest,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let client_for_stats = env.client.clone();
    let unit = progress::Unit {
        name: lib.to_string(),
        library: Some(lib.to_string()),
        kind: progress::UnitKind::Versions {
            counters: counters.clone(),
            expected: plan
                .parent
                .as_ref()
                .and_then(|p| p.manifest.counts.get("versions").copied()),
        },
        log_every: opts.log_every,
    };
    tokio::spawn(
        progress::watch_versions(
            env.progress.clone(),
            unit,
            Arc::new(move || {
                let s = client_for_stats.stats();
                (s.requests, s.throttled)
            }),
            stop,
        )
        // In the caller's span: under the daemon, every progress line carries its `job`.
        .in_current_span(),
    )
}

/// Runs the walk and downloads (`run`) and the metadata writer side by side; returns the
/// streams written and what the run saw. A parent's versions stream reused as it is becomes
/// this snapshot's.
async fn produce_and_write(
    run: LibraryRun<'_>,
    records: mpsc::Receiver<Record>,
    plan: &Plan,
    changes: Option<ChangesSince>,
) -> Result<(WrittenStreams, Tally), BackupError> {
    let lib = run.library.as_str();
    let changes = match (changes, plan.parent.as_ref()) {
        (Some(walk), Some(p)) => Some(ChangesPlan {
            walk,
            parent_versions: &p.manifest.streams[STREAM_VERSIONS],
            parent_counts: &p.manifest.counts,
        }),
        _ => None,
    };
    let resume = ResumeRecord {
        parent: plan.parent.as_ref().map(|p| p.id),
        run_started: run.session.started(),
        deltas: Vec::new(),
    };
    let writer = write_records(run.session, lib, resume, records);
    let producer = run.produce(changes);
    let (written, produced) = tokio::join!(writer, producer);
    let mut written = written.map_err(BackupError::repo(lib, "writing the snapshot's metadata"))?;
    let tally = produced?;
    if tally.reuse_parent_versions
        && let Some(meta) = plan
            .parent
            .as_ref()
            .and_then(|p| p.manifest.streams.get(STREAM_VERSIONS))
    {
        // Nothing was listed again: the parent's stream, as it is (its blobs are durable).
        let own = written
            .streams
            .insert(STREAM_VERSIONS.to_string(), meta.clone());
        if own.is_some_and(|m| m.records > 0) {
            return Err(BackupError::Carry {
                library: lib.to_string(),
                source: carry::CarryError::Record {
                    index: 0,
                    problem: "versions were written although none was listed again".into(),
                },
            });
        }
    }
    Ok((written, tally))
}

/// What a finished (or cancelled) run reports.
struct RunDone<'a> {
    lib: &'a str,
    started: Instant,
    run_started: chrono::DateTime<chrono::Utc>,
    counters: CountersSnapshot,
    /// How the library was listed, as it turned out.
    listing: ListingMode,
}

impl RunDone<'_> {
    fn outcome(
        &self,
        state: JobState,
        snapshot: Option<SnapshotId>,
        plan: &Plan,
        gone: Gone,
        session: &BackupSession,
    ) -> LibraryOutcome {
        LibraryOutcome {
            library: self.lib.to_string(),
            state,
            snapshot,
            parent: plan.parent.as_ref().map(|p| p.id),
            counters: self.counters,
            versions_gone: gone.versions,
            documents_gone: gone.documents,
            gone_versions: gone.ids,
            resumed_versions: plan.resumed,
            listing: listing_name(&self.listing),
            session: session.stats(),
            seconds: self.started.elapsed().as_secs_f64(),
            error: None,
            skipped_items: Vec::new(),
        }
    }
}

/// Writes the snapshot, then the next run's prior cache, then the catalog's rows.
async fn finish(
    env: &BackupEnv,
    opts: &BackupRequest,
    mut plan: Plan,
    session: BackupSession,
    written: WrittenStreams,
    mut tally: Tally,
    done: RunDone<'_>,
) -> Result<LibraryOutcome, BackupError> {
    let lib = done.lib;
    let c = &done.counters;
    let gone = gone(lib, &plan, &tally);
    let state = final_state(c, &tally);
    let next_prior_cache = tally.next_prior_cache.take();
    let carried_over = tally.carried_over.take();
    let lost = plan.lost.clone();
    let skipped_items = written.skipped.clone();
    let draft = snapshot_draft(env, opts, &plan, written, tally, &done);
    // The session's figures before `finish` consumes it.
    let outcome = done.outcome(state, None, &plan, gone, &session);
    let snapshot = session
        .finish(draft)
        .await
        .map_err(BackupError::repo(lib, "writing the snapshot"))?;
    // The next run's prior: this snapshot's versions (a cache; failures only cost speed).
    if let Some(next) = next_prior_cache {
        let carried = carried_over.map(|relisted| {
            // Versions listed again, or downloaded again for lost content, are in the prior cache
            // already: the parent's entries of them are left out.
            let covered: Box<dyn Fn(u64, u32) -> bool + Send> =
                Box::new(move |n, v| relisted.covers_key(n, v) || lost.contains(&(n, v)));
            (std::mem::take(&mut plan.prior), covered)
        });
        if let Err(e) = next.finish(lib, &snapshot, carried).await {
            warn!(library = lib, error = %e, dir = %plan.prior_cache_dir.display(), "could not keep the prior cache; the next run reads the snapshot instead");
        }
    }
    info!(library = lib, snapshot = %snapshot, versions = c.versions, downloaded = c.versions_downloaded, "snapshot written");
    if let Some(path) = &env.catalog {
        update_catalog(env, path, &snapshot).await;
    }
    Ok(LibraryOutcome {
        snapshot: Some(snapshot),
        seconds: done.started.elapsed().as_secs_f64(),
        skipped_items,
        ..outcome
    })
}

/// Versions of the parent snapshot the library no longer has.
fn versions_gone(plan: &Plan, tally: &Tally) -> u64 {
    plan.parent_versions.saturating_sub(tally.seen_in_parent)
}

/// What the library no longer has of the parent snapshot.
#[derive(Debug, Default)]
pub(super) struct Gone {
    versions: u64,
    documents: u64,
    ids: Vec<String>,
}

/// The parent's versions the run neither saw nor carried (a changes-only run carries every
/// version it did not list again), and the documents all of whose versions are gone. Only the
/// count when the parent's versions are not all known.
fn gone(lib: &str, plan: &Plan, tally: &Tally) -> Gone {
    let versions = versions_gone(plan, tally);
    if versions == 0 || plan.prior.len() as u64 != plan.parent_versions {
        return Gone {
            versions,
            ..Gone::default()
        };
    }
    let relisted = tally.carried_over.as_deref();
    // The parent's keys, streamed in order (the n-th is the one of ordinal n). The table is a
    // private file of this run: if it cannot be read back, only the count is reported.
    let tally_gone = || -> std::io::Result<(Vec<(u64, u32)>, usize)> {
        let mut keys = Vec::new();
        for (o, k) in plan.prior.keys().enumerate() {
            let (n, v) = k?;
            if !tally.seen_parent.contains(o as u64) && relisted.is_none_or(|r| r.covers_key(n, v))
            {
                keys.push((n, v));
            }
        }
        let mut gone_per_doc: HashMap<u64, u32> = HashMap::new();
        for (n, _) in &keys {
            *gone_per_doc.entry(*n).or_default() += 1;
        }
        let mut stored_per_doc: HashMap<u64, u32> = HashMap::new();
        for k in plan.prior.keys() {
            let (n, _) = k?;
            if gone_per_doc.contains_key(&n) {
                *stored_per_doc.entry(n).or_default() += 1;
            }
        }
        let whole = gone_per_doc
            .into_iter()
            .filter(|(n, g)| stored_per_doc.get(n) == Some(g))
            .count();
        Ok((keys, whole))
    };
    let (keys, whole_docs) = match tally_gone() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(library = lib, error = %e, "cannot read the last snapshot's versions back: reporting only how many are gone");
            return Gone {
                versions,
                ..Gone::default()
            };
        }
    };
    let documents = whole_docs as u64;
    Gone {
        versions,
        documents,
        ids: keys
            .iter()
            .take(super::GONE_IDS_MAX)
            .map(|(n, v)| format!("{lib}!{n}.{v}"))
            .collect(),
    }
}

/// A run with skipped items or warnings completed with warnings.
fn final_state(c: &CountersSnapshot, tally: &Tally) -> JobState {
    if c.skipped > 0 || tally.warnings > 0 {
        JobState::CompletedWithWarnings
    } else {
        JobState::Completed
    }
}

/// The snapshot's manifest: the run's counts, its streams and its summary.
fn snapshot_draft(
    env: &BackupEnv,
    opts: &BackupRequest,
    plan: &Plan,
    written: WrittenStreams,
    mut tally: Tally,
    done: &RunDone<'_>,
) -> SnapshotDraft {
    let c = &done.counters;
    let state = final_state(c, &tally);
    let versions_gone = versions_gone(plan, &tally);
    tally
        .counts
        .insert("versions_downloaded".into(), c.versions_downloaded);
    tally
        .counts
        .insert("versions_unchanged".into(), c.versions_unchanged);
    if c.versions_healed > 0 {
        tally
            .counts
            .insert("versions_healed".into(), c.versions_healed);
    }
    tally.counts.insert("versions_gone".into(), versions_gone);
    tally.counts.insert("skipped".into(), c.skipped);
    tally.counts.insert("bytes".into(), tally.logical_bytes);
    tally.counts.insert("bytes_read".into(), c.bytes_read);
    let stats = env.client.stats();
    let (listing_kind, full_listing_at) = match tally.listed {
        // A changes listing that may have missed something: the next run lists everything.
        Some(WalkListed::Changes { complete: false }) => (
            done.listing.summary(done.run_started).0,
            serde_json::Value::Null,
        ),
        _ => done.listing.summary(done.run_started),
    };
    SnapshotDraft {
        library: done.lib.to_string(),
        time: Some(done.run_started),
        host: None,
        parent: plan.parent.as_ref().map(|p| p.id),
        counts: tally.counts,
        streams: written.streams,
        summary: serde_json::json!({
            "state": state,
            "full": opts.full,
            "strategy": format!("{:?}", plan.strategy).to_lowercase(),
            SUMMARY_LISTING: listing_kind,
            SUMMARY_FULL_LISTING_AT: full_listing_at,
            "requests": stats.requests,
            "throttled": stats.throttled,
            "resumed_versions": plan.resumed,
            "checkpoints": written.checkpoints,
            "skipped_items": written.skipped,
            "seconds": done.started.elapsed().as_secs_f64(),
        }),
    }
}

fn listing_name(l: &ListingMode) -> &'static str {
    if l.is_changes() { "changes" } else { "full" }
}

/// The catalog is a cache of the repository: a failure here leaves the backup good and is fixed
/// by the next sync or `imvault catalog rebuild`.
async fn update_catalog(env: &BackupEnv, path: &std::path::Path, id: &crate::repo::SnapshotId) {
    // A catalog marked incomplete (an interrupted rebuild, or emptied by a format change) is
    // filled from the whole repository, this snapshot included.
    let flagged_path = path.to_path_buf();
    let flagged = tokio::task::spawn_blocking(move || {
        crate::catalog::Catalog::open(&flagged_path).and_then(|c| c.needs_rebuild())
    })
    .await;
    if let Ok(Ok(true)) = flagged {
        info!(snapshot = %id, "the catalog is marked incomplete: rebuilding it from the repository");
        match crate::jobs::catalog_sync::sync_all(&env.repo, path).await {
            Ok(report) => info!(snapshot = %id, loaded = report.loaded, "catalog rebuilt"),
            Err(e) => {
                warn!(snapshot = %id, error = %crate::repo::error_chain(&e), "catalog not rebuilt; run `imvault catalog rebuild`")
            }
        }
        return;
    }
    let result = async {
        let snap = env.repo.load_snapshot(id).await.map_err(|source| {
            crate::jobs::catalog_sync::SyncError::Repo {
                snapshot: id.to_string(),
                source: Box::new(source),
            }
        })?;
        crate::jobs::catalog_sync::sync_snapshot(&env.repo, path, &snap).await
    }
    .await;
    match result {
        Ok(Some(l)) => info!(
            snapshot = %id,
            versions = %l.report.versions,
            streams_loaded_in_full = l.out_of_step,
            "catalog updated"
        ),
        Ok(None) => {}
        Err(e) => {
            warn!(snapshot = %id, error = %crate::repo::error_chain(&e), "catalog not updated; run `imvault catalog rebuild`")
        }
    }
}
