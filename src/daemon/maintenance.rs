//! The daemon's maintenance job (`[schedule] maintenance`, `POST /v1/maintenance`): what
//! `imvault forget` (by the configured `[retention]`) and then `imvault prune` do, through the
//! same engines (`jobs::forget::run`, `jobs::prune::run`), with the `[repository.maintenance]`
//! credentials, under the repository's maintenance lock, each audited as the command line's.

use chrono::Utc;
use serde_json::{Value, json};

use super::exec::{ExecEnv, ExecOutcome};
use super::spec::MaintenanceJobRequest;
use super::workers::RunningJob;
use crate::app::env::maintenance_env;
use crate::app::progress::log_lines;
use crate::app::repository::open_indexed;
use crate::audit::{Action, Actor, Figures};
use crate::catalog::JobState;
use crate::jobs::forget::{self, ForgetRequest};
use crate::jobs::prune::{self, PruneRequest};
use crate::repo::maint_lock::{DEFAULT_TTL, MaintenanceLock};
use crate::repo::prune::PruneOptions;

/// Forget, then prune. A dry run reports both and changes nothing (no lock, no audit record).
pub async fn run(ctx: &ExecEnv, p: &MaintenanceJobRequest, running: &RunningJob) -> ExecOutcome {
    let settings = &ctx.settings;
    let repo = match open_indexed(&settings.repository.for_maintenance()).await {
        Ok(repo) => repo,
        Err(e) => return ExecOutcome::failed(crate::repo::error_chain(&e)),
    };
    if let Err(e) = repo.check_writable("repository maintenance") {
        return ExecOutcome::failed(crate::repo::error_chain(&e));
    }
    let lock = match p.dry_run {
        true => None,
        false => match MaintenanceLock::acquire(repo.objects().clone(), "maintenance", DEFAULT_TTL)
            .await
        {
            Ok(l) => Some(l),
            Err(e) => return ExecOutcome::failed(crate::repo::error_chain(&e)),
        },
    };
    let actor = match &ctx.requested_by {
        Some(name) => Actor::Token { name: name.clone() },
        None => Actor::Daemon {
            name: format!("job {}", running.id),
        },
    };
    let env = maintenance_env(settings, repo, log_lines());
    let outcome = forget_then_prune(ctx, p, actor, &env).await;
    if let Some(lock) = lock
        && let Err(e) = lock.release().await
    {
        tracing::warn!(error = %crate::repo::error_chain(&e), "maintenance lock not released (it expires)");
    }
    outcome
}

async fn forget_then_prune(
    ctx: &ExecEnv,
    p: &MaintenanceJobRequest,
    actor: Actor,
    env: &crate::jobs::maintenance::MaintenanceEnv,
) -> ExecOutcome {
    let settings = &ctx.settings;
    let audited = |action: Action| {
        let actor = actor.clone();
        async move {
            match p.dry_run {
                true => Ok(None),
                false => ctx
                    .state
                    .audit
                    .start(settings, actor, action)
                    .await
                    .map(Some),
            }
        }
    };
    let unrecorded = |what: &str, e: String| {
        ExecOutcome::failed(format!(
            "the {what} cannot be recorded in the audit trail, so nothing was done: {e}"
        ))
    };

    let pending = match audited(Action::Forget {
        policy: Value::Null,
        library: None,
    })
    .await
    {
        Ok(p) => p,
        Err(e) => return unrecorded("forget", e),
    };
    let req = ForgetRequest {
        policy: None,
        library: None,
        dry_run: p.dry_run,
    };
    let forgot = forget::run(env, &req, &settings.retention, Utc::now()).await;
    if let Some(pending) = pending {
        let figures = |r: &forget::ForgetReport| Figures {
            snapshots: Some(r.forgotten),
            ..Figures::default()
        };
        ctx.state
            .audit
            .finish_result(pending, &forgot, figures)
            .await;
    }
    let forgot = match forgot {
        Ok(r) => r,
        Err(e) => return ExecOutcome::failed(format!("forget: {}", crate::repo::error_chain(&e))),
    };

    let options = PruneOptions {
        dry_run: p.dry_run,
        ..PruneOptions::default()
    };
    let pending = match audited(Action::Prune {
        max_repack_percent: options.max_repack_percent,
        grace_secs: options.grace_secs,
    })
    .await
    {
        Ok(p) => p,
        Err(e) => return unrecorded("prune", e),
    };
    let pruned = prune::run(env, &PruneRequest { options }, Utc::now()).await;
    if let Some(pending) = pending {
        let figures = |r: &crate::repo::prune::PruneReport| Figures {
            bytes: Some(r.bytes_deleted),
            ..Figures::default()
        };
        ctx.state
            .audit
            .finish_result(pending, &pruned, figures)
            .await;
    }
    match pruned {
        Err(e) => ExecOutcome {
            result: json!({ "forget": forgot }),
            ..ExecOutcome::failed(format!("prune: {}", crate::repo::error_chain(&e)))
        },
        Ok(pruned) => ExecOutcome {
            state: JobState::Completed,
            error: None,
            bytes_read: 0,
            bytes_stored: 0,
            result: json!({ "forget": forgot, "prune": pruned }),
        },
    }
}
