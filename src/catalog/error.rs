//! The one error type of the catalog. Every variant names the action and the object it concerns
//! (snapshot, version, container, job or database file) and chains its cause.

use std::path::PathBuf;

use super::jobs::{JobId, JobState};
use super::types::SnapshotId;

/// Anything that can go wrong while opening, loading or querying the catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("creating the catalog directory {path} failed")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("opening the catalog database {path} failed")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the catalog database {path} has schema version {found}, newer than version {supported} \
         known to this imvault; upgrade imvault or rebuild the catalog into a new file"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("migrating the catalog database {path} from schema version {from} failed")]
    Migrate {
        path: PathBuf,
        from: i64,
        #[source]
        source: rusqlite::Error,
    },
    /// A database operation failed; `action` says what was done on which object.
    #[error("{action} failed")]
    Sql {
        action: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{action} failed: bad JSON")]
    Json {
        action: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("snapshot {snapshot} is already in the catalog")]
    SnapshotExists { snapshot: SnapshotId },
    #[error("snapshot {snapshot} is not in the catalog")]
    UnknownSnapshot { snapshot: SnapshotId },
    #[error(
        "inserting snapshot {} of library {} taken at {} refused: it is not newer \
         than the library's newest catalogued snapshot {} taken at {}; \
         older snapshots are only accepted by a catalog rebuild",
        .0.snapshot, .0.library, .0.time, .0.newest, .0.newest_time
    )]
    OutOfOrder(Box<OutOfOrder>),
    #[error("time {time} of snapshot {snapshot} cannot be stored (outside 1677..2262)")]
    TimeOutOfRange { snapshot: SnapshotId, time: String },
    #[error(
        "adding {object} to snapshot {snapshot} refused: it belongs to another library than {library}"
    )]
    WrongLibrary {
        object: String,
        snapshot: SnapshotId,
        library: String,
    },
    #[error(
        "adding {object} to snapshot {snapshot} refused: it was already added with different contents"
    )]
    ConflictingDuplicate {
        object: String,
        snapshot: SnapshotId,
    },
    #[error("reading {what} from the catalog failed: {problem} (the catalog may need a rebuild)")]
    Corrupt { what: String, problem: String },
    #[error("job {id} is not in the catalog")]
    UnknownJob { id: JobId },
    #[error("moving job {id} from state {from} to {to} refused: not a valid transition")]
    JobTransition {
        id: JobId,
        from: JobState,
        to: JobState,
    },
    #[error("the catalog worker thread running {action} stopped abnormally")]
    Worker {
        action: String,
        #[source]
        source: tokio::task::JoinError,
    },
    #[error("rebuilding the catalog failed while reading snapshot {snapshot} from the repository")]
    RebuildSource {
        snapshot: SnapshotId,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// What [`CatalogError::OutOfOrder`] refused (boxed: two snapshot ids and three texts).
#[derive(Debug)]
pub struct OutOfOrder {
    pub snapshot: SnapshotId,
    pub library: String,
    pub time: String,
    pub newest: SnapshotId,
    pub newest_time: String,
}

/// Attach an action description to a rusqlite result.
pub(crate) trait SqlContext<T> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, CatalogError>;
}

impl<T> SqlContext<T> for Result<T, rusqlite::Error> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, CatalogError> {
        self.map_err(|source| CatalogError::Sql {
            action: action(),
            source,
        })
    }
}

impl<T> SqlContext<T> for Result<T, serde_json::Error> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, CatalogError> {
        self.map_err(|source| CatalogError::Json {
            action: action(),
            source,
        })
    }
}

impl CatalogError {
    /// SQLite answered "database is locked" (SQLITE_BUSY) while opening or migrating.
    pub fn is_busy(&self) -> bool {
        let source = match self {
            Self::Open { source, .. } | Self::Migrate { source, .. } => source,
            _ => return false,
        };
        source.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
    }
}
