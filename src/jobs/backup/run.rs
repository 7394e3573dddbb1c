//! One library's run, the producing side: walk the library, download what is new or changed,
//! retry what failed transiently, carry the parent's unchanged versions of a changes-only run,
//! and send every record to the metadata writer (`records_writer.rs`) in order.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::carry::{self, Carried, Relisted};
use super::fetch::{FetchError, fetch_version, source_worth_retrying};
use super::plan;
use super::prior::PriorVersions;
use super::prior::cache as prior_cache;
use super::records_writer::Record;
use super::{BackupEnv, BackupError, BackupRequest};
use crate::imanage::model::{ContainerKind, DocumentKind, DocumentVersion, LibraryId};
use crate::imanage::walk::{ChangesSince, WalkItem, WalkOptions, walk};
use crate::jobs::progress::Counters;
use crate::jobs::records::{ContainerRecord, DocumentAclRecord, SkippedRecord, VersionRecord};
use crate::repo::{BackupSession, ContentRef, MetaRef};

/// What the walk saw, for the snapshot's counts.
#[derive(Default)]
pub(super) struct Tally {
    pub counts: BTreeMap<String, u64>,
    pub logical_bytes: u64,
    pub seen_in_parent: u64,
    /// The parent's versions the walk saw (their ordinals in the prior: one bit each).
    pub seen_parent: super::prior::Ordinals,
    pub warnings: u64,
    /// The parent's versions stream is this snapshot's as it is (nothing listed again).
    pub reuse_parent_versions: bool,
    /// The next run's prior cache: every version record written (`None` when it could not
    /// be written: a cache, the next run reads the snapshot instead).
    pub next_prior_cache: Option<prior_cache::NextPriorCache>,
    /// A changes-only run that carried the parent's versions: what it listed again.
    pub carried_over: Option<Arc<Relisted>>,
    /// How a walk given `changes` said it listed the library.
    pub listed: Option<WalkListed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WalkListed {
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
pub(super) struct ChangesPlan<'a> {
    pub walk: ChangesSince,
    pub parent_versions: &'a MetaRef,
    pub parent_counts: &'a BTreeMap<String, u64>,
}

/// The result of one download.
type Fetched = (DocumentVersion, Result<ContentRef, FetchError>);

/// One library's run while it walks and downloads: what it works with and what it has seen.
pub(super) struct LibraryRun<'a> {
    pub env: &'a BackupEnv,
    pub library: &'a LibraryId,
    pub opts: &'a BackupRequest,
    pub session: &'a BackupSession,
    pub prior: &'a PriorVersions,
    pub counters: &'a Counters,
    pub records: mpsc::Sender<Record>,
    pub cancel: CancellationToken,
    /// Versions of the last snapshot whose stored content is lost: downloaded again.
    pub lost: Arc<HashSet<(u64, u32)>>,
    /// Bytes downloaded since the last checkpoint (one comes after `checkpoint_bytes`).
    pub unsaved: AtomicU64,
}

/// The state of a run's walk: its tally, what a changes-only walk listed again, and the
/// versions whose download failed transiently.
struct Walked {
    tally: Tally,
    listing_changes: bool,
    relisted: Relisted,
    retry_later: Vec<DocumentVersion>,
}

