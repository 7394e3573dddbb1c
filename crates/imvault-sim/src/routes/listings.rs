//! §5 reads: workspaces, containers and their children (paged), document versions, profiles,
//! and the trash bin.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::{AppState, Paging, doc_ref, library, number_in};
use crate::error::ApiError;
use crate::render::{container_json, iso, version_json};
use crate::wire::ContainerKind;

type R = Result<Json<Value>, ApiError>;

/// One page of an index-based listing: start position from the cursor, next cursor if more.
fn page_bounds(
    sim: &crate::Sim,
    scope: &str,
    paging: &Paging,
    total: u64,
) -> Result<(u64, u64, Option<String>), ApiError> {
    let limit = paging.limit()?;
    let start = match &paging.cursor {
        Some(c) if !c.is_empty() => sim.cursors.parse(scope, c)?.0,
        _ => 0,
    };
    let end = (start + limit).min(total);
    let next = (end < total).then(|| sim.cursors.issue(scope, (end, 0)));
    Ok((start.min(total), end, next))
}

fn with_cursor(mut v: Value, cursor: Option<String>) -> Json<Value> {
    if let Some(c) = cursor {
        v["cursor"] = json!(c);
    }
    Json(v)
}

pub async fn workspaces(
    State(sim): State<AppState>,
    Path((customer, lib)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> R {
    let li = library(&sim, &customer, &lib)?;
    sim.read(li, |ctx| {
        let scope = format!("ws:{lib}");
        let (start, end, next) = page_bounds(&sim, &scope, &paging, ctx.workspace_count())?;
        let results: Vec<Value> = (start..end)
            .filter_map(|p| ctx.workspace_at(p))
            .map(|c| container_json(&lib, &c))
            .collect();
        Ok(with_cursor(json!({"data": {"results": results}}), next))
    })
}

fn container_of_kind(
    sim: &crate::Sim,
    customer: &str,
    lib: &str,
    id: &str,
    workspace: bool,
) -> Result<(usize, u64), ApiError> {
    let li = library(sim, customer, lib)?;
    let what = if workspace { "workspace" } else { "folder" };
    let n = number_in(lib, id, what)?;
    let ok = sim.read(li, |ctx| {
        ctx.container(n)
            .is_some_and(|c| (c.kind == ContainerKind::Workspace) == workspace)
    });
    if !ok {
        return Err(ApiError::NoRecord(format!("{what} {id}")));
    }
    Ok((li, n))
}

async fn one_container(sim: AppState, customer: String, lib: String, id: String, ws: bool) -> R {
    let (li, n) = container_of_kind(&sim, &customer, &lib, &id, ws)?;
    sim.read(li, |ctx| {
        let c = ctx
            .container(n)
            .ok_or_else(|| ApiError::NoRecord(format!("container {id}")))?;
        Ok(Json(json!({"data": container_json(&lib, &c)})))
    })
}

pub async fn workspace(
    State(sim): State<AppState>,
    Path((customer, lib, id)): Path<(String, String, String)>,
) -> R {
    one_container(sim, customer, lib, id, true).await
}

pub async fn folder(
    State(sim): State<AppState>,
    Path((customer, lib, id)): Path<(String, String, String)>,
) -> R {
    one_container(sim, customer, lib, id, false).await
}

async fn children(
    sim: AppState,
    customer: String,
    lib: String,
    id: String,
    paging: Paging,
    ws: bool,
) -> R {
    let (li, n) = container_of_kind(&sim, &customer, &lib, &id, ws)?;
    sim.read(li, |ctx| {
        let parent = ctx
            .container(n)
            .ok_or_else(|| ApiError::NoRecord(format!("container {id}")))?;
        let folders = ctx.child_containers(&parent);
        let docs = if ws {
            Vec::new()
        } else {
            ctx.child_documents(&parent)
        };
        let total = (folders.len() + docs.len()) as u64;
        let scope = format!("children:{lib}!{n}");
        let (start, end, next) = page_bounds(&sim, &scope, &paging, total)?;
        let mut data = Vec::with_capacity((end - start) as usize);
        for p in start..end {
            let p = p as usize;
            if p < folders.len() {
                data.push(container_json(&lib, &folders[p]));
            } else {
                let d = &docs[p - folders.len()];
                if let Some(v) = d.latest().and_then(|v| version_json(ctx, d, v)) {
                    data.push(v);
                }
            }
        }
        Ok(with_cursor(json!({ "data": data }), next))
    })
}

pub async fn workspace_children(
    State(sim): State<AppState>,
    Path((customer, lib, id)): Path<(String, String, String)>,
    Query(paging): Query<Paging>,
) -> R {
    children(sim, customer, lib, id, paging, true).await
}

pub async fn folder_children(
    State(sim): State<AppState>,
    Path((customer, lib, id)): Path<(String, String, String)>,
    Query(paging): Query<Paging>,
) -> R {
    children(sim, customer, lib, id, paging, false).await
}

pub async fn versions(
    State(sim): State<AppState>,
    Path((customer, lib, id)): Path<(String, String, String)>,
) -> R {
    let li = library(&sim, &customer, &lib)?;
    let (n, _) = doc_ref(&lib, &id)?;
    let trashed_answer = sim
        .trashed_versions_answer
        .load(std::sync::atomic::Ordering::Relaxed);
    sim.read(li, |ctx| {
        let d = ctx
            .doc(n)
            .filter(|d| !d.trashed() || trashed_answer)
            .ok_or_else(|| ApiError::NoRecord(format!("document {id}")))?;
        let data: Vec<Value> = d
            .versions()
            .into_iter()
            .filter_map(|v| version_json(ctx, &d, v))
            .collect();
        Ok(Json(json!({ "data": data })))
    })
}

pub async fn document(
    State(sim): State<AppState>,
    Path((customer, lib, id)): Path<(String, String, String)>,
) -> R {
    let li = library(&sim, &customer, &lib)?;
    let (n, v) = doc_ref(&lib, &id)?;
    sim.read(li, |ctx| {
        let d = ctx
            .doc(n)
            .filter(|d| !d.trashed())
            .ok_or_else(|| ApiError::NoRecord(format!("document {id}")))?;
        let v = v.or_else(|| d.latest()).unwrap_or(0);
        let body = version_json(ctx, &d, v)
            .ok_or_else(|| ApiError::NoRecord(format!("document version {id}")))?;
        Ok(Json(json!({ "data": body })))
    })
}

pub async fn trash(
    State(sim): State<AppState>,
    Path((customer, lib)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> R {
    let li = library(&sim, &customer, &lib)?;
    sim.read(li, |ctx| {
        let trashed: Vec<(u64, i64)> = ctx
            .ov
            .docs
            .iter()
            .filter_map(|(n, d)| d.trashed.map(|t| (*n, t)))
            .collect();
        let scope = format!("trash:{lib}");
        let (start, end, next) = page_bounds(&sim, &scope, &paging, trashed.len() as u64)?;
        let mut data = Vec::new();
        for &(n, at) in &trashed[start as usize..end as usize] {
            if let Some(d) = ctx.doc(n)
                && let Some(mut v) = d.latest().and_then(|v| version_json(ctx, &d, v))
            {
                v["deleted_date"] = json!(iso(at));
                data.push(v);
            }
        }
        Ok(with_cursor(json!({ "data": data }), next))
    })
}
