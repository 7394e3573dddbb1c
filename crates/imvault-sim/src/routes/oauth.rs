//! §1 sign-in: `POST /auth/oauth2/token` and `POST /auth/oauth2/revoke-token`.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::auth::TokenRequest;

#[derive(Debug, Deserialize, Default)]
pub struct ScopeQuery {
    pub scope: Option<String>,
}

pub async fn token(
    State(sim): State<AppState>,
    Query(q): Query<ScopeQuery>,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    let mut req = match form {
        Ok(Form(r)) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_request", "error_description": e.body_text()})),
            )
                .into_response();
        }
    };
    if req.scope.is_none() {
        req.scope = q.scope;
    }
    match sim.auth.token(req) {
        Ok(t) => {
            sim.stats.sign_ins.fetch_add(1, Ordering::Relaxed);
            (StatusCode::OK, Json(t)).into_response()
        }
        Err(e) => {
            sim.stats.failed_sign_ins.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = e.error, "simulated sign-in refused");
            (StatusCode::BAD_REQUEST, Json(e)).into_response()
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct RevokeForm {
    pub access_token: Option<String>,
    pub token: Option<String>,
}

pub async fn revoke(
    State(sim): State<AppState>,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Response {
    let token = form.ok().and_then(|Form(f)| f.access_token.or(f.token));
    match token {
        Some(t) if !t.is_empty() => {
            sim.auth.revoke(&t);
            (StatusCode::OK, Json(json!({}))).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "access_token is required"})),
        )
            .into_response(),
    }
}
