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

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::repo::backend::keys;
use crate::repo::error::RepoError;
use crate::repo::id::PackId;
use crate::repo::marks;
use crate::repo::object_lock::{ExtendReport, RetentionControl, is_retained_kind};
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
    let mut wait = RetentionWait::default();
    let mut free = Vec::with_capacity(expired.len());
    for p in expired.drain(..) {
        match control.retained_until(&keys::pack(&p), now).await? {
            Some(until) => {
                wait.packs += 1;
                wait.bytes += sizes.get(&p).copied().unwrap_or(0);
                wait.earliest = Some(wait.earliest.map_or(until, |e| e.min(until)));
                wait.latest = Some(wait.latest.map_or(until, |l| l.max(until)));
            }
            None => free.push(p),
        }
    }
    *expired = free;
    Ok((wait.packs > 0).then_some(wait))
}

impl Repository<Indexed> {
    /// Extends the Object Lock retention of every object the repository still needs whose
    /// retention ends within half a lock of `now`, to `now` + the lock: every object but the
    /// packs prune marked (they are to be deleted) and `locks/`. Snapshots of legal holds
    /// (FORMAT.md §19) are snapshots, so they and what they reference are kept locked too.
    /// Without Object Lock: nothing to do (`Ok(None)`).
    pub async fn extend_retention(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<ExtendReport>, RepoError> {
        let Some(control) = self.retention() else {
            return Ok(None);
        };
        let marked: BTreeSet<object_store::path::Path> = marks::load(self.objects())
            .await?
            .marks
            .keys()
            .map(keys::pack)
            .collect();
        let listed: Vec<object_store::ObjectMeta> = self
            .store()
            .list(None)
            .try_collect()
            .await
            .map_err(|source| RepoError::List {
                prefix: String::new(),
                source,
            })?;
        let needed = listed
            .into_iter()
            .filter(|m| is_retained_kind(&m.location) && !marked.contains(&m.location))
            .map(|m| (m.location, m.last_modified))
            .collect();
        Ok(Some(control.extend(needed, now).await?))
    }
}
