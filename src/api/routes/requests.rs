//! `POST /v1/backups`, `POST /v1/restores`, `POST /v1/verifications` and
//! `POST /v1/maintenance`: validate, then queue.

use super::jobs::{JobView, view};
use crate::api::auth::TokenName;
use crate::api::{ApiError, ApiJson, AppState, ErrorBody};
use crate::daemon::spec::{
    BackupApiRequest, BackupJobRequest, JobSpec, MaintenanceApiRequest, MaintenanceJobRequest,
    RestoreRequest, SpecError, Trigger, VerifyRequest, validate_restore,
};
use crate::imanage::model::LibraryId;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

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
            )
            .with_field(Some("libraries")));
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
                ))
                .with_field(Some("libraries")));
            }
        }
    }
    Ok(out)
}

/// The library a restore names, spelled as the tenant (or the catalog) does: one of this
/// account's configured libraries or one with snapshots, matched case-insensitively as the
/// configuration matches libraries. Anything else is refused with the known ones, as `imvault
/// restore` does. Not signed in and nothing catalogued: nothing to judge by, the job says.
async fn restorable_library(state: &AppState, wanted: &LibraryId) -> Result<LibraryId, ApiError> {
    let snaps = state
        .queue
        .reader()
        .run("listing the libraries with snapshots", |c| {
            c.snapshots(None)
        })
        .await
        .map_err(crate::daemon::queue::QueueError::Catalog)?;
    let mut known: Vec<String> = state.libraries();
    known.extend(snaps.into_iter().map(|s| s.row.library.to_string()));
    known.sort();
    known.dedup();
    if known.is_empty() {
        return Ok(wanted.clone());
    }
    if let Some(k) = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(wanted.as_str()))
    {
        return k
            .parse()
            .map_err(|e| ApiError::bad_request(format!("library {k}: {e}")));
    }
    Err(ApiError::bad_request(format!(
        "library {wanted} is neither a configured library of this account nor one with snapshots; the known libraries are: {}",
        known.join(", ")
    )))
}

/// Queue a backup now.
#[utoipa::path(
    post,
    path = "/backups",
    operation_id = "queue_backup",
    tag = "jobs",
    request_body = BackupApiRequest,
    responses(
        (status = 202, description = "Queued", body = JobView),
        (status = 400, description = "Bad JSON, an unknown field or library (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 409, description = "A backup of one of these libraries is already queued or running; details.job names it", body = ErrorBody),
        (status = 503, description = "Not signed in to iManage yet", body = ErrorBody)
    )
)]
pub async fn backup(
    State(state): State<AppState>,
    token: Option<Extension<TokenName>>,
    ApiJson(req): ApiJson<BackupApiRequest>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let libraries = resolve_libraries(&state, &req.libraries)?;
    let spec = JobSpec::Backup(BackupJobRequest {
        libraries,
        full: req.full,
        trigger: Trigger::Api,
        slot: None,
    });
    queue(&state, token, spec).await
}

/// Queue a restore (the options of `imvault restore`; `dry_run` plans and reports without
/// writing).
#[utoipa::path(
    post,
    path = "/restores",
    operation_id = "queue_restore",
    tag = "jobs",
    request_body = RestoreRequest,
    responses(
        (status = 202, description = "Queued", body = JobView),
        (status = 400, description = "Bad JSON or an invalid field (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody)
    )
)]
pub async fn restore(
    State(state): State<AppState>,
    token: Option<Extension<TokenName>>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let valid = validate_restore(&req).map_err(|e| {
        let field = match &e {
            SpecError::Invalid {
                field: "request", ..
            } => req.validate().err().and_then(|e| e.field()),
            SpecError::Invalid { field, .. } => Some(*field),
            _ => None,
        };
        ApiError::bad_request(e.to_string()).with_field(field)
    })?;
    if let Some(to) = &req.to {
        crate::app::export_target::check(&state.settings(), to)
            .map_err(|e| ApiError::bad_request(format!("to: {e}")).with_field(Some("to")))?;
    }
    let field = if req.document.is_some() {
        "document"
    } else if req.folder.is_some() {
        "folder"
    } else if req.workspace.is_some() {
        "workspace"
    } else {
        "library"
    };
    let library = restorable_library(&state, valid.selection.library())
        .await
        .map_err(|e| e.with_field(Some(field)))?;
    let req = req.with_library_spelled(&library);
    queue(&state, token, JobSpec::Restore(req)).await
}

/// Queue a repository verify (the options of `imvault verify`); problems found fail the job
/// and are listed in its result.
#[utoipa::path(
    post,
    path = "/verifications",
    operation_id = "queue_verify",
    tag = "jobs",
    request_body = VerifyRequest,
    responses(
        (status = 202, description = "Queued", body = JobView),
        (status = 400, description = "Bad JSON or an invalid field (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody)
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    token: Option<Extension<TokenName>>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    if let Some(p) = req.read_data_percent
        && !(p > 0.0 && p <= 100.0)
    {
        return Err(ApiError::bad_request(format!(
            "read_data_percent: {p} is out of range (0 < percent <= 100)"
        ))
        .with_field(Some("read_data_percent")));
    }
    queue(&state, token, JobSpec::Verify(req)).await
}

/// Queue repository maintenance: forget by the configured `[retention]`, then prune (the
/// daemon's `[schedule] maintenance` job), with the `[repository.maintenance]` credentials.
#[utoipa::path(
    post,
    path = "/maintenance",
    operation_id = "queue_maintenance",
    tag = "jobs",
    request_body = MaintenanceApiRequest,
    responses(
        (status = 202, description = "Queued", body = JobView),
        (status = 400, description = "Bad JSON or an unknown field (named in the message), or no [retention] configured", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody)
    )
)]
pub async fn maintenance(
    State(state): State<AppState>,
    token: Option<Extension<TokenName>>,
    ApiJson(req): ApiJson<MaintenanceApiRequest>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let retention = state.settings().retention.clone();
    if retention.default.is_empty() && retention.libraries.is_empty() {
        // Refused now rather than queued to fail: forget has no rule to keep snapshots by.
        return Err(ApiError::bad_request(
            "the daemon's configuration has no [retention]: maintenance would have no rule to keep snapshots by (set [retention], then reload the daemon with SIGHUP)",
        ));
    }
    let spec = JobSpec::Maintenance(MaintenanceJobRequest {
        dry_run: req.dry_run,
        trigger: Trigger::Api,
        slot: None,
    });
    queue(&state, token, spec).await
}

/// Queues `spec` in the name of the request's token and answers 202 with the queued job.
async fn queue(
    state: &AppState,
    token: Option<Extension<TokenName>>,
    spec: JobSpec,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let job = state
        .queue
        .enqueue_by(&spec, token.as_ref().map(|t| t.0.0.as_str()))
        .await?;
    tracing::info!(job = %job.id, kind = spec.kind().as_str(), "job queued through the API");
    Ok((StatusCode::ACCEPTED, Json(view(state, job))))
}
