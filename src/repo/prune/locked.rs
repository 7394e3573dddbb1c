//! Prune under S3 Object Lock (docs/FORMAT.md §20): a marked pack past its grace period whose
//! retention has not ended is not deleted: it stays marked and *waits*, and a later prune
//! deletes it once the lock has ended (the report says how many packs and bytes wait and until
//! when). And what the repository still needs has its retention extended before it runs out
//! ([`Repository::extend_retention`], also called by the daemon's maintenance job).
//!
//! Small objects prune removes (index objects it rewrote, old marks, stale resume records) and
//! snapshot manifests `forget` removes while they are retained are hidden behind a delete
//! marker: their locked version stays until its retention ends (a bucket lifecycle rule on
//! noncurrent versions removes it then). Only packs, where the bytes are, wait.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::lock_ledger::{LockLedger, Seen};
use crate::repo::backend::keys;
use crate::repo::error::RepoError;
use crate::repo::id::PackId;
use crate::repo::object_lock::{
    CONCURRENCY, Ensured, ExtendReport, RetentionControl, is_retained_kind,
};
use crate::repo::recover::plan::KeyKind;
use crate::repo::repository::{Indexed, Repository};

/// Marked packs past their grace period that wait for their Object Lock retention to end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionWait {
    pub packs: u64,
    pub bytes: u64,
    /// The first of them can be deleted after this …
    pub earliest: Option<DateTime<Utc>>,
    /// … and all of them after this.
    pub latest: Option<DateTime<Utc>>,
}

