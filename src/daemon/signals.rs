//! Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads the configuration.

use std::path::Path;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};

use super::DaemonState;
use crate::config::{ConfigError, Env, Settings};

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("reloading the configuration: the new file is rejected, the old settings stay")]
    Config(#[source] ConfigError),
    #[error("reloading the configuration: the new API token is rejected, the old one stays")]
    Token(#[source] super::DaemonError),
}

/// Re-reads the configuration file and the API token. A bad file or token is rejected and the
/// running settings are kept. Settings that need a restart (listen address, catalog path,
/// workers) are reported, not applied.
pub fn reload(state: &Arc<DaemonState>, path: &Path) -> Result<(), ReloadError> {
    let new = Settings::load(path, &Env::from_process()).map_err(ReloadError::Config)?;
    let tokens = super::read_api_tokens(&new).map_err(ReloadError::Token)?;
    let old = state.settings();
    if new.api.listen != old.api.listen
        || new.catalog_path != old.catalog_path
        || new.daemon.workers != old.daemon.workers
    {
        tracing::warn!(
            "api.listen, catalog.path and daemon.workers take effect at the next restart"
        );
    }
    let changed = !super::same_sign_in(old.imanage.as_ref(), new.imanage.as_ref());
    *state.api_tokens.write().unwrap_or_else(|p| p.into_inner()) = tokens;
    state.settings.send_replace(Arc::new(new));
    // A refused (or failing) sign-in is tried again on SIGHUP: the operator fixed something.
    let not_signed_in = state.client().is_none();
    if changed || not_signed_in {
        // Running jobs keep the client they started with; new ones wait for the new sign-in.
        if changed {
            tracing::info!("[imanage] changed: signing in again");
        } else {
            tracing::info!("not signed in to iManage: signing in again");
        }
        *state.client.write().unwrap_or_else(|p| p.into_inner()) = None;
        super::spawn_sign_in(state);
    }
    tracing::info!(config = %path.display(), "configuration reloaded");
    Ok(())
}

/// Waits for SIGTERM or SIGINT; SIGHUPs meanwhile reload the configuration.
pub async fn wait_for_stop(state: Arc<DaemonState>, config: &Path) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); return Ok(()) }
            _ = int.recv() => { tracing::info!("SIGINT: draining"); return Ok(()) }
            _ = hup.recv() => {
                super::notify::status("reloading the configuration");
                audited_reload(&state, config).await;
            }
            _ = state.shutdown.cancelled() => return Ok(()),
        }
    }
}

/// A reload by SIGHUP, recorded in the audit trail (actor: the daemon): not done when no audit
/// record of it can be written. A new file that names another repository records the reload in
/// both: in the repository served until now and, before the new settings take effect, in the
/// new one (whose trail then says from when this daemon used it). One of the two suffices (a
/// new location with no repository yet, or a move away from a broken one, is still done); the
/// record that could not be written is logged and counted.
async fn audited_reload(state: &Arc<DaemonState>, config: &Path) {
    use crate::audit::{Action, Actor, Outcome};
    let settings = state.settings();
    let actor = || Actor::Daemon {
        name: "SIGHUP".into(),
    };
    let action = || Action::ConfigReload {
        config: config.to_path_buf(),
    };
    let old = state.audit.start(&settings, actor(), action()).await;
    // A file that does not load is rejected by `reload` below (and recorded as failed).
    let moved = Settings::load(config, &Env::from_process())
        .ok()
        .filter(|new| new.repository.url != settings.repository.url);
    let new = match &moved {
        Some(new) => Some(
            state
                .audit
                .start_in(new, actor(), action())
                .await
                .map_err(|e| (new.repository.url.to_string(), e)),
        ),
        None => None,
    };
    let (pending, pending_new) = match (old, new) {
        (Err(e), None | Some(Err(_))) => {
            tracing::error!(error = %e, "SIGHUP: the reload cannot be recorded in the audit trail; the configuration is not reloaded");
            super::notify::status(
                "configuration reload refused (audit trail not writable); serving with the previous one",
            );
            return;
        }
        (Ok(p), None) => (Some(p), None),
        (Ok(p), Some(Err((url, e)))) => {
            tracing::warn!(repository = %url, error = %e, "SIGHUP: the new repository cannot record the reload; it is recorded in the previous one only");
            (Some(p), None)
        }
        (Err(e), Some(Ok(p))) => {
            tracing::warn!(error = %e, "SIGHUP: the previous repository cannot record the reload; it is recorded in the new one only");
            (None, Some(p))
        }
        (Ok(p), Some(Ok(n))) => (Some(p), Some(n)),
    };
    let r = reload(state, config);
    let outcome = match &r {
        Ok(()) => {
            super::notify::status("configuration reloaded; serving");
            Outcome::Ok
        }
        Err(e) => {
            let message = crate::repo::error_chain(e);
            tracing::error!(error = %message, "SIGHUP");
            super::notify::status("configuration reload rejected; serving with the previous one");
            Outcome::Failed { message }
        }
    };
    for p in [pending_new, pending].into_iter().flatten() {
        state
            .audit
            .finish(p, outcome.clone(), crate::audit::Figures::default())
            .await;
    }
    if r.is_ok() {
        // The repository settings may have changed: open it again on next use.
        state.audit.reset().await;
    }
}
