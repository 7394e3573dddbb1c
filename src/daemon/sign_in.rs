//! Signing the daemon in to iManage without ever locking the service account.
//!
//! iManage locks an account after 5 failed sign-ins (15 minutes) and after 10 until an
//! administrator unlocks it. So the daemon tells two kinds of failure apart:
//! - a **refusal** of the credentials (`invalid_client`, `invalid_grant`, a locked account): no
//!   further password grant until the operator acts (SIGHUP, a changed configuration) or
//!   [`REFUSED_RETRY`] has passed; `/readyz` says why and when;
//! - anything else (the tenant unreachable, 5xx): tried again with a growing wait (2 s … 60 s),
//!   since those attempts never reach the password check.
//!
//! A client that signed in and is refused later (its refresh and then its one password grant
//! refused) remembers the refusal itself ([`crate::imanage::Client::sign_in_refusal`]); the
//! workers hand it back here ([`on_refused_later`]) and the same rule applies.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::{DaemonState, notify};
use crate::imanage::{Client, ImanageError};

/// After a refusal, the next attempt (if the operator did nothing) comes this much later.
pub const REFUSED_RETRY: Duration = Duration::from_secs(3600);
/// First and longest wait after a failure that is not a refusal.
const FIRST_WAIT: Duration = Duration::from_secs(2);
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// How one attempt failed, for [`attempts`]'s caller.
pub struct Failure<'a> {
    pub error: &'a ImanageError,
    /// Credentials refused: the next attempt is [`REFUSED_RETRY`] away.
    pub refused: bool,
    pub next_in: Duration,
}

