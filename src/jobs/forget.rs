//! The forget job: [`run`] applies a retention policy to every library's snapshots and removes
//! the manifests of those it does not keep (only `snapshots/…` objects: the data they used is
//! removed later by `prune`). The local catalog is rebuilt from the snapshots that remain.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::jobs::catalog_sync;
use crate::jobs::holds::{self, HeldCut, HoldCutError, HoldMatcher};
use crate::jobs::maintenance::MaintenanceEnv;
use crate::repo::RepoError;
use crate::repo::retention::{self, Candidate, Decision, KeepPolicy, RetentionPolicies};

/// A forget job's parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForgetRequest {
    /// The policy for every library; `None`: the configured `[retention]` policies.
    pub policy: Option<KeepPolicy>,
    /// Only this library's snapshots.
    pub library: Option<String>,
    /// Only report what would be forgotten.
    pub dry_run: bool,
}

/// What forget decided and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ForgetReport {
    pub dry_run: bool,
    /// Every snapshot looked at, oldest first, with the verdict and the rules that keep it.
    pub decisions: Vec<Decision>,
    pub kept: u64,
    pub forgotten: u64,
    /// The catalog was rebuilt from the remaining snapshots.
    pub catalog_rebuilt: bool,
    /// What legal holds kept of the forgotten snapshots (held snapshots written in their place).
    pub held: Vec<HeldCut>,
    /// Held snapshots already in the repository: retention leaves them alone (prune removes
    /// them once their holds are released).
    pub held_snapshots: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    #[error(
        "no retention rule applies to library {library}: pass --keep-* flags or set [retention] in the configuration (refusing to forget all but the newest snapshot)"
    )]
    NoPolicy { library: String },
    #[error("keeping what legal holds need failed")]
    Hold(#[from] HoldCutError),
    #[error("reading the legal holds failed")]
    Holds(#[from] crate::repo::holds::HoldError),
    #[error("{action} failed")]
    Repo {
        action: String,
        #[source]
        source: RepoError,
    },
}

/// Applies the policy at time `now` and (unless `dry_run`) removes the forgotten manifests.
#[tracing::instrument(name = "forget", skip_all, fields(library = req.library.as_deref().unwrap_or("*")))]
pub async fn run(
    env: &MaintenanceEnv,
    req: &ForgetRequest,
    configured: &RetentionPolicies,
    now: DateTime<Utc>,
) -> Result<ForgetReport, ForgetError> {
    let repo = &env.repo;
    let snaps = repo
        .list_snapshots(None)
        .await
        .map_err(|source| ForgetError::Repo {
            action: "listing snapshots".into(),
            source,
        })?;
    let held_snapshots = snaps.iter().filter(|s| s.manifest.held.is_some()).count() as u64;
    // Held snapshots are not backups: retention neither keeps nor forgets them.
    let candidates: Vec<Candidate> = snaps
        .iter()
        .filter(|s| s.manifest.held.is_none())
        .filter(|s| {
            req.library
                .as_deref()
                .is_none_or(|l| s.manifest.library.eq_ignore_ascii_case(l))
        })
        .map(|s| Candidate {
            id: s.id,
            library: s.manifest.library.clone(),
            time: s.manifest.time,
        })
        .collect();
    let policy_of = |lib: &str| req.policy.unwrap_or_else(|| configured.policy_for(lib));
    for c in &candidates {
        if policy_of(&c.library).is_empty() {
            return Err(ForgetError::NoPolicy {
                library: c.library.clone(),
            });
        }
    }
    let decisions = retention::apply_per_library(policy_of, &candidates, now);
    let mut report = ForgetReport {
        dry_run: req.dry_run,
        kept: decisions.iter().filter(|d| d.keep).count() as u64,
        forgotten: decisions.iter().filter(|d| !d.keep).count() as u64,
        decisions,
        catalog_rebuilt: false,
        held: Vec::new(),
        held_snapshots,
    };
    if report.forgotten == 0 {
        return Ok(report);
    }
    // What active holds need of a forgotten snapshot goes into a held snapshot first, so a
    // crash between the two leaves both, never neither.
    let matcher = HoldMatcher::new(&crate::repo::holds::list(repo.objects()).await?);
    if !matcher.is_empty() {
        for d in report.decisions.iter().filter(|d| !d.keep) {
            let Some(snap) = snaps.iter().find(|s| s.id == d.id) else {
                continue;
            };
            if let Some(cut) = holds::cut(repo, snap, &matcher, req.dry_run).await? {
                tracing::info!(snapshot = %d.id, versions = cut.versions, held_snapshot = ?cut.held_snapshot.map(|h| h.to_hex()), "versions kept for legal holds");
                report.held.push(cut);
            }
        }
    }
    if req.dry_run {
        return Ok(report);
    }
    for d in report.decisions.iter().filter(|d| !d.keep) {
        repo.remove_snapshot(&d.id)
            .await
            .map_err(|source| ForgetError::Repo {
                action: format!("removing snapshot {}", d.id),
                source,
            })?;
        tracing::info!(snapshot = %d.id, library = %d.library, time = %d.time, "snapshot forgotten");
    }
    if let Some(path) = &env.catalog {
        match catalog_sync::rebuild(repo, path).await {
            Ok(_) => report.catalog_rebuilt = true,
            Err(e) => tracing::warn!(
                catalog = %path.display(),
                error = %crate::repo::error_chain(&e),
                "catalog not rebuilt after forget; run `imvault catalog rebuild`"
            ),
        }
    }
    Ok(report)
}
