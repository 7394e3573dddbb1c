//! The backup of one library: walk it, download what is new or changed, write the snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::carry::{self, Carried, Relisted};
use super::digest;
use super::fetch::{FetchError, fetch_version, source_worth_retrying};
use super::listing::{Listing, SUMMARY_FULL_LISTING_AT, SUMMARY_LISTING};
use super::plan::{self, Plan};
use super::prior::PriorVersions;
use super::records_writer::{Record, ResumeRecord, write_records};
use super::{BackupEnv, BackupError, BackupOptions, LibraryOutcome};
use crate::imanage::model::{ContainerKind, DocumentKind, DocumentVersion, LibraryId};
use crate::imanage::walk::{ChangesSince, WalkItem, WalkOptions, walk};
use crate::jobs::JobState;
use crate::jobs::lock::LibraryLock;
use crate::jobs::progress::{self, Counters};
use crate::jobs::records::{
    ContainerRecord, DocumentAclRecord, STREAM_VERSIONS, SkippedRecord, VersionRecord,
};
use crate::repo::{MetaRef, SnapshotDraft};

/// What the walk saw, for the snapshot's counts.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, u64>,
    logical_bytes: u64,
    seen_in_parent: u64,
    warnings: u64,
    /// The parent's versions stream is this snapshot's as it is (nothing listed again).
    reuse_parent_versions: bool,
    /// The next run's prior digest: every version record written (`None` when it could not
    /// be written: a cache, the next run reads the snapshot instead).
    next_digest: Option<digest::NextDigest>,
    /// A changes-only run that carried the parent's versions: what it listed again.
    carried_over: Option<Arc<Relisted>>,
    /// How a walk given `changes` said it listed the library.
    listed: Option<WalkListed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WalkListed {
    Changes { complete: bool },
    Everything,
}

impl Tally {
    fn bump(&mut self, key: &str) {
        self.add(key, 1);
    }
    fn add(&mut self, key: &str, n: u64) {
        *self.counts.entry(key.to_string()).or_default() += n;
    }
}

/// A changes-only run: what the walk needs, and the parent's versions to carry.
struct ChangesPlan<'a> {
    walk: ChangesSince,
    parent_versions: &'a MetaRef,
    parent_counts: &'a BTreeMap<String, u64>,
}

