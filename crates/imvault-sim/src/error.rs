//! Errors: [`SimError`] for starting the simulator, [`ApiError`] for what an HTTP call answers
//! (the §9 body `{"error":{"code","code_message","transaction"}}`).

use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Starting or running the simulator failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("binding the simulator to {addr} failed")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the simulator's local address failed")]
    LocalAddr(#[source] std::io::Error),
    #[error("invalid simulator option --{option}: {problem}")]
    InvalidOption {
        option: &'static str,
        problem: String,
    },
    #[error("serving the simulator failed")]
    Serve(#[source] std::io::Error),
}

/// What an API call answers when it fails.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 404 `NRC_NO_RECORD`, naming the object.
    NoRecord(String),
    /// 400 `NRC_INVALID_PARAM`.
    InvalidParam(String),
    /// 400 `NRC_INVALID_CURSOR`: expired, forged or from another listing.
    InvalidCursor,
    /// 403 `NRC_ACCESS_DENIED`.
    AccessDenied(String),
    /// 400 `NRC_INVALID_PROFILE` with `messages`.
    InvalidProfile { field: String, code: &'static str },
    /// 401: token missing, expired or revoked.
    Unauthorized,
    /// 429 with `Retry-After`.
    RateLimited { retry_after: u64 },
    /// 502/503/504 injected fault.
    Transient(StatusCode),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let transaction = uuid::Uuid::new_v4().to_string();
        let (status, code, message) = match &self {
            Self::NoRecord(what) => (
                StatusCode::NOT_FOUND,
                "NRC_NO_RECORD",
                format!("Record not found: {what}"),
            ),
            Self::InvalidParam(what) => (
                StatusCode::BAD_REQUEST,
                "NRC_INVALID_PARAM",
                format!("Invalid parameter: {what}"),
            ),
            Self::InvalidCursor => (
                StatusCode::BAD_REQUEST,
                "NRC_INVALID_CURSOR",
                "The cursor is invalid or has expired; restart the listing".to_string(),
            ),
            Self::AccessDenied(what) => (
                StatusCode::FORBIDDEN,
                "NRC_ACCESS_DENIED",
                format!("Access denied: {what}"),
            ),
            Self::InvalidProfile { field, .. } => (
                StatusCode::BAD_REQUEST,
                "NRC_INVALID_PROFILE",
                format!("Invalid profile: {field}"),
            ),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "NRC_UNAUTHORIZED",
                "The X-Auth-Token is missing, expired or revoked".to_string(),
            ),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "NRC_TOO_MANY_REQUESTS",
                "Too many requests; retry after the time in Retry-After".to_string(),
            ),
            Self::Transient(s) => (
                *s,
                "NRC_SERVICE_UNAVAILABLE",
                "The service is temporarily unavailable".to_string(),
            ),
        };
        let mut error = json!({"code": code, "code_message": message, "transaction": transaction});
        if let Self::InvalidProfile { field, code } = &self {
            error["messages"] = json!([{"code": code, "field": field}]);
        }
        let mut resp = (status, axum::Json(json!({ "error": error }))).into_response();
        if let Self::RateLimited { retry_after } = self {
            let h = resp.headers_mut();
            h.insert("retry-after", HeaderValue::from(retry_after));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0u64));
            h.insert("x-ratelimit-reset", HeaderValue::from(retry_after));
        }
        resp
    }
}
