//! `POST /v1/backups`, `POST /v1/restores` and `POST /v1/verifications`: validate, then queue.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::jobs::view;
use crate::api::{ApiError, ApiJson, AppState};
use crate::daemon::spec::{
    BackupParams, BackupRequest, JobSpec, RestoreRequest, Trigger, VerifyRequest, validate_restore,
};

/// The libraries a request names, checked against those the configuration selects (case as the
/// tenant spells it); none named means all of them.
fn resolve_libraries(state: &AppState, wanted: &[String]) -> Result<Vec<String>, ApiError> {
    if state.client().is_none() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not signed in to iManage yet: the library list is unknown (see /readyz)",
        ));
    }
    let available = state.libraries();
    if wanted.is_empty() {
        if available.is_empty() {
            return Err(ApiError::bad_request(
                "libraries: the configuration selects none of this account's libraries",
            ));
        }
        return Ok(available);
    }
    let mut out = Vec::new();
    for w in wanted {
        match available.iter().find(|a| a.eq_ignore_ascii_case(w)) {
            Some(a) if !out.contains(a) => out.push(a.clone()),
            Some(_) => {}
            None => {
                return Err(ApiError::bad_request(format!(
                    "libraries: {w:?} is not among the configured libraries of this account ({})",
                    available.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

pub async fn backup(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BackupRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let libraries = resolve_libraries(&state, &req.libraries)?;
    let job = state
        .queue
        .enqueue(&JobSpec::Backup(BackupParams {
            libraries,
            full: req.full,
            trigger: Trigger::Api,
            slot: None,
        }))
        .await?;
    tracing::info!(job = %job.id, "backup queued through the API");
    Ok((StatusCode::ACCEPTED, Json(view(&state, job))))
}

pub async fn restore(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let valid = validate_restore(&req).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if state.client().is_some() {
        let lib = valid.selection.library().to_string();
        resolve_libraries(&state, std::slice::from_ref(&lib))
            .map_err(|e| ApiError::bad_request(e.message.replacen("libraries", "library", 1)))?;
    }
    let job = state.queue.enqueue(&JobSpec::Restore(req)).await?;
    tracing::info!(job = %job.id, "restore queued through the API");
    Ok((StatusCode::ACCEPTED, Json(view(&state, job))))
}

pub async fn verify(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if let Some(p) = req.read_data_percent
        && !(p > 0.0 && p <= 100.0)
    {
        return Err(ApiError::bad_request(format!(
            "read_data_percent: {p} is out of range (0 < percent <= 100)"
        )));
    }
    let job = state.queue.enqueue(&JobSpec::Verify(req)).await?;
    tracing::info!(job = %job.id, "verify queued through the API");
    Ok((StatusCode::ACCEPTED, Json(view(&state, job))))
}
