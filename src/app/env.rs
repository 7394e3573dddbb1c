//! Each engine's environment, made from the settings the same way for the command line and the
//! daemon.

use std::sync::Arc;

use crate::config::Settings;
use crate::imanage::Client;
use crate::jobs::backup::BackupEnv;
use crate::jobs::maintenance::MaintenanceEnv;
use crate::jobs::progress::Progress;
use crate::repo::{Indexed, Repository};
use crate::restore::RestoreEnv;

use super::repository::session_options;
use super::state::{lock_dir, snapshot_cache_dir, state_dir};

/// A backup's environment: locks and the catalog next to each other, the configured session,
/// snapshot manifests cached in the local state (finding the last snapshot costs a LIST, not a
/// GET per snapshot).
pub fn backup_env(
    settings: &Settings,
    client: Client,
    repo: Repository<Indexed>,
    progress: Arc<dyn Progress>,
) -> BackupEnv {
    BackupEnv {
        client,
        repo: repo.with_snapshot_cache(&snapshot_cache_dir(settings)),
        lock_dir: lock_dir(settings),
        progress,
        session: session_options(&settings.repository),
        catalog: Some(settings.catalog_path.clone()),
    }
}

/// A maintenance job's environment: local state next to the catalog, the catalog kept in step.
/// No snapshot cache: verify, forget and prune judge the manifests stored in the repository.
pub fn maintenance_env(
    settings: &Settings,
    repo: Repository<Indexed>,
    progress: Arc<dyn Progress>,
) -> MaintenanceEnv {
    MaintenanceEnv {
        repo,
        state_dir: state_dir(settings),
        catalog: Some(settings.catalog_path.clone()),
        progress,
    }
}

/// A restore's context: planned from the catalog, `client` for restores into iManage, as many
/// documents at once as the tenant's configured concurrency allows (at most 16).
pub fn restore_env(
    settings: &Settings,
    repo: Repository<Indexed>,
    client: Option<Client>,
    progress: Arc<dyn Progress>,
) -> RestoreEnv {
    let mut ctx = RestoreEnv::new(repo, settings.catalog_path.clone(), client);
    ctx.progress = progress;
    if let Some(im) = &settings.imanage {
        ctx.concurrency = im.concurrency.get().clamp(1, 16);
    }
    ctx
}
