//! `GET /v1/jobs`, `GET /v1/jobs/{id}`, `POST /v1/jobs/{id}/cancel`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, ApiQuery, AppState};
use crate::catalog::{JobFilter, JobId, JobKind, JobRecord, JobState};
use crate::daemon::DaemonState;
use crate::daemon::queue::CancelOutcome;
use crate::daemon::workers::StopReason;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<JobState>,
    pub kind: Option<JobKind>,
    pub library: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// A job as the API shows it: a running job's progress is the live one.
pub fn view(state: &DaemonState, mut job: JobRecord) -> Value {
    let running = if job.state == JobState::Running {
        state.running_job(job.id)
    } else {
        None
    };
    if let Some(r) = &running {
        job.progress = Some(r.progress());
    }
    let mut v = serde_json::to_value(&job).unwrap_or(Value::Null);
    if let Some(r) = running {
        v["cancelling"] = json!(r.stop_reason() == Some(StopReason::Cancelled));
    }
    v
}

pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let jobs: Vec<Value> = jobs.into_iter().map(|j| view(&state, j)).collect();
    Ok(Json(json!({
        "jobs": jobs,
        "offset": offset,
        "limit": limit,
        "next_offset": next,
    })))
}

pub fn parse_id(id: &str) -> Result<JobId, ApiError> {
    id.parse()
        .map_err(|e| ApiError::bad_request(format!("id: not a job id ({e}): {id:?}")))
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let job = state.queue.get(id).await?;
    Ok(Json(view(&state, job)))
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
