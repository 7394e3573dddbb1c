//! The operator HTTP API of `imvault serve` (axum): JSON under `/v1` behind a bearer token,
//! plus `/healthz`, `/readyz` and `/metrics` for supervisors and Prometheus, and the web
//! console at `/` (static files that use only `/v1`, see [`console`]).
//!
//! Handlers are thin: they parse, call the queue or the catalog, and map errors through
//! [`ApiError`], the one error → response mapping.

pub mod audit;
pub mod auth;
pub mod console;
pub mod history;
pub mod metrics;
pub mod openapi;
pub mod readiness;
pub mod repo_stats;
pub mod routes;

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::daemon::DaemonState;
use crate::daemon::queue::QueueError;

/// What the handlers share: the daemon's state and what the API keeps for itself.
pub struct ApiState {
    pub daemon: Arc<DaemonState>,
    /// The repository's totals for the dashboard.
    pub repo_stats: repo_stats::RepoStatsCache,
    /// `/readyz`'s repository check, kept.
    pub readiness: readiness::RepositoryProbe,
}

impl std::ops::Deref for ApiState {
    type Target = DaemonState;
    fn deref(&self) -> &DaemonState {
        &self.daemon
    }
}

pub type AppState = Arc<ApiState>;

/// Every route with its OpenAPI description, generated from the handlers' `#[utoipa::path]`
/// attributes and their types (a route cannot exist without being documented): the `/v1`
/// routes (behind the bearer token) and the ones at the root.
fn documented() -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    let v1 = OpenApiRouter::new()
        .routes(routes!(routes::jobs::list))
        .routes(routes!(routes::jobs::show))
        .routes(routes!(routes::jobs::cancel))
        .routes(routes!(routes::requests::backup))
        .routes(routes!(routes::requests::restore))
        .routes(routes!(routes::requests::verify))
        .routes(routes!(routes::requests::maintenance))
        .routes(routes!(routes::info::snapshots))
        .routes(routes!(routes::info::libraries))
        .routes(routes!(routes::dashboard::dashboard))
        .routes(routes!(routes::browse::children))
        .routes(routes!(routes::browse::skipped))
        .routes(routes!(routes::browse::document_versions))
        .routes(routes!(routes::browse::search))
        .routes(routes!(routes::audit::list))
        .routes(routes!(openapi::serve));
    let root = OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(routes::info::healthz))
        .routes(routes!(routes::info::readyz))
        .routes(routes!(metrics::serve));
    (v1, root)
}

/// The OpenAPI document of [`router`].
pub fn document() -> utoipa::openapi::OpenApi {
    let (v1, root) = documented();
    root.into_openapi().nest("/v1", v1.into_openapi())
}

/// Every route of the API.
pub fn router(daemon: Arc<DaemonState>) -> Router {
    let state = Arc::new(ApiState {
        daemon,
        repo_stats: repo_stats::RepoStatsCache::default(),
        readiness: readiness::RepositoryProbe::default(),
    });
    let (v1, root) = documented();
    let (v1, _) = v1.split_for_parts();
    let v1 = v1
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such API route") })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::record_calls,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_bearer,
        ));
    let (root, _) = root.split_for_parts();
    root.nest("/v1", v1)
        .merge(console::routes())
        .with_state(state)
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, naming the field or object concerned.
    pub error: String,
    /// The request field to fix (a JSON path such as `to` or `libraries[0]`), when the error
    /// is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// More about it, e.g. `job`: the job a 409 conflicts with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// An error answer: a status and a JSON body `{"error": "..."}` (plus details when useful).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
    pub details: Option<Box<serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
            details: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    /// The request field the error is about.
    pub fn with_field(mut self, field: Option<impl Into<String>>) -> Self {
        self.field = field.map(Into::into);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            field: self.field,
            details: self.details.map(|d| *d),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        let message = crate::repo::error_chain(&e);
        match &e {
            QueueError::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, message),
            QueueError::Busy { job, .. } => Self {
                status: StatusCode::CONFLICT,
                message,
                field: None,
                details: Some(Box::new(json!({ "job": job }))),
            },
            QueueError::Finished { .. } => Self::new(StatusCode::CONFLICT, message),
            QueueError::Spec(crate::daemon::spec::SpecError::Invalid { field, .. }) => {
                Self::bad_request(message).with_field(Some(*field))
            }
            QueueError::Spec(_) => Self::bad_request(message),
            QueueError::Catalog(_) => {
                tracing::error!(error = %message, "API: catalog error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
            }
        }
    }
}

/// A JSON body; any problem (syntax, unknown or mistyped field, content type) is a 400 whose
/// message names the field, also given alone in `field`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::bad_request(
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::bad_request(r.body_text()))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(Self(v)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                Err(if path == "." {
                    // serde names an unknown field only in its message.
                    let unknown = inner
                        .to_string()
                        .strip_prefix("unknown field `")
                        .and_then(|r| r.split_once('`'))
                        .map(|(f, _)| f.to_string());
                    ApiError::bad_request(format!("the body is not a valid request: {inner}"))
                        .with_field(unknown)
                } else {
                    ApiError::bad_request(format!("{path}: {inner}")).with_field(Some(path))
                })
            }
        }
    }
}

/// `application/json` or `application/<something>+json`, as axum's own `Json` accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Query parameters; a bad one is a 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(r) => Err(ApiError::bad_request(query_rejection(&r))),
        }
    }
}

fn query_rejection(r: &QueryRejection) -> String {
    r.body_text()
}
