//! The HTTP surface: one router, a guard middleware for API calls (count, limits, latency,
//! auth, faults), and one module of thin handlers per area of the contract.

pub mod crawl;
pub mod discovery;
pub mod documents;
pub mod hooks;
pub mod listings;
pub mod oauth;
pub mod security;
pub mod writes;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde::Deserialize;

use super::Sim;
use super::credentials::CUSTOMER_ID;
use super::error::ApiError;
use super::limits::Fault;
use super::wire::{DocumentRef, IdError, ObjectId};

pub type AppState = Arc<Sim>;

/// `P/libraries/{library}` with its path parameters.
pub const L: &str = "/work/api/v2/customers/{customer}/libraries/{library}";

pub fn router(sim: Arc<Sim>) -> Router {
    let l = |p: &str| format!("{L}{p}");
    let api = Router::new()
        .route("/api", get(discovery::api))
        .route(
            "/work/api/v2/customers/{customer}/libraries",
            get(discovery::libraries),
        )
        .route(
            &l("/workspaces"),
            get(listings::workspaces).post(writes::new_workspace),
        )
        .route(&l("/workspaces/{id}"), get(listings::workspace))
        .route(
            &l("/workspaces/{id}/children"),
            get(listings::workspace_children),
        )
        .route(
            &l("/workspaces/{id}/folders"),
            post(writes::new_folder_in_workspace),
        )
        .route(
            &l("/workspaces/{id}/security"),
            get(security::get_workspace).post(security::set_workspace),
        )
        .route(&l("/folders/{id}"), get(listings::folder))
        .route(&l("/folders/{id}/children"), get(listings::folder_children))
        .route(&l("/folders/{id}/subfolders"), post(writes::new_subfolder))
        .route(&l("/folders/{id}/documents"), post(writes::new_document))
        .route(
            &l("/folders/{id}/security"),
            get(security::get_folder).post(security::set_folder),
        )
        .route(
            &l("/documents/{id}"),
            get(listings::document)
                .patch(writes::patch_document)
                .delete(writes::delete_document),
        )
        .route(
            &l("/documents/{id}/versions"),
            get(listings::versions).post(writes::new_version),
        )
        .route(&l("/documents/{id}/download"), get(documents::download))
        .route(
            &l("/documents/{id}/security"),
            get(security::get_document).post(security::set_document),
        )
        .route(&l("/trash-bin/documents"), get(listings::trash))
        .route(
            &l("/trash-bin/documents/{id}/restore"),
            post(writes::restore_from_trash),
        )
        .route(&l("/sync/workspaces/crawl"), post(crawl::workspaces))
        .route(&l("/sync/folders/crawl"), post(crawl::folders))
        .route(&l("/sync/documents/crawl"), post(crawl::documents))
        .route(&l("/sync/documents/parents/search"), post(crawl::parents))
        .route(
            &l("/sync/documents/security/allowed-trustees/search"),
            post(crawl::document_trustees),
        )
        .route(
            &l("/sync/containers/security/allowed-trustees/search"),
            post(crawl::container_trustees),
        )
        .route_layer(middleware::from_fn_with_state(sim.clone(), api_guard));
    let open = Router::new()
        .route("/auth/oauth2/token", post(oauth::token))
        .route("/auth/oauth2/revoke-token", post(oauth::revoke))
        .route("/sim/mutate", post(hooks::mutate))
        .route("/sim/stats", get(hooks::stats))
        .route("/sim/summary", get(hooks::summary))
        .route("/sim/expire-cursors", post(hooks::expire_cursors))
        .route("/sim/expire-tokens", post(hooks::expire_tokens))
        .route("/sim/unlock", post(hooks::unlock))
        .route("/sim/delete-folder", post(hooks::delete_folder))
        .route_layer(middleware::from_fn_with_state(sim.clone(), count_only));
    api.merge(open)
        // Uploads carry whole files (the corpus has files over 20 MB).
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024))
        .fallback(|| async { ApiError::NoRecord("no such endpoint".into()) })
        .with_state(sim)
}

fn endpoint_key(req: &Request) -> String {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let path = path
        .strip_prefix(L)
        .map(|p| format!("L{p}"))
        .unwrap_or(path);
    format!("{} {path}", req.method())
}

async fn count_only(State(sim): State<AppState>, req: Request, next: Next) -> Response {
    sim.stats.count(&endpoint_key(&req));
    next.run(req).await
}

