//! Bearer-token check for every `/v1` route: a missing or wrong token gets 401 and nothing
//! else (the request is not looked at further). Tokens are compared in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};

/// True when `header` is `Bearer <token>` with exactly `token`.
pub fn bearer_matches(header: Option<&[u8]>, token: &str) -> bool {
    let Some(h) = header else { return false };
    let Some(given) = h.strip_prefix(b"Bearer ") else {
        return false;
    };
    // Length is not secret (tokens have a fixed format); contents are compared in constant time.
    bool::from(given.ct_eq(token.as_bytes()))
}

/// The name of the token a `/v1` request presented (an extension set by [`require_bearer`]):
/// the actor of the request in the audit trail.
#[derive(Debug, Clone)]
pub struct TokenName(pub String);

pub async fn require_bearer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let name = {
        let tokens = state.api_tokens.read().unwrap_or_else(|p| p.into_inner());
        tokens
            .matching(
                req.headers()
                    .get(header::AUTHORIZATION)
                    .map(HeaderValue::as_bytes),
            )
            .map(str::to_string)
    };
    let Some(name) = name else {
        tracing::warn!(path = %req.uri().path(), "API: missing or wrong bearer token");
        let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
            .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    };
    req.extensions_mut().insert(TokenName(name));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let t = "s3cret-token-0123456789";
        assert!(bearer_matches(Some(b"Bearer s3cret-token-0123456789"), t));
        assert!(!bearer_matches(None, t));
        assert!(!bearer_matches(Some(b"Bearer s3cret-token-012345678"), t));
        assert!(!bearer_matches(Some(b"Bearer s3cret-token-01234567890"), t));
        assert!(!bearer_matches(Some(b"bearer s3cret-token-0123456789"), t));
        assert!(!bearer_matches(Some(b"Basic s3cret-token-0123456789"), t));
        assert!(!bearer_matches(Some(b"Bearer "), t));
    }
}
