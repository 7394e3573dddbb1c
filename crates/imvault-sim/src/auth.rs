//! Sign-in (§1): password and refresh grants, self-validating signed tokens with a TTL,
//! revocation, and the account lockout (5 failures: 15 minutes; 10: until unlocked).
//!
//! Tokens are checked without any shared table on the hot path: a token carries its issue
//! time, lifetime and generation, signed with a per-start key.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::credentials;

/// The OAuth error body of §1: `{"error":…,"error_description":…}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub error_description: String,
}

fn oauth(error: &'static str, d: impl Into<String>) -> OAuthError {
    OAuthError {
        error,
        error_description: d.into(),
    }
}

/// A successful token answer. `Debug` redacts the tokens.
#[derive(Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
}

/// The fields of a token request (form or query). `Debug` redacts the secrets.
#[derive(Clone, Default, serde::Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Default)]
struct Lockout {
    failures: u32,
    locked_until: Option<Instant>,
    locked_for_good: bool,
}

const LOCK_AFTER: u32 = 5;
const LOCK_FOR_GOOD_AFTER: u32 = 10;

/// Sign-in state. `Debug` shows settings only, never the signing key or any token.
pub struct Auth {
    key: [u8; 32],
    start: Instant,
    token_ttl: Duration,
    refresh_ttl: Duration,
    lock_time: Duration,
    generation: AtomicU64,
    /// Tokens of either kind issued before this generation are dead (`end_sessions`).
    sessions_from: AtomicU64,
    nonce: AtomicU64,
    revoked: RwLock<HashSet<String>>,
    any_revoked: AtomicBool,
    lock: Mutex<Lockout>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"***")
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &"***")
            .field("scope", &self.scope)
            .finish()
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |o: &Option<String>| o.as_ref().map(|_| "***");
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("username", &self.username)
            .field("password", &redact(&self.password))
            .field("client_id", &self.client_id)
            .field("client_secret", &redact(&self.client_secret))
            .field("refresh_token", &redact(&self.refresh_token))
            .field("scope", &self.scope)
            .finish()
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("token_ttl", &self.token_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("lock_time", &self.lock_time)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

impl Auth {
    pub fn new(token_ttl: Duration, refresh_ttl: Duration, lock_time: Duration) -> Self {
        let mut key = [0u8; 32];
        for b in key.iter_mut() {
            *b = fastrand::u8(..);
        }
        Self {
            key,
            start: Instant::now(),
            token_ttl,
            refresh_ttl,
            lock_time,
            generation: AtomicU64::new(0),
            sessions_from: AtomicU64::new(0),
            nonce: AtomicU64::new(fastrand::u64(..)),
            revoked: RwLock::new(HashSet::new()),
            any_revoked: AtomicBool::new(false),
            lock: Mutex::new(Lockout::default()),
        }
    }

    fn mac(&self, body: &str) -> String {
        hex::encode(&blake3::keyed_hash(&self.key, body.as_bytes()).as_bytes()[..12])
    }

    fn issue(&self, kind: Kind) -> String {
        let k = if kind == Kind::Access { "a" } else { "r" };
        let ttl = if kind == Kind::Access {
            self.token_ttl
        } else {
            self.refresh_ttl
        };
        let issued = self.start.elapsed().as_millis() as u64;
        let generation = self.generation.load(Ordering::Relaxed);
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let body = format!(
            "sim{k}.{issued:x}.{:x}.{generation:x}.{nonce:x}",
            ttl.as_millis()
        );
        let mac = self.mac(&body);
        format!("{body}.{mac}")
    }

    fn valid(&self, token: &str, kind: Kind) -> bool {
        let Some((body, mac)) = token.rsplit_once('.') else {
            return false;
        };
        if self.mac(body) != mac {
            return false;
        }
        let mut parts = body.split('.');
        let k = parts.next();
        let nums: Vec<u64> = parts
            .filter_map(|p| u64::from_str_radix(p, 16).ok())
            .collect();
        let want = if kind == Kind::Access { "sima" } else { "simr" };
        let (Some(k), [issued, ttl, generation, _nonce]) = (k, nums.as_slice()) else {
            return false;
        };
        // `expire_all` ends access tokens only: refresh tokens live on, as after a real expiry.
        if k != want
            || (kind == Kind::Access && *generation < self.generation.load(Ordering::Relaxed))
            || *generation < self.sessions_from.load(Ordering::Relaxed)
        {
            return false;
        }
        let now = self.start.elapsed().as_millis() as u64;
        if now.saturating_sub(*issued) >= *ttl {
            return false;
        }
        if self.any_revoked.load(Ordering::Relaxed)
            && self
                .revoked
                .read()
                .map(|r| r.contains(token))
                .unwrap_or(true)
        {
            return false;
        }
        true
    }

    /// Is this `X-Auth-Token` good for an API call?
    pub fn check_access(&self, token: &str) -> bool {
        self.valid(token, Kind::Access)
    }

    fn tokens(&self, scope: Option<String>) -> TokenResponse {
        TokenResponse {
            access_token: self.issue(Kind::Access),
            token_type: "bearer",
            expires_in: self.token_ttl.as_secs(),
            refresh_token: self.issue(Kind::Refresh),
            scope: scope.unwrap_or_else(|| "admin".to_string()),
        }
    }

    /// `POST /auth/oauth2/token`.
    pub fn token(&self, req: TokenRequest) -> Result<TokenResponse, OAuthError> {
        if req.client_id.as_deref() != Some(credentials::CLIENT_ID)
            || req.client_secret.as_deref() != Some(credentials::CLIENT_SECRET)
        {
            return Err(oauth(
                "invalid_client",
                "Client authentication failed: unknown client id or wrong client secret",
            ));
        }
        match req.grant_type.as_deref() {
            Some("password") => self.password(req),
            Some("refresh_token") => {
                let ok = req
                    .refresh_token
                    .as_deref()
                    .is_some_and(|t| self.valid(t, Kind::Refresh));
                if ok {
                    Ok(self.tokens(req.scope))
                } else {
                    Err(oauth(
                        "invalid_grant",
                        "The refresh token is invalid, expired or revoked",
                    ))
                }
            }
            Some(other) => Err(oauth(
                "unsupported_grant_type",
                format!("grant_type {other:?} is not supported"),
            )),
            None => Err(oauth("invalid_request", "grant_type is required")),
        }
    }

    fn password(&self, req: TokenRequest) -> Result<TokenResponse, OAuthError> {
        if req.username.as_deref() != Some(credentials::USERNAME) {
            return Err(oauth("invalid_grant", "Invalid username or auth key"));
        }
        let now = Instant::now();
        let mut lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if lock.locked_for_good {
            return Err(oauth(
                "invalid_grant",
                "The account is locked after 10 failed sign-ins; an administrator must unlock it",
            ));
        }
        if let Some(until) = lock.locked_until {
            if now < until {
                return Err(oauth(
                    "invalid_grant",
                    format!(
                        "The account is locked for {} after 5 failed sign-ins",
                        self.lock_text()
                    ),
                ));
            }
            lock.locked_until = None;
        }
        if req.password.as_deref() != Some(credentials::AUTH_KEY) {
            lock.failures += 1;
            if lock.failures >= LOCK_FOR_GOOD_AFTER {
                lock.locked_for_good = true;
                return Err(oauth(
                    "invalid_grant",
                    "Invalid auth key; the account is now locked after 10 failed sign-ins until an administrator unlocks it",
                ));
            }
            if lock.failures == LOCK_AFTER {
                lock.locked_until = Some(now + self.lock_time);
                return Err(oauth(
                    "invalid_grant",
                    format!(
                        "Invalid auth key; the account is now locked for {} after 5 failed sign-ins",
                        self.lock_text()
                    ),
                ));
            }
            return Err(oauth("invalid_grant", "Invalid username or auth key"));
        }
        lock.failures = 0;
        drop(lock);
        Ok(self.tokens(req.scope))
    }

    fn lock_text(&self) -> String {
        let s = self.lock_time.as_secs();
        if s.is_multiple_of(60) && s > 0 {
            format!("{} minutes", s / 60)
        } else {
            format!("{s} seconds")
        }
    }

    /// `POST /auth/oauth2/revoke-token`.
    pub fn revoke(&self, token: &str) {
        if let Ok(mut r) = self.revoked.write() {
            r.insert(token.to_string());
        }
        self.any_revoked.store(true, Ordering::Relaxed);
    }

    /// Every access token issued so far stops working (refresh tokens still do).
    pub fn expire_all(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Every token issued so far, access and refresh, stops working (what an administrator's
    /// "end sessions" or an auth key rotation does): the next call must sign in again.
    pub fn end_sessions(&self) {
        let next = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        self.sessions_from.store(next, Ordering::Relaxed);
    }

    /// What an administrator does in Control Center: clear the lockout.
    pub fn unlock(&self) {
        let mut lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        *lock = Lockout::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets_or_tokens() {
        let auth = Auth::new(
            Duration::from_secs(60),
            Duration::from_secs(600),
            Duration::from_secs(900),
        );
        let req = TokenRequest {
            grant_type: Some("password".into()),
            username: Some(credentials::USERNAME.into()),
            password: Some(credentials::AUTH_KEY.into()),
            client_id: Some(credentials::CLIENT_ID.into()),
            client_secret: Some(credentials::CLIENT_SECRET.into()),
            ..Default::default()
        };
        let shown = format!("{req:?}");
        assert!(
            !shown.contains(credentials::AUTH_KEY) && !shown.contains(credentials::CLIENT_SECRET)
        );
        let t = auth.token(req).unwrap();
        assert!(auth.check_access(&t.access_token));
        assert!(
            !auth.check_access(&t.refresh_token),
            "a refresh token is no access token"
        );
        auth.revoke(&t.access_token);
        assert!(!auth.check_access(&t.access_token));
        let shown = format!("{t:?} {auth:?}");
        assert!(
            !shown.contains(&t.access_token) && !shown.contains(&t.refresh_token),
            "{shown}"
        );
    }
}