#[tracing::instrument(name = "backup", skip_all, fields(library = %library))]
pub async fn backup_library(
    env: &BackupEnv,
    library: &LibraryId,
    opts: &BackupOptions,
    cancel: CancellationToken,
) -> Result<LibraryOutcome, BackupError> {
    let started = Instant::now();
    let lib = library.as_str();
    let _lock =
        LibraryLock::acquire_patiently(&env.lock_dir, lib, std::time::Duration::from_secs(1))
            .await?;
    let repo = &env.repo;
    let repo_err = |action| BackupError::repo(lib, action);

    let Plan {
        parent,
        strategy,
        listing,
        prior,
        parent_versions,
        changes,
        resumed,
        digests,
    } = plan::plan(env, library, opts, started).await?;
    let changes = match (changes, parent.as_ref()) {
        (Some(walk), Some(p)) => Some(ChangesPlan {
            walk,
            parent_versions: &p.manifest.streams[STREAM_VERSIONS],
            parent_counts: &p.manifest.counts,
        }),
        _ => None,
    };

    let counters = Arc::new(Counters::default());
    if let Some(live) = &opts.live {
        live.register(lib, counters.clone());
    }
    let stop_progress = CancellationToken::new();
    let client_for_stats = env.client.clone();
    let reporter = tokio::spawn(progress::report(
        lib.to_string(),
        counters.clone(),
        parent
            .as_ref()
            .and_then(|p| p.manifest.counts.get("versions").copied()),
        Arc::new(move || {
            let s = client_for_stats.stats();
            (s.requests, s.throttled)
        }),
        env.display.clone(),
        opts.log_every,
        stop_progress.clone(),
    ));

    let session = repo.backup_session(env.session.clone());
    let run_started = session.started();
    let (tx, rx) = mpsc::channel::<Record>(1024);
    let resume = ResumeRecord {
        parent: parent.as_ref().map(|p| p.id),
        run_started,
        deltas: Vec::new(),
    };
    let writer = write_records(&session, lib, resume, rx);
    let producer = produce(
        env,
        library,
        opts,
        &session,
        &prior,
        changes,
        &counters,
        tx,
        cancel.clone(),
    );
    let (written, produced) = tokio::join!(writer, producer);
    stop_progress.cancel();
    let _ = reporter.await;

    let mut written = written.map_err(repo_err("writing the snapshot's metadata"))?;
    let mut tally = produced?;
    let listing = match tally.listed {
        Some(WalkListed::Everything) => Listing::Full {
            why: "the crawl fell back to the tree walk",
        },
        _ => listing,
    };
    if tally.reuse_parent_versions
        && let Some(meta) = parent
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
    let c = counters.snapshot();

    if cancel.is_cancelled() {
        // Everything downloaded so far is durable through the last checkpoint; no snapshot.
        warn!(
            library = lib,
            "backup cancelled; the next run resumes from the last checkpoint"
        );
        return Ok(LibraryOutcome {
            library: lib.to_string(),
            state: JobState::Cancelled,
            snapshot: None,
            parent: parent.map(|p| p.id),
            counters: c,
            versions_gone: 0,
            resumed_versions: resumed,
            listing: listing_name(&listing),
            session: session.stats(),
            seconds: started.elapsed().as_secs_f64(),
            error: None,
        });
    }

    let versions_gone = parent_versions.saturating_sub(tally.seen_in_parent);
    let state = if c.skipped > 0 || tally.warnings > 0 {
        JobState::CompletedWithWarnings
    } else {
        JobState::Completed
    };
    tally
        .counts
        .insert("versions_downloaded".into(), c.versions_downloaded);
    tally
        .counts
        .insert("versions_unchanged".into(), c.versions_unchanged);
    tally.counts.insert("versions_gone".into(), versions_gone);
    tally.counts.insert("skipped".into(), c.skipped);
    tally.counts.insert("bytes".into(), tally.logical_bytes);
    tally.counts.insert("bytes_read".into(), c.bytes_read);
    let stats = env.client.stats();
    let (listing_kind, full_listing_at) = match tally.listed {
        // A changes listing that may have missed something: the next run lists everything.
        Some(WalkListed::Changes { complete: false }) => {
            (listing.summary(run_started).0, serde_json::Value::Null)
        }
        _ => listing.summary(run_started),
    };
    let draft = SnapshotDraft {
        library: lib.to_string(),
        time: Some(run_started),
        host: None,
        parent: parent.as_ref().map(|p| p.id),
        counts: tally.counts,
        streams: written.streams,
        summary: serde_json::json!({
            "state": state,
            "full": opts.full,
            "strategy": format!("{strategy:?}").to_lowercase(),
            SUMMARY_LISTING: listing_kind,
            SUMMARY_FULL_LISTING_AT: full_listing_at,
            "requests": stats.requests,
            "throttled": stats.throttled,
            "resumed_versions": resumed,
            "checkpoints": written.checkpoints,
            "seconds": started.elapsed().as_secs_f64(),
        }),
    };
    let session_stats = session.stats();
    let snapshot = session
        .finish(draft)
        .await
        .map_err(repo_err("writing the snapshot"))?;
    // The next run's prior: this snapshot's versions (a cache; failures only cost speed).
    if let Some(next) = tally.next_digest.take() {
        let carried = tally.carried_over.take().map(|relisted| {
            let covered: Box<dyn Fn(u64, u32) -> bool + Send> =
                Box::new(move |n, v| relisted.covers_key(n, v));
            (prior, covered)
        });
        if let Err(e) = next.finish(lib, &snapshot, carried).await {
            warn!(library = lib, error = %e, dir = %digests.display(), "could not keep the prior digest; the next run reads the snapshot instead");
        }
    }
    info!(library = lib, snapshot = %snapshot, versions = c.versions, downloaded = c.versions_downloaded, "snapshot written");
    if let Some(path) = &env.catalog {
        update_catalog(env, path, &snapshot).await;
    }
    Ok(LibraryOutcome {
        library: lib.to_string(),
        state,
        snapshot: Some(snapshot),
        parent: parent.map(|p| p.id),
        counters: c,
        versions_gone,
        resumed_versions: resumed,
        listing: listing_name(&listing),
        session: session_stats,
        seconds: started.elapsed().as_secs_f64(),
        error: None,
    })
}

