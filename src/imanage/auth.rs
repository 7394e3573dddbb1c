//! OAuth 2.0 against `{host}/auth/oauth2/token` (contract §1): the password grant of the service
//! account, refresh before expiry and once after a 401, and revoke on shutdown.
//!
//! Credential failures (`invalid_client`, `invalid_grant`, a locked account) are never retried:
//! five failed sign-ins lock the account. Only transient answers (429, 5xx, connection errors)
//! of the token endpoint are retried, with the same bounded backoff as every other call.
//! Tokens live in [`Secret`]; nothing here logs or formats them.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{info, warn};

use super::error::{ImanageError, SignInFailure};
use super::retry::{Decision, RetryPolicy};
use super::settings::ClientSettings;
use super::stats::Counters;
use crate::secret::Secret;

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

struct TokenState {
    access: Secret,
    refresh: Option<Secret>,
    expires_at: Instant,
    lifetime: Duration,
    /// Bumped each time the access token changes, so concurrent 401s refresh only once.
    generation: u64,
    /// Set by `revoke`: no call may sign in again behind the operator's back.
    revoked: bool,
    /// The credentials were refused (refresh and then password grant): every call, including
    /// those already waiting for this state, fails at once with this refusal instead of
    /// trying its own grant (each failed password grant counts towards the lockout).
    refused: Option<ImanageError>,
}

/// The access token to send, with the generation it belongs to.
#[derive(Clone)]
pub(crate) struct Token {
    pub value: Secret,
    pub generation: u64,
}

pub(crate) struct Auth {
    http: reqwest::Client,
    settings: Arc<ClientSettings>,
    counters: Arc<Counters>,
    policy: RetryPolicy,
    state: Mutex<TokenState>,
    /// A copy of `TokenState::refused`, readable without waiting for a renewal in progress.
    refusal: std::sync::Mutex<Option<ImanageError>>,
}

enum Grant<'a> {
    Password,
    Refresh(&'a Secret),
}

fn classify(err: &OAuthError) -> SignInFailure {
    let desc = err
        .error_description
        .as_deref()
        .unwrap_or("")
        .to_lowercase();
    match err.error.as_str() {
        "invalid_client" => SignInFailure::InvalidClient,
        "invalid_grant" if desc.contains("lock") => SignInFailure::Locked,
        "invalid_grant" => SignInFailure::InvalidGrant,
        _ => SignInFailure::Other,
    }
}

/// Turn a refused grant into the error the operator reads.
pub(crate) fn sign_in_error(settings: &ClientSettings, err: OAuthErrorView<'_>) -> ImanageError {
    let description = err.description.to_string();
    let username = settings.username.clone();
    match err.failure {
        SignInFailure::InvalidClient => ImanageError::InvalidClient {
            host: settings
                .base_url
                .host_str()
                .unwrap_or("the tenant")
                .to_string(),
            description,
        },
        SignInFailure::InvalidGrant => ImanageError::InvalidGrant {
            username,
            description,
        },
        SignInFailure::Locked => ImanageError::AccountLocked {
            username,
            description,
        },
        SignInFailure::Other => ImanageError::SignInRefused {
            username,
            code: err.code.to_string(),
            description,
        },
    }
}

pub(crate) struct OAuthErrorView<'a> {
    pub failure: SignInFailure,
    pub code: &'a str,
    pub description: &'a str,
}

impl Auth {
    /// Sign in with the password grant. One attempt per credential answer: no retry loop.
    pub async fn sign_in(
        http: reqwest::Client,
        settings: Arc<ClientSettings>,
        counters: Arc<Counters>,
    ) -> Result<Self, ImanageError> {
        let policy = RetryPolicy {
            max_retries: settings.max_retries,
            base: settings.retry_base,
            cap: settings.retry_cap,
        };
        let answer = grant(&http, &settings, &counters, &policy, Grant::Password).await?;
        info!(username = %settings.username, "signed in to iManage");
        Ok(Self {
            http,
            state: Mutex::new(state_from(answer, 1)),
            settings,
            counters,
            policy,
            refusal: std::sync::Mutex::new(None),
        })
    }