/// Every API call: count it, admit it (429), wait the latency, check the token (401), inject a
/// fault (5xx), then run the handler. A download keeps its concurrency slot until its body ends.
async fn api_guard(State(sim): State<AppState>, req: Request, next: Next) -> Response {
    let key = endpoint_key(&req);
    sim.stats.count(&key);
    let (guard, remaining) = match sim.limits.admit() {
        Ok(g) => g,
        Err(e) => return e.into_response(),
    };
    let latency = sim.limits.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let token_ok = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| sim.auth.check_access(t));
    if !token_ok {
        sim.stats
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return ApiError::Unauthorized.into_response();
    }
    let download = key.ends_with("/download");
    if download && *sim.downloads_held.borrow() {
        let mut held = sim.downloads_held.subscribe();
        // The sender lives as long as the simulator: this ends when the gate opens.
        let _ = held.wait_for(|h| !*h).await;
    }
    if download {
        let path = req.uri().path().replace("%21", "!");
        let denied = sim
            .denied_downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|v| path.ends_with(&format!("/documents/{v}/download")))
            .cloned();
        if let Some(v) = denied {
            return ApiError::AccessDenied(format!("download of {v} denied (test hook)"))
                .into_response();
        }
    }
    tracing::trace!(endpoint = %key, "simulated API call");
    match sim.limits.draw_fault(download) {
        Fault::Status(s) => {
            sim.stats
                .faults
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return ApiError::Transient(s).into_response();
        }
        Fault::Truncate => {
            let mut req = req;
            req.extensions_mut().insert(documents::TruncateFault);
            return finish(next.run(req).await, guard, remaining, true);
        }
        Fault::None => {}
    }
    finish(next.run(req).await, guard, remaining, download)
}

fn finish(
    mut resp: Response,
    guard: super::limits::InFlight,
    remaining: Option<u64>,
    hold_through_body: bool,
) -> Response {
    if let Some(r) = remaining {
        resp.headers_mut()
            .insert("x-ratelimit-remaining", HeaderValue::from(r));
        resp.headers_mut()
            .insert("x-ratelimit-reset", HeaderValue::from(1u64));
    }
    if !hold_through_body {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _held = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Resolve `{customer}` and `{library}` to a library index.
pub fn library(sim: &Sim, customer: &str, library: &str) -> Result<usize, ApiError> {
    if customer != CUSTOMER_ID.to_string() {
        return Err(ApiError::NoRecord(format!("customer {customer}")));
    }
    sim.lib_index(library)
        .ok_or_else(|| ApiError::NoRecord(format!("library {library}")))
}

/// A container id (`LIB!<number>`, §3) whose library must be the one in the path.
pub fn number_in(library: &str, id: &str, what: &str) -> Result<u64, ApiError> {
    let id: ObjectId = id
        .parse()
        .map_err(|e: IdError| ApiError::InvalidParam(format!("{what} id: {e}")))?;
    same_library(library, &id, what)?;
    Ok(id.number)
}

/// A document id (`LIB!<n>`) or version id (`LIB!<n>.<v>`) whose library must be the one in the
/// path: the document number and the version if given.
pub fn doc_ref(library: &str, id: &str) -> Result<(u64, Option<u32>), ApiError> {
    let r: DocumentRef = id
        .parse()
        .map_err(|e: IdError| ApiError::InvalidParam(format!("document id: {e}")))?;
    same_library(library, &r.document, "document")?;
    Ok((r.document.number, r.version))
}

fn same_library(library: &str, id: &ObjectId, what: &str) -> Result<(), ApiError> {
    if id.library == library {
        Ok(())
    } else {
        Err(ApiError::NoRecord(format!(
            "{what} {id} in library {library}"
        )))
    }
}

/// `limit`, `cursor`, `paging_mode` of a listing (§4).
#[derive(Debug, Deserialize, Default)]
pub struct Paging {
    pub limit: Option<String>,
    pub cursor: Option<String>,
    #[allow(dead_code)]
    pub paging_mode: Option<String>,
}

impl Paging {
    pub fn limit(&self) -> Result<u64, ApiError> {
        match &self.limit {
            None => Ok(100),
            Some(s) => match s.parse::<u64>() {
                Ok(n @ 1..=500) => Ok(n),
                _ => Err(ApiError::InvalidParam(format!(
                    "limit {s:?} (must be 1 to 500)"
                ))),
            },
        }
    }
}
