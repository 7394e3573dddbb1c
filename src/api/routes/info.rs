//! `/healthz`, `/readyz`, `GET /v1/snapshots`, `GET /v1/libraries`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::api::{ApiError, ApiQuery, AppState, ErrorBody};
use crate::app::repository::backend_config;
use crate::catalog::{ItemCounts, JobFilter, JobId, JobKind, JobState, SnapshotId, SnapshotInfo};
use crate::imanage::model::LibraryId;
use crate::repo::{Repository, open_backend};

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up and answering.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "meta",
    security(()),
    responses((status = 200, description = "Up", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// One readiness check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    pub ok: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&Result<(), String>> for Check {
    fn from(r: &Result<(), String>) -> Self {
        Self {
            ok: r.is_ok(),
            error: r.as_ref().err().cloned(),
        }
    }
}

/// The readiness checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    pub catalog: Check,
    pub repository: Check,
    pub imanage: Check,
}

/// What `/readyz` answers: with the bearer token the checks, without it only `ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// The daemon is stopping (SIGTERM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draining: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Checks>,
    /// Without the token: how to see the checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<&'static str>,
}

/// Ready to work: the catalog answers, the repository opens, the daemon is signed in. Without
/// the API's bearer token the answer says only ready or not (the status code and `ready`):
/// the reasons name the tenant, the account and the repository.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "meta",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready; with the token, checks.*.error says why", body = Readiness)
    )
)]
pub async fn readyz(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> (StatusCode, Json<Readiness>) {
    let detailed = {
        let tokens = state.api_tokens.read().unwrap_or_else(|p| p.into_inner());
        tokens
            .matching(
                headers
                    .get(axum::http::header::AUTHORIZATION)
                    .map(axum::http::HeaderValue::as_bytes),
            )
            .is_some()
    };
    let catalog = match state
        .queue
        .reader()
        .run("checking the catalog", |c| c.schema_version())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(crate::repo::error_chain(&e)),
    };
    let settings = state.settings();
    // Kept (per settings, briefly): opening unlocks the key, too costly for every probe.
    let repository = state
        .readiness
        .get(&settings, || async {
            let r = &settings.repository;
            async {
                let credential = crate::app::repository::credential(r)
                    .map_err(|e| crate::repo::error_chain(&e))?;
                let store =
                    open_backend(&backend_config(r)).map_err(|e| crate::repo::error_chain(&e))?;
                Repository::open(store, credential.as_ref())
                    .await
                    .map(|_| ())
                    .map_err(|e| crate::repo::error_chain(&e))
            }
            .await
            .map_err(|e| {
                let e = format!("{}: {e}", r.url);
                tracing::warn!(error = %e, "readiness: the repository does not open");
                e
            })
        })
        .await;
    let signed_in = match state.client() {
        Some(_) => Ok(()),
        None => Err(state
            .sign_in_error
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "signing in".into())),
    };
    let ready = catalog.is_ok() && repository.is_ok() && signed_in.is_ok();
    let body = Readiness {
        ready,
        draining: Some(state.shutdown.is_cancelled()),
        checks: Some(Checks {
            catalog: (&catalog).into(),
            repository: (&repository).into(),
            imanage: (&signed_in).into(),
        }),
        details: None,
    };
    let status = if ready && !state.shutdown.is_cancelled() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !detailed {
        return (
            status,
            Json(Readiness {
                ready: status == StatusCode::OK,
                draining: None,
                checks: None,
                details: Some("send the API bearer token for the checks"),
            }),
        );
    }
    (status, Json(body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SnapshotsQuery {
    /// Only this library's snapshots.
    pub library: Option<String>,
}

/// A catalogued snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotView {
    pub id: SnapshotId,
    pub library: crate::imanage::model::LibraryId,
    /// The point in time it stands for (when its backup started).
    pub time: DateTime<Utc>,
    pub parent: Option<SnapshotId>,
    pub host: String,
    /// 1, 2, 3... per library, in time order.
    pub seq: u64,
    pub counts: ItemCounts,
    /// The backup's summary: state, seconds, counts (versions, bytes, bytes_read, skipped...).
    #[schema(value_type = Object)]
    pub summary: Value,
}

impl From<SnapshotInfo> for SnapshotView {
    fn from(s: SnapshotInfo) -> Self {
        Self {
            id: s.row.id,
            library: s.row.library,
            time: s.row.time,
            parent: s.row.parent,
            host: s.row.host,
            seq: s.seq,
            counts: s.counts,
            summary: s.row.summary,
        }
    }
}

/// Snapshots.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotList {
    pub snapshots: Vec<SnapshotView>,
}

