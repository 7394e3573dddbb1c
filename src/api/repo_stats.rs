//! The repository's size, dedup and compression for the dashboard. Computing them reads the
//! index and every snapshot manifest, so the figures are kept and refreshed in the background:
//! when a snapshot was added or removed, or after [`MAX_AGE`]. A dashboard call waits a moment
//! for the first figures and otherwise answers with the last ones.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::config::RepositorySettings;

/// Figures older than this are refreshed.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// A failed computation is tried again after this.
pub const ERROR_AGE: Duration = Duration::from_secs(30);
/// How long a call waits for figures when none are known yet.
pub const FIRST_WAIT: Duration = Duration::from_secs(5);

/// The repository's totals.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepoFigures {
    pub snapshots: u64,
    /// Content the kept snapshots' backups read (downloads, before dedup).
    pub logical_bytes: u64,
    /// What the kept snapshots protect (every version of every snapshot).
    pub protected_bytes: u64,
    /// Unique blobs the kept snapshots reference, uncompressed.
    pub unique_bytes: u64,
    /// Unique content as stored (compressed).
    pub stored_blob_bytes: u64,
    /// All pack objects.
    pub pack_bytes: u64,
    pub pack_objects: u64,
    /// protected / unique.
    pub dedup_ratio: f64,
    /// unique / stored.
    pub compression_ratio: f64,
    /// protected / pack bytes.
    pub total_ratio: f64,
}

/// What the dashboard shows of the repository.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RepoStatus {
    /// The figures, when they were ever computed.
    pub figures: Option<RepoFigures>,
    /// When they were computed.
    pub computed_at: Option<DateTime<Utc>>,
    /// Why the last computation failed.
    pub error: Option<String>,
    /// Newer figures are being computed.
    pub refreshing: bool,
}

#[derive(Debug, Clone)]
struct Computed {
    key: u64,
    at: DateTime<Utc>,
    figures: Option<RepoFigures>,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct Slot {
    last: Option<Computed>,
    running: Option<watch::Receiver<bool>>,
}

/// The kept figures; one refresh at a time.
#[derive(Debug, Default, Clone)]
pub struct RepoStatsCache {
    slot: Arc<Mutex<Slot>>,
}

/// The figures, read from the repository (its whole index is loaded and dropped: the freed
/// memory is given back to the system after, as after a job).
async fn compute(r: &RepositorySettings) -> Result<RepoFigures, String> {
    let figures = read_figures(r).await;
    let _ = tokio::task::spawn_blocking(crate::allocator::release_free_memory).await;
    figures
}

async fn read_figures(r: &RepositorySettings) -> Result<RepoFigures, String> {
    let repo = crate::app::repository::open_indexed(r)
        .await
        .map_err(|e| crate::repo::error_chain(&e))?;
    let s = repo.stats().await.map_err(|e| {
        format!(
            "reading the repository's totals: {}",
            crate::repo::error_chain(&e)
        )
    })?;
    Ok(RepoFigures {
        snapshots: s.snapshots,
        logical_bytes: s.logical_bytes,
        protected_bytes: s.protected_bytes,
        unique_bytes: s.unique_bytes,
        stored_blob_bytes: s.stored_blob_bytes,
        pack_bytes: s.pack_bytes,
        pack_objects: s.pack_objects,
        dedup_ratio: s.dedup_ratio,
        compression_ratio: s.compression_ratio,
        total_ratio: s.total_ratio,
    })
}

impl RepoStatsCache {
    /// The figures; `key` changes whenever the repository's snapshots do (e.g. their count and
    /// the newest id, hashed), which makes kept figures stale at once.
    pub async fn get(&self, repository: &RepositorySettings, key: u64) -> RepoStatus {
        let wait = {
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = slot.last.as_ref().is_some_and(|c| {
                let max_age = if c.error.is_some() {
                    ERROR_AGE
                } else {
                    MAX_AGE
                };
                c.key == key && (Utc::now() - c.at).to_std().unwrap_or_default() < max_age
            });
            if !fresh && slot.running.is_none() {
                let (tx, rx) = watch::channel(false);
                slot.running = Some(rx);
                let cache = self.slot.clone();
                let repository = repository.clone();
                tokio::spawn(async move {
                    let result = compute(&repository).await;
                    if let Err(e) = &result {
                        tracing::warn!(error = %e, "cannot compute the repository's totals");
                    }
                    let mut slot = cache.lock().unwrap_or_else(|p| p.into_inner());
                    let (figures, error) = match result {
                        Ok(f) => (Some(f), None),
                        // Keep showing the last good figures, with the error next to them.
                        Err(e) => (slot.last.as_ref().and_then(|c| c.figures.clone()), Some(e)),
                    };
                    slot.last = Some(Computed {
                        key,
                        at: Utc::now(),
                        figures,
                        error,
                    });
                    slot.running = None;
                    let _ = tx.send(true);
                });
            }
            if slot.last.is_none() {
                slot.running.clone()
            } else {
                None
            }
        };
        if let Some(mut rx) = wait {
            let _ = tokio::time::timeout(FIRST_WAIT, rx.wait_for(|done| *done)).await;
        }
        let slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        RepoStatus {
            figures: slot.last.as_ref().and_then(|c| c.figures.clone()),
            computed_at: slot.last.as_ref().map(|c| c.at),
            error: slot.last.as_ref().and_then(|c| c.error.clone()),
            refreshing: slot.running.is_some(),
        }
    }
}
