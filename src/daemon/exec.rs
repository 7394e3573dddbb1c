//! Running one job: the single dispatch from a [`JobSpec`] to the engine that does the work.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::spec::{BackupJobRequest, JobSpec, RestoreRequest, VerifyRequest, validate_restore};
use super::workers::RunningJob;
use crate::app::env::{backup_env, maintenance_env, restore_env};
use crate::app::progress::log_lines;
use crate::app::repository::open_indexed;
use crate::catalog::JobState;
use crate::config::Settings;
use crate::imanage::Client;
use crate::imanage::model::LibraryId;
use crate::jobs::backup::{self, BackupRequest};
use crate::jobs::progress::Counters;
use crate::jobs::verify;
use crate::restore;

/// What a job runs with: the settings and the signed-in client as they were when it started.
pub struct ExecEnv {
    pub settings: Arc<Settings>,
    pub client: Option<Client>,
    /// The daemon (its audit trail).
    pub state: Arc<super::DaemonState>,
    /// The API token that queued the job, if one did: the actor of its audit records.
    pub requested_by: Option<String>,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    pub state: JobState,
    /// Why it failed (the whole cause chain), or the warnings it ended with.
    pub error: Option<String>,
    /// The engine's summary, stored in the job's progress under `result`.
    pub result: Value,
    pub bytes_read: u64,
    pub bytes_stored: u64,
}

impl ExecOutcome {
    pub(super) fn failed(error: String) -> Self {
        Self {
            state: JobState::Failed,
            error: Some(error),
            result: Value::Null,
            bytes_read: 0,
            bytes_stored: 0,
        }
    }
}

/// Runs `spec` to its end (or until `running` is stopped).
pub async fn execute(ctx: &ExecEnv, spec: &JobSpec, running: &RunningJob) -> ExecOutcome {
    match spec {
        JobSpec::Backup(p) => run_backup(ctx, p, running).await,
        JobSpec::Restore(r) => run_restore(ctx, r, running).await,
        JobSpec::Verify(v) => run_verify(ctx, v).await,
        JobSpec::Maintenance(m) => super::maintenance::run(ctx, m, running).await,
    }
}

async fn run_backup(ctx: &ExecEnv, p: &BackupJobRequest, running: &RunningJob) -> ExecOutcome {
    let settings = &ctx.settings;
    let Some(client) = ctx.client.clone() else {
        return ExecOutcome::failed(
            "not signed in to iManage (see /readyz and the daemon log for the sign-in error)"
                .into(),
        );
    };
    let Some(im) = settings.imanage.as_ref() else {
        return ExecOutcome::failed(
            "the configuration has no [imanage] table: it is needed to reach the tenant".into(),
        );
    };
    let mut libraries = Vec::new();
    for l in &p.libraries {
        match l.parse::<LibraryId>() {
            Ok(id) => libraries.push(id),
            Err(e) => return ExecOutcome::failed(format!("invalid library id {l:?}: {e}")),
        }
    }
    let repo = match crate::app::repository::open_indexed_for_backup(&settings.repository).await {
        Ok(repo) => repo,
        Err(e) => return ExecOutcome::failed(crate::repo::error_chain(&e)),
    };
    let opts = BackupRequest {
        libraries: p.libraries.clone(),
        full: p.full,
        checkpoint_every: Duration::from_secs_f64(settings.daemon.checkpoint_secs),
        download_concurrency: im.concurrency.get(),
        live: Some(running.live.clone()),
        full_listing_every: settings.backup.full_listing_every(),
        change_margin: settings.backup.change_margin(),
        ..BackupRequest::default()
    };
    let env = backup_env(settings, client, repo, log_lines());
    let outcomes = backup::run(&env, &libraries, &opts, running.cancel.clone()).await;
    let state = match backup::overall_state(&outcomes) {
        crate::jobs::JobState::Completed => JobState::Completed,
        crate::jobs::JobState::CompletedWithWarnings => JobState::CompletedWithWarnings,
        crate::jobs::JobState::Cancelled => JobState::Cancelled,
        _ => JobState::Failed,
    };
    let errors: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.error.as_ref().map(|e| format!("{}: {e}", o.library)))
        .collect();
    let warnings: Vec<String> = outcomes
        .iter()
        .filter(|o| o.state == crate::jobs::JobState::CompletedWithWarnings)
        .map(|o| {
            // The first few with their reasons; the job's result and the snapshot list more.
            let first: Vec<String> = o
                .skipped_items
                .iter()
                .take(3)
                .map(|s| format!("{} ({}: {})", s.object, s.action, s.reason))
                .collect();
            let more = o.counters.skipped.saturating_sub(first.len() as u64);
            format!(
                "{}: {} item(s) skipped{}{}",
                o.library,
                o.counters.skipped,
                if first.is_empty() {
                    String::new()
                } else {
                    format!(": {}", first.join("; "))
                },
                if more > 0 {
                    format!(" and {more} more (`imvault snapshots --show ID` lists them)")
                } else {
                    String::new()
                }
            )
        })
        .collect();
    let error = if !errors.is_empty() {
        Some(errors.join("; "))
    } else if !warnings.is_empty() {
        Some(warnings.join("; "))
    } else {
        None
    };
    ExecOutcome {
        state,
        error,
        bytes_read: outcomes.iter().map(|o| o.counters.bytes_read).sum(),
        bytes_stored: outcomes.iter().map(|o| o.session.new_stored_bytes).sum(),
        result: json!({ "libraries": outcomes }),
    }
}

