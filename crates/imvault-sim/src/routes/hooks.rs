//! Test-only hooks under `/sim/` (no auth): mutate, stats, summary, expire cursors/tokens, unlock.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;

use super::AppState;
use crate::error::ApiError;
use crate::mutate::{self, MutateReport, MutateRequest};
use crate::stats::SimStats;
use crate::summary::{self, LibrarySummary};

pub async fn mutate(
    State(sim): State<AppState>,
    b: Result<Json<MutateRequest>, JsonRejection>,
) -> Result<Json<MutateReport>, ApiError> {
    let Json(req) =
        b.map_err(|e| ApiError::InvalidParam(format!("mutate body: {}", e.body_text())))?;
    if let Some(l) = &req.library
        && sim.lib_index(l).is_none()
    {
        return Err(ApiError::NoRecord(format!("library {l}")));
    }
    Ok(Json(mutate::apply(&sim, &req)))
}

pub async fn stats(State(sim): State<AppState>) -> Json<SimStats> {
    Json(sim.stats.snapshot())
}

/// What every library holds now (as [`crate::SimHandle::library_summary`]), for a
/// benchmark in another process to check a backup against. Walks every library (O(corpus):
/// seconds at `large`), on a blocking thread.
/// A 500 only if the walk panicked.
pub async fn summary(State(sim): State<AppState>) -> Result<Json<Vec<LibrarySummary>>, StatusCode> {
    tokio::task::spawn_blocking(move || {
        (0..sim.corpus.libs.len())
            .map(|li| summary::summarize(&sim, li))
            .collect()
    })
    .await
    .map(Json)
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

pub async fn expire_cursors(State(sim): State<AppState>) -> StatusCode {
    sim.cursors.expire_all();
    StatusCode::NO_CONTENT
}

pub async fn expire_tokens(State(sim): State<AppState>) -> StatusCode {
    sim.auth.expire_all();
    StatusCode::NO_CONTENT
}

pub async fn unlock(State(sim): State<AppState>) -> StatusCode {
    sim.auth.unlock();
    StatusCode::NO_CONTENT
}

pub async fn delete_folder(
    State(sim): State<AppState>,
    b: Result<Json<crate::delete::DeleteFolderRequest>, JsonRejection>,
) -> Result<Json<crate::delete::DeleteFolderReport>, ApiError> {
    let Json(req) =
        b.map_err(|e| ApiError::InvalidParam(format!("delete-folder body: {}", e.body_text())))?;
    crate::delete::delete_folder(&sim, &req.folder)
        .map(Json)
        .ok_or_else(|| ApiError::NoRecord(format!("folder {}", req.folder)))
}