/// Calls `attempt` until it succeeds or `stop` fires; after a credential refusal it waits
/// [`REFUSED_RETRY`], after any other failure 2 s doubling up to 60 s. `failed` hears of each
/// failure. The policy lives here, apart from HTTP, so a test clock can check it.
pub async fn attempts<T, F, Fut>(
    mut attempt: F,
    mut failed: impl FnMut(Failure<'_>),
    stop: &CancellationToken,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ImanageError>>,
{
    let mut wait = FIRST_WAIT;
    loop {
        let next_in = match attempt().await {
            Ok(t) => return Some(t),
            Err(e) => {
                let refused = e.is_sign_in_refused();
                let next_in = if refused { REFUSED_RETRY } else { wait };
                failed(Failure {
                    error: &e,
                    refused,
                    next_in,
                });
                if !refused {
                    wait = (wait * 2).min(LONGEST_WAIT);
                }
                next_in
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(next_in) => {}
            _ = stop.cancelled() => return None,
        }
    }
}

/// The `/readyz` text of a refusal.
fn refused_text(what: &str, e: &ImanageError, next_in: Duration) -> String {
    let at = Utc::now() + chrono::Duration::from_std(next_in).unwrap_or_default();
    format!(
        "{what}: {}; sign-in refused: imvault tries again only after SIGHUP or a configuration change, or at {} (each failed sign-in counts towards the account lockout)",
        crate::repo::error_chain(e),
        at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// Starts (or restarts) signing in to iManage in the background. Jobs stay queued until then.
pub fn spawn(state: &Arc<DaemonState>) {
    replace_task(state, tokio::spawn(sign_in_loop(state.clone(), None)));
}

/// A signed-in client was refused later (its token renewal): forget it and sign in again
/// only after [`REFUSED_RETRY`] (or SIGHUP).
pub fn on_refused_later(state: &Arc<DaemonState>, client: &Client, refusal: &ImanageError) {
    let mut current = state.client.write().unwrap_or_else(|p| p.into_inner());
    // Only the refused client is dropped (a reload may have signed in anew meanwhile).
    if !current.as_ref().is_some_and(|c| c.same_as(client)) {
        return;
    }
    *current = None;
    drop(current);
    let what = state
        .settings()
        .imanage
        .as_ref()
        .map(|im| format!("renewing the sign-in to {} as {}", im.url, im.username))
        .unwrap_or_else(|| "renewing the sign-in".into());
    let text = refused_text(&what, refusal, REFUSED_RETRY);
    tracing::error!(error = %text, "iManage refused the service account");
    set_error(state, Some(text));
    notify::status("iManage refused the sign-in; not retrying until SIGHUP");
    replace_task(
        state,
        tokio::spawn(sign_in_loop(state.clone(), Some(REFUSED_RETRY))),
    );
}

fn replace_task(state: &Arc<DaemonState>, task: tokio::task::JoinHandle<()>) {
    if let Some(old) = state
        .sign_in_task
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(task)
    {
        old.abort();
    }
}

fn set_error(state: &DaemonState, e: Option<String>) {
    *state
        .sign_in_error
        .write()
        .unwrap_or_else(|p| p.into_inner()) = e;
}

async fn sign_in_loop(state: Arc<DaemonState>, first_wait: Option<Duration>) {
    if let Some(w) = first_wait {
        tokio::select! {
            _ = tokio::time::sleep(w) => {}
            _ = state.shutdown.cancelled() => return,
        }
    }
    let settings = state.settings();
    let Some(im) = settings.imanage.clone() else {
        set_error(
            &state,
            Some("the configuration has no [imanage] table (add it and send SIGHUP)".into()),
        );
        return;
    };
    let what = format!("signing in to {} as {}", im.url, im.username);
    let client = attempts(
        || Client::connect(crate::app::client::client_settings(&im)),
        |f| {
            let text = if f.refused {
                refused_text(&what, f.error, f.next_in)
            } else {
                format!("{what}: {}", crate::repo::error_chain(f.error))
            };
            tracing::error!(error = %text, retry_in_s = f.next_in.as_secs(), "cannot sign in to iManage");
            set_error(&state, Some(text));
            notify::status(if f.refused {
                "iManage refused the sign-in; not retrying until SIGHUP"
            } else {
                "not signed in to iManage; retrying"
            });
        },
        &state.shutdown,
    )
    .await;
    if let Some(client) = client {
        tracing::info!(libraries = client.libraries().len(), "signed in to iManage");
        *state.client.write().unwrap_or_else(|p| p.into_inner()) = Some(client);
        set_error(&state, None);
        state.queue.notify();
        notify::status("signed in; serving");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn refused() -> ImanageError {
        ImanageError::InvalidGrant {
            username: "svc".into(),
            description: "Invalid username or auth key".into(),
        }
    }

    fn unreachable() -> ImanageError {
        ImanageError::Status {
            action: "sign-in".into(),
            status: 503,
            code: None,
            message: None,
            retry_after: None,
        }
    }

    /// Counts attempts of `attempts` driven by the test clock for `span`, each failing with
    /// `error()`.
    async fn attempts_within(span: Duration, error: fn() -> ImanageError) -> u32 {
        let n = Arc::new(AtomicU32::new(0));
        let stop = CancellationToken::new();
        let task = {
            let (n, stop) = (n.clone(), stop.clone());
            tokio::spawn(async move {
                attempts(
                    || {
                        n.fetch_add(1, Ordering::SeqCst);
                        async move { Err::<(), _>(error()) }
                    },
                    |_| {},
                    &stop,
                )
                .await
            })
        };
        tokio::time::sleep(span).await;
        stop.cancel();
        assert!(task.await.unwrap().is_none());
        n.load(Ordering::SeqCst)
    }

    /// Issue 18: with a wrong auth key the old loop made a password grant every 2, 4, … 60 s
    /// (13 in 10 minutes: the account was locked within a minute).
    #[tokio::test(start_paused = true)]
    async fn a_refused_sign_in_is_tried_again_at_most_once_an_hour() {
        assert_eq!(attempts_within(Duration::from_secs(600), refused).await, 1);
        assert_eq!(
            attempts_within(REFUSED_RETRY + Duration::from_secs(1), refused).await,
            2
        );
        assert_eq!(
            attempts_within(REFUSED_RETRY * 3 - Duration::from_secs(1), refused).await,
            3
        );
        // A tenant that does not answer is tried again soon and often (no password check).
        let n = attempts_within(Duration::from_secs(600), unreachable).await;
        assert!((12..=14).contains(&n), "{n} attempts");
    }
}