/// A verify job: problems found make it `failed`, naming the first few objects concerned;
/// the whole report is its result.
async fn run_verify(ctx: &ExecEnv, req: &VerifyRequest) -> ExecOutcome {
    let settings = &ctx.settings;
    let repo = match open_indexed(&settings.repository).await {
        Ok(repo) => repo,
        Err(e) => return ExecOutcome::failed(crate::repo::error_chain(&e)),
    };
    let env = maintenance_env(settings, repo, log_lines());
    match verify::run(&env, req).await {
        Err(e) => ExecOutcome::failed(crate::repo::error_chain(&e)),
        Ok(report) => {
            let error = (!report.is_ok()).then(|| {
                let first: Vec<String> = report
                    .problems
                    .iter()
                    .take(5)
                    .map(|p| p.to_string())
                    .collect();
                format!(
                    "{} problem(s) found: {}{}",
                    report.problems.len(),
                    first.join("; "),
                    if report.problems.len() > 5 {
                        "; …"
                    } else {
                        ""
                    }
                )
            });
            ExecOutcome {
                state: if report.is_ok() {
                    JobState::Completed
                } else {
                    JobState::Failed
                },
                error,
                bytes_read: report.bytes_read,
                bytes_stored: 0,
                result: serde_json::to_value(&report).unwrap_or(Value::Null),
            }
        }
    }
}

/// A restore job: the engine's report is the result; failed items make it
/// `completed_with_warnings` (the rest was restored), an error that stops the whole restore
/// makes it `failed`, a cancel `cancelled`.
async fn run_restore(ctx: &ExecEnv, req: &RestoreRequest, running: &RunningJob) -> ExecOutcome {
    let settings = &ctx.settings;
    let valid = match validate_restore(req) {
        Ok(v) => v,
        Err(e) => return ExecOutcome::failed(e.to_string()),
    };
    // Checked again when the job runs: the configuration may have changed since it was queued.
    if let Some(to) = &req.to
        && let Err(e) = crate::app::export_target::check(settings, to)
    {
        return ExecOutcome::failed(format!("to: {e}"));
    }
    let into_imanage = req.to.is_none();
    if into_imanage && ctx.client.is_none() {
        return ExecOutcome::failed(
            "restoring into iManage needs the daemon to be signed in (see /readyz)".into(),
        );
    }
    let repo = match open_indexed(&settings.repository).await {
        Ok(repo) => repo,
        Err(e) => return ExecOutcome::failed(crate::repo::error_chain(&e)),
    };
    // Recorded before anything is read or written (the daemon acts, for the job); a dry run
    // reads and writes nothing.
    let audit = match req.dry_run {
        true => None,
        false => match ctx
            .state
            .audit
            .start(
                settings,
                match &ctx.requested_by {
                    Some(name) => crate::audit::Actor::Token { name: name.clone() },
                    None => crate::audit::Actor::Daemon {
                        name: format!("job {}", running.id),
                    },
                },
                crate::app::audit::restore_action(req),
            )
            .await
        {
            Ok(p) => Some(p),
            Err(e) => {
                return ExecOutcome::failed(format!(
                    "the restore cannot be recorded in the audit trail, so nothing was done: {e}"
                ));
            }
        },
    };
    let client = if into_imanage {
        ctx.client.clone()
    } else {
        None
    };
    let mut rctx = restore_env(settings, repo, client, log_lines());
    rctx.option_names = restore::OptionNames::Api;
    let counters = Arc::new(Counters::default());
    running
        .live
        .register_restore(valid.selection.library().as_str(), counters.clone());
    let result = restore::run(&rctx, req, counters, running.cancel.clone()).await;
    if let Some(pending) = audit {
        let (outcome, figures) = crate::app::audit::restore_outcome(&result);
        ctx.state.audit.finish(pending, outcome, figures).await;
    }
    match result {
        Err(restore::RestoreError::Cancelled) => ExecOutcome {
            state: JobState::Cancelled,
            error: Some("the restore was cancelled".into()),
            result: Value::Null,
            bytes_read: 0,
            bytes_stored: 0,
        },
        Err(e) => ExecOutcome::failed(crate::repo::error_chain(&e)),
        Ok(report) => {
            let state = match report.state {
                crate::jobs::JobState::Completed => JobState::Completed,
                crate::jobs::JobState::CompletedWithWarnings => JobState::CompletedWithWarnings,
                crate::jobs::JobState::Cancelled => JobState::Cancelled,
                _ => JobState::Failed,
            };
            let error = (report.failed > 0).then(|| {
                let first: Vec<String> = report
                    .failures
                    .iter()
                    .take(5)
                    .map(|f| format!("{}: {}: {}", f.object, f.action, f.error))
                    .collect();
                format!(
                    "{} item(s) failed (the rest was restored): {}",
                    report.failed,
                    first.join("; ")
                )
            });
            ExecOutcome {
                state,
                error,
                bytes_read: report.bytes,
                bytes_stored: 0,
                result: serde_json::to_value(&report).unwrap_or(Value::Null),
            }
        }
    }
}
