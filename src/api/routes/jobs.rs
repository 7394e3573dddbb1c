//! `GET /v1/jobs`, `GET /v1/jobs/{id}`, `POST /v1/jobs/{id}/cancel`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::api::{ApiError, ApiQuery, AppState, ErrorBody};
use crate::catalog::{JobFilter, JobId, JobKind, JobRecord, JobState};
use crate::daemon::DaemonState;
use crate::daemon::queue::CancelOutcome;
use crate::daemon::workers::StopReason;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub state: Option<JobState>,
    pub kind: Option<JobKind>,
    /// Jobs that name this library (case-insensitive).
    pub library: Option<String>,
    /// Jobs per page (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Skip this many jobs first (default 0).
    pub offset: Option<usize>,
}

/// A job as the API shows it: a running job's progress is the live one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    pub id: JobId,
    pub kind: JobKind,
    /// The job's options (the request it was queued with), and `requested_by`: the name of the
    /// API token that queued it.
    #[schema(value_type = Object)]
    pub params: Value,
    pub state: JobState,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// `elapsed_seconds`, `libraries.<id>.{containers, versions, versions_downloaded,
    /// versions_unchanged, bytes_read, skipped, retried}`, for a backup
    /// `expected_versions.<id>` (the versions of the library's newest snapshot), and `result`
    /// when finished.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
    /// Why it failed, or the warnings it ended with.
    pub last_error: Option<String>,
    /// While it runs: whether an operator asked to cancel it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelling: Option<bool>,
}

/// A job as the API shows it: a running job's progress is the live one.
pub fn view(state: &DaemonState, job: JobRecord) -> JobView {
    let running = if job.state == JobState::Running {
        state.running_job(job.id)
    } else {
        None
    };
    JobView {
        id: job.id,
        kind: job.kind,
        params: job.params,
        state: job.state,
        created_at: job.created_at,
        started_at: job.started_at,
        finished_at: job.finished_at,
        updated_at: job.updated_at,
        progress: match &running {
            Some(r) => Some(r.progress()),
            None => job.progress,
        },
        last_error: job.last_error,
        cancelling: running.map(|r| r.stop_reason() == Some(StopReason::Cancelled)),
    }
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub jobs: Vec<JobView>,
    pub offset: usize,
    pub limit: usize,
    /// The offset of the next page, when this one was full.
    pub next_offset: Option<usize>,
}

/// List jobs, newest first.
#[utoipa::path(
    get,
    path = "/jobs",
    operation_id = "list_jobs",
    tag = "jobs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobPage),
        (status = 400, description = "A bad query parameter (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<JobPage>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit: must be 1 to {MAX_LIMIT}, got {limit}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    let jobs = state
        .queue
        .list(JobFilter {
            state: q.state,
            kind: q.kind,
            library: q.library,
            limit: Some(limit),
            offset: Some(offset),
        })
        .await?;
    let next = (jobs.len() == limit).then_some(offset + limit);
    let jobs = jobs.into_iter().map(|j| view(&state, j)).collect();
    Ok(Json(JobPage {
        jobs,
        offset,
        limit,
        next_offset: next,
    }))
}

pub fn parse_id(id: &str) -> Result<JobId, ApiError> {
    id.parse()
        .map_err(|e| ApiError::bad_request(format!("id: not a job id ({e}): {id:?}")))
}

/// One job, with live progress while it runs.
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    operation_id = "get_job",
    tag = "jobs",
    params(("id" = JobId, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody)
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = parse_id(&id)?;
    let job = state.queue.get(id).await?;
    Ok(Json(view(&state, job)))
}

/// Cancel a job: a queued one at once (200), a running one at its next checkpoint (202).
#[utoipa::path(
    post,
    path = "/jobs/{id}/cancel",
    operation_id = "cancel_job",
    tag = "jobs",
    params(("id" = JobId, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Cancelled", body = JobView),
        (status = 202, description = "Cancelling: the job stops at its next checkpoint", body = JobView),
        (status = 400, description = "Not a job id", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job already ended", body = ErrorBody)
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let id = parse_id(&id)?;
    match state.queue.cancel(id).await? {
        CancelOutcome::Cancelled(job) => {
            tracing::info!(job = %id, "cancelled a queued job");
            Ok((StatusCode::OK, Json(view(&state, job))))
        }
        CancelOutcome::Running(job) => match state.running_job(id) {
            Some(r) => {
                tracing::info!(job = %id, "cancelling a running job");
                r.stop(StopReason::Cancelled);
                Ok((StatusCode::ACCEPTED, Json(view(&state, job))))
            }
            None => {
                // Running in the queue but no worker has it: a leftover; end it here.
                let job = state
                    .queue
                    .set_state(
                        id,
                        JobState::Cancelled,
                        Some("cancelled by the operator; no worker was running it".into()),
                    )
                    .await?;
                Ok((StatusCode::OK, Json(view(&state, job))))
            }
        },
    }
}