    /// The current access token, refreshed first when it is about to expire.
    pub async fn token(&self) -> Result<Token, ImanageError> {
        let mut st = self.state.lock().await;
        if st.revoked {
            return Err(ImanageError::SignedOut {
                action: "an iManage call".into(),
            });
        }
        if let Some(e) = st.refused.as_ref().and_then(ImanageError::clone_refusal) {
            return Err(e);
        }
        if needs_refresh(
            Instant::now(),
            st.expires_at,
            st.lifetime,
            self.settings.refresh_margin,
        ) {
            self.renew(&mut st).await?;
        }
        Ok(Token {
            value: st.access.clone(),
            generation: st.generation,
        })
    }

    /// A call with the token of `generation` got 401: renew it, unless another call already did.
    pub async fn reauth(&self, generation: u64) -> Result<(), ImanageError> {
        let mut st = self.state.lock().await;
        if st.revoked {
            return Err(ImanageError::SignedOut {
                action: "renewing the token".into(),
            });
        }
        if st.generation != generation {
            return Ok(());
        }
        if let Some(e) = st.refused.as_ref().and_then(ImanageError::clone_refusal) {
            return Err(e);
        }
        self.renew(&mut st).await
    }

    /// Refresh grant; if the refresh token is refused, one password grant (never a loop).
    async fn renew(&self, st: &mut TokenState) -> Result<(), ImanageError> {
        Counters::bump(&self.counters.reauths);
        let next_gen = st.generation + 1;
        if let Some(refresh) = st.refresh.clone() {
            match grant(
                &self.http,
                &self.settings,
                &self.counters,
                &self.policy,
                Grant::Refresh(&refresh),
            )
            .await
            {
                Ok(answer) => {
                    *st = state_from(answer, next_gen);
                    if st.refresh.is_none() {
                        st.refresh = Some(refresh);
                    }
                    return Ok(());
                }
                Err(e) if e.is_sign_in_refused() => {
                    warn!(error = %e, "refresh token refused; signing in again once");
                }
                Err(e) => return Err(e),
            }
        }
        match grant(
            &self.http,
            &self.settings,
            &self.counters,
            &self.policy,
            Grant::Password,
        )
        .await
        {
            Ok(answer) => {
                *st = state_from(answer, next_gen);
                Ok(())
            }
            Err(e) => {
                if let Some(kept) = e.clone_refusal() {
                    warn!(error = %e, "sign-in refused; no call of this client signs in again");
                    *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = e.clone_refusal();
                    st.refused = Some(kept);
                }
                Err(e)
            }
        }
    }

    /// The refusal that ended this client's sign-in, if its credentials were refused.
    pub fn refusal(&self) -> Option<ImanageError> {
        self.refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(ImanageError::clone_refusal)
    }

    /// Revoke the access token (shutdown). Errors are reported; the client refuses further calls
    /// either way.
    pub async fn revoke(&self) -> Result<(), ImanageError> {
        let mut st = self.state.lock().await;
        if st.revoked {
            return Ok(());
        }
        st.revoked = true;
        let url = self.settings.url("/auth/oauth2/revoke-token")?;
        Counters::bump(&self.counters.requests);
        let action = "revoking the access token".to_string();
        let resp = self
            .http
            .post(url)
            .form(&[("access_token", st.access.expose())])
            .send()
            .await
            .map_err(|e| ImanageError::Transport {
                action: action.clone(),
                source: e.without_url(),
            })?;
        if !resp.status().is_success() {
            return Err(ImanageError::Status {
                action,
                status: resp.status().as_u16(),
                code: None,
                message: None,
                retry_after: None,
            });
        }
        info!("access token revoked");
        Ok(())
    }
}

/// Refresh when less than `margin` (at most a tenth of the token's life) is left.
fn needs_refresh(now: Instant, expires_at: Instant, lifetime: Duration, margin: Duration) -> bool {
    now + margin.min(lifetime / 10) >= expires_at
}

fn state_from(answer: TokenAnswer, generation: u64) -> TokenState {
    let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(1800).max(1));
    TokenState {
        access: Secret::new(answer.access_token),
        refresh: answer.refresh_token.map(Secret::new),
        expires_at: Instant::now() + lifetime,
        lifetime,
        generation,
        revoked: false,
        refused: None,
    }
}

