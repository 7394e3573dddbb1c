//! The audit trail as the command line and the daemon use it: an [`Auditor`] writing as this
//! state directory's writer, into the repository of the settings.

use crate::audit::{Actor, AuditError, Auditor};
use crate::config::Settings;
use crate::repo::Objects;

/// The auditor of a command (`actor`: the OS user; the daemon: its token or itself) writing
/// into `objects` as the writer of this host's state directory (created on first use).
pub fn auditor(
    settings: &Settings,
    objects: &Objects,
    actor: Actor,
) -> Result<Auditor, AuditError> {
    let dir = super::state::state_dir(settings);
    let writer = crate::audit::auditor::writer_id(&dir)?;
    Ok(Auditor::new(
        objects.clone(),
        writer,
        actor,
        crate::repo::maint_lock::host_id(),
        Some(dir),
    ))
}

/// The auditor of a command-line action: the operating-system user acts.
pub fn cli_auditor(settings: &Settings, objects: &Objects) -> Result<Auditor, AuditError> {
    auditor(settings, objects, Actor::current_user())
}
