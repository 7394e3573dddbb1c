//! What the repository maintenance jobs (`verify`, `forget`, `prune`, `repair`) need around
//! them. Each job's entry point is `jobs::<job>::run(env, request)`
//! with a serde request struct, callable from the CLI and the daemon alike.

use std::path::PathBuf;
use std::sync::Arc;

use crate::jobs::progress::Progress;
use crate::repo::{Indexed, Repository};

/// The repository and local state a maintenance job works on.
pub struct MaintenanceEnv {
    pub repo: Repository<Indexed>,
    /// Directory for local state (the rotating verify cursor, the prune lock): the catalog's
    /// directory.
    pub state_dir: PathBuf,
    /// The catalog to keep in step with the repository (a cache: failures there only warn).
    pub catalog: Option<PathBuf>,
    /// Whoever watches the job's progress.
    pub progress: Arc<dyn Progress>,
}
