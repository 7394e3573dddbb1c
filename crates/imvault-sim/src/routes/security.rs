//! §6 security reads and writes for workspaces, folders and documents.

use axum::Json;
use axum::extract::{Path, State};

use super::{AppState, doc_ref, library, number_in};
use crate::error::ApiError;
use crate::render::security_answer;
use crate::wire::{ContainerKind, SecurityAnswer};
use crate::writes::{self, AclChange};

type R = Result<Json<SecurityAnswer>, ApiError>;
type P = Path<(String, String, String)>;

fn container(
    sim: &AppState,
    customer: &str,
    lib: &str,
    id: &str,
    ws: bool,
) -> Result<(usize, u64), ApiError> {
    let li = library(sim, customer, lib)?;
    let what = if ws { "workspace" } else { "folder" };
    let n = number_in(lib, id, what)?;
    let found = sim.read(li, |ctx| {
        ctx.container(n)
            .is_some_and(|c| (c.kind == ContainerKind::Workspace) == ws)
    });
    if !found {
        return Err(ApiError::NoRecord(format!("{what} {id}")));
    }
    Ok((li, n))
}

fn read_container(sim: AppState, customer: String, lib: String, id: String, ws: bool) -> R {
    let (li, n) = container(&sim, &customer, &lib, &id, ws)?;
    Ok(Json(
        sim.read(li, |ctx| security_answer(&ctx.container_acl(n))),
    ))
}

fn write_container(
    sim: AppState,
    customer: String,
    lib: String,
    id: String,
    ws: bool,
    change: AclChange,
) -> R {
    let (li, n) = container(&sim, &customer, &lib, &id, ws)?;
    let acl = writes::set_container_acl(&sim, li, n, &change)?;
    Ok(Json(security_answer(&acl)))
}

fn body(
    b: Result<Json<AclChange>, axum::extract::rejection::JsonRejection>,
) -> Result<AclChange, ApiError> {
    b.map(|Json(c)| c)
        .map_err(|e| ApiError::InvalidParam(format!("security body: {}", e.body_text())))
}

pub async fn get_workspace(State(sim): State<AppState>, Path((c, l, id)): P) -> R {
    read_container(sim, c, l, id, true)
}

pub async fn get_folder(State(sim): State<AppState>, Path((c, l, id)): P) -> R {
    read_container(sim, c, l, id, false)
}

pub async fn set_workspace(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
    b: Result<Json<AclChange>, axum::extract::rejection::JsonRejection>,
) -> R {
    write_container(sim, c, l, id, true, body(b)?)
}

pub async fn set_folder(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
    b: Result<Json<AclChange>, axum::extract::rejection::JsonRejection>,
) -> R {
    write_container(sim, c, l, id, false, body(b)?)
}

pub async fn get_document(State(sim): State<AppState>, Path((c, l, id)): P) -> R {
    let li = library(&sim, &c, &l)?;
    let (n, _) = doc_ref(&l, &id)?;
    sim.read(li, |ctx| {
        if ctx.doc(n).is_none_or(|d| d.trashed()) {
            return Err(ApiError::NoRecord(format!("document {id}")));
        }
        Ok(Json(security_answer(&ctx.doc_acl(n))))
    })
}

pub async fn set_document(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
    b: Result<Json<AclChange>, axum::extract::rejection::JsonRejection>,
) -> R {
    let li = library(&sim, &c, &l)?;
    let (n, _) = doc_ref(&l, &id)?;
    let acl = writes::set_doc_acl(&sim, li, n, &body(b)?)?;
    Ok(Json(security_answer(&acl)))
}