/// One grant, retried only on transient failures.
async fn grant(
    http: &reqwest::Client,
    settings: &ClientSettings,
    counters: &Counters,
    policy: &RetryPolicy,
    grant: Grant<'_>,
) -> Result<TokenAnswer, ImanageError> {
    let url = settings.url("/auth/oauth2/token")?;
    let (action, grant_type) = match grant {
        Grant::Password => (format!("sign-in as {}", settings.username), "password"),
        Grant::Refresh(_) => (
            format!("token refresh for {}", settings.username),
            "refresh_token",
        ),
    };
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", grant_type),
        ("client_id", &settings.client_id),
        ("client_secret", settings.client_secret.expose()),
    ];
    match grant {
        Grant::Password => {
            form.push(("username", &settings.username));
            form.push(("password", settings.auth_key.expose()));
            if let Some(scope) = &settings.scope {
                form.push(("scope", scope));
            }
        }
        Grant::Refresh(token) => form.push(("refresh_token", token.expose())),
    }
    let mut retries = 0;
    loop {
        Counters::bump(&counters.requests);
        let err = match http.post(url.clone()).form(&form).send().await {
            Ok(resp) if resp.status().is_success() => {
                let body = resp.bytes().await.map_err(|e| ImanageError::Transport {
                    action: action.clone(),
                    source: e.without_url(),
                })?;
                let answer = serde_json::from_slice::<TokenAnswer>(&body).map_err(|e| {
                    ImanageError::Decode {
                        action: action.clone(),
                        source: e,
                    }
                })?;
                if grant_type == "password" {
                    Counters::bump(&counters.sign_ins);
                }
                return Ok(answer);
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = super::client::retry_after(resp.headers());
                let body = super::client::read_capped(resp, 64 * 1024).await;
                if let Ok(oauth) = serde_json::from_slice::<OAuthError>(&body) {
                    let failure = classify(&oauth);
                    return Err(sign_in_error(
                        settings,
                        OAuthErrorView {
                            failure,
                            code: &oauth.error,
                            description: oauth.error_description.as_deref().unwrap_or(""),
                        },
                    ));
                }
                if status >= 500 {
                    Counters::bump(&counters.server_errors);
                } else if status == 429 {
                    Counters::bump(&counters.throttled);
                }
                ImanageError::Status {
                    action: action.clone(),
                    status,
                    code: None,
                    message: None,
                    retry_after,
                }
            }
            Err(e) => {
                Counters::bump(&counters.transport_errors);
                ImanageError::Transport {
                    action: action.clone(),
                    source: e.without_url(),
                }
            }
        };
        match policy.decide(err.retry(), retries, true) {
            Decision::RetryAfter(d) => {
                retries += 1;
                Counters::bump(&counters.retries);
                warn!(error = %err, retry = retries, "token endpoint failed transiently; retrying");
                tokio::time::sleep(d).await;
            }
            Decision::Fail | Decision::Reauth if retries > 0 => {
                return Err(ImanageError::RetriesExhausted {
                    action,
                    attempts: retries + 1,
                    source: Box::new(err),
                });
            }
            Decision::Fail | Decision::Reauth => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_happens_shortly_before_expiry() {
        let t0 = Instant::now();
        let life = Duration::from_secs(1800);
        let exp = t0 + life;
        let margin = Duration::from_secs(60);
        assert!(!needs_refresh(t0, exp, life, margin));
        assert!(!needs_refresh(
            t0 + Duration::from_secs(1739),
            exp,
            life,
            margin
        ));
        assert!(needs_refresh(
            t0 + Duration::from_secs(1740),
            exp,
            life,
            margin
        ));
        assert!(needs_refresh(
            t0 + Duration::from_secs(4000),
            exp,
            life,
            margin
        ));
        // A short-lived token refreshes at 90% of its life, not at once.
        let life = Duration::from_secs(20);
        let exp = t0 + life;
        assert!(!needs_refresh(
            t0 + Duration::from_secs(17),
            exp,
            life,
            margin
        ));
        assert!(needs_refresh(
            t0 + Duration::from_secs(18),
            exp,
            life,
            margin
        ));
    }

    #[test]
    fn locked_is_told_apart_from_a_wrong_key() {
        let e = |code: &str, d: &str| OAuthError {
            error: code.into(),
            error_description: Some(d.into()),
        };
        assert_eq!(
            classify(&e("invalid_client", "bad client")),
            SignInFailure::InvalidClient
        );
        assert_eq!(
            classify(&e("invalid_grant", "Invalid credentials")),
            SignInFailure::InvalidGrant
        );
        assert_eq!(
            classify(&e("invalid_grant", "The account is LOCKED for 15 minutes")),
            SignInFailure::Locked
        );
        assert_eq!(
            classify(&e("unsupported_grant_type", "")),
            SignInFailure::Other
        );
    }
}