fn listing_name(l: &Listing) -> &'static str {
    if l.is_changes() { "changes" } else { "full" }
}

#[allow(clippy::too_many_arguments)]
async fn produce(
    env: &BackupEnv,
    library: &LibraryId,
    opts: &BackupOptions,
    session: &crate::repo::BackupSession,
    prior: &PriorVersions,
    changes: Option<ChangesPlan<'_>>,
    counters: &Counters,
    tx: mpsc::Sender<Record>,
    cancel: CancellationToken,
) -> Result<Tally, BackupError> {
    let lib = library.as_str();
    let send = |r: Record| {
        let tx = tx.clone();
        async move {
            tx.send(r).await.map_err(|_| BackupError::WriterGone {
                library: lib.to_string(),
            })
        }
    };
    let mut tally = Tally::default();
    let digests = plan::digest_dir(env);
    match digest::NextDigest::start(&digests) {
        Ok(d) => tally.next_digest = Some(d),
        Err(e) => {
            warn!(library = lib, error = %e, dir = %digests.display(), "cannot write a prior digest; the next run reads the snapshot instead")
        }
    }
    let (walk_changes, carry_from) = match changes {
        Some(c) => (Some(c.walk), Some((c.parent_versions, c.parent_counts))),
        None => (None, None),
    };
    let listing_changes = walk_changes.is_some();
    // Changes-only runs: what the walk listed again (the rest comes from the parent).
    let mut relisted = Relisted::default();
    let walk_options = WalkOptions {
        changes: walk_changes,
        ..WalkOptions::default()
    };
    let mut items = walk(&env.client, library, opts.strategy, walk_options);
    let mut inflight = FuturesUnordered::new();
    let mut retry_later: Vec<DocumentVersion> = Vec::new();
    let mut walk_done = false;
    let mut ticker = tokio::time::interval(opts.checkpoint_every);
    ticker.tick().await;
    let max_inflight = opts.download_concurrency.max(1);
    let start_fetch = |v: DocumentVersion| async move {
        let r = fetch_version(&env.client, session, &v, counters).await;
        (v, r)
    };

    loop {
        if walk_done && inflight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled(), if !walk_done => {
                walk_done = true;
                retry_later.clear();
            }
            Some((v, result)) = inflight.next(), if !inflight.is_empty() => {
                match result {
                    Ok(content) => {
                        let content: crate::repo::ContentRef = content;
                        Counters::add(&counters.versions_downloaded, 1);
                        Counters::add(&counters.versions, 1);
                        note_digest(&mut tally, &v, &content);
                        send(Record::Version { record: Box::new(VersionRecord::new(v, content)), downloaded: true }).await?;
                    }
                    Err(FetchError::Repo(source)) => {
                        return Err(BackupError::Repo { library: lib.to_string(), action: "storing downloaded content", source });
                    }
                    Err(FetchError::Source(e)) if source_worth_retrying(&e) => {
                        Counters::add(&counters.retried, 1);
                        warn!(library = lib, version = %v.id, error = %e, "download failed; will retry later in the run");
                        retry_later.push(v);
                    }
                    Err(FetchError::Source(e)) => {
                        skip(&send, counters, v.id.to_string(), "download", &e).await?;
                    }
                }
            }
            _ = ticker.tick() => {
                checkpoint(&send, lib).await?;
            }
            item = items.next(), if !walk_done && inflight.len() < max_inflight => {
                let Some(item) = item else {
                    walk_done = true;
                    continue;
                };
                let item = item.map_err(|source| BackupError::Walk { library: lib.to_string(), source })?;
                match item {
                    WalkItem::Container { container, acl } => {
                        tally.bump(match container.kind {
                            ContainerKind::Workspace => "workspaces",
                            ContainerKind::Folder => "folders",
                            ContainerKind::Tab => "tabs",
                            ContainerKind::SearchFolder => "search_folders",
                        });
                        Counters::add(&counters.containers, 1);
                        send(Record::Container(Box::new(ContainerRecord::new(container, Some(acl))))).await?;
                    }
                    WalkItem::Version { version } => {
                        tally.bump(match version.kind {
                            DocumentKind::Document => "document_versions",
                            DocumentKind::Email => "email_versions",
                        });
                        tally.bump("versions");
                        tally.logical_bytes += version.size;
                        if listing_changes {
                            relisted.versions.insert((version.id.document.number, version.id.version));
                        }
                        if prior.contains(version.id.document.number, version.id.version) {
                            tally.seen_in_parent += 1;
                        }
                        if let Some(content) = prior.unchanged(&version) {
                            let content = content.clone();
                            Counters::add(&counters.versions_unchanged, 1);
                            Counters::add(&counters.versions, 1);
                            note_digest(&mut tally, &version, &content);
                            send(Record::Version { record: Box::new(VersionRecord::new(version, content)), downloaded: false }).await?;
                        } else {
                            inflight.push(start_fetch(version));
                        }
                    }
                    WalkItem::Filing(f) => {
                        tally.bump("filings");
                        send(Record::Filing(f)).await?;
                    }
                    WalkItem::DocumentAcl { document, acl } => {
                        tally.bump("document_acls");
                        send(Record::DocumentAcl(Box::new(DocumentAclRecord { document, acl }))).await?;
                    }
                    WalkItem::AccessDenied { what, detail } => {
                        tally.warnings += 1;
                        warn!(library = lib, object = %what, "access denied: {detail}");
                        Counters::add(&counters.skipped, 1);
                        send(Record::Skipped(SkippedRecord { object: what, action: "read".into(), reason: format!("access denied: {detail}") })).await?;
                    }
                    WalkItem::Warning { what, detail } => {
                        tally.warnings += 1;
                        warn!(library = lib, object = %what, "{detail}");
                        Counters::add(&counters.skipped, 1);
                        send(Record::Skipped(SkippedRecord { object: what, action: "read".into(), reason: detail })).await?;
                    }
                    WalkItem::Relisted { document } => {
                        relisted.documents.insert(document.number);
                    }
                    WalkItem::ChangesOnly { complete } => tally.listed = Some(WalkListed::Changes { complete }),
                    WalkItem::ListedEverything => tally.listed = Some(WalkListed::Everything),
                }
            }
        }
    }

    // Second pass for versions that failed transiently: once more, then skip with the reason.
    if !retry_later.is_empty() && !cancel.is_cancelled() {
        info!(
            library = lib,
            versions = retry_later.len(),
            "retrying failed downloads"
        );
        let mut retries = futures::stream::iter(retry_later.into_iter().map(start_fetch))
            .buffer_unordered(max_inflight);
        while let Some((v, result)) = retries.next().await {
            match result {
                Ok(content) => {
                    Counters::add(&counters.versions_downloaded, 1);
                    Counters::add(&counters.versions, 1);
                    note_digest(&mut tally, &v, &content);
                    send(Record::Version {
                        record: Box::new(VersionRecord::new(v, content)),
                        downloaded: true,
                    })
                    .await?;
                }
                Err(FetchError::Repo(source)) => {
                    return Err(BackupError::Repo {
                        library: lib.to_string(),
                        action: "storing downloaded content",
                        source,
                    });
                }
                Err(FetchError::Source(e)) => {
                    skip(&send, counters, v.id.to_string(), "download", &e).await?
                }
            }
        }
    }
    if cancel.is_cancelled() {
        checkpoint(&send, lib).await?;
        return Ok(tally);
    }
    let changes_listed = match (carry_from.is_some(), tally.listed) {
        (false, _) => false,
        (true, Some(WalkListed::Changes { complete })) => {
            if !complete {
                warn!(
                    library = lib,
                    "the changes-only listing is incomplete (see the warnings); the next run lists everything"
                );
            }
            true
        }
        (true, Some(WalkListed::Everything)) => {
            info!(
                library = lib,
                "the crawl fell back to the tree walk, which listed every version: nothing carried from the last snapshot"
            );
            false
        }
        (true, None) => {
            // Neither marker: the walk stopped early (e.g. the crawl refused with --strategy
            // crawl). Its snapshot would miss every unchanged version.
            return Err(BackupError::ChangesWalkEnded {
                library: lib.to_string(),
            });
        }
    };
    if let Some((meta, counts)) = carry_from.filter(|_| changes_listed) {
        let relisted = Arc::new(relisted);
        tally.carried_over = Some(relisted.clone());
        let carried = if relisted.is_empty() {
            tally.reuse_parent_versions = true;
            carry::carried_whole(meta, counts)
        } else {
            let tx = tx.clone();
            carry::carry_versions(&env.repo, meta, relisted, move |line| {
                let tx = tx.clone();
                async move { tx.send(Record::CarriedVersion(line)).await.is_ok() }
            })
            .await
            .map_err(|source| BackupError::Carry {
                library: lib.to_string(),
                source,
            })?
        };
        account_carried(&mut tally, counters, carried);
    }
    Ok(tally)
}