/// Takes the packs of `expired` still retained at `now` out of it (they stay marked) and says
/// how many there are, how big and until when.
pub(super) async fn hold_back_retained(
    control: &RetentionControl,
    expired: &mut Vec<PackId>,
    sizes: &BTreeMap<PackId, u64>,
    now: DateTime<Utc>,
) -> Result<Option<RetentionWait>, RepoError> {
    let until: Vec<(PackId, Option<DateTime<Utc>>)> = futures::stream::iter(expired.drain(..))
        .map(|p| async move {
            control
                .retained_until(&keys::pack(&p), now)
                .await
                .map(|u| (p, u))
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut wait = RetentionWait::default();
    for (p, u) in until {
        match u {
            Some(until) => {
                wait.packs += 1;
                wait.bytes += sizes.get(&p).copied().unwrap_or(0);
                wait.earliest = Some(wait.earliest.map_or(until, |e| e.min(until)));
                wait.latest = Some(wait.latest.map_or(until, |l| l.max(until)));
            }
            None => expired.push(p),
        }
    }
    Ok((wait.packs > 0).then_some(wait))
}

/// The packs a prune leaves marked, as retention extension needs them
/// ([`Repository::extend_retention`]).
#[derive(Debug, Clone, Default)]
pub struct MarkedPacks {
    /// Every mark after the prune, with when the pack was first marked.
    pub marks: BTreeMap<PackId, DateTime<Utc>>,
    /// Marked packs past their grace period that no running backup defers: deleted now, or
    /// as soon as their retention ends. Their retention is not extended.
    pub deletable: BTreeSet<PackId>,
    /// The grace period of the prune.
    pub grace: chrono::Duration,
}

/// The retention one object needs: at least `need`, and when it must be set, `to`.
#[derive(Debug, Clone)]
struct Wanted {
    key: Path,
    seen: Seen,
    etag: Option<String>,
    need: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Listed objects asked about per round (one ledger read, one ledger write).
const ROUND: usize = 1000;

impl Repository<Indexed> {
    /// The marks in force, for [`Self::extend_retention`] before prune plans: a marked pack
    /// past its grace period is `deletable`. Marks that cannot be read count as none (every
    /// pack is then kept retained like a live one: that only puts deletions off). Also returns
    /// the marks as read, for the plan that follows (`None`: they could not be read).
    pub(super) async fn marked_packs(
        &self,
        opts: &super::PruneOptions,
        now: DateTime<Utc>,
    ) -> (MarkedPacks, Option<crate::repo::marks::MarkSet>) {
        let grace = chrono::Duration::seconds(opts.grace_secs.min(i64::MAX as u64 / 2) as i64);
        let (marks, read) = match crate::repo::marks::load(self.objects()).await {
            Ok(m) => (m.marks.clone(), Some(m)),
            Err(e) => {
                tracing::warn!(error = %crate::repo::error_chain(&e), "the prune marks cannot be read: every pack keeps its retention extended");
                (BTreeMap::new(), None)
            }
        };
        let deletable = marks
            .iter()
            .filter(|(_, t)| **t + grace <= now)
            .map(|(p, _)| *p)
            .collect();
        let marked = MarkedPacks {
            marks,
            deletable,
            grace,
        };
        (marked, read)
    }

    /// Extends the Object Lock retention of every object the repository may still need whose
    /// retention ends within half a lock of `now`, to `now` + the lock (FORMAT.md §20):
    /// - every object but `locks/` and the marked packs (snapshots of legal holds, §19, are
    ///   snapshots: they and what they reference are kept locked too);
    /// - a marked pack within its grace period may still be recovered by a snapshot a backup
    ///   writes meanwhile: it stays retained until half a lock after its grace period ends (at
    ///   most `now` + the lock), so the prune that recovers it finds it protected; one past
    ///   its grace period (`deletable`) is left to expire;
    /// - only imvault's own keys (FORMAT.md §2) are asked about; an object S3 fails to answer
    ///   about does not stop the others: the sweep finishes, then the error names it.
    ///
    /// The listing is streamed; `state_dir` holds this host's `LockLedger`, so only objects
    /// not seen before and those whose known retention runs out are asked about (HeadObject).
    /// Without Object Lock: nothing to do (`Ok(None)`).
    pub async fn extend_retention(
        &self,
        marked: &MarkedPacks,
        state_dir: Option<&std::path::Path>,
        now: DateTime<Utc>,
    ) -> Result<Option<ExtendReport>, RepoError> {
        let Some(control) = self.retention() else {
            return Ok(None);
        };
        let lock = *control.lock();
        let half = lock.retain() / 2;
        let full = now + lock.retain();
        let deletable: BTreeSet<Path> = marked.deletable.iter().map(keys::pack).collect();
        let protected_marks: HashMap<Path, DateTime<Utc>> = marked
            .marks
            .iter()
            .filter(|(p, _)| !marked.deletable.contains(p))
            .map(|(p, t)| (keys::pack(p), *t))
            .collect();
        let wanted = |m: &object_store::ObjectMeta| -> Option<Wanted> {
            // Only imvault's own keys (FORMAT.md §2): a key someone else put there (which
            // S3 may refuse to answer about) must not stop the sweep.
            let ours = KeyKind::of(m.location.as_ref()).is_some_and(|k| k != KeyKind::Lock);
            if !ours || !is_retained_kind(&m.location) || deletable.contains(&m.location) {
                return None;
            }
            let (need, to) = match protected_marks.get(&m.location) {
                Some(t) => {
                    let until = ((*t + marked.grace).max(now) + half).min(full);
                    (until, until)
                }
                None => (now + half, full),
            };
            Some(Wanted {
                key: m.location.clone(),
                seen: Seen::of(m),
                etag: m.e_tag.clone(),
                need,
                to,
            })
        };
        let ledger: Option<Arc<LockLedger>> = match state_dir {
            Some(dir) => {
                let dir = dir.to_path_buf();
                let id = self.config().id.to_string();
                tokio::task::spawn_blocking(move || LockLedger::open(&dir, &id))
                    .await
                    .ok()
                    .flatten()
                    .map(Arc::new)
            }
            None => None,
        };

        let mut report = ExtendReport::default();
        let mut failed: Vec<(Path, crate::repo::s3_native::S3Error)> = Vec::new();
        let mut rounds = self.store().list(None).try_chunks(ROUND);
        while let Some(listed) = rounds.try_next().await.map_err(|e| RepoError::List {
            prefix: String::new(),
            source: e.1,
        })? {
            report.objects += listed.len() as u64;
            let asked: Vec<Wanted> = listed.iter().filter_map(wanted).collect();
            extend_round(control, ledger.as_ref(), asked, &mut report, &mut failed).await;
        }
        if let Some(l) = ledger {
            let _ = tokio::task::spawn_blocking(move || l.forget_before(now)).await;
        }
        if !failed.is_empty() {
            for (k, e) in &failed {
                tracing::error!(key = %k, error = %crate::repo::error_chain(e), "Object Lock retention not extended");
            }
            let count = failed.len();
            let (key, source) = failed.swap_remove(0);
            return Err(RepoError::RetentionNotExtended {
                count,
                key: key.to_string(),
                source: Box::new(source),
            });
        }
        if report.extended > 0 {
            tracing::info!(
                objects = report.extended,
                until = ?report.until,
                "Object Lock retention extended"
            );
        }
        Ok(Some(report))
    }
}

/// One round of [`Repository::extend_retention`]: asks about the objects of `asked` the ledger
/// does not know to be retained long enough, extends those that are not, records what it
/// learned of the versions it was asked about. An object that fails is added to `failed` and
/// the others go on.
async fn extend_round(
    control: &RetentionControl,
    ledger: Option<&Arc<LockLedger>>,
    asked: Vec<Wanted>,
    report: &mut ExtendReport,
    failed: &mut Vec<(Path, crate::repo::s3_native::S3Error)>,
) {
    let ledger = ledger.cloned();
    let known = match &ledger {
        Some(l) => {
            let (l, seen) = (
                l.clone(),
                asked.iter().map(|w| w.seen.clone()).collect::<Vec<Seen>>(),
            );
            tokio::task::spawn_blocking(move || l.known(&seen))
                .await
                .unwrap_or_else(|_| vec![None; asked.len()])
        }
        None => vec![None; asked.len()],
    };
    let due: Vec<Wanted> = asked
        .into_iter()
        .zip(known)
        .filter(|(w, k)| k.is_none_or(|k| k < w.need))
        .map(|(w, _)| w)
        .collect();
    report.checked += due.len() as u64;
    let done: Vec<(Wanted, Result<Ensured, crate::repo::s3_native::S3Error>)> =
        futures::stream::iter(due)
            .map(|w| async move {
                let r = control
                    .ensure(&w.key, w.etag.as_deref(), w.need, w.to)
                    .await;
                (w, r)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
    let mut learned = Vec::with_capacity(done.len());
    for (w, r) in done {
        match r {
            Err(e) => failed.push((w.key, e)),
            Ok(Ensured::Gone) => {}
            Ok(Ensured::Already { until, listed }) => {
                if listed {
                    learned.push((w.seen, until));
                }
            }
            Ok(Ensured::Extended { until, listed }) => {
                report.extended += 1;
                report.until = Some(report.until.map_or(until, |x| x.max(until)));
                if listed {
                    learned.push((w.seen, until));
                }
            }
        }
    }
    if let Some(l) = ledger {
        let _ = tokio::task::spawn_blocking(move || l.record(&learned)).await;
    }
}
