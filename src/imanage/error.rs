//! The one error type of the `imanage` area, and its retry classification.
//!
//! Rules (after rustic_core's error rule book and restic's `IsPermanentError`):
//! - every variant names the action and the object (`"listing children of folder ACTIVE!12"`);
//! - causes are chained with `#[source]`, never flattened into the message;
//! - no token, auth key or client secret ever appears in a message: they travel as
//!   [`crate::secret::Secret`] and requests are described by path, never by headers;
//! - the rate limiter and the retry loop read [`ImanageError::retry`] and nothing else.

use std::time::Duration;

use super::model::{ShapeError, VersionId};

/// How the retry loop must treat an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Permanent (400, 403, 404, bad credentials, malformed answer): retrying cannot help.
    Never,
    /// 429: wait at least this long (the server's `Retry-After`), then try again.
    After(Duration),
    /// Transient (502/503/504, connection reset, truncated body): exponential backoff.
    Backoff,
    /// 401: refresh the token once, then repeat the call.
    Reauth,
}

/// Why the token endpoint refused to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    /// `invalid_client`: the client id/secret do not match this tenant.
    InvalidClient,
    /// `invalid_grant`: wrong auth key, disabled account or expired refresh token.
    InvalidGrant,
    /// `invalid_grant` whose description says the account is locked.
    Locked,
    /// Any other OAuth error code.
    Other,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImanageError {
    #[error("invalid iManage client settings: {problem}")]
    Settings { problem: String },

    #[error(
        "sign-in to {host} refused (invalid_client): the client id and client secret do not match \
         this tenant; prod and trial tenants have different credentials for the same application, \
         which is the usual cause ({description})"
    )]
    InvalidClient { host: String, description: String },

    #[error(
        "sign-in as {username} refused (invalid_grant): the auth key is wrong, the account is \
         disabled, or a refresh token expired; the account is not reported locked, but each failed \
         sign-in counts towards the lockout (5 lock it for 15 minutes), so imvault does not retry \
         ({description})"
    )]
    InvalidGrant {
        username: String,
        description: String,
    },

    #[error(
        "sign-in as {username} refused: the account is locked ({description}); wait for the lock \
         to expire (15 minutes after 5 failures) or ask an administrator to unlock it (after 10); \
         imvault does not retry sign-in"
    )]
    AccountLocked {
        username: String,
        description: String,
    },

    #[error("sign-in as {username} refused ({code}): {description}")]
    SignInRefused {
        username: String,
        code: String,
        description: String,
    },

    #[error(
        "access to {what} denied (403 {code}): the service account lacks access; library \
         assignments and roles changed in Control Center can take up to 8 hours to apply"
    )]
    AccessDenied { what: String, code: String },

    #[error("{action} failed: HTTP {status}{}{}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(), message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        action: String,
        status: u16,
        code: Option<String>,
        message: Option<String>,
        retry_after: Option<Duration>,
    },

    #[error("{action} failed: could not reach the server")]
    Transport {
        action: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("{action} failed: the answer is not the JSON the contract describes")]
    Decode {
        action: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("{action} failed: unexpected object in the answer")]
    Shape {
        action: String,
        #[source]
        source: ShapeError,
    },

    #[error("{action} failed: {problem}")]
    Protocol { action: String, problem: String },

    #[error("download of {version} truncated: got {got} of {expected} bytes")]
    Truncated {
        version: VersionId,
        expected: u64,
        got: u64,
    },

    #[error("download of {version} has the wrong length: {got} bytes, the profile says {expected}")]
    LengthMismatch {
        version: VersionId,
        expected: u64,
        got: u64,
    },

    #[error("{action} gave up after {attempts} attempts")]
    RetriesExhausted {
        action: String,
        attempts: u32,
        #[source]
        source: Box<ImanageError>,
    },

    #[error("{action} refused: the client signed out (its token was revoked)")]
    SignedOut { action: String },
}

impl ImanageError {
    /// A copy of a sign-in refusal (the token state keeps it for every later caller); `None`
    /// for any other error.
    pub fn clone_refusal(&self) -> Option<Self> {
        Some(match self {
            Self::InvalidClient { host, description } => Self::InvalidClient {
                host: host.clone(),
                description: description.clone(),
            },
            Self::InvalidGrant {
                username,
                description,
            } => Self::InvalidGrant {
                username: username.clone(),
                description: description.clone(),
            },
            Self::AccountLocked {
                username,
                description,
            } => Self::AccountLocked {
                username: username.clone(),
                description: description.clone(),
            },
            Self::SignInRefused {
                username,
                code,
                description,
            } => Self::SignInRefused {
                username: username.clone(),
                code: code.clone(),
                description: description.clone(),
            },
            _ => return None,
        })
    }

