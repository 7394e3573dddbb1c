//! §7 writes: new documents and versions (multipart), profile PATCH, new workspaces and
//! folders, delete to the trash bin and restore from it.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{AppState, doc_ref, library, number_in};
use crate::error::ApiError;
use crate::render::{container_json, version_json};
use crate::writes::{self, NewContainerRequest, UploadProfile};

type P = Path<(String, String, String)>;

fn json_body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(t)| t)
        .map_err(|e| ApiError::InvalidParam(format!("request body: {}", e.body_text())))
}

/// The `profile` and `file` parts of an upload.
async fn upload(mut mp: Multipart) -> Result<(UploadProfile, Bytes), ApiError> {
    let mut profile = None;
    let mut file = None;
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| ApiError::InvalidParam(format!("multipart body: {}", e.body_text())))?
    {
        match field.name() {
            Some("profile") => {
                let bytes = field.bytes().await.map_err(|e| {
                    ApiError::InvalidParam(format!("profile part: {}", e.body_text()))
                })?;
                profile = Some(
                    serde_json::from_slice::<UploadProfile>(&bytes)
                        .map_err(|e| ApiError::InvalidParam(format!("profile part: {e}")))?,
                );
            }
            Some("file") => {
                file = Some(field.bytes().await.map_err(|e| {
                    ApiError::InvalidParam(format!("file part: {}", e.body_text()))
                })?);
            }
            _ => {}
        }
    }
    match (profile, file) {
        (Some(p), Some(f)) => Ok((p, f)),
        (None, _) => Err(ApiError::InvalidParam(
            "multipart part \"profile\" is missing".into(),
        )),
        (_, None) => Err(ApiError::InvalidParam(
            "multipart part \"file\" is missing".into(),
        )),
    }
}

fn version_response(
    sim: &AppState,
    li: usize,
    lib: &str,
    n: u64,
    v: u32,
    status: StatusCode,
) -> Result<Response, ApiError> {
    sim.read(li, |ctx| {
        let d = ctx
            .doc(n)
            .ok_or_else(|| ApiError::NoRecord(format!("document {lib}!{n}")))?;
        let body = version_json(ctx, &d, v)
            .ok_or_else(|| ApiError::NoRecord(format!("document version {lib}!{n}.{v}")))?;
        Ok((status, Json(json!({ "data": body }))).into_response())
    })
}

fn container_response(sim: &AppState, li: usize, lib: &str, n: u64) -> Result<Response, ApiError> {
    sim.read(li, |ctx| {
        let c = ctx
            .container(n)
            .ok_or_else(|| ApiError::NoRecord(format!("container {lib}!{n}")))?;
        Ok((
            StatusCode::CREATED,
            Json(json!({ "data": container_json(lib, &c) })),
        )
            .into_response())
    })
}

pub async fn new_document(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
    mp: Multipart,
) -> Result<Response, ApiError> {
    let li = library(&sim, &c, &l)?;
    let folder = number_in(&l, &id, "folder")?;
    let (profile, file) = upload(mp).await?;
    let n = writes::create_document(&sim, li, folder, profile, file)?;
    version_response(&sim, li, &l, n, 1, StatusCode::CREATED)
}

pub async fn new_version(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
    mp: Multipart,
) -> Result<Response, ApiError> {
    let li = library(&sim, &c, &l)?;
    let (n, _) = doc_ref(&l, &id)?;
    let (profile, file) = upload(mp).await?;
    let v = writes::create_version(&sim, li, n, profile, file)?;
    version_response(&sim, li, &l, n, v, StatusCode::CREATED)
}

pub async fn patch_document(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
    b: Result<Json<Map<String, Value>>, JsonRejection>,
) -> Result<Response, ApiError> {
    let li = library(&sim, &c, &l)?;
    let (n, v) = doc_ref(&l, &id)?;
    let v = writes::patch_version(&sim, li, n, v, json_body(b)?)?;
    version_response(&sim, li, &l, n, v, StatusCode::OK)
}

pub async fn delete_document(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
) -> Result<StatusCode, ApiError> {
    let li = library(&sim, &c, &l)?;
    let (n, _) = doc_ref(&l, &id)?;
    writes::set_trashed(&sim, li, n, true)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restore_from_trash(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
) -> Result<Response, ApiError> {
    let li = library(&sim, &c, &l)?;
    // `{docId}`: a document (`LIB!N`), never one of its versions.
    let (n, version) = doc_ref(&l, &id)?;
    if version.is_some() {
        return Err(ApiError::InvalidParam(format!(
            "{id} is a version id; the trash bin restores documents (LIB!N)"
        )));
    }
    writes::set_trashed(&sim, li, n, false)?;
    let latest = sim
        .read(li, |ctx| ctx.doc(n).and_then(|d| d.latest()))
        .unwrap_or(1);
    version_response(&sim, li, &l, n, latest, StatusCode::OK)
}

pub async fn new_workspace(
    State(sim): State<AppState>,
    Path((c, l)): Path<(String, String)>,
    b: Result<Json<NewContainerRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let li = library(&sim, &c, &l)?;
    let n = writes::create_container(&sim, li, None, json_body(b)?)?;
    container_response(&sim, li, &l, n)
}

async fn new_folder(
    sim: AppState,
    c: String,
    l: String,
    id: String,
    b: Result<Json<NewContainerRequest>, JsonRejection>,
    what: &str,
) -> Result<Response, ApiError> {
    let li = library(&sim, &c, &l)?;
    let parent = number_in(&l, &id, what)?;
    let n = writes::create_container(&sim, li, Some(parent), json_body(b)?)?;
    container_response(&sim, li, &l, n)
}

pub async fn new_folder_in_workspace(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
    b: Result<Json<NewContainerRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    new_folder(sim, c, l, id, b, "workspace").await
}

pub async fn new_subfolder(
    State(sim): State<AppState>,
    Path((c, l, id)): P,
    b: Result<Json<NewContainerRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    new_folder(sim, c, l, id, b, "folder").await
}