impl<'a> LibraryRun<'a> {
    fn lib(&self) -> &'a str {
        self.library.as_str()
    }

    /// Walks, downloads and carries; returns what the run saw. Cancelled, it stops taking new
    /// items, finishes the downloads in flight and makes them durable with a checkpoint.
    pub async fn produce(self, changes: Option<ChangesPlan<'_>>) -> Result<Tally, BackupError> {
        let (walk_changes, carry_from) = match changes {
            Some(c) => (Some(c.walk), Some((c.parent_versions, c.parent_counts))),
            None => (None, None),
        };
        let mut w = Walked {
            tally: Tally {
                next_prior_cache: self.start_prior_cache(),
                ..Tally::default()
            },
            listing_changes: walk_changes.is_some(),
            relisted: Relisted::default(),
            retry_later: Vec::new(),
        };
        self.walk_and_fetch(&mut w, walk_changes).await?;
        let retry_later = std::mem::take(&mut w.retry_later);
        if !retry_later.is_empty() && !self.cancel.is_cancelled() {
            self.retry(&mut w.tally, retry_later).await?;
        }
        if self.cancel.is_cancelled() {
            self.checkpoint().await?;
            return Ok(w.tally);
        }
        if let Some((meta, counts)) = carry_from {
            let changes_listed = self.changes_listed(w.tally.listed).ok_or_else(|| {
                BackupError::ChangesWalkEnded {
                    library: self.lib().to_string(),
                }
            })?;
            if changes_listed {
                self.carry(&mut w.tally, w.relisted, meta, counts).await?;
            }
        }
        Ok(w.tally)
    }

    /// The next run's prior cache, written as versions are stored (a cache: without it the
    /// next run reads the snapshot).
    fn start_prior_cache(&self) -> Option<prior_cache::NextPriorCache> {
        let cache_dir = plan::prior_cache_dir(self.env);
        match prior_cache::NextPriorCache::start(&cache_dir) {
            Ok(d) => Some(d),
            Err(e) => {
                warn!(library = self.lib(), error = %e, dir = %cache_dir.display(), "cannot write a prior cache; the next run reads the snapshot instead");
                None
            }
        }
    }

    /// Downloads one version into the session.
    async fn fetch(&self, v: DocumentVersion) -> Fetched {
        let r = fetch_version(&self.env.client, self.session, &v, self.counters).await;
        (v, r)
    }

    /// The walk with its downloads, a bounded number at a time, and a checkpoint every
    /// `checkpoint_every`.
    async fn walk_and_fetch(
        &self,
        w: &mut Walked,
        changes: Option<ChangesSince>,
    ) -> Result<(), BackupError> {
        let walk_options = WalkOptions {
            changes,
            ..WalkOptions::default()
        };
        let mut items = walk(
            &self.env.client,
            self.library,
            self.opts.strategy,
            walk_options,
        );
        let mut inflight = FuturesUnordered::new();
        let mut walk_done = false;
        let mut ticker = tokio::time::interval(self.opts.checkpoint_every);
        // A checkpoint slower than the period must not starve the walk with catch-up ticks.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await;
        let max_inflight = self.opts.download_concurrency.max(1);
        loop {
            if walk_done && inflight.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                _ = self.cancel.cancelled(), if !walk_done => {
                    walk_done = true;
                    w.retry_later.clear();
                }
                Some((v, result)) = inflight.next(), if !inflight.is_empty() => {
                    self.fetched(w, v, result).await?;
                }
                _ = ticker.tick() => {
                    self.checkpoint().await?;
                }
                item = items.next(), if !walk_done && inflight.len() < max_inflight => {
                    let Some(item) = item else {
                        walk_done = true;
                        continue;
                    };
                    let item = item.map_err(|source| BackupError::Walk {
                        library: self.lib().to_string(),
                        source,
                    })?;
                    if let Some(v) = self.walked(w, item).await? {
                        inflight.push(self.fetch(v));
                    }
                }
            }
        }
        Ok(())
    }

    /// A finished download: stored, put aside for the retry pass, or skipped.
    async fn fetched(
        &self,
        w: &mut Walked,
        v: DocumentVersion,
        result: Result<ContentRef, FetchError>,
    ) -> Result<(), BackupError> {
        match result {
            Ok(content) => self.stored(&mut w.tally, v, content, true).await,
            Err(FetchError::Repo(source)) => Err(self.storing_failed(source)),
            Err(FetchError::Source(e)) if source_worth_retrying(&e) => {
                Counters::add(&self.counters.retried, 1);
                warn!(library = self.lib(), version = %v.id, error = %e, "download failed; will retry later in the run");
                w.retry_later.push(v);
                Ok(())
            }
            Err(FetchError::Source(e)) => self.skip_download(&mut w.tally, &v, &e).await,
        }
    }

    /// A version whose download failed for good: a skipped item, and not counted among the
    /// snapshot's versions (its `versions` stream does not hold it).
    async fn skip_download(
        &self,
        tally: &mut Tally,
        v: &DocumentVersion,
        e: &(dyn std::error::Error + Send + Sync),
    ) -> Result<(), BackupError> {
        for key in [
            "versions",
            match v.kind {
                DocumentKind::Document => "document_versions",
                DocumentKind::Email => "email_versions",
            },
        ] {
            if let Some(n) = tally.counts.get_mut(key) {
                *n = n.saturating_sub(1);
            }
        }
        tally.logical_bytes = tally.logical_bytes.saturating_sub(v.size);
        self.skip(v.id.to_string(), "download", e).await
    }

    fn storing_failed(&self, source: crate::repo::RepoError) -> BackupError {
        BackupError::Repo {
            library: self.lib().to_string(),
            action: "storing downloaded content",
            source,
        }
    }

    /// Records a stored version (downloaded now, or unchanged since the prior run).
    async fn stored(
        &self,
        tally: &mut Tally,
        v: DocumentVersion,
        content: ContentRef,
        downloaded: bool,
    ) -> Result<(), BackupError> {
        if downloaded {
            Counters::add(&self.counters.versions_downloaded, 1);
        } else {
            Counters::add(&self.counters.versions_unchanged, 1);
        }
        Counters::add(&self.counters.versions, 1);
        note_prior_cache(tally, &v, &content);
        let size = content.size;
        self.send(Record::Version {
            record: Box::new(VersionRecord::new(v, content)),
            downloaded,
        })
        .await?;
        // A checkpoint after a bounded amount of downloads too, so a failure early in a
        // large run keeps what it stored.
        if downloaded
            && self.unsaved.fetch_add(size, Ordering::Relaxed) + size >= self.opts.checkpoint_bytes
        {
            self.checkpoint().await?;
        }
        Ok(())
    }

    /// One walk item: counted and recorded; a version that is new or changed is returned, to
    /// be downloaded.
    async fn walked(
        &self,
        w: &mut Walked,
        item: WalkItem,
    ) -> Result<Option<DocumentVersion>, BackupError> {
        let tally = &mut w.tally;
        match item {
            WalkItem::Container { container, acl } => {
                tally.bump(match container.kind {
                    ContainerKind::Workspace => "workspaces",
                    ContainerKind::Folder => "folders",
                    ContainerKind::Tab => "tabs",
                    ContainerKind::SearchFolder => "search_folders",
                });
                Counters::add(&self.counters.containers, 1);
                self.send(Record::Container(Box::new(ContainerRecord::new(
                    container,
                    Some(acl),
                ))))
                .await?;
            }
            WalkItem::Version { version } => return self.version_listed(w, version).await,
            WalkItem::Filing(f) => {
                tally.bump("filings");
                self.send(Record::Filing(f)).await?;
            }
            WalkItem::DocumentAcl { document, acl } => {
                tally.bump("document_acls");
                self.send(Record::DocumentAcl(Box::new(DocumentAclRecord {
                    document,
                    acl,
                })))
                .await?;
            }
            WalkItem::AccessDenied { what, detail } => {
                warn!(library = self.lib(), object = %what, "access denied: {detail}");
                self.walk_warning(tally, what, format!("access denied: {detail}"))
                    .await?;
            }
            WalkItem::Warning { what, detail } => {
                warn!(library = self.lib(), object = %what, "{detail}");
                self.walk_warning(tally, what, detail).await?;
            }
            WalkItem::Relisted { document } => {
                w.relisted.documents.insert(document.number);
            }
            WalkItem::ChangesOnly { complete } => {
                tally.listed = Some(WalkListed::Changes { complete })
            }
            WalkItem::ListedEverything => tally.listed = Some(WalkListed::Everything),
        }
        Ok(None)
    }

    /// A listed version: recorded at once when the prior run stored it unchanged, else
    /// returned to be downloaded.
    async fn version_listed(
        &self,
        w: &mut Walked,
        version: DocumentVersion,
    ) -> Result<Option<DocumentVersion>, BackupError> {
        let tally = &mut w.tally;
        tally.bump(match version.kind {
            DocumentKind::Document => "document_versions",
            DocumentKind::Email => "email_versions",
        });
        tally.bump("versions");
        tally.logical_bytes += version.size;
        let key = (version.id.document.number, version.id.version);
        if w.listing_changes {
            w.relisted.versions.insert(key);
        }
        let found = self.prior.find(&version);
        if let Some(o) = found.ordinal {
            tally.seen_in_parent += 1;
            tally.seen_parent.insert(o);
        }
        match found.unchanged {
            // Reused only while every blob is still stored (a lost pack must not be carried
            // forward silently).
            Some(content) if self.env.repo.index().holds_all(&content.blobs) => {
                self.stored(tally, version, content, false).await?;
                Ok(None)
            }
            Some(_) => {
                Counters::add(&self.counters.versions_healed, 1);
                warn!(library = self.lib(), version = %version.id, "stored content is missing from the repository; downloading it again");
                Ok(Some(version))
            }
            None => Ok(Some(version)),
        }
    }

    /// Something the walk could not read: a warning, and a skipped record in the snapshot.
    async fn walk_warning(
        &self,
        tally: &mut Tally,
        object: String,
        reason: String,
    ) -> Result<(), BackupError> {
        tally.warnings += 1;
        Counters::add(&self.counters.skipped, 1);
        self.send(Record::Skipped(SkippedRecord {
            object,
            action: "read".into(),
            reason,
        }))
        .await
    }

    /// The second pass over versions that failed transiently: once more, then skipped with the
    /// reason.
    async fn retry(
        &self,
        tally: &mut Tally,
        versions: Vec<DocumentVersion>,
    ) -> Result<(), BackupError> {
        info!(
            library = self.lib(),
            versions = versions.len(),
            "retrying failed downloads"
        );
        let mut retries = futures::stream::iter(versions.into_iter().map(|v| self.fetch(v)))
            .buffer_unordered(self.opts.download_concurrency.max(1));
        while let Some((v, result)) = retries.next().await {
            match result {
                Ok(content) => self.stored(tally, v, content, true).await?,
                Err(FetchError::Repo(source)) => return Err(self.storing_failed(source)),
                Err(FetchError::Source(e)) => self.skip_download(tally, &v, &e).await?,
            }
        }
        Ok(())
    }

    /// Whether a run given a changes-only walk did list only the changes (and so carries the
    /// rest from the parent). `None` when the walk said neither: it stopped early (e.g. the
    /// crawl refused with --strategy crawl), and its snapshot would miss every unchanged
    /// version.
    fn changes_listed(&self, listed: Option<WalkListed>) -> Option<bool> {
        let lib = self.lib();
        match listed {
            Some(WalkListed::Changes { complete }) => {
                if !complete {
                    warn!(
                        library = lib,
                        "the changes-only listing is incomplete (see the warnings); the next run lists everything"
                    );
                }
                Some(true)
            }
            Some(WalkListed::Everything) => {
                info!(
                    library = lib,
                    "the crawl fell back to the tree walk, which listed every version: nothing carried from the last snapshot"
                );
                Some(false)
            }
            None => None,
        }
    }

    /// Carries the parent's versions the walk did not list again (the parent's whole stream
    /// when it listed none).
    async fn carry(
        &self,
        tally: &mut Tally,
        relisted: Relisted,
        meta: &MetaRef,
        counts: &BTreeMap<String, u64>,
    ) -> Result<(), BackupError> {
        let relisted = Arc::new(relisted);
        tally.carried_over = Some(relisted.clone());
        let (carried, lost_lines) = if relisted.is_empty() && self.lost.is_empty() {
            tally.reuse_parent_versions = true;
            (carry::carried_whole(meta, counts), Vec::new())
        } else {
            let tx = self.records.clone();
            carry::carry_versions(
                &self.env.repo,
                meta,
                relisted,
                self.lost.clone(),
                move |line| {
                    let tx = tx.clone();
                    async move { tx.send(Record::CarriedVersion(line)).await.is_ok() }
                },
            )
            .await
            .map_err(|source| BackupError::Carry {
                library: self.lib().to_string(),
                source,
            })?
        };
        account_carried(tally, self.counters, carried);
        if !lost_lines.is_empty() {
            self.download_lost(tally, &lost_lines).await?;
        }
        Ok(())
    }

    /// Versions not listed again whose stored content was lost: downloaded again, with the
    /// profile the parent stored (it did not change, or the walk would have listed it).
    async fn download_lost(
        &self,
        tally: &mut Tally,
        lines: &[bytes::Bytes],
    ) -> Result<(), BackupError> {
        let mut versions = Vec::with_capacity(lines.len());
        for line in lines {
            let version = serde_json::from_slice::<VersionRecord>(line)
                .map_err(|e| e.to_string())
                .and_then(|r| r.version().map_err(|e| e.to_string()))
                .map_err(|problem| BackupError::Carry {
                    library: self.lib().to_string(),
                    source: carry::CarryError::Record { index: 0, problem },
                })?;
            versions.push(version);
        }
        warn!(
            library = self.lib(),
            versions = versions.len(),
            "downloading again versions whose stored content is missing from the repository"
        );
        let mut fetches = futures::stream::iter(versions.into_iter().map(|v| self.fetch(v)))
            .buffer_unordered(self.opts.download_concurrency.max(1));
        while let Some((v, result)) = fetches.next().await {
            tally.bump(match v.kind {
                DocumentKind::Document => "document_versions",
                DocumentKind::Email => "email_versions",
            });
            tally.bump("versions");
            tally.logical_bytes += v.size;
            tally.seen_in_parent += 1;
            if let Some(o) = self.prior.find(&v).ordinal {
                tally.seen_parent.insert(o);
            }
            Counters::add(&self.counters.versions_healed, 1);
            match result {
                Ok(content) => self.stored(tally, v, content, true).await?,
                Err(FetchError::Repo(source)) => return Err(self.storing_failed(source)),
                Err(FetchError::Source(e)) => self.skip_download(tally, &v, &e).await?,
            }
        }
        Ok(())
    }

    async fn send(&self, r: Record) -> Result<(), BackupError> {
        self.records
            .send(r)
            .await
            .map_err(|_| BackupError::WriterGone {
                library: self.lib().to_string(),
            })
    }

    async fn skip(
        &self,
        object: String,
        action: &str,
        e: &(dyn std::error::Error + Send + Sync),
    ) -> Result<(), BackupError> {
        let reason = crate::repo::error_chain(e);
        warn!(object = %object, action, reason = %reason, "skipped");
        Counters::add(&self.counters.skipped, 1);
        self.send(Record::Skipped(SkippedRecord {
            object,
            action: action.to_string(),
            reason,
        }))
        .await
    }

    /// Makes everything sent so far durable (packs, index, resume record).
    async fn checkpoint(&self) -> Result<(), BackupError> {
        self.unsaved.store(0, Ordering::Relaxed);
        let (reply, done) = oneshot::channel();
        self.send(Record::Checkpoint(reply)).await?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(BackupError::Repo {
                library: self.lib().to_string(),
                action: "writing a checkpoint",
                source,
            }),
            Err(_) => Err(BackupError::WriterGone {
                library: self.lib().to_string(),
            }),
        }
    }
}

/// Adds a stored version to the next run's prior cache; on a write error, goes on without it.
fn note_prior_cache(tally: &mut Tally, v: &DocumentVersion, content: &ContentRef) {
    if let Some(d) = tally.next_prior_cache.as_mut()
        && let Err(e) = d.add_version(v, content)
    {
        warn!(error = %e, "could not write the prior cache; the next run reads the snapshot instead");
        tally.next_prior_cache = None;
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
