//! The audit trail as the command line and the daemon use it: an [`Auditor`] writing as this
//! state directory's writer, into the repository of the settings.

use crate::audit::{Actor, AuditError, Auditor};
use crate::config::Settings;
use crate::repo::Repository;

/// The auditor of a command (`actor`: the OS user; the daemon: its token or itself) writing
/// into `repo` as the writer of this host's state directory (created on first use).
pub fn auditor<S>(
    settings: &Settings,
    repo: &Repository<S>,
    actor: Actor,
) -> Result<Auditor, AuditError> {
    let dir = super::state::state_dir(settings);
    let writer = crate::audit::auditor::writer_id(&dir)?;
    Ok(Auditor::new(
        repo.objects().clone(),
        writer,
        actor,
        crate::repo::maint_lock::host_id(),
        Some(crate::audit::auditor::head_file(&dir, &repo.config().id)),
    ))
}

/// The auditor of a command-line action: the operating-system user acts.
pub fn cli_auditor<S>(settings: &Settings, repo: &Repository<S>) -> Result<Auditor, AuditError> {
    auditor(settings, repo, Actor::current_user())
}

/// The audit action of a restore request: what, as of when, to where.
pub fn restore_action(req: &crate::restore::RestoreRequest) -> crate::audit::Action {
    use crate::audit::{Action, RestoreTarget};
    use crate::restore::IntoPlace;
    let target = match (&req.to, req.into, &req.into_folder) {
        (Some(dir), _, _) => RestoreTarget::Directory { path: dir.clone() },
        (None, _, Some(folder)) => RestoreTarget::Folder {
            folder: folder.to_string(),
        },
        (None, Some(IntoPlace::Original), None) | (None, None, None) => RestoreTarget::Original,
    };
    let (what, library) = match req.validate() {
        Ok(v) => (
            v.selection.to_string(),
            Some(v.selection.library().to_string()),
        ),
        Err(_) => ("an invalid request".into(), None),
    };
    Action::Restore {
        what,
        library,
        at: req.at,
        snapshot: req.snapshot.clone(),
        target,
    }
}

/// How a restore ended, for the audit trail: ok only when nothing failed.
pub fn restore_outcome<E: std::fmt::Display>(
    r: &Result<crate::restore::RestoreReport, E>,
) -> (crate::audit::Outcome, crate::audit::Figures) {
    use crate::audit::{Figures, Outcome};
    match r {
        Ok(rep) => (
            if rep.failed == 0 {
                Outcome::Ok
            } else {
                Outcome::Failed {
                    message: format!("{} items failed ({})", rep.failed, rep.state),
                }
            },
            Figures {
                versions: Some(rep.versions),
                bytes: Some(rep.bytes),
                failed: Some(rep.failed),
                ..Figures::default()
            },
        ),
        Err(e) => (
            Outcome::Failed {
                message: format!("{e:#}"),
            },
            Figures::default(),
        ),
    }
}
