//! The prune job: [`run`] removes data no snapshot needs (see `repo::prune` for the two-phase
//! scheme that keeps running backups safe). One prune at a time on this host: an OS file lock
//! `prune.lock` in the state directory (released by the kernel if the process dies). Prunes of
//! one repository from several hosts at once are not supported.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tracing::Instrument as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::jobs::maintenance::MaintenanceEnv;
use crate::jobs::progress::watch_packs;
use crate::repo::prune::{PruneError, PruneOptions, PruneProgress, PruneReport};

/// A prune job's parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PruneRequest {
    pub options: PruneOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum PruneJobError {
    #[error("another prune is running on this host (lock file {path})")]
    Busy { path: PathBuf },
    #[error("cannot use lock file {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pruning the repository failed")]
    Prune(#[source] PruneError),
    #[error("reading the legal holds failed")]
    Holds(#[source] Box<crate::repo::holds::HoldError>),
}

fn lock(dir: &Path) -> Result<File, PruneJobError> {
    let path = dir.join("locks").join("prune.lock");
    let io = |source| PruneJobError::Lock {
        path: path.clone(),
        source,
    };
    match crate::jobs::lock::try_lock_file(&path).map_err(io)? {
        crate::jobs::lock::Locked::Ours(file) => Ok(file),
        crate::jobs::lock::Locked::Busy(_) => Err(PruneJobError::Busy { path }),
    }
}

/// Runs one prune at time `now`.
#[tracing::instrument(name = "prune", skip_all, fields(dry_run = req.options.dry_run))]
pub async fn run(
    env: &MaintenanceEnv,
    req: &PruneRequest,
    now: DateTime<Utc>,
) -> Result<PruneReport, PruneJobError> {
    let _lock = lock(&env.state_dir)?;
    let progress = Arc::new(PruneProgress::default());
    let stop = CancellationToken::new();
    let p = progress.clone();
    let reporter = tokio::spawn(
        watch_packs(
            env.progress.clone(),
            "prune",
            Arc::new(move || {
                (
                    p.packs_repacked.load(Ordering::Relaxed)
                        + p.packs_deleted.load(Ordering::Relaxed),
                    0,
                    0,
                )
            }),
            stop.clone(),
        )
        .in_current_span(),
    );
    // Held snapshots whose holds are all released go first, so this prune frees their data.
    let held = async {
        let holds = crate::repo::holds::list(env.repo.objects())
            .await
            .map_err(|e| PruneJobError::Holds(Box::new(e)))?;
        crate::jobs::holds::release_unheld(&env.repo, &holds, req.options.dry_run)
            .await
            .map_err(|e| PruneJobError::Prune(PruneError::Repo(e)))
    }
    .await;
    let result = match held {
        Ok(held) => {
            let mut options = req.options.clone();
            options.state_dir = Some(env.state_dir.clone());
            if options.dry_run {
                options.counted_gone = held
                    .iter()
                    .filter(|h| h.active_holds.is_empty())
                    .map(|h| h.snapshot)
                    .collect();
            }
            env.repo.prune(&options, now, &progress).await.map(|mut r| {
            for h in &held {
                match h.active_holds.is_empty() {
                    true => tracing::info!(snapshot = %h.snapshot, "held snapshot released"),
                    false => tracing::info!(snapshot = %h.snapshot, holds = h.active_holds.len(), "data kept for legal holds"),
                }
            }
            r.held_snapshots = held;
            r
        })
        }
        Err(e) => {
            stop.cancel();
            let _ = reporter.await;
            return Err(e);
        }
    };
    stop.cancel();
    let _ = reporter.await;
    let rep = result.map_err(PruneJobError::Prune)?;
    for w in &rep.warnings {
        tracing::warn!(object = %w.object, "{}", w.detail);
    }
    Ok(rep)
}
