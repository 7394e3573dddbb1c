//! The operator HTTP API of `imvault serve` (axum): JSON under `/v1` behind a bearer token,
//! plus `/healthz`, `/readyz` and `/metrics` for supervisors and Prometheus.
//!
//! Handlers are thin: they parse, call the queue or the catalog, and map errors through
//! [`ApiError`], the one error → response mapping.

pub mod auth;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod schema;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
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

pub type AppState = Arc<DaemonState>;

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
        .routes(routes!(routes::info::snapshots))
        .routes(routes!(routes::info::libraries))
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
pub fn router(state: AppState) -> Router {
    let (v1, root) = documented();
    let (v1, _) = v1.split_for_parts();
    let v1 = v1
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such API route") })
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_bearer,
        ));
    let (root, _) = root.split_for_parts();
    root.nest("/v1", v1).with_state(state)
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, naming the field or object concerned.
    pub error: String,
    /// More about it, e.g. `job`: the job a 409 conflicts with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// An error answer: a status and a JSON body `{"error": "..."}` (plus details when useful).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            details: self.details,
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
                details: Some(json!({ "job": job })),
            },
            QueueError::Finished { .. } => Self::new(StatusCode::CONFLICT, message),
            QueueError::Spec(_) => Self::bad_request(message),
            QueueError::Catalog(_) => {
                tracing::error!(error = %message, "API: catalog error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
            }
        }
    }
}

/// A JSON body; any problem (syntax, unknown or mistyped field, content type) is a 400 whose
/// message names the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(r) => Err(ApiError::bad_request(json_rejection(&r))),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> String {
    match r {
        JsonRejection::MissingJsonContentType(_) => {
            "the body must be JSON with Content-Type: application/json".to_string()
        }
        other => other.body_text(),
    }
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
