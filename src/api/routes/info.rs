//! `/healthz`, `/readyz`, `GET /v1/snapshots`, `GET /v1/libraries`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{ApiError, ApiQuery, AppState};
use crate::app::repository::backend_config;
use crate::catalog::{JobFilter, JobKind};
use crate::imanage::model::LibraryId;
use crate::repo::{Repository, open_backend};

/// The process is up and answering.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready to work: the catalog answers, the repository opens, the daemon is signed in. Without
/// the API's bearer token the answer says only ready or not (the status code and `ready`):
/// the reasons name the tenant, the account and the repository.
pub async fn readyz(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let detailed = {
        let token = state.api_token.read().unwrap_or_else(|p| p.into_inner());
        crate::api::auth::bearer_matches(
            headers
                .get(axum::http::header::AUTHORIZATION)
                .map(axum::http::HeaderValue::as_bytes),
            token.expose(),
        )
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
    let r = &settings.repository;
    let repository = async {
        let store = open_backend(&backend_config(r))?;
        Repository::open(store).await.map(|_| ())
    }
    .await
    .map_err(|e| format!("{}: {}", r.url, crate::repo::error_chain(&e)));
    let signed_in = match state.client() {
        Some(_) => Ok(()),
        None => Err(state
            .sign_in_error
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "signing in".into())),
    };
    let check = |r: &Result<(), String>| match r {
        Ok(()) => json!({ "ok": true }),
        Err(e) => json!({ "ok": false, "error": e }),
    };
    let ready = catalog.is_ok() && repository.is_ok() && signed_in.is_ok();
    let body = json!({
        "ready": ready,
        "draining": state.shutdown.is_cancelled(),
        "checks": {
            "catalog": check(&catalog),
            "repository": check(&repository),
            "imanage": check(&signed_in),
        }
    });
    let status = if ready && !state.shutdown.is_cancelled() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !detailed {
        return (
            status,
            Json(
                json!({ "ready": status == StatusCode::OK, "details": "send the API bearer token for the checks" }),
            ),
        );
    }
    (status, Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotsQuery {
    pub library: Option<String>,
}

/// Catalogued snapshots, by library then time.
pub async fn snapshots(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SnapshotsQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let snaps: Vec<Value> = snaps
        .into_iter()
        .map(|s| {
            json!({
                "id": s.row.id,
                "library": s.row.library,
                "time": s.row.time,
                "parent": s.row.parent,
                "host": s.row.host,
                "seq": s.seq,
                "counts": s.counts,
                "summary": s.row.summary,
            })
        })
        .collect();
    Ok(Json(json!({ "snapshots": snaps })))
}

/// Every configured library: its newest snapshot, its last backup job, whether a backup is
/// queued or running now, and when the next scheduled one is due.
pub async fn libraries(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut names: Vec<String> = state.libraries();
    let latest = state
        .queue
        .reader()
        .run("listing snapshots", |c| c.snapshots(None))
        .await
        .map_err(crate::daemon::queue::QueueError::Catalog)?;
    let mut newest: BTreeMap<String, Value> = BTreeMap::new();
    for s in latest {
        let lib = s.row.library.as_str().to_string();
        newest.insert(
            lib.clone(),
            json!({ "id": s.row.id, "time": s.row.time, "seq": s.seq }),
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
            Some(s) if !s.is_terminal() => s.as_str(),
            _ => "idle",
        };
        out.push(json!({
            "id": lib,
            "state": activity,
            "last_snapshot": newest.get(&lib),
            "last_backup_job": last.map(|j| json!({
                "id": j.id, "state": j.state, "created_at": j.created_at,
                "finished_at": j.finished_at, "last_error": j.last_error,
            })),
            "next_scheduled_run": state.next_run(&lib),
        }));
    }
    Ok(Json(json!({ "libraries": out })))
}