/// Adds a stored version to the next run's digest; on a write error, goes on without it.
fn note_digest(tally: &mut Tally, v: &DocumentVersion, content: &crate::repo::ContentRef) {
    if let Some(d) = tally.next_digest.as_mut()
        && let Err(e) = d.add_version(v, content)
    {
        warn!(error = %e, "could not write the prior digest; the next run reads the snapshot instead");
        tally.next_digest = None;
    }
}

/// The carried versions count as unchanged versions of this snapshot.
fn account_carried(tally: &mut Tally, counters: &Counters, c: Carried) {
    tally.add("versions", c.versions);
    tally.add("document_versions", c.document_versions);
    tally.add("email_versions", c.email_versions);
    tally.add("versions_carried", c.versions);
    tally.logical_bytes += c.bytes;
    tally.seen_in_parent += c.versions;
    Counters::add(&counters.versions_unchanged, c.versions);
    Counters::add(&counters.versions, c.versions);
}

async fn skip<F, Fut>(
    send: &F,
    counters: &Counters,
    object: String,
    action: &str,
    e: &(dyn std::error::Error + Send + Sync),
) -> Result<(), BackupError>
where
    F: Fn(Record) -> Fut,
    Fut: std::future::Future<Output = Result<(), BackupError>>,
{
    let reason = crate::repo::error_chain(e);
    warn!(object = %object, action, reason = %reason, "skipped");
    Counters::add(&counters.skipped, 1);
    send(Record::Skipped(SkippedRecord {
        object,
        action: action.to_string(),
        reason,
    }))
    .await
}

async fn checkpoint<F, Fut>(send: &F, lib: &str) -> Result<(), BackupError>
where
    F: Fn(Record) -> Fut,
    Fut: std::future::Future<Output = Result<(), BackupError>>,
{
    let (reply, done) = oneshot::channel();
    send(Record::Checkpoint(reply)).await?;
    match done.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(BackupError::Repo {
            library: lib.to_string(),
            action: "writing a checkpoint",
            source,
        }),
        Err(_) => Err(BackupError::WriterGone {
            library: lib.to_string(),
        }),
    }
}

/// The catalog is a cache of the repository: a failure here leaves the backup good and is fixed
/// by the next sync or `imvault catalog rebuild`.
async fn update_catalog(env: &BackupEnv, path: &std::path::Path, id: &crate::repo::SnapshotId) {
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
        Ok(Some(report)) => info!(snapshot = %id, versions = ?report.versions, "catalog updated"),
        Ok(None) => {}
        Err(e) => {
            warn!(snapshot = %id, error = %crate::repo::error_chain(&e), "catalog not updated; run `imvault catalog rebuild`")
        }
    }
}
