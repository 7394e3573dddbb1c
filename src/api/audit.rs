//! Every state-changing `/v1` call (POST, PUT, PATCH, DELETE) is recorded in the audit trail,
//! its actor the name of the token it presented: `started` before the handler runs (if that
//! record cannot be written the call is answered 503 and nothing is done), `finished` with the
//! HTTP status and the job it queued or touched.

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::TokenName;
use super::{ApiError, AppState};
use crate::audit::{Action, Actor, Figures, Outcome};

/// Answers larger than this are not read for their job id.
const MAX_READ: usize = 256 * 1024;

pub async fn record_calls(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return next.run(req).await;
    }
    let name = req
        .extensions()
        .get::<TokenName>()
        .map(|t| t.0.clone())
        .unwrap_or_else(|| "unknown".into());
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let action = Action::ApiCall {
        method: req.method().to_string(),
        path,
    };
    let settings = state.settings();
    let pending = match state
        .audit
        .start(&settings, Actor::Token { name }, action)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "API: call refused: its audit record cannot be written");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the call cannot be recorded in the audit trail, so nothing was done: {e}"),
            )
            .into_response();
        }
    };
    let response = next.run(req).await;
    let status = response.status();
    let (parts, body) = response.into_parts();
    let (job, body) = match axum::body::to_bytes(body, MAX_READ).await {
        Ok(bytes) => {
            let job = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| match v.get("id") {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                });
            (job, Body::from(bytes))
        }
        Err(_) => (None, Body::empty()),
    };
    let outcome = if status.is_success() {
        Outcome::Ok
    } else {
        Outcome::Failed {
            message: format!("answered {status}"),
        }
    };
    state
        .audit
        .finish(
            pending,
            outcome,
            Figures {
                status: Some(status.as_u16()),
                job,
                ..Figures::default()
            },
        )
        .await;
    Response::from_parts(parts, body)
}
