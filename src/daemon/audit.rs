//! The daemon's audit trail: one [`Auditor`] (this state directory's writer) opened on first
//! use and again after a configuration reload, acting for an API token or for the daemon
//! itself; and the count of audit records that could not be written (`/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit::{Action, Actor, Auditor, Pending};
use crate::config::Settings;

/// The daemon's auditor and its failure count.
#[derive(Debug, Default)]
pub struct DaemonAudit {
    auditor: tokio::sync::Mutex<Option<Auditor>>,
    failures: AtomicU64,
}

impl DaemonAudit {
    /// Audit records (started or finished) this daemon could not write.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Counts one failed audit write.
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets the opened auditor (the repository settings may have changed).
    pub async fn reset(&self) {
        *self.auditor.lock().await = None;
    }

    /// The auditor acting for `actor`, opening the repository on first use.
    pub async fn auditor(&self, settings: &Settings, actor: Actor) -> Result<Auditor, String> {
        let mut held = self.auditor.lock().await;
        if let Some(a) = held.as_ref() {
            return Ok(a.as_actor(actor));
        }
        let repo = crate::app::repository::open_repo(&settings.repository)
            .await
            .map_err(|e| crate::repo::error_chain(&e))?;
        let a = crate::app::audit::auditor(settings, &repo, actor.clone())
            .map_err(|e| crate::repo::error_chain(&e))?;
        *held = Some(a.clone());
        Ok(a)
    }

    /// Records that `action` starts, for `actor`; an error (counted) means it must not run.
    pub async fn start(
        &self,
        settings: &Settings,
        actor: Actor,
        action: Action,
    ) -> Result<Pending, String> {
        let r = match self.auditor(settings, actor).await {
            Ok(a) => a
                .start(action)
                .await
                .map_err(|e| crate::repo::error_chain(&e)),
            Err(e) => Err(format!("opening the repository for the audit trail: {e}")),
        };
        if r.is_err() {
            self.failed();
        }
        r
    }

    /// Records that `action` starts in the repository `settings` name, without making it the
    /// one this daemon records into (a reload's record in the repository it moves to).
    pub async fn start_in(
        &self,
        settings: &Settings,
        actor: Actor,
        action: Action,
    ) -> Result<Pending, String> {
        let r = async {
            let repo = crate::app::repository::open_repo(&settings.repository)
                .await
                .map_err(|e| format!("opening the repository: {}", crate::repo::error_chain(&e)))?;
            crate::app::audit::auditor(settings, &repo, actor)
                .map_err(|e| crate::repo::error_chain(&e))?
                .start(action)
                .await
                .map_err(|e| crate::repo::error_chain(&e))
        }
        .await;
        if r.is_err() {
            self.failed();
        }
        r
    }

    /// Records how the action of `result` ended: ok with `figures` of its value, or failed
    /// with its whole cause chain.
    pub async fn finish_result<T, E: std::error::Error + 'static>(
        &self,
        pending: Pending,
        result: &Result<T, E>,
        figures: impl FnOnce(&T) -> crate::audit::Figures,
    ) {
        let (outcome, figures) = match result {
            Ok(v) => (crate::audit::Outcome::Ok, figures(v)),
            Err(e) => (
                crate::audit::Outcome::Failed {
                    message: crate::repo::error_chain(e),
                },
                crate::audit::Figures::default(),
            ),
        };
        self.finish(pending, outcome, figures).await;
    }

    /// Records how an action ended; a failure is counted and logged.
    pub async fn finish(
        &self,
        pending: Pending,
        outcome: crate::audit::Outcome,
        figures: crate::audit::Figures,
    ) {
        if let Err(e) = pending.finish(outcome, figures).await {
            self.failed();
            tracing::error!(error = %crate::repo::error_chain(&e), "audit record not written");
        }
    }
}