/// Catalogued snapshots, by library then time (oldest first).
#[utoipa::path(
    get,
    path = "/snapshots",
    operation_id = "list_snapshots",
    tag = "browse",
    params(SnapshotsQuery),
    responses(
        (status = 200, description = "Snapshots", body = SnapshotList),
        (status = 400, description = "A bad query parameter (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody)
    )
)]
pub async fn snapshots(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SnapshotsQuery>,
) -> Result<Json<SnapshotList>, ApiError> {
    let library = q
        .library
        .map(|l| {
            l.parse::<LibraryId>()
                .map_err(|e| ApiError::bad_request(format!("library: {e}")))
        })
        .transpose()?;
    let snaps = state
        .queue
        .reader()
        .run("listing snapshots", move |c| c.snapshots(library.as_ref()))
        .await
        .map_err(crate::daemon::queue::QueueError::Catalog)?;
    Ok(Json(SnapshotList {
        snapshots: snaps.into_iter().map(SnapshotView::from).collect(),
    }))
}

/// Whether a library's backup is queued or running now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    Idle,
    Queued,
    Running,
}

/// A snapshot, briefly.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotBrief {
    pub id: SnapshotId,
    pub time: DateTime<Utc>,
    pub seq: u64,
}

/// A job, briefly.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobBrief {
    pub id: JobId,
    pub state: JobState,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// One configured library.
#[derive(Debug, Serialize, ToSchema)]
pub struct LibraryView {
    pub id: String,
    pub state: Activity,
    pub last_snapshot: Option<SnapshotBrief>,
    pub last_backup_job: Option<JobBrief>,
    pub next_scheduled_run: Option<DateTime<Utc>>,
}

/// Libraries.
#[derive(Debug, Serialize, ToSchema)]
pub struct LibraryList {
    pub libraries: Vec<LibraryView>,
}

/// Configured libraries: newest snapshot, last backup job, state, next scheduled run.
#[utoipa::path(
    get,
    path = "/libraries",
    operation_id = "list_libraries",
    tag = "browse",
    responses(
        (status = 200, description = "Libraries", body = LibraryList),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody)
    )
)]
pub async fn libraries(State(state): State<AppState>) -> Result<Json<LibraryList>, ApiError> {
    let mut names: Vec<String> = state.libraries();
    let latest = state
        .queue
        .reader()
        .run("listing snapshots", |c| c.snapshots(None))
        .await
        .map_err(crate::daemon::queue::QueueError::Catalog)?;
    let mut newest: BTreeMap<String, SnapshotBrief> = BTreeMap::new();
    for s in latest {
        let lib = s.row.library.as_str().to_string();
        newest.insert(
            lib.clone(),
            SnapshotBrief {
                id: s.row.id,
                time: s.row.time,
                seq: s.seq,
            },
        );
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&lib)) {
            names.push(lib);
        }
    }
    let mut out = Vec::new();
    for lib in names {
        let jobs = state
            .queue
            .list(JobFilter {
                kind: Some(JobKind::Backup),
                library: Some(lib.clone()),
                limit: Some(1),
                ..JobFilter::default()
            })
            .await?;
        let last = jobs.into_iter().next();
        let activity = match last.as_ref().map(|j| j.state) {
            Some(JobState::Queued) => Activity::Queued,
            Some(JobState::Running) => Activity::Running,
            _ => Activity::Idle,
        };
        out.push(LibraryView {
            state: activity,
            last_snapshot: newest.get(&lib).cloned(),
            last_backup_job: last.map(|j| JobBrief {
                id: j.id,
                state: j.state,
                created_at: j.created_at,
                finished_at: j.finished_at,
                last_error: j.last_error,
            }),
            next_scheduled_run: state.next_run(&lib),
            id: lib,
        });
    }
    Ok(Json(LibraryList { libraries: out }))
}