    /// The retry class of this error; the retry loop and the limiter read only this.
    pub fn retry(&self) -> RetryClass {
        match self {
            Self::Status {
                status,
                retry_after,
                ..
            } => match *status {
                401 => RetryClass::Reauth,
                429 => RetryClass::After(retry_after.unwrap_or(Duration::from_secs(1))),
                502..=504 => RetryClass::Backoff,
                _ => RetryClass::Never,
            },
            Self::Transport { source, .. } => {
                if source.is_connect()
                    || source.is_timeout()
                    || source.is_request()
                    || source.is_body()
                {
                    RetryClass::Backoff
                } else {
                    RetryClass::Never
                }
            }
            Self::Truncated { .. } => RetryClass::Backoff,
            _ => RetryClass::Never,
        }
    }

    /// The HTTP status, when the server answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::AccessDenied { .. } => Some(403),
            Self::RetriesExhausted { source, .. } => source.status(),
            _ => None,
        }
    }

    /// The iManage error code (`NRC_…`), when the body carried one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } => code.as_deref(),
            Self::AccessDenied { code, .. } => Some(code),
            Self::RetriesExhausted { source, .. } => source.code(),
            _ => None,
        }
    }

    pub fn is_access_denied(&self) -> bool {
        self.status() == Some(403)
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// An expired paging cursor: the listing must restart (contract §4).
    pub fn is_invalid_cursor(&self) -> bool {
        self.code() == Some("NRC_INVALID_CURSOR")
    }

    /// A credential problem: the operator must act, nothing will retry it.
    pub fn is_sign_in_refused(&self) -> bool {
        matches!(
            self,
            Self::InvalidClient { .. }
                | Self::InvalidGrant { .. }
                | Self::AccountLocked { .. }
                | Self::SignInRefused { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16, retry_after: Option<Duration>) -> ImanageError {
        ImanageError::Status {
            action: "listing workspaces of ACTIVE".into(),
            status: s,
            code: None,
            message: None,
            retry_after,
        }
    }

    #[test]
    fn classification_follows_the_contract() {
        assert_eq!(status(401, None).retry(), RetryClass::Reauth);
        assert_eq!(
            status(429, Some(Duration::from_secs(7))).retry(),
            RetryClass::After(Duration::from_secs(7))
        );
        assert_eq!(
            status(429, None).retry(),
            RetryClass::After(Duration::from_secs(1))
        );
        for s in [502, 503, 504] {
            assert_eq!(status(s, None).retry(), RetryClass::Backoff, "{s}");
        }
        for s in [400, 403, 404, 409, 422] {
            assert_eq!(status(s, None).retry(), RetryClass::Never, "{s}");
        }
        let v: VersionId = "A!1.1".parse().unwrap();
        let t = ImanageError::Truncated {
            version: v.clone(),
            expected: 10,
            got: 3,
        };
        assert_eq!(t.retry(), RetryClass::Backoff);
        assert!(t.to_string().contains("A!1.1"));
        let l = ImanageError::LengthMismatch {
            version: v,
            expected: 10,
            got: 30,
        };
        assert_eq!(l.retry(), RetryClass::Never);
        let locked = ImanageError::AccountLocked {
            username: "svc@x".into(),
            description: "locked".into(),
        };
        assert_eq!(locked.retry(), RetryClass::Never);
        assert!(locked.is_sign_in_refused());
    }

    #[test]
    fn invalid_cursor_is_recognised_through_exhaustion() {
        let e = ImanageError::Status {
            action: "listing".into(),
            status: 400,
            code: Some("NRC_INVALID_CURSOR".into()),
            message: None,
            retry_after: None,
        };
        assert!(e.is_invalid_cursor());
        let wrapped = ImanageError::RetriesExhausted {
            action: "x".into(),
            attempts: 3,
            source: Box::new(e),
        };
        assert!(wrapped.is_invalid_cursor());
        assert_eq!(wrapped.retry(), RetryClass::Never);
    }
}
